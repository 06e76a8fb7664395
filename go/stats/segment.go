// Package stats defines the two formats that connect service instances to
// the manager: the stats segment on fd 4 (one fixed-size slot per instance)
// and the report records written to the shared pipe on fd 5. Both are
// little-endian and versioned; docs/protocol.md §4 and §5 specify them.
package stats

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"time"
)

// Segment layout constants (docs/protocol.md §4).
const (
	Magic          = "PLSS"
	SegmentVersion = 2
	HeaderSize     = 320
	SlotSize       = 192
	// RecorderPrefixSize is the size of the header's NUL-padded recorderPrefix
	// field; a prefix keeps at most RecorderPrefixSize-1 bytes.
	RecorderPrefixSize = 256
	// ClientNameSize is the size of a slot's clientName field.
	ClientNameSize = 112
	// NotRecording is the recorderIndex of a slot whose instance does not
	// record its requests.
	NotRecording = 0xFFFFFFFF
)

// Header offsets.
const (
	offSlotCount          = 16
	offAffinityTimeout    = 20
	offRecorderCycle      = 24
	offMaximumRequestSize = 28
	offRequestReadTimeout = 32
	offMaximumPending     = 36
	offThreadsPerInstance = 40
	offRecorderPrefix     = 64
)

// State is what an instance is doing, as written in its slot.
type State uint32

// The instance states.
const (
	StateStarting State = 0
	StateIdle     State = 1 // blocked in accept
	StateBusy     State = 2 // serving a request, from the moment it is handed to the service until its next wait
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
	offRequestID       = 64
	offRecorderIndex   = 72
	offClientNameLen   = 76
	offClientName      = 80
)

var le = binary.LittleEndian

// SegmentSize returns the byte size of a segment with the given slot count.
func SegmentSize(slots int) int { return HeaderSize + slots*SlotSize }

// HeaderConfig is what the manager writes into a segment's header
// (docs/protocol.md §4.1). Zero values mean "none" or "the SDK default" as
// the protocol says for each field.
type HeaderConfig struct {
	Slots              int           // slotCount: maximum-processes × ThreadsPerInstance
	ThreadsPerInstance int           // maximum-threads: thread slots per instance; 0 is read as 1
	AffinityTimeout    time.Duration // affinity-timeout, stored in whole seconds
	RecorderCycle      uint32        // recorder-cycle; 0 = unbounded
	MaximumRequestSize uint32        // maximum-request-size in bytes; 0 = no limit
	RequestReadTimeout time.Duration // request-read-timeout, stored in milliseconds; 0 = no limit
	MaximumPending     uint32        // maximum-pending; 0 = the SDK default
	RecorderPrefix     string        // recorder-prefix; "" = recorder off; cut to RecorderPrefixSize-1 bytes
}

// Segment is a view of a stats segment's bytes, usually a shared mapping of fd 4.
type Segment []byte

// InitSegment writes a fresh header from h into b, which must be
// SegmentSize(h.Slots) bytes long, and zeroes every slot.
func InitSegment(b []byte, h HeaderConfig) Segment {
	clear(b)
	copy(b, Magic)
	le.PutUint32(b[4:], SegmentVersion)
	le.PutUint32(b[8:], HeaderSize)
	le.PutUint32(b[12:], SlotSize)
	le.PutUint32(b[offSlotCount:], uint32(h.Slots))
	le.PutUint32(b[offAffinityTimeout:], clampU32(int64(h.AffinityTimeout/time.Second)))
	le.PutUint32(b[offRecorderCycle:], h.RecorderCycle)
	le.PutUint32(b[offMaximumRequestSize:], h.MaximumRequestSize)
	le.PutUint32(b[offRequestReadTimeout:], clampU32(int64(h.RequestReadTimeout/time.Millisecond)))
	le.PutUint32(b[offMaximumPending:], h.MaximumPending)
	le.PutUint32(b[offThreadsPerInstance:], uint32(max(h.ThreadsPerInstance, 0)))
	prefix := h.RecorderPrefix
	if len(prefix) > RecorderPrefixSize-1 {
		prefix = prefix[:RecorderPrefixSize-1]
	}
	copy(b[offRecorderPrefix:offRecorderPrefix+RecorderPrefixSize], prefix)
	return Segment(b)
}

func clampU32(v int64) uint32 {
	switch {
	case v < 0:
		return 0
	case v > 1<<32-1:
		return 1<<32 - 1
	}
	return uint32(v)
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
func (s Segment) SlotCount() int { return int(le.Uint32(s[offSlotCount:])) }

// ThreadsPerInstance returns how many thread slots each instance owns
// (maximum-threads), at least 1: instance k owns slots k×n … k×n+n−1.
func (s Segment) ThreadsPerInstance() int { return max(int(le.Uint32(s[offThreadsPerInstance:])), 1) }

// AffinityTimeout returns the affinity timeout in seconds from the header.
func (s Segment) AffinityTimeout() uint32 { return le.Uint32(s[offAffinityTimeout:]) }

// Header returns the manager-written header fields.
func (s Segment) Header() HeaderConfig {
	p := s[offRecorderPrefix : offRecorderPrefix+RecorderPrefixSize]
	if i := bytes.IndexByte(p, 0); i >= 0 {
		p = p[:i]
	}
	return HeaderConfig{
		Slots:              s.SlotCount(),
		AffinityTimeout:    time.Duration(s.AffinityTimeout()) * time.Second,
		RecorderCycle:      le.Uint32(s[offRecorderCycle:]),
		MaximumRequestSize: le.Uint32(s[offMaximumRequestSize:]),
		RequestReadTimeout: time.Duration(le.Uint32(s[offRequestReadTimeout:])) * time.Millisecond,
		MaximumPending:     le.Uint32(s[offMaximumPending:]),
		ThreadsPerInstance: s.ThreadsPerInstance(),
		RecorderPrefix:     string(p),
	}
}

// Slot returns the view of slot i; i must be below SlotCount.
func (s Segment) Slot(i int) Slot {
	off := HeaderSize + i*SlotSize
	return Slot(s[off : off+SlotSize : off+SlotSize])
}

// Slot is a view of one instance's 192-byte slot.
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
	RequestID       int64  // id (b) of the current or last request
	RecorderIndex   uint32 // index of the recorder files of that request, NotRecording if none
	ClientName      string // client name (a) of that request, cut to ClientNameSize bytes
}

// Read copies the slot's fields.
func (s Slot) Read() SlotStats {
	n := min(int(le.Uint32(s[offClientNameLen:])), ClientNameSize)
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
		RequestID:       int64(le.Uint64(s[offRequestID:])),
		RecorderIndex:   le.Uint32(s[offRecorderIndex:]),
		ClientName:      string(s[offClientName : offClientName+n]),
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

// StartRequest marks the instance busy with its requests-th request
// (bytes 4–23 of the slot).
func (s Slot) StartRequest(sinceMicros, requests uint64) {
	s.SetState(StateBusy, sinceMicros)
	le.PutUint64(s[offRequests:], requests)
}

// SetRequestIdentity writes which request the instance is serving: its id,
// its recorder index (NotRecording when none) and its client name, cut to
// ClientNameSize bytes (bytes 64 to 80 + the name's length).
func (s Slot) SetRequestIdentity(id int64, recorderIndex uint32, clientName string) {
	le.PutUint64(s[offRequestID:], uint64(id))
	le.PutUint32(s[offRecorderIndex:], recorderIndex)
	n := copy(s[offClientName:offClientName+ClientNameSize], clientName)
	le.PutUint32(s[offClientNameLen:], uint32(n))
}

// FinishRequest writes the running totals after a request was answered
// (bytes 16–47). The state is left as it is: an instance stays busy until
// it next waits for a connection (docs/protocol.md §4.2).
func (s Slot) FinishRequest(requests, responses, faults, busyMicros uint64) {
	le.PutUint64(s[offRequests:], requests)
	le.PutUint64(s[offResponses:], responses)
	le.PutUint64(s[offFaults:], faults)
	le.PutUint64(s[offBusyMicros:], busyMicros)
}

// SetExitReason records why the instance is stopping.
func (s Slot) SetExitReason(r ExitReason) { le.PutUint32(s[offExitReason:], uint32(r)) }
