package remote

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"

	"github.com/pluton-go/pluton/go/client"
	"github.com/pluton-go/pluton/go/fault"
	"github.com/pluton-go/pluton/go/protocol"
	"github.com/pluton-go/pluton/go/remote/natsrpc"
	"github.com/pluton-go/pluton/go/servicekey"
	"github.com/pluton-go/pluton/go/version"
)

// ServiceName is the micro service name every manager registers, so that
// `nats micro info pluton` lists every host's exported keys.
const ServiceName = "pluton"

// MaxRelays bounds the requests one exporter relays at once; more wait.
const MaxRelays = 1024

// Exporter answers NATS requests for the local services: one micro
// endpoint per service key, on natsrpc.Subject(key), in the queue group
// "pluton-<key subject>" so that the requests for a key spread over every
// host that serves it. It is a client of the local services: each request
// is relayed to the key's local socket as a normal Pluton request.
type Exporter struct {
	nc    *nats.Conn
	local *client.Client
	host  string
	log   *slog.Logger
	sem   chan struct{}
	ctx   context.Context
	stop  context.CancelFunc

	mu   sync.Mutex
	keys []string
	svc  micro.Service
	wg   sync.WaitGroup
}

// NewExporter returns an exporter relaying to the services of the local
// client; host names this host in responses and discovery.
func NewExporter(nc *nats.Conn, local *client.Client, host string, log *slog.Logger) *Exporter {
	ctx, stop := context.WithCancel(context.Background())
	return &Exporter{nc: nc, local: local, host: host, log: log, sem: make(chan struct{}, MaxRelays), ctx: ctx, stop: stop}
}

// endpointName turns a key into a micro endpoint name ([A-Za-z0-9_-]).
func endpointName(key string) string {
	var b strings.Builder
	for i := 0; i < len(key); i++ {
		c := key[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_':
			b.WriteByte(c)
		case c == '.':
			b.WriteByte('_')
		default:
			fmt.Fprintf(&b, "-%02X", c)
		}
	}
	return b.String()
}

// Update exports exactly keys. When the set changed, a new micro service
// with one endpoint per key is registered before the old one is stopped
// (drained), so that no request finds no responder during a reload.
func (e *Exporter) Update(keys []servicekey.Key) error {
	names := make([]string, 0, len(keys))
	byName := make(map[string]servicekey.Key, len(keys))
	for _, k := range keys {
		names = append(names, k.String())
		byName[k.String()] = k
	}
	sort.Strings(names)
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.svc != nil && slicesEqual(names, e.keys) {
		return nil
	}
	var svc micro.Service
	if len(names) > 0 {
		var err error
		svc, err = micro.AddService(e.nc, micro.Config{Name: ServiceName, Version: version.Version,
			Description: "Pluton services of " + e.host,
			Metadata:    map[string]string{"host": e.host}})
		if err != nil {
			return fmt.Errorf("micro service: %w", err)
		}
		for _, name := range names {
			k := byName[name]
			if err := svc.AddEndpoint(endpointName(name), e.handler(k),
				micro.WithEndpointSubject(natsrpc.Subject(k)),
				micro.WithEndpointQueueGroup("pluton-"+natsrpc.KeySubject(k)),
				micro.WithEndpointMetadata(map[string]string{"key": name})); err != nil {
				_ = svc.Stop()
				return fmt.Errorf("export %s: %w", name, err)
			}
		}
	}
	if e.svc != nil {
		_ = e.svc.Stop()
	}
	e.svc, e.keys = svc, names
	return nil
}

func slicesEqual(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// Keys returns the exported keys, sorted.
func (e *Exporter) Keys() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.keys...)
}

// Close stops exporting and waits up to wait for the requests being relayed.
func (e *Exporter) Close(wait time.Duration) {
	e.mu.Lock()
	if e.svc != nil {
		_ = e.svc.Stop()
		e.svc = nil
	}
	e.keys = nil
	e.mu.Unlock()
	done := make(chan struct{})
	go func() { e.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(wait):
	}
	e.stop()
}

// handler relays each request in its own goroutine: a micro handler runs
// on the subscription's goroutine, one request at a time. With MaxRelays
// in progress it waits, so that further requests wait in the
// subscription's pending buffer rather than as goroutines.
func (e *Exporter) handler(k servicekey.Key) micro.HandlerFunc {
	return func(req micro.Request) {
		select {
		case e.sem <- struct{}{}:
		case <-e.ctx.Done():
			e.respondFault(req, fault.New(fault.ServiceUnavailable, k.String()+": host "+e.host+" is shutting down"), "")
			return
		}
		e.wg.Add(1)
		go func() {
			defer e.wg.Done()
			defer func() { <-e.sem }()
			e.relay(k, req)
		}()
	}
}

// relay sends one request to the local service and answers it.
func (e *Exporter) relay(k servicekey.Key, req micro.Request) {
	start := time.Now()
	h := req.Headers()
	key := k.String()
	if asked := h.Get(natsrpc.HeaderKey); asked != "" && asked != key {
		ak, err := servicekey.Parse(asked)
		if err != nil || !k.IsWildcard() || ak.Wildcard().String() != k.String() {
			e.respondFault(req, fault.New(fault.ServiceKeyBad, fmt.Sprintf("%s header %q does not match the exported key %s",
				natsrpc.HeaderKey, asked, key)), "")
			return
		}
		key = asked
	}
	budget := natsrpc.DefaultBudget
	if v := h.Get(natsrpc.HeaderTimeout); v != "" {
		ms, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			e.respondFault(req, fault.New(fault.ServiceKeyBad, fmt.Sprintf("%s header %q is not a number", natsrpc.HeaderTimeout, v)), "")
			return
		}
		budget = time.Duration(ms) * time.Millisecond
	}
	if budget <= 0 {
		e.respondFault(req, fault.New(fault.ServiceTimeout, "service timeout: the request's deadline passed before host "+e.host+" received it"), "")
		return
	}
	opts := []client.RequestOption{client.NoRemote(), client.Timeout(budget)}
	if v := h.Get(natsrpc.HeaderContext); v != "" {
		raw, err := natsrpc.DecodeContext(v)
		var pairs []protocol.ContextPair
		if err == nil {
			pairs, err = protocol.ParseContext(raw)
		}
		if err != nil {
			e.respondFault(req, fault.New(fault.ContextReservedNamespace, "bad request context: "+err.Error()), "")
			return
		}
		for _, p := range pairs {
			opts = append(opts, client.Context(p.Key, p.Value))
		}
	}
	if h.Get(natsrpc.HeaderNoWait) == "1" {
		opts = append(opts, client.NoWait())
	}
	// The budget is enforced by the Timeout option. The context is not
	// cancellable on purpose: with one derived from e.ctx a relay took
	// 230 µs instead of 47 µs (docs/remote.md, Cost). Relays in progress
	// at shutdown end within their budgets.
	resp, err := e.local.Call(context.Background(), key, req.Data(), opts...)
	if e.log != nil {
		e.log.Debug("relayed", "key", key, "client", h.Get(natsrpc.HeaderClient), "elapsed", time.Since(start), "err", err)
	}
	if err != nil {
		f, ok := err.(*fault.Fault)
		if !ok {
			f = fault.New(fault.ServiceTimeout, err.Error())
		}
		if f.Code == fault.ServiceTimeout {
			f = fault.New(f.Code, f.Text+" (enforced by host "+e.host+" after "+budget.String()+")")
		}
		e.respondFault(req, f, resp.ServiceName)
		return
	}
	hdr := micro.Headers{natsrpc.HeaderHost: {e.host}}
	if resp.ServiceName != "" {
		hdr[natsrpc.HeaderService] = []string{resp.ServiceName}
	}
	_ = req.Respond(resp.Data, micro.WithHeaders(hdr))
}

// respondFault answers with a fault: its code in Nats-Service-Error-Code,
// its text in the body (exact) and in Nats-Service-Error (one line).
func (e *Exporter) respondFault(req micro.Request, f *fault.Fault, service string) {
	hdr := micro.Headers{natsrpc.HeaderHost: {e.host}}
	if service != "" {
		hdr[natsrpc.HeaderService] = []string{service}
	}
	text := f.Text
	desc := natsrpc.OneLine(text)
	if desc == "" {
		desc = "fault " + strconv.Itoa(int(f.Code))
	}
	_ = req.Error(strconv.FormatInt(int64(f.Code), 10), desc, []byte(text), micro.WithHeaders(hdr))
}
