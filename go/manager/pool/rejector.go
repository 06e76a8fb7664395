package pool

import (
	"fmt"
	"math"
	"os"
	"strconv"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/pluton-go/pluton/go/manager/sockdiag"
	"github.com/pluton-go/pluton/go/protocol"
)

// FaultServiceUnavailable is the fault code the manager answers with while a
// service cannot serve (docs/sdk.md: 7 serviceUnavailable).
const FaultServiceUnavailable = 7

// Limits of the manager's own answers (used until the service's
// configuration gives its own maximum-request-size, request-read-timeout
// and maximum-pending).
const (
	rejectAcceptBurst = 32        // connections accepted per wake-up
	rejectReadsPerTry = 64        // reads of one connection per wake-up (1 MiB), for fairness
	rejectKeep        = 256       // the longest id or client name kept
	maxLengthPrefix   = 999999999 // docs/protocol.md §1.1
)

// rejector answers the clients of a service that cannot serve now (halted,
// held with no instance, backed off, restarts throttled) with fault 7
// serviceUnavailable, naming the state and its cause, instead of leaving
// them queued until they time out or closing them without a word. It runs
// only while no instance is left, on a goroutine of its
// own that sleeps in poll(2) (no periodic wake-up): each connection's
// request packet is read (at most maximumRequestSize bytes of any one
// netstring, within requestReadTimeout; at most maximumPending connections
// at once, the oldest dropped first) so that the answer carries the
// request's id and client name, as a service's would.
type rejector struct {
	lfd        int
	efd        int // eventfd: stop
	text       atomic.Pointer[string]
	maxSize    int64
	timeout    time.Duration
	maxPending int
	name       string
	answered   func()
	done       chan struct{}
	buf        []byte
}

type rejConn struct {
	fd       int
	deadline time.Time
	sc       requestScanner
}

func startRejector(lfd int, text string, maxSize int64, timeout time.Duration, maxPending int, answered func()) (*rejector, error) {
	efd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		return nil, fmt.Errorf("eventfd: %w", err)
	}
	if maxSize <= 0 || maxSize > maxLengthPrefix {
		maxSize = maxLengthPrefix
	}
	if timeout <= 0 {
		timeout = time.Duration(math.MaxInt64)
	}
	r := &rejector{lfd: lfd, efd: efd, maxSize: maxSize, timeout: timeout, maxPending: max(1, maxPending),
		name: "plutonManager:" + strconv.Itoa(os.Getpid()) + "/0", answered: answered,
		done: make(chan struct{}), buf: make([]byte, 16<<10)}
	r.text.Store(&text)
	go r.loop()
	return r, nil
}

// setText replaces the fault text of the next answers.
func (r *rejector) setText(t string) {
	if p := r.text.Load(); p == nil || *p != t {
		r.text.Store(&t)
	}
}

// stop ends the goroutine and waits for it: the connections it holds are
// answered with what was read of their requests.
func (r *rejector) stop() {
	var one [8]byte
	one[0] = 1
	_, _ = unix.Write(r.efd, one[:])
	<-r.done
}

func (r *rejector) loop() {
	defer close(r.done)
	defer unix.Close(r.efd)
	var conns []*rejConn
	fds := make([]unix.PollFd, 0, 2+r.maxPending)
	for {
		now := time.Now()
		fds = append(fds[:0], unix.PollFd{Fd: int32(r.lfd), Events: unix.POLLIN}, unix.PollFd{Fd: int32(r.efd), Events: unix.POLLIN})
		timeout := -1
		for _, c := range conns {
			fds = append(fds, unix.PollFd{Fd: int32(c.fd), Events: unix.POLLIN})
			ms := int(math.Ceil(float64(c.deadline.Sub(now)) / float64(time.Millisecond)))
			ms = min(max(ms, 0), 3600*1000)
			if timeout < 0 || ms < timeout {
				timeout = ms
			}
		}
		if _, err := unix.Poll(fds, timeout); err != nil && err != unix.EINTR {
			time.Sleep(SampleInterval) // cannot happen with valid descriptors; never spin
			continue
		}
		if fds[1].Revents != 0 {
			for _, c := range conns {
				r.answer(c)
			}
			return
		}
		now = time.Now()
		kept := conns[:0]
		for i, c := range conns {
			if fds[2+i].Revents != 0 && r.serve(c) {
				continue
			}
			if !now.Before(c.deadline) {
				unix.Close(c.fd) // silent or too slow: closed unanswered, as an instance would
				continue
			}
			kept = append(kept, c)
		}
		clear(conns[len(kept):])
		conns = kept
		if fds[0].Revents == 0 {
			continue
		}
		// The listener is blocking (shared with the instances) with a 1 s
		// SO_RCVTIMEO: accept only what poll says is there.
		for range rejectAcceptBurst {
			if !sockdiag.Readable(uintptr(r.lfd)) {
				break
			}
			fd, _, err := unix.Accept4(r.lfd, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
			if err != nil {
				break
			}
			c := &rejConn{fd: fd, deadline: now.Add(r.timeout)}
			if r.serve(c) {
				continue
			}
			if len(conns) >= r.maxPending {
				unix.Close(conns[0].fd)
				conns = append(conns[:0], conns[1:]...)
			}
			conns = append(conns, c)
		}
	}
}

// serve reads what c has sent; it answers and closes c when the request is
// complete (or cannot be: malformed, or a length over the limit), closes it
// at EOF or on an error, and returns whether c is done.
func (r *rejector) serve(c *rejConn) bool {
	for range rejectReadsPerTry {
		n, err := unix.Read(c.fd, r.buf)
		switch {
		case err == unix.EINTR:
			continue
		case err == unix.EAGAIN:
			return false
		case err != nil || n == 0:
			unix.Close(c.fd) // the client gave up
			return true
		}
		if c.sc.feed(r.buf[:n], r.maxSize) {
			r.answer(c)
			return true
		}
	}
	return false
}

func (r *rejector) answer(c *rejConn) {
	resp := protocol.Response{ID: c.sc.id, ClientName: c.sc.name, ServiceName: r.name,
		FaultCode: FaultServiceUnavailable, FaultText: *r.text.Load()}
	_, _ = unix.Write(c.fd, protocol.AppendResponse(nil, &resp))
	unix.Close(c.fd)
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
