// Package sockdiag measures the accept queues of listening Unix sockets
// through NETLINK_SOCK_DIAG (unix_diag with UDIAG_SHOW_RQLEN): for a
// listener, the kernel reports in UNIX_DIAG_RQLEN the number of connections
// waiting to be accepted. The manager samples it to see a backlog build up
// long before clients time out; the original could only tell "readable or
// not" on Linux.
package sockdiag

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"

	"golang.org/x/sys/unix"
)

const (
	sockDiagByFamily = 20   // SOCK_DIAG_BY_FAMILY
	udiagShowRQLen   = 0x10 // UDIAG_SHOW_RQLEN
	unixDiagRQLen    = 4    // UNIX_DIAG_RQLEN attribute
	tcpListen        = 10   // TCP_LISTEN, the state of a listening socket
	nlmsgHdrLen      = 16
	unixDiagReqLen   = 24
	unixDiagMsgLen   = 16
)

var le = binary.LittleEndian

// Conn is a netlink socket for unix_diag queries. It is safe for concurrent use.
type Conn struct {
	mu  sync.Mutex
	fd  int
	seq uint32
	buf []byte
}

// Open opens the netlink socket.
func Open() (*Conn, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.NETLINK_SOCK_DIAG)
	if err != nil {
		return nil, fmt.Errorf("sockdiag: netlink socket: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("sockdiag: netlink bind: %w", err)
	}
	return &Conn{fd: fd, buf: make([]byte, 64<<10)}, nil
}

// Close closes the socket.
func (c *Conn) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fd < 0 {
		return nil
	}
	err := unix.Close(c.fd)
	c.fd = -1
	return err
}

// Inode returns the socket inode of fd, the key of ListenQueues' result.
func Inode(fd uintptr) (uint64, error) {
	var st unix.Stat_t
	if err := unix.Fstat(int(fd), &st); err != nil {
		return 0, err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFSOCK {
		return 0, errors.New("sockdiag: not a socket")
	}
	return st.Ino, nil
}

// ListenQueues returns, for every listening Unix socket of the network
// namespace, its inode and the number of connections waiting in its accept
// queue. want, if not nil, limits the result to those inodes.
func (c *Conn) ListenQueues(want map[uint64]bool) (map[uint64]uint32, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fd < 0 {
		return nil, errors.New("sockdiag: closed")
	}
	c.seq++
	var req [nlmsgHdrLen + unixDiagReqLen]byte
	le.PutUint32(req[0:], uint32(len(req)))
	le.PutUint16(req[4:], sockDiagByFamily)
	le.PutUint16(req[6:], unix.NLM_F_REQUEST|unix.NLM_F_DUMP)
	le.PutUint32(req[8:], c.seq)
	r := req[nlmsgHdrLen:]
	r[0] = unix.AF_UNIX
	le.PutUint32(r[4:], 1<<tcpListen)    // udiag_states
	le.PutUint32(r[12:], udiagShowRQLen) // udiag_show
	if err := unix.Sendto(c.fd, req[:], 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return nil, fmt.Errorf("sockdiag: send: %w", err)
	}
	out := make(map[uint64]uint32)
	for {
		n, _, err := unix.Recvfrom(c.fd, c.buf, 0)
		if err != nil {
			if err == unix.EINTR {
				continue
			}
			return nil, fmt.Errorf("sockdiag: receive: %w", err)
		}
		done, err := c.parse(c.buf[:n], want, out)
		if err != nil || done {
			return out, err
		}
	}
}

func (c *Conn) parse(b []byte, want map[uint64]bool, out map[uint64]uint32) (bool, error) {
	for len(b) >= nlmsgHdrLen {
		l := int(le.Uint32(b))
		typ := le.Uint16(b[4:])
		seq := le.Uint32(b[8:])
		if l < nlmsgHdrLen || l > len(b) {
			return false, errors.New("sockdiag: truncated netlink message")
		}
		data := b[nlmsgHdrLen:l]
		b = b[min((l+3)&^3, len(b)):]
		if seq != c.seq {
			continue // a stale answer to an earlier, abandoned request
		}
		switch typ {
		case unix.NLMSG_DONE:
			return true, nil
		case unix.NLMSG_ERROR:
			if len(data) >= 4 {
				if e := int32(le.Uint32(data)); e != 0 {
					return true, fmt.Errorf("sockdiag: %w", unix.Errno(-e))
				}
			}
			return true, nil
		case sockDiagByFamily:
			if len(data) < unixDiagMsgLen {
				continue
			}
			ino := uint64(le.Uint32(data[4:]))
			if want != nil && !want[ino] {
				continue
			}
			attrs := data[unixDiagMsgLen:]
			for len(attrs) >= 4 {
				al := int(le.Uint16(attrs))
				at := le.Uint16(attrs[2:])
				if al < 4 || al > len(attrs) {
					break
				}
				if at == unixDiagRQLen && al >= 12 {
					out[ino] = le.Uint32(attrs[4:])
				}
				attrs = attrs[min((al+3)&^3, len(attrs)):]
			}
		}
	}
	return false, nil
}

// Readable reports whether a listening socket has at least one pending
// connection, by poll(2). It is the fallback when netlink is unavailable.
func Readable(fd uintptr) bool {
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	n, err := unix.Poll(fds, 0)
	return err == nil && n > 0 && fds[0].Revents&unix.POLLIN != 0
}
