package client

import (
	"sync/atomic"
	"time"

	"github.com/pluton-go/pluton/go/fault"
	"github.com/pluton-go/pluton/go/protocol"
)

// Attributes are the per-request flags of the protocol, with the original's
// bit values.
type Attributes uint16

const (
	// NoWaitAttr: the request completes, with no fault and no data, once a
	// service instance has accepted and read it; no response is read.
	NoWaitAttr Attributes = 0x0001
	// NoRemoteAttr: a proxy must not relay the request off this host.
	NoRemoteAttr Attributes = 0x0002
	// NoRetryAttr: never retry the request (see the package documentation).
	NoRetryAttr Attributes = 0x0004
	// KeepAffinityAttr: after a complete response keep the connection, so
	// that the next use of the same Request reaches the same service
	// instance. Requires NoRetryAttr; excludes NoWaitAttr.
	KeepAffinityAttr Attributes = 0x0008
	// NeedAffinityAttr: fail with noAffinity (-9) unless the Request holds an
	// affinity connection; such a request is never retried.
	NeedAffinityAttr Attributes = 0x0010
	// AllAttrs is every attribute.
	AllAttrs Attributes = 0xFFFF
)

// Response is the answer to a request.
type Response struct {
	// Data is the response data, nil when empty, after a noWait request, or
	// when the service sent a fault.
	Data []byte
	// ServiceName identifies the instance that answered, e.g. "echo:4242/0";
	// empty after a noWait request or when no response arrived.
	ServiceName string
}

type optKind uint8

const (
	optAttr optKind = iota + 1
	optContext
	optTimeout
)

// A RequestOption sets an attribute, a context pair or the timeout of a
// request. Options are plain values, so passing them costs no allocation.
type RequestOption struct {
	kind       optKind
	attrs      Attributes
	key, value string
	timeout    time.Duration
}

// NoWait makes the request complete once a service instance has read it.
func NoWait() RequestOption { return RequestOption{kind: optAttr, attrs: NoWaitAttr} }

// NoRemote forbids proxies to relay the request to another host.
func NoRemote() RequestOption { return RequestOption{kind: optAttr, attrs: NoRemoteAttr} }

// NoRetry forbids the retry described in the package documentation.
func NoRetry() RequestOption { return RequestOption{kind: optAttr, attrs: NoRetryAttr} }

// KeepAffinity keeps the connection after the response (needs NoRetry).
func KeepAffinity() RequestOption { return RequestOption{kind: optAttr, attrs: KeepAffinityAttr} }

// NeedAffinity requires the connection kept by an earlier KeepAffinity use
// of the same Request.
func NeedAffinity() RequestOption { return RequestOption{kind: optAttr, attrs: NeedAffinityAttr} }

// WithAttributes sets any attributes.
func WithAttributes(a Attributes) RequestOption { return RequestOption{kind: optAttr, attrs: a} }

// Context adds a context pair, which the service reads with its context
// lookup. Keys starting with "pluton." are reserved: the request then fails
// with contextReservedNamespace (-23) before anything is sent.
func Context(key, value string) RequestOption {
	return RequestOption{kind: optContext, key: key, value: value}
}

// Timeout sets the request's timeout instead of the client's default.
func Timeout(d time.Duration) RequestOption { return RequestOption{kind: optTimeout, timeout: d} }

// Request states.
const (
	stateIdle int32 = iota
	stateRunning
	stateDone
)

// errNotAdded is the fault of a request that was never sent.
var errNotAdded = fault.New(fault.RequestNotAdded, "")

// A Request is one request and, after it completes, its response. Use it
// instead of Client.Call to keep several requests in flight from one
// goroutine (Batch), to hold an affinity connection, or to reuse buffers: a
// reused Request reuses its response buffer.
//
// A Request may be reused once it has completed, but must not be touched
// while it is in progress (between Do or Batch.Add and its completion).
type Request struct {
	key     string
	data    []byte
	context []byte // encoded 'j' payload
	ctxErr  error  // a reserved context key was set
	attrs   Attributes
	timeout time.Duration

	state    atomic.Int32
	id       int64
	deadline time.Time
	start    time.Time
	end      time.Time
	resp     Response
	err      error
	buf      []byte // response buffer, reused
	aff      *conn  // the affinity connection, if held
	batch    *Batch
	sent     bool
	queued   bool // in its batch's completed queue

	// Handle is free for the caller's use (the original's client handle).
	Handle any
}

// NewRequest returns a request for the service key with data (not copied:
// it must not change while the request is in progress).
func NewRequest(key string, data []byte, opts ...RequestOption) *Request {
	r := &Request{key: key, data: data}
	for i := range opts {
		r.apply(&opts[i])
	}
	return r
}

func (r *Request) apply(o *RequestOption) {
	switch o.kind {
	case optAttr:
		r.attrs |= o.attrs
	case optContext:
		r.SetContext(o.key, o.value)
	case optTimeout:
		r.timeout = o.timeout
	}
}

// Key returns the service key.
func (r *Request) Key() string { return r.key }

// SetKey changes the service key. A held affinity connection is closed if
// the key changes.
func (r *Request) SetKey(key string) {
	if key != r.key {
		r.Close()
	}
	r.key = key
}

// Data returns the request data.
func (r *Request) Data() []byte { return r.data }

// SetData sets the request data (not copied).
func (r *Request) SetData(data []byte) { r.data = data }

// SetContext adds a context pair; setting a key twice sends it twice and the
// service sees the last value. A key with the reserved "pluton." prefix is
// not added: SetContext returns a contextReservedNamespace (-23) fault and
// the request fails with it until ClearContext.
func (r *Request) SetContext(key, value string) error {
	if protocol.IsReservedContextKey(key) {
		r.ctxErr = fault.New(fault.ContextReservedNamespace, "Context Key uses reserved prefix of 'pluton.'")
		return r.ctxErr
	}
	r.context = protocol.AppendContext(r.context, key, value)
	return nil
}

// ClearContext removes every context pair.
func (r *Request) ClearContext() {
	r.context = r.context[:0]
	r.ctxErr = nil
}

// Attributes returns the request's attributes.
func (r *Request) Attributes() Attributes { return r.attrs }

// HasAttributes reports whether any attribute of a is set (as the original's
// getAttribute).
func (r *Request) HasAttributes(a Attributes) bool { return r.attrs&a != 0 }

// SetAttributes sets the attributes of a; they stay set until cleared.
func (r *Request) SetAttributes(a Attributes) { r.attrs |= a }

// ClearAttributes clears the attributes of a.
func (r *Request) ClearAttributes(a Attributes) { r.attrs &^= a }

// SetTimeout sets the request's timeout; 0 means the client's default.
func (r *Request) SetTimeout(d time.Duration) { r.timeout = d }

// InProgress reports whether the request has been started and has not yet
// completed.
func (r *Request) InProgress() bool { return r.state.Load() == stateRunning }

// Err returns the request's outcome: nil after success, a *fault.Fault
// otherwise; requestNotAdded (-3) before the request was first sent, and
// requestInProgress (-5) while it is in flight.
func (r *Request) Err() error {
	switch r.state.Load() {
	case stateIdle:
		if r.err == nil {
			return errNotAdded
		}
	case stateRunning:
		return fault.New(fault.RequestInProgress, "")
	}
	return r.err
}

// FaultCode returns the code of Err: 0 (noFault) after success.
func (r *Request) FaultCode() fault.Code {
	if f, ok := r.Err().(*fault.Fault); ok {
		return f.Code
	}
	return fault.NoFault
}

// Response returns the response. Its Data stays valid until the request is
// sent again.
func (r *Request) Response() Response { return r.resp }

// ID returns the id of the request's last send.
func (r *Request) ID() int64 { return r.id }

// Elapsed returns how long the last send took, from its start to its
// completion.
func (r *Request) Elapsed() time.Duration { return r.end.Sub(r.start) }

// HasAffinity reports whether the request holds an affinity connection.
func (r *Request) HasAffinity() bool { return r.aff != nil }

// Close closes the affinity connection, if any, which ends the affinity
// (the service instance goes back to accepting). It must not be called
// while the request is in progress.
func (r *Request) Close() {
	if r.aff != nil {
		r.aff.close()
		r.aff = nil
	}
}

// Reset closes any affinity connection and clears everything but the
// response buffer, which is kept for reuse.
func (r *Request) Reset() {
	r.Close()
	buf := r.buf[:0]
	ctx := r.context[:0]
	*r = Request{buf: buf, context: ctx}
}
