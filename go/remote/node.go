// Package remote takes a plutonManager beyond one machine on NATS
// (docs/remote.md): its Node exports every local service key through the
// nats.go micro framework (Exporter), so that clients on other hosts reach
// it, and runs a job pump (go/remote/jobs) for every key configured with
// "jobs true". With the URL "embedded" it first starts a NATS server with
// JetStream inside the manager (StartEmbedded).
package remote

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/pluton-go/pluton/go/client"
	"github.com/pluton-go/pluton/go/manager/config"
	"github.com/pluton-go/pluton/go/remote/jobs"
	"github.com/pluton-go/pluton/go/remote/natsrpc"
	"github.com/pluton-go/pluton/go/servicekey"
)

// EmbeddedURL is the -N value that runs an embedded NATS server.
const EmbeddedURL = "embedded"

// Options configure a Node.
type Options struct {
	// URL is the NATS server(s), e.g. "nats://10.0.0.5:4222" (a comma
	// separated list for a cluster), or EmbeddedURL.
	URL string
	// StoreDir is the embedded server's JetStream directory (EmbeddedURL only).
	StoreDir string
	// RendezvousDir is the manager's: the exporter and the pumps are its
	// clients, and the NATS URL is written to client.NATSURLFile in it.
	RendezvousDir string
	// Host names this host (default: the host name).
	Host string
	// Logf writes one log line (the manager's log).
	Logf func(format string, args ...any)
	// Debug, if set, gets the exporter's per-request traces.
	Debug *slog.Logger
	// Storage of the job streams (default file storage).
	Storage jetstream.StorageType
}

// Node is one manager's presence on NATS.
type Node struct {
	opts     Options
	embedded *Embedded
	url      string
	nc       *nats.Conn
	js       jetstream.JetStream
	local    *client.Client
	exporter *Exporter
	gateway  *Gateway

	syncs   chan snapshot
	done    chan struct{}
	smu     sync.Mutex // guards started, closed and sends on syncs
	started bool
	closed  bool

	mu    sync.Mutex
	kv    jetstream.KeyValue
	pumps map[string]*jobs.Pump
}

type snapshot struct {
	cfgs         []*config.Service
	held, halted map[string]bool
}

// New returns a node that does nothing until Start.
func New(opts Options) *Node {
	if opts.Host == "" {
		opts.Host, _ = os.Hostname()
	}
	if opts.Logf == nil {
		opts.Logf = func(string, ...any) {}
	}
	return &Node{opts: opts, url: opts.URL, syncs: make(chan snapshot, 1), done: make(chan struct{}),
		pumps: map[string]*jobs.Pump{}}
}

// Start connects to NATS (starting the embedded server first for
// EmbeddedURL), opens the gateway socket and writes the URL for local
// clients in the rendezvous directory. The manager calls it once it holds
// the rendezvous directory's lock, so that a second manager started on the
// same directory by mistake touches nothing of the first's. Services are
// exported from the first Sync on. Errors start with "-N <url>: ".
func (n *Node) Start() error {
	if err := n.start(); err != nil {
		return fmt.Errorf("-N %s: %w", n.opts.URL, err)
	}
	n.smu.Lock()
	n.started = true
	n.smu.Unlock()
	go n.run()
	return nil
}

func (n *Node) start() error {
	opts := n.opts
	if opts.URL == EmbeddedURL {
		if opts.StoreDir == "" {
			return fmt.Errorf("embedded NATS: no store directory")
		}
		e, err := StartEmbedded("pluton-"+endpointName(opts.Host), "", 0, opts.StoreDir)
		if err != nil {
			return err
		}
		n.embedded, n.url = e, e.URL()
		opts.Logf("NATS: embedded server on %s, JetStream in %s", n.url, opts.StoreDir)
	}
	nc, err := nats.Connect(n.url, nats.Name("plutonManager "+opts.Host), nats.MaxReconnects(-1),
		nats.ReconnectWait(500*time.Millisecond), nats.Timeout(5*time.Second),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				opts.Logf("NATS: disconnected: %v", err)
			}
		}),
		nats.ReconnectHandler(func(c *nats.Conn) { opts.Logf("NATS: reconnected to %s", c.ConnectedUrlRedacted()) }))
	if err != nil {
		n.closeEmbedded()
		return fmt.Errorf("NATS %s: %w", n.url, err)
	}
	n.nc = nc
	if n.js, err = jetstream.New(nc); err != nil {
		n.nc.Close()
		n.closeEmbedded()
		return fmt.Errorf("JetStream: %w", err)
	}
	if n.local, err = client.New("plutonManager-remote", client.WithLookup(opts.RendezvousDir), client.WithNATS("off")); err != nil {
		n.nc.Close()
		n.closeEmbedded()
		return fmt.Errorf("local client: %w", err)
	}
	n.exporter = NewExporter(nc, n.local, opts.Host, opts.Debug)
	if n.gateway, err = StartGateway(filepath.Join(opts.RendezvousDir, GatewaySocketName), natsrpc.NewCallerConn(nc),
		n.js, opts.Storage); err != nil {
		n.nc.Close()
		n.closeEmbedded()
		return err
	}
	urlFile := filepath.Join(opts.RendezvousDir, client.NATSURLFile)
	if err := os.WriteFile(urlFile+".tmp", []byte(nc.ConnectedUrlRedacted()+"\n"), 0o644); err == nil {
		_ = os.Rename(urlFile+".tmp", urlFile)
	}
	opts.Logf("NATS: connected to %s as host %s", nc.ConnectedUrlRedacted(), opts.Host)
	return nil
}

// URL returns the NATS URL in use (the embedded server's, if any).
func (n *Node) URL() string { return n.url }

// Conn returns the node's NATS connection.
func (n *Node) Conn() *nats.Conn { return n.nc }

func (n *Node) closeEmbedded() {
	if n.embedded != nil {
		n.embedded.Close()
	}
}

// Sync hands the node the running services and their hold/halt states. It
// never blocks: the node applies the latest snapshot on its own goroutine.
// The manager calls it after every scan, rollout and control.
func (n *Node) Sync(cfgs []*config.Service, held, halted map[string]bool) {
	s := snapshot{cfgs: cfgs, held: held, halted: halted}
	n.smu.Lock()
	defer n.smu.Unlock()
	if n.closed || !n.started {
		return
	}
	for {
		select {
		case n.syncs <- s:
			return
		default:
		}
		select {
		case <-n.syncs: // drop the stale one
		default:
		}
	}
}

func (n *Node) run() {
	defer close(n.done)
	for s := range n.syncs {
		n.apply(s)
	}
}

// jobWorkers is how many jobs of c's class run at once on this host:
// jobs-max-workers, or by default as many as its instances can serve at
// once (maximum-processes × maximum-threads).
func jobWorkers(c *config.Service) int {
	if c.JobsMaxWorkers > 0 {
		return c.JobsMaxWorkers
	}
	return c.MaximumProcesses * max(c.MaximumThreads, 1)
}

func (n *Node) apply(s snapshot) {
	keys := make([]servicekey.Key, 0, len(s.cfgs))
	classes := map[string]jobs.Class{}
	for _, c := range s.cfgs {
		keys = append(keys, c.Key)
		if c.Jobs && !c.Key.IsWildcard() {
			classes[c.Key.String()] = jobs.Class{Key: c.Key, Workers: jobWorkers(c), Overdrive: c.JobsOverdrive,
				Attempts: c.JobsMaxAttempts, TTL: c.JobsWorkerMaxTTL}
		}
	}
	if err := n.exporter.Update(keys); err != nil {
		n.opts.Logf("NATS Error: export: %v", err)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	for key, p := range n.pumps {
		if cls, ok := classes[key]; !ok || cls != p.Class() {
			p.Stop(5 * time.Second)
			delete(n.pumps, key)
			if !ok {
				n.opts.Logf("Job Class: %s stopped", key)
			}
		}
	}
	if len(classes) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if n.kv == nil {
		storage := n.opts.Storage
		kv, err := jobs.Ensure(ctx, n.js, storage)
		if err != nil {
			n.opts.Logf("NATS Error: jobs: %v", err)
			return
		}
		n.kv = kv
	}
	for key, cls := range classes {
		p := n.pumps[key]
		if p == nil {
			var err error
			p, err = jobs.StartPump(ctx, n.js, n.kv, n.local, n.opts.Host, cls, n.opts.Logf)
			if err != nil {
				n.opts.Logf("NATS Error: %v", err)
				continue
			}
			n.pumps[key] = p
			n.opts.Logf("Job Class: %s workers=%d overdrive=%t attempts=%d ttl=%s", key, cls.Workers, cls.Overdrive,
				cls.Attempts, cls.TTL)
		}
		p.SetState(s.held[key], s.halted[key])
	}
}

// RemoteStatus is what the node adds to the manager's status data.
type RemoteStatus struct {
	URL      string            `json:"url"`
	Host     string            `json:"host"`
	Status   string            `json:"status"` // the NATS connection's
	Exported []string          `json:"exported"`
	Jobs     []jobs.ClassStats `json:"jobs"`
}

// JobStats returns every job class's counts, sorted by key.
func (n *Node) JobStats(ctx context.Context) []jobs.ClassStats {
	n.mu.Lock()
	pumps := make([]*jobs.Pump, 0, len(n.pumps))
	for _, p := range n.pumps {
		pumps = append(pumps, p)
	}
	n.mu.Unlock()
	out := make([]jobs.ClassStats, 0, len(pumps))
	for _, p := range pumps {
		out = append(out, p.Stats(ctx))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

// Status returns the node's status (the manager's RemoteStatus accessor).
func (n *Node) Status(ctx context.Context) any {
	return RemoteStatus{URL: n.nc.ConnectedUrlRedacted(), Host: n.opts.Host, Status: n.nc.Status().String(),
		Exported: n.exporter.Keys(), Jobs: n.JobStats(ctx)}
}

// Close stops exporting and the pumps, letting the requests and jobs in
// progress finish for a few seconds, then disconnects (and stops the
// embedded server). Unacknowledged jobs are delivered again later.
func (n *Node) Close() {
	n.smu.Lock()
	if n.closed || !n.started {
		n.closed = true
		n.smu.Unlock()
		return
	}
	n.closed = true
	close(n.syncs)
	n.smu.Unlock()
	<-n.done
	n.gateway.Close(time.Second)
	n.exporter.Close(5 * time.Second)
	n.mu.Lock()
	var wg sync.WaitGroup
	for key, p := range n.pumps {
		wg.Add(1)
		go func() { defer wg.Done(); p.Stop(5 * time.Second) }()
		delete(n.pumps, key)
	}
	n.mu.Unlock()
	wg.Wait()
	_ = os.Remove(filepath.Join(n.opts.RendezvousDir, client.NATSURLFile))
	_ = n.nc.Drain()
	deadline := time.Now().Add(2 * time.Second)
	for !n.nc.IsClosed() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	n.nc.Close()
	n.local.Close()
	n.closeEmbedded()
}
