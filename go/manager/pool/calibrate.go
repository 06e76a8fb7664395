package pool

import (
	"math"
	"time"

	"github.com/pluton-go/pluton/go/manager/logging"
	"github.com/pluton-go/pluton/go/manager/sockdiag"
	"github.com/pluton-go/pluton/go/stats"
)

// Sample is called by the manager every SampleInterval with the number of
// connections waiting in the service's accept queue. known is false when
// the kernel could not tell (no sock_diag); the socket is then polled and a
// pending connection counts as a backlog of one, as in the original. It
// also reads the report pipe.
func (s *Service) Sample(now time.Time, backlog int, known bool) {
	s.drainReports()
	if !known && s.lfd >= 0 {
		backlog = 0
		if sockdiag.Readable(uintptr(s.lfd)) {
			backlog = 1
		}
	}
	s.prevBacklog, s.backlog, s.backlogKnown = s.backlog, backlog, known
	if backlog > 0 {
		s.backlogRun++
		s.lastBacklog = now
	} else {
		s.backlogRun = 0
	}
	if s.phase != Finished {
		s.sampleInstances(now)
	}
	s.lines.flush(now)
	s.step(now)
	if s.env.Log.Debugging(logging.DebugCalibrate) {
		s.env.Log.Debugf(logging.DebugCalibrate, "%s sample: backlog=%d known=%t live=%d busy=%d idle=%d starting=%d occupancy=%.2f/%.2f",
			s.Key, backlog, known, s.live, s.busy, s.idle, s.starting, s.occFast, s.occSlow)
	}
}

// sampleInstances reads every slot: readiness, busy time, requests,
// unresponsive instances and instances close to their maximum-requests.
// Capacity is counted in threads (docs/protocol.md §8.7): an instance is
// busy while any of its thread slots is, and occupancy is the busy time of
// every thread slot over the sampled time × counted instances × threads.
func (s *Service) sampleInstances(now time.Time) {
	dt := now.Sub(s.lastSample)
	first := s.lastSample.IsZero()
	s.lastSample = now
	s.busy, s.idle, s.starting, s.busyThreads = 0, 0, 0, 0
	nowMicros := uint64(now.UnixMicro())
	var busyMicros float64
	counted := 0
	for _, in := range s.inst {
		if in == nil || in.exited() {
			continue
		}
		threads := s.readThreads(in)
		st := combine(threads)
		in.last = st
		if in.Ready.IsZero() {
			if st.State == stats.StateStarting && now.Sub(in.Started) < startingGrace {
				s.starting++
				continue
			}
			in.Ready = now
			if in.state == InstStarting {
				s.move(in, InstReady)
			}
			if st.State != stats.StateStarting {
				s.noteStartup(now.Sub(in.Started))
			}
		}
		switch st.State {
		case stats.StateBusy:
			s.busy++
			s.lastActivity = now
		case stats.StateIdle:
			s.idle++
		}
		s.busyThreads += busyThreads(threads)
		busyMicros += in.busyDelta(threads, nowMicros)
		counted++
		if st.Requests > 0 && s.crashes > 0 && !in.stopping() && now.Sub(in.Started) >= healthyAfter {
			s.setCrashes(0) // an instance serves and lasts: the crash streak is over
		}
		if st.Requests != in.prevRequests {
			if st.Requests > in.prevRequests && dt > 0 {
				r := float64(st.Requests-in.prevRequests) / dt.Seconds()
				in.rate = 0.5*in.rate + 0.5*r
			}
			in.prevRequests = st.Requests
			s.lastActivity = now
		} else {
			in.rate *= 0.5
		}
		s.checkUnresponsive(in, threads, now)
		s.checkRetirement(in, st, now)
	}
	if first || dt <= 0 {
		return
	}
	o := 0.0
	if counted > 0 {
		o = math.Min(1, busyMicros/1e6/(dt.Seconds()*float64(counted*s.perInstance())))
	}
	s.occFast = smoothOccupancy(s.occFast, o, dt, occupancyFastTau)
	s.occSlow = smoothOccupancy(s.occSlow, o, dt, occupancySlowTau)
}

// busyDelta returns the busy µs the thread slots of in have added since the
// last sample, the requests in progress included, and records them. Each
// thread is counted on its own, as an instance of one thread was: a thread
// whose total went down since the last sample (its request in progress,
// counted up to then, has ended) adds nothing this time.
func (in *Instance) busyDelta(threads []stats.SlotStats, nowMicros uint64) float64 {
	if len(in.prevBusy) != len(threads) {
		in.prevBusy = make([]uint64, len(threads))
	}
	d := 0.0
	for t, th := range threads {
		total := th.BusyMicros
		if th.State == stats.StateBusy && th.SinceMicros > 0 && nowMicros > th.SinceMicros {
			total += nowMicros - th.SinceMicros
		}
		if total > in.prevBusy[t] {
			d += float64(total - in.prevBusy[t])
		}
		in.prevBusy[t] = total
	}
	return d
}

func (s *Service) noteStartup(d time.Duration) {
	if s.startupAvg == 0 {
		s.startupAvg = d
	} else {
		s.startupAvg = (7*s.startupAvg + 3*d) / 10
	}
}

// step does what the service's phase calls for; it runs after every sample
// and every exit.
func (s *Service) step(now time.Time) {
	if s.phase == Finished {
		return
	}
	s.sweepOrphans(now)
	for _, in := range s.inst {
		if in != nil && !in.exited() {
			s.escalate(in, now)
		}
	}
	switch s.phase {
	case Running:
		s.ensureTemplate(now)
		if s.staged {
			break // a rollout starts its own instances (rollout.go)
		}
		s.calibrate(now)
		s.updateRejector(now)
		s.arm()
	case Draining:
		// The sampled backlog may be up to a sample old (a connection that
		// came just before the socket was renamed away): ask the socket too.
		queued := s.backlog > 0 || (s.lfd >= 0 && sockdiag.Readable(uintptr(s.lfd)))
		if !queued || s.servingCount() == 0 || !now.Before(s.drainUntil) {
			if s.backlog > 0 && s.live > 0 {
				s.env.Log.Logf(logging.ProcessExit, "Service Warning: %s Residual backlog at shutdown=%d", s.Key, s.backlog)
			}
			s.stopAll(now, stats.ServiceShutdown)
			s.phase = Stopping
		}
	}
	if s.phase == Stopping {
		if s.live == 0 {
			s.finish()
		} else if now.Sub(s.lastExitLog) >= exitLogInterval {
			s.lastExitLog = now
			s.env.Log.Logf(logging.ServiceExit, "Service Exit: %s: waiting on %d", s.Key, s.live)
		}
	}
	s.updateGauges()
}

func (s *Service) stopAll(now time.Time, reason stats.ExitReason) {
	for _, in := range s.inst {
		if in != nil && !in.exited() {
			s.stop(in, now, reason, s.stopGrace())
		}
	}
}

func (s *Service) servingCount() int {
	n := 0
	for _, in := range s.inst {
		if in != nil && !in.exited() && in.serving() {
			n++
		}
	}
	return n
}

// calibrate sizes the pool: Decide (scale.go) picks the rule, calibrate
// carries it out and records when; docs/manager.md describes the rules.
func (s *Service) calibrate(now time.Time) {
	d := Decide(now, s.snapshot(), s.scaleLimits())
	serving := s.servingCount()
	switch d.Rule {
	case RuleHalt:
		s.stopAll(now, d.Reason)
	case RuleLazyStart:
		s.used = true
		s.lastUp = now
		s.startN(now, d.Start)
	case RuleFloor:
		s.lastFloor = now
		s.startN(now, d.Start)
	case RuleBacklogUp, RuleOccupancyUp:
		s.env.Log.Logf(logging.Calibrate, "Calibrate Up: %s apc=%d currO=%d prevO=%d currLQ=%d prevLQ=%d shortfall=%d",
			s.Key, serving, pct(s.occFast), pct(s.occSlow), s.backlog, s.prevBacklog, d.Start)
		s.lastUp = now
		s.startN(now, d.Start)
	case RuleIdle:
		s.env.Log.Logf(logging.Calibrate, "Calibrate Idle: %s apc=%d idle=%s stopping=%d",
			s.Key, serving, Duration(now.Sub(s.lastActivity)), d.Stop)
		s.stopVictims(now, d.Stop, d.Reason)
		s.lastDown = now
	case RuleDown:
		s.env.Log.Logf(logging.Calibrate, "Calibrate Down: %s apc=%d currO=%d prevO=%d propCO=%d propPO=%d",
			s.Key, serving, pct(s.occFast), pct(s.occSlow), pct(d.PropFast), pct(d.PropSlow))
		s.stopVictims(now, d.Stop, d.Reason)
		s.lastDown = now
	}
}

// snapshot is what Decide sees of the service now.
func (s *Service) snapshot() Snapshot {
	return Snapshot{
		Serving: s.servingCount(), Starting: s.starting, Live: s.live,
		Backlog: s.backlog, BacklogRun: s.backlogRun,
		OccFast: s.occFast, OccSlow: s.occSlow,
		Held: s.held, Halted: s.halted, BackoffUntil: s.backoffUntil, Used: s.used,
		LastUp: s.lastUp, LastDown: s.lastDown, LastFloor: s.lastFloor,
		LastBacklog: s.lastBacklog, LastActivity: s.lastActivity,
	}
}

// scaleLimits is the part of the configuration Decide applies.
func (s *Service) scaleLimits() Limits {
	return Limits{
		Minimum: s.Cfg.MinimumProcesses, Maximum: len(s.inst),
		OccupancyPercent: s.Cfg.OccupancyPercent, IdleTimeout: s.Cfg.IdleTimeout,
		Prestart: s.Cfg.PrestartProcesses,
	}
}

func pct(f float64) int { return int(math.Round(f * 100)) }

func (s *Service) startN(now time.Time, n int) {
	for range n {
		if s.start(now) != nil {
			return
		}
	}
}

// stopVictims stops n serving instances, preferring idle ones, then the
// oldest (the first started, the most likely to have grown).
func (s *Service) stopVictims(now time.Time, n int, reason stats.ExitReason) {
	for ; n > 0; n-- {
		var victim *Instance
		for _, in := range s.inst {
			if in == nil || in.exited() || !in.serving() {
				continue
			}
			if victim == nil {
				victim = in
				continue
			}
			vIdle, iIdle := victim.last.State == stats.StateIdle, in.last.State == stats.StateIdle
			if (iIdle && !vIdle) || (iIdle == vIdle && in.Started.Before(victim.Started)) {
				victim = in
			}
		}
		if victim == nil {
			return
		}
		s.stop(victim, now, reason, s.stopGrace())
	}
}

// arm asks the watcher for an immediate wake-up when a connection arrives
// while the service has no instance.
func (s *Service) arm() {
	// Only a service that may start an instance now is watched: any other
	// (held, halted, backed off, restarts throttled) has its connections
	// answered by the manager (rejector.go) or waits for the next sample,
	// and watching it would wake the loop again at once, in a spin.
	if s.armed || s.live != 0 || s.phase != Running || s.staged || s.lfd < 0 || s.env.Watcher == nil ||
		!s.startAllowed(time.Now()) {
		return
	}
	if s.env.Watcher.Arm(s.lfd, s.onPending) == nil {
		s.armed = true
		s.env.Log.Debugf(logging.DebugService, "%s: no instance; watching the socket for a connection", s.Key)
	}
}

func (s *Service) disarm() {
	if s.env.Watcher != nil && s.lfd >= 0 && s.phase != Running {
		s.env.Watcher.Remove(s.lfd)
	}
	s.armed = false
}

// onPending runs when the watcher saw a connection on an idle socket.
func (s *Service) onPending() {
	s.armed = false
	s.env.Log.Debugf(logging.DebugService, "%s: connection pending (live %d, phase %s)", s.Key, s.live, s.phase)
	if s.phase != Running || s.live != 0 || s.lfd < 0 {
		return
	}
	now := time.Now()
	if sockdiag.Readable(uintptr(s.lfd)) && s.backlog == 0 {
		s.backlog = 1
	}
	s.step(now)
}

func (s *Service) updateGauges() {
	if s.staged {
		return // the series are the running version's until Publish
	}
	m := s.metrics
	m.Instances.Set(float64(s.live))
	m.Busy.Set(float64(s.busy))
	m.Threads.Set(float64(s.busyThreads))
	m.Occupancy.Set(s.occFast)
	m.Backlog.Set(float64(s.backlog))
	m.Backoff.Set(b2f(time.Now().Before(s.backoffUntil)))
	m.Held.Set(b2f(s.held))
	m.Halted.Set(b2f(s.halted))
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
