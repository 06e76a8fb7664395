package pool

import (
	"math"
	"time"

	"github.com/pluton-go/pluton/go/stats"
)

// Rule names the pool-control rule a Decision comes from; docs/manager.md
// ("Pool control") describes each.
type Rule int

// The pool-control rules, in the order Decide tries them.
const (
	RuleNone        Rule = iota // nothing to do
	RuleHalt                    // the service is halted: stop every instance
	RuleLazyStart               // rule 1: no instance, a connection waiting
	RuleFloor                   // rule 2: below minimum-processes
	RuleBacklogUp               // rule 3: a backlog in consecutive samples
	RuleOccupancyUp             // rule 4: fast occupancy above the target
	RuleIdle                    // rule 5: no request started for idle-timeout
	RuleDown                    // rule 6: scale-down with hysteresis
)

func (r Rule) String() string {
	return [...]string{"none", "halt", "lazy-start", "floor", "backlog-up", "occupancy-up", "idle", "down"}[r]
}

// Snapshot is what the scaler sees of a service at one sample: its pool,
// its load and the times of its last scaling actions.
type Snapshot struct {
	Serving    int // instances that count toward the pool's size (not stopping, not retiring)
	Starting   int // instances whose slot still says "starting"
	Live       int // instances alive, stopping ones included
	Backlog    int // connections waiting in the accept queue
	BacklogRun int // consecutive samples with a backlog, this one included

	OccFast, OccSlow float64 // smoothed occupancy, 0..1 (time constants 3 s and 10 s)

	Held, Halted bool
	BackoffUntil time.Time // no start before
	Used         bool      // a connection has come: minimum-processes is kept from now on

	LastUp       time.Time // the last scale-up
	LastDown     time.Time // the last scale-down
	LastFloor    time.Time // the last start to reach minimum-processes
	LastBacklog  time.Time // the last sample with a backlog
	LastActivity time.Time // the last request started or seen busy
}

// Limits is the part of a service's configuration the scaler applies.
type Limits struct {
	Minimum          int           // minimum-processes
	Maximum          int           // maximum-processes
	OccupancyPercent int           // occupancy-percent, the target
	IdleTimeout      time.Duration // idle-timeout
	Prestart         bool          // prestart-processes: keep minimum-processes from the start
}

// Decision is what the scaler asks of the pool: start Start instances, or
// stop Stop of the serving ones (idle, then oldest) with Reason, or, for
// RuleHalt, every instance.
type Decision struct {
	Rule   Rule
	Start  int
	Stop   int
	Reason stats.ExitReason
	// PropFast and PropSlow are, for RuleDown, the occupancies the pool
	// would have with one instance fewer (for the log line).
	PropFast, PropSlow float64
}

// Decide applies the pool-control rules to one sample of a service and
// returns the first that calls for an action. It is a pure function: the
// caller carries out the decision and records its time (LastUp, LastDown,
// LastFloor, Used). A held or backed-off service starts nothing, and a
// halted one stops everything; the start throttle after a failure
// (exec-failure-backoff 0) is the pool's (Service.startAllowed), which
// refuses the starts asked for here.
func Decide(now time.Time, s Snapshot, l Limits) Decision {
	if s.Halted {
		return Decision{Rule: RuleHalt, Reason: stats.ServiceShutdown}
	}
	if now.Before(s.BackoffUntil) || s.Held {
		return Decision{}
	}
	q := s.Backlog
	if s.Serving == 0 && q > 0 {
		return Decision{Rule: RuleLazyStart, Start: max(1, min(l.Minimum, q))}
	}
	if (l.Prestart || s.Used) && s.Serving < l.Minimum && now.Sub(s.LastFloor) >= floorInterval {
		return Decision{Rule: RuleFloor, Start: l.Minimum - s.Serving}
	}
	if s.BacklogRun >= backlogSamples && q > s.Starting && s.Live < l.Maximum {
		return Decision{Rule: RuleBacklogUp, Start: min(q-s.Starting, l.Maximum-s.Live, maxBurst)}
	}
	target := float64(l.OccupancyPercent) / 100
	if q == 0 && s.Serving > 0 && s.Starting == 0 && s.OccFast > target && s.Live < l.Maximum &&
		now.Sub(s.LastUp) >= upCooldown {
		n := int(math.Ceil(float64(s.Serving)*s.OccFast/target)) - s.Serving
		return Decision{Rule: RuleOccupancyUp, Start: min(max(n, 1), l.Maximum-s.Live)}
	}
	if s.Serving > l.Minimum && now.Sub(s.LastActivity) >= l.IdleTimeout {
		return Decision{Rule: RuleIdle, Stop: s.Serving - l.Minimum, Reason: stats.IdleTimeout}
	}
	if s.Serving > max(l.Minimum, 1) && s.Starting == 0 && now.Sub(s.LastBacklog) >= downAfterBacklog &&
		now.Sub(s.LastUp) >= downAfterUp && now.Sub(s.LastDown) >= downCooldown {
		f := float64(s.Serving) / float64(s.Serving-1)
		p1, p2 := s.OccFast*f, s.OccSlow*f
		if limit := target - 0.05; p1 < limit && p2 < limit {
			return Decision{Rule: RuleDown, Stop: 1, Reason: stats.ExcessProcesses, PropFast: p1, PropSlow: p2}
		}
	}
	return Decision{}
}

// RetireDue reports whether an instance with a maximum-requests limit
// should have its replacement started now (make before break): it has
// served at least half of its limit, and the requests it has left are fewer
// than 2 plus its recent rate (requests/s) times the lead, twice the
// measured start-up time plus two samples, at most maxRetireLead.
func RetireDue(maxRequests uint32, served uint64, rate float64, startup time.Duration) bool {
	if maxRequests == 0 {
		return false
	}
	left := float64(maxRequests) - float64(served)
	lead := min(2*startup+2*SampleInterval, maxRetireLead)
	return left <= float64(maxRequests)/2 && left <= 2+rate*lead.Seconds()
}

// smoothOccupancy moves a smoothed occupancy toward the sampled one o over
// dt with time constant tau (an exponential moving average; dt ≥ tau takes
// o as is).
func smoothOccupancy(cur, o float64, dt, tau time.Duration) float64 {
	return cur + math.Min(1, float64(dt)/float64(tau))*(o-cur)
}
