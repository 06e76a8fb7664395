package service

import (
	"bytes"
	"runtime"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pluton-go/pluton/go/protocol"
)

// keptSpare returns the largest payload buffer the service keeps for reuse.
func keptSpare(svc *Service) int {
	n := 0
	for _, b := range svc.pool.bufs {
		n = max(n, cap(b))
	}
	return n
}

// serveOne sends a request of size bytes from another goroutine, serves it
// with Next and Respond, and returns the address of the request data's
// buffer once the client has its echo.
func serveOne(t *testing.T, svc *Service, f *managerFixture, size int, fill byte) *byte {
	t.Helper()
	return serveAfter(t, svc, f, 0, size, fill)
}

// serveAfter is serveOne with a client that connects after delay, while
// the service waits in Next.
func serveAfter(t *testing.T, svc *Service, f *managerFixture, delay time.Duration, size int, fill byte) *byte {
	t.Helper()
	want := bytes.Repeat([]byte{fill}, size)
	got := make(chan []byte, 1)
	go func() {
		time.Sleep(delay)
		r := echoReq("echo", "")
		r.Data = want
		got <- call(t, f.sock, r).Data
	}()
	req, err := svc.Next()
	require.NoError(t, err)
	require.Equal(t, want, req.Data())
	p := unsafe.SliceData(req.Data())
	require.NoError(t, req.Respond(req.Data()))
	select {
	case d := <-got:
		require.Equal(t, want, d)
	case <-time.After(20 * time.Second):
		t.Fatal("no response")
	}
	return p
}

// TestLargeRequestBuffers: a stream of large requests is read into one
// buffer; a buffer left by an unusually large request is dropped after a
// few ordinary ones, and any buffer over 256 KiB after a second without
// requests.
func TestLargeRequestBuffers(t *testing.T) {
	f := newManagerFixture(t, 1, 0, 0, 0)
	svc := f.service(t, nil)
	defer svc.Close()
	go drainReports(f)

	// The data of a stream of requests of one size lies in a couple of
	// buffers, reused: a pool buffer read whole when the bytes are there at
	// the accept, the pool's payload buffer when they come later.
	bufs := map[*byte]bool{}
	for i := range 6 {
		bufs[serveOne(t, svc, f, 1<<20, byte('a'+i))] = true
	}
	assert.LessOrEqual(t, len(bufs), 3, "six requests, buffers reused")
	assert.GreaterOrEqual(t, keptSpare(svc), 1<<20, "kept while requests of its size go on")

	serveOne(t, svc, f, 8<<20, 'z')
	assert.GreaterOrEqual(t, keptSpare(svc), 8<<20)
	for i := range 8 {
		serveOne(t, svc, f, 100, byte('a'+i))
	}
	assert.Less(t, keptSpare(svc), 8<<20, "an unusually large request's buffer is dropped after ordinary ones")
	assert.LessOrEqual(t, svc.pool.total(), 3*(max(alwaysKeep/2, svc.pool.recent)+headRoom), "the pool keeps at most three buffers of the recent size")

	for range 2 {
		serveOne(t, svc, f, 1<<20, 'm')
	}
	require.GreaterOrEqual(t, keptSpare(svc), 1<<20)
	// Idle: the accept times out at least once before the next request.
	serveAfter(t, svc, f, acceptTimeout+500*time.Millisecond, 100, 'i')
	assert.LessOrEqual(t, keptSpare(svc), alwaysKeep, "dropped after a second without requests")
}

func drainReports(f *managerFixture) {
	buf := make([]byte, 4096)
	for {
		if _, err := f.reportR.Read(buf); err != nil {
			return
		}
	}
}

// TestIdleInstanceGivesBackLargeBuffers: after large requests from
// concurrent clients, an instance idle for a second holds none of their
// buffers (the live heap of this process, which runs the clients too,
// falls below one request's size).
func TestIdleInstanceGivesBackLargeBuffers(t *testing.T) {
	const size = 8 << 20
	f := newManagerFixture(t, 1, 0, 0, 0)
	svc := f.service(t, nil)
	go drainReports(f)
	done := runLoop(svc)
	func() {
		r := echoReq("echo", "")
		r.Data = bytes.Repeat([]byte{'x'}, size)
		pkt := protocol.AppendRequest(nil, r)
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				buf := make([]byte, size+256)
				for range 2 {
					rawEcho(t, f.sock, pkt, buf)
				}
			})
		}
		wg.Wait()
	}()
	var ms runtime.MemStats
	require.Eventually(t, func() bool {
		runtime.GC()
		runtime.ReadMemStats(&ms)
		return ms.HeapInuse < size
	}, 10*time.Second, 100*time.Millisecond, "live heap after a second idle: %d bytes", ms.HeapInuse)
	stopLoop(t, f, done)
	assert.Empty(t, svc.pool.bufs) // read once the loop has ended
}

// TestWholePacketReadInPlace: after large requests, a connection reads a
// whole packet into a buffer of the pool and serves its data in place;
// packets whose end arrives later, or whose data is larger than the recent
// ones, are served all the same.
func TestWholePacketReadInPlace(t *testing.T) {
	f := newManagerFixture(t, 1, 0, 0, 0)
	svc := f.service(t, nil)
	defer svc.Close()
	go drainReports(f)
	for i := range 3 {
		serveOne(t, svc, f, 64<<10, byte('a'+i))
	}
	tests := []struct {
		name  string
		size  int
		split int // bytes from the end of the packet sent 50 ms later (0: all at once)
	}{
		{"all at once", 64 << 10, 0},
		{"end netstring later", 64 << 10, 3},
		{"terminator and end later", 64 << 10, 4},
		{"part of the data later", 64 << 10, 1000},
		{"larger than the recent ones", 200 << 10, 0},
		{"smaller", 5000, 0},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := echoReq("echo", "")
			r.Data = bytes.Repeat([]byte{byte('k' + i)}, tt.size)
			pkt := protocol.AppendRequest(nil, r)
			got := make(chan protocol.Response, 1)
			written := make(chan struct{})
			go func() {
				c := dial(t, f.sock)
				_, err := c.conn.Write(pkt[:len(pkt)-tt.split])
				assert.NoError(t, err)
				close(written)
				if tt.split > 0 {
					time.Sleep(50 * time.Millisecond)
					_, err = c.conn.Write(pkt[len(pkt)-tt.split:])
					assert.NoError(t, err)
				}
				got <- c.recv(t)
			}()
			<-written // the bytes wait in the socket when the instance accepts
			req, err := svc.Next()
			require.NoError(t, err)
			require.True(t, bytes.Equal(r.Data, req.Data()), "request data")
			if tt.split == 0 && tt.size <= 64<<10 {
				c := svc.cur
				require.NotNil(t, c.big, "a read buffer from the pool")
				start, p := uintptr(unsafe.Pointer(unsafe.SliceData(c.big))), uintptr(unsafe.Pointer(unsafe.SliceData(req.Data())))
				assert.True(t, p >= start && p < start+uintptr(len(c.big)), "the data is read in place")
			}
			require.NoError(t, req.Respond(req.Data()))
			select {
			case resp := <-got:
				assert.True(t, bytes.Equal(r.Data, resp.Data), "echoed data")
			case <-time.After(20 * time.Second):
				t.Fatal("no response")
			}
		})
	}
}

// TestSlowLargeRequestsGetNoWholeBuffers: after large requests, connections
// that declare payloads of that size and send them slowly get whole
// buffers only up to the pool's bound; the others grow theirs as bytes
// arrive.
func TestSlowLargeRequestsGetNoWholeBuffers(t *testing.T) {
	var bp bufPool
	bp.note(8 << 20)
	var whole int
	var lent [][]byte
	for range 20 {
		if b := bp.Get(8 << 20); b != nil {
			whole++
			lent = append(lent, b)
		}
	}
	assert.Equal(t, maxPooled, whole, "whole buffers for a size seen recently, at most maxPooled at a time")
	bp.Put(make([]byte, 1<<20)) // a buffer the pool did not lend (a parser outgrew it)
	assert.Nil(t, bp.Get(8<<20), "the bound holds")
	bp.Put(lent[0])
	assert.NotNil(t, bp.Get(8<<20), "one back, one more")
	assert.Nil(t, bp.Get(32<<20), "never for a size not seen recently")
}

// TestPoolKeepsThreeReadBuffers: the pool keeps at least three read
// buffers of the recent payload size with their headRoom, the size borrow
// asks for, so that a connection read while two others hold buffers
// allocates nothing; never more than maxTotal in all.
func TestPoolKeepsThreeReadBuffers(t *testing.T) {
	for _, size := range []int{64 << 10, 1 << 20, 8 << 20} {
		var bp bufPool
		bp.note(size)
		n := size + headRoom
		lent := map[*byte]bool{}
		var bufs [][]byte
		for range 4 {
			b := bp.Get(n)
			require.NotNil(t, b, "%d bytes: a whole buffer for the recent size", size)
			lent[unsafe.SliceData(b)] = true
			bufs = append(bufs, b)
		}
		for _, b := range bufs {
			bp.Put(b)
		}
		assert.GreaterOrEqual(t, len(bp.bufs), 3, "%d bytes: three kept at least", size)
		assert.LessOrEqual(t, bp.total(), bp.maxTotal(), "%d bytes", size)
		for range 3 {
			b := bp.Get(n)
			require.NotNil(t, b)
			assert.True(t, lent[unsafe.SliceData(b)], "%d bytes: a buffer kept, not a new one", size)
		}
	}
}

// TestPoolKeepsTheRecentSize: when requests grow, the buffer of the new
// size is kept over the smaller ones the earlier sizes left, which fill
// the pool: the next request of that size gets it instead of a new one.
func TestPoolKeepsTheRecentSize(t *testing.T) {
	var bp bufPool
	for _, size := range []int{64 << 10, 100 << 10, 200 << 10, 300 << 10} {
		bp.note(size)
		bp.Put(bp.Get(size + headRoom))
	}
	require.Len(t, bp.bufs, maxPooled, "the pool is full of smaller buffers")
	bp.note(1 << 20)
	n := 1<<20 + headRoom
	b := bp.Get(n)
	require.NotNil(t, b)
	bp.Put(b)
	got := bp.Get(n)
	require.NotNil(t, got)
	assert.Equal(t, unsafe.SliceData(b), unsafe.SliceData(got), "the buffer of the recent size was kept")
	assert.LessOrEqual(t, len(bp.bufs), maxPooled-1)
	assert.LessOrEqual(t, bp.total(), bp.maxTotal())
}
