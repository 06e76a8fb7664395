package pool

import (
	"os"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/pluton-go/pluton/go/manager/logging"
	"github.com/pluton-go/pluton/go/manager/process"
	"github.com/pluton-go/pluton/go/stats"
)

// ExitStatus describes how an instance ended, for the status API: the last
// abnormal end of a service (a crash, a kill, a failed start-up) keeps the
// last lines the instance wrote to stderr, so that why it died can be read
// after it is gone.
type ExitStatus struct {
	LogID         string    `json:"logID"`
	PID           int       `json:"pid"`
	Time          time.Time `json:"time"`
	Status        string    `json:"status"`           // "exit(1)", "signal SIGSEGV"
	Reasons       string    `json:"reasons"`          // as in the Child Exit line
	UptimeSeconds float64   `json:"uptimeSeconds"`    // from its start to its end
	Requests      uint64    `json:"requests"`         // requests it accepted
	StderrTail    []string  `json:"stderrTail"`       // its last stderr lines, oldest first (logging.Tail bounds)
	Signal        string    `json:"signal,omitempty"` // the signal that ended it, if any
	ExitCode      int       `json:"exitCode"`         // its exit status, -1 when a signal ended it
}

// exitBook keeps what the status API shows of exited instances.
type exitBook struct {
	requests, faults uint64      // accepted and faulted by every exited instance (their final slot counters)
	lastAbnormal     *ExitStatus // the last instance that ended abnormally
}

// waitStatus describes a wait status: "exit(N)" or "signal NAME", the signal
// name alone (or ""), and the exit code (-1 for a signal).
func waitStatus(st *os.ProcessState) (status, signal string, code int) {
	if st == nil {
		return "unknown", "", -1
	}
	ws, ok := st.Sys().(syscall.WaitStatus)
	if !ok {
		return "unknown", "", -1
	}
	if ws.Signaled() {
		name := unix.SignalName(ws.Signal())
		if name == "" {
			name = strconv.Itoa(int(ws.Signal()))
		}
		return "signal " + name, name, -1
	}
	return "exit(" + strconv.Itoa(ws.ExitStatus()) + ")", "", ws.ExitStatus()
}

// exitAttrs are the structured attributes of a Child Exit line.
func exitAttrs(s *Service, in *Instance, st *os.ProcessState, final stats.SlotStats, now time.Time) []any {
	status, _, _ := waitStatus(st)
	return []any{"pid", in.Proc.Pid, "service", s.Key, "slot", in.Slot, "status", status,
		"uptime", now.Sub(in.Started), "requests", final.Requests}
}

// noteExit records an exited instance's counts and, when it ended
// abnormally, its exit status and stderr tail; it logs the tail ("Child
// Stderr:" lines) when the Child Exit line was written and the lines were not
// already logged as they came (-l processLog).
func (s *Service) noteExit(in *Instance, st *os.ProcessState, final stats.SlotStats, normal bool, reasons string, now time.Time, logged bool) {
	s.book.requests += final.Requests
	s.book.faults += final.Faults
	if normal {
		return
	}
	status, sig, code := waitStatus(st)
	tail := in.stderr.Lines()
	s.book.lastAbnormal = &ExitStatus{LogID: in.LogID, PID: in.Proc.Pid, Time: now.UTC(), Status: status,
		Reasons: reasons, UptimeSeconds: now.Sub(in.Started).Seconds(), Requests: final.Requests,
		StderrTail: tail, Signal: sig, ExitCode: code}
	if !logged || s.env.Log.Enabled(logging.ProcessLog) {
		return
	}
	for _, line := range tail {
		s.env.Log.Event(0, "Child Stderr: "+in.LogID+" "+line)
	}
}

// liveCounts returns the requests and faults of the service as they are
// now: the slot counters of the live instances (written by each instance as
// it serves) plus the final counters of the exited ones. Unlike the report
// pipe, which an instance flushes in batches, they are never behind.
func (s *Service) liveCounts() (requests, faults uint64) {
	requests, faults = s.book.requests, s.book.faults
	if s.seg == nil {
		return requests, faults
	}
	for _, in := range s.inst {
		if in == nil || in.exited() {
			continue
		}
		st := s.readInstance(in)
		requests += st.Requests
		faults += st.Faults
	}
	return requests, faults
}

// debugStart traces how an instance is started (-d child).
func (s *Service) debugStart(spec *process.Spec, slot int) {
	log := s.env.Log
	if !log.Debugging(logging.DebugChild) {
		return
	}
	cred := "the manager's"
	if spec.Credential != nil {
		cred = "uid " + strconv.Itoa(int(spec.Credential.Uid)) + " gid " + strconv.Itoa(int(spec.Credential.Gid))
	}
	log.Debugf(logging.DebugChild, "%s slot %d: exec %s argv=%q dir=%q limits=%+v user=%s fds: 0,1=/dev/null 2=stderr pipe 3=listener 4=stats segment 5=report pipe",
		s.Key, slot, spec.Path, spec.Argv, spec.Dir, spec.Limits, cred)
}
