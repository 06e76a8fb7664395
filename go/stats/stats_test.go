package stats

import (
	"bytes"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSegmentLayout(t *testing.T) {
	b := make([]byte, SegmentSize(2))
	require.Len(t, b, 320+2*192)
	seg := InitSegment(b, HeaderConfig{Slots: 2, AffinityTimeout: 60 * time.Second, RecorderCycle: 3,
		MaximumRequestSize: 1 << 20, RequestReadTimeout: 2500 * time.Millisecond, MaximumPending: 9,
		ThreadsPerInstance: 2, RecorderPrefix: "/tmp/rec/echo."})
	require.NoError(t, seg.Validate())
	assert.Equal(t, "504c5353"+"02000000"+"40010000"+"c0000000"+"02000000"+"3c000000"+
		"03000000"+"00001000"+"c4090000"+"09000000"+"02000000", hex.EncodeToString(b[:44]))
	assert.Equal(t, make([]byte, 20), b[44:64], "reserved")
	assert.Equal(t, "/tmp/rec/echo.", string(b[64:78]))
	assert.Equal(t, make([]byte, 320-78), b[78:320], "prefix NUL-padded")
	assert.Equal(t, HeaderConfig{Slots: 2, AffinityTimeout: 60 * time.Second, RecorderCycle: 3,
		MaximumRequestSize: 1 << 20, RequestReadTimeout: 2500 * time.Millisecond, MaximumPending: 9,
		ThreadsPerInstance: 2, RecorderPrefix: "/tmp/rec/echo."}, seg.Header())

	s := seg.Slot(1)
	s.SetPID(0x01020304)
	s.SetManagerFields(10000, NoReason)
	s.StartRequest(0x1122334455, 7)
	s.SetRequestIdentity(-2, 5, "plSend:26446")
	s.FinishRequest(7, 6, 1, 999)
	s.SetState(StateIdle, 0x1122334466)
	s.SetShutdownRequest(IdleTimeout)
	s.SetExitReason(MaxRequests)
	off := HeaderSize + SlotSize
	want := "04030201" + "01000000" + "6644332211000000" + "0700000000000000" + "0600000000000000" +
		"0100000000000000" + "e703000000000000" + "10270000" + "08000000" + "06000000" + "00000000" +
		"feffffffffffffff" + "05000000" + "0c000000" + hex.EncodeToString([]byte("plSend:26446"))
	assert.Equal(t, want, hex.EncodeToString(b[off:off+92]))
	assert.Equal(t, make([]byte, SlotSize-92), b[off+92:off+SlotSize])
	got := s.Read()
	assert.Equal(t, SlotStats{PID: 0x01020304, State: StateIdle, SinceMicros: 0x1122334466, Requests: 7, Responses: 6,
		Faults: 1, BusyMicros: 999, MaximumRequests: 10000, ShutdownRequest: IdleTimeout, ExitReason: MaxRequests,
		RequestID: -2, RecorderIndex: 5, ClientName: "plSend:26446"}, got)
	assert.True(t, bytes.Equal(make([]byte, SlotSize), b[HeaderSize:HeaderSize+SlotSize]), "slot 0 untouched")

	// A long client name is cut to the field; a shorter one later leaves the
	// old tail behind, but the length says how much is valid.
	long := strings.Repeat("x", 200)
	s.SetRequestIdentity(1, NotRecording, long)
	assert.Equal(t, long[:ClientNameSize], s.Read().ClientName)
	s.SetRequestIdentity(2, NotRecording, "ab")
	assert.Equal(t, "ab", s.Read().ClientName)
	assert.Equal(t, uint32(NotRecording), s.Read().RecorderIndex)
	require.Len(t, s, SlotSize, "writes stay inside the slot")
}

func TestHeaderLimits(t *testing.T) {
	long := strings.Repeat("p", 400)
	seg := InitSegment(make([]byte, SegmentSize(1)), HeaderConfig{Slots: 1, RecorderPrefix: long,
		AffinityTimeout: -time.Second, RequestReadTimeout: 1 << 62})
	h := seg.Header()
	assert.Equal(t, 1, h.ThreadsPerInstance, "0 in the header reads as 1")
	assert.Equal(t, long[:RecorderPrefixSize-1], h.RecorderPrefix, "the prefix keeps a NUL terminator")
	assert.Equal(t, byte(0), seg[HeaderSize-1])
	assert.Zero(t, h.AffinityTimeout, "negative clamps to 0")
	assert.Equal(t, time.Duration(1<<32-1)*time.Millisecond, h.RequestReadTimeout, "clamped to 32 bits")
	assert.Equal(t, "", InitSegment(make([]byte, SegmentSize(1)), HeaderConfig{Slots: 1}).Header().RecorderPrefix)
}

func TestSegmentValidate(t *testing.T) {
	good := InitSegment(make([]byte, SegmentSize(1)), HeaderConfig{Slots: 1, AffinityTimeout: time.Minute})
	tests := []struct {
		name string
		mut  func([]byte) []byte
		msg  string
	}{
		{"short", func(b []byte) []byte { return b[:10] }, "shorter than"},
		{"v1 header", func(b []byte) []byte { return b[:64+64] }, "shorter than the 320-byte header"},
		{"magic", func(b []byte) []byte { b[0] = 'X'; return b }, "bad magic"},
		{"version", func(b []byte) []byte { b[4] = 1; return b }, "version 1, want 2"},
		{"slot size", func(b []byte) []byte { b[12] = 64; return b }, "header/slot size 320/64"},
		{"slots", func(b []byte) []byte { b[16] = 5; return b }, "too short for 5 slots"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := tt.mut(append([]byte(nil), good...))
			err := Segment(b).Validate()
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.msg)
		})
	}
}

func TestRecordRoundTrip(t *testing.T) {
	r := Record{PID: 42, Slot: 3, Entries: []Entry{
		{Outcome: OK, DurationMicros: 12, RequestBytes: 5, ResponseBytes: 5, Function: "echo"},
		{Outcome: Faulted, DurationMicros: 1, Function: "a-function-name-longer-than-16"},
	}}
	b := AppendRecord(nil, &r)
	require.Len(t, b, RecordSize)
	assert.Equal(t, "01000000"+"2a000000"+"03000000"+"02000000", hex.EncodeToString(b[:16]))
	assert.Equal(t, "04000000"+"0c000000"+"05000000"+"05000000"+hex.EncodeToString([]byte("echo"))+"000000000000000000000000",
		hex.EncodeToString(b[16:48]))
	got, err := ParseRecord(b)
	require.NoError(t, err)
	r.Entries[1].Function = "a-function-name-"
	assert.Equal(t, r, got)

	_, err = ParseRecord(b[:100])
	assert.ErrorContains(t, err, "100 bytes")
	bad := append([]byte(nil), b...)
	bad[12] = 17
	_, err = ParseRecord(bad)
	assert.ErrorContains(t, err, "17 entries")
}

type shortWriter struct{ writes int }

func (w *shortWriter) Write(p []byte) (int, error) {
	w.writes++
	return 0, errors.New("broken pipe")
}

func TestReporterBatching(t *testing.T) {
	var out bytes.Buffer
	r := NewReporter(&out, 7, 0)
	now := time.Unix(1000, 0)
	for i := 0; i < EntriesPerRecord+1; i++ {
		r.Add(Entry{Outcome: OK, Function: "f"}, now)
	}
	assert.Equal(t, RecordSize, out.Len(), "one full record written")
	assert.Equal(t, 1, r.Pending())
	r.FlushIfOlder(now.Add(500*time.Millisecond), time.Second)
	assert.Equal(t, RecordSize, out.Len(), "young entry kept")
	r.FlushIfOlder(now.Add(time.Second), time.Second)
	assert.Equal(t, 2*RecordSize, out.Len())
	r.Flush()
	require.Equal(t, 3*RecordSize, out.Len(), "flush writes even an empty record")
	last, err := ParseRecord(out.Bytes()[2*RecordSize:])
	require.NoError(t, err)
	assert.Empty(t, last.Entries)

	w := &shortWriter{}
	r = NewReporter(w, 1, 0)
	r.Flush()
	r.Flush()
	r.Add(Entry{Outcome: OK}, now)
	assert.True(t, r.Disabled())
	assert.Equal(t, 1, w.writes, "reporting stops after a failed write")
}
