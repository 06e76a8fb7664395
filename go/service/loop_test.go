package service

import (
	"io"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/pluton-go/pluton/go/fault"
	"github.com/pluton-go/pluton/go/protocol"
	"github.com/pluton-go/pluton/go/stats"
)

// stopLoop ends a running loop by shutting the listening socket down.
func stopLoop(t *testing.T, f *managerFixture, done <-chan loopResult) loopResult {
	t.Helper()
	require.NoError(t, unix.Shutdown(int(f.listen.Fd()), unix.SHUT_RDWR))
	return wait(t, done)
}

// closedWithin reports whether the service closes c (EOF) within d.
func closedWithin(t *testing.T, c *client, d time.Duration) bool {
	t.Helper()
	require.NoError(t, c.conn.SetReadDeadline(time.Now().Add(d)))
	_, err := c.conn.Read(make([]byte, 1))
	return err == io.EOF
}

func TestAcceptTimeoutOnFD3(t *testing.T) {
	f := newManagerFixture(t, 1, 0, 0, 0)
	svc := f.service(t, nil)
	defer svc.Close()
	tv, err := unix.GetsockoptTimeval(int(f.listen.Fd()), unix.SOL_SOCKET, unix.SO_RCVTIMEO)
	require.NoError(t, err)
	assert.Equal(t, unix.Timeval{Sec: 1}, *tv, "SO_RCVTIMEO = 1 s on the shared socket (protocol.md §8.4)")
}

// TestSilentClientsDoNotHoldTheInstance: connections that send nothing, or
// part of a packet, wait in the pending set while complete requests are
// served; each is closed at its request-read-timeout and reported as a
// read error.
func TestSilentClientsDoNotHoldTheInstance(t *testing.T) {
	f := newManagerFixtureHeader(t, stats.HeaderConfig{Slots: 1, RequestReadTimeout: 3 * time.Second}, 0, 0)
	svc := f.service(t, nil)
	done := runLoop(svc)

	silent := dial(t, f.sock)
	partial := dial(t, f.sock)
	_, err := partial.conn.Write([]byte("0Q,3b100,12aplSe"))
	require.NoError(t, err)
	time.Sleep(100 * time.Millisecond) // both accepted

	start := time.Now()
	for i := range 5 {
		r := echoReq("echo", strings.Repeat("x", i))
		assert.Equal(t, strings.Repeat("x", i), string(call(t, f.sock, r).Data))
	}
	assert.Less(t, time.Since(start), 2*time.Second, "served while the silent ones wait (their deadline is 3 s)")

	// A slow client that completes its packet in pieces is served.
	slow := dial(t, f.sock)
	packet := protocol.AppendRequest(nil, echoReq("echo", "slow"))
	for _, part := range [][]byte{packet[:5], packet[5:20], packet[20:]} {
		_, err := slow.conn.Write(part)
		require.NoError(t, err)
		time.Sleep(50 * time.Millisecond)
	}
	assert.Equal(t, "slow", string(slow.recv(t).Data))

	// The silent and the partial connection are closed at their deadline.
	assert.True(t, closedWithin(t, silent, 5*time.Second))
	assert.True(t, closedWithin(t, partial, 5*time.Second))
	assert.GreaterOrEqual(t, time.Since(start), 2700*time.Millisecond, "not before the deadline")

	stopLoop(t, f, done)
	require.NoError(t, svc.Close())
	var reads, oks int
	for _, e := range entries(f.records(t)) {
		switch e.Outcome {
		case stats.ReadError:
			reads++
		case stats.OK:
			oks++
		}
	}
	assert.Equal(t, 2, reads)
	assert.Equal(t, 6, oks)
	st := f.slotStats(t)
	assert.Equal(t, uint64(6), st.Requests, "read errors are not requests")
	assert.Equal(t, uint64(6), st.Responses)
}

func TestMaximumPendingEvictsOldest(t *testing.T) {
	f := newManagerFixtureHeader(t, stats.HeaderConfig{Slots: 1, RequestReadTimeout: 20 * time.Second, MaximumPending: 2}, 0, 0)
	svc := f.service(t, nil)
	done := runLoop(svc)
	var cs []*client
	for range 3 {
		cs = append(cs, dial(t, f.sock))
		time.Sleep(100 * time.Millisecond)
	}
	assert.True(t, closedWithin(t, cs[0], 5*time.Second), "the oldest makes room")
	assert.False(t, closedWithin(t, cs[1], 300*time.Millisecond))
	// The kept ones can still complete their requests.
	cs[2].send(t, echoReq("echo", "late"))
	assert.Equal(t, "late", string(cs[2].recv(t).Data))
	stopLoop(t, f, done)
	require.NoError(t, svc.Close())
}

func TestRequestTooLarge(t *testing.T) {
	tests := []struct {
		name   string
		header stats.HeaderConfig
		write  string
		id     int64
		client string
		text   string
	}{
		{"data prefix", stats.HeaderConfig{Slots: 1, MaximumRequestSize: 1000},
			"0Q,3b100,12aplSend:26446,17csystem.echo.0.raw,4l4000,999999999k",
			100, "plSend:26446", "request data of 999999999 bytes exceeds maximum-request-size 1000"},
		{"before the id", stats.HeaderConfig{Slots: 1, MaximumRequestSize: 1000},
			"0Q,5000b", 0, "", "request data of 5000 bytes exceeds maximum-request-size 1000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newManagerFixtureHeader(t, tt.header, 0, 0)
			svc := f.service(t, nil)
			done := runLoop(svc)
			c := dial(t, f.sock)
			_, err := c.conn.Write([]byte(tt.write))
			require.NoError(t, err)
			resp := c.recv(t) // without sending the body
			assert.Equal(t, int64(fault.RequestTooLarge), resp.FaultCode)
			assert.Equal(t, tt.text, resp.FaultText)
			assert.Equal(t, tt.id, resp.ID)
			assert.Equal(t, tt.client, resp.ClientName)
			var r protocol.Response
			assert.ErrorIs(t, c.dec.ReadResponse(&r), io.EOF, "and closes")
			assert.Equal(t, "ok", string(call(t, f.sock, echoReq("echo", "ok")).Data), "the instance goes on")
			stopLoop(t, f, done)
			require.NoError(t, svc.Close())
			st := f.slotStats(t)
			assert.Equal(t, uint64(1), st.Faults)
			es := entries(f.records(t))
			require.Len(t, es, 2)
			assert.Equal(t, stats.Faulted, es[0].Outcome)
		})
	}
}

func TestRequestTooLargeStandAlone(t *testing.T) {
	big := requestWith(7, strings.Repeat("x", DefaultMaximumRequestSize+1))
	svc, output := standAlone(t, big, nil)
	_, err := svc.Next()
	var ft *fault.Fault
	require.ErrorAs(t, err, &ft)
	assert.Equal(t, fault.RequestTooLarge, ft.Code)
	require.NoError(t, svc.Close())
	rs := responses(t, output())
	require.Len(t, rs, 1)
	assert.Equal(t, int64(3), rs[0].FaultCode)
	assert.Equal(t, "request data of 67108865 bytes exceeds maximum-request-size 67108864", rs[0].FaultText)
	assert.Equal(t, int64(7), rs[0].ID)
}

// TestBusyUntilNextWait: the slot stays busy after the response until the
// service asks for the next request, so a service that wedges after
// responding is still accountable (protocol.md §4.2); the slot names the
// request being served.
func TestBusyUntilNextWait(t *testing.T) {
	f := newManagerFixture(t, 2, 0, 0, 0)
	svc := f.service(t, nil)
	responded := make(chan struct{})
	release := make(chan struct{})
	ended := make(chan struct{})
	go func() {
		defer close(ended)
		req, err := svc.Next()
		if err != nil {
			return
		}
		_ = req.Respond(req.Data())
		close(responded)
		<-release // wedged after responding
		_, _ = svc.Next()
	}()
	r := echoReq("echo", "x")
	r.ID, r.ClientName = 4242, "wedge:77"
	c := dial(t, f.sock)
	c.send(t, r)
	assert.Equal(t, "x", string(c.recv(t).Data))
	<-responded
	time.Sleep(50 * time.Millisecond)
	st := f.slotStats(t)
	assert.Equal(t, stats.StateBusy, st.State, "busy after the response")
	assert.Equal(t, uint64(1), st.Responses)
	assert.Equal(t, int64(4242), st.RequestID)
	assert.Equal(t, "wedge:77", st.ClientName)
	busySince := st.SinceMicros
	close(release)
	require.Eventually(t, func() bool { return f.slotStats(t).State == stats.StateIdle }, 5*time.Second, 5*time.Millisecond)
	assert.Greater(t, f.slotStats(t).SinceMicros, busySince)
	require.NoError(t, unix.Shutdown(int(f.listen.Fd()), unix.SHUT_RDWR))
	<-ended
	require.NoError(t, svc.Close())
}

// TestIdleSinceIsKept: the wake-ups of an idle instance (once a second) do
// not move the slot's since field, which the manager reads as last active.
func TestIdleSinceIsKept(t *testing.T) {
	f := newManagerFixture(t, 1, 0, 0, 0)
	svc := f.service(t, nil)
	done := runLoop(svc)
	call(t, f.sock, echoReq("echo", "x"))
	require.Eventually(t, func() bool { return f.slotStats(t).State == stats.StateIdle }, 5*time.Second, 5*time.Millisecond)
	since := f.slotStats(t).SinceMicros
	time.Sleep(2200 * time.Millisecond)
	assert.Equal(t, since, f.slotStats(t).SinceMicros)
	stopLoop(t, f, done)
	require.NoError(t, svc.Close())
}
