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
	req    protocol.Request
	iov    [3][]byte
	sa     unix.SockaddrUnix
	names  nameCache
}

var exchanges = sync.Pool{New: func() any {
	return &exchange{
		head:   make([]byte, 0, 256),
		rbuf:   make([]byte, readBufferSize),
		parser: protocol.NewResponseParser(),
	}
}}

func getExchange() *exchange { return exchanges.Get().(*exchange) }

// putExchange returns x to the pool, dropping its references to the caller's
// data (the request's, and a large response payload the parser still knows).
func putExchange(x *exchange) {
	x.parser.Reset()
	x.iov = [3][]byte{}
	x.req = protocol.Request{}
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
	complete bool // a whole response packet arrived (affinity may be kept)
}

// DiedText is the text of the incompleteResponse (-20) fault of a request
// whose connection closed after the request was written and before a
// complete response came (docs/sdk.md rule 6). Such a request is never
// resent: the instance may have died while serving it, and resending a
// poison request would kill a second one.
const DiedText = "the service instance closed the connection without a response: it may have died while serving this request"

// execute runs a prepared request until it has a result; the caller then
// finishes it. With poller set (Batch) the connection waits on the runtime
// poller, else in poll(2) on the calling thread (see conn).
func (c *Client) execute(ctx context.Context, r *Request, x *exchange, poller bool) error {
	c.buildHead(r, x)
	var res outcome
	for attempt := 0; ; attempt++ {
		retryAllowed := attempt == 0 && r.attrs&(NoRetryAttr|NeedAffinityAttr) == 0
		held := r.aff
		r.aff = nil
		var cn conn
		if held != nil {
			cn = *held
			if poller {
				cn.register(r.key)
			}
		} else {
			var err error
			cn, err = c.connect(ctx, x, r.key, r.deadline, poller)
			if err != nil {
				var errno syscall.Errno
				if retryAllowed && errors.As(err, &errno) && errno == syscall.ECONNREFUSED &&
					time.Until(r.deadline) > refusedPause {
					c.debug("retry after refused connection", "key", r.key, "id", r.id)
					if err := sleep(ctx, refusedPause); err != nil {
						res = outcome{err: err}
						break
					}
					continue
				}
				if c.remote != nil && r.attrs&(NoRemoteAttr|KeepAffinityAttr|NeedAffinityAttr) == 0 && isNotFound(err) {
					res = c.callRemote(ctx, r) // docs/remote.md
					break
				}
				res = outcome{err: err}
				break
			}
		}
		if c.log != nil {
			c.log.Debug("sending", "key", r.key, "id", r.id, "bytes", len(r.data), "attempt", attempt+1,
				"affinityConnection", held != nil)
		}
		k := watch(ctx, cn.fd)
		res = c.roundTrip(ctx, r, x, cn)
		if k.stop() && res.err == nil {
			res.complete = false // the response arrived, but the connection is shut down
		}
		if res.complete && r.attrs&KeepAffinityAttr != 0 {
			if held == nil {
				held = new(conn)
			}
			*held = cn
			r.aff = held
		} else {
			cn.close()
		}
		// Once the request was written it is never resent (docs/sdk.md
		// rule 6): only a failed connect is retried, above.
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
func (c *Client) connect(ctx context.Context, x *exchange, key string, deadline time.Time, poller bool) (conn, error) {
	rv := c.rv.Load()
	t := rv.target(key)
	if t.err != nil {
		return conn{}, t.err
	}
	path := t.exact
	backoff := connectBackoffMin
	for {
		cn, err := dial(x, path, poller)
		switch err {
		case nil:
			return cn, nil
		case syscall.ENOENT:
			if path == t.exact {
				path = t.wildcard
				continue
			}
			if nrv := c.refresh(rv); nrv != nil {
				return c.connect(ctx, x, key, deadline, poller)
			}
			return conn{}, fault.New(fault.ServiceNotFound, key)
		case syscall.EAGAIN:
			wait := min(backoff, time.Until(deadline))
			if wait <= 0 {
				return conn{}, fault.Wrap(fault.ServiceTimeout, "service timeout", os.ErrDeadlineExceeded)
			}
			if err := sleep(ctx, wait); err != nil {
				return conn{}, err
			}
			backoff = min(2*backoff, connectBackoffMax)
		default:
			if _, ok := err.(*fault.Fault); ok {
				return conn{}, err
			}
			return conn{}, fault.Wrap(fault.ConnectFailed, path, err)
		}
	}
}

// sleep pauses for d, or until ctx is cancelled (then it returns the
// request's serviceTimeout fault).
func sleep(ctx context.Context, d time.Duration) error {
	if ctx.Done() == nil {
		time.Sleep(d)
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return timeoutFault(ctx)
	}
}

// roundTrip writes the request on cn and reads the response into r.
func (c *Client) roundTrip(ctx context.Context, r *Request, x *exchange, cn conn) outcome {
	if err := cn.setDeadline(r.deadline); err != nil {
		return outcome{err: fault.Wrap(fault.SetsockoptFailed, "SetDeadline", err)}
	}
	iov := x.iov // a copy: x.iov stays whole
	if err := cn.writev(iov[:], r.deadline); err != nil {
		if o, ok := interrupted(ctx, err); ok {
			return o
		}
		if errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNRESET) {
			// The other side closed before taking the whole request. It may
			// have answered first (a service refusing an oversize request
			// with fault 3, the manager answering fault 7): that answer is
			// the result. Otherwise the instance may have died on it.
			if o := c.readResponse(ctx, r, x, cn); o.complete {
				return o
			}
			return outcome{err: fault.Wrap(fault.IncompleteResponse, DiedText, bare(err))}
		}
		return outcome{err: fault.Wrap(fault.SocketWriteFailed, r.key, bare(err))}
	}
	if !r.sent {
		r.sent = true
		if r.batch != nil {
			r.batch.markSent()
		}
	}
	return c.readResponse(ctx, r, x, cn)
}

// interrupted turns an I/O error caused by the deadline or by the context
// (whose cancellation shuts the socket down) into the serviceTimeout
// outcome.
func interrupted(ctx context.Context, err error) (outcome, bool) {
	if ctx.Err() != nil || errors.Is(err, os.ErrDeadlineExceeded) {
		return outcome{err: timeoutFault(ctx)}, true
	}
	return outcome{}, false
}

// readResponse reads and checks the response packet.
func (c *Client) readResponse(ctx context.Context, r *Request, x *exchange, cn conn) outcome {
	p := x.parser
	p.Reset()
	got := 0
	err := cn.awaitResponse(r.deadline)
	for err == nil {
		var n int
		if dst := p.Direct(); dst != nil {
			n, err = cn.read(dst, r.deadline)
			p.Advance(n)
			got += n
			continue
		}
		n, err = cn.read(x.rbuf, r.deadline)
		if n > 0 {
			got += n
			_, done, perr := p.Feed(x.rbuf[:n])
			if perr != nil {
				return outcome{err: fault.Wrap(fault.ResponsePacketFormatError, perr.Error(), perr)}
			}
			if done {
				return c.checkResponse(r, x)
			}
		}
	}
	if o, ok := interrupted(ctx, err); ok {
		return o
	}
	switch {
	case err == io.EOF && got == 0 && r.attrs&NoWaitAttr != 0:
		return outcome{} // noWait: the service took the request and closed
	case err == io.EOF:
		return outcome{err: fault.New(fault.IncompleteResponse, DiedText)}
	case errors.Is(err, syscall.ECONNRESET):
		return outcome{err: fault.Wrap(fault.IncompleteResponse, DiedText, bare(err))}
	default:
		return outcome{err: fault.Wrap(fault.SocketReadFailed, r.key, bare(err))}
	}
}

// checkResponse applies the integrity check and hands the data to r. It
// reads the fields in place, so a response whose service name was seen
// recently costs no allocation beyond its data.
func (c *Client) checkResponse(r *Request, x *exchange) outcome {
	p := x.parser
	id := protocol.ParseNumber(p.Field(protocol.TypeRequestID))
	if name := p.Field(protocol.TypeClientName); id != r.id || string(name) != c.name {
		return outcome{err: fault.New(fault.ResponsePacketFormatError,
			"response routing mismatch: got id "+strconv.FormatInt(id, 10)+" for "+strconv.Quote(string(name))+
				", want id "+strconv.FormatInt(r.id, 10)+" for "+strconv.Quote(c.name))}
	}
	r.resp.ServiceName = x.names.intern(p.Field(protocol.TypeServiceName))
	if code := protocol.ParseNumber(p.Field(protocol.TypeFaultCode)); code != 0 {
		return outcome{complete: true, err: fault.New(fault.Code(code), string(p.Field(protocol.TypeFaultText)))}
	}
	switch data := p.Field(protocol.TypeResponseData); {
	case len(data) == 0:
	case len(data) > parserSmallField:
		r.buf = data // the parser's own buffer for this packet
		r.resp.Data = data
	default:
		r.buf = append(r.buf[:0], data...)
		r.resp.Data = r.buf
	}
	return outcome{complete: true}
}

// nameCache remembers the last few service names an exchange received, so
// that the usual response, from one of a handful of instances, reuses the
// name's string instead of allocating a new one.
type nameCache struct {
	names [8]string
	next  int
}

// intern returns b as a string, allocating only if it is not cached.
func (nc *nameCache) intern(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	for _, s := range nc.names {
		if s == string(b) {
			return s
		}
	}
	s := string(b)
	nc.names[nc.next] = s
	nc.next = (nc.next + 1) % len(nc.names)
	return s
}

func timeoutFault(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fault.Wrap(fault.ServiceTimeout, "service timeout", err)
	}
	return fault.Wrap(fault.ServiceTimeout, "service timeout", os.ErrDeadlineExceeded)
}
