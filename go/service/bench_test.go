package service

import (
	"io"
	"net"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/pluton-go/pluton/go/protocol"
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
