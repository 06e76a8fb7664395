// Package coord is the manager's coordination server: semaphores, mutexes,
// shared variables, broadcast messages and singleton timers for the
// instances of every service, on one Unix control socket per manager
// (docs/coordination.md).
//
// Every instance keeps one connection. The server learns the instance's pid
// from SO_PEERCRED and its service key from the connection's hello; when the
// connection closes (the instance exited, kill -9 included) or the manager
// reports the pid's exit (Exited), the server at once reverts the
// connection's protected semaphore operations, releases its mutexes, drops
// its waits and hands its singleton timers to another instance.
//
// All state lives in this process's memory: it is lost when the manager
// exits, as in Netplex.
package coord

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"os"
	"path"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/pluton-go/pluton/go/coord"
)

// SocketName is the control socket's file name in the rendezvous directory.
const SocketName = "plutonControl.socket"

// Limits bound what instances can create. Counts are per scope: one
// service's names, or the global names.
type Limits struct {
	Semaphores  int // semaphores per scope
	Mutexes     int // mutexes held or waited for, per scope
	Variables   int // shared variables per scope
	Timers      int // singleton timers per service
	NameSize    int // bytes in a name
	ValueSize   int // bytes in a variable's value or a message's arguments
	Connections int // connections at once
	Waits       int // requests waiting at once on one connection
	EventQueue  int // events queued for one connection; further ones are dropped
}

// DefaultLimits returns the limits documented in docs/coordination.md.
func DefaultLimits() Limits {
	return Limits{Semaphores: 1024, Mutexes: 1024, Variables: 1024, Timers: 64, NameSize: 255,
		ValueSize: 64 << 10, Connections: 4096, Waits: 256, EventQueue: 1024}
}

// maxSemaphore is the largest value of a semaphore.
const maxSemaphore = math.MaxInt32

// Server is one manager's coordination server.
type Server struct {
	path   string
	ln     *net.UnixListener
	log    *slog.Logger
	limits Limits

	mu     sync.Mutex
	conns  map[*conn]struct{}
	scopes map[string]*scope // "" is the global scope
	closed bool
	wg     sync.WaitGroup
}

type scope struct {
	sems    map[string]*sem
	mutexes map[string]*mutex
	vars    map[string]*variable
	timers  map[string]*timer
}

type sem struct {
	name      string
	value     int64
	protected bool
	gone      bool
	waiters   []*waiter
}

type mutex struct {
	sc      *scope
	name    string
	holder  *conn
	waiters []*waiter
}

type variable struct {
	value   []byte
	version int64
	waiters []*waiter
}

type timer struct {
	sc     *scope
	name   string
	period time.Duration
	cands  []*conn // registration order; the first is the owner
	t      *time.Timer
}

// waiter is a request that waits: a decrement, a lock, a wait_for_change.
type waiter struct {
	c    *conn
	id   string
	t    *time.Timer
	done bool
}

type conn struct {
	s       *Server
	nc      *net.UnixConn
	pid     int
	service string // from hello; "" before it
	out     chan []byte
	closed  bool
	dropped int
	deltas  map[*sem]int64
	held    map[*mutex]struct{}
	waits   map[string]*waiter // by request id
	timers  map[*timer]struct{}
}

// Listen creates the control socket at path (replacing a stale one) and
// starts serving it. log may be nil.
func Listen(path string, log *slog.Logger, limits Limits) (*Server, error) {
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	_ = os.Remove(path)
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("coord: %w", err) // names the path
	}
	ln.SetUnlinkOnClose(true)
	if err := os.Chmod(path, 0o666); err != nil {
		ln.Close()
		return nil, fmt.Errorf("coord: chmod %s: %w", path, err)
	}
	s := &Server{path: path, ln: ln, log: log, limits: limits,
		conns: make(map[*conn]struct{}), scopes: make(map[string]*scope)}
	s.wg.Add(1)
	go s.accept()
	return s, nil
}

// Path returns the control socket's path.
func (s *Server) Path() string { return s.path }

// Close stops the server: the socket is removed, every connection closed and
// every waiting request answered with the error "shutdown".
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	err := s.ln.Close()
	for c := range s.conns {
		for _, w := range c.waits {
			s.fail(w, coord.CodeShutdown, "the manager is shutting down")
		}
	}
	for c := range s.conns {
		s.drop(c)
	}
	for _, sc := range s.scopes {
		for _, t := range sc.timers {
			t.t.Stop()
		}
	}
	s.mu.Unlock()
	s.wg.Wait()
	return err
}

// Exited tells the server that the process pid ended: its connections are
// dropped at once (reverting its protected operations, releasing its
// mutexes), even if a child it forked still holds the socket open.
func (s *Server) Exited(pid int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		if c.pid == pid {
			s.log.Debug("coord: instance exited", "pid", pid, "service", c.service)
			s.drop(c)
		}
	}
}

// Stats are the server's current counts.
type Stats struct {
	Connections, Semaphores, Mutexes, Variables, Timers int
}

// Stats returns the server's current counts.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := Stats{Connections: len(s.conns)}
	for _, sc := range s.scopes {
		st.Semaphores += len(sc.sems)
		st.Mutexes += len(sc.mutexes)
		st.Variables += len(sc.vars)
		st.Timers += len(sc.timers)
	}
	return st
}

func (s *Server) accept() {
	defer s.wg.Done()
	for {
		nc, err := s.ln.AcceptUnix()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			s.log.Warn("coord: accept failed", "err", err)
			time.Sleep(50 * time.Millisecond)
			continue
		}
		pid := 0
		if raw, err := nc.SyscallConn(); err == nil {
			_ = raw.Control(func(fd uintptr) {
				if cred, err := unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED); err == nil {
					pid = int(cred.Pid)
				}
			})
		}
		c := &conn{s: s, nc: nc, pid: pid, out: make(chan []byte, s.limits.EventQueue+s.limits.Waits+16),
			deltas: make(map[*sem]int64), held: make(map[*mutex]struct{}), waits: make(map[string]*waiter),
			timers: make(map[*timer]struct{})}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			nc.Close()
			return
		}
		if len(s.conns) >= s.limits.Connections {
			s.mu.Unlock()
			b := errorPacket("0", coord.CodeLimit, fmt.Sprintf("too many connections (limit %d)", s.limits.Connections)).Append(nil)
			_ = nc.SetWriteDeadline(time.Now().Add(time.Second))
			_, _ = nc.Write(b)
			nc.Close()
			continue
		}
		s.conns[c] = struct{}{}
		s.mu.Unlock()
		s.wg.Add(2)
		go c.write()
		go c.read()
	}
}

func (c *conn) write() {
	defer c.s.wg.Done()
	for b := range c.out {
		if _, err := c.nc.Write(b); err != nil {
			c.nc.Close()
			for range c.out { // drain until the reader's clean-up closes out
			}
			return
		}
	}
	c.nc.Close()
}

func (c *conn) read() {
	defer c.s.wg.Done()
	r := bufio.NewReaderSize(c.nc, 64<<10)
	for {
		p, err := coord.ReadPacket(r)
		if err != nil {
			s := c.s
			s.mu.Lock()
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) && !c.closed {
				var pe *coord.ProtocolError
				if errors.As(err, &pe) || errors.Is(err, coord.ErrPacketTooLarge) {
					s.log.Warn("coord: bad packet; connection closed", "pid", c.pid, "service", c.service, "err", err)
					c.send(errorPacket("0", coord.CodeBadRequest, err.Error()), true)
				}
			}
			s.drop(c)
			s.mu.Unlock()
			return
		}
		c.s.mu.Lock()
		if !c.closed {
			c.s.handle(c, p)
		}
		c.s.mu.Unlock()
	}
}

// send queues a packet for the connection. An event that does not fit is
// dropped (counted); a response that does not fit closes the connection (its
// peer does not read).
func (c *conn) send(p *coord.Packet, response bool) {
	if c.closed {
		return
	}
	select {
	case c.out <- p.Append(nil):
	default:
		if !response {
			c.dropped++
			return
		}
		c.s.log.Warn("coord: instance does not read its responses; connection closed", "pid", c.pid, "service", c.service)
		c.s.drop(c)
	}
}

// drop forgets a connection: waits are cancelled, protected semaphore
// operations reverted, mutexes released, timers moved. Called with s.mu held;
// idempotent.
func (s *Server) drop(c *conn) {
	if c.closed {
		return
	}
	for _, w := range c.waits {
		w.done = true
		if w.t != nil {
			w.t.Stop()
		}
	}
	c.waits = nil
	c.closed = true
	delete(s.conns, c)
	close(c.out)
	_ = c.nc.CloseRead()
	_ = c.nc.SetWriteDeadline(time.Now().Add(time.Second)) // the writer flushes what is queued, then closes
	for sm, d := range c.deltas {
		if sm.gone || d == 0 {
			continue
		}
		sm.value = min(max(sm.value-d, 0), maxSemaphore)
		s.log.Debug("coord: protected semaphore reverted", "pid", c.pid, "name", sm.name, "by", -d, "value", sm.value)
		s.wakeSem(sm)
	}
	for m := range c.held {
		s.release(m)
	}
	for t := range c.timers {
		s.leaveTimer(t, c)
	}
	if c.dropped > 0 {
		s.log.Warn("coord: events dropped for a slow instance", "pid", c.pid, "service", c.service, "dropped", c.dropped)
	}
}

func errorPacket(id, code, text string) *coord.Packet {
	return coord.NewPacket(coord.KindResponse).SetStr(coord.FieldID, id).
		SetStr(coord.FieldError, code).SetStr(coord.FieldText, text)
}

func okPacket(id string) *coord.Packet {
	return coord.NewPacket(coord.KindResponse).SetStr(coord.FieldID, id)
}

func (s *Server) reply(c *conn, p *coord.Packet) { c.send(p, true) }

// finish answers a waiting request once.
func (s *Server) finish(w *waiter, p *coord.Packet) {
	if w.done {
		return
	}
	w.done = true
	if w.t != nil {
		w.t.Stop()
	}
	if w.c.waits != nil {
		delete(w.c.waits, w.id)
	}
	s.reply(w.c, p)
}

func (s *Server) fail(w *waiter, code, text string) { s.finish(w, errorPacket(w.id, code, text)) }

// live removes the answered waiters from a queue.
func live(ws []*waiter) []*waiter {
	out := ws[:0]
	for _, w := range ws {
		if !w.done {
			out = append(out, w)
		}
	}
	clear(ws[len(out):])
	return out
}

func (s *Server) scope(name string) *scope {
	sc := s.scopes[name]
	if sc == nil {
		sc = &scope{sems: make(map[string]*sem), mutexes: make(map[string]*mutex),
			vars: make(map[string]*variable), timers: make(map[string]*timer)}
		s.scopes[name] = sc
	}
	return sc
}

// reqError is an error answer built while handling a request.
type reqError struct{ code, text string }

func (e *reqError) Error() string { return e.code + ": " + e.text }

func bad(format string, args ...any) *reqError {
	return &reqError{coord.CodeBadRequest, fmt.Sprintf(format, args...)}
}

// request is one decoded request with its connection.
type request struct {
	c  *conn
	p  *coord.Packet
	id string
	sc *scope
}

func (r *request) name() (string, error) {
	lim := r.c.s.limits.NameSize
	n, ok := r.p.Fields[coord.FieldName]
	switch {
	case !ok || len(n) == 0:
		return "", bad("%s: a name (field 'n') is required", r.p.Str(coord.FieldOp))
	case len(n) > lim:
		return "", &reqError{coord.CodeTooLarge, fmt.Sprintf("name of %d bytes exceeds the limit of %d bytes", len(n), lim)}
	}
	for _, b := range n {
		if b == 0 {
			return "", bad("name contains a NUL byte")
		}
	}
	return string(n), nil
}

// wait returns the request's wait limit: ok false for no limit.
func (r *request) timeout() (d time.Duration, ok bool, err error) {
	v, ok, err := r.p.Int(coord.FieldTimeout)
	if err != nil {
		return 0, false, bad("%v", err)
	}
	if ok && v < 0 {
		return 0, false, bad("timeout %d ms is negative", v)
	}
	return time.Duration(v) * time.Millisecond, ok, nil
}

// park makes the request wait, answered by timeoutAnswer after d (when
// limited).
func (s *Server) park(r *request, d time.Duration, limited bool, timeoutAnswer func(id string) *coord.Packet) (*waiter, error) {
	c := r.c
	if len(c.waits) >= s.limits.Waits {
		return nil, &reqError{coord.CodeLimit, fmt.Sprintf("too many waiting requests on this connection (limit %d)", s.limits.Waits)}
	}
	if _, dup := c.waits[r.id]; dup {
		return nil, bad("request id %s is already waiting", r.id)
	}
	w := &waiter{c: c, id: r.id}
	c.waits[r.id] = w
	if limited {
		w.t = time.AfterFunc(d, func() {
			s.mu.Lock()
			defer s.mu.Unlock()
			s.finish(w, timeoutAnswer(w.id))
		})
	}
	return w, nil
}

func (s *Server) handle(c *conn, p *coord.Packet) {
	id := p.Str(coord.FieldID)
	if p.Kind != coord.KindRequest {
		s.reply(c, errorPacket(id, coord.CodeBadRequest, fmt.Sprintf("expected a request packet (0R,), got 0%c,", p.Kind)))
		return
	}
	if _, err := fmt.Sscan(id, new(uint64)); err != nil || id == "" {
		s.reply(c, errorPacket(id, coord.CodeBadRequest, fmt.Sprintf("request id (field 'b') %q is not a decimal number", id)))
		return
	}
	op := p.Str(coord.FieldOp)
	if c.service == "" && op != "hello" {
		s.reply(c, errorPacket(id, coord.CodeNoHello, "the first request on a connection must be hello (field 's': the service key)"))
		return
	}
	r := &request{c: c, p: p, id: id}
	if p.Has(coord.FieldGlobal) {
		r.sc = s.scope("")
	} else if c.service != "" {
		r.sc = s.scope(c.service)
	}
	var err error
	switch op {
	case "hello":
		err = s.hello(r)
	case "sem.create":
		err = s.semCreate(r)
	case "sem.increment":
		err = s.semIncrement(r)
	case "sem.decrement":
		err = s.semDecrement(r)
	case "sem.get":
		err = s.semGet(r)
	case "sem.destroy":
		err = s.semDestroy(r)
	case "mutex.lock":
		err = s.mutexLock(r)
	case "mutex.unlock":
		err = s.mutexUnlock(r)
	case "var.set":
		err = s.varSet(r)
	case "var.get":
		err = s.varGet(r)
	case "var.wait":
		err = s.varWait(r)
	case "msg.broadcast":
		err = s.broadcast(r)
	case "timer.every":
		err = s.timerEvery(r)
	case "timer.cancel":
		err = s.timerCancel(r)
	case "cancel":
		err = s.cancel(r)
	case "":
		err = bad("an operation (field 'o') is required")
	default:
		err = bad("unknown operation %q", op)
	}
	var re *reqError
	if errors.As(err, &re) {
		s.reply(c, errorPacket(id, re.code, re.text))
	}
}

func (s *Server) hello(r *request) error {
	if r.c.service != "" {
		return bad("hello sent twice on one connection")
	}
	key := r.p.Str(coord.FieldService)
	switch {
	case key == "":
		return bad("hello: the service key (field 's') is required")
	case len(key) > s.limits.NameSize:
		return &reqError{coord.CodeTooLarge, fmt.Sprintf("service key of %d bytes exceeds %d bytes", len(key), s.limits.NameSize)}
	}
	for _, b := range []byte(key) {
		if b == 0 || b == '/' {
			return bad("hello: service key %q contains '/' or a NUL byte", key)
		}
	}
	r.c.service = key
	s.log.Debug("coord: hello", "pid", r.c.pid, "service", key)
	s.reply(r.c, okPacket(r.id).SetInt(coord.FieldInt, int64(r.c.pid)))
	return nil
}

func (s *Server) semCreate(r *request) error {
	name, err := r.name()
	if err != nil {
		return err
	}
	initial, _, err := r.p.Int(coord.FieldInt)
	if err != nil {
		return bad("%v", err)
	}
	if initial < 0 || initial > maxSemaphore {
		return bad("semaphore %q: initial value %d is out of range 0..%d", name, initial, maxSemaphore)
	}
	if _, ok := r.sc.sems[name]; ok {
		s.reply(r.c, okPacket(r.id).SetInt(coord.FieldInt, 0))
		return nil
	}
	if len(r.sc.sems) >= s.limits.Semaphores {
		return &reqError{coord.CodeLimit, fmt.Sprintf("semaphore %q: too many semaphores (limit %d)", name, s.limits.Semaphores)}
	}
	r.sc.sems[name] = &sem{name: name, value: initial, protected: r.p.Has(coord.FieldProtected)}
	s.reply(r.c, okPacket(r.id).SetInt(coord.FieldInt, 1))
	return nil
}

func (s *Server) lookupSem(r *request) (*sem, error) {
	name, err := r.name()
	if err != nil {
		return nil, err
	}
	sm := r.sc.sems[name]
	if sm == nil {
		return nil, &reqError{coord.CodeNotFound, fmt.Sprintf("no semaphore %q (create it first)", name)}
	}
	return sm, nil
}

func (s *Server) semIncrement(r *request) error {
	sm, err := s.lookupSem(r)
	if err != nil {
		return err
	}
	if sm.value >= maxSemaphore {
		return &reqError{coord.CodeLimit, fmt.Sprintf("semaphore %q is at its maximum %d", sm.name, maxSemaphore)}
	}
	sm.value++
	if sm.protected {
		r.c.deltas[sm]++
	}
	v := sm.value
	s.wakeSem(sm)
	s.reply(r.c, okPacket(r.id).SetInt(coord.FieldInt, v))
	return nil
}

func (s *Server) semDecrement(r *request) error {
	sm, err := s.lookupSem(r)
	if err != nil {
		return err
	}
	d, limited, err := r.timeout()
	if err != nil {
		return err
	}
	if sm.value > 0 && len(live(sm.waiters)) == 0 {
		sm.waiters = sm.waiters[:0]
		sm.value--
		if sm.protected {
			r.c.deltas[sm]--
		}
		s.reply(r.c, okPacket(r.id).SetInt(coord.FieldInt, sm.value))
		return nil
	}
	if !r.p.Has(coord.FieldWait) || (limited && d == 0) {
		s.reply(r.c, okPacket(r.id).SetInt(coord.FieldInt, -1))
		return nil
	}
	w, err := s.park(r, d, limited, func(id string) *coord.Packet { return okPacket(id).SetInt(coord.FieldInt, -1) })
	if err != nil {
		return err
	}
	sm.waiters = append(live(sm.waiters), w)
	return nil
}

// wakeSem hands the semaphore's value to its waiters, oldest first.
func (s *Server) wakeSem(sm *sem) {
	sm.waiters = live(sm.waiters)
	for sm.value > 0 && len(sm.waiters) > 0 {
		w := sm.waiters[0]
		sm.waiters = sm.waiters[1:]
		if w.done {
			continue
		}
		sm.value--
		if sm.protected {
			w.c.deltas[sm]--
		}
		s.finish(w, okPacket(w.id).SetInt(coord.FieldInt, sm.value))
	}
}

func (s *Server) semGet(r *request) error {
	sm, err := s.lookupSem(r)
	if err != nil {
		return err
	}
	s.reply(r.c, okPacket(r.id).SetInt(coord.FieldInt, sm.value))
	return nil
}

func (s *Server) semDestroy(r *request) error {
	name, err := r.name()
	if err != nil {
		return err
	}
	sm := r.sc.sems[name]
	if sm == nil {
		s.reply(r.c, okPacket(r.id).SetInt(coord.FieldInt, 0))
		return nil
	}
	sm.gone = true
	delete(r.sc.sems, name)
	for _, w := range sm.waiters {
		s.fail(w, coord.CodeDestroyed, fmt.Sprintf("semaphore %q was destroyed while waiting", name))
	}
	sm.waiters = nil
	s.reply(r.c, okPacket(r.id).SetInt(coord.FieldInt, 1))
	return nil
}

func (s *Server) mutexLock(r *request) error {
	name, err := r.name()
	if err != nil {
		return err
	}
	d, limited, err := r.timeout()
	if err != nil {
		return err
	}
	m := r.sc.mutexes[name]
	if m == nil {
		if len(r.sc.mutexes) >= s.limits.Mutexes {
			return &reqError{coord.CodeLimit, fmt.Sprintf("mutex %q: too many mutexes held or waited for (limit %d)", name, s.limits.Mutexes)}
		}
		m = &mutex{sc: r.sc, name: name}
		r.sc.mutexes[name] = m
	}
	switch {
	case m.holder == nil:
		m.holder = r.c
		r.c.held[m] = struct{}{}
		s.reply(r.c, okPacket(r.id))
		return nil
	case m.holder == r.c:
		return &reqError{coord.CodeDeadlock, fmt.Sprintf("mutex %q is already held by this instance", name)}
	case limited && d == 0:
		return &reqError{coord.CodeTimeout, fmt.Sprintf("mutex %q is held by pid %d", name, m.holder.pid)}
	}
	holder := m.holder.pid
	w, err := s.park(r, d, limited, func(id string) *coord.Packet {
		return errorPacket(id, coord.CodeTimeout, fmt.Sprintf("mutex %q not acquired within %d ms (held by pid %d)", name, d.Milliseconds(), holder))
	})
	if err != nil {
		return err
	}
	m.waiters = append(live(m.waiters), w)
	return nil
}

// release frees a mutex and hands it to the oldest waiter.
func (s *Server) release(m *mutex) {
	if m.holder != nil {
		delete(m.holder.held, m)
	}
	m.holder = nil
	for len(m.waiters) > 0 {
		w := m.waiters[0]
		m.waiters = m.waiters[1:]
		if w.done || w.c.closed {
			continue
		}
		m.holder = w.c
		w.c.held[m] = struct{}{}
		s.finish(w, okPacket(w.id))
		return
	}
	delete(m.sc.mutexes, m.name)
}

func (s *Server) mutexUnlock(r *request) error {
	name, err := r.name()
	if err != nil {
		return err
	}
	m := r.sc.mutexes[name]
	if m == nil || m.holder != r.c {
		return &reqError{coord.CodeNotOwner, fmt.Sprintf("mutex %q is not held by this instance", name)}
	}
	s.release(m)
	s.reply(r.c, okPacket(r.id))
	return nil
}

func (s *Server) varSet(r *request) error {
	name, err := r.name()
	if err != nil {
		return err
	}
	val := r.p.Fields[coord.FieldValue]
	if len(val) > s.limits.ValueSize {
		return &reqError{coord.CodeTooLarge, fmt.Sprintf("variable %q: value of %d bytes exceeds the limit of %d bytes", name, len(val), s.limits.ValueSize)}
	}
	v := r.sc.vars[name]
	if v == nil {
		if len(r.sc.vars) >= s.limits.Variables {
			return &reqError{coord.CodeLimit, fmt.Sprintf("variable %q: too many variables (limit %d)", name, s.limits.Variables)}
		}
		v = &variable{}
		r.sc.vars[name] = v
	}
	v.value = append([]byte(nil), val...)
	v.version++
	for _, w := range v.waiters {
		s.finish(w, okPacket(w.id).SetInt(coord.FieldVersion, v.version).SetStr(coord.FieldValue, string(v.value)))
	}
	v.waiters = nil
	s.reply(r.c, okPacket(r.id).SetInt(coord.FieldVersion, v.version))
	return nil
}

func (s *Server) varGet(r *request) error {
	name, err := r.name()
	if err != nil {
		return err
	}
	p := okPacket(r.id)
	if v := r.sc.vars[name]; v != nil && v.version > 0 {
		p.SetInt(coord.FieldVersion, v.version).SetStr(coord.FieldValue, string(v.value))
	} else {
		p.SetInt(coord.FieldVersion, 0)
	}
	s.reply(r.c, p)
	return nil
}

func (s *Server) varWait(r *request) error {
	name, err := r.name()
	if err != nil {
		return err
	}
	have, ok, err := r.p.Int(coord.FieldVersion)
	if err != nil || !ok {
		return bad("var.wait: the version (field 'V') is required as a decimal number")
	}
	d, limited, err := r.timeout()
	if err != nil {
		return err
	}
	v := r.sc.vars[name]
	if v != nil && v.version != have {
		s.reply(r.c, okPacket(r.id).SetInt(coord.FieldVersion, v.version).SetStr(coord.FieldValue, string(v.value)))
		return nil
	}
	if v == nil && have != 0 {
		s.reply(r.c, okPacket(r.id).SetInt(coord.FieldVersion, 0))
		return nil
	}
	if v == nil {
		if len(r.sc.vars) >= s.limits.Variables {
			return &reqError{coord.CodeLimit, fmt.Sprintf("variable %q: too many variables (limit %d)", name, s.limits.Variables)}
		}
		v = &variable{}
		r.sc.vars[name] = v
	}
	w, err := s.park(r, d, limited, func(id string) *coord.Packet {
		return errorPacket(id, coord.CodeTimeout, fmt.Sprintf("variable %q did not change from version %d within %d ms", name, have, d.Milliseconds()))
	})
	if err != nil {
		return err
	}
	v.waiters = append(live(v.waiters), w)
	return nil
}

func (s *Server) broadcast(r *request) error {
	name, err := r.name()
	if err != nil {
		return err
	}
	args := r.p.Fields[coord.FieldValue]
	if len(args) > s.limits.ValueSize {
		return &reqError{coord.CodeTooLarge, fmt.Sprintf("message %q: arguments of %d bytes exceed the limit of %d bytes", name, len(args), s.limits.ValueSize)}
	}
	pattern := r.p.Str(coord.FieldPattern)
	if pattern == "" {
		pattern = r.c.service
	}
	if _, err := path.Match(pattern, ""); err != nil {
		return bad("broadcast pattern %q: %v", pattern, err)
	}
	ev := coord.NewPacket(coord.KindEvent).SetStr(coord.FieldOp, "message").SetStr(coord.FieldName, name).
		SetStr(coord.FieldService, r.c.service).SetStr(coord.FieldValue, string(args))
	n := 0
	for c := range s.conns {
		if c.service == "" {
			continue
		}
		if ok, _ := path.Match(pattern, c.service); ok {
			c.send(ev, false)
			n++
		}
	}
	s.reply(r.c, okPacket(r.id).SetInt(coord.FieldInt, int64(n)))
	return nil
}

func (s *Server) timerEvery(r *request) error {
	name, err := r.name()
	if err != nil {
		return err
	}
	if r.p.Has(coord.FieldGlobal) {
		return bad("timer %q: timers are per service; the global flag is not allowed", name)
	}
	ms, ok, err := r.p.Int(coord.FieldPeriod)
	if err != nil || !ok || ms < 10 {
		return bad("timer %q: the period (field 'e') must be a number of milliseconds, at least 10", name)
	}
	period := time.Duration(ms) * time.Millisecond
	t := r.sc.timers[name]
	if t != nil && t.period != period {
		return &reqError{coord.CodeConflict, fmt.Sprintf("timer %q already runs every %d ms, not %d ms", name, t.period.Milliseconds(), ms)}
	}
	if t == nil {
		if len(r.sc.timers) >= s.limits.Timers {
			return &reqError{coord.CodeLimit, fmt.Sprintf("timer %q: too many timers (limit %d)", name, s.limits.Timers)}
		}
		t = &timer{sc: r.sc, name: name, period: period}
		r.sc.timers[name] = t
		t.t = time.AfterFunc(period, func() { s.fire(t) })
	}
	if _, in := r.c.timers[t]; !in {
		r.c.timers[t] = struct{}{}
		t.cands = append(t.cands, r.c)
	}
	owner := int64(0)
	if t.cands[0] == r.c {
		owner = 1
	}
	s.reply(r.c, okPacket(r.id).SetInt(coord.FieldInt, owner))
	return nil
}

// fire sends a tick to the timer's owner and schedules the next one.
func (s *Server) fire(t *timer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || len(t.cands) == 0 || t.sc.timers[t.name] != t {
		return
	}
	owner := t.cands[0]
	owner.send(coord.NewPacket(coord.KindEvent).SetStr(coord.FieldOp, "timer").SetStr(coord.FieldName, t.name).
		SetInt(coord.FieldPeriod, t.period.Milliseconds()), false)
	t.t.Reset(t.period)
}

// leaveTimer removes c from a timer's candidates; the next one becomes the
// owner, and a timer with none left is deleted.
func (s *Server) leaveTimer(t *timer, c *conn) {
	delete(c.timers, t)
	for i, cc := range t.cands {
		if cc == c {
			t.cands = append(t.cands[:i], t.cands[i+1:]...)
			break
		}
	}
	if len(t.cands) == 0 {
		t.t.Stop()
		if t.sc.timers[t.name] == t {
			delete(t.sc.timers, t.name)
		}
		return
	}
	s.log.Debug("coord: timer owner", "name", t.name, "pid", t.cands[0].pid)
}

func (s *Server) timerCancel(r *request) error {
	name, err := r.name()
	if err != nil {
		return err
	}
	t := r.sc.timers[name]
	if t == nil {
		return &reqError{coord.CodeNotFound, fmt.Sprintf("no timer %q", name)}
	}
	if _, in := r.c.timers[t]; !in {
		return &reqError{coord.CodeNotFound, fmt.Sprintf("timer %q is not registered by this instance", name)}
	}
	s.leaveTimer(t, r.c)
	s.reply(r.c, okPacket(r.id))
	return nil
}

// cancel ends a waiting request of the same connection (field 'i': its id)
// with the error "timeout"; a request no longer waiting is left alone.
func (s *Server) cancel(r *request) error {
	target := r.p.Str(coord.FieldInt)
	if w := r.c.waits[target]; w != nil {
		s.fail(w, coord.CodeTimeout, "cancelled by the caller")
		s.reply(r.c, okPacket(r.id).SetInt(coord.FieldInt, 1))
		return nil
	}
	s.reply(r.c, okPacket(r.id).SetInt(coord.FieldInt, 0))
	return nil
}
