package jobs

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/pluton-go/pluton/go/client"
	"github.com/pluton-go/pluton/go/fault"
	"github.com/pluton-go/pluton/go/protocol"
	"github.com/pluton-go/pluton/go/remote/natsrpc"
	"github.com/pluton-go/pluton/go/servicekey"
)

// Class is the job configuration of one service key.
type Class struct {
	Key       servicekey.Key
	Workers   int           // jobs in progress at once on this host (jobs-max-workers, else maximum-processes)
	Overdrive bool          // fetch in batches, keep taking while the queue is not empty
	Attempts  int           // deliveries before the dead letter (jobs-max-attempts)
	TTL       time.Duration // the longest one attempt may take (jobs-worker-max-ttl)
}

// ackMargin is added to the TTL for the consumer's AckWait: a job whose
// pump died (host crash) is delivered again after TTL + ackMargin.
const ackMargin = 5 * time.Second

// overdriveBatch is how many jobs a worker fetches at once in overdrive.
const overdriveBatch = 16

// State of a pump.
const (
	StateRunning = "running"
	StateHeld    = "held"    // no new deliveries; jobs in progress finish
	StateHalted  = "halted"  // drained: no new deliveries and none in progress
	StateHalting = "halting" // no new deliveries; jobs in progress finishing
	StateStopped = "stopped"
)

// ClassStats are one class's counts. Queued and InFlight are the cluster's
// (from JetStream); the others count this host's pump since it started.
type ClassStats struct {
	Key         string `json:"key"`
	State       string `json:"state"`
	Workers     int    `json:"workers"`
	Queued      uint64 `json:"queued"`      // waiting for a delivery
	InFlight    int    `json:"inFlight"`    // delivered, not yet acknowledged, on any host
	Running     int64  `json:"running"`     // in progress on this host
	Done        int64  `json:"done"`        // answered and stored
	Failed      int64  `json:"failed"`      // dead-lettered after their last attempt
	Redelivered int64  `json:"redelivered"` // deliveries after the first
	Duplicates  int64  `json:"duplicates"`  // deliveries of a job whose result existed (acknowledged, not run)
	Error       string `json:"error,omitempty"`
}

// Pump delivers one class's jobs to the local service.
type Pump struct {
	cls   Class
	js    jetstream.JetStream
	kv    jetstream.KeyValue
	local *client.Client
	host  string
	logf  func(string, ...any)

	cons   jetstream.Consumer
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	paused  string // "", StateHeld or StateHalting
	lastErr string

	running, done, failed, redelivered, duplicates atomic.Int64

	infoMu   sync.Mutex
	info     *jetstream.ConsumerInfo
	infoTime time.Time
}

// ConsumerName returns the durable consumer every host's pump of class k
// shares, so that its jobs spread over the hosts.
func ConsumerName(k servicekey.Key) string {
	var b strings.Builder
	b.WriteString("pluton_")
	for _, c := range []byte(natsrpc.KeySubject(k)) {
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

// StartPump creates (or joins) the class's consumer and starts its workers.
// local must be a client of the local rendezvous directory.
func StartPump(ctx context.Context, js jetstream.JetStream, kv jetstream.KeyValue, local *client.Client, host string,
	cls Class, logf func(string, ...any)) (*Pump, error) {
	cls.Workers = max(cls.Workers, 1)
	cls.Attempts = max(cls.Attempts, 1)
	if cls.TTL <= 0 {
		cls.TTL = time.Minute
	}
	cons, err := js.CreateOrUpdateConsumer(ctx, Stream, jetstream.ConsumerConfig{
		Durable: ConsumerName(cls.Key), FilterSubject: JobSubject(cls.Key), AckPolicy: jetstream.AckExplicitPolicy,
		AckWait: cls.TTL + ackMargin, MaxDeliver: -1, MaxAckPending: 100000,
		Description: "pluton job class " + cls.Key.String()})
	if err != nil {
		return nil, fmt.Errorf("job class %s: consumer: %w", cls.Key, err)
	}
	p := &Pump{cls: cls, js: js, kv: kv, local: local, host: host, logf: logf, cons: cons}
	wctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	for range cls.Workers {
		p.wg.Add(1)
		go p.worker(wctx)
	}
	return p, nil
}

// Class returns the pump's configuration.
func (p *Pump) Class() Class { return p.cls }

// SetState applies the service's control state: held stops new
// deliveries, halted stops them and lets the jobs in progress finish
// (State then reads halted once none is left), neither resumes.
func (p *Pump) SetState(held, halted bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case halted:
		p.paused = StateHalting
	case held:
		p.paused = StateHeld
	default:
		p.paused = ""
	}
}

func (p *Pump) pausedState() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.paused
}

// State returns running, held, halting, halted or stopped.
func (p *Pump) State() string {
	p.mu.Lock()
	paused := p.paused
	p.mu.Unlock()
	switch {
	case p.cancel == nil:
		return StateStopped
	case paused == StateHalting && p.running.Load() == 0:
		return StateHalted
	case paused != "":
		return paused
	}
	return StateRunning
}

// Stats returns the class's counts; Queued and InFlight are at most a
// second old.
func (p *Pump) Stats(ctx context.Context) ClassStats {
	st := ClassStats{Key: p.cls.Key.String(), State: p.State(), Workers: p.cls.Workers, Running: p.running.Load(),
		Done: p.done.Load(), Failed: p.failed.Load(), Redelivered: p.redelivered.Load(), Duplicates: p.duplicates.Load()}
	p.infoMu.Lock()
	defer p.infoMu.Unlock()
	if p.info == nil || time.Since(p.infoTime) > time.Second {
		ictx, cancel := context.WithTimeout(ctx, 2*time.Second)
		info, err := p.cons.Info(ictx)
		cancel()
		if err != nil {
			st.Error = "consumer info: " + err.Error()
		} else {
			p.info, p.infoTime = info, time.Now()
		}
	}
	if p.info != nil {
		st.Queued, st.InFlight = p.info.NumPending, p.info.NumAckPending
	}
	p.mu.Lock()
	if st.Error == "" {
		st.Error = p.lastErr
	}
	p.mu.Unlock()
	return st
}

// Stop stops fetching and waits up to wait for the jobs in progress; a job
// still running then is not acknowledged and will be delivered again.
func (p *Pump) Stop(wait time.Duration) {
	if p.cancel == nil {
		return
	}
	p.SetState(false, true)
	deadline := time.Now().Add(wait)
	for p.running.Load() > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	p.cancel()
	done := make(chan struct{})
	go func() { p.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(3 * time.Second): // a Fetch in progress ends within its 1 s wait
	}
	p.mu.Lock()
	p.cancel = nil
	p.mu.Unlock()
}

func (p *Pump) noteErr(err error) {
	p.mu.Lock()
	p.lastErr = err.Error()
	p.mu.Unlock()
}

// worker fetches and runs jobs until ctx ends; while paused it only waits.
func (p *Pump) worker(ctx context.Context) {
	defer p.wg.Done()
	batch := 1
	if p.cls.Overdrive {
		batch = overdriveBatch
	}
	for ctx.Err() == nil {
		if p.pausedState() != "" {
			if sleep(ctx, 100*time.Millisecond) != nil {
				return
			}
			continue
		}
		msgs, err := p.cons.Fetch(batch, jetstream.FetchMaxWait(time.Second))
		if err != nil {
			p.noteErr(err)
			if sleep(ctx, 250*time.Millisecond) != nil {
				return
			}
			continue
		}
		for m := range msgs.Messages() {
			if !p.waitResumed(ctx, m) {
				_ = m.Nak() // stopping: back to the queue at once
				continue
			}
			p.run(ctx, m)
		}
		if err := msgs.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) && !errors.Is(err, context.DeadlineExceeded) {
			p.noteErr(err)
		}
	}
}

// waitResumed keeps a job fetched just before a hold or halt, without
// running it, until the pump resumes (true) or stops (false). The job is
// kept rather than returned, so that the pause does not use up one of its
// attempts; InProgress keeps its acknowledgement deadline away meanwhile.
func (p *Pump) waitResumed(ctx context.Context, m jetstream.Msg) bool {
	last := time.Now()
	for p.pausedState() != "" {
		if sleep(ctx, 100*time.Millisecond) != nil {
			return false
		}
		if time.Since(last) >= 2*time.Second {
			_ = m.InProgress()
			last = time.Now()
		}
	}
	return ctx.Err() == nil
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// retryDelay is the pause before a job whose attempt failed is delivered
// again: 500 ms per attempt so far, at most 5 s.
func retryDelay(attempt int) time.Duration {
	return min(time.Duration(attempt)*500*time.Millisecond, 5*time.Second)
}

// run delivers one job to the local service and settles it.
func (p *Pump) run(ctx context.Context, m jetstream.Msg) {
	meta, err := m.Metadata()
	if err != nil {
		p.noteErr(err)
		_ = m.Term()
		return
	}
	attempt := int(meta.NumDelivered)
	if attempt > 1 {
		p.redelivered.Add(1)
	}
	id := m.Headers().Get(HeaderJobID)
	key := p.cls.Key.String()
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if CheckID(id) != nil {
		p.deadLetter(sctx, m, Result{ID: id, Key: key, Attempts: attempt, FaultCode: int64(fault.ServiceKeyBad),
			FaultText: "job without a valid " + HeaderJobID + " header"}, false)
		return
	}
	if _, err := p.kv.Get(sctx, id); err == nil {
		p.duplicates.Add(1) // its result is stored: an earlier acknowledgement was lost
		_ = m.DoubleAck(sctx)
		return
	}
	res := Result{ID: id, Key: key, Attempts: attempt, Host: p.host}
	if attempt > p.cls.Attempts {
		// The earlier attempts never answered (instance killed, TTL).
		res.FaultCode = int64(fault.ServiceTimeout)
		res.FaultText = fmt.Sprintf("no answer after %d deliveries (instance died or exceeded jobs-worker-max-ttl %s)",
			attempt-1, p.cls.TTL)
		res.Attempts = attempt - 1
		p.deadLetter(sctx, m, res, true)
		return
	}
	opts := []client.RequestOption{client.NoRemote(), client.Timeout(p.cls.TTL),
		client.Context(ContextJobID, id), client.Context(ContextAttempt, strconv.Itoa(attempt))}
	if h := m.Headers().Get(natsrpc.HeaderContext); h != "" {
		raw, err := natsrpc.DecodeContext(h)
		var pairs []protocol.ContextPair
		if err == nil {
			pairs, err = protocol.ParseContext(raw)
		}
		if err != nil {
			res.FaultCode, res.FaultText = int64(fault.ContextReservedNamespace), "job context: "+err.Error()
			p.deadLetter(sctx, m, res, false)
			return
		}
		for _, pr := range pairs {
			opts = append(opts, client.Context(pr.Key, pr.Value))
		}
	}
	p.running.Add(1)
	resp, err := p.local.Call(ctx, key, m.Data(), opts...)
	p.running.Add(-1)
	res.Service = resp.ServiceName
	res.Finished = time.Now().UTC()
	if err == nil {
		res.OK, res.Data = true, resp.Data
		stored, err := storeResult(sctx, p.kv, res)
		if err != nil {
			p.noteErr(err)
			_ = m.NakWithDelay(retryDelay(attempt)) // the result is not stored: run it again
			return
		}
		if err := m.DoubleAck(sctx); err != nil {
			p.noteErr(err) // delivered again later, then acknowledged as a duplicate
		}
		if stored {
			p.done.Add(1)
		} else {
			p.duplicates.Add(1) // another run of the job stored its result first
		}
		return
	}
	var f *fault.Fault
	if errors.As(err, &f) {
		res.FaultCode, res.FaultText = int64(f.Code), f.Text
	} else {
		res.FaultCode, res.FaultText = int64(fault.ServiceTimeout), err.Error()
	}
	if ctx.Err() != nil {
		_ = m.Nak() // stopping: delivered again at once, here or on another host
		return
	}
	if attempt >= p.cls.Attempts {
		p.deadLetter(sctx, m, res, true)
		return
	}
	p.logf("Job Retry: %s job %s attempt %d/%d: fault %d: %s", key, id, attempt, p.cls.Attempts, res.FaultCode, res.FaultText)
	_ = m.NakWithDelay(retryDelay(attempt))
}

// deadLetter publishes the job with its last fault on the dead-letter
// subject, stores the failed result (if store), and acknowledges the job.
func (p *Pump) deadLetter(ctx context.Context, m jetstream.Msg, res Result, store bool) {
	dl := nats.NewMsg(DeadSubject(p.cls.Key))
	dl.Data = m.Data()
	for k, v := range m.Headers() {
		if k != jetstream.MsgIDHeader {
			dl.Header[k] = v
		}
	}
	dl.Header.Set(HeaderAttempts, strconv.Itoa(res.Attempts))
	dl.Header.Set(HeaderFaultCode, strconv.FormatInt(res.FaultCode, 10))
	dl.Header.Set(HeaderFaultText, natsrpc.OneLine(res.FaultText))
	if _, err := p.js.PublishMsg(ctx, dl); err != nil {
		p.noteErr(err)
		_ = m.NakWithDelay(time.Second)
		return
	}
	if store {
		res.Finished = time.Now().UTC()
		if _, err := storeResult(ctx, p.kv, res); err != nil {
			p.noteErr(err)
		}
	}
	_ = m.DoubleAck(ctx)
	p.failed.Add(1)
	p.logf("Job Failed: %s job %s after %d attempt(s): fault %d: %s; dead letter on %s", res.Key, res.ID,
		res.Attempts, res.FaultCode, res.FaultText, DeadSubject(p.cls.Key))
}
