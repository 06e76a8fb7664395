package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func kill(args ...string) (out, errOut string, code int) {
	var o, e bytes.Buffer
	code = run(args, &o, &e, 10*time.Millisecond)
	return o.String(), e.String(), code
}

func TestPlKillOldServices(t *testing.T) {
	dir := t.TempDir()
	f, err := os.Create(filepath.Join(dir, "old.svc.0.raw.mmap"))
	require.NoError(t, err)
	holder := exec.Command("sleep", "30")
	holder.ExtraFiles = []*os.File{f}
	require.NoError(t, holder.Start())
	t.Cleanup(func() { _ = holder.Process.Kill() })
	f.Close()
	done := make(chan syscall.Signal, 1)
	go func() {
		_ = holder.Wait()
		done <- holder.ProcessState.Sys().(syscall.WaitStatus).Signal()
	}()
	real, err := filepath.EvalSymlinks(dir)
	require.NoError(t, err)
	assert.Equal(t, []int{holder.Process.Pid}, Holders(real))

	out, errOut, code := kill(dir)
	require.Equal(t, 0, code, errOut)
	assert.Equal(t, "Process target count: 1\n", out)
	select {
	case sig := <-done:
		assert.Equal(t, syscall.SIGTERM, sig)
	case <-time.After(10 * time.Second):
		t.Fatal("holder not killed")
	}
	out, _, code = kill(dir)
	assert.Equal(t, 0, code)
	assert.Equal(t, "Process target count: 0\n", out)

	t.Setenv("plutonHome", dir)
	require.NoError(t, os.Mkdir(filepath.Join(dir, "rendezvous"), 0o755))
	out, _, code = kill()
	assert.Equal(t, 0, code, "the default is <home>/rendezvous")
	assert.Equal(t, "Process target count: 0\n", out)
}

func TestPlKillOldServicesUsage(t *testing.T) {
	dir := t.TempDir()
	out, _, code := kill(filepath.Join(dir, "nope"))
	assert.Equal(t, 1, code)
	assert.Equal(t, "Error: "+filepath.Join(dir, "nope")+" is not a valid Rendezvous directory\n", out)

	for _, tt := range []struct {
		args []string
		err  string
	}{
		{[]string{"-x"}, "plKillOldServices: invalid option -- 'x'\n\n" + usage},
		{[]string{"a", "b"}, "plKillOldServices: unexpected argument \"b\"\n\n" + usage},
	} {
		out, errOut, code := kill(tt.args...)
		assert.Equal(t, 1, code, "%q", tt.args)
		assert.Equal(t, tt.err, errOut)
		assert.Empty(t, out)
	}
	for _, help := range []string{"-h", "--help"} {
		out, errOut, code := kill(help)
		assert.Equal(t, 0, code)
		assert.Equal(t, usage, out)
		assert.Empty(t, errOut)
	}
}
