package client

import (
	"context"
	"errors"
	"io"
	"os"
	"strconv"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/pluton-go/pluton/go/fault"
	"github.com/pluton-go/pluton/go/protocol"
)

// readBufferSize is the read buffer of an exchange (the original's 16 KB).
const readBufferSize = 16 << 10

// parserSmallField is the largest payload the protocol parser keeps in its
// own reused arena; larger payloads get a buffer of their own per packet,
// which the client hands to the caller without a copy (TestParserBigPayloadOwned
// guards this assumption).
const parserSmallField = 4096

// Connect retry pauses: a full listen backlog (EAGAIN) is retried until the
// deadline, starting at connectBackoffMin and doubling up to connectBackoffMax,
// as a blocking connect would wait; a refused connection is retried once,
// after refusedPause.
const (
	connectBackoffMin = 200 * time.Microsecond
	connectBackoffMax = 20 * time.Millisecond
	refusedPause      = 10 * time.Millisecond
)

// exchange holds the reusable buffers of one request-response exchange.
type exchange struct {
	head   []byte
	ctxBuf []byte
	rbuf   []byte
	parser *protocol.Parser
	resp   protocol.Response
	req    protocol.Request
	iov    [3][]byte
	sa     unix.SockaddrUnix
}

var exchanges = sync.Pool{New: func() any {
	return &exchange{
		head:   make([]byte, 0, 256),
		rbuf:   make([]byte, readBufferSize),
		parser: protocol.NewResponseParser(),
	}
}}

func getExchange() *exchange { return exchanges.Get().(*exchange) }

func putExchange(x *exchange) {
	x.iov = [3][]byte{}
	x.req = protocol.Request{}
	x.resp = protocol.Response{}
	x.sa = unix.SockaddrUnix{}
	exchanges.Put(x)
}

var (
	trailerEnd     = []byte("0z\n")
	trailerDataEnd = []byte(",0z\n")
)

// prepare makes the checks the original made in addRequest, in its order,
// and starts the request's clock. On failure the fault is also r's result.
func (c *Client) prepare(ctx context.Context, r *Request) error {
	if !r.state.CompareAndSwap(stateIdle, stateRunning) && !r.state.CompareAndSwap(stateDone, stateRunning) {
		return fault.New(fault.RequestAlreadyAdded, r.key)
	}
	r.start = time.Now()
	r.resp = Response{}
	r.sent = false
	var err error
	switch {
	case r.attrs&KeepAffinityAttr != 0 && r.attrs&NoWaitAttr != 0:
		err = fault.New(fault.NoWaitNotAllowed, r.key)
	case r.attrs&KeepAffinityAttr != 0 && r.attrs&NoRetryAttr == 0:
		err = fault.New(fault.NeedNoRetry, r.key)
	case r.attrs&NeedAffinityAttr != 0 && r.aff == nil:
		err = fault.New(fault.NoAffinity, r.key)
	case r.ctxErr != nil:
		err = r.ctxErr
	case r.attrs&NeedAffinityAttr == 0:
		if t := c.rv.Load().target(r.key); t.err != nil {
			err = t.err
		}
	}
	if err == nil && ctx.Err() != nil {
		err = fault.Wrap(fault.ServiceTimeout, "service timeout", ctx.Err())
	}
	if err != nil {
		r.finish(err)
		return err
	}
	timeout := r.timeout
	if timeout <= 0 {
		timeout = c.timeout
	}
	r.deadline = r.start.Add(timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(r.deadline) {
		r.deadline = d
	}
	r.id = c.nextID()
	return nil
}

// finish records the outcome and ends the request.
func (r *Request) finish(err error) {
	r.err = err
	r.end = time.Now()
	r.state.Store(stateDone)
}

// outcome of one attempt.
type outcome struct {
	err      error
	retry    bool // nothing usable came back; a fresh connection may succeed
	complete bool // a whole response packet arrived (affinity may be kept)
}

// execute runs a prepared request until it has a result; the caller then
// finishes it.
func (c *Client) execute(ctx context.Context, r *Request, x *exchange) error {
	c.buildHead(r, x)
	var res outcome
	for attempt := 0; ; attempt++ {
		retryAllowed := attempt == 0 && r.attrs&(NoRetryAttr|NeedAffinityAttr) == 0
		f, fd, reused := r.aff, r.affFD, r.aff != nil
		r.aff = nil
		if f == nil {
			var err error
			fd, f, err = c.connect(ctx, x, r.key, r.deadline)
			if err != nil {
				var errno syscall.Errno
				if retryAllowed && errors.As(err, &errno) && errno == syscall.ECONNREFUSED &&
					time.Until(r.deadline) > refusedPause {
					c.debug("retry after refused connection", "key", r.key, "id", r.id)
					time.Sleep(refusedPause)
					continue
				}
				res = outcome{err: err}
				break
			}
		}
		if c.log != nil {
			c.log.Debug("sending", "key", r.key, "id", r.id, "bytes", len(r.data), "attempt", attempt+1,
				"affinityConnection", reused)
		}
		res = c.roundTrip(ctx, r, x, fd, f)
		if res.complete && r.attrs&KeepAffinityAttr != 0 {
			r.aff, r.affFD = f, fd
		} else {
			f.Close()
		}
		if res.retry && retryAllowed && time.Now().Before(r.deadline) {
			c.debug("retry on a fresh connection", "key", r.key, "id", r.id, "reusedAffinity", reused, "err", res.err)
			continue
		}
		break
	}
	if c.log != nil {
		if res.err != nil {
			c.log.Debug("request failed", "key", r.key, "id", r.id, "err", res.err)
		} else {
			c.log.Debug("request done", "key", r.key, "id", r.id, "bytes", len(r.resp.Data),
				"service", r.resp.ServiceName, "keptAffinity", r.aff != nil)
		}
	}
	return res.err
}

// buildHead encodes the request up to its data into x.head.
func (c *Client) buildHead(r *Request, x *exchange) {
	ms := r.deadline.Sub(r.start).Milliseconds()
	x.req = protocol.Request{
		ID:           r.id,
		ClientName:   c.name,
		ServiceKey:   r.key,
		TimeoutMS:    max(ms, 0),
		NoWait:       r.attrs&NoWaitAttr != 0,
		NoRemote:     r.attrs&NoRemoteAttr != 0,
		NoRetry:      r.attrs&NoRetryAttr != 0,
		KeepAffinity: r.attrs&KeepAffinityAttr != 0,
		NeedAffinity: r.attrs&NeedAffinityAttr != 0,
		Context:      r.context,
		Data:         r.data,
	}
	head, trailer := protocol.AppendRequestHead(x.head[:0], &x.req)
	x.head = head
	x.iov[0], x.iov[1] = head, r.data
	if trailer == string(trailerEnd) {
		x.iov[2] = trailerEnd
	} else {
		x.iov[2] = trailerDataEnd
	}
}

// connect opens a connection to key's service: <R>/<key>.socket, else the
// wildcard socket. A full backlog (EAGAIN) is waited out until the deadline.
// A refused connection returns the bare syscall.Errno wrapped in a
// connectFailed fault, so the caller can decide to retry.
func (c *Client) connect(ctx context.Context, x *exchange, key string, deadline time.Time) (int, *os.File, error) {
	rv := c.rv.Load()
	t := rv.target(key)
	if t.err != nil {
		return -1, nil, t.err
	}
	path := t.exact
	backoff := connectBackoffMin
	for {
		fd, f, err := dial(x, path)
		switch err {
		case nil:
			return fd, f, nil
		case syscall.ENOENT:
			if path == t.exact {
				path = t.wildcard
				continue
			}
			if nrv := c.refresh(rv); nrv != nil {
				return c.connect(ctx, x, key, deadline)
			}
			return -1, nil, fault.New(fault.ServiceNotFound, key)
		case syscall.EAGAIN:
			wait := min(backoff, time.Until(deadline))
			if wait <= 0 {
				return -1, nil, fault.Wrap(fault.ServiceTimeout, "service timeout", os.ErrDeadlineExceeded)
			}
			if ctx.Err() != nil {
				return -1, nil, fault.Wrap(fault.ServiceTimeout, "service timeout", ctx.Err())
			}
			time.Sleep(wait)
			backoff = min(2*backoff, connectBackoffMax)
		default:
			if _, ok := err.(*fault.Fault); ok {
				return -1, nil, err
			}
			return -1, nil, fault.Wrap(fault.ConnectFailed, path, err)
		}
	}
}

// dial connects a non-blocking socket to path and registers it with the
// runtime poller. It returns the bare errno when connect fails and an
// openSocketFailed fault when socket() does.
func dial(x *exchange, path string) (int, *os.File, error) {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, nil, fault.Wrap(fault.OpenSocketFailed, path, err)
	}
	// A fresh sockaddr each time: SockaddrUnix does not write the name's
	// terminating NUL, so a reused one would keep a byte of a longer name.
	x.sa = unix.SockaddrUnix{Name: path}
	for {
		err = unix.Connect(fd, &x.sa)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		unix.Close(fd)
		return -1, nil, err
	}
	// The file keeps the descriptor non-blocking, so reads and writes
	// through it wait on the runtime poller and honour deadlines. (Never
	// call f.Fd: it would switch the descriptor to blocking mode.)
	return fd, os.NewFile(uintptr(fd), path), nil
}

// roundTrip writes the request on f and reads the response into r.
func (c *Client) roundTrip(ctx context.Context, r *Request, x *exchange, fd int, f *os.File) outcome {
	if err := f.SetDeadline(r.deadline); err != nil {
		return outcome{err: fault.Wrap(fault.SetsockoptFailed, "SetDeadline", err)}
	}
	if ctx.Done() != nil {
		stop := context.AfterFunc(ctx, func() { f.SetDeadline(time.Unix(1, 0)) })
		defer stop()
	}
	if err := writeRequest(fd, f, x); err != nil {
		if isTimeout(err) {
			return outcome{err: timeoutFault(ctx)}
		}
		return outcome{err: fault.Wrap(fault.SocketWriteFailed, r.key, bare(err)), retry: true}
	}
	if !r.sent {
		r.sent = true
		if r.batch != nil {
			r.batch.markSent()
		}
	}
	return c.readResponse(ctx, r, x, f)
}

// writeRequest writes head, data and trailer: first with one writev straight
// on the non-blocking socket (which sends a small request whole), then, if
// the socket buffer filled up, through the poller, honouring the deadline.
func writeRequest(fd int, f *os.File, x *exchange) error {
	parts := x.iov // a copy: a retry sends x.iov again from the start
	iov := parts[:]
	if len(iov[1]) == 0 {
		iov[1], iov[2] = iov[2], nil
		iov = iov[:2]
	}
	for len(iov) > 0 {
		n, err := unix.Writev(fd, iov)
		if err == unix.EINTR {
			continue
		}
		if err == unix.EAGAIN {
			break
		}
		if err != nil {
			return err
		}
		for n > 0 && len(iov) > 0 {
			if n < len(iov[0]) {
				iov[0] = iov[0][n:]
				n = 0
			} else {
				n -= len(iov[0])
				iov = iov[1:]
			}
		}
		for len(iov) > 0 && len(iov[0]) == 0 {
			iov = iov[1:]
		}
	}
	for _, b := range iov {
		if _, err := f.Write(b); err != nil {
			return err
		}
	}
	return nil
}

// readResponse reads and checks the response packet.
func (c *Client) readResponse(ctx context.Context, r *Request, x *exchange, f *os.File) outcome {
	p := x.parser
	p.Reset()
	got := 0
	for {
		var n int
		var err error
		if dst := p.Direct(); dst != nil {
			n, err = f.Read(dst)
			p.Advance(n)
			got += n
		} else {
			n, err = f.Read(x.rbuf)
			if n > 0 {
				got += n
				_, done, perr := p.Feed(x.rbuf[:n])
				if perr != nil {
					return outcome{err: fault.Wrap(fault.ResponsePacketFormatError, perr.Error(), perr), retry: true}
				}
				if done {
					return c.checkResponse(r, x)
				}
			}
		}
		if err == nil {
			continue
		}
		switch {
		case err == io.EOF && got == 0 && r.attrs&NoWaitAttr != 0:
			return outcome{} // noWait: the service took the request and closed
		case err == io.EOF:
			return outcome{err: fault.New(fault.IncompleteResponse, "Socket closed with incomplete response"), retry: got == 0}
		case isTimeout(err):
			return outcome{err: timeoutFault(ctx)}
		default:
			return outcome{err: fault.Wrap(fault.SocketReadFailed, r.key, bare(err)), retry: got == 0}
		}
	}
}

// checkResponse applies the integrity check and hands the data to r.
func (c *Client) checkResponse(r *Request, x *exchange) outcome {
	resp := &x.resp
	x.parser.Response(resp)
	if resp.ID != r.id || resp.ClientName != c.name {
		return outcome{retry: true, err: fault.New(fault.ResponsePacketFormatError,
			"response routing mismatch: got id "+strconv.FormatInt(resp.ID, 10)+" for "+strconv.Quote(resp.ClientName)+
				", want id "+strconv.FormatInt(r.id, 10)+" for "+strconv.Quote(c.name))}
	}
	r.resp.ServiceName = resp.ServiceName
	if resp.FaultCode != 0 {
		return outcome{complete: true, err: fault.New(fault.Code(resp.FaultCode), resp.FaultText)}
	}
	switch n := len(resp.Data); {
	case n == 0:
	case n > parserSmallField:
		r.buf = resp.Data // the parser's own buffer for this packet
		r.resp.Data = resp.Data
	default:
		r.buf = append(r.buf[:0], resp.Data...)
		r.resp.Data = r.buf
	}
	return outcome{complete: true}
}

func isTimeout(err error) bool { return errors.Is(err, os.ErrDeadlineExceeded) }

func timeoutFault(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fault.Wrap(fault.ServiceTimeout, "service timeout", err)
	}
	return fault.Wrap(fault.ServiceTimeout, "service timeout", os.ErrDeadlineExceeded)
}
