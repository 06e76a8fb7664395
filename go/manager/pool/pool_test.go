package pool

import (
	"bytes"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pluton-go/pluton/go/manager/config"
	"github.com/pluton-go/pluton/go/manager/logging"
	"github.com/pluton-go/pluton/go/manager/metrics"
	"github.com/pluton-go/pluton/go/manager/process"
	"github.com/pluton-go/pluton/go/servicekey"
	"github.com/pluton-go/pluton/go/stats"
)

// syncBuffer is a log the instances' stderr goroutines may write too.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// harness runs a Service with real child processes, the test goroutine as
// the manager's loop: what the waiter goroutines Post runs in pump.
type harness struct {
	t     *testing.T
	s     *Service
	log   *syncBuffer
	posts chan func()
}

// forker is one fork thread for every test of the package.
var forker = sync.OnceValue(process.NewForker)

func newHarness(t *testing.T, text string) *harness {
	t.Helper()
	key, err := servicekey.ParseConfigName("test.pool.0.raw")
	require.NoError(t, err)
	cfg, err := config.Parse(strings.NewReader(text), "test.pool.0.raw", key)
	require.NoError(t, err)
	h := &harness{t: t, log: &syncBuffer{}, posts: make(chan func(), 64)}
	env := &Env{Log: logging.New(h.log, logging.All), Metrics: metrics.New(), Counters: &Counters{},
		RendezvousDir: t.TempDir(), Forker: forker(), Rand: rand.New(rand.NewPCG(1, 2)),
		Post: func(f func()) { h.posts <- f }}
	// The text handler sets itself up at its first line, unsynchronized:
	// write one before any stderr goroutine exists.
	env.Log.Printf("Test Start: %s", t.Name())
	h.s, err = New(cfg, env, time.Now())
	require.NoError(t, err)
	t.Cleanup(func() {
		for _, in := range h.s.inst {
			if in != nil && !in.exited() {
				_ = in.Proc.Signal(9)
			}
		}
		h.pumpUntil(func() bool { return h.s.live == 0 })
		h.s.closeFiles()
	})
	return h
}

// pumpUntil runs posted events until cond holds (at most 10 s).
func (h *harness) pumpUntil(cond func() bool) bool {
	deadline := time.After(10 * time.Second)
	for !cond() {
		select {
		case f := <-h.posts:
			f()
		case <-deadline:
			return false
		}
	}
	return true
}

// instances returns the live instances in slot order.
func (h *harness) instances() []*Instance {
	var out []*Instance
	for _, in := range h.s.inst {
		if in != nil {
			out = append(out, in)
		}
	}
	return out
}

// setSlots writes st as every live instance's slot state, as an instance would.
func (h *harness) setSlots(st stats.State, since time.Time) {
	for _, in := range h.instances() {
		h.s.seg.Slot(in.Slot).SetState(st, uint64(since.UnixMicro()))
	}
}

// ignoreTERM writes a program that ignores SIGTERM (the ignored
// disposition survives the exec).
func ignoreTERM(t *testing.T) string {
	p := filepath.Join(t.TempDir(), "stubborn")
	require.NoError(t, os.WriteFile(p, []byte("#!/bin/sh\ntrap '' TERM\necho trapped >&2\nexec sleep 60\n"), 0o755))
	return p
}

// waitLog waits (at most 10 s) until the log holds text.
func (h *harness) waitLog(text string) {
	h.t.Helper()
	for range 200 {
		if strings.Contains(h.log.String(), text) {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	h.t.Fatalf("no %q in the log:\n%s", text, h.log.String())
}

func TestPrestartReadyAndStop(t *testing.T) {
	h := newHarness(t, "exec /bin/sleep 60\nminimum-processes 2\nprestart-processes true\n")
	now := time.Now()
	h.s.Prestart(now)
	require.Len(t, h.instances(), 2)
	for _, in := range h.instances() {
		assert.Equal(t, InstStarting, in.State())
	}
	h.s.Sample(now.Add(SampleInterval), 0, true)
	assert.Equal(t, 2, h.s.starting, "slots still say starting")

	h.setSlots(stats.StateIdle, now)
	h.s.Sample(now.Add(2*SampleInterval), 0, true)
	assert.Equal(t, 0, h.s.starting)
	ins := h.instances()
	for _, in := range ins {
		assert.Equal(t, InstReady, in.State())
		assert.False(t, in.Ready.IsZero())
	}
	assert.Equal(t, 2, h.s.servingCount())

	victim := ins[0]
	h.s.stop(victim, now, stats.ExcessProcesses, time.Minute)
	assert.Equal(t, InstStopping, victim.State())
	assert.Equal(t, stats.ExcessProcesses, h.s.seg.Slot(victim.Slot).ShutdownRequest(), "the reason is in the slot before SIGTERM")
	assert.Equal(t, 1, h.s.servingCount())
	require.True(t, h.pumpUntil(func() bool { return victim.exited() }), "SIGTERM ends sleep")
	assert.Equal(t, 1, h.s.live)
	assert.Nil(t, h.s.inst[victim.Slot])
	assert.Contains(t, h.log.String(), "Child Exit: normal "+victim.LogID+" responded to kill(SIGTERM), excess processes")
	assert.Equal(t, 1, h.s.env.Counters.Exits[stats.ExcessProcesses])
}

func TestEscalationToSIGKILL(t *testing.T) {
	h := newHarness(t, "exec "+ignoreTERM(t)+"\nminimum-processes 1\nprestart-processes true\n")
	now := time.Now()
	h.s.Prestart(now)
	in := h.instances()[0]
	h.waitLog(in.LogID + " trapped")
	h.s.stop(in, now, stats.IdleTimeout, time.Second)
	h.s.step(now.Add(999 * time.Millisecond))
	assert.Equal(t, InstStopping, in.State(), "within the grace")
	h.s.step(now.Add(time.Second))
	assert.Equal(t, InstKilled, in.State())
	assert.Contains(t, h.log.String(), "Process Warning: "+in.LogID+" SIGKILL sent to intransigent child")
	require.True(t, h.pumpUntil(func() bool { return in.exited() }))
	assert.Contains(t, h.log.String(), "Child Exit: normal "+in.LogID+" responded to kill(SIGKILL), idle timeout")
}

func TestUnresponsiveInstance(t *testing.T) {
	h := newHarness(t, "exec "+ignoreTERM(t)+"\nminimum-processes 1\nprestart-processes true\nunresponsive-timeout 5\n")
	now := time.Now()
	h.s.Prestart(now)
	in := h.instances()[0]
	h.waitLog(in.LogID + " trapped")
	h.setSlots(stats.StateBusy, now)
	h.s.Sample(now.Add(4900*time.Millisecond), 0, true)
	assert.Equal(t, InstReady, in.State(), "busy for 4.9 s of 5")
	h.s.Sample(now.Add(5100*time.Millisecond), 0, true)
	assert.Equal(t, InstStopping, in.State())
	assert.Equal(t, stats.Unresponsive, h.s.seg.Slot(in.Slot).ShutdownRequest())
	assert.Contains(t, h.log.String(), "Process Warning: "+in.LogID+" unresponsive: busy for 5.1s (unresponsive-timeout 5s)")
	h.s.Sample(now.Add(6000*time.Millisecond), 0, true)
	assert.Equal(t, InstStopping, in.State(), "within the 1 s grace")
	h.s.Sample(now.Add(6100*time.Millisecond), 0, true)
	assert.Equal(t, InstKilled, in.State(), "SIGKILL 1 s later")
	assert.Contains(t, h.log.String(), "SIGKILL sent to unresponsive child")
	require.True(t, h.pumpUntil(func() bool { return in.exited() }))
	assert.Contains(t, h.log.String(), "Child Exit: abnormal "+in.LogID+" responded to kill(SIGKILL), unresponsive")
	assert.True(t, h.s.backoffUntil.IsZero(), "no backoff for an unresponsive instance")
}

// TestSampleDrivesScaling runs the pool through lazy start, backlog
// scale-up and the idle stop, each from Sample.
func TestSampleDrivesScaling(t *testing.T) {
	h := newHarness(t, "exec /bin/sleep 60\nmaximum-processes 4\nidle-timeout 10\n")
	now := time.Now()
	h.s.Prestart(now)
	assert.Empty(t, h.instances(), "lazy: nothing before a connection")

	h.s.Sample(now, 3, true)
	require.Len(t, h.instances(), 1, "rule 1: one instance for the first connection (minimum 0)")
	assert.True(t, h.s.used)

	h.s.Sample(now.Add(SampleInterval), 3, true)
	assert.Len(t, h.instances(), 3, "rule 3: backlog 3 − 1 starting")
	assert.Contains(t, h.log.String(), "Calibrate Up: test.pool.0.raw apc=1 ")
	assert.Contains(t, h.log.String(), "currLQ=3 prevLQ=3 shortfall=2")

	h.s.Sample(now.Add(2*SampleInterval), 9, true)
	assert.Len(t, h.instances(), 4, "up to maximum-processes")

	h.setSlots(stats.StateIdle, now)
	h.s.Sample(now.Add(3*SampleInterval), 0, true)
	assert.Equal(t, 4, h.s.servingCount())
	h.s.Sample(now.Add(9*time.Second), 0, true)
	assert.Equal(t, 3, h.s.servingCount(), "rule 6: 5 s after the scale-up, occupancy 0: one fewer")
	assert.Contains(t, h.log.String(), "Calibrate Down: test.pool.0.raw apc=4 currO=0 prevO=0 propCO=0 propPO=0")
	h.s.Sample(now.Add(9500*time.Millisecond), 0, true)
	assert.Equal(t, 3, h.s.servingCount(), "idle for 9.5 s of 10; a scale-down 0.5 s ago")
	h.s.Sample(now.Add(10*time.Second), 0, true)
	assert.Equal(t, 1, h.s.servingCount(), "rule 5: idle for idle-timeout, down to minimum-processes 1")
	assert.Contains(t, h.log.String(), "Calibrate Idle: test.pool.0.raw apc=3 idle=10s stopping=2")
	reasons := map[stats.ExitReason]int{}
	for _, in := range h.instances() {
		reasons[in.stop.reason]++
	}
	assert.Equal(t, map[stats.ExitReason]int{stats.NoReason: 1, stats.ExcessProcesses: 1, stats.IdleTimeout: 2}, reasons)
	require.True(t, h.pumpUntil(func() bool { return h.s.live == 1 }))
}

func TestRetirementMakeBeforeBreak(t *testing.T) {
	h := newHarness(t, "exec /bin/sleep 60\nminimum-processes 1\nprestart-processes true\nmaximum-requests 100\nenable-leak-ramping false\n")
	now := time.Now()
	h.s.Prestart(now)
	old := h.instances()[0]
	require.EqualValues(t, 100, old.MaxRequests)
	h.setSlots(stats.StateIdle, now)
	h.s.Sample(now.Add(SampleInterval), 0, true)
	sl := h.s.seg.Slot(old.Slot)
	// Samples 100 s apart: a rate under 1/s, so the lead (0.4 s) adds
	// nothing and the replacement starts with 2 requests left.
	for i, served := range []uint64{50, 97} {
		sl.FinishRequest(served, served, 0, 1000)
		h.s.Sample(now.Add(time.Duration(i+1)*100*time.Second), 0, true)
		assert.Equal(t, InstReady, old.State(), "%d served of 100", served)
		assert.Len(t, h.instances(), 1)
	}
	sl.FinishRequest(98, 98, 0, 1000)
	h.s.Sample(now.Add(300*time.Second), 0, true)
	assert.Equal(t, InstRetiring, old.State())
	require.Len(t, h.instances(), 2, "the replacement started before the old one leaves")
	assert.Equal(t, 1, h.s.servingCount(), "the retiring instance no longer counts")
	procs := h.s.Processes(now)
	require.Len(t, procs, 2)
	assert.True(t, procs[0].Retiring)
	assert.False(t, procs[1].Retiring)
}

func TestHaltStopsAndResumeStarts(t *testing.T) {
	h := newHarness(t, "exec /bin/sleep 60\nminimum-processes 2\nprestart-processes true\n")
	now := time.Now()
	h.s.Prestart(now)
	require.Len(t, h.instances(), 2)
	h.s.Halt(now)
	for _, in := range h.instances() {
		assert.Equal(t, InstStopping, in.State())
		assert.Equal(t, stats.ServiceShutdown, in.stop.reason)
	}
	require.True(t, h.pumpUntil(func() bool { return h.s.live == 0 }))
	h.s.Sample(now.Add(time.Hour), 5, true)
	assert.Equal(t, 0, h.s.live, "a halted service starts nothing")

	h.s.Resume(now.Add(time.Hour))
	assert.Len(t, h.instances(), 2, "resumed: one at once, then the floor")
}

func TestShutdownStopsEverythingAndFinishes(t *testing.T) {
	h := newHarness(t, "exec /bin/sleep 60\nminimum-processes 2\nprestart-processes true\n")
	now := time.Now()
	h.s.Prestart(now)
	h.s.Shutdown(now, "config deleted", true, time.Second)
	assert.Equal(t, Stopping, h.s.Phase())
	_, err := os.Stat(h.s.SocketPath)
	assert.True(t, os.IsNotExist(err), "the socket name is gone at once")
	require.True(t, h.pumpUntil(h.s.Finished))
	assert.Contains(t, h.log.String(), "Service Shutdown: test.pool.0.raw config deleted")
	assert.Contains(t, h.log.String(), "Service Exit: test.pool.0.raw")
	_, err = os.Stat(h.s.MmapPath)
	assert.True(t, os.IsNotExist(err))
}

// TestStartGate checks when the pool may start an instance: never while
// held, halted, backed off, throttled after a failure, full, or not running.
func TestStartGate(t *testing.T) {
	now := time.Now()
	tests := []struct {
		name string
		edit func(s *Service)
		want bool
	}{
		{"running", func(*Service) {}, true},
		{"held", func(s *Service) { s.held = true }, false},
		{"halted", func(s *Service) { s.halted = true }, false},
		{"backed off", func(s *Service) { s.backoffUntil = now.Add(time.Millisecond) }, false},
		{"backoff over", func(s *Service) { s.backoffUntil = now }, true},
		{"throttled", func(s *Service) { s.throttleUntil = now.Add(time.Millisecond) }, false},
		{"throttle over", func(s *Service) { s.throttleUntil = now }, true},
		{"full", func(s *Service) { s.live = len(s.inst) }, false},
		{"draining", func(s *Service) { s.phase = Draining }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newConfiguredService(t, "exec /bin/true\n")
			tt.edit(s)
			assert.Equal(t, tt.want, s.startAllowed(now))
		})
	}
}

// TestCrashBacksOff: an instance that exits non-zero backs the service
// off for exec-failure-backoff, and with 0 throttles restarts for 250 ms.
func TestCrashBacksOff(t *testing.T) {
	for _, tt := range []struct {
		name, cfg, log string
		backoff        bool
	}{
		{"backoff", "exec-failure-backoff 30\n", "backoff restarts for 30s: Abnormal Exit Code", true},
		{"throttle", "exec-failure-backoff 0\n", "prefer to backoff restarts due to: Abnormal Exit Code", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, "exec /bin/false\nminimum-processes 1\nprestart-processes true\n"+tt.cfg)
			now := time.Now()
			h.s.Prestart(now)
			in := h.instances()[0]
			require.True(t, h.pumpUntil(in.exited))
			assert.Contains(t, h.log.String(), "Child Exit: abnormal "+in.LogID+" exit(1)")
			h.waitLog(tt.log)
			assert.Equal(t, 1, h.s.crashes)
			after := time.Now()
			assert.False(t, h.s.startAllowed(after))
			h.s.Sample(after, 2, true)
			assert.Empty(t, h.instances(), "nothing starts during the backoff")
			if tt.backoff {
				assert.True(t, h.s.backoffUntil.After(after.Add(29*time.Second)))
				assert.NotEmpty(t, h.s.Unavailable(after), "clients are answered fault 7")
			} else {
				assert.True(t, h.s.backoffUntil.IsZero())
				assert.True(t, h.s.startAllowed(after.Add(restartThrottle)), "250 ms later")
			}
		})
	}
}
