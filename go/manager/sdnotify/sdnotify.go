// Package sdnotify speaks systemd's service notification protocol
// (sd_notify(3)): newline-separated VAR=value assignments in one datagram
// to the AF_UNIX socket named by $NOTIFY_SOCKET (a leading '@' names an
// abstract socket). plutonManager uses it under a Type=notify unit
// (docs/operations.md).
package sdnotify

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// SocketEnv is the environment variable naming the notification socket.
const SocketEnv = "NOTIFY_SOCKET"

// WatchdogEnv and WatchdogPIDEnv are the variables systemd sets when the
// unit has WatchdogSec=.
const (
	WatchdogEnv    = "WATCHDOG_USEC"
	WatchdogPIDEnv = "WATCHDOG_PID"
)

// Notifier sends notifications to one socket. The zero of *Notifier (nil)
// sends nothing, so callers need not check whether systemd is there.
type Notifier struct {
	conn *net.UnixConn
}

// FromEnv returns a Notifier for $NOTIFY_SOCKET, nil (and no error) when it
// is not set. unset removes the variable so the manager's instances do not
// inherit it.
func FromEnv(unset bool) (*Notifier, error) {
	path := os.Getenv(SocketEnv)
	if unset {
		_ = os.Unsetenv(SocketEnv)
	}
	if path == "" {
		return nil, nil
	}
	return New(path)
}

// New returns a Notifier for the socket at path ('@' first: abstract).
func New(path string) (*Notifier, error) {
	if path[0] != '/' && path[0] != '@' {
		return nil, fmt.Errorf("%s=%s: want an absolute path or @abstract name", SocketEnv, path)
	}
	name := path
	if name[0] == '@' {
		name = "\x00" + name[1:]
	}
	addr := &net.UnixAddr{Name: name, Net: "unixgram"}
	conn, err := net.DialUnix("unixgram", nil, addr)
	if err != nil {
		return nil, fmt.Errorf("notify socket %s: %w", path, err)
	}
	return &Notifier{conn: conn}, nil
}

// Send sends the assignments (for example "READY=1", "STATUS=3 services")
// in one datagram. A nil Notifier sends nothing.
func (n *Notifier) Send(assignments ...string) error {
	if n == nil {
		return nil
	}
	msg := strings.Join(assignments, "\n")
	if _, err := n.conn.Write([]byte(msg)); err != nil {
		return fmt.Errorf("sd_notify %q: %w", msg, err)
	}
	return nil
}

// Close closes the socket.
func (n *Notifier) Close() error {
	if n == nil {
		return nil
	}
	return n.conn.Close()
}

// Reloading returns the assignments that start a reload: RELOADING=1 with
// MONOTONIC_USEC (required by Type=notify-reload).
func Reloading() []string {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return []string{"RELOADING=1", "MONOTONIC_USEC=" + strconv.FormatInt(ts.Nano()/1000, 10)}
}

// WatchdogInterval returns how often to send WATCHDOG=1: half of
// $WATCHDOG_USEC, or 0 when the unit has no watchdog or it is meant for
// another process ($WATCHDOG_PID is not this one). unset removes both
// variables so the instances do not inherit them.
func WatchdogInterval(unset bool) (time.Duration, error) {
	usec, pid := os.Getenv(WatchdogEnv), os.Getenv(WatchdogPIDEnv)
	if unset {
		_ = os.Unsetenv(WatchdogEnv)
		_ = os.Unsetenv(WatchdogPIDEnv)
	}
	if usec == "" {
		return 0, nil
	}
	if pid != "" {
		p, err := strconv.Atoi(pid)
		if err != nil {
			return 0, fmt.Errorf("%s=%s: %w", WatchdogPIDEnv, pid, err)
		}
		if p != os.Getpid() {
			return 0, nil
		}
	}
	n, err := strconv.ParseInt(usec, 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("%s=%s: want a positive number of microseconds", WatchdogEnv, usec)
	}
	return time.Duration(n) * time.Microsecond / 2, nil
}
