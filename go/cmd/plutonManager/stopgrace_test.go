package main

import (
	"os"
	"path/filepath"
	"regexp"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// logTime returns the timestamp of a text log line.
func logTime(t *testing.T, line string) time.Time {
	t.Helper()
	ts, err := time.Parse("2006-01-02T15:04:05.000Z07:00", regexp.MustCompile(`^\S+`).FindString(line))
	require.NoError(t, err, line)
	return ts
}

// TestStopGrace: an instance that ignores SIGTERM gets stop-grace seconds,
// not unresponsive-timeout, before SIGKILL when its service is removed.
func TestStopGrace(t *testing.T) {
	stubborn := "#!/bin/sh\ntrap '' TERM\nwhile :; do sleep 0.1; done\n"
	home := newHome(t, map[string]string{
		"bin/stubborn.sh":      stubborn,
		"system.stub.0.raw":    "exec bin/stubborn.sh\nprestart-processes true\nunresponsive-timeout 30\nstop-grace 1\n",
		"system.default.0.raw": "exec bin/stubborn.sh\nprestart-processes true\nunresponsive-timeout 5\n",
	})
	require.NoError(t, os.Chmod(filepath.Join(home, "configuration", "bin", "stubborn.sh"), 0o755))
	r := startIn(t, home)
	r.waitFor(ready, 1, 30*time.Second)
	r.waitFor(`Process Start: system\.stub\.0\.raw/0-`, 1, 10*time.Second)
	r.waitFor(`Process Start: system\.default\.0\.raw/0-`, 1, 10*time.Second)
	time.Sleep(300 * time.Millisecond) // both shells have set their trap

	require.NoError(t, os.Remove(filepath.Join(home, "configuration", "system.stub.0.raw")))
	require.NoError(t, os.Remove(filepath.Join(home, "configuration", "system.default.0.raw")))
	require.NoError(t, r.cmd.Process.Signal(syscall.SIGHUP))
	stop := logTime(t, r.waitFor(`Service Shutdown: system\.stub\.0\.raw config deleted`, 1, 10*time.Second)[0])
	stubKill := logTime(t, r.waitFor(`Process Warning: system\.stub\.0\.raw/0-\d+ SIGKILL sent to intransigent child`, 1, 15*time.Second)[0])
	defKill := logTime(t, r.waitFor(`Process Warning: system\.default\.0\.raw/0-\d+ SIGKILL sent to intransigent child`, 1, 20*time.Second)[0])
	assert.GreaterOrEqual(t, stubKill.Sub(stop), 900*time.Millisecond, "stop-grace 1")
	assert.Less(t, stubKill.Sub(stop), 4*time.Second, "stop-grace 1, not unresponsive-timeout 30")
	assert.GreaterOrEqual(t, defKill.Sub(stop), 4900*time.Millisecond, "no stop-grace: unresponsive-timeout 5")
	r.waitFor(`Child Exit: .*system\.stub\.0\.raw/0-`, 1, 10*time.Second)
}
