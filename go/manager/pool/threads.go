package pool

import (
	"time"

	"github.com/pluton-go/pluton/go/stats"
)

// Thread slots (maximum-threads, docs/protocol.md §4.2 and §8.7). With T
// threads per instance the stats segment has maximum-processes × T slots
// and instance k owns the T slots k×T … k×T+T−1, one per thread: its
// plutonSlot (Instance.Slot) is its first slot, which also holds the
// per-instance fields (pid, maximumRequests, shutdownRequest, exitReason).
// s.inst is indexed by instance, k = Slot / T. With T = 1 an instance has
// one slot and k is its slot.

// index returns the instance's place in s.inst.
func (s *Service) index(in *Instance) int { return in.Slot / s.perInstance() }

// perInstance returns T, the thread slots of each instance (at least 1).
func (s *Service) perInstance() int { return max(s.threads, 1) }

// readThreads reads the thread slots of in into in.threads (reused from one
// sample to the next) and returns them, thread 0 first.
func (s *Service) readThreads(in *Instance) []stats.SlotStats {
	n := s.perInstance()
	if cap(in.threads) < n {
		in.threads = make([]stats.SlotStats, n)
	}
	in.threads = in.threads[:n]
	for t := range n {
		in.threads[t] = s.seg.Slot(in.Slot + t).Read()
	}
	return in.threads
}

// readInstance returns the combined view of in's thread slots (combine).
func (s *Service) readInstance(in *Instance) stats.SlotStats {
	return combine(s.readThreads(in))
}

// resetSlots zeroes the thread slots of the instance whose first slot is
// first, when it is gone (or before a new instance takes them).
func (s *Service) resetSlots(first int) {
	for t := range s.perInstance() {
		s.seg.Slot(first + t).Reset()
	}
}

// combine returns what the thread slots of one instance say of the
// instance as a whole. The per-instance fields (PID, MaximumRequests,
// ShutdownRequest, ExitReason) are the first slot's; the counters
// (Requests, Responses, Faults, BusyMicros) are the sums over the threads.
// State is busy while any thread is busy, else affinity while any waits on
// an affinity connection, else idle while any waits for connections, else
// the first slot's (starting, stopping). SinceMicros is the latest state
// change of any thread (the instance's last-active time). The request
// identity (RequestID, RecorderIndex, ClientName) is the one of the thread
// busy the longest when one is busy, else the one of the thread that
// changed state last among those that read a request. With one thread it
// is that thread's slot, unchanged.
func combine(threads []stats.SlotStats) stats.SlotStats {
	c := threads[0]
	if len(threads) == 1 {
		return c
	}
	c.Requests, c.Responses, c.Faults, c.BusyMicros = 0, 0, 0, 0
	rank := func(st stats.State) int {
		switch st {
		case stats.StateBusy:
			return 3
		case stats.StateAffinity:
			return 2
		case stats.StateIdle:
			return 1
		}
		return 0
	}
	best := -1 // the thread whose request identity the instance shows
	for t, th := range threads {
		c.Requests += th.Requests
		c.Responses += th.Responses
		c.Faults += th.Faults
		c.BusyMicros += th.BusyMicros
		c.SinceMicros = max(c.SinceMicros, th.SinceMicros)
		if rank(th.State) > rank(c.State) {
			c.State = th.State
		}
		switch {
		case th.Requests == 0:
		case best < 0:
			best = t
		case th.State == stats.StateBusy:
			if b := threads[best]; b.State != stats.StateBusy || th.SinceMicros < b.SinceMicros {
				best = t
			}
		case threads[best].State != stats.StateBusy && th.SinceMicros > threads[best].SinceMicros:
			best = t
		}
	}
	if best >= 0 {
		b := threads[best]
		c.RequestID, c.RecorderIndex, c.ClientName = b.RequestID, b.RecorderIndex, b.ClientName
	}
	return c
}

// busyThreads returns how many thread slots are busy.
func busyThreads(threads []stats.SlotStats) int {
	n := 0
	for _, th := range threads {
		if th.State == stats.StateBusy {
			n++
		}
	}
	return n
}

// ThreadStatus is one busy thread of an instance, as GET /processes shows
// it: the request the thread is serving.
type ThreadStatus struct {
	Thread      int     `json:"thread"`      // 0 … threads−1; its slot is the instance's slot + thread
	RequestID   int64   `json:"requestID"`   // the request's id (b)
	ClientName  string  `json:"clientName"`  // the request's client name (a), cut to 112 bytes
	BusySeconds float64 `json:"busySeconds"` // how long the thread has been busy with it
	Answered    bool    `json:"answered"`    // answered, the thread not yet back waiting for connections
}

// servingThreads returns the busy threads of an instance at now, in thread
// order; an empty slice (not nil) when none is busy.
func servingThreads(threads []stats.SlotStats, now time.Time) []ThreadStatus {
	out := []ThreadStatus{}
	for t, th := range threads {
		if th.State != stats.StateBusy {
			continue
		}
		ts := ThreadStatus{Thread: t, RequestID: th.RequestID, ClientName: th.ClientName,
			Answered: th.Requests > 0 && th.Responses+th.Faults >= th.Requests}
		if th.SinceMicros > 0 {
			ts.BusySeconds = max(0, now.Sub(time.UnixMicro(int64(th.SinceMicros))).Seconds())
		}
		out = append(out, ts)
	}
	return out
}
