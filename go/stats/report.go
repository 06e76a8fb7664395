package stats

import (
	"bytes"
	"fmt"
	"io"
	"time"
)

// Report record layout constants (docs/protocol.md §5).
const (
	ReportVersion    = 1
	RecordSize       = 528
	EntrySize        = 32
	EntriesPerRecord = 16
	recordHeader     = 16
	functionSize     = 16
	// NoSlot is the slot field of a record from an instance that has no slot.
	NoSlot = 0xFFFFFFFF
)

// Outcome is how a request ended.
type Outcome uint32

// The outcomes, numbered as the original's report reasons.
const (
	ReadError  Outcome = 1
	WriteError Outcome = 2
	Faulted    Outcome = 3
	OK         Outcome = 4
)

// Entry is the report of one finished request.
type Entry struct {
	Outcome        Outcome
	DurationMicros uint32
	RequestBytes   uint32
	ResponseBytes  uint32
	Function       string // cut to 16 bytes
}

// Record is one report record: up to 16 entries from one instance.
type Record struct {
	PID     uint32
	Slot    uint32
	Entries []Entry
}

// AppendRecord appends the 528-byte encoding of r to dst. Entries beyond 16
// are an error of the caller and are dropped.
func AppendRecord(dst []byte, r *Record) []byte {
	var b [RecordSize]byte
	n := min(len(r.Entries), EntriesPerRecord)
	le.PutUint32(b[0:], ReportVersion)
	le.PutUint32(b[4:], r.PID)
	le.PutUint32(b[8:], r.Slot)
	le.PutUint32(b[12:], uint32(n))
	for i, e := range r.Entries[:n] {
		o := recordHeader + i*EntrySize
		le.PutUint32(b[o:], uint32(e.Outcome))
		le.PutUint32(b[o+4:], e.DurationMicros)
		le.PutUint32(b[o+8:], e.RequestBytes)
		le.PutUint32(b[o+12:], e.ResponseBytes)
		copy(b[o+16:o+16+functionSize], e.Function)
	}
	return append(dst, b[:]...)
}

// ParseRecord decodes one record, naming what is wrong with a bad one.
func ParseRecord(b []byte) (Record, error) {
	if len(b) != RecordSize {
		return Record{}, fmt.Errorf("report record: %d bytes, want %d", len(b), RecordSize)
	}
	if v := le.Uint32(b[0:]); v != ReportVersion {
		return Record{}, fmt.Errorf("report record: version %d, want %d", v, ReportVersion)
	}
	n := le.Uint32(b[12:])
	if n > EntriesPerRecord {
		return Record{}, fmt.Errorf("report record: %d entries, at most %d", n, EntriesPerRecord)
	}
	r := Record{PID: le.Uint32(b[4:]), Slot: le.Uint32(b[8:]), Entries: make([]Entry, n)}
	for i := range r.Entries {
		o := recordHeader + i*EntrySize
		fn := b[o+16 : o+16+functionSize]
		if k := bytes.IndexByte(fn, 0); k >= 0 {
			fn = fn[:k]
		}
		r.Entries[i] = Entry{
			Outcome:        Outcome(le.Uint32(b[o:])),
			DurationMicros: le.Uint32(b[o+4:]),
			RequestBytes:   le.Uint32(b[o+8:]),
			ResponseBytes:  le.Uint32(b[o+12:]),
			Function:       string(fn),
		}
		if e := r.Entries[i].Outcome; e < ReadError || e > OK {
			return Record{}, fmt.Errorf("report record: entry %d has unknown outcome %d", i, e)
		}
	}
	return r, nil
}

// Reporter batches entries into records and writes each record with one
// write, as docs/protocol.md §5 prescribes. A failed or short write turns
// reporting off for good; it never fails the caller. Reporter is not safe for
// concurrent use.
type Reporter struct {
	w        io.Writer
	rec      Record
	buf      []byte
	oldest   time.Time
	disabled bool
}

// NewReporter returns a Reporter writing to w for the given pid and slot.
func NewReporter(w io.Writer, pid, slot uint32) *Reporter {
	return &Reporter{w: w, rec: Record{PID: pid, Slot: slot, Entries: make([]Entry, 0, EntriesPerRecord)},
		buf: make([]byte, 0, RecordSize)}
}

// Add queues one entry and writes a record when 16 are queued.
func (r *Reporter) Add(e Entry, now time.Time) {
	if r.disabled {
		return
	}
	if len(r.rec.Entries) == 0 {
		r.oldest = now
	}
	r.rec.Entries = append(r.rec.Entries, e)
	if len(r.rec.Entries) == EntriesPerRecord {
		r.Flush()
	}
}

// FlushIfOlder writes the queued entries if the oldest is at least age old.
// Call it before blocking for the next request.
func (r *Reporter) FlushIfOlder(now time.Time, age time.Duration) {
	if len(r.rec.Entries) > 0 && now.Sub(r.oldest) >= age {
		r.Flush()
	}
}

// Flush writes a record with the queued entries, even if there are none.
func (r *Reporter) Flush() {
	if r.disabled {
		return
	}
	r.buf = AppendRecord(r.buf[:0], &r.rec)
	r.rec.Entries = r.rec.Entries[:0]
	if n, err := r.w.Write(r.buf); err != nil || n != len(r.buf) {
		r.disabled = true
	}
}

// Pending returns the number of queued entries.
func (r *Reporter) Pending() int { return len(r.rec.Entries) }

// Disabled reports whether a failed write turned reporting off.
func (r *Reporter) Disabled() bool { return r.disabled }
