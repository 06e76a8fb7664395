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
	return runSpec(t, f, &Spec{Path: "/bin/sh", Argv: []string{"sh", "-c", script}, Env: os.Environ(), Limits: limits})
}

// runSpec starts s, waits for it to end and returns its stderr lines.
func runSpec(t *testing.T, f *Forker, s *Spec) (*Process, []string) {
	t.Helper()
	var mu sync.Mutex
	var lines []string
	s.Line = func(_ int, line string) { mu.Lock(); lines = append(lines, line); mu.Unlock() }
	p, err := f.Start(s)
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
	// The limits are in force before the instance's first instruction.
	_, lines := run(t, f, `ulimit -n >&2; ulimit -t >&2; ulimit -d >&2`,
		Limits{OpenFiles: 17, CPUSeconds: 5, DataBytes: 512 << 20})
	assert.Equal(t, []string{"17", "5", "524288"}, lines)
}

func TestLimitsWrapperExecFailure(t *testing.T) {
	// With limits the wrapper starts and the exec fails inside it, with the
	// original's exit status for a failed execv and a line on stderr.
	p, lines := runSpec(t, NewForker(), &Spec{Path: "/nonexistent/prog", Argv: []string{"prog"}, Limits: Limits{OpenFiles: 64}})
	st, _ := p.State()
	require.NotNil(t, st)
	assert.Equal(t, ExitExecFailed, st.ExitCode())
	require.NotEmpty(t, lines)
	assert.Contains(t, lines[0], "execv /nonexistent/prog")
}

func TestExecFailure(t *testing.T) {
	f := NewForker()
	_, err := f.Start(&Spec{Path: "/nonexistent/prog", Argv: []string{"prog"}})
	require.Error(t, err)
	_, err = f.Start(&Spec{Path: "/bin/true", Argv: []string{"true"}, Dir: "/nonexistent"})
	require.Error(t, err)
}

// TestMain lets the test binary serve as the limits wrapper, as the manager's
// binary does.
func TestMain(m *testing.M) {
	RunLimitsWrapper()
	os.Exit(m.Run())
}
