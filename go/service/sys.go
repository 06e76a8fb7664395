package service

import (
	"errors"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// errTimeout reports that accept returned without a connection: the
// listening socket's receive timeout (SO_RCVTIMEO, docs/protocol.md §8.4)
// expired, or a signal interrupted the call.
var errTimeout = errors.New("timed out")

// accept takes the next connection from the listening socket fd, waiting at
// most the socket's receive timeout. The new connection is non-blocking, so
// that a client that sends nothing never blocks the instance. It passes no
// address buffer, so the call allocates nothing.
func accept(fd int) (int, error) {
	for {
		nfd, _, errno := unix.Syscall6(unix.SYS_ACCEPT4, uintptr(fd), 0, 0, unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, 0, 0)
		switch errno {
		case 0:
			return int(nfd), nil
		case unix.ECONNABORTED:
			continue
		case unix.EINTR:
			return -1, errTimeout
		case unix.EAGAIN:
			// The receive timeout, or a listener someone made non-blocking
			// (the descriptor is shared): then wait here instead of spinning.
			if fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0); err == nil && fl&unix.O_NONBLOCK != 0 {
				_ = waitFD(fd, unix.POLLIN, int(acceptTimeout.Milliseconds()))
			}
			return -1, errTimeout
		}
		return -1, errno
	}
}

// writevFD writes every byte of bufs with writev(2), going on after partial
// writes. iov is scratch space of at least len(bufs) entries; it holds no
// pointer to bufs on return. nonblocking says that fd is a non-blocking
// socket (see sysCall). stall bounds how long the peer may take none of
// the bytes (0: no bound): on a non-blocking socket it bounds each wait
// for room, on a blocking one it must have been set as SO_SNDTIMEO
// (setWriteTimeout). A stall returns unix.ETIMEDOUT.
func writevFD(fd int, bufs [][]byte, iov []unix.Iovec, nonblocking bool, stall time.Duration) error {
	defer clear(iov)
	for {
		n := 0
		for _, b := range bufs {
			if len(b) == 0 {
				continue
			}
			iov[n].Base = unsafe.SliceData(b)
			iov[n].SetLen(len(b))
			n++
		}
		if n == 0 {
			return nil
		}
		r, errno := sysCall(unix.SYS_WRITEV, uintptr(fd), uintptr(unsafe.Pointer(&iov[0])), uintptr(n), nonblocking)
		switch errno {
		case 0:
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			if !nonblocking && stall > 0 {
				return unix.ETIMEDOUT // SO_SNDTIMEO ran out with nothing taken
			}
			if err := waitWritable(fd, stall); err != nil {
				return err
			}
			continue
		default:
			return errno
		}
		// Drop what was written and go on with the rest.
		w := int(r)
		for i := range bufs {
			k := min(w, len(bufs[i]))
			bufs[i] = bufs[i][k:]
			w -= k
		}
	}
}

// waitFD waits with poll(2) until fd is ready for events; ms < 0 waits forever.
func waitFD(fd int, events int16, ms int) error {
	fds := []unix.PollFd{{Fd: int32(fd), Events: events}}
	for {
		_, err := unix.Poll(fds, ms)
		if err != unix.EINTR {
			return err
		}
	}
}

// waitWritable waits with poll(2) until fd has room to write, at most
// stall (0: forever); a wait that runs out returns unix.ETIMEDOUT.
func waitWritable(fd int, stall time.Duration) error {
	ms := -1
	if stall > 0 {
		ms = int(max(stall.Milliseconds(), 1))
	}
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLOUT}}
	for {
		n, err := unix.Poll(fds, ms)
		switch {
		case err == unix.EINTR:
			continue
		case err != nil:
			return err
		case n == 0:
			return unix.ETIMEDOUT
		}
		return nil
	}
}

// setWriteTimeout sets SO_SNDTIMEO on a connection; d <= 0 clears it.
func setWriteTimeout(fd int, d time.Duration) error {
	var tv unix.Timeval
	if d > 0 {
		tv = unix.NsecToTimeval(max(d.Nanoseconds(), int64(time.Millisecond)))
	}
	return unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_SNDTIMEO, &tv)
}

// setReadTimeout sets SO_RCVTIMEO on a connection; d <= 0 clears it.
func setReadTimeout(fd int, d time.Duration) error {
	var tv unix.Timeval
	if d > 0 {
		tv = unix.NsecToTimeval(max(d.Nanoseconds(), int64(time.Millisecond)))
	}
	return unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
}

// closeFD closes fd, ignoring EINTR as Linux does not retry a close.
func closeFD(fd int) {
	if fd >= 0 {
		_ = unix.Close(fd)
	}
}

// closeConnFD closes an accepted connection: a socket without SO_LINGER
// closes at once, so the call is made raw (see sysCall).
func closeConnFD(fd int) {
	if fd >= 0 {
		_, _, _ = unix.RawSyscall(unix.SYS_CLOSE, uintptr(fd), 0, 0)
	}
}

// raiseBuffers sets a socket's send and receive buffers to at least size
// bytes, halving the request until the kernel accepts it and never lowering
// a buffer (as the original did for fd 3).
func raiseBuffers(fd, size int) {
	for _, opt := range []int{unix.SO_SNDBUF, unix.SO_RCVBUF} {
		cur, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, opt)
		if err != nil {
			continue
		}
		for want := size; want > cur; want /= 2 {
			if unix.SetsockoptInt(fd, unix.SOL_SOCKET, opt, want) == nil {
				break
			}
		}
	}
}

// fdWriter writes to a raw descriptor (the report pipe on fd 5).
type fdWriter int

func (w fdWriter) Write(b []byte) (int, error) {
	for {
		n, err := unix.Write(int(w), b)
		if err == unix.EINTR {
			continue
		}
		if n < 0 {
			n = 0
		}
		return n, err
	}
}

// sysCall makes a system call. One that cannot block (on a non-blocking
// socket) is made raw: it returns at once, so the runtime's bookkeeping for
// calls that may block (which wakes its monitor thread) is not needed.
func sysCall(trap, a1, a2, a3 uintptr, nonblocking bool) (uintptr, unix.Errno) {
	var r uintptr
	var errno unix.Errno
	if nonblocking {
		r, _, errno = unix.RawSyscall(trap, a1, a2, a3)
	} else {
		r, _, errno = unix.Syscall(trap, a1, a2, a3)
	}
	return r, errno
}

// readFD reads from fd with read(2); see sysCall for nonblocking.
func readFD(fd int, b []byte, nonblocking bool) (int, error) {
	r, errno := sysCall(unix.SYS_READ, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(b))), uintptr(len(b)), nonblocking)
	if errno != 0 {
		return 0, errno
	}
	return int(r), nil
}
