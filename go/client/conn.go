package client

import (
	"context"
	"io"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/pluton-go/pluton/go/fault"
)

// A conn is one connection to a service instance: a non-blocking Unix socket
// that the client reads and writes with system calls of its own.
//
// What happens when a read or write would block depends on who runs the
// exchange. Call and Do run it in the caller's goroutine, which waits in
// poll(2) on its own thread with the time left until the request's deadline
// as the timeout: an exchange then costs socket, connect, writev, poll, read
// and close, and nothing else. A Batch keeps many requests in flight, one
// goroutine each, so its connections are registered with the runtime poller
// (f is set) and a waiting request parks its goroutine instead of holding an
// OS thread.
type conn struct {
	fd int
	f  *os.File // the same descriptor registered with the runtime poller; nil while it is not
}

// dial connects a non-blocking socket to path, registering it with the
// runtime poller if poller is set. It returns the bare errno when connect
// fails and an openSocketFailed fault when socket() does.
func dial(x *exchange, path string, poller bool) (conn, error) {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return conn{}, fault.Wrap(fault.OpenSocketFailed, path, err)
	}
	// A fresh sockaddr each time: SockaddrUnix does not write the name's
	// terminating NUL, so a reused one would keep a byte of a longer name.
	x.sa = unix.SockaddrUnix{Name: path}
	for {
		err = unix.Connect(fd, &x.sa)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		unix.Close(fd)
		return conn{}, err
	}
	cn := conn{fd: fd}
	if poller {
		cn.register(path)
	}
	return cn, nil
}

// register hands the descriptor to the runtime poller, once. The file keeps
// it non-blocking, so reads and writes through it park the goroutine and
// honour deadlines. (Never call f.Fd: it would make the descriptor blocking.)
func (cn *conn) register(name string) {
	if cn.f == nil {
		cn.f = os.NewFile(uintptr(cn.fd), name)
	}
}

// close closes the connection.
func (cn conn) close() {
	if cn.f != nil {
		cn.f.Close()
	} else {
		unix.Close(cn.fd) // Linux releases the descriptor even on EINTR: never retried
	}
}

// setDeadline sets the deadline of a connection registered with the poller;
// the others receive it with every read and write.
func (cn conn) setDeadline(deadline time.Time) error {
	if cn.f == nil {
		return nil
	}
	return cn.f.SetDeadline(deadline)
}

// awaitResponse waits until there is something to read, or the deadline
// passes. A response takes at least a round trip through the service, so
// reading at once after the request would almost always fail with EAGAIN;
// waiting first saves that system call. (Through the poller the read itself
// waits.)
func (cn conn) awaitResponse(deadline time.Time) error {
	if cn.f != nil {
		return nil
	}
	return cn.wait(unix.POLLIN, deadline)
}

// read reads into b (which must not be empty). It returns io.EOF at the end
// of the stream and os.ErrDeadlineExceeded once the deadline has passed.
func (cn conn) read(b []byte, deadline time.Time) (int, error) {
	if cn.f != nil {
		return cn.f.Read(b)
	}
	for {
		n, err := unix.Read(cn.fd, b)
		switch err {
		case nil:
			if n == 0 {
				return 0, io.EOF
			}
			return n, nil
		case unix.EINTR:
		case unix.EAGAIN:
			if err := cn.wait(unix.POLLIN, deadline); err != nil {
				return 0, err
			}
		default:
			return 0, err
		}
	}
}

// writev writes every byte of iov, going on after partial writes; it
// consumes iov. The first writev goes straight to the socket in either mode,
// which sends a request that fits the socket buffer whole; a connection
// registered with the poller writes what remains through its file.
func (cn conn) writev(iov [][]byte, deadline time.Time) error {
	for len(iov) > 0 {
		n, err := unix.Writev(cn.fd, iov)
		switch err {
		case nil:
			iov = consume(iov, n)
		case unix.EINTR:
		case unix.EAGAIN:
			if cn.f != nil {
				for _, b := range iov {
					if _, err := cn.f.Write(b); err != nil {
						return err
					}
				}
				return nil
			}
			if err := cn.wait(unix.POLLOUT, deadline); err != nil {
				return err
			}
		default:
			return err
		}
	}
	return nil
}

// consume drops the first n bytes of iov, and the empty buffers after them.
func consume(iov [][]byte, n int) [][]byte {
	for len(iov) > 0 && n >= len(iov[0]) {
		n -= len(iov[0])
		iov = iov[1:]
	}
	if n > 0 {
		iov[0] = iov[0][n:]
	}
	return iov
}

// wait blocks the calling thread in poll(2) until the socket is ready for
// events or has hung up (the next read or write tells which), or until the
// deadline passes (os.ErrDeadlineExceeded). A cancelled context wakes it by
// shutting the socket down (see watch).
func (cn conn) wait(events int16, deadline time.Time) error {
	fds := [1]unix.PollFd{{Fd: int32(cn.fd), Events: events}}
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return os.ErrDeadlineExceeded
		}
		ts := unix.NsecToTimespec(int64(left))
		n, err := unix.Ppoll(fds[:], &ts, nil)
		switch {
		case n > 0:
			return nil
		case err != nil && err != unix.EINTR:
			return err
		}
		// Interrupted, or timed out: the clock decides.
	}
}

// A canceler ends an exchange when its context is cancelled, by shutting the
// socket down: shutdown(2) wakes whatever waits on it, a poll(2) in the
// calling thread as well as the runtime poller, and the read or write then
// fails (the caller sees that the context is done and reports the
// cancellation). Only a context that can be cancelled needs one.
type canceler struct {
	mu      sync.Mutex
	fd      int // -1 once the watch has ended
	fired   bool
	release func() bool // from context.AfterFunc
}

// watch starts watching ctx for the exchange on fd; it returns nil for a
// context that can never be cancelled. The caller must call stop before it
// closes fd.
func watch(ctx context.Context, fd int) *canceler {
	if ctx.Done() == nil {
		return nil
	}
	k := &canceler{fd: fd}
	k.release = context.AfterFunc(ctx, k.shutdown)
	return k
}

func (k *canceler) shutdown() {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.fd >= 0 {
		unix.Shutdown(k.fd, unix.SHUT_RDWR)
		k.fired = true
	}
}

// stop ends the watch and reports whether the socket was shut down. Once it
// has returned the descriptor is no longer touched, so it may be closed (and
// its number reused). It does nothing on a nil canceler.
func (k *canceler) stop() bool {
	if k == nil || k.release() {
		return false
	}
	// The callback has started, or is about to: wait for it, or make it
	// find nothing to do.
	k.mu.Lock()
	defer k.mu.Unlock()
	k.fd = -1
	return k.fired
}
