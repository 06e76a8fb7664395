package client

import (
	"context"
	"sync"

	"github.com/pluton-go/pluton/go/fault"
)

// A Batch keeps many requests in flight at once, for a caller that wants to
// overlap them from one goroutine: Add starts a request and returns at once;
// the Wait methods collect the results (the original's executeAndWaitAll,
// Any, One and Sent).
//
// Every request carries its own deadline, fixed when it is added, so every
// Wait returns within the longest deadline outstanding; a Wait never times
// requests out as a group. A Batch is safe for concurrent use, but is meant
// for one goroutine. Requests run on goroutines of their own (a goroutine
// costs far less than the exchange itself) and wait on the runtime poller.
type Batch struct {
	c       *Client
	mu      sync.Mutex
	changed sync.Cond
	running int        // added and not yet complete
	unsent  int        // added and not yet completely written
	done    []*Request // complete and not yet collected
}

// NewBatch returns an empty batch that sends with c.
func (c *Client) NewBatch() *Batch {
	b := &Batch{c: c}
	b.changed.L = &b.mu
	return b
}

// Add starts r. It makes the checks of Client.Do at once and returns their
// fault without starting anything (the fault is also r's result); otherwise
// the request runs in the background until its deadline at the latest, and
// Add returns nil. ctx bounds and may cancel the request.
func (b *Batch) Add(ctx context.Context, r *Request) error {
	if err := b.c.prepare(ctx, r); err != nil {
		return err
	}
	b.mu.Lock()
	if r.queued {
		b.unqueue(r)
	}
	r.batch = b
	b.running++
	b.unsent++
	b.mu.Unlock()
	go b.run(ctx, r)
	return nil
}

func (b *Batch) run(ctx context.Context, r *Request) {
	x := getExchange()
	err := b.c.execute(ctx, r, x, true) // on the runtime poller
	putExchange(x)
	b.complete(r, err)
}

// markSent is called once per request when its last byte has been written.
func (b *Batch) markSent() {
	b.mu.Lock()
	b.unsent--
	b.mu.Unlock()
	b.changed.Broadcast()
}

// complete is called once per request when it ends. The request is
// finished last, so that it cannot be added again before the batch is done
// with it.
func (b *Batch) complete(r *Request, err error) {
	b.mu.Lock()
	if !r.sent {
		b.unsent--
	}
	r.batch = nil
	r.queued = true
	b.done = append(b.done, r)
	b.running--
	r.finish(err)
	b.mu.Unlock()
	b.changed.Broadcast()
}

// unqueue removes r from the completed queue and reports whether it was there.
func (b *Batch) unqueue(r *Request) bool {
	for i, q := range b.done {
		if q == r {
			copy(b.done[i:], b.done[i+1:])
			b.done[len(b.done)-1] = nil
			b.done = b.done[:len(b.done)-1]
			r.queued = false
			return true
		}
	}
	return false
}

// Outstanding returns the number of requests added and not yet complete.
func (b *Batch) Outstanding() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.running
}

// WaitSent waits until every outstanding request has been completely
// written (or has ended). The requests stay in progress; another Wait
// collects them. It returns the number still in progress.
func (b *Batch) WaitSent() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	for b.unsent > 0 {
		b.changed.Wait()
	}
	return b.running
}

// WaitAll waits until no request is outstanding and returns the number of
// completed requests it collected (those not already collected by WaitAny or
// WaitOne). Their results are in the requests.
func (b *Batch) WaitAll() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	for b.running > 0 {
		b.changed.Wait()
	}
	n := len(b.done)
	for _, r := range b.done {
		r.queued = false
	}
	clear(b.done)
	b.done = b.done[:0]
	return n
}

// WaitAny returns a completed request that has not been collected yet,
// waiting for one if need be, in order of completion. It returns nil when
// nothing is outstanding or uncollected.
func (b *Batch) WaitAny() *Request {
	b.mu.Lock()
	defer b.mu.Unlock()
	for len(b.done) == 0 {
		if b.running == 0 {
			return nil
		}
		b.changed.Wait()
	}
	r := b.done[0]
	copy(b.done, b.done[1:])
	b.done[len(b.done)-1] = nil
	b.done = b.done[:len(b.done)-1]
	r.queued = false
	return r
}

// WaitOne waits for r, collects it and returns its result. It returns
// requestNotAdded (-3) if r is neither outstanding in nor uncollected from
// this batch.
func (b *Batch) WaitOne(r *Request) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	for r.batch == b {
		b.changed.Wait()
	}
	if !b.unqueue(r) {
		return fault.New(fault.RequestNotAdded, r.key)
	}
	return r.err
}
