package service

import (
	"bytes"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/pluton-go/pluton/go/protocol"
	"github.com/pluton-go/pluton/go/stats"
)

// largeReq returns an echo request of size bytes of data.
func largeReq(size int, fill byte) *protocol.Request {
	r := echoReq("echo", "")
	r.Data = bytes.Repeat([]byte{fill}, size)
	return r
}

// TestLargePayloadReadWithOneWait: a large request whose bytes arrive
// while the instance reads it (more than a socket buffer holds) is read to
// its end with the blocking reads of waitAll, not through the pending set;
// after it the connection is blocking for the response's write. A small
// request does not wait.
func TestLargePayloadReadWithOneWait(t *testing.T) {
	f := newManagerFixture(t, 1, 0, 0, 0)
	svc := f.service(t, nil)
	defer svc.Close()
	go drainReports(f)
	tests := []struct {
		name   string
		size   int
		waited bool
	}{
		{"larger than the socket buffer", 4 << 20, true},
		{"again, with the pool's buffer", 4 << 20, true},
		{"small", 1000, false},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// A sender descheduled for longer than waitAllTimeout on a
			// loaded machine makes the wait come back short (the pending
			// set then reads the rest, as it should): such a round proves
			// nothing about the wait, so it is tried again, a few times.
			for attempt := 1; ; attempt++ {
				r := largeReq(tt.size, byte('a'+i))
				got := make(chan protocol.Response, 1)
				go func() {
					c := dial(t, f.sock)
					c.send(t, r)
					got <- c.recv(t)
				}()
				req, err := svc.Next()
				require.NoError(t, err)
				require.True(t, bytes.Equal(r.Data, req.Data()), "request data")
				short := svc.cur.waited
				blocking := svc.cur.blocking
				assert.Empty(t, svc.pendingConns)
				require.NoError(t, req.Respond(req.Data()))
				select {
				case resp := <-got:
					assert.True(t, bytes.Equal(r.Data, resp.Data), "echoed data")
				case <-time.After(20 * time.Second):
					t.Fatal("no response")
				}
				if short && attempt < 5 {
					t.Logf("attempt %d: the wait came back short (a slow sender); again", attempt)
					continue
				}
				assert.False(t, short, "no wait came back short in 5 attempts")
				assert.Equal(t, tt.waited, blocking, "read to its end by blocking reads; blocking for the response's write")
				return
			}
		})
	}
}

// TestStalledLargePayloadDoesNotHoldTheInstance: a client that sends part
// of a large payload and stops holds the instance waitAllTimeout at most,
// once: the requests of other clients are served meanwhile, and its own
// when the rest of its bytes come, from the pending set.
func TestStalledLargePayloadDoesNotHoldTheInstance(t *testing.T) {
	f := newManagerFixtureHeader(t, stats.HeaderConfig{Slots: 1, RequestReadTimeout: 10 * time.Second}, 0, 0)
	svc := f.service(t, nil)
	done := runLoop(svc)

	r := largeReq(1<<20, 's')
	pkt := protocol.AppendRequest(nil, r)
	stalled := dial(t, f.sock)
	_, err := stalled.conn.Write(pkt[:100<<10])
	require.NoError(t, err)
	time.Sleep(100 * time.Millisecond) // accepted, read, waited for, pending

	start := time.Now()
	for range 3 {
		assert.Equal(t, "x", string(call(t, f.sock, echoReq("echo", "x")).Data))
	}
	assert.Less(t, time.Since(start), 3*time.Second, "served while the stalled client waits (its deadline is 10 s)")

	_, err = stalled.conn.Write(pkt[100<<10:])
	require.NoError(t, err)
	assert.True(t, bytes.Equal(r.Data, stalled.recv(t).Data), "the stalled request is served when its bytes come")

	stopLoop(t, f, done)
	require.NoError(t, svc.Close())
	for _, e := range entries(f.records(t)) {
		assert.Equal(t, stats.OK, e.Outcome)
	}
}

// TestAffinityAfterLargePayload: a large keepAffinity request read with the
// blocking read of waitAll leaves its connection for the next request,
// which the instance reads without blocking again.
func TestAffinityAfterLargePayload(t *testing.T) {
	f := newManagerFixture(t, 1, 2, 0, 0) // affinity timeout 2 s
	svc := f.service(t, nil)
	done := runLoop(svc)

	c := dial(t, f.sock)
	for i, size := range []int{2 << 20, 10, 2 << 20} {
		r := largeReq(size, byte('a'+i))
		r.ID = int64(100 + i)
		r.KeepAffinity = true
		sent := make(chan struct{})
		go func() {
			defer close(sent)
			c.send(t, r)
		}()
		resp := c.recv(t)
		<-sent
		assert.Equal(t, int64(100+i), resp.ID)
		assert.True(t, bytes.Equal(r.Data, resp.Data), "request %d echoed", i)
	}
	c.conn.Close()
	assert.Equal(t, "after", string(call(t, f.sock, echoReq("echo", "after")).Data))
	res := stopLoop(t, f, done)
	assert.Equal(t, 4, res.n)
	require.NoError(t, svc.Close())
}

// TestClientReadingNothingIsDropped: a client that sends a request whose
// response is larger than the socket buffers and then reads nothing holds
// the instance request-read-timeout at most: the response's write gives
// up (a writeError in the report) and the next client is served, whether
// the write was blocking (a large request, read by waitAll, or a large
// response) or not.
func TestClientReadingNothingIsDropped(t *testing.T) {
	tests := []struct {
		name    string
		reqSize int
	}{
		{"small request, large response", 10},
		{"large request read by waitAll", 4 << 20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			const stall = 500 * time.Millisecond
			f := newManagerFixtureHeader(t, stats.HeaderConfig{Slots: 1, RequestReadTimeout: stall}, 0, 0)
			svc := f.service(t, nil)
			done := make(chan error, 1)
			go func() {
				done <- svc.Serve(func(r *Request) ([]byte, error) {
					if string(r.Data()) == "next" {
						return []byte("served"), nil
					}
					return bytes.Repeat([]byte{'r'}, 8<<20), nil // more than any socket buffer
				})
			}()

			mute := dial(t, f.sock)
			defer mute.conn.Close()
			sent := make(chan struct{})
			go func() {
				defer close(sent)
				mute.send(t, largeReq(tt.reqSize, 'm'))
			}()
			<-sent
			start := time.Now()
			assert.Equal(t, "served", string(call(t, f.sock, echoReq("echo", "next")).Data))
			took := time.Since(start)
			assert.GreaterOrEqual(t, took, stall/2, "the instance was held by the mute client for a while")
			assert.Less(t, took, 10*stall, "but not for longer than its stall bound")

			require.NoError(t, unix.Shutdown(int(f.listen.Fd()), unix.SHUT_RDWR))
			select {
			case err := <-done:
				require.Error(t, err, "the loop ends with the listening socket shut down")
			case <-time.After(10 * time.Second):
				t.Fatal("Serve did not return")
			}
			require.NoError(t, svc.Close())
			var outcomes []stats.Outcome
			for _, e := range entries(f.records(t)) {
				outcomes = append(outcomes, e.Outcome)
			}
			assert.Equal(t, []stats.Outcome{stats.WriteError, stats.OK}, outcomes)
		})
	}
}
