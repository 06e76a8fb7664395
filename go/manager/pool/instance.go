package pool

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/pluton-go/pluton/go/manager/logging"
	"github.com/pluton-go/pluton/go/manager/process"
	"github.com/pluton-go/pluton/go/stats"
)

// Instance is one running service process.
type Instance struct {
	Slot        int // its first slot in the stats segment (plutonSlot); its thread slots follow (threads.go)
	Proc        *process.Process
	LogID       string // <SK>/<slot>-<pid>
	Started     time.Time
	Ready       time.Time // when its slot first left state "starting"
	MaxRequests uint32
	start       string // how it was started: "exec", or "preload" (forked from the template)

	state    InstanceState // where it is in its life (state.go)
	replaced bool          // a replacement was started ahead of its maximum-requests exit (state Retiring)
	stop     stopOrder     // what the manager asked of it when stopping it (supervisor.go)

	prevRequests uint64
	prevBusy     []uint64 // per thread: busy µs including the request in progress, at the last sample
	rate         float64
	last         stats.SlotStats   // its slots at the last sample, combined (threads.go)
	threads      []stats.SlotStats // its thread slots, as last read
	usage        usage
	stderr       *logging.Tail // its last stderr lines
}

// stopping reports whether the manager has asked the instance to stop.
func (i *Instance) stopping() bool { return i.stop.asked() }

// startAllowed says whether a new instance may start now, and why not.
func (s *Service) startAllowed(now time.Time) bool {
	return s.phase == Running && !s.held && !s.halted && !now.Before(s.backoffUntil) && !now.Before(s.throttleUntil) &&
		s.live < len(s.inst)
}

// start forks one instance into a free slot.
func (s *Service) start(now time.Time) error {
	if !s.startAllowed(now) {
		return fmt.Errorf("start not allowed")
	}
	s.stopRejector() // the listener is the instance's again (blocking)
	slot := -1
	for i, in := range s.inst {
		if in == nil {
			slot = i * s.perInstance() // its first thread slot
			break
		}
	}
	sl := s.seg.Slot(slot)
	s.resetSlots(slot)
	maxReq := uint32(s.Cfg.InstanceMaximumRequests(s.env.Rand))
	sl.SetManagerFields(maxReq, stats.NoReason)
	key, lines := s.Key, s.lines
	slotTag := key + "/" + strconv.Itoa(slot)
	tail := &logging.Tail{}
	spec := &process.Spec{
		Path: s.argv[0], Argv: s.argv, Dir: s.Cfg.Cd, Env: s.instanceEnv(slot),
		Files:  []*os.File{s.listener, s.segFile, s.repW},
		Limits: s.limits, Credential: s.credential,
		Line: func(pid int, line string) {
			if !strings.HasPrefix(line, "previous message repeated ") {
				l := line
				s.lastStderr.Store(&l)
				tail.Add(line)
			}
			lines.lifeLogf(logging.ProcessLog, "Log: "+slotTag+" "+line, "Log: %s/%d-%d %s", key, slot, pid, line)
		},
	}
	s.debugStart(spec, slot)
	var p *process.Process
	var err error
	how := "exec"
	if t := s.tmpl; t != nil && t.ready {
		if p, err = s.forkFromTemplate(t, slot, spec.Line); err != nil {
			s.env.Log.Printf("Service Warning: %s: preload: %v; exec'ing the instance", s.Key, err)
			p, err = nil, nil
		} else {
			how = "preload"
		}
	}
	if p == nil {
		if err = process.CheckExec(spec.Path, spec.Dir); err == nil {
			p, err = s.env.Forker.Start(spec)
		}
	}
	if err != nil {
		s.resetSlots(slot)
		s.setCrashes(s.crashes + 1)
		s.lastCause = "start failed: " + err.Error()
		s.lines.logf(0, "start failed "+s.Key+err.Error(), "Service Error: %s Start failed: %v", s.Key, err)
		if s.staged {
			s.failRollout(err.Error())
			return err
		}
		s.setBackoff(now, "Cannot start: "+err.Error())
		return err
	}
	sl.SetPID(uint32(p.Pid))
	in := &Instance{Slot: slot, Proc: p, Started: now, MaxRequests: maxReq, start: how,
		LogID: fmt.Sprintf("%s/%d-%d", s.Key, slot, p.Pid), stderr: tail}
	s.inst[s.index(in)] = in
	s.live++
	s.starting++
	c := s.env.Counters
	c.Children++
	c.Started++
	s.env.Metrics.Starts.WithLabelValues(s.Key).Inc()
	s.lines.lifeEvent(logging.Always|logging.ProcessStart, "Process Start: "+slotTag, fmt.Sprintf("Process Start: %s (%d of %d)", in.LogID, s.live, len(s.inst)),
		"pid", p.Pid, "service", s.Key, "slot", slot, "program", spec.Path, "start", how)
	s.disarm()
	go func() {
		s.env.Log.Debugf(logging.DebugThread, "%s: waiter goroutine started", in.LogID)
		<-p.Done()
		if f := s.env.InstanceExited; f != nil {
			f(p.Pid) // the coordination server reverts its state at once
		}
		s.env.Log.Debugf(logging.DebugThread, "%s: reaped, stderr closed; handing the exit to the loop", in.LogID)
		s.env.Post(func() { s.onExit(in) })
	}()
	return nil
}

// onExit accounts for a reaped instance.
func (s *Service) onExit(in *Instance) {
	now := time.Now()
	s.drainReports() // every record the instance wrote, for its Usage line
	s.move(in, InstExited)
	st, err := in.Proc.State()
	threads := s.readThreads(in)
	final := combine(threads)
	reason := final.ExitReason
	if reason == stats.NoReason {
		reason = in.stop.reason
	}
	c := s.env.Counters
	c.Children--
	var e process.Exit
	if err != nil || st == nil {
		e = process.Exit{Reasons: "wait failed", Reason: reason}
	} else {
		early := !in.stopping() && final.Requests == 0 && in.usage.reqs == 0 && now.Sub(in.Started) < earlyExit
		e = process.Describe(st, in.stop.signal, reason, early)
	}
	forensics := s.noteDeath(in, threads, now)
	if forensics != "" {
		s.lastCrash.Reasons = e.Reasons
	}
	template := strings.Replace(in.LogID, "-"+strconv.Itoa(in.Proc.Pid), "", 1)
	var logged bool
	if e.Normal {
		logged = s.lines.lifeEvent(logging.Always|logging.ProcessExit, "Child Exit: normal "+template+" "+e.Reasons,
			fmt.Sprintf("Child Exit: normal %s %s%s", in.LogID, e.Reasons, forensics), exitAttrs(s, in, st, final, now)...)
	} else {
		logged = s.lines.lifeEvent(logging.Always|logging.ProcessExit, "Child Exit: abnormal "+template+" "+e.Reasons,
			fmt.Sprintf("Child Exit: abnormal %s %s%s", in.LogID, e.Reasons, forensics), exitAttrs(s, in, st, final, now)...)
	}
	s.noteExit(in, st, final, e.Normal, e.Reasons, now, logged)
	if st != nil && (in.usage.reqs > 0 || final.Requests > 0) {
		s.lines.lifeLogf(logging.ProcessUsage, "Usage: "+template, "Usage: %s", in.usage.line(in.LogID, now.Sub(in.Started), st))
	}
	s.lines.lifeLogf(logging.ProcessExit, "Process Exit: "+template, "Process Exit: %s", in.LogID)
	c.Exits[min(int(e.Reason), len(c.Exits)-1)]++
	label := e.Reason.Name()
	if e.Reason == stats.NoReason {
		label = "exit"
		if !e.Normal {
			label = "abnormal"
		}
	}
	s.env.Metrics.Exits.WithLabelValues(s.Key, label).Inc()
	s.resetSlots(in.Slot)
	s.inst[s.index(in)] = nil
	s.live--
	if e.Backoff != "" {
		s.setCrashes(s.crashes + 1)
		s.lastCause = exitCause(st, e) + s.stderrSuffix()
	} else if e.Normal {
		s.setCrashes(0)
	}
	if s.staged && s.phase == Running {
		s.failRollout(fmt.Sprintf("instance %s ended before it was ready: %s%s", in.LogID, e.Reasons, s.stderrSuffix()))
	} else if e.Backoff != "" && s.phase == Running {
		s.setBackoff(now, e.Backoff)
	}
	if s.phase == Running && !s.staged && reason == stats.MaxRequests && !in.replaced {
		_ = s.start(now) // the replacement, at once
	}
	s.step(now)
}

func (s *Service) setBackoff(now time.Time, why string) {
	if s.phase != Running {
		return
	}
	d := s.Cfg.ExecFailureBackoff
	if d <= 0 {
		s.lines.logf(0, "prefer to backoff "+s.Key+why, "Service Warning: %s: prefer to backoff restarts due to: %s", s.Key, why)
		s.throttleUntil = now.Add(restartThrottle) // no fork loop at full speed
		return
	}
	s.lines.logf(0, "backoff "+s.Key+why, "Service Warning: %s: backoff restarts for %ds: %s", s.Key, int(d/time.Second), why)
	s.backoffUntil = now.Add(d)
	s.backoffReason = why
}

// exitCause describes an abnormal end for the fault answered while the
// service is unavailable: "last exit status 1", "last exit by signal
// SIGSEGV", "exited during startup".
func exitCause(st *os.ProcessState, e process.Exit) string {
	if st != nil {
		if ws, ok := st.Sys().(syscall.WaitStatus); ok {
			switch {
			case ws.Signaled():
				return "last exit by signal " + process.SignalName(ws.Signal())
			case ws.Exited() && ws.ExitStatus() != 0:
				return "last exit status " + strconv.Itoa(ws.ExitStatus())
			}
		}
	}
	return "last exit: " + e.Reasons
}

// stderrSuffix is "; last stderr line: <line>" when an instance wrote one.
func (s *Service) stderrSuffix() string {
	p := s.lastStderr.Load()
	if p == nil || *p == "" {
		return ""
	}
	line := *p
	if len(line) > 200 {
		line = line[:200] + "..."
	}
	return "; last stderr line: " + line
}

// setCrashes sets the crash streak: abnormal exits and failed starts since
// an instance ended normally, or served requests and stayed up for
// healthyAfter. During a streak the instances' lines are summarized like
// the service's warnings.
func (s *Service) setCrashes(n int) {
	s.crashes = n
	s.lines.streak.Store(n > 0)
}
