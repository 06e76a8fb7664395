// Package process starts service instances and watches them: it forks from a
// single locked OS thread (so that Pdeathsig, which fires when the forking
// thread exits, fires only when the manager dies), applies resource limits,
// turns the instance's stderr into log lines, reaps it and describes how it
// ended.
package process

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Limits are the resource limits of one instance; zero means no limit. Each
// hard limit is the soft limit plus one, as in the original.
type Limits struct {
	CPUSeconds uint64 // RLIMIT_CPU
	DataBytes  uint64 // RLIMIT_DATA
	OpenFiles  uint64 // RLIMIT_NOFILE
}

// Spec says how to start one instance.
type Spec struct {
	Path       string   // the program; execv semantics: no PATH search, relative to Dir
	Argv       []string // argv, Argv[0] included
	Dir        string   // working directory; empty: the manager's
	Env        []string // the whole environment
	Files      []*os.File
	Limits     Limits
	Credential *syscall.Credential // nil: the manager's user
	// Line receives every line the instance writes to stderr, already
	// collapsed: a run of identical lines becomes the first line plus
	// "previous message repeated N times". It is called from the stderr
	// reader goroutine.
	Line func(pid int, line string)
}

// MaxLine is the longest stderr line delivered whole; longer lines are split.
const MaxLine = 4096

// stderrDrain is how long a reaped instance's stderr may stay open (held by
// a grandchild) before the manager stops reading it.
const stderrDrain = 250 * time.Millisecond

// Forker starts processes from one goroutine locked to its OS thread for the
// life of the program. Pdeathsig (SIGKILL) then fires for every instance as
// soon as the manager process dies, even by kill -9.
type Forker struct {
	reqs chan forkReq

	mu    sync.Mutex
	known map[int]bool // pids of the Processes not yet reaped (Start, Adopt)
}

type forkReq struct {
	spec  *Spec
	files []*os.File
	reply chan forkReply
}

type forkReply struct {
	p   *os.Process
	err error
}

// NewForker starts the forking goroutine. It never exits.
func NewForker() *Forker {
	f := newForker()
	started := make(chan struct{})
	go f.loop(started)
	<-started
	return f
}

// newForker returns a Forker whose requests no thread serves yet: NewForker
// serves them from a thread of its own, ServeOnMain from the main thread.
func newForker() *Forker { return &Forker{reqs: make(chan forkReq), known: map[int]bool{}} }

func (f *Forker) loop(started chan struct{}) {
	runtime.LockOSThread() // never unlocked: this thread is every child's parent
	close(started)
	for r := range f.reqs {
		r.reply <- f.fork(r)
	}
	select {} // never let the thread exit
}

func (f *Forker) fork(r forkReq) forkReply {
	s := r.spec
	path, argv, err := wrap(s)
	if err != nil {
		return forkReply{err: err}
	}
	sys := &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true, Credential: s.Credential}
	f.mu.Lock() // ReapOrphans must not take it for an orphan before it is known
	defer f.mu.Unlock()
	p, err := os.StartProcess(path, argv, &os.ProcAttr{Dir: s.Dir, Env: s.Env, Files: r.files, Sys: sys})
	if err != nil {
		return forkReply{err: err}
	}
	f.known[p.Pid] = true
	return forkReply{p: p}
}

// Process is one started instance.
type Process struct {
	Pid     int
	Started time.Time

	p          *os.Process
	stderr     *os.File
	stderrDone chan struct{}
	done       chan struct{}
	state      *os.ProcessState
	waitErr    error
	forker     *Forker
}

// Start starts an instance: fd 0 and 1 are /dev/null, fd 2 a pipe read by
// the manager, fds 3... are spec.Files.
func (f *Forker) Start(spec *Spec) (*Process, error) {
	devnull, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	defer devnull.Close()
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	files := append([]*os.File{devnull, devnull, w}, spec.Files...)
	reply := make(chan forkReply, 1)
	f.reqs <- forkReq{spec: spec, files: files, reply: reply}
	rep := <-reply
	w.Close()
	if rep.err != nil {
		r.Close()
		return nil, rep.err
	}
	p := &Process{Pid: rep.p.Pid, Started: time.Now(), p: rep.p, stderr: r,
		stderrDone: make(chan struct{}), done: make(chan struct{}), forker: f}
	go p.readStderr(func(s string) {
		if spec.Line != nil {
			spec.Line(p.Pid, s)
		}
	})
	go p.wait()
	return p, nil
}

// Signal sends sig to the instance. After the instance has been reaped it
// returns os.ErrProcessDone and signals nothing (no pid reuse race).
func (p *Process) Signal(sig syscall.Signal) error { return p.p.Signal(sig) }

// Done is closed when the instance has been reaped and its stderr read.
func (p *Process) Done() <-chan struct{} { return p.done }

// State returns how the instance ended; valid after Done is closed.
func (p *Process) State() (*os.ProcessState, error) { return p.state, p.waitErr }

func (p *Process) wait() {
	p.state, p.waitErr = p.p.Wait()
	p.forker.forget(p.Pid)
	select {
	case <-p.stderrDone:
	case <-time.After(stderrDrain):
		_ = p.stderr.SetReadDeadline(time.Now()) // a grandchild keeps stderr open
		<-p.stderrDone
	}
	p.stderr.Close()
	close(p.done)
}

func (p *Process) readStderr(emit func(string)) {
	defer close(p.stderrDone)
	if emit == nil {
		emit = func(string) {}
	}
	br := bufio.NewReaderSize(p.stderr, MaxLine)
	var last []byte
	repeats := 0
	flush := func() {
		if repeats > 0 {
			emit(fmt.Sprintf("previous message repeated %d times", repeats))
			repeats = 0
		}
	}
	for {
		line, err := br.ReadSlice('\n')
		if len(line) > 0 {
			full := line[len(line)-1] == '\n'
			text := bytes.TrimRight(line, "\r\n")
			switch {
			case !full && err != nil && err != bufio.ErrBufferFull:
				flush() // a partial last line
				emit(string(text) + "<<")
			case last != nil && bytes.Equal(text, last):
				repeats++
			default:
				flush()
				emit(string(text))
				last = append(last[:0], text...)
			}
		}
		if err != nil && err != bufio.ErrBufferFull {
			flush()
			if !errors.Is(err, io.EOF) && !errors.Is(err, os.ErrDeadlineExceeded) && !errors.Is(err, os.ErrClosed) {
				emit("stderr read error: " + err.Error())
			}
			return
		}
	}
}

// Adopt watches a process the manager did not start itself but that is its
// child: an instance forked by a preload template (docs/preload.md), which
// the template double-forks so that it is reparented to the manager (a
// child subreaper). stderr is the read end of the instance's stderr pipe;
// Adopt owns it from now on. line is called like Spec.Line. Call it from
// the goroutine that calls ReapOrphans, so the pid is not taken for an
// orphan in between.
func (f *Forker) Adopt(pid int, stderr *os.File, line func(pid int, line string)) (*Process, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	op, err := os.FindProcess(pid)
	if err != nil {
		stderr.Close()
		return nil, fmt.Errorf("adopt pid %d: %w", pid, err)
	}
	f.known[pid] = true
	p := &Process{Pid: pid, Started: time.Now(), p: op, stderr: stderr,
		stderrDone: make(chan struct{}), done: make(chan struct{}), forker: f}
	go p.readStderr(func(s string) {
		if line != nil {
			line(pid, s)
		}
	})
	go p.wait()
	return p, nil
}

func (f *Forker) forget(pid int) {
	if f == nil {
		return
	}
	f.mu.Lock()
	delete(f.known, pid)
	f.mu.Unlock()
}

// ReapOrphans reaps the children of the manager that no Process waits for
// and that have exited: once the manager is a child subreaper (preload),
// the orphaned descendants of its instances become its children, and
// would stay zombies. Living ones are left alone, and so is a process that
// leads its own process group, as every instance and template does
// (Setpgid): a second guard, besides the pids of Start, Adopt and
// AdoptHandedOver, against taking the exit status of a supervised process.
// It returns how many it reaped.
func (f *Forker) ReapOrphans() int {
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return 0
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, t := range tasks {
		b, err := os.ReadFile("/proc/self/task/" + t.Name() + "/children")
		if err != nil {
			continue
		}
		for _, field := range strings.Fields(string(b)) {
			pid, err := strconv.Atoi(field)
			if err != nil || f.known[pid] || leadsGroup(pid) {
				continue
			}
			var ws unix.WaitStatus
			if got, err := unix.Wait4(pid, &ws, unix.WNOHANG, nil); err == nil && got == pid {
				n++
			}
		}
	}
	return n
}

// leadsGroup reports whether pid is its own process group's leader (a
// zombie's group is still readable); true when unknown, to be safe.
func leadsGroup(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	// pid (comm) state ppid pgrp ...: comm may hold spaces and parentheses
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return true
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 3 {
		return true
	}
	return f[2] == strconv.Itoa(pid)
}
