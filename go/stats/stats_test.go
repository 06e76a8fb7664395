package stats

import (
	"bytes"
	"encoding/hex"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSegmentLayout(t *testing.T) {
	b := make([]byte, SegmentSize(2))
	seg := InitSegment(b, 2, 60)
	require.NoError(t, seg.Validate())
	assert.Equal(t, "504c5353"+"01000000"+"40000000"+"40000000"+"02000000"+"3c000000", hex.EncodeToString(b[:24]))
	s := seg.Slot(1)
	s.SetPID(0x01020304)
	s.SetManagerFields(10000, NoReason)
	s.StartRequest(0x1122334455, 7)
	s.FinishRequest(StateIdle, 0x1122334466, 6, 1, 999)
	s.SetShutdownRequest(IdleTimeout)
	s.SetExitReason(MaxRequests)
	off := HeaderSize + SlotSize
	want := "04030201" + "01000000" + "6644332211000000" + "0700000000000000" + "0600000000000000" +
		"0100000000000000" + "e703000000000000" + "10270000" + "08000000" + "06000000" + "00000000"
	assert.Equal(t, want, hex.EncodeToString(b[off:off+SlotSize]))
	got := s.Read()
	assert.Equal(t, SlotStats{PID: 0x01020304, State: StateIdle, SinceMicros: 0x1122334466, Requests: 7, Responses: 6,
		Faults: 1, BusyMicros: 999, MaximumRequests: 10000, ShutdownRequest: IdleTimeout, ExitReason: MaxRequests}, got)
	assert.True(t, bytes.Equal(make([]byte, SlotSize), b[HeaderSize:HeaderSize+SlotSize]), "slot 0 untouched")
}

func TestSegmentValidate(t *testing.T) {
	good := InitSegment(make([]byte, SegmentSize(1)), 1, 60)
	tests := []struct {
		name string
		mut  func([]byte) []byte
		msg  string
	}{
		{"short", func(b []byte) []byte { return b[:10] }, "shorter than"},
		{"magic", func(b []byte) []byte { b[0] = 'X'; return b }, "bad magic"},
		{"version", func(b []byte) []byte { b[4] = 9; return b }, "version 9"},
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
