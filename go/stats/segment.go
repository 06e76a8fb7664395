// Package stats defines the two formats that connect service instances to
// the manager: the stats segment on fd 4 (one fixed-size slot per instance)
// and the report records written to the shared pipe on fd 5. Both are
// little-endian and versioned; docs/protocol.md §4 and §5 specify them.
package stats

import (
	"encoding/binary"
	"fmt"
)

// Segment layout constants (docs/protocol.md §4).
const (
	Magic          = "PLSS"
	SegmentVersion = 1
	HeaderSize     = 64
	SlotSize       = 64
)

// State is what an instance is doing, as written in its slot.
type State uint32

// The instance states.
const (
	StateStarting State = 0
	StateIdle     State = 1 // blocked in accept
	StateBusy     State = 2 // reading a request, running it, or writing the response
	StateAffinity State = 3 // holding an affinity connection, waiting for its next request
	StateStopping State = 4
)

func (s State) String() string {
	switch s {
	case StateStarting:
		return "starting"
	case StateIdle:
		return "idle"
	case StateBusy:
		return "busy"
	case StateAffinity:
		return "affinity"
	case StateStopping:
		return "stopping"
	}
	return fmt.Sprintf("state(%d)", uint32(s))
}

// ExitReason says why an instance stopped (or why the manager wants it to).
type ExitReason uint32

// The exit reasons, numbered as the original's processExit::reason.
const (
	NoReason        ExitReason = 0
	ServiceShutdown ExitReason = 1
	Unresponsive    ExitReason = 2
	AbnormalExit    ExitReason = 3
	LostIO          ExitReason = 4
	RunawayChild    ExitReason = 5
	MaxRequests     ExitReason = 6
	ExcessProcesses ExitReason = 7
	IdleTimeout     ExitReason = 8
	AcceptFailed    ExitReason = 9
)

var reasonTexts = [...]string{"no reason", "service shutdown", "unresponsive", "abnormal Exit", "lost STDIO",
	"runaway Child", "maximum requests", "excess processes", "idle timeout", "accept failed"}

var reasonNames = [...]string{"noReason", "serviceShutdown", "unresponsive", "abnormalExit", "lostIO",
	"runawayChild", "maxRequests", "excessProcesses", "idleTimeout", "acceptFailed"}

// String returns the reason as the manager's Child Exit lines write it, e.g. "maximum requests".
func (r ExitReason) String() string {
	if int(r) < len(reasonTexts) {
		return reasonTexts[r]
	}
	return fmt.Sprintf("reason(%d)", uint32(r))
}

// Name returns the reason's identifier as in the Stats line, e.g. "maxRequests".
func (r ExitReason) Name() string {
	if int(r) < len(reasonNames) {
		return reasonNames[r]
	}
	return fmt.Sprintf("reason%d", uint32(r))
}

// Slot field offsets.
const (
	offPID             = 0
	offState           = 4
	offSince           = 8
	offRequests        = 16
	offResponses       = 24
	offFaults          = 32
	offBusyMicros      = 40
	offMaximumRequests = 48
	offShutdownRequest = 52
	offExitReason      = 56
)

var le = binary.LittleEndian

// SegmentSize returns the byte size of a segment with the given slot count.
func SegmentSize(slots int) int { return HeaderSize + slots*SlotSize }

// Segment is a view of a stats segment's bytes, usually a shared mapping of fd 4.
type Segment []byte

// InitSegment writes a fresh header into b, which must be SegmentSize(slots)
// bytes long, and zeroes every slot.
func InitSegment(b []byte, slots int, affinityTimeoutSeconds uint32) Segment {
	clear(b)
	copy(b, Magic)
	le.PutUint32(b[4:], SegmentVersion)
	le.PutUint32(b[8:], HeaderSize)
	le.PutUint32(b[12:], SlotSize)
	le.PutUint32(b[16:], uint32(slots))
	le.PutUint32(b[20:], affinityTimeoutSeconds)
	return Segment(b)
}

// Validate checks the header against this package's layout and the segment's length.
func (s Segment) Validate() error {
	switch {
	case len(s) < HeaderSize:
		return fmt.Errorf("stats segment: %d bytes is shorter than the %d-byte header", len(s), HeaderSize)
	case string(s[:4]) != Magic:
		return fmt.Errorf("stats segment: bad magic %q, want %q", s[:4], Magic)
	case le.Uint32(s[4:]) != SegmentVersion:
		return fmt.Errorf("stats segment: version %d, want %d", le.Uint32(s[4:]), SegmentVersion)
	case le.Uint32(s[8:]) != HeaderSize || le.Uint32(s[12:]) != SlotSize:
		return fmt.Errorf("stats segment: header/slot size %d/%d, want %d/%d", le.Uint32(s[8:]), le.Uint32(s[12:]), HeaderSize, SlotSize)
	case len(s) < SegmentSize(s.SlotCount()):
		return fmt.Errorf("stats segment: %d bytes is too short for %d slots", len(s), s.SlotCount())
	}
	return nil
}

// SlotCount returns the number of slots in the header.
func (s Segment) SlotCount() int { return int(le.Uint32(s[16:])) }

// AffinityTimeout returns the affinity timeout in seconds from the header.
func (s Segment) AffinityTimeout() uint32 { return le.Uint32(s[20:]) }

// Slot returns the view of slot i; i must be below SlotCount.
func (s Segment) Slot(i int) Slot {
	off := HeaderSize + i*SlotSize
	return Slot(s[off : off+SlotSize : off+SlotSize])
}

// Slot is a view of one instance's 64-byte slot.
type Slot []byte

// SlotStats is a copy of every field of a slot.
type SlotStats struct {
	PID             uint32
	State           State
	SinceMicros     uint64 // Unix µs when State last changed
	Requests        uint64
	Responses       uint64
	Faults          uint64
	BusyMicros      uint64
	MaximumRequests uint32
	ShutdownRequest ExitReason
	ExitReason      ExitReason
}

// Read copies the slot's fields.
func (s Slot) Read() SlotStats {
	return SlotStats{
		PID:             le.Uint32(s[offPID:]),
		State:           State(le.Uint32(s[offState:])),
		SinceMicros:     le.Uint64(s[offSince:]),
		Requests:        le.Uint64(s[offRequests:]),
		Responses:       le.Uint64(s[offResponses:]),
		Faults:          le.Uint64(s[offFaults:]),
		BusyMicros:      le.Uint64(s[offBusyMicros:]),
		MaximumRequests: le.Uint32(s[offMaximumRequests:]),
		ShutdownRequest: ExitReason(le.Uint32(s[offShutdownRequest:])),
		ExitReason:      ExitReason(le.Uint32(s[offExitReason:])),
	}
}

// Reset zeroes the whole slot (manager, when an instance is gone).
func (s Slot) Reset() { clear(s) }

// SetPID writes the instance's pid.
func (s Slot) SetPID(pid uint32) { le.PutUint32(s[offPID:], pid) }

// SetManagerFields writes the fields the manager owns.
func (s Slot) SetManagerFields(maximumRequests uint32, shutdown ExitReason) {
	le.PutUint32(s[offMaximumRequests:], maximumRequests)
	le.PutUint32(s[offShutdownRequest:], uint32(shutdown))
}

// SetShutdownRequest writes the reason the manager wants the instance to stop.
func (s Slot) SetShutdownRequest(r ExitReason) { le.PutUint32(s[offShutdownRequest:], uint32(r)) }

// ShutdownRequest returns the reason the manager wants the instance to stop.
func (s Slot) ShutdownRequest() ExitReason { return ExitReason(le.Uint32(s[offShutdownRequest:])) }

// MaximumRequests returns the instance's request limit (0 = none).
func (s Slot) MaximumRequests() uint32 { return le.Uint32(s[offMaximumRequests:]) }

// SetState writes the state and the time it began.
func (s Slot) SetState(st State, sinceMicros uint64) {
	le.PutUint32(s[offState:], uint32(st))
	le.PutUint64(s[offSince:], sinceMicros)
}

// StartRequest marks the instance busy with its requests-th request.
func (s Slot) StartRequest(sinceMicros, requests uint64) {
	s.SetState(StateBusy, sinceMicros)
	le.PutUint64(s[offRequests:], requests)
}

// FinishRequest writes the state after a request and the running totals.
func (s Slot) FinishRequest(st State, sinceMicros, responses, faults, busyMicros uint64) {
	s.SetState(st, sinceMicros)
	le.PutUint64(s[offResponses:], responses)
	le.PutUint64(s[offFaults:], faults)
	le.PutUint64(s[offBusyMicros:], busyMicros)
}

// SetExitReason records why the instance is stopping.
func (s Slot) SetExitReason(r ExitReason) { le.PutUint32(s[offExitReason:], uint32(r)) }
