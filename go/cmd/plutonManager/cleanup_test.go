package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pluton-go/pluton/go/client"
	"github.com/pluton-go/pluton/go/testbin"
)

// cleanupPython is a Python service whose on_stop hook and finally block
// each append a line to <markerDir>/<pid>.
const cleanupPython = `import os, sys
sys.path.insert(0, %q)
import pluton

def mark(line):
    with open(os.path.join(sys.argv[1], str(os.getpid())), "a") as f:
        f.write(line + "\n")

service = pluton.Service("cleanup")
service.on_stop(lambda: mark("on_stop"))
try:
    service.serve(lambda request: request.data)
finally:
    mark("finally")
`

// cleanupPHP is the same in PHP: onStop, then finally.
const cleanupPHP = `<?php
declare(strict_types=1);
require %q;
function mark(string $line): void {
    file_put_contents($GLOBALS['argv'][1] . '/' . getmypid(), $line . "\n", FILE_APPEND);
}
$service = new Pluton\Service('cleanup');
$service->onStop(function (): void { mark('onStop'); });
try {
    $service->serve(fn (Pluton\Request $r): string => $r->data());
} finally {
    mark('finally');
}
`

// cleanupPerl is the same in Perl: on_stop, then the END block.
const cleanupPerl = `use strict;
use warnings;
use lib %q;
use Pluton::Service;
my $dir = $ARGV[0];
sub mark {
    open(my $f, '>>', "$dir/$$") or die "marker: $!";
    print $f "$_[0]\n";
    close $f;
}
my $service = Pluton::Service->new('cleanup');
$service->on_stop(sub { mark('on_stop') });
$service->serve(sub { return $_[0]->data });
END { mark('END') }
`

// TestCleanStopsEverySDK: in the Go, Python, PHP and Perl SDKs a service's stop
// hook and its defer/finally run, in that order, whenever an instance ends
// normally: recycled at maximum-requests, replaced by a reload, stopped by
// idle-timeout scale-down, stopped with the manager. Every instance that
// exited left its marker.
func TestCleanStopsEverySDK(t *testing.T) {
	root := testbin.RepoRoot(t)
	dir, err := os.MkdirTemp("", "clean")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	type sdk struct {
		name, exec, want string
	}
	sdks := []sdk{{"go", testbin.Path(t, "testCleanup"), "onStop\ndefer\n"}}
	if py, err := exec.LookPath("python3"); err == nil {
		script := filepath.Join(dir, "cleanup.py")
		require.NoError(t, os.WriteFile(script, []byte(fmt.Sprintf(cleanupPython, filepath.Join(root, "sdk/python/src"))), 0o644))
		sdks = append(sdks, sdk{"py", py + " " + script, "on_stop\nfinally\n"})
	} else {
		t.Log("no python3: the Python SDK is not tested here")
	}
	if php, err := exec.LookPath("php"); err == nil {
		script := filepath.Join(dir, "cleanup.php")
		require.NoError(t, os.WriteFile(script, []byte(fmt.Sprintf(cleanupPHP, filepath.Join(root, "sdk/php/autoload.php"))), 0o644))
		sdks = append(sdks, sdk{"php", php + " " + script, "onStop\nfinally\n"})
	} else {
		t.Log("no php: the PHP SDK is not tested here")
	}
	if perl, err := exec.LookPath("perl"); err == nil {
		script := filepath.Join(dir, "cleanup.pl")
		require.NoError(t, os.WriteFile(script, []byte(fmt.Sprintf(cleanupPerl, filepath.Join(root, "sdk/perl/lib"))), 0o644))
		sdks = append(sdks, sdk{"pl", perl + " " + script, "on_stop\nEND\n"})
	} else {
		t.Log("no perl: the Perl SDK is not tested here")
	}
	configs := map[string]string{}
	for _, s := range sdks {
		markers := filepath.Join(dir, s.name)
		require.NoError(t, os.MkdirAll(markers, 0o755))
		exe := fmt.Sprintf("exec %s %s\n", s.exec, markers)
		configs[s.name+".recycle.0.raw"] = exe + "minimum-processes 1\nmaximum-requests 2\nenable-leak-ramping false\nexec-failure-backoff 0\n"
		configs[s.name+".reload.0.raw"] = exe + "prestart-processes true\n"
		configs[s.name+".idle.0.raw"] = exe + "minimum-processes 0\nidle-timeout 10\n"
		configs[s.name+".stop.0.raw"] = exe + "prestart-processes true\n"
	}
	home := newHome(t, configs)
	r := startIn(t, home, "-l", "processExit,calibrate")
	r.waitFor(ready, 1, 30*time.Second)
	c, err := client.New("clean", client.WithLookup(filepath.Join(home, "lookup.map")))
	require.NoError(t, err)
	call := func(key string) {
		t.Helper()
		got, err := c.Call(context.Background(), key, []byte("x"))
		require.NoError(t, err, key)
		assert.Equal(t, "x", string(got.Data), key)
	}
	for _, s := range sdks {
		call(s.name + ".idle.0.raw") // starts it; idle-timeout stops it 10 s later
		for range 4 {                // two recycles
			call(s.name + ".recycle.0.raw")
		}
		r.waitFor(`Process Start: `+s.name+`\.stop\.0\.raw/`, 1, 20*time.Second)
		r.waitFor(`Process Start: `+s.name+`\.reload\.0\.raw/`, 1, 20*time.Second)
	}
	for _, s := range sdks { // a changed configuration: the new version replaces the old
		cfg := filepath.Join(home, "configuration", s.name+".reload.0.raw")
		require.NoError(t, os.WriteFile(cfg, []byte(configs[s.name+".reload.0.raw"]+"idle-timeout 300\n"), 0o644))
		later := time.Now().Add(2 * time.Second)
		require.NoError(t, os.Chtimes(cfg, later, later))
	}
	require.NoError(t, r.cmd.Process.Signal(syscall.SIGHUP))
	for _, s := range sdks {
		r.waitFor(`Child Exit: normal `+s.name+`\.reload\.0\.raw/`, 1, 30*time.Second)
		r.waitFor(`Child Exit: normal `+s.name+`\.recycle\.0\.raw/`, 2, 30*time.Second)
		r.waitFor(`Calibrate Idle: `+s.name+`\.idle\.0\.raw`, 1, 30*time.Second)
		r.waitFor(`Child Exit: normal `+s.name+`\.idle\.0\.raw/`, 1, 30*time.Second)
	}
	r.stop()
	select {
	case <-r.done:
	default:
		t.Fatal("the manager did not exit")
	}

	exitRE := regexp.MustCompile(`Child Exit: (\S+) (\w+)\.(\w+)\.0\.raw/\S+ .*pid=(\d+)`)
	seen := map[string]int{}
	for _, line := range r.grep(`Child Exit: `) {
		m := exitRE.FindStringSubmatch(line)
		require.NotNil(t, m, line)
		assert.Equal(t, "normal", m[1], line)
		var want string
		for _, s := range sdks {
			if s.name == m[2] {
				want = s.want
			}
		}
		b, err := os.ReadFile(filepath.Join(dir, m[2], m[4]))
		if assert.NoError(t, err, "no cleanup marker for %s", line) {
			assert.Equal(t, want, string(b), line)
		}
		seen[m[2]+"."+m[3]]++
	}
	for _, s := range sdks {
		assert.GreaterOrEqual(t, seen[s.name+".recycle"], 2, s.name)
		for _, how := range []string{"reload", "idle", "stop"} {
			assert.GreaterOrEqual(t, seen[s.name+"."+how], 1, "%s %s", s.name, how)
		}
	}
	t.Logf("instances ended with their cleanup done: %v", seen)
	assert.NotContains(t, strings.Join(r.lines(), "\n"), "SIGKILL sent", "every instance stopped on SIGTERM alone")
}
