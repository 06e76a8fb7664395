package pool

import (
	"strconv"
	"syscall"
	"time"

	"github.com/pluton-go/pluton/go/stats"
)

// The supervisor part of the pool: it watches every instance at each
// sample and stops the ones that must go. An instance with a thread busy
// with one request for longer than unresponsive-timeout is stopped as
// unresponsive; one about to reach its maximum-requests gets its
// replacement early (make before break); a stopped instance gets SIGTERM,
// then SIGKILL when its grace period is over, then "One child left behind"
// if even that does not end it (docs/manager.md, "Stopping an instance").
// The decisions are pure functions of the time given (stopOrder,
// unresponsiveFor, RetireDue); the Service methods below carry them out.

// stopOrder is what the manager asked of an instance it stops, and when.
type stopOrder struct {
	reason     stats.ExitReason // the first reason given; it sticks
	termAt     time.Time        // SIGTERM sent
	killAt     time.Time        // SIGKILL due
	leftAt     time.Time        // "One child left behind" due
	leftLogged bool
	signal     syscall.Signal // the last signal sent: 0, SIGTERM or SIGKILL
}

// asked reports whether the manager has asked the instance to stop.
func (o *stopOrder) asked() bool { return o.reason != stats.NoReason || !o.termAt.IsZero() }

// request records a stop asked at now for reason, with grace before
// SIGKILL: setReason is true when reason is the first given (to be written
// to the slot), term when SIGTERM is to be sent now (the first request). A
// later request keeps the first reason and may only bring SIGKILL closer.
func (o *stopOrder) request(now time.Time, reason stats.ExitReason, grace time.Duration) (setReason, term bool) {
	if o.reason == stats.NoReason {
		o.reason, setReason = reason, true
	}
	if o.termAt.IsZero() {
		o.termAt, o.signal, term = now, syscall.SIGTERM, true
	}
	if due := now.Add(grace); o.killAt.IsZero() || due.Before(o.killAt) {
		o.killAt = due
	}
	return setReason, term
}

// escalation is the step the supervisor takes with a stopping instance.
type escalation int

const (
	escNone       escalation = iota // nothing (yet)
	escKill                         // send SIGKILL
	escLeftBehind                   // log "One child left behind" (once)
)

// next returns the escalation due at now and records it.
func (o *stopOrder) next(now time.Time) escalation {
	if o.killAt.IsZero() || now.Before(o.killAt) {
		return escNone
	}
	if o.signal != syscall.SIGKILL {
		o.signal = syscall.SIGKILL
		o.leftAt = now.Add(killWait)
		return escKill
	}
	if !o.leftLogged && now.After(o.leftAt) {
		o.leftLogged = true
		return escLeftBehind
	}
	return escNone
}

// unresponsiveFor returns how long an instance whose slot reads st has
// been busy with one request, and whether that makes it unresponsive now
// (busy, not affinity, for longer than timeout), unless it is already
// killed or already due for SIGKILL within unresponsiveGrace.
func unresponsiveFor(st stats.SlotStats, o *stopOrder, now time.Time, timeout time.Duration) (time.Duration, bool) {
	if st.State != stats.StateBusy || st.SinceMicros == 0 || o.signal == syscall.SIGKILL {
		return 0, false
	}
	busyFor := now.Sub(time.UnixMicro(int64(st.SinceMicros)))
	if busyFor <= timeout || (!o.killAt.IsZero() && !o.killAt.After(now.Add(unresponsiveGrace))) {
		return busyFor, false
	}
	return busyFor, true
}

// checkUnresponsive stops an instance with a thread busy with one request
// for longer than unresponsive-timeout: SIGTERM, then SIGKILL after a short
// grace. threads are its thread slots; with more than one, the warning
// names the thread busy the longest.
func (s *Service) checkUnresponsive(in *Instance, threads []stats.SlotStats, now time.Time) {
	worst, longest := -1, time.Duration(0)
	for t, st := range threads {
		if busyFor, due := unresponsiveFor(st, &in.stop, now, s.Cfg.UnresponsiveTimeout); due && busyFor > longest {
			worst, longest = t, busyFor
		}
	}
	if worst < 0 {
		return
	}
	thread := ""
	if len(threads) > 1 {
		thread = " in thread " + strconv.Itoa(worst)
	}
	s.env.Log.Printf("Process Warning: %s unresponsive: busy for %s%s (unresponsive-timeout %ds)",
		in.LogID, longest.Round(time.Millisecond), thread, int(s.Cfg.UnresponsiveTimeout/time.Second))
	s.stop(in, now, stats.Unresponsive, unresponsiveGrace)
}

// checkRetirement starts the replacement of an instance about to reach its
// maximum-requests (RetireDue), early enough that the replacement is ready
// when it leaves.
func (s *Service) checkRetirement(in *Instance, st stats.SlotStats, now time.Time) {
	if in.MaxRequests == 0 || in.state != InstReady || s.phase != Running {
		return
	}
	if !RetireDue(in.MaxRequests, st.Requests, in.rate, s.startupAvg) || !s.startAllowed(now) {
		return
	}
	s.move(in, InstRetiring)
	if s.start(now) != nil {
		s.move(in, InstReady)
	}
}

// stop asks an instance to stop: the reason goes to its slot, then SIGTERM;
// SIGKILL follows after grace. The first reason given sticks.
func (s *Service) stop(in *Instance, now time.Time, reason stats.ExitReason, grace time.Duration) {
	if in.exited() {
		return
	}
	setReason, term := in.stop.request(now, reason, grace)
	if setReason {
		s.seg.Slot(in.Slot).SetShutdownRequest(reason)
	}
	if term {
		s.move(in, InstStopping)
		if err := in.Proc.Signal(syscall.SIGTERM); err != nil {
			s.env.Log.Printf("Process Warning: %s SIGTERM failed: %v (May have exited quickly though)", in.LogID, err)
		}
	}
}

// escalate sends SIGKILL to instances past their grace period.
func (s *Service) escalate(in *Instance, now time.Time) {
	switch in.stop.next(now) {
	case escKill:
		s.move(in, InstKilled)
		adjective := "intransigent"
		if in.stop.reason == stats.Unresponsive {
			adjective = "unresponsive"
		}
		s.env.Log.Printf("Process Warning: %s SIGKILL sent to %s child", in.LogID, adjective)
		_ = in.Proc.Signal(syscall.SIGKILL)
	case escLeftBehind:
		s.env.Log.Printf("Process Error: %s One child left behind", in.LogID)
	}
}
