package pool

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/pluton-go/pluton/go/stats"
)

// TestDecide checks every pool-control rule of docs/manager.md, its
// thresholds from both sides, and the order the rules are tried in.
func TestDecide(t *testing.T) {
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	ago := func(d time.Duration) time.Time { return now.Add(-d) }
	long := time.Hour
	// quiet is a service of 3 serving instances, 1 to 10, busy enough to be
	// kept, with every scaling action long ago.
	quiet := func() Snapshot {
		return Snapshot{Serving: 3, Live: 3, OccFast: 0.5, OccSlow: 0.5, Used: true,
			LastUp: ago(long), LastDown: ago(long), LastFloor: ago(long), LastBacklog: ago(long), LastActivity: now}
	}
	lim := Limits{Minimum: 1, Maximum: 10, OccupancyPercent: 80, IdleTimeout: 10 * time.Second}
	with := func(f func(*Snapshot)) Snapshot { s := quiet(); f(&s); return s }
	withL := func(f func(*Limits)) Limits { l := lim; f(&l); return l }

	tests := []struct {
		name string
		s    Snapshot
		l    Limits
		want Decision
	}{
		{"steady: nothing", quiet(), lim, Decision{}},

		// A held, halted or backed-off service starts nothing.
		{"halted stops everything", with(func(s *Snapshot) { s.Halted = true; s.Backlog = 5 }), lim,
			Decision{Rule: RuleHalt, Reason: stats.ServiceShutdown}},
		{"halt wins over hold", with(func(s *Snapshot) { s.Halted, s.Held = true, true }), lim,
			Decision{Rule: RuleHalt, Reason: stats.ServiceShutdown}},
		{"held: no lazy start", with(func(s *Snapshot) { s.Held = true; s.Serving, s.Live, s.Backlog = 0, 0, 3 }), lim, Decision{}},
		{"held: no idle stop either", with(func(s *Snapshot) { s.Held = true; s.LastActivity = ago(long) }), lim, Decision{}},
		{"backed off: no lazy start", with(func(s *Snapshot) { s.BackoffUntil = now.Add(time.Millisecond); s.Serving, s.Live, s.Backlog = 0, 0, 3 }), lim, Decision{}},
		{"backoff over: lazy start", with(func(s *Snapshot) { s.BackoffUntil = now; s.Serving, s.Live, s.Backlog = 0, 0, 3 }), lim,
			Decision{Rule: RuleLazyStart, Start: 1}},

		// 1. No instance, a connection waiting: max(1, min(minimum, backlog)).
		{"lazy: minimum 0 starts 1", with(func(s *Snapshot) { s.Serving, s.Live, s.Backlog = 0, 0, 4 }), withL(func(l *Limits) { l.Minimum = 0 }),
			Decision{Rule: RuleLazyStart, Start: 1}},
		{"lazy: backlog bounds", with(func(s *Snapshot) { s.Serving, s.Live, s.Backlog = 0, 0, 2 }), withL(func(l *Limits) { l.Minimum = 5 }),
			Decision{Rule: RuleLazyStart, Start: 2}},
		{"lazy: minimum bounds", with(func(s *Snapshot) { s.Serving, s.Live, s.Backlog = 0, 0, 9 }), withL(func(l *Limits) { l.Minimum = 3 }),
			Decision{Rule: RuleLazyStart, Start: 3}},
		{"lazy: with stopping instances alive", with(func(s *Snapshot) { s.Serving, s.Live, s.Backlog = 0, 2, 1 }), lim,
			Decision{Rule: RuleLazyStart, Start: 1}},
		{"no instance, no connection: nothing", with(func(s *Snapshot) { s.Serving, s.Live, s.Used = 0, 0, false }), lim, Decision{}},

		// 2. Floor: below minimum once used (or prestart), once a second.
		{"floor after use", with(func(s *Snapshot) { s.Serving, s.Live = 1, 1 }), withL(func(l *Limits) { l.Minimum = 3 }),
			Decision{Rule: RuleFloor, Start: 2}},
		{"floor with prestart before use", with(func(s *Snapshot) { s.Serving, s.Live, s.Used = 0, 0, false }),
			withL(func(l *Limits) { l.Minimum, l.Prestart = 2, true }), Decision{Rule: RuleFloor, Start: 2}},
		{"no floor before use without prestart", with(func(s *Snapshot) { s.Serving, s.Live, s.Used = 1, 1, false; s.OccFast = 0.1 }),
			withL(func(l *Limits) { l.Minimum = 3 }), Decision{}},
		{"floor at most once a second", with(func(s *Snapshot) { s.Serving, s.Live = 1, 1; s.LastFloor = ago(floorInterval - time.Millisecond) }),
			withL(func(l *Limits) { l.Minimum = 3 }), Decision{}},
		{"floor again after a second", with(func(s *Snapshot) { s.Serving, s.Live = 1, 1; s.LastFloor = ago(floorInterval) }),
			withL(func(l *Limits) { l.Minimum = 3 }), Decision{Rule: RuleFloor, Start: 2}},

		// 3. Backlog scale-up: two consecutive samples, backlog − starting, ≤ 8, ≤ maximum.
		{"backlog in one sample: wait", with(func(s *Snapshot) { s.Backlog, s.BacklogRun = 4, 1 }), lim, Decision{}},
		{"backlog in two samples", with(func(s *Snapshot) { s.Backlog, s.BacklogRun = 4, 2 }), lim,
			Decision{Rule: RuleBacklogUp, Start: 4}},
		{"starting instances count against the backlog", with(func(s *Snapshot) { s.Backlog, s.BacklogRun, s.Starting, s.Live = 4, 3, 3, 6 }), lim,
			Decision{Rule: RuleBacklogUp, Start: 1}},
		{"backlog all covered by starting", with(func(s *Snapshot) { s.Backlog, s.BacklogRun, s.Starting, s.Live = 3, 3, 3, 6 }), lim, Decision{}},
		{"at most 8 per sample", with(func(s *Snapshot) { s.Backlog, s.BacklogRun = 50, 2 }), withL(func(l *Limits) { l.Maximum = 100 }),
			Decision{Rule: RuleBacklogUp, Start: maxBurst}},
		{"up to maximum-processes", with(func(s *Snapshot) { s.Backlog, s.BacklogRun, s.Live = 50, 2, 8 }), lim,
			Decision{Rule: RuleBacklogUp, Start: 2}},
		{"at maximum: nothing", with(func(s *Snapshot) { s.Backlog, s.BacklogRun, s.Live = 50, 2, 10 }), lim, Decision{}},

		// 4. Occupancy scale-up: no backlog, fast occupancy > target, nothing starting, 1 s cooldown.
		{"occupancy above target", with(func(s *Snapshot) { s.OccFast = 0.95 }), lim,
			Decision{Rule: RuleOccupancyUp, Start: 1}}, // ceil(3·0.95/0.8) − 3 = 1
		{"occupancy far above target", with(func(s *Snapshot) { s.Serving, s.Live, s.OccFast = 4, 4, 1 }), withL(func(l *Limits) { l.OccupancyPercent = 40 }),
			Decision{Rule: RuleOccupancyUp, Start: 6}}, // ceil(4·1/0.4) − 4 = 6
		{"occupancy up bounded by maximum", with(func(s *Snapshot) { s.Serving, s.Live, s.OccFast = 4, 8, 1 }), withL(func(l *Limits) { l.OccupancyPercent = 40 }),
			Decision{Rule: RuleOccupancyUp, Start: 2}},
		{"occupancy at target: nothing", with(func(s *Snapshot) { s.OccFast = 0.8 }), lim, Decision{}},
		{"occupancy up: something starting", with(func(s *Snapshot) { s.OccFast, s.Starting, s.Live = 0.95, 1, 4 }), lim, Decision{}},
		{"occupancy up: cooldown", with(func(s *Snapshot) { s.OccFast, s.LastUp = 0.95, ago(upCooldown-time.Millisecond) }), lim, Decision{}},
		{"occupancy up: after cooldown", with(func(s *Snapshot) { s.OccFast, s.LastUp = 0.95, ago(upCooldown) }), lim,
			Decision{Rule: RuleOccupancyUp, Start: 1}},
		{"occupancy up: not with a one-sample backlog", with(func(s *Snapshot) { s.OccFast, s.Backlog, s.BacklogRun = 0.95, 1, 1 }), lim, Decision{}},

		// 5. Idle: stop every instance above minimum.
		{"idle timeout", with(func(s *Snapshot) { s.LastActivity = ago(10 * time.Second) }), lim,
			Decision{Rule: RuleIdle, Stop: 2, Reason: stats.IdleTimeout}},
		{"idle: not yet", with(func(s *Snapshot) { s.LastActivity = ago(10*time.Second - time.Millisecond) }), lim, Decision{}},
		{"idle: at minimum", with(func(s *Snapshot) { s.LastActivity = ago(long) }), withL(func(l *Limits) { l.Minimum = 3 }), Decision{}},
		{"idle: minimum 0 stops all", with(func(s *Snapshot) { s.LastActivity = ago(long) }), withL(func(l *Limits) { l.Minimum = 0 }),
			Decision{Rule: RuleIdle, Stop: 3, Reason: stats.IdleTimeout}},

		// 6. Scale-down with hysteresis.
		{"down: low occupancy", with(func(s *Snapshot) { s.OccFast, s.OccSlow = 0.3, 0.3 }), lim,
			Decision{Rule: RuleDown, Stop: 1, Reason: stats.ExcessProcesses, PropFast: 0.3 * 1.5, PropSlow: 0.3 * 1.5}},
		{"down: slow occupancy too high with one fewer", with(func(s *Snapshot) { s.OccFast, s.OccSlow = 0.3, 0.5 }), lim, Decision{}},
		{"down: fast occupancy too high with one fewer", with(func(s *Snapshot) { s.OccFast, s.OccSlow = 0.5, 0.3 }), lim, Decision{}},
		{"down: keeps max(minimum,1)", with(func(s *Snapshot) { s.Serving, s.Live, s.OccFast, s.OccSlow = 1, 1, 0, 0 }),
			withL(func(l *Limits) { l.Minimum = 0 }), Decision{}},
		{"down: keeps minimum", with(func(s *Snapshot) { s.OccFast, s.OccSlow = 0, 0 }), withL(func(l *Limits) { l.Minimum = 3 }), Decision{}},
		{"down: something starting", with(func(s *Snapshot) { s.OccFast, s.OccSlow, s.Starting, s.Live = 0, 0, 1, 4 }), lim, Decision{}},
		{"down: backlog 3 s ago", with(func(s *Snapshot) { s.OccFast, s.OccSlow, s.LastBacklog = 0, 0, ago(downAfterBacklog-time.Millisecond) }), lim, Decision{}},
		{"down: scale-up 5 s ago", with(func(s *Snapshot) { s.OccFast, s.OccSlow, s.LastUp = 0, 0, ago(downAfterUp-time.Millisecond) }), lim, Decision{}},
		{"down: scale-down 2 s ago", with(func(s *Snapshot) { s.OccFast, s.OccSlow, s.LastDown = 0, 0, ago(downCooldown-time.Millisecond) }), lim, Decision{}},
		{"down: every wait over", with(func(s *Snapshot) {
			s.OccFast, s.OccSlow = 0, 0
			s.LastBacklog, s.LastUp, s.LastDown = ago(downAfterBacklog), ago(downAfterUp), ago(downCooldown)
		}), lim, Decision{Rule: RuleDown, Stop: 1, Reason: stats.ExcessProcesses}},

		// Order: the first rule that applies wins.
		{"lazy start before floor", with(func(s *Snapshot) { s.Serving, s.Live, s.Backlog = 0, 0, 1 }), withL(func(l *Limits) { l.Minimum = 4 }),
			Decision{Rule: RuleLazyStart, Start: 1}},
		{"floor before backlog", with(func(s *Snapshot) { s.Serving, s.Live, s.Backlog, s.BacklogRun = 1, 1, 5, 2 }), withL(func(l *Limits) { l.Minimum = 2 }),
			Decision{Rule: RuleFloor, Start: 1}},
		{"backlog before idle", with(func(s *Snapshot) { s.Backlog, s.BacklogRun, s.LastActivity = 2, 2, ago(long) }), lim,
			Decision{Rule: RuleBacklogUp, Start: 2}},
		{"idle before down", with(func(s *Snapshot) { s.OccFast, s.OccSlow, s.LastActivity = 0, 0, ago(long) }), lim,
			Decision{Rule: RuleIdle, Stop: 2, Reason: stats.IdleTimeout}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Decide(now, tt.s, tt.l)
			assert.Equal(t, tt.want.Rule, got.Rule, "rule %s, want %s", got.Rule, tt.want.Rule)
			assert.Equal(t, tt.want.Start, got.Start, "start")
			assert.Equal(t, tt.want.Stop, got.Stop, "stop")
			assert.Equal(t, tt.want.Reason, got.Reason, "reason")
			assert.InDelta(t, tt.want.PropFast, got.PropFast, 1e-9, "propFast")
			assert.InDelta(t, tt.want.PropSlow, got.PropSlow, 1e-9, "propSlow")
		})
	}
}

// TestRetireDue checks the make-before-break point of maximum-requests.
func TestRetireDue(t *testing.T) {
	tests := []struct {
		name    string
		max     uint32
		served  uint64
		rate    float64
		startup time.Duration
		want    bool
	}{
		{"no limit", 0, 1 << 40, 1000, 0, false},
		{"fresh", 100, 0, 1000, 0, false},
		{"less than half served", 100, 49, 1000, 0, false},
		{"half served, fast", 100, 50, 1000, time.Second, true},
		{"2 left at rest", 100, 98, 0, 0, true},
		{"3 left at rest", 100, 97, 0, 0, false},
		// lead = 2·100 ms + 200 ms = 0.4 s; 10/s → 2 + 4 = 6 left.
		{"6 left at 10/s, 100 ms start-up", 100, 94, 10, 100 * time.Millisecond, true},
		{"7 left at 10/s, 100 ms start-up", 100, 93, 10, 100 * time.Millisecond, false},
		// the lead is at most 1 s: 10/s → 12 left.
		{"12 left at 10/s, slow start-up", 100, 88, 10, time.Minute, true},
		{"13 left at 10/s, slow start-up", 100, 87, 10, time.Minute, false},
		{"past the limit", 100, 120, 0, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, RetireDue(tt.max, tt.served, tt.rate, tt.startup))
		})
	}
}

func TestSmoothOccupancy(t *testing.T) {
	assert.InDelta(t, 0.1, smoothOccupancy(0, 1, 300*time.Millisecond, 3*time.Second), 1e-9)
	assert.InDelta(t, 0.45, smoothOccupancy(0.5, 0, 300*time.Millisecond, 3*time.Second), 1e-9)
	assert.InDelta(t, 0.7, smoothOccupancy(0.2, 0.7, 5*time.Second, 3*time.Second), 1e-9, "dt ≥ tau takes the sample")
	assert.InDelta(t, 0.3, smoothOccupancy(0.3, 0.3, time.Second, 10*time.Second), 1e-9)
}

func TestRuleString(t *testing.T) {
	assert.Equal(t, "backlog-up", RuleBacklogUp.String())
	assert.Equal(t, "none", RuleNone.String())
	assert.Equal(t, "down", RuleDown.String())
}
