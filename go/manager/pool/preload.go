package pool

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/pluton-go/pluton/go/manager/logging"
	"github.com/pluton-go/pluton/go/manager/process"
)

// The preload part of the pool (docs/preload.md). A service configured with
// "preload true" gets one template process: a normal exec of the service
// with plutonPreload=6 in its environment, /dev/null on fds 3-5 and one end
// of a SOCK_SEQPACKET socketpair on fd 6. The template initializes (imports,
// warm-up hook), sends "R", then waits. Each start of an instance then sends
// the template "F <slot>" with the listening socket, the stats segment, the
// report pipe and the instance's own stderr pipe as SCM_RIGHTS; the template
// double-forks, so that the instance is reparented to the manager (a child
// subreaper), and answers "P <pid>" (or "E <why>"). The manager adopts the
// pid and supervises it like an exec'd instance. Whenever the template is
// not ready, instances are exec'd as usual.

// Tuning of the template; docs/preload.md explains each.
const (
	templateFD         = 6                      // the fork socket's fd in the template
	forkTimeout        = 2 * time.Second        // for the template's answer to one fork request
	templateRetry      = time.Second            // between a template's exit and its restart
	templateMaxUnready = 3                      // templates in a row that end before "R": preload is given up
	templateStopGrace  = 2 * time.Second        // SIGTERM to SIGKILL for a template being stopped
	forkReplyMax       = 512                    // the longest message the template sends
	templateEnv        = "plutonPreload"        // names the fork socket's fd
	templateLogPrefix  = "preload template pid" // in the log lines about the template
)

// template is the running template of a preloading service.
type template struct {
	proc    *process.Process
	conn    *net.UnixConn // the manager's end of the fork socket
	ready   bool          // it said "R": fork requests go to it
	stopped bool          // the manager asked it to stop
	started time.Time
	replies chan string // "P <pid>" and "E <why>", from the reader goroutine
}

// ensureTemplate starts the template of a preloading service when it has
// none, unless preload was given up or the last one ended less than
// templateRetry ago.
func (s *Service) ensureTemplate(now time.Time) {
	if !s.Cfg.Preload || s.tmpl != nil || s.tmplOff || s.phase != Running || now.Before(s.tmplRetry) {
		return
	}
	if err := s.startTemplate(now); err != nil {
		s.tmplRetry = now.Add(templateRetry)
		s.noteUnready(fmt.Sprintf("start failed: %v", err))
	}
}

// sweepOrphans reaps, at most once a sample for the whole manager, the
// exited orphans the manager inherited as a child subreaper.
func (s *Service) sweepOrphans(now time.Time) {
	if !s.env.subreaperKnown { // the flag survives execve: an upgrade in place keeps it
		s.env.subreaperKnown = true
		var on int32
		if unix.Prctl(unix.PR_GET_CHILD_SUBREAPER, uintptr(unsafe.Pointer(&on)), 0, 0, 0) == nil && on != 0 {
			s.env.subreaper = true
		}
	}
	if !s.env.subreaper || now.Sub(s.env.orphanSweep) < SampleInterval {
		return
	}
	s.env.orphanSweep = now
	if n := s.env.Forker.ReapOrphans(); n > 0 {
		s.env.Log.Debugf(logging.DebugThread, "reaped %d orphaned descendant(s) of instances", n)
	}
}

// noteUnready counts a template that ended (or failed to start) before it
// was ready, and gives preload up after templateMaxUnready in a row.
func (s *Service) noteUnready(why string) {
	s.tmplUnready++
	if s.tmplUnready < templateMaxUnready {
		s.env.Log.Printf("Service Warning: %s: preload template not ready: %s; instances are exec'd meanwhile", s.Key, why)
		return
	}
	s.tmplOff = true
	s.env.Log.Printf("Service Warning: %s: preload disabled until the configuration changes: %d templates in a row ended before they were ready (last: %s); does the service's SDK support preload? Instances are exec'd",
		s.Key, s.tmplUnready, why)
}

func (s *Service) startTemplate(now time.Time) error {
	// Orphans become the manager's children instead of init's: the
	// double-forked instances are then the manager's to wait for.
	if !s.env.subreaper {
		if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
			return fmt.Errorf("prctl PR_SET_CHILD_SUBREAPER: %w", err)
		}
		s.env.subreaper = true
	}
	pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("socketpair: %w", err)
	}
	theirs := os.NewFile(uintptr(pair[1]), "preload-template")
	defer theirs.Close()
	mine := os.NewFile(uintptr(pair[0]), "preload")
	fc, err := net.FileConn(mine)
	mine.Close()
	if err != nil {
		return fmt.Errorf("fork socket: %w", err)
	}
	conn, ok := fc.(*net.UnixConn)
	if !ok {
		fc.Close()
		return errors.New("fork socket: not a unix socket")
	}
	devnull, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		conn.Close()
		return err
	}
	defer devnull.Close()
	env := make([]string, 0, len(s.env.BaseEnv)+2)
	env = append(env, s.env.BaseEnv...)
	env = append(env, "plutonService="+s.Key, templateEnv+"="+strconv.Itoa(templateFD))
	key, lines := s.Key, s.lines
	spec := &process.Spec{
		Path: s.argv[0], Argv: s.argv, Dir: s.Cfg.Cd, Env: env,
		// fds 3-5 are /dev/null: an SDK that does not know preload finds
		// no request source and exits, and preload is given up.
		Files:  []*os.File{devnull, devnull, devnull, theirs},
		Limits: s.limits, Credential: s.credential,
		Line: func(pid int, line string) {
			lines.lifeLogf(logging.ProcessLog, "Log: "+key+"/template "+line, "Log: %s/template-%d %s", key, pid, line)
		},
	}
	if err := process.CheckExec(spec.Path, spec.Dir); err != nil {
		conn.Close()
		return err
	}
	p, err := s.env.Forker.Start(spec)
	if err != nil {
		conn.Close()
		return err
	}
	t := &template{proc: p, conn: conn, started: now, replies: make(chan string, 1)}
	s.tmpl = t
	s.env.Log.Logf(logging.ProcessStart, "Service Preload: %s %s %d started", s.Key, templateLogPrefix, p.Pid)
	go s.readTemplate(t)
	go func() {
		<-p.Done()
		s.env.Post(func() { s.onTemplateExit(t) })
	}()
	return nil
}

// readTemplate reads the template's messages until its end of the socket
// closes: "R" is handed to the loop, fork answers to the waiting start.
func (s *Service) readTemplate(t *template) {
	buf := make([]byte, forkReplyMax)
	for {
		n, err := t.conn.Read(buf)
		if err != nil || n == 0 {
			return
		}
		msg := string(buf[:n])
		if msg == "R" {
			s.env.Post(func() { s.onTemplateReady(t) })
			continue
		}
		select {
		case t.replies <- msg:
		default: // nobody asked (a late answer after a timeout): dropped
		}
	}
}

func (s *Service) onTemplateReady(t *template) {
	if s.tmpl != t || t.stopped {
		return
	}
	t.ready = true
	s.tmplUnready = 0
	s.env.Log.Logf(logging.ProcessStart, "Service Preload: %s %s %d ready after %s", s.Key, templateLogPrefix,
		t.proc.Pid, time.Since(t.started).Round(time.Millisecond))
}

func (s *Service) onTemplateExit(t *template) {
	t.conn.Close()
	why := "exited"
	if st, err := t.proc.State(); err == nil && st != nil {
		why = process.Describe(st, 0, 0, false).Reasons
	}
	if s.tmpl != t {
		s.env.Log.Logf(logging.ProcessExit, "Service Preload: %s %s %d stopped: %s", s.Key, templateLogPrefix, t.proc.Pid, why)
		return
	}
	s.tmpl = nil
	now := time.Now()
	s.tmplRetry = now.Add(templateRetry)
	if !t.ready {
		s.noteUnready(fmt.Sprintf("%s %d %s", templateLogPrefix, t.proc.Pid, why))
	} else {
		s.env.Log.Printf("Service Warning: %s: %s %d ended: %s; restarting it (running instances keep serving)",
			s.Key, templateLogPrefix, t.proc.Pid, why)
	}
	s.step(now)
}

// stopTemplate asks the template to end: its socket closes (it exits when
// it reads the end of file) and it gets SIGTERM, then SIGKILL.
func (s *Service) stopTemplate() {
	t := s.tmpl
	if t == nil {
		return
	}
	s.tmpl = nil
	t.stopped = true
	t.conn.Close()
	_ = t.proc.Signal(syscall.SIGTERM)
	go func() {
		select {
		case <-t.proc.Done():
		case <-time.After(templateStopGrace):
			_ = t.proc.Signal(syscall.SIGKILL)
		}
	}()
}

// stopTemplateForHandover stops the template before the manager program
// is replaced in place (adopt.go) and waits, at most templateStopGrace plus
// a second, until it is reaped: the template is not handed over (the new
// program starts its own), and would otherwise stay a zombie of the new
// program. If the replacement fails, the next sample starts a template
// again.
func (s *Service) stopTemplateForHandover() {
	t := s.tmpl
	if t == nil {
		return
	}
	s.stopTemplate()
	select {
	case <-t.proc.Done():
	case <-time.After(templateStopGrace + time.Second):
		s.env.Log.Printf("Service Warning: %s: %s %d did not end before the upgrade", s.Key, templateLogPrefix, t.proc.Pid)
	}
}

// forkFromTemplate asks the ready template for an instance in slot and
// adopts it. On an error the caller execs the instance instead; a template
// that does not answer within forkTimeout is stopped (and restarted).
func (s *Service) forkFromTemplate(t *template, slot int, line func(pid int, line string)) (*process.Process, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	select {
	case <-t.replies: // a stale answer
	default:
	}
	rights := unix.UnixRights(int(s.listener.Fd()), int(s.segFile.Fd()), int(s.repW.Fd()), int(w.Fd()))
	_ = t.conn.SetWriteDeadline(time.Now().Add(forkTimeout))
	_, _, err = t.conn.WriteMsgUnix([]byte("F "+strconv.Itoa(slot)), rights, nil)
	w.Close()
	if err != nil {
		r.Close()
		s.stopTemplate()
		return nil, fmt.Errorf("fork request to %s %d: %w", templateLogPrefix, t.proc.Pid, err)
	}
	timer := time.NewTimer(forkTimeout)
	defer timer.Stop()
	var reply string
	select {
	case reply = <-t.replies:
	case <-t.proc.Done():
		r.Close()
		return nil, fmt.Errorf("%s %d ended during a fork request", templateLogPrefix, t.proc.Pid)
	case <-timer.C:
		s.stopTemplate()
		s.killLateFork(t, r)
		return nil, fmt.Errorf("%s %d did not answer a fork request within %s", templateLogPrefix, t.proc.Pid, forkTimeout)
	}
	pid, err := parseForkReply(reply)
	if err != nil {
		r.Close()
		return nil, fmt.Errorf("%s %d: %w", templateLogPrefix, t.proc.Pid, err)
	}
	return s.env.Forker.Adopt(pid, r, line)
}

// killLateFork kills the instance a template forked after its fork request
// timed out, if its answer came in the meantime: nobody supervises it, so it
// is adopted (to be reaped) and killed. It owns stderr, the instance's
// stderr pipe.
func (s *Service) killLateFork(t *template, stderr *os.File) {
	select {
	case reply := <-t.replies:
		pid, err := parseForkReply(reply)
		if err != nil {
			stderr.Close()
			return
		}
		if p, err := s.env.Forker.Adopt(pid, stderr, nil); err == nil {
			_ = p.Signal(syscall.SIGKILL)
			s.env.Log.Printf("Service Warning: %s: killed pid %d, forked by %s %d after its fork request timed out",
				s.Key, pid, templateLogPrefix, t.proc.Pid)
		}
	default:
		stderr.Close()
	}
}

// parseForkReply reads "P <pid>" or "E <why>".
func parseForkReply(reply string) (int, error) {
	switch {
	case strings.HasPrefix(reply, "P "):
		pid, err := strconv.Atoi(reply[2:])
		if err != nil || pid <= 1 {
			return 0, fmt.Errorf("bad fork answer %q", reply)
		}
		return pid, nil
	case strings.HasPrefix(reply, "E "):
		return 0, fmt.Errorf("fork failed: %s", reply[2:])
	}
	return 0, fmt.Errorf("bad fork answer %q", reply)
}
