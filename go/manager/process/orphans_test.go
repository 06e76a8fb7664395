package process

import (
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// TestReapOrphansAndAdopt: with the test process a child subreaper, a
// started process that leaves a child behind and exits: the orphan becomes
// ours and, once it has exited, ReapOrphans reaps it; a process started by
// the Forker and one adopted by it are waited for by their Process (their
// exit status intact), never taken for orphans.
func TestReapOrphansAndAdopt(t *testing.T) {
	require.NoError(t, unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0))
	t.Cleanup(func() { _ = unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0) })
	f := NewForker()

	// the orphan: sh prints its background child's pid and exits
	r, w, err := os.Pipe()
	require.NoError(t, err)
	p, err := f.Start(&Spec{Path: "/bin/sh", Argv: []string{"sh", "-c", "sleep 0.2 & echo $! >&3; exit 3"},
		Env: os.Environ(), Files: []*os.File{w}})
	require.NoError(t, err)
	w.Close()
	buf := make([]byte, 32)
	_ = r.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, err := r.Read(buf)
	require.NoError(t, err)
	r.Close()
	orphan, err := strconv.Atoi(strings.TrimSpace(string(buf[:n])))
	require.NoError(t, err)
	select {
	case <-p.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("sh did not end")
	}
	st, err := p.State()
	require.NoError(t, err)
	assert.Equal(t, 3, st.ExitCode(), "the started process's own status")

	reaped := 0
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline) && reaped == 0; {
		reaped = f.ReapOrphans()
		time.Sleep(50 * time.Millisecond)
	}
	assert.GreaterOrEqual(t, reaped, 1, "the exited orphan was reaped")
	assert.ErrorIs(t, syscall.Kill(orphan, 0), syscall.ESRCH, "no zombie left")

	// adopted: a child of ours started elsewhere, its status kept for its Process
	attr := &syscall.ProcAttr{Files: []uintptr{0, 1, 2}, Sys: &syscall.SysProcAttr{Setpgid: true}}
	pid, err := syscall.ForkExec("/bin/sh", []string{"sh", "-c", "exit 7"}, attr)
	require.NoError(t, err)
	er, ew, err := os.Pipe()
	require.NoError(t, err)
	ew.Close()
	time.Sleep(100 * time.Millisecond) // a zombie by now, most likely
	assert.Equal(t, 0, f.ReapOrphans(), "a group leader is never taken for an orphan")
	a, err := f.Adopt(pid, er, nil)
	require.NoError(t, err)
	assert.Equal(t, 0, f.ReapOrphans())
	select {
	case <-a.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the adopted process was not reaped")
	}
	st, err = a.State()
	require.NoError(t, err)
	assert.Equal(t, 7, st.ExitCode(), "the adopted process's own status")
}
