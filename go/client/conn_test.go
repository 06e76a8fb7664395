package client

import (
	"bytes"
	"context"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pluton-go/pluton/go/fault"
)

// waitModes are the two ways an exchange waits for its socket (see conn).
var waitModes = []struct {
	name   string
	poller bool
}{{"thread", false}, {"poller", true}}

// doIn is Client.Do with the wait mode chosen by the test.
func doIn(ctx context.Context, c *Client, r *Request, poller bool) error {
	if err := c.prepare(ctx, r); err != nil {
		return err
	}
	x := getExchange()
	defer putExchange(x)
	err := c.execute(ctx, r, x, poller)
	r.finish(err)
	return err
}

// openFDs counts this process's open descriptors.
func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	require.NoError(t, err)
	return len(ents)
}

// startSink listens on <dir>/<key>.socket and accepts connections without
// ever reading from them, so a large request fills the socket buffer and
// its writer has to wait. It returns the function that stops it and closes
// its connections.
func startSink(t *testing.T, dir, key string) (stop func()) {
	ln, err := net.Listen("unix", filepath.Join(dir, key+".socket"))
	require.NoError(t, err)
	var mu sync.Mutex
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	return func() {
		ln.Close()
		<-done
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
		conns = nil
	}
}

// Every wait, for a response or for room to write, ends on time at the
// deadline, at once on cancellation, and without leaking the descriptor, in
// both wait modes.
func TestWaitModes(t *testing.T) {
	const sinkKey = "test.sink.0.raw"
	big := payload(16 << 20) // far more than a socket buffer
	for _, m := range waitModes {
		t.Run(m.name, func(t *testing.T) {
			dir := tempDir(t)
			c := newTestClient(t, dir)
			fds := openFDs(t)
			echo := startFake(t, dir, echoKey, "echo")
			stopSink := startSink(t, dir, sinkKey)
			defer stopSink()
			for _, size := range []int{0, 100, parserSmallField + 1, 3 << 20} {
				data := payload(size)
				r := NewRequest(echoKey, data)
				require.NoError(t, doIn(context.Background(), c, r, m.poller))
				assert.True(t, bytes.Equal(data, r.Response().Data), "echo of %d bytes", size)
			}

			cases := []struct {
				name string
				r    *Request
				ctx  func() (context.Context, context.CancelFunc)
				want error
			}{
				{"response deadline", NewRequest(echoKey, nil, Context("sleepMS", "5000"), Timeout(150*time.Millisecond)),
					func() (context.Context, context.CancelFunc) { return context.Background(), func() {} }, os.ErrDeadlineExceeded},
				{"response cancel", NewRequest(echoKey, nil, Context("sleepMS", "5000")),
					cancelAfter(150 * time.Millisecond), context.Canceled},
				{"write deadline", NewRequest(sinkKey, big, Timeout(150*time.Millisecond)),
					func() (context.Context, context.CancelFunc) { return context.Background(), func() {} }, os.ErrDeadlineExceeded},
				{"write cancel", NewRequest(sinkKey, big), cancelAfter(150 * time.Millisecond), context.Canceled},
			}
			for _, tc := range cases {
				ctx, cancel := tc.ctx()
				start := time.Now()
				err := doIn(ctx, c, tc.r, m.poller)
				elapsed := time.Since(start)
				cancel()
				assert.Equal(t, fault.ServiceTimeout, faultCode(t, err), tc.name)
				assert.ErrorIs(t, err, tc.want, tc.name)
				assert.GreaterOrEqual(t, elapsed, 150*time.Millisecond, tc.name)
				assert.Less(t, elapsed, time.Second, tc.name)
			}
			// Once the services are gone, so are all the client's descriptors.
			echo.stop()
			stopSink()
			assert.Equal(t, fds, openFDs(t), "every connection closed")
		})
	}
}

func cancelAfter(d time.Duration) func() (context.Context, context.CancelFunc) {
	return func() (context.Context, context.CancelFunc) {
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(d, cancel)
		return ctx, cancel
	}
}

// An affinity connection made in one mode is used in the other: Batch
// registers it with the poller, and a later Do keeps using it.
func TestAffinityAcrossWaitModes(t *testing.T) {
	dir := tempDir(t)
	s := startFake(t, dir, echoKey, "echo")
	c := newTestClient(t, dir)
	ctx := context.Background()
	r := NewRequest(echoKey, []byte("a"), KeepAffinity(), NoRetry())
	require.NoError(t, c.Do(ctx, r))
	require.NotNil(t, r.aff)
	assert.Nil(t, r.aff.f, "a lone Do waits on its own thread")

	b := c.NewBatch()
	r.SetAttributes(NeedAffinityAttr)
	require.NoError(t, b.Add(ctx, r))
	b.WaitAll()
	require.NoError(t, r.Err())
	require.NotNil(t, r.aff)
	assert.NotNil(t, r.aff.f, "a Batch waits on the poller")

	require.NoError(t, c.Do(ctx, r))
	assert.Equal(t, "a", string(r.Response().Data))
	r.Close()
	assert.EqualValues(t, 1, s.accepts.Load(), "one connection throughout")
	waitUntil(t, 2*time.Second, func() bool { return s.closed.Load() == 1 })
}

// Cancellations racing with completions never touch another request's
// connection: a cancellation shuts its socket down only while the exchange
// still owns the descriptor, whose number is reused at once.
func TestCancelRacesNeverHitOthers(t *testing.T) {
	dir := tempDir(t)
	startFake(t, dir, echoKey, "echo")
	c := newTestClient(t, dir)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(g), 1))
			for range 200 {
				if g%2 == 0 { // never cancelled: must always succeed
					if _, err := c.Call(context.Background(), echoKey, []byte("x")); err != nil {
						errs <- err
						return
					}
					continue
				}
				ctx, cancel := context.WithCancel(context.Background())
				time.AfterFunc(time.Duration(rng.IntN(300))*time.Microsecond, cancel)
				_, err := c.Call(ctx, echoKey, []byte("y"))
				if err != nil && faultCodeOf(err) != fault.ServiceTimeout {
					errs <- err
					return
				}
				cancel()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func faultCodeOf(err error) fault.Code {
	if f, ok := err.(*fault.Fault); ok {
		return f.Code
	}
	return fault.NoFault
}
