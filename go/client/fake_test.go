package client

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pluton-go/pluton/go/protocol"
)

// fakeService is an in-test Pluton service: a goroutine accepting on
// <dir>/<key>.socket and answering with go/protocol. Its behaviour is set by
// the request's context (see serve) or by a custom handler.
type fakeService struct {
	t        testing.TB
	name     string
	path     string
	ln       *net.UnixListener
	accepts  atomic.Int32
	requests atomic.Int32
	closed   atomic.Int32 // connections the service has closed
	// affinityTimeout is how long a kept connection waits for the next request.
	affinityTimeout time.Duration
	// handler, if set, replaces the default behaviour for every request.
	handler func(s *fakeService, c net.Conn, req *protocol.Request) (keep bool)

	quit chan struct{} // closed by stop: cuts sleeps short

	mu       sync.Mutex
	lastReq  protocol.Request
	lastData []byte
	wg       sync.WaitGroup
}

func tempDir(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "pl")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// startFake listens on <dir>/<key>.socket. The setup functions run before
// the service starts accepting.
func startFake(t testing.TB, dir, key, name string, setup ...func(*fakeService)) *fakeService {
	t.Helper()
	return startFakeAt(t, filepath.Join(dir, key+".socket"), name, setup...)
}

func startFakeAt(t testing.TB, path, name string, setup ...func(*fakeService)) *fakeService {
	t.Helper()
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	require.NoError(t, err)
	ln.SetUnlinkOnClose(false)
	s := &fakeService{t: t, name: fmt.Sprintf("%s:%d/0", name, os.Getpid()), path: path, ln: ln,
		affinityTimeout: 2 * time.Second, quit: make(chan struct{})}
	for _, f := range setup {
		f(s)
	}
	s.wg.Add(1)
	go s.acceptLoop()
	t.Cleanup(s.stop)
	return s
}

func (s *fakeService) stop() {
	s.ln.Close()
	select {
	case <-s.quit:
	default:
		close(s.quit)
	}
	s.wg.Wait()
}

func (s *fakeService) acceptLoop() {
	defer s.wg.Done()
	for {
		c, err := s.ln.AcceptUnix()
		if err != nil {
			return
		}
		s.accepts.Add(1)
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.serveConn(c)
			c.Close()
			s.closed.Add(1)
		}()
	}
}

func (s *fakeService) serveConn(c *net.UnixConn) {
	dec := protocol.NewRequestDecoder(c)
	for first := true; ; first = false {
		if !first {
			c.SetReadDeadline(time.Now().Add(s.affinityTimeout))
		}
		var req protocol.Request
		if err := dec.ReadRequest(&req); err != nil {
			return
		}
		c.SetReadDeadline(time.Time{})
		s.requests.Add(1)
		s.mu.Lock()
		s.lastReq = req
		s.lastReq.Data = nil
		s.lastReq.Context = append([]byte(nil), req.Context...)
		s.lastData = append([]byte(nil), req.Data...)
		s.mu.Unlock()
		if req.NoWait {
			return // close at once, as a service does for noWait
		}
		var keep bool
		if s.handler != nil {
			keep = s.handler(s, c, &req)
		} else {
			keep = s.serve(c, &req)
		}
		if !keep || !req.KeepAffinity {
			return
		}
	}
}

func (s *fakeService) last() (protocol.Request, []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastReq, s.lastData
}

// serve is the default behaviour: echo the data, after the context says:
//
//	sleepMS=N   sleep N ms first
//	fault=N     answer with fault N, text "fault N"
//	garbage     answer with bytes that are not a packet
//	badid       answer with the wrong request id
//	badname     answer with the wrong client name
//	half        write half of the response, then close
//	close       close without answering
func (s *fakeService) serve(c net.Conn, req *protocol.Request) bool {
	ctx, err := protocol.ContextMap(req.Context)
	if err != nil {
		s.t.Errorf("fake: bad context: %v", err)
		return false
	}
	if v, ok := ctx["sleepMS"]; ok {
		ms, _ := strconv.Atoi(v)
		select {
		case <-time.After(time.Duration(ms) * time.Millisecond):
		case <-s.quit:
			return false
		}
	}
	resp := protocol.Response{ID: req.ID, ClientName: req.ClientName, ServiceName: s.name, Data: req.Data}
	if v, ok := ctx["fault"]; ok {
		code, _ := strconv.Atoi(v)
		resp.Data, resp.FaultCode, resp.FaultText = nil, int64(code), "fault "+v
	}
	if _, ok := ctx["badid"]; ok {
		resp.ID++
	}
	if _, ok := ctx["badname"]; ok {
		resp.ClientName = "someoneElse:1"
	}
	out := protocol.AppendResponse(nil, &resp)
	switch {
	case has(ctx, "garbage"):
		out = []byte("garbage, not a packet\n")
	case has(ctx, "half"):
		out = out[:len(out)/2]
	case has(ctx, "close"):
		return false
	}
	if _, err := c.Write(out); err != nil {
		return false
	}
	return !has(ctx, "half")
}

func has(m map[string]string, k string) bool { _, ok := m[k]; return ok }

// newTestClient returns a client whose lookup location is dir.
func newTestClient(t testing.TB, dir string, opts ...Option) *Client {
	t.Helper()
	c, err := New("test", append([]Option{WithLookup(dir)}, opts...)...)
	require.NoError(t, err)
	return c
}

// waitUntil polls cond for up to d.
func waitUntil(t testing.TB, d time.Duration, cond func() bool) {
	t.Helper()
	end := time.Now().Add(d)
	for !cond() {
		if time.Now().After(end) {
			t.Fatalf("condition not met within %v", d)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
