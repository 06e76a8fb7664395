package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pluton-go/pluton/go/fault"
	"github.com/pluton-go/pluton/go/protocol"
)

const echoKey = "system.echo.0.raw"

func faultCode(t testing.TB, err error) fault.Code {
	t.Helper()
	var f *fault.Fault
	require.True(t, errors.As(err, &f), "want a *fault.Fault, got %T %v", err, err)
	return f.Code
}

func payload(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('A' + i%26)
	}
	return b
}

func TestCallEchoSizes(t *testing.T) {
	dir := tempDir(t)
	s := startFake(t, dir, echoKey, "echo")
	c := newTestClient(t, dir)
	for _, n := range []int{0, 1, 1023, 1024, 1025, 4095, 4096, 4097, 65535, 65536, 65537, 1<<20 - 1, 1 << 20, 1<<20 + 1, 3 << 20} {
		t.Run(strconv.Itoa(n), func(t *testing.T) {
			data := payload(n)
			resp, err := c.Call(context.Background(), echoKey, data)
			require.NoError(t, err)
			assert.True(t, bytes.Equal(data, resp.Data), "echo of %d bytes differs (got %d)", n, len(resp.Data))
			if n == 0 {
				assert.Nil(t, resp.Data)
			}
			assert.Equal(t, s.name, resp.ServiceName)
		})
	}
}

func TestWireRequest(t *testing.T) {
	dir := tempDir(t)
	s := startFake(t, dir, echoKey, "echo")
	c := newTestClient(t, dir, WithTimeout(3*time.Second))
	assert.Equal(t, fmt.Sprintf("test:%d", os.Getpid()), c.Name())
	_, err := c.Call(context.Background(), echoKey, []byte("Hello"),
		Context("echo.sleepMS", "5"), Context("k", "v"), NoRemote(), NoRetry())
	require.NoError(t, err)
	req, data := s.last()
	assert.Equal(t, int64(FirstRequestID), req.ID)
	assert.Equal(t, c.Name(), req.ClientName)
	assert.Equal(t, echoKey, req.ServiceKey)
	assert.InDelta(t, 3000, req.TimeoutMS, 100)
	assert.True(t, req.NoRemote && req.NoRetry)
	assert.False(t, req.NoWait || req.KeepAffinity || req.NeedAffinity)
	assert.Equal(t, "Hello", string(data))
	pairs, err := protocol.ParseContext(req.Context)
	require.NoError(t, err)
	assert.Equal(t, []protocol.ContextPair{{Key: "echo.sleepMS", Value: "5"}, {Key: "k", Value: "v"}}, pairs)

	_, err = c.Call(context.Background(), echoKey, nil, Timeout(1500*time.Millisecond))
	require.NoError(t, err)
	req, _ = s.last()
	assert.Equal(t, int64(FirstRequestID+1), req.ID)
	assert.InDelta(t, 1500, req.TimeoutMS, 100)
	assert.Nil(t, req.Context)
}

func TestRequestIDsWrap(t *testing.T) {
	dir := tempDir(t)
	c := newTestClient(t, dir)
	assert.Equal(t, int64(100), c.nextID())
	assert.Equal(t, int64(101), c.nextID())
	c.ids.Store(LastRequestID - 1)
	assert.Equal(t, int64(LastRequestID-1), c.nextID())
	assert.Equal(t, int64(LastRequestID), c.nextID())
	assert.Equal(t, int64(FirstRequestID), c.nextID())
}

func TestServiceFault(t *testing.T) {
	dir := tempDir(t)
	s := startFake(t, dir, echoKey, "echo")
	c := newTestClient(t, dir)
	resp, err := c.Call(context.Background(), echoKey, []byte("x"), Context("fault", "111"))
	var f *fault.Fault
	require.ErrorAs(t, err, &f)
	assert.Equal(t, fault.Code(111), f.Code)
	assert.Equal(t, "fault 111", f.Text)
	assert.Equal(t, "111:fault 111", fmt.Sprintf("%d:%s", f.Code, f.Text))
	assert.Equal(t, "pluton::Fault=111 'fault 111'", f.Message("", true))
	assert.Equal(t, s.name, resp.ServiceName)
	assert.Nil(t, resp.Data)
	assert.EqualValues(t, 1, s.requests.Load(), "a service fault is never retried")
}

func TestTimeoutFiresOnTimeAndClientStaysUsable(t *testing.T) {
	dir := tempDir(t)
	startFake(t, dir, echoKey, "echo")
	c := newTestClient(t, dir, WithTimeout(150*time.Millisecond))
	start := time.Now()
	_, err := c.Call(context.Background(), echoKey, []byte("slow"), Context("sleepMS", "5000"))
	elapsed := time.Since(start)
	assert.Equal(t, fault.ServiceTimeout, faultCode(t, err))
	assert.ErrorIs(t, err, os.ErrDeadlineExceeded)
	assert.GreaterOrEqual(t, elapsed, 150*time.Millisecond)
	assert.Less(t, elapsed, 2*time.Second)

	resp, err := c.Call(context.Background(), echoKey, []byte("fast"))
	require.NoError(t, err)
	assert.Equal(t, "fast", string(resp.Data))

	// A context deadline earlier than the client's timeout wins.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start = time.Now()
	_, err = c.Call(ctx, echoKey, nil, Context("sleepMS", "5000"), Timeout(10*time.Second))
	assert.Equal(t, fault.ServiceTimeout, faultCode(t, err))
	assert.Less(t, time.Since(start), 2*time.Second)
}

func TestCancelEndsRequest(t *testing.T) {
	dir := tempDir(t)
	startFake(t, dir, echoKey, "echo")
	c := newTestClient(t, dir)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	start := time.Now()
	_, err := c.Call(ctx, echoKey, nil, Context("sleepMS", "5000"))
	assert.Equal(t, fault.ServiceTimeout, faultCode(t, err))
	assert.ErrorIs(t, err, context.Canceled)
	assert.Less(t, time.Since(start), 2*time.Second)

	_, err = c.Call(ctx, echoKey, nil)
	assert.ErrorIs(t, err, context.Canceled, "an already cancelled context fails at once")
}

// The original kept one clock per client that restarted only when its queue
// emptied; ours is per request.
func TestTimeoutIsPerRequest(t *testing.T) {
	dir := tempDir(t)
	startFake(t, dir, echoKey, "echo")
	c := newTestClient(t, dir, WithTimeout(400*time.Millisecond))
	start := time.Now()
	for i := range 50 {
		_, err := c.Call(context.Background(), echoKey, []byte("x"), Context("sleepMS", "20"))
		require.NoError(t, err, "request %d", i)
	}
	require.Greater(t, time.Since(start), 400*time.Millisecond)

	// The same with a batch that is never empty: two in flight, 50 in all.
	b := c.NewBatch()
	reqs := []*Request{NewRequest(echoKey, []byte("a"), Context("sleepMS", "20")),
		NewRequest(echoKey, []byte("b"), Context("sleepMS", "20"))}
	for _, r := range reqs {
		require.NoError(t, b.Add(context.Background(), r))
	}
	sent := 2
	for done := 0; done < 50; done++ {
		r := b.WaitAny()
		require.NotNil(t, r)
		require.NoError(t, r.Err(), "request %d", done)
		if sent < 50 {
			require.NoError(t, b.Add(context.Background(), r))
			sent++
		}
	}
	assert.Nil(t, b.WaitAny())
}

// Rule 6 of docs/sdk.md: once the request was written it is never resent,
// whatever comes back.
func TestGarbageResponseNotResent(t *testing.T) {
	dir := tempDir(t)
	s := startFake(t, dir, echoKey, "echo")
	c := newTestClient(t, dir)
	_, err := c.Call(context.Background(), echoKey, []byte("x"), Context("garbage", ""))
	assert.Equal(t, fault.ResponsePacketFormatError, faultCode(t, err))
	var se *protocol.SyntaxError
	assert.ErrorAs(t, err, &se)
	assert.EqualValues(t, 1, s.requests.Load(), "not resent")
	assert.EqualValues(t, 1, s.accepts.Load())
	// The client stays usable.
	resp, err := c.Call(context.Background(), echoKey, []byte("next"))
	require.NoError(t, err)
	assert.Equal(t, "next", string(resp.Data))
}

func TestRoutingMismatch(t *testing.T) {
	dir := tempDir(t)
	s := startFake(t, dir, echoKey, "echo")
	c := newTestClient(t, dir)
	for i, k := range []string{"badid", "badname"} {
		_, err := c.Call(context.Background(), echoKey, []byte("x"), Context(k, ""))
		assert.Equal(t, fault.ResponsePacketFormatError, faultCode(t, err), k)
		assert.EqualValues(t, i+1, s.requests.Load(), "%s: not resent", k)
	}
}

func TestEOFMidResponse(t *testing.T) {
	dir := tempDir(t)
	s := startFake(t, dir, echoKey, "echo")
	c := newTestClient(t, dir)
	_, err := c.Call(context.Background(), echoKey, []byte("0123456789"), Context("half", ""))
	assert.Equal(t, fault.IncompleteResponse, faultCode(t, err))
	assert.Contains(t, err.Error(), DiedText)
	assert.EqualValues(t, 1, s.requests.Load(), "a partly received response is not resent")
}

// A poison request: the instance closes (dies) without answering. It is
// not resent, so it kills one instance, and the fault says what happened.
func TestCloseWithoutResponseNotResent(t *testing.T) {
	dir := tempDir(t)
	s := startFake(t, dir, echoKey, "echo")
	c := newTestClient(t, dir)
	start := time.Now()
	_, err := c.Call(context.Background(), echoKey, nil, Context("close", ""))
	var f *fault.Fault
	require.ErrorAs(t, err, &f)
	assert.Equal(t, fault.IncompleteResponse, f.Code)
	assert.Equal(t, DiedText, f.Text)
	assert.EqualValues(t, 1, s.requests.Load(), "not resent")
	assert.EqualValues(t, 1, s.accepts.Load())
	assert.Less(t, time.Since(start), time.Second, "the caller hears at once")
}

// A fault answered by the manager (7 serviceUnavailable) is surfaced as is.
func TestManagerFaultSurfaced(t *testing.T) {
	dir := tempDir(t)
	text := "system.echo.0.raw: exec backoff 12 s after 5 crashes; last exit status 1"
	s := startFake(t, dir, echoKey, "echo", func(s *fakeService) {
		s.handler = func(s *fakeService, c net.Conn, req *protocol.Request) bool {
			c.Write(protocol.AppendResponse(nil, &protocol.Response{ID: req.ID, ClientName: req.ClientName,
				ServiceName: "plutonManager:1/0", FaultCode: int64(fault.ServiceUnavailable), FaultText: text}))
			return false
		}
	})
	c := newTestClient(t, dir)
	_, err := c.Call(context.Background(), echoKey, []byte("x"))
	var f *fault.Fault
	require.ErrorAs(t, err, &f)
	assert.Equal(t, fault.ServiceUnavailable, f.Code)
	assert.Equal(t, text, f.Text)
	assert.EqualValues(t, 1, s.requests.Load())
}

func TestNotFoundAndBadKey(t *testing.T) {
	dir := tempDir(t)
	c := newTestClient(t, dir)
	_, err := c.Call(context.Background(), "nosuch.thing.0.raw", nil)
	assert.Equal(t, fault.ServiceNotFound, faultCode(t, err))
	var f *fault.Fault
	require.ErrorAs(t, err, &f)
	assert.Equal(t, "pluton::Fault=-30 (serviceNotFound:ServiceKey is not in lookupMap) 'nosuch.thing.0.raw'", f.Message("", true))

	for _, key := range []string{"system.echo.0", "system.echo.0.raw.", "system..0.raw", "a.b.01.raw", "a.b.0.RAW", "a/b.c.0.raw"} {
		_, err := c.Call(context.Background(), key, nil)
		assert.Equal(t, fault.ServiceKeyBad, faultCode(t, err), key)
		_, err = c.Lookup(key)
		assert.Equal(t, fault.ServiceKeyBad, faultCode(t, err), key)
	}
	_, err = c.Lookup("nosuch.thing.0.raw")
	assert.Equal(t, fault.ServiceNotFound, faultCode(t, err))
}

func TestConnectRefused(t *testing.T) {
	dir := tempDir(t)
	s := startFake(t, dir, echoKey, "echo")
	s.stop() // the socket file stays, nobody listens
	c := newTestClient(t, dir)
	start := time.Now()
	_, err := c.Call(context.Background(), echoKey, nil)
	assert.Equal(t, fault.ConnectFailed, faultCode(t, err))
	assert.ErrorIs(t, err, syscall.ECONNREFUSED)
	assert.GreaterOrEqual(t, time.Since(start), refusedPause, "one retry after a pause")
}

func TestReservedContext(t *testing.T) {
	dir := tempDir(t)
	s := startFake(t, dir, echoKey, "echo")
	c := newTestClient(t, dir)
	_, err := c.Call(context.Background(), echoKey, nil, Context("pluton.x", "1"))
	assert.Equal(t, fault.ContextReservedNamespace, faultCode(t, err))

	r := NewRequest(echoKey, nil)
	err = r.SetContext("pluton.id", "1")
	assert.Equal(t, fault.ContextReservedNamespace, faultCode(t, err))
	assert.Equal(t, fault.ContextReservedNamespace, faultCode(t, c.Do(context.Background(), r)))
	r.ClearContext()
	require.NoError(t, r.SetContext("plutonic", "ok"))
	require.NoError(t, c.Do(context.Background(), r))
	assert.EqualValues(t, 1, s.requests.Load(), "nothing was sent for the reserved keys")
}

func TestNoWait(t *testing.T) {
	dir := tempDir(t)
	s := startFake(t, dir, echoKey, "echo")
	c := newTestClient(t, dir)
	resp, err := c.Call(context.Background(), echoKey, []byte("fire"), NoWait())
	require.NoError(t, err)
	assert.Nil(t, resp.Data)
	assert.Empty(t, resp.ServiceName)
	req, data := s.last()
	assert.True(t, req.NoWait)
	assert.Equal(t, "fire", string(data), "the service read the request before the call completed")

	// A noWait request completes only once an instance accepted and read it:
	// here the connection waits in the backlog of a socket nobody accepts on.
	lnPath := filepath.Join(dir, "queue.x.0.raw.socket")
	ln, err := net.Listen("unix", lnPath)
	require.NoError(t, err)
	defer ln.Close()
	_, err = c.Call(context.Background(), "queue.x.0.raw", []byte("x"), NoWait(), Timeout(150*time.Millisecond))
	assert.Equal(t, fault.ServiceTimeout, faultCode(t, err))
}

func TestAffinityRules(t *testing.T) {
	dir := tempDir(t)
	startFake(t, dir, echoKey, "echo")
	c := newTestClient(t, dir)
	ctx := context.Background()
	tests := []struct {
		name string
		opts []RequestOption
		want fault.Code
	}{
		{"keepAffinity with noWait", []RequestOption{KeepAffinity(), NoRetry(), NoWait()}, fault.NoWaitNotAllowed},
		{"keepAffinity without noRetry", []RequestOption{KeepAffinity()}, fault.NeedNoRetry},
		{"keepAffinity noWait without noRetry", []RequestOption{KeepAffinity(), NoWait()}, fault.NoWaitNotAllowed},
		{"needAffinity without a connection", []RequestOption{NeedAffinity()}, fault.NoAffinity},
		{"needAffinity bad key", []RequestOption{NeedAffinity()}, fault.NoAffinity},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.Call(ctx, echoKey, nil, tt.opts...)
			assert.Equal(t, tt.want, faultCode(t, err))
			r := NewRequest(echoKey, nil, tt.opts...)
			assert.Equal(t, tt.want, faultCode(t, c.Do(ctx, r)))
			assert.Equal(t, tt.want, r.FaultCode())
			b := c.NewBatch()
			assert.Equal(t, tt.want, faultCode(t, b.Add(ctx, r)))
			assert.Equal(t, 0, b.Outstanding())
		})
	}
}

func TestAffinityHoldsOneConnection(t *testing.T) {
	dir := tempDir(t)
	s := startFake(t, dir, echoKey, "echo")
	c := newTestClient(t, dir)
	ctx := context.Background()
	r := NewRequest(echoKey, []byte("sticky"), KeepAffinity(), NoRetry())
	for i := range 100 {
		require.NoError(t, c.Do(ctx, r), "request %d", i)
		assert.Equal(t, "sticky", string(r.Response().Data))
		assert.Equal(t, s.name, r.Response().ServiceName)
		if i == 0 {
			r.SetAttributes(NeedAffinityAttr)
		}
	}
	assert.EqualValues(t, 1, s.accepts.Load(), "100 requests over one connection")
	assert.EqualValues(t, 100, s.requests.Load())
	assert.True(t, r.HasAffinity())

	// A fault keeps the affinity too (complete packet).
	require.NoError(t, r.SetContext("fault", "7"))
	assert.Equal(t, fault.Code(7), faultCode(t, c.Do(ctx, r)))
	assert.True(t, r.HasAffinity())
	r.ClearContext()

	// A request without keepAffinity still uses the held connection, then ends the affinity.
	r.ClearAttributes(KeepAffinityAttr | NeedAffinityAttr)
	require.NoError(t, c.Do(ctx, r))
	assert.False(t, r.HasAffinity())
	assert.EqualValues(t, 1, s.accepts.Load())
	require.NoError(t, c.Do(ctx, r))
	assert.EqualValues(t, 2, s.accepts.Load())
	r.SetAttributes(NeedAffinityAttr)
	assert.Equal(t, fault.NoAffinity, faultCode(t, c.Do(ctx, r)))
}

func TestNeedAffinityAfterServiceDroppedConnection(t *testing.T) {
	dir := tempDir(t)
	s := startFake(t, dir, echoKey, "echo", func(s *fakeService) { s.affinityTimeout = 100 * time.Millisecond })
	c := newTestClient(t, dir)
	ctx := context.Background()
	r := NewRequest(echoKey, []byte("x"), KeepAffinity(), NoRetry())
	require.NoError(t, c.Do(ctx, r))
	require.True(t, r.HasAffinity())
	// The service gives up on the connection after its affinity timeout.
	waitUntil(t, 5*time.Second, func() bool { return s.closed.Load() == 1 })
	r.SetAttributes(NeedAffinityAttr)
	err := c.Do(ctx, r)
	code := faultCode(t, err)
	assert.Contains(t, []fault.Code{fault.SocketWriteFailed, fault.SocketReadFailed, fault.IncompleteResponse}, code, "%v", err)
	assert.False(t, r.HasAffinity())
	assert.EqualValues(t, 1, s.accepts.Load(), "needAffinity is never retried on a new connection")
	assert.Equal(t, fault.NoAffinity, faultCode(t, c.Do(ctx, r)))
}

func TestWildcardFallback(t *testing.T) {
	dir := tempDir(t)
	wild := startFake(t, dir, "AddressBook..0.JSON", "wild")
	exact := startFake(t, dir, "AddressBook.AddEntry.0.JSON", "exact")
	c := newTestClient(t, dir)
	ctx := context.Background()
	resp, err := c.Call(ctx, "AddressBook.AddEntry.0.JSON", nil)
	require.NoError(t, err)
	assert.Equal(t, exact.name, resp.ServiceName)
	resp, err = c.Call(ctx, "AddressBook.GetList.0.JSON", nil)
	require.NoError(t, err)
	assert.Equal(t, wild.name, resp.ServiceName)
	req, _ := wild.last()
	assert.Equal(t, "AddressBook.GetList.0.JSON", req.ServiceKey, "the service sees the client's key")
	_, err = c.Call(ctx, "AddressBook.GetList.1.JSON", nil)
	assert.Equal(t, fault.ServiceNotFound, faultCode(t, err), "the version must match")
	_, err = c.Call(ctx, "AddressBook.GetList.0.XML", nil)
	assert.Equal(t, fault.ServiceNotFound, faultCode(t, err), "the serialization must match")

	loc, err := c.Lookup("AddressBook.GetList.0.JSON")
	require.NoError(t, err)
	assert.Equal(t, Location{SearchKey: "AddressBook.JSON.0", SocketPath: filepath.Join(dir, "AddressBook..0.JSON.socket"), Wildcard: true}, loc)
	loc, err = c.Lookup("AddressBook.AddEntry.0.JSON")
	require.NoError(t, err)
	assert.Equal(t, "AddressBook.JSON.0.AddEntry", loc.SearchKey)
}

func TestServiceReplacedByRename(t *testing.T) {
	dir := tempDir(t)
	a := startFake(t, dir, echoKey, "first")
	c := newTestClient(t, dir)
	ctx := context.Background()
	resp, err := c.Call(ctx, echoKey, nil)
	require.NoError(t, err)
	assert.Equal(t, a.name, resp.ServiceName)

	// The manager builds <SK>.socket.tmp and renames it over the old one.
	b := startFakeAt(t, filepath.Join(dir, echoKey+".socket.tmp"), "second")
	require.NoError(t, os.Rename(b.path, filepath.Join(dir, echoKey+".socket")))
	resp, err = c.Call(ctx, echoKey, nil)
	require.NoError(t, err)
	assert.Equal(t, b.name, resp.ServiceName, "the same client finds the new service")

	require.NoError(t, os.Remove(filepath.Join(dir, echoKey+".socket")))
	_, err = c.Call(ctx, echoKey, nil)
	assert.Equal(t, fault.ServiceNotFound, faultCode(t, err))

	n := startFake(t, dir, echoKey, "third")
	resp, err = c.Call(ctx, echoKey, nil)
	require.NoError(t, err)
	assert.Equal(t, n.name, resp.ServiceName, "a service added later is found")
}

func TestLookupLocation(t *testing.T) {
	dir := tempDir(t)
	rdir := filepath.Join(dir, "rendezvous")
	require.NoError(t, os.Mkdir(rdir, 0o755))
	s := startFake(t, rdir, echoKey, "echo")
	mapPath := filepath.Join(dir, "lookup.map")
	require.NoError(t, os.WriteFile(mapPath, []byte("# pluton lookup map 3001\nrendezvous "+rdir+"\nsystem.raw.0.echo "+s.path+"\n"), 0o444))

	c, err := New("m", WithLookup(mapPath))
	require.NoError(t, err)
	assert.Equal(t, rdir, c.Rendezvous())
	_, err = c.Call(context.Background(), echoKey, nil)
	require.NoError(t, err)

	t.Setenv(LookupEnv, mapPath)
	c, err = New("env")
	require.NoError(t, err)
	assert.Equal(t, mapPath, c.LookupPath())

	_, err = New("x", WithLookup(filepath.Join(dir, "missing.map")))
	assert.Equal(t, fault.OpenForMmapFailed, faultCode(t, err))
	bad := filepath.Join(dir, "bad.map")
	require.NoError(t, os.WriteFile(bad, []byte("hello\n"), 0o644))
	_, err = New("x", WithLookup(bad))
	assert.Equal(t, fault.MapInitializationFailed, faultCode(t, err))
	old := filepath.Join(dir, "old.map")
	require.NoError(t, os.WriteFile(old, []byte("# pluton lookup map 1001\nrendezvous /tmp\n"), 0o644))
	_, err = New("x", WithLookup(old))
	assert.Equal(t, fault.ShmVersionMisMatch, faultCode(t, err))

	// The manager restarted with another rendezvous directory: found again.
	rdir2 := filepath.Join(dir, "r2")
	require.NoError(t, os.Mkdir(rdir2, 0o755))
	s2 := startFake(t, rdir2, "other.svc.0.raw", "other")
	require.NoError(t, os.WriteFile(mapPath+".tmp", []byte("rendezvous "+rdir2+"\n"), 0o444))
	require.NoError(t, os.Rename(mapPath+".tmp", mapPath))
	c, err = New("m", WithLookup(mapPath))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(mapPath+".tmp", []byte("rendezvous "+rdir+"\n"), 0o444))
	require.NoError(t, os.Rename(mapPath+".tmp", mapPath))
	_, err = c.Call(context.Background(), echoKey, nil)
	require.NoError(t, err)
	_ = s2
}

func TestBatch(t *testing.T) {
	dir := tempDir(t)
	startFake(t, dir, echoKey, "echo")
	c := newTestClient(t, dir)
	ctx := context.Background()
	b := c.NewBatch()

	never := NewRequest(echoKey, nil)
	assert.Equal(t, fault.RequestNotAdded, faultCode(t, never.Err()))
	assert.Equal(t, fault.RequestNotAdded, faultCode(t, b.WaitOne(never)))
	assert.Nil(t, b.WaitAny())
	assert.Equal(t, 0, b.WaitAll())
	assert.Equal(t, 0, b.WaitSent())

	var reqs []*Request
	sleep := func(i int) time.Duration { // the last one added is by far the fastest
		if i == 9 {
			return 0
		}
		return 300 * time.Millisecond
	}
	for i := range 10 {
		ms := strconv.Itoa(int(sleep(i).Milliseconds()))
		r := NewRequest(echoKey, []byte(strconv.Itoa(i)), Context("sleepMS", ms))
		r.Handle = i
		require.NoError(t, b.Add(ctx, r))
		reqs = append(reqs, r)
	}
	assert.Equal(t, fault.RequestAlreadyAdded, faultCode(t, b.Add(ctx, reqs[0])))
	assert.Equal(t, fault.RequestAlreadyAdded, faultCode(t, c.Do(ctx, reqs[0])))
	assert.True(t, reqs[0].InProgress())
	assert.Equal(t, fault.RequestInProgress, faultCode(t, reqs[0].Err()))
	// WaitSent returns how many are still in progress once all are written:
	// the nine slow ones, and the fast one unless it has already finished.
	assert.Contains(t, []int{9, 10}, b.WaitSent())

	// The fastest finishes first.
	first := b.WaitAny()
	require.NotNil(t, first)
	assert.Equal(t, 9, first.Handle)
	require.NoError(t, b.WaitOne(reqs[0]))
	assert.Equal(t, "0", string(reqs[0].Response().Data))
	assert.Equal(t, 8, b.WaitAll())
	for i, r := range reqs {
		require.NoError(t, r.Err())
		assert.Equal(t, strconv.Itoa(i), string(r.Response().Data))
		assert.GreaterOrEqual(t, r.Elapsed(), sleep(i))
	}
	assert.Equal(t, 0, b.Outstanding())

	// Mixed outcomes: each request has its own result.
	ok := NewRequest(echoKey, []byte("ok"))
	slow := NewRequest(echoKey, nil, Context("sleepMS", "5000"), Timeout(100*time.Millisecond))
	bad := NewRequest("nosuch.x.0.raw", nil)
	require.NoError(t, b.Add(ctx, ok))
	require.NoError(t, b.Add(ctx, slow))
	require.NoError(t, b.Add(ctx, bad))
	assert.Equal(t, 3, b.WaitAll())
	assert.NoError(t, ok.Err())
	assert.Equal(t, fault.ServiceTimeout, faultCode(t, slow.Err()))
	assert.Equal(t, fault.ServiceNotFound, faultCode(t, bad.Err()))
}

func TestConcurrentCalls(t *testing.T) {
	dir := tempDir(t)
	startFake(t, dir, echoKey, "echo")
	c := newTestClient(t, dir)
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for g := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := NewRequest(echoKey, nil)
			for i := range 50 {
				data := []byte(fmt.Sprintf("g%d-%d", g, i))
				if i%2 == 0 {
					resp, err := c.Call(context.Background(), echoKey, data)
					if err != nil || !bytes.Equal(resp.Data, data) {
						errs <- fmt.Errorf("call %s: %v %q", data, err, resp.Data)
						return
					}
					continue
				}
				r.SetData(data)
				if err := c.Do(context.Background(), r); err != nil || !bytes.Equal(r.Response().Data, data) {
					errs <- fmt.Errorf("do %s: %v %q", data, err, r.Response().Data)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// The client hands a large response payload to the caller without copying;
// that relies on the parser giving every large payload a buffer of its own.
func TestParserBigPayloadOwned(t *testing.T) {
	p := protocol.NewResponseParser()
	one := protocol.AppendResponse(nil, &protocol.Response{ID: 1, Data: bytes.Repeat([]byte("a"), parserSmallField+1)})
	two := protocol.AppendResponse(nil, &protocol.Response{ID: 2, Data: bytes.Repeat([]byte("b"), parserSmallField+1)})
	_, done, err := p.Feed(one)
	require.NoError(t, err)
	require.True(t, done)
	var r1, r2 protocol.Response
	p.Response(&r1)
	_, done, err = p.Feed(two)
	require.NoError(t, err)
	require.True(t, done)
	p.Response(&r2)
	assert.Equal(t, bytes.Repeat([]byte("a"), parserSmallField+1), r1.Data)
	assert.Equal(t, bytes.Repeat([]byte("b"), parserSmallField+1), r2.Data)
}

// A write that fails part-way (the instance read some of the request and
// died) is not resent: the instance may have died on it.
func TestPartialWriteNotResent(t *testing.T) {
	dir := tempDir(t)
	ln, err := net.Listen("unix", filepath.Join(dir, echoKey+".socket"))
	require.NoError(t, err)
	defer ln.Close()
	var accepts atomic.Int32
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepts.Add(1)
			c.Read(make([]byte, 1000)) // read a little, then drop the connection
			c.Close()
		}
	}()
	c := newTestClient(t, dir)
	_, err = c.Call(context.Background(), echoKey, payload(4<<20))
	var f *fault.Fault
	require.ErrorAs(t, err, &f)
	assert.Equal(t, fault.IncompleteResponse, f.Code)
	assert.Equal(t, DiedText, f.Text)
	time.Sleep(50 * time.Millisecond)
	assert.EqualValues(t, 1, accepts.Load(), "not resent")
}

// A service that answers before reading the whole request (fault 3 for an
// oversize request, docs/protocol.md §8) and closes: the answer is the
// result, not the broken pipe.
func TestAnswerBeforeWholeRequest(t *testing.T) {
	dir := tempDir(t)
	ln, err := net.Listen("unix", filepath.Join(dir, echoKey+".socket"))
	require.NoError(t, err)
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		b := make([]byte, 4096)
		n, _ := c.Read(b)
		p := protocol.NewRequestParser()
		p.Feed(b[:n])
		var req protocol.Request
		p.Request(&req)
		c.Write(protocol.AppendResponse(nil, &protocol.Response{ID: req.ID, ClientName: req.ClientName,
			FaultCode: int64(fault.RequestTooLarge), FaultText: "request data of 8388608 bytes exceeds maximum-request-size 1000"}))
	}()
	c := newTestClient(t, dir)
	_, err = c.Call(context.Background(), echoKey, payload(8<<20))
	var f *fault.Fault
	require.ErrorAs(t, err, &f)
	assert.Equal(t, fault.RequestTooLarge, f.Code, "%v", err)
	assert.Contains(t, f.Text, "exceeds maximum-request-size")
}
