package service

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/pluton-go/pluton/go/fault"
	"github.com/pluton-go/pluton/go/protocol"
	"github.com/pluton-go/pluton/go/stats"
)

// testThreads is the maximum-threads of the tests in this file.
const testThreads = 3

// newThreadsFixture is a manager fixture for processes instances of
// testThreads threads each (slotCount = processes × testThreads); the
// service under test is the last instance, whose first slot gets the
// manager fields.
func newThreadsFixture(t *testing.T, processes int, maxRequests uint32, h stats.HeaderConfig) *managerFixture {
	t.Helper()
	h.Slots, h.ThreadsPerInstance = processes*testThreads, testThreads
	f := newManagerFixtureHeader(t, h, 0, 0)
	f.slot = (processes - 1) * testThreads
	var b [8]byte // maximumRequests (offset 48) and shutdownRequest (52)
	b[0], b[1], b[2], b[3] = byte(maxRequests), byte(maxRequests>>8), byte(maxRequests>>16), byte(maxRequests>>24)
	_, err := f.seg.WriteAt(b[:], int64(stats.HeaderSize+f.slot*stats.SlotSize+48))
	require.NoError(t, err)
	return f
}

// slotAt reads slot i of the fixture's segment.
func (f *managerFixture) slotAt(t *testing.T, i int) stats.SlotStats {
	t.Helper()
	b, err := os.ReadFile(f.segPath)
	require.NoError(t, err)
	return stats.Segment(b).Slot(i).Read()
}

// threadSlots reads the thread slots of the instance under test.
func (f *managerFixture) threadSlots(t *testing.T) []stats.SlotStats {
	t.Helper()
	var sts []stats.SlotStats
	for i := range testThreads {
		sts = append(sts, f.slotAt(t, f.slot+i))
	}
	return sts
}

// serveAsync runs Serve in the background; its result arrives on the
// channel. It returns once every worker waits in accept, so that the
// requests of a test meet the instance as a client meets a running one.
func serveAsync(t *testing.T, svc *Service, h Handler) <-chan error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- svc.Serve(h) }()
	require.Eventually(t, func() bool { return svc.inst.inAccept.Load() == int32(svc.Threads()) },
		10*time.Second, time.Millisecond, "every worker waits in accept")
	return done
}

func waitServe(t *testing.T, done <-chan error) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(20 * time.Second):
		t.Fatal("Serve did not return")
	}
	return nil
}

// span is when a handler ran.
type span struct {
	id         int64
	start, end time.Time
}

// gate is a handler that holds every request until the test releases them,
// so that the test sees which requests are in flight at once. It records
// when each handler ran.
type gate struct {
	entered chan int64 // the ids of the requests that reached the handler

	mu      sync.Mutex
	release chan struct{} // closed to let the handlers go on
	spans   []span
}

func newGate() *gate {
	return &gate{entered: make(chan int64, 64), release: make(chan struct{})}
}

func (g *gate) handle(req *Request) ([]byte, error) {
	start := time.Now()
	g.entered <- req.ID()
	g.mu.Lock()
	release := g.release
	g.mu.Unlock()
	select {
	case <-release:
	case <-time.After(10 * time.Second):
		return nil, errors.New("the test did not release the handler")
	}
	switch string(req.Data()) {
	case "panic":
		panic("boom")
	case "slow":
		time.Sleep(20 * time.Millisecond)
	}
	g.mu.Lock()
	g.spans = append(g.spans, span{req.ID(), start, time.Now()})
	g.mu.Unlock()
	return req.Data(), nil
}

// waitEntered waits until n requests are in the handler at once and returns
// their ids.
func (g *gate) waitEntered(t *testing.T, n int) []int64 {
	t.Helper()
	var ids []int64
	for range n {
		select {
		case id := <-g.entered:
			ids = append(ids, id)
		case <-time.After(10 * time.Second):
			t.Fatalf("only %d of %d requests reached the handler at once", len(ids), n)
		}
	}
	return ids
}

// result is the outcome of one call made by asyncCall.
type result struct {
	id   int64
	resp protocol.Response
	err  error
}

// asyncCall sends r on a new connection from another goroutine; the
// response (or the error) arrives on out. It uses no testing.T, whose
// FailNow must not run outside the test's goroutine.
func asyncCall(path string, r *protocol.Request, out chan<- result) {
	go func() {
		res := result{id: r.ID}
		defer func() { out <- res }()
		c, err := dialErr(path)
		if err != nil {
			res.err = err
			return
		}
		defer c.conn.Close()
		if _, err := c.conn.Write(protocol.AppendRequest(nil, r)); err != nil {
			res.err = err
			return
		}
		res.err = c.dec.ReadResponse(&res.resp)
		res.resp.Data = append([]byte(nil), res.resp.Data...)
	}()
}

// dialUnix connects to path with the deadlines of dial, without testing.T.
func dialUnix(path string) (net.Conn, error) {
	conn, err := net.DialTimeout("unix", path, 5*time.Second)
	if err != nil {
		return nil, err
	}
	return conn, conn.SetDeadline(time.Now().Add(20 * time.Second))
}

func dialErr(path string) (*client, error) {
	conn, err := dialUnix(path)
	if err != nil {
		return nil, err
	}
	return &client{conn: conn, dec: protocol.NewResponseDecoder(conn)}, nil
}

// threadReq is a request with its own id and client name.
func threadReq(id int64, data string) *protocol.Request {
	r := echoReq("echo", data)
	r.ID, r.ClientName = id, "c:"+strconv.FormatInt(id, 10)
	return r
}

// collect waits for n results.
func collect(t *testing.T, out <-chan result, n int) map[int64]result {
	t.Helper()
	got := map[int64]result{}
	for range n {
		select {
		case r := <-out:
			got[r.id] = r
		case <-time.After(20 * time.Second):
			t.Fatalf("%d of %d calls answered", len(got), n)
		}
	}
	return got
}

// thread returns the thread t that a response's service name <name>:<pid>/<t> names.
func thread(t *testing.T, resp protocol.Response) int {
	t.Helper()
	prefix := "echo:" + strconv.Itoa(os.Getpid()) + "/"
	require.Len(t, resp.ServiceName, len(prefix)+1, resp.ServiceName)
	require.Equal(t, prefix, resp.ServiceName[:len(prefix)])
	n, err := strconv.Atoi(resp.ServiceName[len(prefix):])
	require.NoError(t, err)
	return n
}

// TestThreadsServeConcurrently: with maximum-threads 3 one instance serves
// three requests at once, each on its own thread slot, which shows it busy
// with that request's identity; every thread slot counts its own requests,
// the response names the thread, and the report records carry plutonSlot.
func TestThreadsServeConcurrently(t *testing.T) {
	f := newThreadsFixture(t, 2, 0, stats.HeaderConfig{})
	svc := f.service(t, nil)
	require.Equal(t, testThreads, svc.Threads())
	for i, st := range f.threadSlots(t) {
		assert.Equal(t, uint32(os.Getpid()), st.PID, "thread slot %d: pid written at start", i)
		assert.Equal(t, stats.StateIdle, st.State, "thread slot %d", i)
	}
	assert.Zero(t, f.slotAt(t, 0).PID, "the other instance's slots are not touched")
	g := newGate()
	done := serveAsync(t, svc, g.handle)

	out := make(chan result, 16)
	for id := int64(1); id <= testThreads; id++ {
		asyncCall(f.sock, threadReq(id, "d"+strconv.FormatInt(id, 10)), out)
	}
	ids := g.waitEntered(t, testThreads)
	assert.ElementsMatch(t, []int64{1, 2, 3}, ids, "all three in the handler at the same time")
	// While they are served, every thread slot is busy with one of them.
	var busyIDs []int64
	for i, st := range f.threadSlots(t) {
		assert.Equal(t, stats.StateBusy, st.State, "thread slot %d", i)
		assert.Equal(t, "c:"+strconv.FormatInt(st.RequestID, 10), st.ClientName, "thread slot %d: the request's identity", i)
		assert.Equal(t, uint64(1), st.Requests, "thread slot %d", i)
		busyIDs = append(busyIDs, st.RequestID)
	}
	assert.ElementsMatch(t, []int64{1, 2, 3}, busyIDs)
	close(g.release)
	got := collect(t, out, testThreads)

	g.mu.Lock()
	spans := append([]span(nil), g.spans...)
	g.mu.Unlock()
	require.Len(t, spans, testThreads)
	lastStart, firstEnd := spans[0].start, spans[0].end
	for _, s := range spans[1:] {
		if s.start.After(lastStart) {
			lastStart = s.start
		}
		if s.end.Before(firstEnd) {
			firstEnd = s.end
		}
	}
	assert.True(t, lastStart.Before(firstEnd), "every handler started before any ended: %v", spans)

	// Each response names its thread; the thread slot of that thread served it.
	threads := map[int]int64{}
	for id, r := range got {
		require.NoError(t, r.err)
		assert.Equal(t, "d"+strconv.FormatInt(id, 10), string(r.resp.Data))
		assert.Equal(t, id, r.resp.ID)
		threads[thread(t, r.resp)] = id
	}
	require.Len(t, threads, testThreads, "three different threads")
	for th, id := range threads {
		assert.Equal(t, id, f.slotAt(t, f.slot+th).RequestID, "thread %d", th)
	}

	// More requests, one at a time: each thread slot counts exactly the
	// requests whose response names its thread.
	perThread := map[int]uint64{0: 1, 1: 1, 2: 1}
	for id := int64(10); id < 22; id++ {
		asyncCall(f.sock, threadReq(id, "x"), out)
		g.waitEntered(t, 1) // released already: the gate is open
		r := collect(t, out, 1)[id]
		require.NoError(t, r.err)
		perThread[thread(t, r.resp)]++
	}
	// A fault is counted by the slot of the thread that sent it.
	fr := threadReq(30, "panic")
	asyncCall(f.sock, fr, out)
	g.waitEntered(t, 1)
	pr := collect(t, out, 1)[30]
	require.NoError(t, pr.err)
	assert.Equal(t, int64(fault.ServiceException), pr.resp.FaultCode)
	faultThread := thread(t, pr.resp)
	perThread[faultThread]++

	require.NoError(t, unix.Shutdown(int(f.listen.Fd()), unix.SHUT_RDWR)) // every worker's accept fails
	err := waitServe(t, done)
	var ft *fault.Fault
	require.ErrorAs(t, err, &ft)
	assert.Equal(t, fault.AcceptFailed, ft.Code)
	require.NoError(t, svc.Close())

	var total uint64
	for i, st := range f.threadSlots(t) {
		assert.Equal(t, perThread[i], st.Requests, "thread slot %d counts its own requests", i)
		wantFaults := uint64(0)
		if i == faultThread {
			wantFaults = 1
		}
		assert.Equal(t, wantFaults, st.Faults, "thread slot %d", i)
		assert.Equal(t, perThread[i]-wantFaults, st.Responses, "thread slot %d", i)
		assert.Equal(t, stats.StateStopping, st.State, "thread slot %d", i)
		total += st.Requests
	}
	assert.Equal(t, uint64(16), total)
	assert.Equal(t, stats.AcceptFailed, f.slotAt(t, f.slot).ExitReason, "in the first slot")
	for i := 1; i < testThreads; i++ {
		assert.Equal(t, stats.NoReason, f.slotAt(t, f.slot+i).ExitReason, "only the first slot holds the exit reason")
	}

	recs := f.records(t)
	require.NotEmpty(t, recs)
	for _, rec := range recs {
		assert.Equal(t, uint32(os.Getpid()), rec.PID)
		assert.Equal(t, uint32(f.slot), rec.Slot, "the record's slot is plutonSlot")
	}
	assert.Len(t, entries(recs), 16, "one entry per request of every thread")
}

// TestThreadsMaximumRequests: maximumRequests limits the instance as a
// whole; once it is reached every worker leaves, each after serving what
// it had accepted, so no accepted connection is lost: a second instance
// serves the connections the first left in the backlog, and every client
// gets its response.
func TestThreadsMaximumRequests(t *testing.T) {
	const limit, clients = 5, 12
	f := newThreadsFixture(t, 2, limit, stats.HeaderConfig{})
	go drainReports(f)
	svc := f.service(t, nil)
	var inFlight, maxInFlight atomic.Int32
	handler := func(req *Request) ([]byte, error) {
		n := inFlight.Add(1)
		for {
			m := maxInFlight.Load()
			if n <= m || maxInFlight.CompareAndSwap(m, n) {
				break
			}
		}
		time.Sleep(50 * time.Millisecond)
		inFlight.Add(-1)
		return req.Data(), nil
	}
	stopped := 0
	svc.OnStop(func() { stopped++ })
	done := serveAsync(t, svc, handler)
	out := make(chan result, clients)
	for id := int64(1); id <= clients; id++ {
		asyncCall(f.sock, threadReq(id, strconv.FormatInt(id, 10)), out)
	}
	require.NoError(t, waitServe(t, done), "maximum-requests is a clean stop")
	assert.Equal(t, 1, stopped, "OnStop ran once")
	require.NoError(t, svc.Close())

	var served uint64
	for i, st := range f.threadSlots(t) {
		assert.Equal(t, stats.StateStopping, st.State, "thread slot %d", i)
		assert.Equal(t, st.Requests, st.Responses, "thread slot %d: every request it read was answered", i)
		served += st.Requests
	}
	// Each worker may take one more request than the limit (it was accepting
	// when another took the last one), and serves the connections it had
	// accepted.
	assert.GreaterOrEqual(t, served, uint64(limit))
	assert.Equal(t, stats.MaxRequests, f.slotAt(t, f.slot).ExitReason)

	// The first instance of the service takes the rest.
	rest, err := newService("echo", testEnv(inheritable(t, f.listen), inheritable(t, f.seg), inheritable(t, f.reportW),
		map[string]string{"plutonSlot": "0"}))
	require.NoError(t, err)
	done = serveAsync(t, rest, handler)
	got := collect(t, out, clients)
	for id, r := range got {
		require.NoError(t, r.err, "request %d: no accepted connection is lost", id)
		assert.Equal(t, strconv.FormatInt(id, 10), string(r.resp.Data))
	}
	var servedRest uint64
	for i := range testThreads {
		servedRest += f.slotAt(t, i).Requests
	}
	assert.Equal(t, uint64(clients), served+servedRest, "each request served once")
	assert.Greater(t, maxInFlight.Load(), int32(1), "requests were served concurrently")
	require.NoError(t, unix.Shutdown(int(f.listen.Fd()), unix.SHUT_RDWR))
	waitServe(t, done)
	require.NoError(t, rest.Close())
}

// newSignalledThreadsService returns a threaded instance in slot 0 that
// honours SIGTERM, as under the manager.
func newSignalledThreadsService(t *testing.T) (*managerFixture, *Service) {
	t.Helper()
	f := newThreadsFixture(t, 1, 0, stats.HeaderConfig{})
	e := testEnv(inheritable(t, f.listen), inheritable(t, f.seg), inheritable(t, f.reportW),
		map[string]string{"plutonSlot": "0"})
	e.signals = true
	svc, err := newService("echo", e)
	require.NoError(t, err)
	return f, svc
}

// TestThreadsStopSignal: SIGTERM with a request in flight on every thread:
// each is finished and answered, Serve returns nil once every worker has
// left, and the OnStop hooks run once, after the last handler returned.
func TestThreadsStopSignal(t *testing.T) {
	f, svc := newSignalledThreadsService(t)
	g := newGate()
	var hookRuns []int // handlers finished when each hook run began
	svc.OnStop(func() {
		g.mu.Lock()
		hookRuns = append(hookRuns, len(g.spans))
		g.mu.Unlock()
	})
	done := serveAsync(t, svc, g.handle)
	out := make(chan result, testThreads)
	for id := int64(1); id <= testThreads; id++ {
		asyncCall(f.sock, threadReq(id, "slow"), out)
	}
	g.waitEntered(t, testThreads)
	require.NoError(t, syscall.Kill(os.Getpid(), syscall.SIGTERM))
	time.Sleep(50 * time.Millisecond) // the signal is recorded before the handlers finish
	close(g.release)
	for id, r := range collect(t, out, testThreads) {
		require.NoError(t, r.err, "request %d finished after the stop signal", id)
		assert.Equal(t, "slow", string(r.resp.Data))
	}
	require.NoError(t, waitServe(t, done))
	assert.Equal(t, []int{testThreads}, hookRuns, "once, after every handler")
	st := f.threadSlots(t)
	for i := range st {
		assert.Equal(t, stats.StateStopping, st[i].State, "thread slot %d", i)
		assert.Equal(t, uint64(1), st[i].Responses, "thread slot %d", i)
	}
	assert.Equal(t, stats.ServiceShutdown, st[0].ExitReason)
	require.NoError(t, svc.Close())
	assert.Len(t, hookRuns, 1, "Close does not run them again")
	assert.Len(t, entries(f.records(t)), testThreads)
}

// TestThreadsLoopFormRefused: Next cannot serve three requests at once, so
// with maximum-threads above 1 it fails with fault -104, every time, and
// the loop ends (the hooks run, the thread slots say stopping).
func TestThreadsLoopFormRefused(t *testing.T) {
	f := newThreadsFixture(t, 1, 0, stats.HeaderConfig{})
	svc := f.service(t, nil)
	ran := 0
	svc.OnStop(func() { ran++ })
	_, err := svc.Next()
	var ft *fault.Fault
	require.ErrorAs(t, err, &ft)
	assert.Equal(t, fault.ShmThreadConfigNotService, ft.Code)
	assert.Equal(t, "maximum-threads 3 needs the handler form (Serve): the loop form serves one request at a time", ft.Text)
	_, again := svc.Next()
	assert.Equal(t, err, again)
	assert.Equal(t, err, svc.Serve(func(r *Request) ([]byte, error) { return nil, nil }), "the loop has ended")
	assert.Equal(t, 1, ran)
	for i, st := range f.threadSlots(t) {
		assert.Equal(t, stats.StateStopping, st.State, "thread slot %d", i)
	}
	require.NoError(t, svc.Close())
	assert.Equal(t, 1, ran)
}

// TestThreadsPanic: a panic in one worker's handler is fault 6 for its
// request; the requests in flight on the other threads are answered, and
// all three threads go on serving.
func TestThreadsPanic(t *testing.T) {
	f := newThreadsFixture(t, 1, 0, stats.HeaderConfig{})
	go drainReports(f)
	svc := f.service(t, nil)
	g := newGate()
	done := serveAsync(t, svc, g.handle)
	out := make(chan result, 8)
	asyncCall(f.sock, threadReq(1, "panic"), out)
	asyncCall(f.sock, threadReq(2, "slow"), out)
	asyncCall(f.sock, threadReq(3, "slow"), out)
	g.waitEntered(t, testThreads)
	close(g.release) // one panics while the others are in flight
	got := collect(t, out, testThreads)
	require.NoError(t, got[1].err)
	assert.Equal(t, int64(fault.ServiceException), got[1].resp.FaultCode)
	assert.Equal(t, "panic: boom", got[1].resp.FaultText)
	for _, id := range []int64{2, 3} {
		require.NoError(t, got[id].err)
		assert.Equal(t, int64(0), got[id].resp.FaultCode)
		assert.Equal(t, "slow", string(got[id].resp.Data))
	}

	// Every thread is still there: three requests in the handler at once.
	g.mu.Lock()
	g.release = make(chan struct{})
	g.mu.Unlock()
	for id := int64(4); id <= 6; id++ {
		asyncCall(f.sock, threadReq(id, fmt.Sprint(id)), out)
	}
	g.waitEntered(t, testThreads)
	close(g.release)
	names := map[string]bool{}
	for _, r := range collect(t, out, testThreads) {
		require.NoError(t, r.err)
		names[r.resp.ServiceName] = true
	}
	assert.Len(t, names, testThreads)
	require.NoError(t, unix.Shutdown(int(f.listen.Fd()), unix.SHUT_RDWR))
	waitServe(t, done)
	require.NoError(t, svc.Close())
}

// TestThreadsSlotsMissing: a segment whose slot count has no room for the
// instance's thread slots is not used: the service runs without stats and
// with one thread, as for any segment that fails its checks.
func TestThreadsSlotsMissing(t *testing.T) {
	f := newManagerFixtureHeader(t, stats.HeaderConfig{Slots: 4, ThreadsPerInstance: testThreads}, 0, 0)
	svc := f.service(t, map[string]string{"plutonSlot": "3"})
	assert.Nil(t, svc.slot)
	assert.Equal(t, 1, svc.Threads())
	require.NoError(t, svc.Close())
}

// TestThreadsPendingConnectionNotHeld: a worker that holds an incomplete
// connection leaves the new connections to the workers waiting in accept,
// so it is free to serve its own connection when the rest of the packet
// arrives: three requests in flight at once, the late one among them.
func TestThreadsPendingConnectionNotHeld(t *testing.T) {
	f := newThreadsFixture(t, 1, 0, stats.HeaderConfig{})
	go drainReports(f)
	svc := f.service(t, nil)
	g := newGate()
	done := serveAsync(t, svc, g.handle)
	late := dial(t, f.sock)
	packet := protocol.AppendRequest(nil, threadReq(1, "late"))
	_, err := late.conn.Write(packet[:10])
	require.NoError(t, err)
	time.Sleep(50 * time.Millisecond) // in a worker's pending set
	out := make(chan result, 4)
	asyncCall(f.sock, threadReq(2, "x"), out)
	asyncCall(f.sock, threadReq(3, "y"), out)
	assert.ElementsMatch(t, []int64{2, 3}, g.waitEntered(t, 2))
	_, err = late.conn.Write(packet[10:])
	require.NoError(t, err)
	assert.Equal(t, []int64{1}, g.waitEntered(t, 1), "served while the other two are in flight")
	close(g.release)
	assert.Equal(t, "late", string(late.recv(t).Data))
	collect(t, out, 2)
	require.NoError(t, unix.Shutdown(int(f.listen.Fd()), unix.SHUT_RDWR))
	waitServe(t, done)
	require.NoError(t, svc.Close())
}

// TestEchoServiceThreads: the reference echoService serves maximum-threads
// requests at once: three slow requests keep its three thread slots busy
// together, the responses name three threads, and SIGTERM ends it cleanly
// with the code after its loop run.
func TestEchoServiceThreads(t *testing.T) {
	f := newThreadsFixture(t, 1, 0, stats.HeaderConfig{})
	in := startInstance(t, f)
	out := make(chan result, testThreads)
	for id := int64(1); id <= testThreads; id++ {
		r := threadReq(id, "slow")
		r.Context = protocol.AppendContext(nil, "echo.sleepMS", "400")
		asyncCall(f.sock, r, out)
	}
	assert.Eventually(t, func() bool {
		for _, st := range f.threadSlots(t) {
			if st.State != stats.StateBusy {
				return false
			}
		}
		return true
	}, 5*time.Second, 2*time.Millisecond, "every thread slot busy at once")
	names := map[string]bool{}
	for _, r := range collect(t, out, testThreads) {
		require.NoError(t, r.err)
		assert.Equal(t, "slow", string(r.resp.Data))
		names[r.resp.ServiceName] = true
	}
	for th := range testThreads {
		assert.True(t, names[fmt.Sprintf("echo:%d/%d", in.cmd.Process.Pid, th)], "thread %d answered: %v", th, names)
	}
	require.NoError(t, in.cmd.Process.Signal(syscall.SIGTERM))
	code, _ := in.exit(t)
	assert.Equal(t, 0, code, in.stderr.String())
	assert.Contains(t, in.stderr.String(), "echo stats: Rq=3 MB=0")
	assert.Equal(t, stats.ServiceShutdown, f.slotAt(t, f.slot).ExitReason)
	for i, st := range f.threadSlots(t) {
		assert.Equal(t, uint32(in.cmd.Process.Pid), st.PID, "thread slot %d", i)
		assert.Equal(t, uint64(1), st.Responses, "thread slot %d", i)
		assert.Equal(t, stats.StateStopping, st.State, "thread slot %d", i)
	}
}

// TestThreadsRecorder: the workers share the recorder's index, so requests
// recorded at the same time get files of their own, which the thread slots
// name.
func TestThreadsRecorder(t *testing.T) {
	dir := t.TempDir()
	f := newThreadsFixture(t, 1, 0, stats.HeaderConfig{RecorderPrefix: dir + "/rec."})
	go drainReports(f)
	svc := f.service(t, nil)
	g := newGate()
	done := serveAsync(t, svc, g.handle)
	out := make(chan result, testThreads)
	for id := int64(1); id <= testThreads; id++ {
		asyncCall(f.sock, threadReq(id, "r"+strconv.FormatInt(id, 10)), out)
	}
	g.waitEntered(t, testThreads)
	var indexes []uint32
	for _, st := range f.threadSlots(t) {
		indexes = append(indexes, st.RecorderIndex)
		packet, err := os.ReadFile(fmt.Sprintf("%s/rec.in.%d.%05d", dir, os.Getpid(), st.RecorderIndex))
		require.NoError(t, err)
		assert.Equal(t, string(protocol.AppendRequest(nil, threadReq(st.RequestID, "r"+strconv.FormatInt(st.RequestID, 10)))),
			string(packet), "the file of the slot's request")
	}
	assert.ElementsMatch(t, []uint32{1, 2, 3}, indexes)
	close(g.release)
	collect(t, out, testThreads)
	require.NoError(t, unix.Shutdown(int(f.listen.Fd()), unix.SHUT_RDWR))
	waitServe(t, done)
	require.NoError(t, svc.Close())
	for _, i := range indexes {
		_, err := os.Stat(fmt.Sprintf("%s/rec.out.%d.%05d", dir, os.Getpid(), i))
		assert.NoError(t, err, "out-file %d", i)
	}
}

// TestThreadsHandOver: a worker that starts serving a request while it
// holds an incomplete connection hands that connection over, so that when
// its packet completes the first worker to be free serves it, not
// necessarily the one that accepted it.
func TestThreadsHandOver(t *testing.T) {
	f := newThreadsFixture(t, 1, 0, stats.HeaderConfig{})
	go drainReports(f)
	svc := f.service(t, nil)
	entered := make(chan int64, 8)
	release := map[int64]chan struct{}{}
	for id := int64(1); id <= 4; id++ {
		release[id] = make(chan struct{})
	}
	done := serveAsync(t, svc, func(req *Request) ([]byte, error) {
		entered <- req.ID()
		select {
		case <-release[req.ID()]:
		case <-time.After(10 * time.Second):
		}
		return req.Data(), nil
	})
	next := func() int64 {
		t.Helper()
		select {
		case id := <-entered:
			return id
		case <-time.After(10 * time.Second):
			t.Fatal("no request reached the handler")
		}
		return 0
	}
	out := make(chan result, 4)
	asyncCall(f.sock, threadReq(2, "two"), out)
	asyncCall(f.sock, threadReq(3, "three"), out)
	assert.ElementsMatch(t, []int64{2, 3}, []int64{next(), next()})
	// The third worker accepts a connection whose packet is incomplete,
	// then one that is complete, which it serves.
	late := dial(t, f.sock)
	packet := protocol.AppendRequest(nil, threadReq(1, "late"))
	_, err := late.conn.Write(packet[:10])
	require.NoError(t, err)
	time.Sleep(50 * time.Millisecond)
	asyncCall(f.sock, threadReq(4, "four"), out)
	assert.Equal(t, int64(4), next())
	_, err = late.conn.Write(packet[10:])
	require.NoError(t, err)
	// Every worker is busy; the first one to be free serves the late request.
	close(release[2])
	assert.Equal(t, int64(1), next(), "served while requests 3 and 4 are in flight")
	close(release[1])
	close(release[3])
	close(release[4])
	assert.Equal(t, "late", string(late.recv(t).Data))
	for id, r := range collect(t, out, 3) {
		require.NoError(t, r.err, "request %d", id)
	}
	require.NoError(t, unix.Shutdown(int(f.listen.Fd()), unix.SHUT_RDWR))
	waitServe(t, done)
	require.NoError(t, svc.Close())
	var requests uint64
	for _, st := range f.threadSlots(t) {
		requests += st.Requests
	}
	assert.Equal(t, uint64(4), requests)
}

// TestThreadsAffinity: a thread that keeps an affinity connection waits on
// it in its own slot (state affinity) while the other threads serve other
// clients, and serves the connection's next request itself.
func TestThreadsAffinity(t *testing.T) {
	f := newThreadsFixture(t, 1, 0, stats.HeaderConfig{AffinityTimeout: 5 * time.Second})
	go drainReports(f)
	svc := f.service(t, nil)
	done := serveAsync(t, svc, func(req *Request) ([]byte, error) { return req.Data(), nil })
	c := dial(t, f.sock)
	r := threadReq(1, "a1")
	r.KeepAffinity = true
	c.send(t, r)
	first := c.recv(t)
	th := thread(t, first)
	require.Eventually(t, func() bool { return f.slotAt(t, f.slot+th).State == stats.StateAffinity },
		5*time.Second, time.Millisecond, "thread %d waits on the affinity connection", th)
	for id := int64(10); id < 16; id++ {
		resp := call(t, f.sock, threadReq(id, "other"))
		assert.NotEqual(t, th, thread(t, resp), "the other threads serve the other clients")
	}
	r = threadReq(2, "a2")
	r.NeedAffinity = true
	c.send(t, r)
	second := c.recv(t)
	assert.Equal(t, "a2", string(second.Data))
	assert.Equal(t, first.ServiceName, second.ServiceName, "the same thread")
	require.NoError(t, unix.Shutdown(int(f.listen.Fd()), unix.SHUT_RDWR))
	waitServe(t, done)
	require.NoError(t, svc.Close())
	assert.Equal(t, uint64(2), f.slotAt(t, f.slot+th).Requests)
}

// TestThreadsStopWhileIdle: SIGTERM while every worker waits in accept
// ends Serve within the accept timeout.
func TestThreadsStopWhileIdle(t *testing.T) {
	f, svc := newSignalledThreadsService(t)
	done := serveAsync(t, svc, func(req *Request) ([]byte, error) { return req.Data(), nil })
	sent := time.Now()
	require.NoError(t, syscall.Kill(os.Getpid(), syscall.SIGTERM))
	require.NoError(t, waitServe(t, done))
	assert.Less(t, time.Since(sent), 2500*time.Millisecond, "within the 1 s accept timeout (plus scheduling on a loaded machine)")
	for i, st := range f.threadSlots(t) {
		assert.Equal(t, stats.StateStopping, st.State, "thread slot %d", i)
	}
	assert.Equal(t, stats.ServiceShutdown, f.slotAt(t, f.slot).ExitReason)
	require.NoError(t, svc.Close())
	recs := f.records(t)
	require.Len(t, recs, 1, "one final record for the instance")
	assert.Empty(t, recs[0].Entries)
}
