// Command goserver is the Go floor server of the benchmarks: it binds a Unix
// socket once and runs WORKERS copies of itself that each accept one
// connection at a time on it, read one request packet with the project's
// protocol parser, write the echo response packet with one writev and close.
// It uses blocking system calls on one goroutine, like a Pluton service
// instance, and nothing else: no stats segment, no reports, no context.
//
// Usage:
//
//	goserver SOCKET WORKERS
//
// The parent waits for its workers; SIGTERM to the process group ends all.
package main

import (
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/pluton-go/pluton/go/protocol"
)

const workerEnv = "PLUTON_BENCH_GOSERVER_WORKER"

func main() {
	if os.Getenv(workerEnv) != "" {
		serve(3)
		return
	}
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: goserver SOCKET WORKERS")
		os.Exit(2)
	}
	workers, err := strconv.Atoi(os.Args[2])
	if err != nil || workers < 1 {
		fmt.Fprintln(os.Stderr, "goserver: bad WORKERS")
		os.Exit(2)
	}
	path := os.Args[1]
	_ = os.Remove(path)
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	if err == nil {
		err = unix.Bind(fd, &unix.SockaddrUnix{Name: path})
	}
	if err == nil {
		err = unix.Listen(fd, 1024)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "goserver:", err)
		os.Exit(1)
	}
	lf := os.NewFile(uintptr(fd), path)
	signal.Ignore(syscall.SIGPIPE)
	cmds := make([]*exec.Cmd, workers)
	for i := range cmds {
		cmd := exec.Command(os.Args[0])
		cmd.Env = append(os.Environ(), workerEnv+"=1")
		cmd.ExtraFiles = []*os.File{lf}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			fmt.Fprintln(os.Stderr, "goserver:", err)
			os.Exit(1)
		}
		cmds[i] = cmd
	}
	for _, c := range cmds {
		_ = c.Wait()
	}
}

// serve is a worker's accept loop on the listening socket lfd.
func serve(lfd int) {
	signal.Ignore(syscall.SIGPIPE)
	_ = unix.SetNonblock(lfd, false)
	name := "echo:" + strconv.Itoa(os.Getpid()) + "/0"
	parser := protocol.NewRequestParser()
	parser.SetPool(&lastBuffer{}) // a large payload's buffer serves the next request
	rbuf := make([]byte, 16<<10)
	head := make([]byte, 0, 256)
	var req protocol.Request
	for {
		c, _, err := unix.Accept(lfd)
		if err != nil {
			if err == unix.EINTR || err == unix.ECONNABORTED {
				continue
			}
			fmt.Fprintln(os.Stderr, "goserver: accept:", err)
			os.Exit(1)
		}
		parser.Reset()
		complete := false
		for !complete {
			var n int
			if dst := parser.Direct(); dst != nil {
				n, err = unix.Read(c, dst)
				if n > 0 {
					parser.Advance(n)
				}
			} else {
				n, err = unix.Read(c, rbuf)
				if n > 0 {
					var perr error
					_, complete, perr = parser.Feed(rbuf[:n])
					if perr != nil {
						break
					}
				}
			}
			if err == unix.EINTR {
				continue
			}
			if err != nil || n == 0 {
				break
			}
		}
		if complete {
			parser.Request(&req)
			resp := protocol.Response{ID: req.ID, ClientName: req.ClientName, ServiceName: name, Data: req.Data}
			var trailer string
			head, trailer = protocol.AppendResponseHead(head[:0], &resp)
			writeAll(c, [][]byte{head, req.Data, []byte(trailer)})
		}
		_ = unix.Close(c)
	}
}

// writeAll writes every buffer with writev, continuing after short writes.
func writeAll(fd int, iov [][]byte) {
	for len(iov) > 0 {
		n, err := unix.Writev(fd, iov)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return
		}
		for n > 0 && len(iov) > 0 {
			if n < len(iov[0]) {
				iov[0] = iov[0][n:]
				n = 0
			} else {
				n -= len(iov[0])
				iov = iov[1:]
			}
		}
		for len(iov) > 0 && len(iov[0]) == 0 {
			iov = iov[1:]
		}
	}
}

// lastBuffer is a protocol.BufferPool that keeps the largest buffer given
// back: one request at a time needs no more.
type lastBuffer struct{ b []byte }

func (l *lastBuffer) Get(n int) []byte {
	if cap(l.b) < n {
		return nil
	}
	b := l.b
	l.b = nil
	return b
}

func (l *lastBuffer) Put(b []byte) {
	if cap(b) > cap(l.b) {
		l.b = b
	}
}
