package pool

import (
	"fmt"
	"strconv"
	"time"

	"github.com/pluton-go/pluton/go/stats"
)

// CrashStatus names the request an instance died on (crash forensics): the
// request identity the instance wrote into its slot (docs/protocol.md
// §4.2) when it died or was killed while busy.
type CrashStatus struct {
	LogID        string    `json:"logID"`
	PID          int       `json:"pid"`
	Time         time.Time `json:"time"`
	Reasons      string    `json:"reasons,omitempty"` // as in the Child Exit line
	RequestID    int64     `json:"requestID"`
	ClientName   string    `json:"clientName"`
	Answered     bool      `json:"answered"`               // it died after answering, before its next wait
	RecorderFile string    `json:"recorderFile,omitempty"` // <prefix>in.<pid>.<NNNNN> when recording
}

// describe is the Child Exit line's suffix, e.g.
// "; while serving request 17 from plSend:4242 (recorded in /var/rec/in.4711.00017)".
func (c *CrashStatus) describe() string {
	what := "while serving"
	if c.Answered {
		what = "after answering"
	}
	client := c.ClientName
	if client == "" {
		client = "an unnamed client"
	}
	s := fmt.Sprintf("; %s request %d from %s", what, c.RequestID, client)
	if c.RecorderFile != "" {
		s += " (recorded in " + c.RecorderFile + ")"
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

// noteDeath looks at the slot of an instance that has ended. If it was busy
// (from a request handed to the service's code until its next wait), the
// request is remembered for the status API and the returned suffix names it
// in the Child Exit line; otherwise it returns "".
func (s *Service) noteDeath(in *Instance, final stats.SlotStats, now time.Time) string {
	if final.State != stats.StateBusy || final.Requests == 0 {
		return ""
	}
	c := &CrashStatus{LogID: in.LogID, PID: in.Proc.Pid, Time: now.UTC(), RequestID: final.RequestID,
		ClientName: final.ClientName, Answered: final.Responses+final.Faults >= final.Requests,
		RecorderFile: recorderFile(s.seg.Header().RecorderPrefix, in.Proc.Pid, final.RecorderIndex)}
	s.lastCrash = c
	return c.describe()
}
