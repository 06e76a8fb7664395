// Package coord is the Go API of the manager's coordination services
// (docs/coordination.md): semaphores whose operations are reverted when an
// instance dies, mutexes released when their holder dies, versioned shared
// variables, broadcast messages and singleton timers. The state lives in
// plutonManager; an instance talks to it over the control socket named by
// the environment variable plutonControl, as the service named by
// plutonService (both set by the manager for every instance).
//
//	c, err := coord.Dial(ctx)
//	if err != nil { … }
//	defer c.Close()
//	l, err := c.Mutexes.Lock(ctx, "cache-refresh")
//	if err != nil { … }
//	defer l.Unlock(context.Background())
//
// Names are scoped by service: "jobs" of one service is not "jobs" of
// another. coord.Global() in a call names the manager-wide object instead.
//
// Blocking calls (Decrement with wait, Lock, WaitForChange) wait until the
// context's deadline, which the manager enforces; a cancelled context
// cancels the wait on the manager too. Message handlers and timer functions
// run on one goroutine of the client, one at a time.
package coord

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"sync"
	"time"
)

// Environment variables the manager sets for every instance.
const (
	ControlEnv = "plutonControl" // the control socket's path
	ServiceEnv = "plutonService" // the instance's service key (its configuration file name)
)

// Client is one connection to the manager's coordination server. It is safe
// for concurrent use; the manager sees all its calls as one instance (a
// mutex locked through it is held by the process).
type Client struct {
	Semaphores Semaphores // counting semaphores
	Mutexes    Mutexes    // mutual exclusion
	Variables  Variables  // versioned shared variables
	Messages   Messages   // broadcast messages
	Timers     Timers     // singleton timers

	nc      *net.UnixConn
	service string
	pid     int

	wmu sync.Mutex // serialises writes

	mu       sync.Mutex
	nextID   uint64
	pending  map[string]chan *Packet
	err      error // set once the connection is gone
	handlers map[string]func(Message)
	timers   map[string]func()

	events chan *Packet
	done   chan struct{}
}

// Option configures Dial.
type Option func(*dialOptions)

type dialOptions struct{ path, service string }

// WithSocket sets the control socket's path instead of $plutonControl.
func WithSocket(path string) Option { return func(o *dialOptions) { o.path = path } }

// WithService sets the service key instead of $plutonService.
func WithService(key string) Option { return func(o *dialOptions) { o.service = key } }

// Dial connects to the manager's coordination server and introduces the
// instance (hello).
func Dial(ctx context.Context, opts ...Option) (*Client, error) {
	o := dialOptions{path: os.Getenv(ControlEnv), service: os.Getenv(ServiceEnv)}
	for _, f := range opts {
		f(&o)
	}
	if o.path == "" {
		return nil, fmt.Errorf("coord: no control socket: %s is not set (run the service under plutonManager, or pass coord.WithSocket)", ControlEnv)
	}
	if o.service == "" {
		return nil, fmt.Errorf("coord: no service key: %s is not set (run the service under plutonManager, or pass coord.WithService)", ServiceEnv)
	}
	var d net.Dialer
	nc, err := d.DialContext(ctx, "unix", o.path)
	if err != nil {
		return nil, fmt.Errorf("coord: connect to the manager's control socket: %w", err)
	}
	c := &Client{nc: nc.(*net.UnixConn), service: o.service, pending: make(map[string]chan *Packet),
		handlers: make(map[string]func(Message)), timers: make(map[string]func()),
		events: make(chan *Packet, 1024), done: make(chan struct{})}
	c.Semaphores, c.Mutexes, c.Variables, c.Messages, c.Timers = Semaphores{c}, Mutexes{c}, Variables{c}, Messages{c}, Timers{c}
	go c.read()
	go c.dispatch()
	resp, err := c.call(ctx, NewPacket(KindRequest).SetStr(FieldOp, "hello").SetStr(FieldService, o.service))
	if err != nil {
		c.Close()
		return nil, err
	}
	pid, _, _ := resp.Int(FieldInt)
	c.pid = int(pid)
	return c, nil
}

// Service returns the service key the client introduced itself with.
func (c *Client) Service() string { return c.service }

// Close closes the connection. The manager then reverts the instance's
// protected semaphore operations, releases its mutexes and moves its timers,
// as when the instance dies.
func (c *Client) Close() error {
	c.mu.Lock()
	already := c.err != nil
	if !already {
		c.err = ErrClosed
	}
	c.mu.Unlock()
	if already {
		return nil
	}
	return c.nc.Close()
}

func (c *Client) read() {
	r := bufio.NewReaderSize(c.nc, 64<<10)
	defer close(c.done)
	defer close(c.events)
	for {
		p, err := ReadPacket(r)
		if err != nil {
			c.mu.Lock()
			if c.err == nil {
				c.err = fmt.Errorf("%w: %w", ErrClosed, err)
			}
			for id, ch := range c.pending {
				close(ch)
				delete(c.pending, id)
			}
			c.mu.Unlock()
			c.nc.Close()
			return
		}
		switch p.Kind {
		case KindResponse:
			c.mu.Lock()
			ch := c.pending[p.Str(FieldID)]
			delete(c.pending, p.Str(FieldID))
			c.mu.Unlock()
			if ch != nil {
				ch <- p
			}
		case KindEvent:
			select {
			case c.events <- p:
			default: // the handlers are too slow; the event is dropped
			}
		}
	}
}

// Message is a broadcast message as received.
type Message struct {
	Name string // the message's name
	Args []byte // its arguments
	From string // the sender's service key
}

func (c *Client) dispatch() {
	for p := range c.events {
		name := p.Str(FieldName)
		c.mu.Lock()
		var fn func()
		switch p.Str(FieldOp) {
		case "message":
			h := c.handlers[name]
			if h == nil {
				h = c.handlers["*"]
			}
			if h != nil {
				m := Message{Name: name, Args: p.Fields[FieldValue], From: p.Str(FieldService)}
				fn = func() { h(m) }
			}
		case "timer":
			fn = c.timers[name]
		}
		c.mu.Unlock()
		if fn != nil {
			fn()
		}
	}
}

// call sends a request and waits for its response; an error response is
// returned as *Error.
func (c *Client) call(ctx context.Context, p *Packet) (*Packet, error) {
	ch := make(chan *Packet, 1)
	c.mu.Lock()
	if c.err != nil {
		err := c.err
		c.mu.Unlock()
		return nil, err
	}
	c.nextID++
	id := strconv.FormatUint(c.nextID, 10)
	c.pending[id] = ch
	c.mu.Unlock()
	p.SetStr(FieldID, id)
	if err := c.write(p); err != nil {
		return nil, err
	}
	var resp *Packet
	select {
	case resp = <-ch:
	case <-ctx.Done():
		// The manager ends the wait, so nothing is granted to a caller
		// that is gone; its answer follows at once.
		_ = c.write(NewPacket(KindRequest).SetStr(FieldID, "0").SetStr(FieldOp, "cancel").SetStr(FieldInt, id))
		resp = <-ch
	}
	if resp == nil {
		c.mu.Lock()
		err := c.err
		c.mu.Unlock()
		return nil, err
	}
	if code := resp.Str(FieldError); code != "" {
		e := &Error{Code: code, Text: resp.Str(FieldText)}
		if ctx.Err() != nil && code == CodeTimeout {
			return nil, fmt.Errorf("%w (%w)", e, ctx.Err())
		}
		return nil, e
	}
	return resp, nil
}

func (c *Client) write(p *Packet) error {
	b := p.Append(nil)
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if _, err := c.nc.Write(b); err != nil {
		return fmt.Errorf("%w: %w", ErrClosed, err)
	}
	return nil
}

// NameOption qualifies a name.
type NameOption func(*Packet)

// Global names the manager-wide object instead of the service's own.
func Global() NameOption { return func(p *Packet) { p.SetFlag(FieldGlobal) } }

func (c *Client) request(op, name string, opts []NameOption) *Packet {
	p := NewPacket(KindRequest).SetStr(FieldOp, op).SetStr(FieldName, name)
	for _, o := range opts {
		o(p)
	}
	return p
}

// setTimeout sends the context's deadline as the longest wait.
func setTimeout(ctx context.Context, p *Packet) {
	if dl, ok := ctx.Deadline(); ok {
		ms := max((time.Until(dl)+time.Millisecond-1)/time.Millisecond, 0)
		p.SetInt(FieldTimeout, int64(ms))
	}
}

func intResult(p *Packet, err error) (int64, error) {
	if err != nil {
		return 0, err
	}
	v, _, err := p.Int(FieldInt)
	return v, err
}

// Semaphores are counting semaphores held by the manager.
type Semaphores struct{ c *Client }

// Create creates the semaphore with its initial value (0 to 2³¹−1) and
// reports whether it was created (false: it existed, unchanged). The
// increments and decrements of a protected semaphore made by an instance
// are reverted when that instance exits for any reason.
func (s Semaphores) Create(ctx context.Context, name string, initial int64, protected bool, opts ...NameOption) (bool, error) {
	p := s.c.request("sem.create", name, opts).SetInt(FieldInt, initial)
	if protected {
		p.SetFlag(FieldProtected)
	}
	v, err := intResult(s.c.call(ctx, p))
	return v == 1, err
}

// Increment adds one and returns the new value (before waiting decrements
// take from it).
func (s Semaphores) Increment(ctx context.Context, name string, opts ...NameOption) (int64, error) {
	return intResult(s.c.call(ctx, s.c.request("sem.increment", name, opts)))
}

// Decrement subtracts one and returns the new value. When the value is 0 it
// returns -1 at once if wait is false; otherwise it waits until ctx's
// deadline and returns -1 if that passes first (the Netplex convention).
func (s Semaphores) Decrement(ctx context.Context, name string, wait bool, opts ...NameOption) (int64, error) {
	p := s.c.request("sem.decrement", name, opts)
	if wait {
		p.SetFlag(FieldWait)
		setTimeout(ctx, p)
	}
	v, err := intResult(s.c.call(ctx, p))
	if err != nil && errors.Is(err, ErrTimeout) {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return -1, nil // the deadline passed: the convention's -1
		}
		return -1, err
	}
	return v, err
}

// Get returns the semaphore's value.
func (s Semaphores) Get(ctx context.Context, name string, opts ...NameOption) (int64, error) {
	return intResult(s.c.call(ctx, s.c.request("sem.get", name, opts)))
}

// Destroy removes the semaphore and reports whether it existed; its waiters
// get an error with the code "destroyed".
func (s Semaphores) Destroy(ctx context.Context, name string, opts ...NameOption) (bool, error) {
	v, err := intResult(s.c.call(ctx, s.c.request("sem.destroy", name, opts)))
	return v == 1, err
}

// Mutexes are named mutexes held by the manager, released when their
// holder exits.
type Mutexes struct{ c *Client }

// Lock is a held mutex.
type Lock struct {
	c    *Client
	name string
	opts []NameOption
}

// Lock locks the mutex, waiting until ctx's deadline (an error matching
// ErrTimeout when it passes). Locking a mutex this instance holds is an
// error matching ErrDeadlock.
func (m Mutexes) Lock(ctx context.Context, name string, opts ...NameOption) (*Lock, error) {
	p := m.c.request("mutex.lock", name, opts)
	setTimeout(ctx, p)
	if _, err := m.c.call(ctx, p); err != nil {
		return nil, err
	}
	return &Lock{c: m.c, name: name, opts: opts}, nil
}

// Unlock unlocks a mutex this instance holds (an error matching ErrNotOwner
// otherwise).
func (m Mutexes) Unlock(ctx context.Context, name string, opts ...NameOption) error {
	_, err := m.c.call(ctx, m.c.request("mutex.unlock", name, opts))
	return err
}

// Unlock unlocks the mutex.
func (l *Lock) Unlock(ctx context.Context) error { return l.c.Mutexes.Unlock(ctx, l.name, l.opts...) }

// Variables are versioned shared variables held by the manager (values up
// to 64 KiB).
type Variables struct{ c *Client }

// Set stores the value and returns its new version (1 for the first set).
func (v Variables) Set(ctx context.Context, name string, value []byte, opts ...NameOption) (int64, error) {
	p := v.c.request("var.set", name, opts)
	p.Fields[FieldValue] = value
	r, err := v.c.call(ctx, p)
	if err != nil {
		return 0, err
	}
	ver, _, err := r.Int(FieldVersion)
	return ver, err
}

func valueResult(r *Packet, err error) ([]byte, int64, error) {
	if err != nil {
		return nil, 0, err
	}
	ver, _, err := r.Int(FieldVersion)
	if ver == 0 {
		return nil, 0, err
	}
	val := r.Fields[FieldValue]
	if val == nil {
		val = []byte{}
	}
	return val, ver, err
}

// Get returns the value and its version; a variable never set is (nil, 0).
func (v Variables) Get(ctx context.Context, name string, opts ...NameOption) ([]byte, int64, error) {
	return valueResult(v.c.call(ctx, v.c.request("var.get", name, opts)))
}

// WaitForChange waits until the variable's version differs from version
// (0: until it is first set) and returns the value and version then; an
// error matching ErrTimeout when ctx's deadline passes first.
func (v Variables) WaitForChange(ctx context.Context, name string, version int64, opts ...NameOption) ([]byte, int64, error) {
	p := v.c.request("var.wait", name, opts).SetInt(FieldVersion, version)
	setTimeout(ctx, p)
	return valueResult(v.c.call(ctx, p))
}

// Messages are broadcast to the instances of the services whose key matches
// a pattern.
type Messages struct{ c *Client }

// Broadcast sends a message to every instance (the sender included) of the
// services whose key matches pattern (path.Match syntax, "" for the
// sender's own service) and returns how many instances it was sent to.
func (m Messages) Broadcast(ctx context.Context, pattern, name string, args []byte) (int, error) {
	p := m.c.request("msg.broadcast", name, nil).SetStr(FieldPattern, pattern)
	p.Fields[FieldValue] = args
	n, err := intResult(m.c.call(ctx, p))
	return int(n), err
}

// On sets the handler of the messages named name ("*": every message
// without a handler of its own); nil removes it.
func (m Messages) On(name string, fn func(Message)) {
	m.c.mu.Lock()
	defer m.c.mu.Unlock()
	if fn == nil {
		delete(m.c.handlers, name)
		return
	}
	m.c.handlers[name] = fn
}

// Timers are singleton timers: one instance of the service runs each.
type Timers struct{ c *Client }

// Every runs fn every period in exactly one instance of the service: the
// manager elects an owner among the instances that registered name, and
// when the owner exits the next one takes over within one period. It
// reports whether this instance is the owner now. Every instance must use
// the same period (an error matching ErrConflict otherwise).
func (t Timers) Every(ctx context.Context, name string, period time.Duration, fn func()) (bool, error) {
	t.c.mu.Lock()
	t.c.timers[name] = fn
	t.c.mu.Unlock()
	p := t.c.request("timer.every", name, nil).SetInt(FieldPeriod, period.Milliseconds())
	v, err := intResult(t.c.call(ctx, p))
	if err != nil {
		t.c.mu.Lock()
		delete(t.c.timers, name)
		t.c.mu.Unlock()
	}
	return v == 1, err
}

// Cancel stops this instance's part in the timer; another instance takes
// over if this one owned it.
func (t Timers) Cancel(ctx context.Context, name string) error {
	_, err := t.c.call(ctx, t.c.request("timer.cancel", name, nil))
	t.c.mu.Lock()
	delete(t.c.timers, name)
	t.c.mu.Unlock()
	return err
}
