package service

import (
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/pluton-go/pluton/go/fault"
	"github.com/pluton-go/pluton/go/protocol"
	"github.com/pluton-go/pluton/go/stats"
)

// managerFixture is what a manager gives an instance: a listening socket, a
// stats segment file and a report pipe.
type managerFixture struct {
	sock    string
	listen  *os.File
	segPath string
	seg     *os.File
	reportR *os.File
	reportW *os.File
	slot    int
}

// newManagerFixture creates the three objects, with the segment initialised
// for slots slots and slot's manager fields set.
func newManagerFixture(t testing.TB, slots int, affinitySecs, maxRequests uint32, shutdown stats.ExitReason) *managerFixture {
	t.Helper()
	return newManagerFixtureHeader(t, stats.HeaderConfig{Slots: slots, AffinityTimeout: time.Duration(affinitySecs) * time.Second},
		maxRequests, shutdown)
}

// newManagerFixtureHeader is newManagerFixture with every header field.
func newManagerFixtureHeader(t testing.TB, h stats.HeaderConfig, maxRequests uint32, shutdown stats.ExitReason) *managerFixture {
	t.Helper()
	slots := h.Slots
	dir, err := os.MkdirTemp("", "plsvc") // short: sun_path is 108 bytes
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	f := &managerFixture{sock: filepath.Join(dir, "s.socket"), segPath: filepath.Join(dir, "s.mmap"), slot: slots - 1}

	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	require.NoError(t, err)
	require.NoError(t, unix.Bind(fd, &unix.SockaddrUnix{Name: f.sock}))
	require.NoError(t, unix.Listen(fd, 128))
	f.listen = os.NewFile(uintptr(fd), f.sock)

	b := make([]byte, stats.SegmentSize(slots))
	seg := stats.InitSegment(b, h)
	seg.Slot(f.slot).SetManagerFields(maxRequests, shutdown)
	require.NoError(t, os.WriteFile(f.segPath, b, 0o644))
	f.seg, err = os.OpenFile(f.segPath, os.O_RDWR, 0)
	require.NoError(t, err)

	f.reportR, f.reportW, err = os.Pipe()
	require.NoError(t, err)
	t.Cleanup(func() {
		f.listen.Close()
		f.seg.Close()
		f.reportR.Close()
		f.reportW.Close()
	})
	return f
}

// service starts an in-process manager-mode service on duplicates of the
// fixture's descriptors (the service closes what it is given).
func (f *managerFixture) service(t testing.TB, vars map[string]string) *Service {
	t.Helper()
	if vars == nil {
		vars = map[string]string{}
	}
	if _, ok := vars["plutonSlot"]; !ok {
		vars["plutonSlot"] = strconv.Itoa(f.slot)
	}
	svc, err := newService("echo", testEnv(inheritable(t, f.listen), inheritable(t, f.seg), inheritable(t, f.reportW), vars))
	require.NoError(t, err)
	require.Equal(t, Manager, svc.Mode())
	return svc
}

// slotStats reads the instance's slot from the segment file.
func (f *managerFixture) slotStats(t *testing.T) stats.SlotStats {
	t.Helper()
	b, err := os.ReadFile(f.segPath)
	require.NoError(t, err)
	return stats.Segment(b).Slot(f.slot).Read()
}

// setShutdownRequest writes the manager's shutdownRequest field.
func (f *managerFixture) setShutdownRequest(t *testing.T, r stats.ExitReason) {
	t.Helper()
	var b [4]byte
	b[0] = byte(r)
	_, err := f.seg.WriteAt(b[:], int64(stats.HeaderSize+f.slot*stats.SlotSize+52))
	require.NoError(t, err)
}

// records reads the report records that are waiting in the pipe.
func (f *managerFixture) records(t *testing.T) []stats.Record {
	t.Helper()
	var recs []stats.Record
	for {
		require.NoError(t, f.reportR.SetReadDeadline(time.Now().Add(200*time.Millisecond)))
		b := make([]byte, stats.RecordSize)
		_, err := io.ReadFull(f.reportR, b)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return recs
		}
		require.NoError(t, err)
		r, err := stats.ParseRecord(b)
		require.NoError(t, err)
		recs = append(recs, r)
	}
}

// entries flattens the entries of records.
func entries(recs []stats.Record) []stats.Entry {
	var es []stats.Entry
	for _, r := range recs {
		es = append(es, r.Entries...)
	}
	return es
}

// client is one connection to a service.
type client struct {
	conn net.Conn
	dec  *protocol.Decoder
}

func dial(t *testing.T, path string) *client {
	t.Helper()
	conn, err := net.DialTimeout("unix", path, 5*time.Second)
	require.NoError(t, err)
	require.NoError(t, conn.SetDeadline(time.Now().Add(20*time.Second)))
	t.Cleanup(func() { conn.Close() })
	return &client{conn: conn, dec: protocol.NewResponseDecoder(conn)}
}

func (c *client) send(t *testing.T, r *protocol.Request) {
	t.Helper()
	_, err := c.conn.Write(protocol.AppendRequest(nil, r))
	require.NoError(t, err)
}

func (c *client) recv(t *testing.T) protocol.Response {
	t.Helper()
	var resp protocol.Response
	require.NoError(t, c.dec.ReadResponse(&resp))
	return resp
}

// call sends one request on a new connection and returns the response.
func call(t *testing.T, path string, r *protocol.Request) protocol.Response {
	t.Helper()
	c := dial(t, path)
	c.send(t, r)
	return c.recv(t)
}

func echoReq(function, data string) *protocol.Request {
	return &protocol.Request{ID: 100, ClientName: "test:1", ServiceKey: "system." + function + ".0.raw",
		TimeoutMS: 4000, Data: []byte(data)}
}

// runLoop runs echoLoop in the background; the result arrives on the channel.
type loopResult struct {
	n   int
	err error
}

func runLoop(svc *Service) <-chan loopResult {
	done := make(chan loopResult, 1)
	go func() {
		n, err := echoLoop(svc)
		done <- loopResult{n, err}
	}()
	return done
}

func wait(t *testing.T, done <-chan loopResult) loopResult {
	t.Helper()
	select {
	case r := <-done:
		return r
	case <-time.After(20 * time.Second):
		t.Fatal("service loop did not end")
	}
	return loopResult{}
}

func TestManagerRequestsSlotAndReports(t *testing.T) {
	f := newManagerFixture(t, 3, 0, 3, 0)
	svc := f.service(t, nil)
	st := f.slotStats(t)
	assert.Equal(t, uint32(os.Getpid()), st.PID)
	assert.Equal(t, stats.StateIdle, st.State)
	before := uint64(time.Now().UnixMicro())
	done := runLoop(svc)

	resp := call(t, f.sock, echoReq("echo", "Hello"))
	assert.Equal(t, echoResponse(100, "test:1", "Hello"), string(protocol.AppendResponse(nil, &resp)))

	fr := echoReq("other", "x")
	fr.Context = protocol.AppendContext(nil, "echo.sleepMS", "-1")
	resp = call(t, f.sock, fr)
	assert.Equal(t, int64(111), resp.FaultCode)
	assert.Equal(t, "sleep time negative", resp.FaultText)
	assert.Empty(t, resp.Data)

	resp = call(t, f.sock, echoReq("echo", ""))
	assert.Empty(t, resp.Data)

	// The third request reaches maximumRequests: the loop stops.
	r := wait(t, done)
	assert.Equal(t, 3, r.n)
	assert.ErrorIs(t, r.err, ErrStop)
	st = f.slotStats(t)
	assert.Equal(t, uint64(3), st.Requests)
	assert.Equal(t, uint64(2), st.Responses)
	assert.Equal(t, uint64(1), st.Faults)
	assert.GreaterOrEqual(t, st.SinceMicros, before)
	// The loop's end is published at once, before the program's own
	// clean-up after the loop.
	assert.Equal(t, stats.StateStopping, st.State)
	assert.Equal(t, stats.MaxRequests, st.ExitReason)
	assert.Equal(t, int64(100), st.RequestID, "the last request's identity")
	assert.Equal(t, "test:1", st.ClientName)
	assert.Equal(t, uint32(stats.NotRecording), st.RecorderIndex)

	require.NoError(t, svc.Close())
	st = f.slotStats(t)
	assert.Equal(t, stats.StateStopping, st.State)
	assert.Equal(t, stats.MaxRequests, st.ExitReason)

	recs := f.records(t)
	require.NotEmpty(t, recs)
	for _, rec := range recs {
		assert.Equal(t, uint32(os.Getpid()), rec.PID)
		assert.Equal(t, uint32(f.slot), rec.Slot)
	}
	es := entries(recs)
	require.Len(t, es, 3)
	assert.Equal(t, stats.Entry{Outcome: stats.OK, DurationMicros: es[0].DurationMicros, RequestBytes: 5, ResponseBytes: 5, Function: "echo"}, es[0])
	assert.Equal(t, stats.Entry{Outcome: stats.Faulted, DurationMicros: es[1].DurationMicros, RequestBytes: 1, Function: "other"}, es[1])
	assert.Equal(t, stats.OK, es[2].Outcome)
}

func TestManagerReportBatches(t *testing.T) {
	f := newManagerFixture(t, 1, 0, 20, 0)
	svc := f.service(t, nil)
	done := runLoop(svc)
	for i := range 16 {
		call(t, f.sock, echoReq("echo", strconv.Itoa(i)))
	}
	// 16 entries make a record at once.
	recs := f.records(t)
	require.Len(t, recs, 1)
	assert.Len(t, recs[0].Entries, 16)

	// Otherwise entries wait until the oldest is a second old; an idle
	// instance wakes from accept at least once a second (SO_RCVTIMEO on
	// fd 3) and sends them then.
	call(t, f.sock, echoReq("echo", "a"))
	assert.Empty(t, f.records(t))
	time.Sleep(2200 * time.Millisecond)
	recs = f.records(t)
	require.Len(t, recs, 1, "flushed by the idle instance itself")
	require.Len(t, recs[0].Entries, 1)
	assert.Equal(t, uint32(1), recs[0].Entries[0].RequestBytes)

	// Close sends the rest.
	call(t, f.sock, echoReq("echo", "ccc"))
	require.NoError(t, unix.Shutdown(int(f.listen.Fd()), unix.SHUT_RDWR))
	wait(t, done)
	require.NoError(t, svc.Close())
	recs = f.records(t)
	require.Len(t, recs, 1)
	require.Len(t, recs[0].Entries, 1)
	assert.Equal(t, uint32(3), recs[0].Entries[0].RequestBytes)

	// Close sends a record even when nothing is pending.

	g := newManagerFixture(t, 1, 0, 0, 0)
	svc = g.service(t, nil)
	require.NoError(t, svc.Close())
	recs = g.records(t)
	require.Len(t, recs, 1)
	assert.Empty(t, recs[0].Entries)
}

func TestManagerNoWait(t *testing.T) {
	f := newManagerFixture(t, 1, 0, 2, 0)
	svc := f.service(t, nil)
	done := runLoop(svc)

	r := echoReq("echo", "LMNOP")
	r.NoWait = true
	c := dial(t, f.sock)
	c.send(t, r)
	var resp protocol.Response
	assert.ErrorIs(t, c.dec.ReadResponse(&resp), io.EOF, "noWait: the service closes with zero bytes")

	call(t, f.sock, echoReq("echo", "x"))
	wait(t, done)
	require.NoError(t, svc.Close())
	st := f.slotStats(t)
	assert.Equal(t, uint64(2), st.Responses)
	es := entries(f.records(t))
	require.Len(t, es, 2)
	assert.Equal(t, stats.OK, es[0].Outcome)
	assert.Equal(t, uint32(5), es[0].RequestBytes)
	assert.Equal(t, uint32(0), es[0].ResponseBytes)
}

func TestManagerKeepAffinity(t *testing.T) {
	f := newManagerFixture(t, 2, 1, 0, 0) // affinity timeout 1 s
	svc := f.service(t, nil)
	done := runLoop(svc)

	c := dial(t, f.sock)
	for i := range 3 {
		r := echoReq("echo", "LMN"+strconv.Itoa(i))
		r.ID = int64(100 + i)
		r.KeepAffinity, r.NoRetry = true, true
		r.NeedAffinity = i > 0
		c.send(t, r)
		resp := c.recv(t)
		assert.Equal(t, int64(100+i), resp.ID)
		assert.Equal(t, "LMN"+strconv.Itoa(i), string(resp.Data))
		assert.Eventually(t, func() bool { return f.slotStats(t).State == stats.StateAffinity }, 5*time.Second,
			10*time.Millisecond, "waiting on the affinity connection")
	}
	// Nothing more comes: after the affinity timeout the service closes the
	// connection and goes back to accept.
	start := time.Now()
	var resp protocol.Response
	assert.ErrorIs(t, c.dec.ReadResponse(&resp), io.EOF)
	assert.InDelta(t, 1.0, time.Since(start).Seconds(), 0.9)
	time.Sleep(50 * time.Millisecond)
	assert.Equal(t, stats.StateIdle, f.slotStats(t).State)

	// A fault on an affinity request keeps the connection (Appendix A 7);
	// a request without keepAffinity ends it.
	c = dial(t, f.sock)
	r := echoReq("echo", "")
	r.KeepAffinity = true
	r.Context = protocol.AppendContext(nil, "echo.sleepMS", "-1")
	c.send(t, r)
	assert.Equal(t, int64(111), c.recv(t).FaultCode)
	c.send(t, echoReq("echo", "last"))
	assert.Equal(t, "last", string(c.recv(t).Data))
	assert.ErrorIs(t, c.dec.ReadResponse(&resp), io.EOF)

	// The client may also close the affinity connection itself.
	c = dial(t, f.sock)
	r = echoReq("echo", "a")
	r.KeepAffinity = true
	c.send(t, r)
	c.recv(t)
	c.conn.Close()
	call(t, f.sock, echoReq("echo", "after"))

	require.NoError(t, unix.Shutdown(int(f.listen.Fd()), unix.SHUT_RDWR)) // end the loop
	res := wait(t, done)
	var ft *fault.Fault
	require.True(t, errors.As(res.err, &ft), "got %v", res.err)
	assert.Equal(t, fault.AcceptFailed, ft.Code)
	require.NoError(t, svc.Close())
	st := f.slotStats(t)
	assert.Equal(t, stats.AcceptFailed, st.ExitReason)
	assert.Equal(t, uint64(7), st.Requests, "affinity ends are not requests")
	es := entries(f.records(t))
	assert.Len(t, es, 7)
	for _, e := range es {
		assert.NotEqual(t, stats.ReadError, e.Outcome)
	}
}

func TestManagerMaxRequestsWaitsForAffinity(t *testing.T) {
	f := newManagerFixture(t, 1, 5, 1, 0)
	svc := f.service(t, nil)
	done := runLoop(svc)
	c := dial(t, f.sock)
	for range 3 {
		r := echoReq("echo", "x")
		r.KeepAffinity = true
		c.send(t, r)
		c.recv(t)
	}
	c.send(t, echoReq("echo", "end"))
	c.recv(t)
	res := wait(t, done)
	assert.Equal(t, 4, res.n, "the limit does not apply while affinity is held")
	assert.ErrorIs(t, res.err, ErrStop)
	require.NoError(t, svc.Close())
	assert.Equal(t, stats.MaxRequests, f.slotStats(t).ExitReason)
}

func TestManagerHidesClientErrors(t *testing.T) {
	f := newManagerFixture(t, 1, 0, 1, 0)
	svc := f.service(t, nil)
	done := runLoop(svc)

	// A client that connects and closes, one that sends a bad packet, one
	// that stops in the middle of a packet.
	c := dial(t, f.sock)
	c.conn.Close()
	c = dial(t, f.sock)
	_, err := c.conn.Write([]byte("0Q,4l5000,4l5000,0z\n"))
	require.NoError(t, err)
	var resp protocol.Response
	assert.ErrorIs(t, c.dec.ReadResponse(&resp), io.EOF, "the service just closes")
	c = dial(t, f.sock)
	_, err = c.conn.Write([]byte("0Q,3b100,12aplSe"))
	require.NoError(t, err)
	require.NoError(t, c.conn.(*net.UnixConn).CloseWrite())
	assert.ErrorIs(t, c.dec.ReadResponse(&resp), io.EOF)

	assert.Equal(t, "ok", string(call(t, f.sock, echoReq("echo", "ok")).Data))
	res := wait(t, done)
	assert.Equal(t, 1, res.n)
	require.NoError(t, svc.Close())
	es := entries(f.records(t))
	require.Len(t, es, 4)
	for _, e := range es[:3] {
		assert.Equal(t, stats.ReadError, e.Outcome)
	}
	assert.Equal(t, stats.OK, es[3].Outcome)
	st := f.slotStats(t)
	assert.Equal(t, uint64(1), st.Requests, "only complete requests handed to the service count")
	assert.Equal(t, uint64(1), st.Responses)
	assert.Equal(t, uint64(0), st.Faults)
}

func TestManagerWithoutStats(t *testing.T) {
	tests := []struct {
		name string
		slot string
		bad  bool // corrupt the header
	}{
		{name: "noSlotVariable", slot: ""},
		{name: "slotOutOfRange", slot: "9"},
		{name: "badMagic", slot: "0", bad: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newManagerFixture(t, 1, 0, 0, 0)
			if tt.bad {
				_, err := f.seg.WriteAt([]byte("XXXX"), 0)
				require.NoError(t, err)
			}
			svc := f.service(t, map[string]string{"plutonSlot": tt.slot})
			assert.Nil(t, svc.slot)
			done := runLoop(svc)
			assert.Equal(t, "hi", string(call(t, f.sock, echoReq("echo", "hi")).Data))
			require.NoError(t, unix.Shutdown(int(f.listen.Fd()), unix.SHUT_RDWR))
			wait(t, done)
			require.NoError(t, svc.Close())
			recs := f.records(t)
			require.NotEmpty(t, recs, "reports still go to fd 5")
			wantSlot := uint32(stats.NoSlot)
			if n, err := strconv.Atoi(tt.slot); err == nil {
				wantSlot = uint32(n)
			}
			assert.Equal(t, wantSlot, recs[0].Slot)
			assert.Len(t, entries(recs), 1)
		})
	}
}

func TestModeDetectionIsExact(t *testing.T) {
	f := newManagerFixture(t, 1, 0, 0, 0)
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(dir+"/req", []byte(plainRequest), 0o644))
	reg, err := os.Open(dir + "/req")
	require.NoError(t, err)
	defer reg.Close()
	pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	require.NoError(t, err)
	// The file owns pair[0]: closed through it, so that its finalizer
	// does not close the number again once another test has reused it.
	sp := os.NewFile(uintptr(pair[0]), "pair")
	defer sp.Close()
	defer closeFD(pair[1])

	tests := []struct {
		name              string
		listen, seg, pipe *os.File
	}{
		{"regularFileOnFD3", reg, f.seg, f.reportW},
		{"connectedSocketOnFD3", sp, f.seg, f.reportW},
		{"socketOnFD4", f.listen, f.listen, f.reportW},
		{"fileOnFD5", f.listen, f.seg, reg},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, s, p := inheritable(t, tt.listen), inheritable(t, tt.seg), inheritable(t, tt.pipe)
			defer closeFD(l)
			defer closeFD(s)
			defer closeFD(p)
			svc, err := newService("echo", testEnv(l, s, p, map[string]string{}))
			require.NoError(t, err)
			assert.Equal(t, StandAlone, svc.Mode())
		})
	}
}

func TestAcceptModeInProcess(t *testing.T) {
	dir, err := os.MkdirTemp("", "plsvc")
	require.NoError(t, err)
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "accept.socket")
	require.NoError(t, os.WriteFile(path, nil, 0o644)) // a stale file is replaced
	svc, err := newService("echo", testEnv(-1, -1, -1, map[string]string{"plutonAcceptSocket": path}))
	require.NoError(t, err)
	require.Equal(t, Accept, svc.Mode())
	done := runLoop(svc)
	assert.Equal(t, "hi", string(call(t, path, echoReq("echo", "hi")).Data))

	// Outside manager mode a client error ends the loop.
	c := dial(t, path)
	_, err = c.conn.Write([]byte("0Q,4l5000,4l5000,0z\n"))
	require.NoError(t, err)
	res := wait(t, done)
	var ft *fault.Fault
	require.True(t, errors.As(res.err, &ft), "got %v", res.err)
	assert.Equal(t, fault.RequestDecodeFailed, ft.Code)
	assert.Equal(t, "Duplicate netString type of 'l'", ft.Text)
	require.NoError(t, svc.Close())

	_, err = newService("echo", testEnv(-1, -1, -1, map[string]string{"plutonAcceptSocket": filepath.Join(dir, "no/such/dir/s")}))
	require.True(t, errors.As(err, &ft), "got %v", err)
	assert.Equal(t, fault.OpenAcceptSocketFailed, ft.Code)
}
