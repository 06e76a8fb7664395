// Package natsrpc is the wire contract of Pluton's remote calls over NATS
// (docs/remote.md): the subject of a service key, the headers a request and
// its response carry, and Caller, which sends one request to whichever host
// serves the key. go/client uses it for keys that are not served locally;
// go/remote's exporter answers on the other side.
package natsrpc

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/pluton-go/pluton/go/fault"
	"github.com/pluton-go/pluton/go/servicekey"
)

// SubjectPrefix starts the subject of every exported service key.
const SubjectPrefix = "pluton.svc"

// WildcardToken stands for the empty Function of a wildcard key
// (App..Ver.Ser) in a subject; escaping never produces it.
const WildcardToken = "~"

// Request headers.
const (
	// HeaderTimeout is the request's remaining budget in milliseconds when it
	// was sent; the exporter gives up when it has elapsed (relative, so the
	// hosts' clocks need not agree).
	HeaderTimeout = "Pluton-Timeout-Ms"
	// HeaderContext is the request's context, the raw 'j' payload
	// (docs/protocol.md) in standard base64.
	HeaderContext = "Pluton-Context"
	// HeaderClient is the calling client's name, "<name>:<pid>", for logs.
	HeaderClient = "Pluton-Client"
	// HeaderKey is the key the caller asked for; it tells a wildcard
	// service (App..Ver.Ser) which function was called.
	HeaderKey = "Pluton-Key"
	// HeaderNoWait is "1" for a noWait request: the exporter answers with an
	// empty response once an instance has read the request.
	HeaderNoWait = "Pluton-No-Wait"
)

// Response headers.
const (
	// HeaderService is the name of the instance that answered, as the
	// response packet's service name ("<name>:<pid>/0").
	HeaderService = "Pluton-Service"
	// HeaderHost names the host (exporter) that answered.
	HeaderHost = "Pluton-Host"
	// HeaderErrorCode and HeaderError are the micro framework's error
	// headers: the Pluton fault code in decimal, and the fault text made
	// one line. The exact text is the response body.
	HeaderErrorCode = "Nats-Service-Error-Code"
	HeaderError     = "Nats-Service-Error"
)

// DefaultBudget is the budget an exporter gives a request without
// HeaderTimeout (sent by a tool such as `nats req`).
const DefaultBudget = 4 * time.Second

// escapeToken writes one key part as a subject token: letters, digits, '-'
// and '_' are kept, every other byte is %XX.
func escapeToken(b *strings.Builder, s string) {
	const hex = "0123456789ABCDEF"
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
}

// KeySubject returns the subject tokens of a parsed key, without a prefix:
// App.Func.Ver.Ser, each part escaped (bytes other than letters, digits,
// '-' and '_' become %XX), the empty Function of a wildcard key being "~".
func KeySubject(k servicekey.Key) string {
	var b strings.Builder
	escapeToken(&b, k.Application)
	b.WriteByte('.')
	if k.IsWildcard() {
		b.WriteString(WildcardToken)
	} else {
		escapeToken(&b, k.Function)
	}
	b.WriteByte('.')
	b.WriteString(strconv.FormatUint(uint64(k.Version), 10))
	b.WriteByte('.')
	escapeToken(&b, k.Serialization.String())
	return b.String()
}

// Subject returns the subject a key's service is exported on:
// "pluton.svc." + KeySubject(k).
func Subject(k servicekey.Key) string { return SubjectPrefix + "." + KeySubject(k) }

// EncodeContext encodes a raw context payload for HeaderContext.
func EncodeContext(raw []byte) string { return base64.StdEncoding.EncodeToString(raw) }

// DecodeContext decodes HeaderContext.
func DecodeContext(s string) ([]byte, error) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("%s header: %w", HeaderContext, err)
	}
	return b, nil
}

// OneLine makes a fault text fit in a header value.
func OneLine(s string) string {
	if strings.ContainsAny(s, "\r\n") {
		s = strings.NewReplacer("\r", " ", "\n", " ").Replace(s)
	}
	return s
}

// Margin is how much earlier than the caller the exporter gives up, so that
// its serviceTimeout answer reaches the caller before the caller's own
// deadline: a tenth of the budget, at most 100 ms.
func Margin(budget time.Duration) time.Duration { return min(budget/10, 100*time.Millisecond) }

// Request is one request for Caller.Call.
type Request struct {
	Key      string
	Data     []byte
	Context  []byte    // raw 'j' payload, may be empty
	Deadline time.Time // the caller's deadline
	Client   string    // the client name, "<name>:<pid>"
	NoWait   bool
}

// Response is a successful answer.
type Response struct {
	Data    []byte
	Service string // the answering instance's name
	Host    string // the answering host
}

// Caller sends requests to NATS. It connects on first use and reconnects
// as the nats.go client does; it is safe for concurrent use.
type Caller struct {
	url  string
	name string

	mu     sync.Mutex
	nc     *nats.Conn
	shared bool // nc belongs to whoever made the Caller (NewCallerConn)
	err    error
	at     time.Time // of the last failed connect
}

// NewCaller returns a Caller for the NATS server(s) at url (a comma
// separated list is accepted); name is the NATS connection name.
func NewCaller(url, name string) *Caller { return &Caller{url: url, name: name} }

// NewCallerConn returns a Caller that uses nc, an open connection owned by
// the caller (Close then leaves it open).
func NewCallerConn(nc *nats.Conn) *Caller {
	return &Caller{url: nc.ConnectedUrlRedacted(), nc: nc, shared: true}
}

// URL returns the server URL the Caller was made with.
func (c *Caller) URL() string { return c.url }

// reconnectPause is how long a failed connect is remembered, so that a
// NATS server that is down costs one connect attempt per pause, not one per
// request.
const reconnectPause = time.Second

func (c *Caller) conn() (*nats.Conn, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.nc != nil && (c.shared || !c.nc.IsClosed()) {
		return c.nc, nil
	}
	if c.err != nil && time.Since(c.at) < reconnectPause {
		return nil, c.err
	}
	nc, err := nats.Connect(c.url, nats.Name(c.name), nats.Timeout(2*time.Second),
		nats.MaxReconnects(-1), nats.ReconnectWait(250*time.Millisecond))
	if err != nil {
		c.err, c.at = fmt.Errorf("NATS %s: %w", c.url, err), time.Now()
		return nil, c.err
	}
	c.nc, c.err = nc, nil
	return nc, nil
}

// Close closes the connection, if one was made.
func (c *Caller) Close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.nc != nil && !c.shared {
		c.nc.Close()
		c.nc = nil
	}
}

// Call sends req to the hosts serving its key: the exact key's subject,
// then, if no host serves it, its wildcard's. The error is a *fault.Fault:
// the remote service's or exporter's fault with its code and text,
// serviceNotFound (-30) when no host serves the key or NATS cannot be
// reached, serviceTimeout (-19) when the deadline passes or ctx ends.
func (c *Caller) Call(ctx context.Context, req Request) (Response, error) {
	k, err := servicekey.Parse(req.Key)
	if err != nil {
		return Response{}, fault.Wrap(fault.ServiceKeyBad, err.Error(), err)
	}
	nc, err := c.conn()
	if err != nil {
		return Response{}, fault.Wrap(fault.ServiceNotFound, req.Key+": not served locally, and "+err.Error(), err)
	}
	budget := time.Until(req.Deadline)
	if budget <= 0 {
		return Response{}, fault.Wrap(fault.ServiceTimeout, "service timeout", context.DeadlineExceeded)
	}
	msg := nats.NewMsg(Subject(k))
	msg.Data = req.Data
	msg.Header.Set(HeaderKey, req.Key)
	msg.Header.Set(HeaderTimeout, strconv.FormatInt((budget-Margin(budget)).Milliseconds(), 10))
	if len(req.Context) > 0 {
		msg.Header.Set(HeaderContext, EncodeContext(req.Context))
	}
	if req.Client != "" {
		msg.Header.Set(HeaderClient, req.Client)
	}
	if req.NoWait {
		msg.Header.Set(HeaderNoWait, "1")
	}
	request := func() (*nats.Msg, error) {
		if ctx.Done() == nil { // cheaper than a context with a deadline
			return nc.RequestMsg(msg, time.Until(req.Deadline))
		}
		cctx, cancel := context.WithDeadline(ctx, req.Deadline)
		defer cancel()
		return nc.RequestMsgWithContext(cctx, msg)
	}
	reply, err := request()
	if errors.Is(err, nats.ErrNoResponders) && !k.IsWildcard() {
		msg.Subject = Subject(k.Wildcard())
		reply, err = request()
	}
	switch {
	case err == nil:
		return decodeReply(reply)
	case errors.Is(err, nats.ErrNoResponders):
		return Response{}, fault.Wrap(fault.ServiceNotFound, req.Key+": no host serves it (local lookup and NATS "+c.url+")", err)
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, nats.ErrTimeout):
		return Response{}, fault.Wrap(fault.ServiceTimeout, "service timeout (remote)", context.DeadlineExceeded)
	case errors.Is(err, context.Canceled):
		return Response{}, fault.Wrap(fault.ServiceTimeout, "service timeout", ctx.Err())
	default:
		return Response{}, fault.Wrap(fault.ServiceNotFound, req.Key+": NATS "+c.url+": "+err.Error(), err)
	}
}

// decodeReply turns a reply message into a response or its fault.
func decodeReply(m *nats.Msg) (Response, error) {
	resp := Response{Service: m.Header.Get(HeaderService), Host: m.Header.Get(HeaderHost)}
	if code := m.Header.Get(HeaderErrorCode); code != "" {
		n, err := strconv.ParseInt(code, 10, 64)
		if err != nil || n == 0 {
			return resp, fault.New(fault.ResponsePacketFormatError, "remote reply: bad "+HeaderErrorCode+" "+strconv.Quote(code))
		}
		text := string(m.Data)
		if text == "" {
			text = m.Header.Get(HeaderError)
		}
		return resp, fault.New(fault.Code(n), text)
	}
	resp.Data = m.Data
	return resp, nil
}
