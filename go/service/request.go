package service

import (
	"errors"
	"time"

	"github.com/pluton-go/pluton/go/fault"
	"github.com/pluton-go/pluton/go/protocol"
	"github.com/pluton-go/pluton/go/servicekey"
)

// Request is the request being served. Next returns the same *Request every
// time, refilled: a Request, and the slices it returns, are valid until the
// next call of Next.
type Request struct {
	s  *Service
	pr protocol.Request

	key       servicekey.Key
	keyParsed bool
	ctx       map[string]string
	ctxErr    error
	ctxParsed bool
	readAt    time.Time // when the packet was complete
}

func (r *Request) reset(now time.Time) {
	r.readAt = now
	r.pr = protocol.Request{}
	r.key, r.keyParsed = servicekey.Key{}, false
	r.ctx, r.ctxErr, r.ctxParsed = nil, nil, false
}

// ID returns the request id the client chose (0 under plTest).
func (r *Request) ID() int64 { return r.pr.ID }

// Key returns the service key the client asked for, which for a wildcard
// service names the real function. (A packet whose key does not parse with
// the client rules never reaches the application: it is a malformed packet.)
func (r *Request) Key() servicekey.Key {
	if !r.keyParsed {
		r.key, _ = servicekey.Parse(r.pr.ServiceKey)
		r.keyParsed = true
	}
	return r.key
}

// RawKey returns the service key exactly as the client sent it.
func (r *Request) RawKey() string { return r.pr.ServiceKey }

// ClientName returns the client's name, "<name>:<pid>", or "" (plTest).
func (r *Request) ClientName() string { return r.pr.ClientName }

// Data returns the request data. The slice is valid until the next Next.
func (r *Request) Data() []byte { return r.pr.Data }

// Timeout returns the client's timeout (0 when it set none).
func (r *Request) Timeout() time.Duration { return time.Duration(r.pr.TimeoutMS) * time.Millisecond }

// Remaining returns how much of the client's timeout is left: the
// request's timeout (the 'l' field) minus the time since the request was
// read. It returns 0 when the client set no timeout, and a negative
// duration once the client's deadline has passed (the client has given up;
// the answer will not be read).
func (r *Request) Remaining() time.Duration {
	if r.pr.TimeoutMS <= 0 {
		return 0
	}
	left := r.Timeout() - time.Since(r.readAt)
	if left == 0 {
		left = -1
	}
	return left
}

// NoWait reports whether the client asked not to wait for the response. The
// connection is already closed; Respond and Fault only count the request.
func (r *Request) NoWait() bool { return r.pr.NoWait }

// KeepAffinity reports whether the client keeps the connection for its next
// request, which this instance will then serve.
func (r *Request) KeepAffinity() bool { return r.pr.KeepAffinity }

// Context returns the value the client set for key, and whether it set one.
// The context is decoded on the first lookup. A malformed context is a
// *fault.Fault with code ContextFormatError (-22) and the decoder's message,
// returned by every lookup of the request.
func (r *Request) Context(key string) (value string, ok bool, err error) {
	m, err := r.ContextMap()
	value, ok = m[key]
	return value, ok, err
}

// ContextMap returns every context pair of the request (the last value of a
// repeated key wins). A malformed context is a *fault.Fault with code
// ContextFormatError (-22) and the decoder's message.
func (r *Request) ContextMap() (map[string]string, error) {
	if !r.ctxParsed {
		r.ctxParsed = true
		m, err := protocol.ContextMap(r.pr.Context)
		if err != nil {
			var de *protocol.DecodeError
			msg := err.Error()
			if errors.As(err, &de) {
				msg = de.Msg
			}
			r.ctxErr = fault.Wrap(fault.ContextFormatError, msg, err)
		} else {
			r.ctx = m
		}
	}
	return r.ctx, r.ctxErr
}

// Respond sends data as the response. Exactly one of Respond or Fault
// answers a request; responding twice, or after Fault, is the fault
// SendResponseNotNext (-59). A client that has gone away is not an
// error. Any other write failure is a *fault.Fault with code
// SocketWriteFailed (-17) and ends the loop: Next returns it.
func (r *Request) Respond(data []byte) error {
	return r.s.respond(r, fault.NoFault, "", data)
}

// Fault sends a fault instead of a response: the service's own code (above
// 10; 1 to 10 are reserved for the meanings of package fault) and a short
// text. A zero code sends an empty response. Errors are those of Respond.
func (r *Request) Fault(code int, text string) error {
	return r.s.respond(r, fault.Code(code), text, nil)
}
