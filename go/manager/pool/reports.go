package pool

import (
	"encoding/binary"
	"fmt"
	"os"

	"golang.org/x/sys/unix"

	"github.com/pluton-go/pluton/go/manager/logging"
	"github.com/pluton-go/pluton/go/stats"
)

// The report pipe (fd 5 of every instance) has no reader of its own: the
// manager's loop drains it at every sample and before it accounts for an
// exit (so that the Usage line counts every record the instance wrote).
// Under load one read(2) then takes the records of hundreds of requests, and
// the reports never wake the manager. The pipe must hold a sample's worth of
// records: when a drain finds it at least half full, its capacity doubles,
// up to maxReportPipe.
const (
	reportBatch   = 64      // records per read
	maxReportPipe = 1 << 20 // bytes: the default /proc/sys/fs/pipe-max-size, 1985 records
	recordHeader  = stats.RecordSize - stats.EntriesPerRecord*stats.EntrySize
)

var le = binary.LittleEndian

// openReports creates the report pipe: the read end non-blocking, for the
// manager's loop, and the write end blocking, for the instances.
func (s *Service) openReports() error {
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		return fmt.Errorf("report pipe: %w", err)
	}
	s.repFD, s.repW = p[0], os.NewFile(uintptr(p[1]), "report pipe")
	if err := unix.SetNonblock(s.repFD, true); err != nil {
		return fmt.Errorf("report pipe: %w", err)
	}
	size, err := unix.FcntlInt(uintptr(s.repFD), unix.F_GETPIPE_SZ, 0)
	if err != nil {
		return fmt.Errorf("report pipe: %w", err)
	}
	s.repSize, s.repGrow = size, size < maxReportPipe
	return nil
}

// closeReports reads what is left in the report pipe and closes its read end.
func (s *Service) closeReports() {
	if s.repFD < 0 {
		return
	}
	s.drainReports()
	if len(s.repTail) > 0 {
		s.env.Log.Printf("Service Warning: %s: Unexpected byte count from Reporting Channel: %d", s.Key, len(s.repTail))
		s.repTail = nil
	}
	unix.Close(s.repFD)
	s.repFD = -1
}

// drainReports reads every record waiting in the report pipe and accounts
// for them. Records are written whole (528 bytes, below PIPE_BUF), so a read
// returns whole records; the bytes of an incomplete one (a writer that broke
// the format) are kept for the next read.
func (s *Service) drainReports() {
	if s.repFD < 0 {
		return
	}
	if s.env.reportBuf == nil {
		s.env.reportBuf = make([]byte, reportBatch*stats.RecordSize)
	}
	buf := s.env.reportBuf
	var t reportTotals
	drained := 0
	for {
		k := copy(buf, s.repTail)
		n, err := unix.Read(s.repFD, buf[k:])
		if err == unix.EINTR {
			continue
		}
		if n <= 0 {
			break // empty (EAGAIN), or every write end is closed
		}
		drained += n
		n += k
		whole := n - n%stats.RecordSize
		for b := buf[:whole]; len(b) > 0; b = b[stats.RecordSize:] {
			s.onRecord(b[:stats.RecordSize], &t)
		}
		s.repTail = append(s.repTail[:0], buf[whole:n]...)
		if n < len(buf) {
			break // a short read: the pipe is empty
		}
	}
	s.account(&t)
	if 2*drained >= s.repSize && s.repGrow {
		s.growReports()
	}
}

// growReports doubles the report pipe's capacity, up to maxReportPipe. A
// refusal (pipe-max-size, or the user's pipe-user-pages-soft) is final.
func (s *Service) growReports() {
	size, err := unix.FcntlInt(uintptr(s.repFD), unix.F_SETPIPE_SZ, min(2*s.repSize, maxReportPipe))
	if err != nil {
		s.env.Log.Printf("Service Warning: %s: Reporting Channel kept at %d bytes: %v", s.Key, s.repSize, err)
		s.repGrow = false
		return
	}
	s.repSize = size
	s.repGrow = size < maxReportPipe
}

// reportTotals are the requests of one drain, by outcome.
type reportTotals [stats.OK + 1]uint64

// onRecord accounts for one record, with its requests counted in t.
func (s *Service) onRecord(b []byte, t *reportTotals) {
	if !validRecord(b) {
		_, err := stats.ParseRecord(b) // names what is wrong
		s.env.Log.Printf("Service Warning: %s: Unrecognized reporting event: %v", s.Key, err)
		return
	}
	pid, slot, n := le.Uint32(b[4:]), le.Uint32(b[8:]), int(le.Uint32(b[12:]))
	s.env.Log.Debugf(logging.DebugReportingChannel, "%s: record from pid %d slot %d: %d entries", s.Key, pid, slot, n)
	in := s.reporter(slot, pid)
	if in == nil && n > 0 {
		s.env.Log.Printf("Service Warning: %s: Reporting Event from unknown pid %d ignored", s.Key, pid)
	}
	duration := s.metrics.Duration()
	for i := range n {
		e := b[recordHeader+i*stats.EntrySize:]
		entry := stats.Entry{Outcome: stats.Outcome(le.Uint32(e)), DurationMicros: le.Uint32(e[4:]),
			RequestBytes: le.Uint32(e[8:]), ResponseBytes: le.Uint32(e[12:])}
		t[entry.Outcome]++
		duration.Observe(float64(entry.DurationMicros) / 1e6)
		if in != nil {
			in.usage.add(entry)
		}
	}
}

// validRecord checks what stats.ParseRecord checks, without decoding.
func validRecord(b []byte) bool {
	n := le.Uint32(b[12:])
	if le.Uint32(b) != stats.ReportVersion || n > stats.EntriesPerRecord {
		return false
	}
	for i := range n {
		if o := stats.Outcome(le.Uint32(b[recordHeader+i*stats.EntrySize:])); o < stats.ReadError || o > stats.OK {
			return false
		}
	}
	return true
}

// reporter returns the live instance that wrote a record, nil if none. The
// record's slot is the instance's plutonSlot, its first thread slot; any
// of its thread slots maps to it too.
func (s *Service) reporter(slot, pid uint32) *Instance {
	if k := int(slot) / s.perInstance(); slot != stats.NoSlot && k < len(s.inst) && s.inst[k] != nil && s.inst[k].Proc.Pid == int(pid) {
		return s.inst[k]
	}
	for _, in := range s.inst {
		if in != nil && in.Proc.Pid == int(pid) {
			return in
		}
	}
	return nil
}

// account adds the requests of one drain to the service's counts and metrics.
func (s *Service) account(t *reportTotals) {
	for o, n := range t {
		if n == 0 {
			continue
		}
		s.requests += n
		s.env.Counters.Requests += int(n)
		s.metrics.Requests(stats.Outcome(o)).Add(float64(n))
		if stats.Outcome(o) == stats.Faulted {
			s.faults += n
			s.env.Metrics.Faults.WithLabelValues(s.Key).Add(float64(n))
		}
	}
}
