package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestEmergencyExit: an instance that ignores SIGTERM, with a stop-grace
// longer than -e, holds up the shutdown; after -e seconds the manager
// writes "Emergency Exit Delay limit reached" and exits with status 2, and
// the instance dies with it (parent-death signal).
func TestEmergencyExit(t *testing.T) {
	home := newHome(t, map[string]string{
		"bin/stubborn.sh":   "#!/bin/sh\ntrap '' TERM\nwhile :; do sleep 0.1; done\n",
		"system.stub.0.raw": "exec bin/stubborn.sh\nprestart-processes true\nunresponsive-timeout 600\nstop-grace 600\n",
	})
	require.NoError(t, os.Chmod(filepath.Join(home, "configuration", "bin", "stubborn.sh"), 0o755))
	r := startIn(t, home, "-e", "2")
	r.waitFor(`Option: Emergency Exit Delay=2s`, 1, 30*time.Second)
	line := r.waitFor(`Process Start: system\.stub\.0\.raw/0-\d+ .*pid=\d+`, 1, 20*time.Second)[0]
	pid, err := strconv.Atoi(regexp.MustCompile(`pid=(\d+)`).FindStringSubmatch(line)[1])
	require.NoError(t, err)
	time.Sleep(300 * time.Millisecond) // the trap is set

	require.NoError(t, r.cmd.Process.Signal(syscall.SIGTERM))
	stop := logTime(t, r.waitFor(`Manager orderly shutdown limit: 2`, 1, 10*time.Second)[0])
	select {
	case <-r.done:
	case <-time.After(20 * time.Second):
		t.Fatal("the manager did not exit after its emergency exit delay")
	}
	took := time.Since(stop)
	assert.GreaterOrEqual(t, took, 1900*time.Millisecond, "not before -e")
	assert.Equal(t, 2, r.cmd.ProcessState.ExitCode())
	assert.Contains(t, r.lines(), "Emergency Exit Delay limit reached")
	assert.Contains(t, r.stderr(), "Emergency Exit Delay limit reached")
	assert.Empty(t, r.grep(`Manager exiting:`), "no orderly end")
	require.Eventually(t, func() bool { return syscall.Kill(pid, 0) == syscall.ESRCH || zombie(pid) },
		10*time.Second, 50*time.Millisecond, "instance %d outlived the manager", pid)
}

// zombie reports whether pid is a zombie (dead, not yet reaped by init).
func zombie(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	m := regexp.MustCompile(`\) (\S)`).FindSubmatch(b)
	return m != nil && string(m[1]) == "Z"
}
