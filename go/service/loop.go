package service

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/pluton-go/pluton/go/fault"
	"github.com/pluton-go/pluton/go/protocol"
	"github.com/pluton-go/pluton/go/stats"
)

// handOverWait is how long a worker of a threaded instance that holds
// pending connections leaves the new connections to a worker waiting in
// accept before it looks again whether one still does.
const handOverWait = 10 * time.Millisecond

// connBufSize is the read buffer of a connection; a larger payload is read
// in place into the parser's buffer.
const connBufSize = 16 * 1024

// Large payload buffers: the parsers of the connections take the buffers
// of large payloads (over 4096 bytes) from the service's pool and give them
// back when the connection closes, so that a stream of large requests
// allocates nothing, and a payload of a size seen recently gets its whole
// buffer at once instead of growing it. The pool keeps at most maxPooled
// buffers, each at most twice the recent payload size (a maximum that
// decays by 1/8 per request) or alwaysKeep bytes, and in all at most three
// buffers of the recent size with their headRoom (maxTotal): the buffer of
// an unusually large request is dropped after a few ordinary ones, and
// every buffer over alwaysKeep after a second without requests; the memory
// of dropped buffers is then returned to the operating system.
const (
	alwaysKeep = 256 * 1024
	maxPooled  = 4
	giveBackAt = 1 << 20 // dropping this much or more returns memory to the OS when idle
	// headRoom is the room a read buffer has for a packet's fields around
	// a payload of the recent size (borrow); the pool's bound on its total
	// counts it, so that it keeps three such buffers.
	headRoom = 4096
)

// bufPool is the service's BufferPool.
type bufPool struct {
	bufs    [][]byte
	recent  int              // decaying maximum of recent payload sizes
	dropped bool             // a buffer of giveBackAt bytes or more was dropped
	made    [maxPooled]*byte // buffers Get allocated whole that are not back yet
}

// Get returns the smallest pooled buffer of at least n bytes. Without one,
// it allocates n bytes at once when requests of that size were seen
// recently (n within the pool's limit), so that the parser need not grow a
// buffer as the bytes arrive; otherwise it returns nil and the parser's
// growth bounds what a declared length alone can allocate.
func (bp *bufPool) Get(n int) []byte {
	best := -1
	for i, b := range bp.bufs {
		if cap(b) >= n && (best < 0 || cap(b) < cap(bp.bufs[best])) {
			best = i
		}
	}
	if best < 0 {
		// At most maxPooled such buffers at a time: connections that
		// declare large payloads and send them slowly get the parser's
		// growth, not a whole buffer each.
		if n <= 2*bp.recent {
			for i, p := range bp.made {
				if p == nil {
					b := make([]byte, n)
					bp.made[i] = unsafe.SliceData(b)
					return b
				}
			}
		}
		return nil
	}
	b := bp.bufs[best]
	last := len(bp.bufs) - 1
	bp.bufs[best] = bp.bufs[last]
	bp.bufs[last] = nil
	bp.bufs = bp.bufs[:last]
	return b
}

// Put keeps b when the pool's limits allow it, dropping its smallest
// buffers to make room: a buffer of the recent size is kept over smaller
// ones that requests of earlier sizes left (else a pool full of those
// would drop it, and every request allocate it again).
func (bp *bufPool) Put(b []byte) {
	for i, p := range bp.made {
		if p == unsafe.SliceData(b) {
			bp.made[i] = nil
		}
	}
	if cap(b) > bp.limit() {
		bp.drop(b)
		return
	}
	bp.bufs = append(bp.bufs, b)
	for len(bp.bufs) > maxPooled || bp.total() > bp.maxTotal() {
		k := 0
		for i, x := range bp.bufs {
			if cap(x) < cap(bp.bufs[k]) {
				k = i
			}
		}
		bp.drop(bp.bufs[k])
		last := len(bp.bufs) - 1
		bp.bufs[k] = bp.bufs[last]
		bp.bufs[last] = nil
		bp.bufs = bp.bufs[:last]
	}
}

// limit is the largest buffer the pool keeps.
func (bp *bufPool) limit() int { return max(alwaysKeep, 2*bp.recent) }

// maxTotal is the most the pool keeps in all: three buffers of the recent
// payload size and their headRoom.
func (bp *bufPool) maxTotal() int { return 3 * (bp.limit()/2 + headRoom) }

func (bp *bufPool) total() int {
	n := 0
	for _, b := range bp.bufs {
		n += cap(b)
	}
	return n
}

func (bp *bufPool) drop(b []byte) {
	if cap(b) >= giveBackAt {
		bp.dropped = true
	}
}

// note records a request's payload size and drops the pooled buffers that
// are now over the limit.
func (bp *bufPool) note(n int) {
	bp.recent = max(n, bp.recent-bp.recent/8)
	bp.trim()
}

// trim drops the buffers over the limits.
func (bp *bufPool) trim() {
	k := 0
	for _, b := range bp.bufs {
		if cap(b) <= bp.limit() && k < maxPooled {
			bp.bufs[k] = b
			k++
		} else {
			bp.drop(b)
		}
	}
	clear(bp.bufs[k:])
	bp.bufs = bp.bufs[:k]
	for bp.total() > bp.maxTotal() && len(bp.bufs) > 0 {
		last := len(bp.bufs) - 1
		bp.drop(bp.bufs[last])
		bp.bufs[last] = nil
		bp.bufs = bp.bufs[:last]
	}
}

// conn is one source of request packets: an accepted connection, or fd 3 in
// stand-alone mode. Each has its own parser, so that several incomplete
// packets can be read at once (docs/protocol.md §8.2).
type conn struct {
	fd         int
	parser     *protocol.Parser
	buf        []byte
	start, end int       // unconsumed bytes of buf
	accepted   time.Time // read start, for the report's duration
	deadline   time.Time // the packet must be complete by then; zero = no limit
	raw        []byte    // the packet's bytes as read (recorder, packet trace)
	capture    bool      // keep raw
	iov        [2]unix.Iovec
	small      []byte // the connection's own read buffer
	big        []byte // a read buffer from the pool, sized for the recent requests (nil: none)
	used       bool   // a request was served on it (accept mode: EOF on a fresh connection ends the loop)
	// waited: a blocking read of the rest of a large payload (waitAll)
	// came back short, so the connection is not waited for again;
	// blocking: its descriptor is blocking now, with a receive timeout of
	// waitAllTimeout.
	waited, blocking bool
}

// newConn returns a connection for fd, reusing a closed one when it can.
func (s *Service) newConn(fd int) *conn {
	var c *conn
	if n := len(s.free); n > 0 {
		c = s.free[n-1]
		s.free = s.free[:n-1]
		c.parser.Reset()
	} else {
		c = &conn{parser: protocol.NewRequestParser(), small: make([]byte, connBufSize)}
		c.buf = c.small
		c.parser.SetPool(&s.pool)
	}
	c.parser.SetMaxLength(s.maxRequestSize)
	c.fd, c.start, c.end, c.used = fd, 0, 0, false
	c.waited, c.blocking = false, false
	c.raw = c.raw[:0]
	c.capture = s.trace || s.rec != nil
	c.deadline = time.Time{}
	return c
}

// closeConn closes c and keeps it for reuse. Its payload buffers go back
// to the pool; they stay valid until the pool lends them again, in the next
// call of Next.
func (s *Service) closeConn(c *conn) {
	if s.mode == StandAlone {
		closeFD(c.fd)
	} else {
		closeConnFD(c.fd)
	}
	c.fd = -1
	c.parser.Reset()
	s.unborrow(c)
	if len(s.free) < 4 {
		s.free = append(s.free, c)
	}
}

// borrow gives a fresh connection a read buffer from the pool large enough
// for a whole packet of the recent size, when that is larger than its own:
// the packet is then read with one call and its data referenced in place.
func (s *Service) borrow(c *conn) {
	if n := s.pool.recent + headRoom; n > len(c.small) {
		if b := s.pool.Get(n); b != nil {
			c.big = b[:cap(b)]
			c.buf = c.big
		}
	}
}

// unborrow gives the pool's read buffer back: the connection closed, or
// it waits in the pending set with none of its bytes in the buffer.
func (s *Service) unborrow(c *conn) {
	if c.big != nil {
		s.pool.Put(c.big)
		c.big = nil
	}
	c.buf = c.small
}

// idle runs when a second passed without a request: buffers over
// alwaysKeep are dropped, with the last request's data if it was answered,
// and the memory of dropped large buffers is returned to the operating
// system.
func (s *Service) idle() {
	s.pool.recent = 0
	s.pool.trim()
	if !s.pending {
		s.req.pr.Data, s.req.pr.Context = nil, nil
	}
	if s.pool.dropped {
		s.pool.dropped = false
		debug.FreeOSMemory()
	}
}

// dropCur closes the current connection.
func (s *Service) dropCur() {
	if s.cur != nil {
		s.closeConn(s.cur)
		s.cur = nil
	}
	s.keep = false
}

// dropPending closes every pending connection.
func (s *Service) dropPending() {
	for _, c := range s.pendingConns {
		s.closeConn(c)
	}
	s.pendingConns = s.pendingConns[:0]
}

// errEOF reports the end of input before the first byte of a packet.
var errEOF = errors.New("end of input")

// fill reads from c into its parser until the packet is complete (done), an
// error occurs, or, unless block, nothing more can be read now (false, nil).
// A blocking fill waits for input on a non-blocking descriptor.
func (s *Service) fill(c *conn, block bool) (bool, error) {
	drained := false // the last read took less than it asked for
	for {
		if c.start < c.end {
			chunk := c.buf[c.start:c.end]
			n, done, err := c.parser.FeedOwned(chunk)
			if c.capture {
				c.raw = append(c.raw, chunk[:n]...)
			}
			c.start += n
			if err != nil {
				return false, err
			}
			if done {
				return true, nil
			}
		}
		// The rest of a large payload that is on its way is waited for
		// (waitAll). Otherwise, when the socket held no more, the caller
		// polls (no read that would fail with EAGAIN).
		wait := !block && s.waitAll(c)
		if !wait {
			if err := s.unblock(c); err != nil || drained && !block {
				return false, err
			}
		}
		// Feed took every buffered byte. A large payload is read in place.
		direct := c.parser.Direct()
		dst := direct
		if dst == nil {
			switch {
			case !c.parser.References():
				c.start, c.end = 0, 0
			case c.end == len(c.buf):
				// The packet's data lies in the full buffer: it keeps it,
				// and the connection reads on into a new one.
				c.big, c.small = nil, make([]byte, connBufSize)
				c.buf, c.start, c.end = c.small, 0, 0
			default:
				c.start = c.end // read on after the referenced bytes
			}
			dst = c.buf[c.end:]
		}
		var n, asked int
		var err error
		if direct != nil {
			// The rest of the payload, and whatever follows it (the
			// terminator and the end netstring) into the buffer: one call.
			if !c.parser.References() {
				c.start, c.end = 0, 0
			} else if c.end == len(c.buf) {
				c.big, c.small = nil, make([]byte, connBufSize)
				c.buf, c.start, c.end = c.small, 0, 0
			} else {
				c.start = c.end
			}
			tail := c.buf[c.end:]
			if wait {
				// The rest of the payload and the shortest end of a
				// packet after it, or as much of the payload as the
				// parser's buffer holds.
				if len(direct) < c.parser.PayloadRemaining() {
					tail = nil
				} else {
					tail = tail[:min(len(tail), packetEndMin)]
				}
				n, err = recvAll(c.fd, direct, tail, &c.iov)
			} else {
				n, err = readv2(c.fd, direct, tail, &c.iov, !block)
			}
			asked = len(direct) + len(tail)
		} else {
			if wait {
				dst = dst[:min(len(dst), c.parser.PayloadRemaining()+packetEndMin)]
				n, err = recvAll(c.fd, dst, nil, &c.iov)
			} else {
				n, err = readFD(c.fd, dst, !block)
			}
			asked = len(dst)
		}
		if wait && n < asked {
			c.waited = true // the client did not keep up: no more waiting on it
		}
		switch err {
		case nil:
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			if !block {
				return false, s.unblock(c)
			}
			if err := waitFD(c.fd, unix.POLLIN, -1); err != nil {
				return false, err
			}
			continue
		default:
			return false, err
		}
		if n == 0 {
			if !c.parser.Started() {
				return false, errEOF
			}
			return false, &protocol.DecodeError{Msg: protocol.MsgUnexpectedEOF}
		}
		drained = n < asked
		if direct == nil {
			c.end += n
			continue
		}
		k := min(n, len(direct))
		if c.capture {
			c.raw = append(c.raw, direct[:k]...)
		}
		c.parser.Advance(k)
		c.end += n - k
	}
}

// The blocking read of the rest of a large payload (waitAll).
const (
	// waitAllMin is the least payload still to come for which a
	// connection waits in one blocking read instead of a poll and a read
	// per socket buffer's worth of bytes.
	waitAllMin = 16 * 1024
	// waitAllTimeout bounds that read: a client that has sent part of a
	// large payload and stops can hold the instance this long, once.
	waitAllTimeout = 5 * time.Millisecond
	// packetEndMin is the shortest end of a packet after a payload: its
	// terminator and the end netstring (",0z\n").
	packetEndMin = 4
)

// waitAll reports whether fill is to read the rest of c's payload with a
// blocking recvmsg(MSG_WAITALL), making c's descriptor blocking with a
// receive timeout of waitAllTimeout for it. It does in manager and accept
// mode, once the first read of the connection has shown a large payload
// (at least waitAllMin bytes still to come), until a wait comes back short
// (the client did not send the bytes within the timeout) or the
// connection's deadline is near. Unlike a poll and a read per socket
// buffer's worth of bytes, the instance then sleeps in one call until the
// whole payload is there, as a server of blocking reads does, and it
// accepts no other connection meanwhile, so that one large payload at a
// time holds a buffer. A client that stops sending holds the instance
// waitAllTimeout at most, once, and its connection then waits in the
// pending set (docs/protocol.md §8); the connections pending already wait
// as long more.
func (s *Service) waitAll(c *conn) bool {
	if c.waited || s.mode == StandAlone || c.parser.PayloadRemaining() < waitAllMin {
		return false
	}
	if c.blocking {
		return true
	}
	if !c.deadline.IsZero() && time.Until(c.deadline) < 2*waitAllTimeout {
		return false
	}
	if setReadTimeout(c.fd, waitAllTimeout) != nil {
		c.waited = true
		return false
	}
	if _, err := unix.FcntlInt(uintptr(c.fd), unix.F_SETFL, 0); err != nil {
		c.waited = true
		return false
	}
	c.blocking = true
	return true
}

// unblock makes c's descriptor non-blocking again after waitAll, before it
// is read without waiting or joins the pending set.
func (s *Service) unblock(c *conn) error {
	if !c.blocking {
		return nil
	}
	if _, err := unix.FcntlInt(uintptr(c.fd), unix.F_SETFL, unix.O_NONBLOCK); err != nil {
		return err
	}
	c.blocking = false
	return nil
}

// recvAll reads from the blocking descriptor fd into a, then b, with one
// recvmsg(2) with MSG_WAITALL: it returns when both are full, at the
// receive timeout, at the end of the stream or on a signal, with what it
// read by then. iov is scratch space.
func recvAll(fd int, a, b []byte, iov *[2]unix.Iovec) (int, error) {
	k := 1
	iov[0].Base = unsafe.SliceData(a)
	iov[0].SetLen(len(a))
	if len(b) > 0 {
		iov[1].Base = unsafe.SliceData(b)
		iov[1].SetLen(len(b))
		k = 2
	}
	msg := unix.Msghdr{Iov: &iov[0]}
	msg.SetIovlen(k)
	r, errno := sysCall(unix.SYS_RECVMSG, uintptr(fd), uintptr(unsafe.Pointer(&msg)), unix.MSG_WAITALL, false)
	iov[0].Base, iov[1].Base = nil, nil
	if errno != 0 {
		return 0, errno
	}
	return int(r), nil
}

// readv2 reads from fd into a, then b, with one readv(2). iov is scratch
// space. nonblocking says that fd is a non-blocking socket.
func readv2(fd int, a, b []byte, iov *[2]unix.Iovec, nonblocking bool) (int, error) {
	iov[0].Base = unsafe.SliceData(a)
	iov[0].SetLen(len(a))
	iov[1].Base = unsafe.SliceData(b)
	iov[1].SetLen(len(b))
	r, errno := sysCall(unix.SYS_READV, uintptr(fd), uintptr(unsafe.Pointer(&iov[0])), 2, nonblocking)
	// The iovecs must not keep the buffers alive (the pool may drop them).
	iov[0].Base, iov[1].Base = nil, nil
	if errno != 0 {
		return 0, errno
	}
	return int(r), nil
}

// nextSocket gets the next complete request in accept or manager mode into
// s.cur.
func (s *Service) nextSocket() error {
	for {
		// Stopping (a stop signal, or maximum-requests reached): accept no
		// more, but serve the connections already accepted whose packets
		// complete before their deadlines; a client whose connection was
		// accepted must not lose its request to the instance's exit.
		if s.worker && s.cur == nil && s.inst.orphaned.Load() > 0 {
			s.adopt()
		}
		accepting := true
		if s.inst.stopping.Load() {
			if len(s.pendingConns) == 0 || s.cur != nil {
				return s.stop(s.shutdownReason(), ErrStopped)
			}
			accepting = false
		}
		if s.cur != nil {
			ok, err := s.affinityNext()
			if err != nil || ok {
				return err
			}
			continue
		}
		if s.first != nil {
			// The limit is the instance's: the requests of every worker count.
			if limit := s.first.MaximumRequests(); limit > 0 && s.inst.served.Load() >= uint64(limit) {
				if len(s.pendingConns) == 0 {
					return s.stop(stats.MaxRequests, ErrStopped)
				}
				accepting = false
			}
		}
		c, err := s.waitConn(accepting)
		if err != nil {
			return err
		}
		if c == nil {
			continue
		}
		if err := s.checkKey(c); err != nil {
			if err := s.connError(c, err); err != nil {
				return err
			}
			continue
		}
		c.used = true
		s.cur = c
		s.readStart = c.accepted
		return nil
	}
}

// enterWait marks the instance waiting: the slot's state (written only when
// it changes) and a report record when the oldest entry is old enough.
func (s *Service) enterWait(st stats.State) {
	now := time.Now()
	if s.reporter != nil {
		s.inst.reportMu.Lock()
		s.reporter.FlushIfOlder(now, reportAge)
		s.inst.reportMu.Unlock()
	}
	s.setSlotState(st, now)
	if now.Sub(s.yielded) >= yieldEvery {
		s.yielded = now
		runtime.Gosched()
	}
}

// waitConn waits for a connection whose packet is complete and returns it,
// or returns nil when the wait ended without one (the accept timeout, a
// signal, a connection that failed); the caller then checks for a stop and
// calls again. Unless accepting, only the pending connections are served
// (the instance is stopping; there must be some).
func (s *Service) waitConn(accepting bool) (*conn, error) {
	s.enterWait(stats.StateIdle)
	if len(s.pendingConns) == 0 {
		// The fast path: block in accept (the exclusive wake-up keeps idle
		// instances asleep), then read what the client sent.
		// Counted in inAccept before the stop flag is read: a stop signal
		// then either is seen here or finds the wait counted and
		// interrupts it (kickWaits).
		s.inst.inAccept.Add(1)
		if s.inst.stopping.Load() {
			s.inst.inAccept.Add(-1)
			return nil, nil
		}
		fd, err := accept(s.listen)
		s.inst.inAccept.Add(-1)
		if err != nil {
			return nil, s.acceptError(err)
		}
		return s.readNew(fd)
	}
	now := time.Now()
	timeout := acceptTimeout
	for _, c := range s.pendingConns {
		if !c.deadline.IsZero() {
			timeout = min(timeout, c.deadline.Sub(now))
		}
	}
	if s.worker {
		// It looks again soon for connections handed over (adopt) and,
		// when another worker waits in accept and takes the new
		// connections, waits for its pending connections only, so that it
		// does not start serving a new connection while one of its own
		// completes (docs/protocol.md §8.7).
		timeout = min(timeout, handOverWait)
		if s.inst.inAccept.Load() > 0 {
			accepting = false
		}
	}
	s.pollFDs = append(s.pollFDs[:0], unix.PollFd{Fd: int32(s.listen), Events: unix.POLLIN})
	if !accepting {
		s.pollFDs[0].Fd = -1 // poll ignores it
	}
	for _, c := range s.pendingConns {
		s.pollFDs = append(s.pollFDs, unix.PollFd{Fd: int32(c.fd), Events: unix.POLLIN})
	}
	ms := int(max(timeout, 0).Milliseconds())
	if timeout > 0 && ms == 0 {
		ms = 1
	}
	_, err := unix.Poll(s.pollFDs, ms)
	if err != nil && err != unix.EINTR {
		return nil, s.stop(stats.AcceptFailed, fault.Wrap(fault.AcceptFailed, "poll on the service socket", err))
	}
	// The pending connections first, oldest first: serve the first whose
	// packet completes.
	var ready *conn
	for i, pfd := range s.pollFDs[1:] {
		if pfd.Revents == 0 {
			continue
		}
		c := s.pendingConns[i]
		done, err := s.fill(c, false)
		if err == nil && !done {
			continue
		}
		s.pendingConns[i] = nil
		if err != nil {
			if err := s.connError(c, err); err != nil {
				s.compactPending()
				return nil, err
			}
			continue
		}
		ready = c
		break
	}
	s.compactPending()
	if ready != nil {
		return ready, nil
	}
	if err := s.expirePending(time.Now()); err != nil {
		return nil, err
	}
	if accepting && s.pollFDs[0].Revents != 0 {
		fd, err := accept(s.listen)
		if err != nil {
			return nil, s.acceptError(err)
		}
		return s.readNew(fd)
	}
	return nil, nil
}

// handOver gives the pending connections of a worker that is about to
// serve a request to the other workers of the instance: the first that
// waits again takes them (adopt), so that a connection whose packet
// completes while this worker is busy does not wait for it.
func (s *Service) handOver() {
	s.inst.orphanMu.Lock()
	s.inst.orphans = append(s.inst.orphans, s.pendingConns...)
	s.inst.orphaned.Store(int32(len(s.inst.orphans)))
	s.inst.orphanMu.Unlock()
	clear(s.pendingConns)
	s.pendingConns = s.pendingConns[:0]
	// Their parsers give their payload buffers back to another pool:
	// this pool no longer counts them as lent.
	s.pool.made = [maxPooled]*byte{}
}

// adopt takes connections handed over by other workers into the pending
// set, as many as it has room for.
func (s *Service) adopt() {
	s.inst.orphanMu.Lock()
	n := min(len(s.inst.orphans), max(s.maxPending-len(s.pendingConns), 0))
	for _, c := range s.inst.orphans[:n] {
		c.parser.SetPool(&s.pool)
		s.pendingConns = append(s.pendingConns, c)
	}
	rest := copy(s.inst.orphans, s.inst.orphans[n:])
	clear(s.inst.orphans[rest:])
	s.inst.orphans = s.inst.orphans[:rest]
	s.inst.orphaned.Store(int32(rest))
	s.inst.orphanMu.Unlock()
}

// acceptError handles a failed accept: a timeout or a signal returns nil (the
// loop checks for a stop and waits again); running out of descriptors
// closes the oldest pending connection; anything else ends the loop.
func (s *Service) acceptError(err error) error {
	switch {
	case errors.Is(err, errTimeout):
		if len(s.pendingConns) == 0 {
			s.idle()
		}
		return nil
	case (errors.Is(err, unix.EMFILE) || errors.Is(err, unix.ENFILE)) && len(s.pendingConns) > 0:
		s.evictOldest()
		return nil
	}
	return s.stop(stats.AcceptFailed, fault.Wrap(fault.AcceptFailed, "accept on the service socket", err))
}

// readNew reads a newly accepted connection. It returns the connection when
// its packet is complete already (the usual case); otherwise the connection
// joins the pending set and readNew returns nil.
func (s *Service) readNew(fd int) (*conn, error) {
	c := s.newConn(fd)
	c.accepted = time.Now()
	if s.readTimeout > 0 {
		c.deadline = c.accepted.Add(s.readTimeout)
	}
	s.borrow(c)
	done, err := s.fill(c, false)
	switch {
	case err != nil:
		return nil, s.connError(c, err)
	case done:
		return c, nil
	}
	if c.start == c.end && !c.parser.References() {
		// A pending connection holds no buffer of the pool's.
		s.unborrow(c)
		c.start, c.end = 0, 0
	}
	if len(s.pendingConns) >= s.maxPending {
		s.evictOldest()
	}
	s.pendingConns = append(s.pendingConns, c)
	return nil, nil
}

// evictOldest closes the oldest pending connection to make room.
func (s *Service) evictOldest() {
	if len(s.pendingConns) == 0 {
		return
	}
	c := s.pendingConns[0]
	copy(s.pendingConns, s.pendingConns[1:])
	s.pendingConns = s.pendingConns[:len(s.pendingConns)-1]
	s.readError(c, time.Now())
}

// expirePending closes the pending connections whose deadline has passed.
func (s *Service) expirePending(now time.Time) error {
	for i, c := range s.pendingConns {
		if !c.deadline.IsZero() && !now.Before(c.deadline) {
			s.pendingConns[i] = nil
			s.readError(c, now)
		}
	}
	s.compactPending()
	return nil
}

// compactPending removes the nil entries of the pending set, keeping the order.
func (s *Service) compactPending() {
	k := 0
	for _, c := range s.pendingConns {
		if c != nil {
			s.pendingConns[k] = c
			k++
		}
	}
	clear(s.pendingConns[k:])
	s.pendingConns = s.pendingConns[:k]
}

// readError closes a connection that did not deliver a request and, in
// manager mode, reports it as a read error.
func (s *Service) readError(c *conn, now time.Time) {
	s.closeConn(c)
	if s.mode == Manager {
		s.report(stats.ReadError, now.Sub(c.accepted), 0, 0, "", now)
	}
}

// connError handles a connection whose packet failed. An oversize length
// prefix is answered with fault 3. In manager mode every other failure is a
// read error, hidden from the service's code; in accept mode a client error
// ends the loop (a client that sends nothing at all ends it cleanly), as
// the original did.
func (s *Service) connError(c *conn, err error) error {
	var le *protocol.LengthError
	if errors.As(err, &le) {
		s.refuseTooLarge(c, le)
		s.closeConn(c)
		return nil
	}
	if s.mode == Manager {
		s.readError(c, time.Now())
		return nil
	}
	fresh := !c.used && !c.parser.Started()
	s.closeConn(c)
	if errors.Is(err, errEOF) {
		if fresh {
			return s.stop(stats.NoReason, ErrStopped)
		}
		return nil
	}
	return s.stop(stats.NoReason, readFault(err))
}

// refuseTooLarge answers fault 3 requestTooLarge for a packet whose length
// prefix exceeds maximum-request-size, with the id and client name read so
// far, without reading the payload (docs/protocol.md §8.3).
func (s *Service) refuseTooLarge(c *conn, le *protocol.LengthError) {
	resp := protocol.Response{
		ID:          protocol.ParseNumber(c.parser.Field(protocol.TypeRequestID)),
		ClientName:  string(c.parser.Field(protocol.TypeClientName)),
		ServiceName: s.name,
		FaultCode:   int64(fault.RequestTooLarge),
		FaultText:   le.Error(),
	}
	b := protocol.AppendResponse(nil, &resp)
	fd := c.fd
	if s.mode == StandAlone {
		fd = s.out
	}
	if s.trace {
		s.tracePacket("PktOut: ", b)
	}
	if fd >= 0 {
		stall := time.Duration(0)
		if s.mode != StandAlone {
			stall = s.readTimeout
		}
		if err := writevFD(fd, [][]byte{b}, s.iov[:], s.mode != StandAlone && !c.blocking, stall); err != nil && s.mode == StandAlone {
			fmt.Fprintf(os.Stderr, "service: writing the requestTooLarge fault: %v\n", err)
		}
	}
	if s.mode == Manager {
		now := time.Now()
		s.requests++
		s.faults++
		if s.slot != nil {
			s.slot.SetRequestIdentity(resp.ID, stats.NotRecording, resp.ClientName)
			s.slot.FinishRequest(s.requests, s.responses, s.faults, s.busyMicros)
		}
		s.report(stats.Faulted, now.Sub(c.accepted), 0, 0, "", now)
	}
}

// affinityNext waits for the next request on the connection held for
// affinity, at most the affinity timeout for its first byte and then
// request-read-timeout for the rest. It returns true with the packet
// complete in s.cur; false when the connection ended without a request
// (timeout, client close, read error), after closing it.
func (s *Service) affinityNext() (bool, error) {
	c := s.cur
	c.raw = c.raw[:0]
	if err := s.unblock(c); err != nil {
		return s.affinityResult(c, false, err)
	}
	if c.start < c.end {
		// The client sent its next request with the previous one.
		c.accepted = time.Now()
		if done, err := s.fill(c, false); done || err != nil {
			return s.affinityResult(c, done, err)
		}
	}
	s.enterWait(stats.StateAffinity)
	deadline := time.Now().Add(s.affinityTimeout)
	started := c.parser.Started()
	if started && s.readTimeout > 0 {
		deadline = c.accepted.Add(s.readTimeout)
	}
	for {
		if s.inst.stopping.Load() {
			s.dropCur()
			return false, s.stop(s.shutdownReason(), ErrStopped)
		}
		now := time.Now()
		left := deadline.Sub(now)
		if left <= 0 {
			if started {
				s.cur = nil
				s.keep = false
				s.readError(c, now)
			} else {
				s.dropCur()
			}
			return false, nil
		}
		if err := waitFD(c.fd, unix.POLLIN, int(min(left, acceptTimeout).Milliseconds())+1); err != nil {
			return s.affinityResult(c, false, err)
		}
		if !started {
			c.accepted = time.Now()
		}
		done, err := s.fill(c, false)
		if done || err != nil {
			return s.affinityResult(c, done, err)
		}
		if !started && c.parser.Started() {
			started = true
			if s.readTimeout > 0 {
				deadline = c.accepted.Add(s.readTimeout)
			} else {
				deadline = time.Now().Add(100 * 365 * 24 * time.Hour)
			}
		}
	}
}

// affinityResult ends an affinity wait: a complete packet is served; a
// client that closed between requests is not a request; anything else is a
// failed request.
func (s *Service) affinityResult(c *conn, done bool, err error) (bool, error) {
	if done {
		if err := s.checkKey(c); err != nil {
			s.cur, s.keep = nil, false
			return false, s.connError(c, err)
		}
		s.readStart = c.accepted
		return true, nil
	}
	s.cur, s.keep = nil, false
	if errors.Is(err, errEOF) {
		s.closeConn(c)
		s.setSlotState(stats.StateIdle, time.Now())
		return false, nil
	}
	return false, s.connError(c, err)
}
