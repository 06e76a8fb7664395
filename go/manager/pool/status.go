package pool

import (
	"time"

	"github.com/pluton-go/pluton/go/stats"
)

// BackoffStatus describes a service whose restarts are backed off.
type BackoffStatus struct {
	Reason           string  `json:"reason"`
	RemainingSeconds float64 `json:"remainingSeconds"`
}

// ServiceStatus is a snapshot of one service, as GET /services returns it.
type ServiceStatus struct {
	Key              string         `json:"key"`
	Config           string         `json:"config"`
	Socket           string         `json:"socket"`
	Phase            string         `json:"phase"`
	Instances        int            `json:"instances"`
	Serving          int            `json:"serving"`
	Busy             int            `json:"busy"` // instances with a thread busy
	Idle             int            `json:"idle"`
	Starting         int            `json:"starting"`
	Spare            int            `json:"spare"`
	MinimumProcesses int            `json:"minimumProcesses"`
	MaximumProcesses int            `json:"maximumProcesses"`
	MaximumThreads   int            `json:"maximumThreads"` // threads per instance (maximum-threads)
	BusyThreads      int            `json:"busyThreads"`    // busy threads of every instance, at the last sample
	Occupancy        float64        `json:"occupancy"`
	OccupancySlow    float64        `json:"occupancySlow"`
	OccupancyTarget  float64        `json:"occupancyTarget"`
	Backlog          int            `json:"backlog"`
	Backoff          *BackoffStatus `json:"backoff"`
	Held             bool           `json:"held"`
	Halted           bool           `json:"halted"`
	Requests         uint64         `json:"requests"`
	Faults           uint64         `json:"faults"`
	Loaded           time.Time      `json:"loaded"`
	// Unavailable is the fault text the manager answers clients with while
	// no instance can serve (halted, held with no instance, backed off,
	// restarts throttled); empty otherwise.
	Unavailable string `json:"unavailable,omitempty"`
	// Rollout is "rollout of <SK> failed: <why>" after a reload whose new
	// version could not start (the old one keeps serving), or "rollout of
	// <SK> in progress" while a new version proves it starts; empty otherwise.
	Rollout string `json:"rollout,omitempty"`
	// LastCrash names the request the last instance that died while busy
	// died on (crash forensics); null if none has.
	LastCrash *CrashStatus `json:"lastCrash"`
	// LastAbnormalExit is the last instance that crashed, was killed or
	// failed to start up, with its last stderr lines; null if none has.
	LastAbnormalExit *ExitStatus `json:"lastAbnormalExit"`
	// Preload is the template of a service configured with preload true
	// (docs/preload.md); null otherwise.
	Preload *PreloadStatus `json:"preload"`
}

// PreloadStatus is the preload template of a service.
type PreloadStatus struct {
	PID      int  `json:"pid"`      // the running template, 0 if none
	Ready    bool `json:"ready"`    // it said it is ready: new instances are forked from it
	Disabled bool `json:"disabled"` // given up: templates ended before they were ready; instances are exec'd
}

// ProcessStatus is a snapshot of one instance, as GET /processes returns it.
type ProcessStatus struct {
	LogID         string    `json:"logID"`
	Service       string    `json:"service"`
	Slot          int       `json:"slot"`
	PID           int       `json:"pid"`
	UptimeSeconds float64   `json:"uptimeSeconds"`
	State         string    `json:"state"`
	LastActive    time.Time `json:"lastActive"`
	Requests      uint64    `json:"requests"`
	Responses     uint64    `json:"responses"`
	Faults        uint64    `json:"faults"`
	BusySeconds   float64   `json:"busySeconds"`
	MaxRequests   uint32    `json:"maximumRequests"`
	Stopping      string    `json:"stopping,omitempty"`
	Retiring      bool      `json:"retiring,omitempty"`
	Start         string    `json:"start,omitempty"` // "exec", or "preload" (forked from the template); absent once handed over by an upgrade
	// The request the instance is serving, or served last (slot v2 fields);
	// with several threads, that of the thread busy the longest, or else of
	// the thread that served last.
	RequestID  int64  `json:"requestID"`
	ClientName string `json:"clientName,omitempty"`
	// Threads is how many requests the instance serves at once
	// (maximum-threads), BusyThreads how many it is serving, and Serving
	// the request of each busy thread (empty when none is busy). State is
	// busy while any thread is, and the counters are the sums over the
	// threads (docs/protocol.md §8.7).
	Threads     int            `json:"threads"`
	BusyThreads int            `json:"busyThreads"`
	Serving     []ThreadStatus `json:"serving"`
	// StderrTail is the last lines the instance wrote to stderr, oldest
	// first (bounded as logging.Tail says); empty if none.
	StderrTail []string `json:"stderrTail"`
}

// Status returns a snapshot of the service.
func (s *Service) Status(now time.Time) ServiceStatus {
	st := ServiceStatus{Key: s.Key, Config: s.Cfg.Path, Socket: s.SocketPath, Phase: s.phase.String(),
		Instances: s.live, Serving: s.servingCount(), Busy: s.busy, Idle: s.idle, Starting: s.starting,
		Spare: len(s.inst) - s.live, MinimumProcesses: s.Cfg.MinimumProcesses, MaximumProcesses: len(s.inst),
		MaximumThreads: s.perInstance(), BusyThreads: s.busyThreads,
		Occupancy: s.occFast, OccupancySlow: s.occSlow, OccupancyTarget: float64(s.Cfg.OccupancyPercent) / 100,
		Backlog: s.backlog, Held: s.held, Halted: s.halted, Requests: s.requests, Faults: s.faults, Loaded: s.Loaded,
		Unavailable: s.Unavailable(now), Rollout: s.rolloutFailed, LastCrash: s.lastCrash,
		LastAbnormalExit: s.book.lastAbnormal}
	st.Requests, st.Faults = s.liveCounts() // not the report pipe's, which lags
	if s.staged {
		st.Phase = "rollout"
		st.Rollout = "rollout of " + s.Key + " in progress"
		if s.rolloutErr != "" {
			st.Rollout = "rollout of " + s.Key + " failed: " + s.rolloutErr
		}
	}
	if now.Before(s.backoffUntil) {
		st.Backoff = &BackoffStatus{Reason: s.backoffReason, RemainingSeconds: s.backoffUntil.Sub(now).Seconds()}
	}
	if s.Cfg.Preload {
		st.Preload = &PreloadStatus{Disabled: s.tmplOff}
		if s.tmpl != nil {
			st.Preload.PID, st.Preload.Ready = s.tmpl.proc.Pid, s.tmpl.ready
		}
	}
	return st
}

// Processes returns a snapshot of every live instance.
func (s *Service) Processes(now time.Time) []ProcessStatus {
	var out []ProcessStatus
	for _, in := range s.inst {
		if in == nil || in.exited() {
			continue
		}
		threads := s.readThreads(in)
		st := combine(threads)
		p := ProcessStatus{LogID: in.LogID, Service: s.Key, Slot: in.Slot, PID: in.Proc.Pid,
			UptimeSeconds: now.Sub(in.Started).Seconds(), State: st.State.String(),
			Requests: st.Requests, Responses: st.Responses, Faults: st.Faults,
			BusySeconds: float64(st.BusyMicros) / 1e6, MaxRequests: in.MaxRequests, Retiring: in.replaced, Start: in.start,
			RequestID: st.RequestID, ClientName: st.ClientName, StderrTail: in.stderr.Lines(),
			Threads: len(threads), BusyThreads: busyThreads(threads), Serving: servingThreads(threads, now)}
		// lastActive is when the slot's state last changed; an instance that
		// has not written its slot yet (starting) was last active when it
		// was started.
		p.LastActive = in.Started.UTC()
		if st.SinceMicros > 0 {
			p.LastActive = time.UnixMicro(int64(st.SinceMicros)).UTC()
		}
		if in.stop.reason != stats.NoReason {
			p.Stopping = in.stop.reason.String()
		}
		out = append(out, p)
	}
	return out
}

// Hold stops the service from starting instances; those running go on.
func (s *Service) Hold() { s.held = true; s.updateGauges() }

// Halt stops every instance and starts none; waiting clients are turned
// away at once.
func (s *Service) Halt(now time.Time) {
	s.halted = true
	s.step(now)
}

// Resume ends a hold, a halt and a backoff (or restart throttle), and
// starts an instance at once if none can accept; the manager's own answers
// stop. The status API's POST /services/<SK>/resume calls it through
// manager.Manager.Resume.
func (s *Service) Resume(now time.Time) {
	s.held, s.halted = false, false
	s.backoffUntil, s.throttleUntil, s.backoffReason = time.Time{}, time.Time{}, ""
	if s.phase == Running && !s.staged && s.servingCount() == 0 && s.live < len(s.inst) {
		s.used = true
		_ = s.start(now)
	}
	s.step(now)
}
