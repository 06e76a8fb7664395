package service

import (
	"io"
	"net"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/pluton-go/pluton/go/protocol"
	"github.com/pluton-go/pluton/go/stats"
)

// BenchmarkServiceRoundTrip measures one request through a manager-mode
// service in this process: connect, write the request, read the response.
// The client's costs are included; bench tools measure the service alone.
func BenchmarkServiceRoundTrip(b *testing.B) {
	f := newManagerFixture(b, 1, 0, 0, 0)
	svc := f.service(b, nil)
	go func() { _, _ = io.Copy(io.Discard, f.reportR) }()
	done := runLoop(svc)
	packet := protocol.AppendRequest(nil, echoReq("echo", "Hello"))
	buf := make([]byte, 256)
	b.ReportAllocs()
	for b.Loop() {
		conn, err := net.Dial("unix", f.sock)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := conn.Write(packet); err != nil {
			b.Fatal(err)
		}
		for {
			_, err := conn.Read(buf)
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
		}
		conn.Close()
	}
	b.StopTimer()
	_ = unix.Shutdown(int(f.listen.Fd()), unix.SHUT_RDWR)
	<-done
	_ = svc.Close()
}

// BenchmarkServiceEcho measures one echo request of each size through a
// manager-mode service in this process, with a client of raw system calls
// that reads the response into a buffer it reuses.
func BenchmarkServiceEcho(b *testing.B) {
	for _, size := range []int{16 << 10, 64 << 10, 1 << 20} {
		b.Run(sizeName(size), func(b *testing.B) {
			f := newManagerFixture(b, 1, 0, 0, 0)
			svc := f.service(b, nil)
			go func() { _, _ = io.Copy(io.Discard, f.reportR) }()
			done := runLoop(svc)
			r := echoReq("echo", "")
			r.Data = make([]byte, size)
			packet := protocol.AppendRequest(nil, r)
			buf := make([]byte, size+256)
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				rawEcho(b, f.sock, packet, buf)
			}
			b.StopTimer()
			_ = unix.Shutdown(int(f.listen.Fd()), unix.SHUT_RDWR)
			<-done
			_ = svc.Close()
		})
	}
}

func sizeName(n int) string {
	if n >= 1<<20 {
		return strconv.Itoa(n>>20) + "MiB"
	}
	return strconv.Itoa(n>>10) + "KiB"
}

// rawEcho sends packet on a new connection and reads the response until the
// service closes it.
func rawEcho(b testing.TB, path string, packet, buf []byte) {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer unix.Close(fd)
	if err := unix.Connect(fd, &unix.SockaddrUnix{Name: path}); err != nil {
		b.Fatal(err)
	}
	for off := 0; off < len(packet); {
		n, err := unix.Write(fd, packet[off:])
		if err != nil {
			b.Fatal(err)
		}
		off += n
	}
	got := 0
	for {
		n, err := unix.Read(fd, buf[got:])
		if err != nil {
			b.Fatal(err)
		}
		if n == 0 {
			break
		}
		got += n
	}
	if got < len(packet)-64 {
		b.Fatalf("response of %d bytes for a request of %d", got, len(packet))
	}
}

// BenchmarkServiceThreads measures small echo requests from parallel
// clients through one manager-mode instance served by Serve, with
// maximum-threads 1 and 3, the handler sleeping 1 ms (a request that waits
// on something else): with 3 threads the instance serves 3 at once.
func BenchmarkServiceThreads(b *testing.B) {
	for _, threads := range []int{1, 3} {
		b.Run("threads="+strconv.Itoa(threads), func(b *testing.B) {
			f := newManagerFixtureHeader(b, stats.HeaderConfig{Slots: threads, ThreadsPerInstance: threads}, 0, 0)
			f.slot = 0
			svc := f.service(b, nil)
			go func() { _, _ = io.Copy(io.Discard, f.reportR) }()
			done := make(chan error, 1)
			go func() {
				done <- svc.Serve(func(req *Request) ([]byte, error) {
					time.Sleep(time.Millisecond)
					return req.Data(), nil
				})
			}()
			packet := protocol.AppendRequest(nil, echoReq("echo", "Hello"))
			b.SetParallelism(2) // 2 × GOMAXPROCS clients
			b.RunParallel(func(pb *testing.PB) {
				buf := make([]byte, 256)
				for pb.Next() {
					rawEcho(b, f.sock, packet, buf)
				}
			})
			b.StopTimer()
			_ = unix.Shutdown(int(f.listen.Fd()), unix.SHUT_RDWR)
			<-done
			_ = svc.Close()
		})
	}
}
