package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPlReloadManager(t *testing.T) {
	t.Parallel()
	m := startManager(t, map[string]string{echoKey: echoConfig(t, "")})
	m.writeConfig("app.new.0.raw", echoConfig(t, ""))
	out, err := execCommand(bin(t, "plReloadManager"), "-R", m.R).CombinedOutput()
	require.NoError(t, err, string(out))
	assert.Contains(t, string(out), "Sent SIGHUP (reload changed services) to plutonManager pid "+strconv.Itoa(m.cmd.Process.Pid))
	m.waitFor("Config Scan Complete: New=1 Retained=1 Replaced=0 Removed=0", 10*time.Second)
	out, err = execCommand(bin(t, "plReloadManager"), "-a", "-R", m.R).CombinedOutput()
	require.NoError(t, err, string(out))
	m.waitFor("Config Scan Complete: New=0 Retained=0 Replaced=2 Removed=0", 10*time.Second)
	got, err := m.call("app.new.0.raw", "new", 10*time.Second)
	require.NoError(t, err)
	assert.Equal(t, "new", got)
	m.stop()

	out, err = execCommand(bin(t, "plReloadManager"), "-R", m.R).CombinedOutput()
	assert.Equal(t, 1, exitCode(err), string(out))
	assert.Contains(t, string(out), "no plutonManager is running")
	_, err = execCommand(bin(t, "plReloadManager"), "-x").CombinedOutput()
	assert.Equal(t, 2, exitCode(err))
}

func TestPlKillOldServices(t *testing.T) {
	t.Parallel()
	m := newDirs(t, nil)
	f, err := os.Create(filepath.Join(m.R, "old.svc.0.raw.mmap"))
	require.NoError(t, err)
	holder := exec.Command("sleep", "30")
	holder.ExtraFiles = []*os.File{f}
	require.NoError(t, holder.Start())
	f.Close() // only the holder keeps it open
	done := make(chan error, 1)
	go func() { done <- holder.Wait() }()

	start := time.Now()
	out, err := execCommand(bin(t, "plKillOldServices"), m.R).CombinedOutput()
	require.NoError(t, err, string(out))
	assert.Equal(t, "Process target count: 1\n", string(out))
	select {
	case err := <-done:
		var ee *exec.ExitError
		require.ErrorAs(t, err, &ee)
		assert.Equal(t, syscall.SIGTERM, ee.Sys().(syscall.WaitStatus).Signal())
	case <-time.After(5 * time.Second):
		t.Fatal("holder not killed")
	}
	t.Logf("plKillOldServices took %s", time.Since(start).Round(time.Millisecond))

	out, err = execCommand(bin(t, "plKillOldServices"), m.R).CombinedOutput()
	require.NoError(t, err)
	assert.Equal(t, "Process target count: 0\n", string(out))
	out, err = execCommand(bin(t, "plKillOldServices"), filepath.Join(m.Dir, "nope")).CombinedOutput()
	assert.Equal(t, 1, exitCode(err))
	assert.Equal(t, "Error: "+filepath.Join(m.Dir, "nope")+" is not a valid Rendezvous directory\n", string(out))
}
