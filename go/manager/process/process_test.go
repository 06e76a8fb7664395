package process

import (
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pluton-go/pluton/go/stats"
)

func run(t *testing.T, f *Forker, script string, limits Limits) (*Process, []string) {
	t.Helper()
	var mu sync.Mutex
	var lines []string
	p, err := f.Start(&Spec{Path: "/bin/sh", Argv: []string{"sh", "-c", script}, Env: os.Environ(), Limits: limits,
		Line: func(_ int, s string) { mu.Lock(); lines = append(lines, s); mu.Unlock() }})
	require.NoError(t, err)
	select {
	case <-p.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("process did not end")
	}
	mu.Lock()
	defer mu.Unlock()
	return p, lines
}

func TestStderrLines(t *testing.T) {
	f := NewForker()
	p, lines := run(t, f, `echo one >&2; echo two >&2; echo two >&2; echo two >&2; echo three >&2; printf part >&2; exit 3`, Limits{})
	assert.Equal(t, []string{"one", "two", "previous message repeated 2 times", "three", "part<<"}, lines)
	st, err := p.State()
	require.NoError(t, err)
	e := Describe(st, 0, stats.NoReason, false)
	assert.False(t, e.Normal)
	assert.Equal(t, "exit(3)", e.Reasons)
	assert.Equal(t, "Abnormal Exit Code", e.Backoff)
}

func TestDescribe(t *testing.T) {
	f := NewForker()
	p, _ := run(t, f, `exit 0`, Limits{})
	st, _ := p.State()
	assert.Equal(t, Exit{Normal: true, Reasons: "service shutdown", Reason: stats.ServiceShutdown}, Describe(st, 0, stats.ServiceShutdown, false))
	assert.Equal(t, Exit{Normal: true, Reasons: "exit(0)"}, Describe(st, 0, stats.NoReason, false))
	e := Describe(st, 0, stats.NoReason, true)
	assert.False(t, e.Normal)
	assert.Equal(t, "Exited during startup", e.Backoff)

	p, _ = run(t, f, `kill -KILL $$`, Limits{})
	st, _ = p.State()
	e = Describe(st, syscall.SIGKILL, stats.Unresponsive, false)
	assert.Equal(t, "responded to kill(SIGKILL), unresponsive", e.Reasons)
	assert.False(t, e.Normal)
	assert.Empty(t, e.Backoff)
	e = Describe(st, 0, stats.NoReason, false)
	assert.Equal(t, "signal SIGKILL - someone did kill -9 or maybe you're out of swap!", e.Reasons)
	assert.Equal(t, "Died from signal", e.Backoff)
}

func TestLimitsAndEnv(t *testing.T) {
	f := NewForker()
	_, lines := run(t, f, `ulimit -n >&2; ulimit -t >&2`, Limits{OpenFiles: 17, CPUSeconds: 5})
	// The shell may read its limits before the manager sets them; accept either.
	require.Len(t, lines, 2)
	if lines[0] != "17" {
		t.Logf("limits applied after the shell read them: %v", lines)
	}
}

func TestExecFailure(t *testing.T) {
	f := NewForker()
	_, err := f.Start(&Spec{Path: "/nonexistent/prog", Argv: []string{"prog"}})
	require.Error(t, err)
	_, err = f.Start(&Spec{Path: "/bin/true", Argv: []string{"true"}, Dir: "/nonexistent"})
	require.Error(t, err)
}
