package client

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pluton-go/pluton/go/fault"
	"github.com/pluton-go/pluton/go/remote/natsrpc"
	"github.com/pluton-go/pluton/go/version"
)

// DefaultTimeout is the timeout of a request when neither the client nor the
// request sets one (the original's 4000 ms).
const DefaultTimeout = 4 * time.Second

// Request ids run from FirstRequestID to LastRequestID and then wrap.
const (
	FirstRequestID = 100
	LastRequestID  = 10_000_000
)

// DebugEnv is the environment variable that turns on debug logging to
// stderr for clients created without WithLogger.
const DebugEnv = "plutonClientDebug"

// APIVersion returns the version of the client library.
func APIVersion() string { return version.Version }

// A Client sends requests to Pluton services. It is safe for concurrent use
// by any number of goroutines; there are no thread or ownership rules. Create
// one per program (or per component that wants its own name and timeout).
type Client struct {
	name     string // "<name>:<pid>", sent in every request and checked in every response
	location string // the lookup location
	timeout  time.Duration
	log      *slog.Logger
	rv       atomic.Pointer[resolver]
	ids      atomic.Int64
	reload   sync.Mutex
	reloaded time.Time       // last re-read of the lookup map, under reload
	remote   *natsrpc.Caller // keys not served locally, over NATS; nil: none (docs/remote.md)
}

// refreshInterval limits how often a miss re-reads the lookup map.
const refreshInterval = 500 * time.Millisecond

type config struct {
	lookup  string
	timeout time.Duration
	log     *slog.Logger
	nats    string
}

// An Option configures a Client.
type Option func(*config)

// WithLookup sets the lookup location: the manager's lookup map file or the
// rendezvous directory itself. Without it the client uses $plutonLookupMap,
// then the first of DefaultLookupPaths that exists (LookupPath).
func WithLookup(path string) Option { return func(c *config) { c.lookup = path } }

// WithTimeout sets the client's default per-request timeout (DefaultTimeout
// if not set or not positive).
func WithTimeout(d time.Duration) Option { return func(c *config) { c.timeout = d } }

// WithLogger sends debug records (connect, retry, failures) to l at level
// Debug. Without it, setting $plutonClientDebug logs them to stderr.
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.log = l } }

// NATSEnv is the environment variable naming the NATS server(s) through
// which a client reaches services that are not served locally, when
// WithNATS is not given.
const NATSEnv = "plutonNATS"

// NATSURLFile is the file in the rendezvous directory in which a manager
// started with a NATS URL writes the URL its clients should use.
const NATSURLFile = "plutonManager.nats"

// WithNATS makes the client send a request whose key is not served locally
// to the NATS server(s) at url (e.g. "nats://10.0.0.5:4222"), where another
// host's manager may export it (docs/remote.md). Without it the client uses
// $plutonNATS, else the URL its manager wrote in <R>/plutonManager.nats,
// else none; "off" turns remote calls off. Requests with NoRemote,
// KeepAffinity or NeedAffinity always stay local.
func WithNATS(url string) Option { return func(c *config) { c.nats = url } }

// New returns a client named name (sent as "<name>:<pid>"). It reads the
// lookup location once, to find the rendezvous directory, and fails with a
// *fault.Fault if that is impossible: openForMmapFailed (-33) if the location
// does not exist, mapInitializationFailed (-32) if it is not a lookup map.
func New(name string, opts ...Option) (*Client, error) {
	cfg := config{timeout: DefaultTimeout}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.timeout <= 0 {
		cfg.timeout = DefaultTimeout
	}
	if cfg.log == nil && os.Getenv(DebugEnv) != "" {
		cfg.log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	c := &Client{
		name:     fmt.Sprintf("%s:%d", name, os.Getpid()),
		location: LookupPath(cfg.lookup),
		timeout:  cfg.timeout,
		log:      cfg.log,
	}
	dir, err := ReadRendezvous(c.location)
	if err != nil {
		return nil, err
	}
	c.rv.Store(&resolver{dir: dir})
	c.ids.Store(FirstRequestID)
	if url := natsURL(cfg.nats, dir); url != "" {
		c.remote = natsrpc.NewCaller(url, c.name)
	}
	return c, nil
}

// natsURL picks the NATS URL: the option, $plutonNATS, the manager's file.
func natsURL(opt, rendezvous string) string {
	url := opt
	if url == "" {
		url = os.Getenv(NATSEnv)
	}
	if url == "" {
		if b, err := os.ReadFile(filepath.Join(rendezvous, NATSURLFile)); err == nil {
			url = strings.TrimSpace(string(b))
		}
	}
	if url == "off" {
		return ""
	}
	return url
}

// NATS returns the NATS URL used for keys not served locally, "" if none.
func (c *Client) NATS() string {
	if c.remote == nil {
		return ""
	}
	return c.remote.URL()
}

// Close releases the client's NATS connection, if it made one. Local
// requests need no closing; a closed client can still send them.
func (c *Client) Close() error {
	if c.remote != nil {
		c.remote.Close()
	}
	return nil
}

// Name returns the client name sent on the wire, "<name>:<pid>".
func (c *Client) Name() string { return c.name }

// Timeout returns the client's default per-request timeout.
func (c *Client) Timeout() time.Duration { return c.timeout }

// LookupPath returns the lookup location the client was created with.
func (c *Client) LookupPath() string { return c.location }

// Rendezvous returns the rendezvous directory in use.
func (c *Client) Rendezvous() string { return c.rv.Load().dir }

// Lookup resolves key without contacting the service: it parses the key
// (serviceKeyBad, -31) and looks for <R>/<key>.socket, then for the
// wildcard <R>/<App>..<Ver>.<Ser>.socket (serviceNotFound, -30).
func (c *Client) Lookup(key string) (Location, error) {
	rv := c.rv.Load()
	loc, err := rv.lookup(key)
	if f := (*fault.Fault)(nil); errors.As(err, &f) && f.Code == fault.ServiceNotFound {
		if nrv := c.refresh(rv); nrv != nil {
			return nrv.lookup(key)
		}
	}
	return loc, err
}

// refresh re-reads the lookup map after a miss, in case the manager was
// restarted with another rendezvous directory. It returns the new resolver,
// or nil if nothing changed.
func (c *Client) refresh(old *resolver) *resolver {
	c.reload.Lock()
	defer c.reload.Unlock()
	if cur := c.rv.Load(); cur != old {
		return cur
	}
	now := time.Now()
	if now.Sub(c.reloaded) < refreshInterval {
		return nil
	}
	c.reloaded = now
	dir, err := ReadRendezvous(c.location)
	if err != nil || dir == old.dir {
		return nil
	}
	nrv := &resolver{dir: dir}
	c.rv.Store(nrv)
	c.debug("rendezvous changed", "dir", dir)
	return nrv
}

// nextID returns the next request id: 100, 101, ... 10,000,000, 100, ...
func (c *Client) nextID() int64 {
	for {
		id := c.ids.Load()
		next := id + 1
		if next > LastRequestID {
			next = FirstRequestID
		}
		if c.ids.CompareAndSwap(id, next) {
			return id
		}
	}
}

func (c *Client) debug(msg string, args ...any) {
	if c.log != nil {
		c.log.Debug(msg, args...)
	}
}

// Call sends one request and waits for its response. data is not copied and
// must not change until Call returns. The request's deadline is the earlier
// of ctx's deadline and now plus the timeout (the client's, or Timeout(d));
// cancelling ctx ends the request at once.
//
// The error is nil or a *fault.Fault: the service's own code and text when
// the service answered with a fault (Response.ServiceName is then set), or a
// negative system code. Response.Data belongs to the caller.
//
// Call cannot hold an affinity connection (use a Request for that), so
// NeedAffinity always fails with noAffinity (-9).
func (c *Client) Call(ctx context.Context, key string, data []byte, opts ...RequestOption) (Response, error) {
	x := getExchange()
	var r Request
	r.key, r.data = key, data
	r.context = x.ctxBuf[:0]
	for i := range opts {
		r.apply(&opts[i])
	}
	err := c.prepare(ctx, &r)
	if err == nil {
		err = c.run(ctx, &r, x)
		r.finish(err)
	}
	x.ctxBuf = r.context[:0]
	putExchange(x)
	r.Close()
	return r.resp, err
}

// Do sends r and waits for its response; the result is also kept in r
// (Response, Err). Unlike Call it can keep and use an affinity connection.
// It fails with requestAlreadyAdded (-4) if r is in progress elsewhere.
func (c *Client) Do(ctx context.Context, r *Request) error {
	if err := c.prepare(ctx, r); err != nil {
		return err
	}
	x := getExchange()
	err := c.run(ctx, r, x)
	putExchange(x)
	r.finish(err)
	return err
}

// inFlight counts the Calls and Dos in progress in the process.
var inFlight atomic.Int32

// run executes a request in the calling goroutine. Waiting for the socket in
// poll(2) on the calling thread is the cheapest way for a lone request, but
// a thread blocked in a system call keeps its P (GOMAXPROCS slot) until the
// runtime takes it back, and threads woken in greater number than there are
// Ps fight over them: with 16 or 64 goroutines calling at once on 2 cores,
// waiting each on its own thread cost 40 % of the throughput. So a request
// waits on its thread only when no other Call or Do is in progress in the
// process; otherwise it waits on the runtime poller, as a Batch does.
func (c *Client) run(ctx context.Context, r *Request, x *exchange) error {
	defer inFlight.Add(-1)
	return c.execute(ctx, r, x, inFlight.Add(1) > 1)
}
