package remote

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/pluton-go/pluton/go/fault"
	"github.com/pluton-go/pluton/go/protocol"
	"github.com/pluton-go/pluton/go/remote/natsrpc"
)

// GatewaySocketName is the Unix socket in the rendezvous directory on which
// a manager started with -N relays Pluton request packets to NATS: a client
// without a NATS library (the Python, PHP and Perl SDKs) sends the request
// it could not deliver locally there, unchanged, and reads the response
// packet as from a service (docs/remote.md).
const GatewaySocketName = "plutonRemote.socket"

// Gateway limits.
const (
	gatewayMaxRequest  = 64 << 20        // the largest request packet taken
	gatewayReadTimeout = 5 * time.Second // a request must arrive within it
	gatewayMaxConns    = 256             // connections served at once; more wait in the backlog
)

// Gateway relays request packets from a Unix socket to NATS.
type Gateway struct {
	l      net.Listener
	caller *natsrpc.Caller
	jobs   *gatewayJobs // nil: job operations are answered -30
	sem    chan struct{}
	wg     sync.WaitGroup
	ctx    context.Context
	stop   context.CancelFunc
}

// StartGateway listens on path (replacing a stale socket) and relays each
// request received there with caller. With js (may be nil) it also takes
// the job operations (a request whose context has ContextJobSubmit or
// ContextJobResult), creating the job streams with storage when missing.
func StartGateway(path string, caller *natsrpc.Caller, js jetstream.JetStream, storage jetstream.StorageType) (*Gateway, error) {
	_ = os.Remove(path)
	l, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("gateway socket: %w", err)
	}
	if err := os.Chmod(path, 0o777); err != nil { // as the services' sockets: any local user may call
		l.Close()
		return nil, fmt.Errorf("gateway socket: %w", err)
	}
	ctx, stop := context.WithCancel(context.Background())
	var gj *gatewayJobs
	if js != nil {
		gj = &gatewayJobs{js: js, storage: storage}
	}
	g := &Gateway{l: l, caller: caller, jobs: gj, sem: make(chan struct{}, gatewayMaxConns), ctx: ctx, stop: stop}
	g.wg.Add(1)
	go g.accept()
	return g, nil
}

func (g *Gateway) accept() {
	defer g.wg.Done()
	for {
		select {
		case g.sem <- struct{}{}:
		case <-g.ctx.Done():
			return
		}
		c, err := g.l.Accept()
		if err != nil {
			<-g.sem
			if errors.Is(err, net.ErrClosed) {
				return
			}
			time.Sleep(10 * time.Millisecond)
			continue
		}
		g.wg.Add(1)
		go func() {
			defer g.wg.Done()
			defer func() { <-g.sem }()
			g.serve(c)
		}()
	}
}

// serve relays one request. A malformed or incomplete packet is dropped
// (the connection closed unanswered), as a service does.
func (g *Gateway) serve(c net.Conn) {
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(gatewayReadTimeout))
	var req protocol.Request
	if err := protocol.NewRequestDecoder(io.LimitReader(c, gatewayMaxRequest)).ReadRequest(&req); err != nil {
		return
	}
	resp := protocol.Response{ID: req.ID, ClientName: req.ClientName}
	budget := time.Duration(req.TimeoutMS) * time.Millisecond
	if budget <= 0 {
		budget = natsrpc.DefaultBudget
	}
	var err error
	if op, id, rest, isJob, cerr := jobOperation(req.Context); cerr != nil {
		err = cerr
	} else if isJob {
		// Answer a little before the client's own deadline (a tenth of
		// the budget, at most 100 ms), so that it gets the gateway's text.
		ctx, cancel := context.WithTimeout(g.ctx, budget-min(budget/10, 100*time.Millisecond))
		resp.ServiceName = "plutonRemote-gateway"
		resp.Data, err = g.jobs.do(ctx, op, id, req.ServiceKey, req.Data, rest, budget)
		cancel()
	} else if req.NoRemote {
		err = fault.New(fault.ServiceNotFound, req.ServiceKey+": noRemote request sent to the remote gateway")
	} else {
		var r natsrpc.Response
		r, err = g.caller.Call(g.ctx, natsrpc.Request{Key: req.ServiceKey, Data: req.Data, Context: req.Context,
			Deadline: time.Now().Add(budget), Client: req.ClientName, NoWait: req.NoWait})
		resp.ServiceName, resp.Data = r.Service, r.Data
	}
	if err != nil {
		f, ok := err.(*fault.Fault)
		if !ok {
			f = fault.New(fault.ServiceTimeout, err.Error())
		}
		resp.FaultCode, resp.FaultText, resp.Data = int64(f.Code), f.Text, nil
	}
	_ = c.SetWriteDeadline(time.Now().Add(gatewayReadTimeout))
	_, _ = c.Write(protocol.AppendResponse(nil, &resp))
}

// Close stops listening, removes the socket and waits up to wait for the
// requests in progress.
func (g *Gateway) Close(wait time.Duration) {
	path := g.l.Addr().String()
	_ = g.l.Close()
	_ = os.Remove(path)
	done := make(chan struct{})
	go func() { g.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(wait):
	}
	g.stop()
}
