package pool

import (
	"errors"
	"fmt"
	"math"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/pluton-go/pluton/go/fault"
	"github.com/pluton-go/pluton/go/protocol"
)

// Limits of the manager's own answers.
const (
	rejectKeep      = 256       // the longest id or client name kept
	maxLengthPrefix = 999999999 // docs/protocol.md §1.1
	rejectReadSize  = 16 << 10  // read buffer per connection
	rejectStopGrace = 50 * time.Millisecond
)

// rejector answers the clients of a service that cannot serve now (halted,
// held with no instance, backed off, restarts throttled) with fault 7
// serviceUnavailable, naming the state and its cause, instead of leaving
// them queued until they time out or closing them without a word. It runs
// only while no instance is left, on goroutines parked in the runtime's
// network poller (no blocking system call, no periodic wake-up): each
// connection's request packet is read (at most maximumRequestSize bytes of
// any one netstring, within requestReadTimeout; at most maximumPending
// connections at once, the oldest dropped first) so that the answer carries
// the request's id and client name, as a service's would.
type rejector struct {
	lfd        int
	ln         *net.UnixListener // a duplicate of lfd, on the runtime poller
	text       atomic.Pointer[string]
	maxSize    int64
	timeout    time.Duration
	maxPending int
	name       string
	answered   func()
	done       chan struct{}
	wg         sync.WaitGroup

	bufs     sync.Pool // read buffers (*[]byte)
	mu       sync.Mutex
	conns    []*rejConn // pending, oldest first
	stopping bool
}

type rejConn struct {
	c       *net.UnixConn
	sc      requestScanner
	dropped bool // closed to make room: no answer
}

func startRejector(lfd int, text string, maxSize int64, timeout time.Duration, maxPending int, answered func()) (*rejector, error) {
	if maxSize <= 0 || maxSize > maxLengthPrefix {
		maxSize = maxLengthPrefix
	}
	// The listening socket is one open file description shared with every
	// instance (fd 3), so O_NONBLOCK (which the runtime poller sets) stays
	// only while no instance exists: the rejector runs only then, start
	// stops it first, and stop clears the flag.
	dup, err := unix.FcntlInt(uintptr(lfd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("dup listener: %w", err)
	}
	f := os.NewFile(uintptr(dup), "rejector")
	l, err := net.FileListener(f) // dups again; f is closed below
	f.Close()
	if err != nil {
		_ = unix.SetNonblock(lfd, false)
		return nil, fmt.Errorf("listener: %w", err)
	}
	r := &rejector{lfd: lfd, ln: l.(*net.UnixListener), maxSize: maxSize, timeout: timeout,
		maxPending: max(1, maxPending), name: "plutonManager:" + strconv.Itoa(os.Getpid()) + "/0",
		answered: answered, done: make(chan struct{})}
	r.bufs.New = func() any { b := make([]byte, rejectReadSize); return &b }
	r.text.Store(&text)
	go r.acceptLoop()
	return r, nil
}

// setText replaces the fault text of the next answers.
func (r *rejector) setText(t string) {
	if p := r.text.Load(); p == nil || *p != t {
		r.text.Store(&t)
	}
}

// stop closes the listener and waits for the goroutines: the connections
// held are answered with what was read of their requests. The listening
// socket is blocking again when it returns.
func (r *rejector) stop() {
	r.mu.Lock()
	r.stopping = true
	for _, rc := range r.conns {
		// A request still arriving gets a moment to complete; then it is
		// answered with what was read.
		_ = rc.c.SetReadDeadline(time.Now().Add(rejectStopGrace))
	}
	r.mu.Unlock()
	_ = r.ln.Close()
	<-r.done
	r.wg.Wait()
	_ = unix.SetNonblock(r.lfd, false)
}

func (r *rejector) acceptLoop() {
	defer close(r.done)
	for {
		c, err := r.ln.AcceptUnix()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			time.Sleep(10 * time.Millisecond) // EMFILE and the like: never spin
			continue
		}
		rc := &rejConn{c: c}
		r.mu.Lock()
		if r.stopping {
			r.mu.Unlock()
			r.wg.Add(1)
			go r.serve(rc, time.Now().Add(rejectStopGrace))
			continue
		}
		if len(r.conns) >= r.maxPending {
			old := r.conns[0]
			old.dropped = true
			_ = old.c.SetReadDeadline(time.Unix(1, 0))
			r.conns = r.conns[1:]
		}
		r.conns = append(r.conns, rc)
		r.mu.Unlock()
		r.wg.Add(1)
		var deadline time.Time
		if r.timeout > 0 {
			deadline = time.Now().Add(r.timeout)
		}
		go r.serve(rc, deadline)
	}
}

// serve reads a connection's request and answers it when the packet is
// complete (or cannot be: malformed, or a length over the limit). A client
// that gives up is closed; one that is silent until requestReadTimeout, or
// dropped to make room, is closed unanswered.
func (r *rejector) serve(rc *rejConn, deadline time.Time) {
	defer r.wg.Done()
	if !deadline.IsZero() {
		_ = rc.c.SetReadDeadline(deadline)
	}
	bp := r.bufs.Get().(*[]byte)
	defer r.bufs.Put(bp)
	buf := *bp
	answer := false
	for {
		n, err := rc.c.Read(buf)
		if n > 0 && rc.sc.feed(buf[:n], r.maxSize) {
			answer = true
			break
		}
		if err != nil {
			r.mu.Lock()
			answer = r.stopping && !rc.dropped && errors.Is(err, os.ErrDeadlineExceeded) // cut short by stop
			r.mu.Unlock()
			break
		}
	}
	r.mu.Lock()
	for i, x := range r.conns {
		if x == rc {
			r.conns = append(r.conns[:i], r.conns[i+1:]...)
			break
		}
	}
	r.mu.Unlock()
	if answer {
		r.answer(rc)
		return
	}
	rc.c.Close()
}

func (r *rejector) answer(rc *rejConn) {
	resp := protocol.Response{ID: rc.sc.id, ClientName: rc.sc.name, ServiceName: r.name,
		FaultCode: int64(fault.ServiceUnavailable), FaultText: *r.text.Load()}
	_ = rc.c.SetWriteDeadline(time.Now().Add(time.Second))
	_, _ = rc.c.Write(protocol.AppendResponse(nil, &resp))
	rc.c.Close()
	if r.answered != nil {
		r.answered()
	}
}

// requestScanner follows a request packet as it arrives, netstring by
// netstring, keeping only the request id (b) and client name (a) and
// skipping every payload without buffering it.
type requestScanner struct {
	state  uint8 // scanLength, scanPayload, scanTerminator
	digits int
	n      int64 // the length being read, then the payload bytes left
	typ    byte
	seen   bool // the first netstring (Q) was read
	keep   []byte
	id     int64
	name   string
}

const (
	scanLength = iota
	scanPayload
	scanTerminator
)

// feed consumes b and reports whether the scan is over: the packet is
// complete, malformed, or announces a netstring longer than maxSize.
func (sc *requestScanner) feed(b []byte, maxSize int64) bool {
	for i := 0; i < len(b); {
		c := b[i]
		switch sc.state {
		case scanLength:
			if c >= '0' && c <= '9' {
				sc.n = sc.n*10 + int64(c-'0')
				sc.digits++
				if sc.n > maxLengthPrefix || sc.n > maxSize {
					return true
				}
				i++
				continue
			}
			if sc.digits == 0 || c < 0x20 || c > 0x7e {
				return true
			}
			sc.typ = c
			if !sc.seen && c != protocol.TypeRequest {
				return true
			}
			sc.state = scanPayload
			i++
		case scanPayload:
			k := int(min(sc.n, int64(len(b)-i)))
			if (sc.typ == protocol.TypeRequestID || sc.typ == protocol.TypeClientName) && len(sc.keep)+k <= rejectKeep {
				sc.keep = append(sc.keep, b[i:i+k]...)
			}
			sc.n -= int64(k)
			i += k
			if sc.n == 0 {
				sc.state = scanTerminator
			}
		case scanTerminator:
			if c != ',' && c != '\n' {
				return true
			}
			i++
			sc.seen = true
			switch sc.typ {
			case protocol.TypeRequestID:
				sc.id = protocol.ParseNumber(sc.keep)
			case protocol.TypeClientName:
				sc.name = string(sc.keep)
			case protocol.TypeEnd:
				return true
			}
			sc.keep, sc.n, sc.digits, sc.state = sc.keep[:0], 0, 0, scanLength
		}
	}
	return false
}

// Unavailable returns the text of the fault the manager answers with while
// the service cannot serve, e.g. "system.echo.0.raw: exec backoff 12 s after
// 5 crashes; last exit status 1; last stderr line: ...", or "" while it can
// (or will, as soon as an instance starts).
func (s *Service) Unavailable(now time.Time) string {
	// Only once no instance is left: one asked to stop may still be in
	// accept, and a connection it takes as it exits would be lost.
	if s.phase != Running || s.staged || s.live > 0 {
		return ""
	}
	var state string
	cause := true
	switch {
	case s.halted:
		state, cause = "halted (POST /services/"+s.Key+"/resume ends it)", false
	case now.Before(s.backoffUntil):
		state = fmt.Sprintf("exec backoff %d s", int(math.Ceil(s.backoffUntil.Sub(now).Seconds())))
	case now.Before(s.throttleUntil):
		state = "restarts throttled (exec-failure-backoff 0)"
	case s.held:
		state, cause = "held with no instance running (POST /services/"+s.Key+"/resume ends it)", false
	default:
		return ""
	}
	text := s.Key + ": " + state
	if cause && s.crashes > 0 {
		if s.crashes == 1 {
			text += " after 1 crash"
		} else {
			text += fmt.Sprintf(" after %d crashes", s.crashes)
		}
	}
	if cause && s.lastCause != "" {
		text += "; " + s.lastCause
	}
	return text
}

// updateRejector starts, updates or stops the manager's own answers.
func (s *Service) updateRejector(now time.Time) {
	text := s.Unavailable(now)
	if text == "" || s.lfd < 0 {
		s.stopRejector()
		return
	}
	if s.rej != nil {
		s.rej.setText(text)
		return
	}
	rejected := s.env.Metrics.Rejected.WithLabelValues(s.Key)
	r, err := startRejector(s.lfd, text, s.maxRequestSize(), s.requestReadTimeout(), s.maxPending(), rejected.Inc)
	if err != nil {
		s.lines.logf(0, "rejector "+s.Key, "Service Error: %s: cannot answer waiting clients: %v", s.Key, err)
		return
	}
	s.rej = r
	s.lines.logf(0, "unavailable "+s.Key, "Service Warning: %s: unavailable; waiting and new clients get fault 7: %s", s.Key, text)
}

func (s *Service) stopRejector() {
	if s.rej != nil {
		s.rej.stop()
		s.rej = nil
	}
}
