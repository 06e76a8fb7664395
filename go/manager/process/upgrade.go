package process

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// The manager's upgrade in place (docs/operations.md, "Upgrading the
// manager"): the instances are children of the forking thread, and
// Pdeathsig kills them when that thread ends, which every thread but the
// caller of execve does. So the forker thread is the main thread
// (ServeOnMain), and it is that thread that calls execve (MainThread.Exec): the
// instances keep their parent, and after the exec the new program's main
// thread is their parent again.

type execReq struct {
	path  string
	argv  []string
	env   []string
	keep  []int
	reply chan error
}

// MainThread is the main thread of the manager serving as its Forker
// (ServeOnMain): it forks every instance and is the one that can replace
// the program (Exec).
type MainThread struct {
	Forker *Forker
	// Environ is the environment the program started with, before it
	// removed anything (systemd's NOTIFY_SOCKET): the one to re-execute with.
	Environ []string
	execs   chan execReq
}

// ServeOnMain runs run on a new goroutine with a Forker served by the
// calling goroutine, and exits the process with run's result. The caller
// must be the main goroutine locked to the main thread (runtime.LockOSThread
// in an init function), so that every instance's parent is the main thread,
// the one thread that survives an execve (MainThread.Exec).
func ServeOnMain(run func(*MainThread) int) {
	mt := &MainThread{Forker: newForker(), Environ: os.Environ(), execs: make(chan execReq)}
	go func() { os.Exit(run(mt)) }()
	for {
		select {
		case r := <-mt.Forker.reqs:
			r.reply <- mt.Forker.fork(r)
		case e := <-mt.execs:
			e.reply <- doExec(&e)
		}
	}
}

// Exec replaces the program with path (argv, env) on the main thread,
// keeping the process id and the instances as children. The descriptors in
// keep are inherited (their close-on-exec flag is cleared first). It returns
// only if execve failed; the flags are then set again and nothing else has
// changed.
func (mt *MainThread) Exec(path string, argv, env []string, keep []int) error {
	reply := make(chan error, 1)
	mt.execs <- execReq{path: path, argv: argv, env: env, keep: keep, reply: reply}
	return <-reply
}

func doExec(r *execReq) error {
	var cleared []int
	restore := func() {
		for _, fd := range cleared {
			_, _ = unix.FcntlInt(uintptr(fd), unix.F_SETFD, unix.FD_CLOEXEC)
		}
	}
	for _, fd := range r.keep {
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_SETFD, 0); err != nil {
			restore()
			return fmt.Errorf("fd %d: clear close-on-exec: %w", fd, err)
		}
		cleared = append(cleared, fd)
	}
	err := syscall.Exec(r.path, r.argv, r.env)
	restore()
	return fmt.Errorf("execve %s: %w", r.path, err)
}

// SetCloseOnExec marks fd close-on-exec again once a new program has taken it over,
// so that no instance started later inherits it.
func SetCloseOnExec(fd int) error {
	_, err := unix.FcntlInt(uintptr(fd), unix.F_SETFD, unix.FD_CLOEXEC)
	return err
}

// StderrFD returns the descriptor of the read end of the instance's stderr
// pipe, for a handover to a new manager program.
func (p *Process) StderrFD() (int, error) {
	rc, err := p.stderr.SyscallConn()
	if err != nil {
		return -1, err
	}
	fd := -1
	if err := rc.Control(func(v uintptr) { fd = int(v) }); err != nil {
		return -1, err
	}
	return fd, nil
}

// AdoptHandedOver takes over an instance started by the manager program
// this one replaced (MainThread.Exec): pid must be a child of this process
// and stderrFD the read end of its stderr pipe, inherited. Like Start, it
// reads the stderr lines and reaps the instance, and the pid is known to
// ReapOrphans.
func (f *Forker) AdoptHandedOver(pid, stderrFD int, started time.Time, line func(pid int, line string)) (*Process, error) {
	if pid <= 0 {
		return nil, fmt.Errorf("adopt pid %d: not a pid", pid)
	}
	// The pid is our child (a zombie at worst, which keeps the pid) if
	// waitid, without reaping, does not say ECHILD.
	var info unix.Siginfo
	for {
		err := unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOHANG|unix.WNOWAIT, nil)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("adopt pid %d: not a child of this manager: %w", pid, err)
		}
		break
	}
	if err := SetCloseOnExec(stderrFD); err != nil {
		return nil, fmt.Errorf("adopt pid %d: stderr fd %d: %w", pid, stderrFD, err)
	}
	if err := unix.SetNonblock(stderrFD, true); err != nil {
		return nil, fmt.Errorf("adopt pid %d: stderr fd %d: %w", pid, stderrFD, err)
	}
	p, err := f.Adopt(pid, os.NewFile(uintptr(stderrFD), "stderr"), line)
	if err != nil {
		return nil, err
	}
	p.Started = started
	return p, nil
}
