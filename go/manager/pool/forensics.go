package pool

import (
	"fmt"
	"strconv"
	"time"

	"github.com/pluton-go/pluton/go/stats"
)

// CrashStatus names the request an instance died on (crash forensics): the
// request identity the instance wrote into its slot (docs/protocol.md
// §4.2) when it died or was killed while busy. An instance with several
// threads (maximum-threads) may die while more than one is busy: the
// request fields are those of its first busy thread, and OtherThreads
// names the requests of the others.
type CrashStatus struct {
	LogID        string    `json:"logID"`
	PID          int       `json:"pid"`
	Time         time.Time `json:"time"`
	Reasons      string    `json:"reasons,omitempty"` // as in the Child Exit line
	RequestID    int64     `json:"requestID"`
	ClientName   string    `json:"clientName"`
	Answered     bool      `json:"answered"`               // it died after answering, before its next wait
	RecorderFile string    `json:"recorderFile,omitempty"` // <prefix>in.<pid>.<NNNNN> when recording
	Thread       int       `json:"thread"`                 // the thread serving RequestID, 0 … Threads−1
	Threads      int       `json:"threads"`                // the instance's threads (maximum-threads); 0 is read as 1
	// OtherThreads are the requests of the instance's other busy threads,
	// in thread order; absent when only one thread was busy.
	OtherThreads []ThreadRequest `json:"otherThreads,omitempty"`
}

// ThreadRequest is the request one busy thread of a dead instance was
// serving (CrashStatus.OtherThreads).
type ThreadRequest struct {
	Thread       int    `json:"thread"`
	RequestID    int64  `json:"requestID"`
	ClientName   string `json:"clientName"`
	Answered     bool   `json:"answered"`
	RecorderFile string `json:"recorderFile,omitempty"`
}

// describe is how the Child Exit line names one request, e.g. "while
// serving request 17 from plSend:4242 in thread 2 (recorded in
// /var/rec/in.4711.00017)"; the thread only when the instance has more
// than one.
func (r ThreadRequest) describe(threaded bool) string {
	what := "while serving"
	if r.Answered {
		what = "after answering"
	}
	client := r.ClientName
	if client == "" {
		client = "an unnamed client"
	}
	s := fmt.Sprintf("%s request %d from %s", what, r.RequestID, client)
	if threaded {
		s += " in thread " + strconv.Itoa(r.Thread)
	}
	if r.RecorderFile != "" {
		s += " (recorded in " + r.RecorderFile + ")"
	}
	return s
}

// describe is the Child Exit line's suffix, e.g.
// "; while serving request 17 from plSend:4242 (recorded in /var/rec/in.4711.00017)",
// or with threads "; while serving request 17 from a:1 in thread 0, after
// answering request 18 from b:2 in thread 3".
func (c *CrashStatus) describe() string {
	threaded := c.Threads > 1
	first := ThreadRequest{Thread: c.Thread, RequestID: c.RequestID, ClientName: c.ClientName,
		Answered: c.Answered, RecorderFile: c.RecorderFile}
	s := "; " + first.describe(threaded)
	for _, r := range c.OtherThreads {
		s += ", " + r.describe(threaded)
	}
	return s
}

// recorderFile returns the recorder in-file of a request: <prefix>in.<pid>.<NNNNN>.
func recorderFile(prefix string, pid int, index uint32) string {
	if prefix == "" || index == stats.NotRecording {
		return ""
	}
	n := strconv.FormatUint(uint64(index), 10)
	for len(n) < 5 {
		n = "0" + n
	}
	return prefix + "in." + strconv.Itoa(pid) + "." + n
}

// noteDeath looks at the thread slots of an instance that has ended. If a
// thread was busy (from a request handed to the service's code until its
// next wait), the requests of every busy thread are remembered for the
// status API and the returned suffix names them in the Child Exit line;
// otherwise it returns "".
func (s *Service) noteDeath(in *Instance, threads []stats.SlotStats, now time.Time) string {
	prefix := s.seg.Header().RecorderPrefix
	var busy []ThreadRequest
	for t, th := range threads {
		if th.State != stats.StateBusy || th.Requests == 0 {
			continue
		}
		busy = append(busy, ThreadRequest{Thread: t, RequestID: th.RequestID, ClientName: th.ClientName,
			Answered:     th.Responses+th.Faults >= th.Requests,
			RecorderFile: recorderFile(prefix, in.Proc.Pid, th.RecorderIndex)})
	}
	if len(busy) == 0 {
		return ""
	}
	first := busy[0]
	c := &CrashStatus{LogID: in.LogID, PID: in.Proc.Pid, Time: now.UTC(), RequestID: first.RequestID,
		ClientName: first.ClientName, Answered: first.Answered, RecorderFile: first.RecorderFile,
		Thread: first.Thread, Threads: len(threads)}
	if len(busy) > 1 {
		c.OtherThreads = busy[1:]
	}
	s.lastCrash = c
	return c.describe()
}
