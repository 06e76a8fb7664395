package main

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/pluton-go/pluton/go/manager/manager"
)

func reload(args ...string) (out, errOut string, code int) {
	var o, e bytes.Buffer
	code = run(args, &o, &e)
	return o.String(), e.String(), code
}

// fakeManager writes pid into dir's lock file and holds the lock, as a
// running manager does, until the test ends.
func fakeManager(t *testing.T, dir string, pid int) {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(dir, manager.LockName), os.O_RDWR|os.O_CREATE, 0o644)
	require.NoError(t, err)
	t.Cleanup(func() { f.Close() })
	require.NoError(t, unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB))
	_, err = f.WriteString(strconv.Itoa(pid) + "\n")
	require.NoError(t, err)
}

// victim starts a process that dies of the first SIGHUP or SIGINT, and
// returns it with a channel that receives the signal that ended it.
func victim(t *testing.T) (*exec.Cmd, chan syscall.Signal) {
	t.Helper()
	// Not sleep(1): a job started in the background by a non-interactive
	// shell inherits SIGINT ignored (and SIGHUP under nohup), and exec
	// keeps them ignored; the victim puts both back to their default action
	// and says so before it is signalled.
	cmd := exec.Command("perl", "-e", `$| = 1; $SIG{INT} = $SIG{HUP} = "DEFAULT"; print "ready\n"; sleep 30`)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	line, err := bufio.NewReader(stdout).ReadString('\n')
	require.NoError(t, err)
	require.Equal(t, "ready\n", line)
	got := make(chan syscall.Signal, 1)
	go func() {
		_ = cmd.Wait()
		got <- cmd.ProcessState.Sys().(syscall.WaitStatus).Signal()
	}()
	return cmd, got
}

func TestPlReloadManagerSignals(t *testing.T) {
	for _, tt := range []struct {
		args []string
		sig  syscall.Signal
		out  string
	}{
		{nil, syscall.SIGHUP, "Sent SIGHUP (reload changed services) to plutonManager pid "},
		{[]string{"-a"}, syscall.SIGINT, "Sent SIGINT (reload all services) to plutonManager pid "},
	} {
		dir := t.TempDir()
		proc, got := victim(t)
		fakeManager(t, dir, proc.Process.Pid)
		out, errOut, code := reload(append(tt.args, "-R", dir)...)
		require.Equal(t, 0, code, errOut)
		assert.Equal(t, tt.out+strconv.Itoa(proc.Process.Pid)+"\n", out)
		select {
		case sig := <-got:
			assert.Equal(t, tt.sig, sig)
		case <-time.After(10 * time.Second):
			t.Fatal("the process was not signalled")
		}
	}
}

func TestPlReloadManagerErrors(t *testing.T) {
	dir := t.TempDir()
	_, errOut, code := reload("-R", dir)
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "Error: no plutonManager lock file in "+dir)

	// A lock file that nobody holds: the manager is gone.
	require.NoError(t, os.WriteFile(filepath.Join(dir, manager.LockName), []byte("1\n"), 0o644))
	_, errOut, code = reload("-R", dir)
	assert.Equal(t, 1, code)
	assert.Equal(t, "Error: no plutonManager is running with Rendezvous directory "+dir+"\n", errOut)

	bad := t.TempDir()
	fakeManager(t, bad, 0)
	_, errOut, code = reload("-R", bad)
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "Error: bad pid")

	for _, tt := range []struct {
		args []string
		err  string
	}{
		{[]string{"-x"}, "plReloadManager: invalid option -- 'x'\n\n" + usage},
		{[]string{"-R"}, "plReloadManager: option requires an argument -- 'R'\n\n" + usage},
		{[]string{"extra"}, "plReloadManager: unexpected argument \"extra\"\n\n" + usage},
	} {
		out, errOut, code := reload(tt.args...)
		assert.Equal(t, 2, code, "%q", tt.args)
		assert.Equal(t, tt.err, errOut)
		assert.Empty(t, out)
	}
	out, errOut, code := reload("-h")
	assert.Equal(t, 0, code)
	assert.Equal(t, usage, out)
	assert.Empty(t, errOut)
}
