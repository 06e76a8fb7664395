package pool

import (
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/pluton-go/pluton/go/stats"
)

// TestStopOrderEscalation drives a stop order with a fake clock: SIGTERM
// at once, SIGKILL when the grace is over, "left behind" killWait later,
// once.
func TestStopOrderEscalation(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	var o stopOrder
	assert.False(t, o.asked())
	assert.Equal(t, escNone, o.next(t0), "nothing before a stop")

	setReason, term := o.request(t0, stats.IdleTimeout, 10*time.Second)
	assert.True(t, setReason)
	assert.True(t, term)
	assert.True(t, o.asked())
	assert.Equal(t, syscall.SIGTERM, o.signal)
	assert.Equal(t, t0.Add(10*time.Second), o.killAt)

	// A second stop keeps the first reason and SIGTERM, and may only bring
	// SIGKILL closer.
	setReason, term = o.request(t0.Add(time.Second), stats.ServiceShutdown, 20*time.Second)
	assert.False(t, setReason)
	assert.False(t, term)
	assert.Equal(t, stats.IdleTimeout, o.reason)
	assert.Equal(t, t0.Add(10*time.Second), o.killAt, "a later deadline is ignored")
	o.request(t0.Add(2*time.Second), stats.Unresponsive, time.Second)
	assert.Equal(t, t0.Add(3*time.Second), o.killAt, "an earlier deadline wins")
	assert.Equal(t, stats.IdleTimeout, o.reason, "the first reason sticks")

	assert.Equal(t, escNone, o.next(t0.Add(3*time.Second-time.Nanosecond)))
	assert.Equal(t, escKill, o.next(t0.Add(3*time.Second)))
	assert.Equal(t, syscall.SIGKILL, o.signal)
	assert.Equal(t, escNone, o.next(t0.Add(3*time.Second+killWait)), "left behind only after killWait")
	assert.Equal(t, escLeftBehind, o.next(t0.Add(3*time.Second+killWait+time.Nanosecond)))
	assert.Equal(t, escNone, o.next(t0.Add(time.Hour)), "logged once")
	assert.True(t, o.leftLogged)
}

// TestUnresponsiveFor checks when a busy instance is unresponsive.
func TestUnresponsiveFor(t *testing.T) {
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	since := func(d time.Duration) uint64 { return uint64(now.Add(-d).UnixMicro()) }
	timeout := 5 * time.Second
	tests := []struct {
		name    string
		st      stats.SlotStats
		o       stopOrder
		busyFor time.Duration
		due     bool
	}{
		{"busy past the timeout", stats.SlotStats{State: stats.StateBusy, SinceMicros: since(6 * time.Second)}, stopOrder{}, 6 * time.Second, true},
		{"busy for the timeout exactly", stats.SlotStats{State: stats.StateBusy, SinceMicros: since(timeout)}, stopOrder{}, timeout, false},
		{"busy, under the timeout", stats.SlotStats{State: stats.StateBusy, SinceMicros: since(time.Second)}, stopOrder{}, time.Second, false},
		{"idle for long", stats.SlotStats{State: stats.StateIdle, SinceMicros: since(time.Hour)}, stopOrder{}, 0, false},
		{"affinity for long", stats.SlotStats{State: stats.StateAffinity, SinceMicros: since(time.Hour)}, stopOrder{}, 0, false},
		{"busy with no start time", stats.SlotStats{State: stats.StateBusy}, stopOrder{}, 0, false},
		{"already killed", stats.SlotStats{State: stats.StateBusy, SinceMicros: since(time.Hour)}, stopOrder{signal: syscall.SIGKILL}, 0, false},
		{"stopping, SIGKILL due soon", stats.SlotStats{State: stats.StateBusy, SinceMicros: since(time.Hour)},
			stopOrder{signal: syscall.SIGTERM, killAt: now.Add(unresponsiveGrace)}, time.Hour, false},
		{"stopping, SIGKILL due late: brought closer", stats.SlotStats{State: stats.StateBusy, SinceMicros: since(time.Hour)},
			stopOrder{signal: syscall.SIGTERM, killAt: now.Add(time.Minute)}, time.Hour, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			busyFor, due := unresponsiveFor(tt.st, &tt.o, now, timeout)
			assert.Equal(t, tt.due, due)
			assert.Equal(t, tt.busyFor, busyFor)
		})
	}
}
