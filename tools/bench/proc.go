package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// clockTick is the unit of the CPU times in /proc/<pid>/stat (USER_HZ,
// 100 on every Linux architecture Go supports).
const clockTick = 10 * time.Millisecond

// procStat is what the benchmarks read from /proc/<pid>/stat.
type procStat struct {
	pid, ppid int
	// cpu is utime+stime+cutime+cstime: the process's own CPU time and that
	// of its children that it has reaped.
	cpu time.Duration
	// own is utime+stime only.
	own time.Duration
}

// readStat parses /proc/<pid>/stat.
func readStat(pid int) (procStat, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return procStat{}, err
	}
	return parseStat(pid, b)
}

func parseStat(pid int, b []byte) (procStat, error) {
	// The command name may contain spaces and parentheses: fields start
	// after the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return procStat{}, fmt.Errorf("stat of %d: no ')'", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state): ppid is field 4, utime..cstime 14..17.
	if len(f) < 15 {
		return procStat{}, fmt.Errorf("stat of %d: %d fields", pid, len(f))
	}
	num := func(k int) int64 { v, _ := strconv.ParseInt(f[k-3], 10, 64); return v }
	own := num(14) + num(15)
	return procStat{
		pid:  pid,
		ppid: int(num(4)),
		own:  time.Duration(own) * clockTick,
		cpu:  time.Duration(own+num(16)+num(17)) * clockTick,
	}, nil
}

// allStats reads the stat of every process.
func allStats() []procStat {
	ents, _ := os.ReadDir("/proc")
	out := make([]procStat, 0, len(ents))
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if s, err := readStat(pid); err == nil {
			out = append(out, s)
		}
	}
	return out
}

// treeOf returns root and all its descendants, root first.
func treeOf(stats []procStat, root int) []procStat {
	kids := map[int][]int{}
	byPid := map[int]procStat{}
	for _, s := range stats {
		kids[s.ppid] = append(kids[s.ppid], s.pid)
		byPid[s.pid] = s
	}
	var out []procStat
	queue := []int{root}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		if s, ok := byPid[p]; ok {
			out = append(out, s)
			queue = append(queue, kids[p]...)
		}
	}
	return out
}

// cpuSample is the CPU time of process trees at one moment.
type cpuSample struct {
	tree time.Duration // every process of the trees, with their reaped children
	own  time.Duration // the roots alone (utime+stime)
}

// sampleCPU returns the CPU time used so far by the trees rooted at roots.
func sampleCPU(roots ...int) cpuSample {
	all := allStats()
	var s cpuSample
	for _, r := range roots {
		for i, p := range treeOf(all, r) {
			s.tree += p.cpu
			if i == 0 {
				s.own += p.own
			}
		}
	}
	return s
}

func (s cpuSample) sub(o cpuSample) cpuSample {
	return cpuSample{tree: s.tree - o.tree, own: s.own - o.own}
}

// childPids returns the pids of pid's children, from
// /proc/<pid>/task/*/children (every thread's), or by a scan of /proc.
func childPids(pid int) []int {
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err == nil {
		var out []int
		ok := true
		for _, t := range tasks {
			b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/children", pid, t.Name()))
			if err != nil {
				ok = false
				break
			}
			for _, f := range strings.Fields(string(b)) {
				if c, err := strconv.Atoi(f); err == nil {
					out = append(out, c)
				}
			}
		}
		if ok {
			return out
		}
	}
	var out []int
	for _, s := range allStats() {
		if s.ppid == pid {
			out = append(out, s.pid)
		}
	}
	return out
}

// rssKiB returns the resident set size of pid in KiB (VmRSS).
func rssKiB(pid int) int64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			v, _ := strconv.ParseInt(strings.Fields(rest)[0], 10, 64)
			return v
		}
	}
	return -1
}

// A proc is a process the bench started, in a process group of its own.
type proc struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
	err  error
	out  *lineLog
}

// procs is every process still to be cleaned up.
var (
	procsMu sync.Mutex
	procs   = map[*proc]bool{}
)

// startProc starts argv in a new process group, with stdout and stderr kept
// in a small log (and copied to the bench's stderr when verbose).
func startProc(name string, env []string, dir string, argv ...string) (*proc, error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	p := &proc{name: name, cmd: cmd, done: make(chan struct{}), out: newLineLog(name)}
	// A pipe of our own rather than an io.Writer: cmd.Wait then returns when
	// the process exits, not when every descendant holding the pipe has.
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = w, w
	err = cmd.Start()
	w.Close()
	if err != nil {
		r.Close()
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	go func() {
		_, _ = io.Copy(p.out, r)
		r.Close()
	}()
	procsMu.Lock()
	procs[p] = true
	procsMu.Unlock()
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// pid returns the process id.
func (p *proc) pid() int { return p.cmd.Process.Pid }

// exited reports whether the process has ended.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop ends the process: sig to the process alone (if sig != 0), then, after
// grace, SIGKILL to its group and to every descendant still alive. It
// returns how long the process took to exit after sig.
func (p *proc) stop(sig syscall.Signal, grace time.Duration) time.Duration {
	desc := treeOf(allStats(), p.pid())
	start := time.Now()
	if sig != 0 {
		_ = p.cmd.Process.Signal(sig)
	}
	var took time.Duration
	select {
	case <-p.done:
		took = time.Since(start)
	case <-time.After(grace):
		took = -1
	}
	_ = syscall.Kill(-p.pid(), syscall.SIGKILL)
	for _, d := range desc {
		_ = syscall.Kill(-d.pid, syscall.SIGKILL)
		_ = syscall.Kill(d.pid, syscall.SIGKILL)
	}
	<-p.done
	procsMu.Lock()
	delete(procs, p)
	procsMu.Unlock()
	return took
}

// stopAll kills every process the bench started and is still running.
func stopAll() {
	procsMu.Lock()
	list := make([]*proc, 0, len(procs))
	for p := range procs {
		list = append(list, p)
	}
	procsMu.Unlock()
	for _, p := range list {
		p.stop(syscall.SIGTERM, 500*time.Millisecond)
	}
}

// lineLog keeps the last lines a process wrote and lets a caller wait for a
// line containing a text.
type lineLog struct {
	name    string
	mu      sync.Mutex
	partial []byte
	lines   []logLine
	waiters []lineWaiter
}

// logLine is one line of output and when it arrived.
type logLine struct {
	at   time.Time
	text string
}

type lineWaiter struct {
	text string
	ch   chan logLine
}

func newLineLog(name string) *lineLog { return &lineLog{name: name} }

func (l *lineLog) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.partial = append(l.partial, b...)
	for {
		i := bytes.IndexByte(l.partial, '\n')
		if i < 0 {
			break
		}
		line := logLine{at: time.Now(), text: string(l.partial[:i])}
		l.partial = l.partial[i+1:]
		if verbose {
			fmt.Fprintf(os.Stderr, "[%s] %s\n", l.name, line.text)
		}
		if len(l.lines) >= 200 {
			l.lines = l.lines[100:]
		}
		l.lines = append(l.lines, line)
		kept := l.waiters[:0]
		for _, w := range l.waiters {
			if strings.Contains(line.text, w.text) {
				w.ch <- line
			} else {
				kept = append(kept, w)
			}
		}
		l.waiters = kept
	}
	return len(b), nil
}

// waitFor waits until a line containing text is written (also one written
// already), the process exits, or the timeout passes.
func (p *proc) waitFor(text string, timeout time.Duration) (logLine, error) {
	l := p.out
	l.mu.Lock()
	for _, line := range l.lines {
		if strings.Contains(line.text, text) {
			l.mu.Unlock()
			return line, nil
		}
	}
	ch := make(chan logLine, 1)
	l.waiters = append(l.waiters, lineWaiter{text, ch})
	l.mu.Unlock()
	select {
	case line := <-ch:
		return line, nil
	case <-p.done:
		return logLine{}, fmt.Errorf("%s exited (%v) before %q; last output: %s", p.name, p.err, text, p.tail(5))
	case <-time.After(timeout):
		return logLine{}, fmt.Errorf("%s: no %q within %v; last output: %s", p.name, text, timeout, p.tail(5))
	}
}

// tail returns the last n lines of output, joined.
func (p *proc) tail(n int) string {
	p.out.mu.Lock()
	defer p.out.mu.Unlock()
	lines := p.out.lines
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	texts := make([]string, len(lines))
	for i, l := range lines {
		texts[i] = l.text
	}
	return strings.Join(texts, " | ")
}

// run runs a command to completion and returns its combined output.
func run(dir string, argv ...string) (string, error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = dir
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	err := cmd.Run()
	if err != nil {
		return buf.String(), fmt.Errorf("%s: %w: %s", strings.Join(argv, " "), err, lastLines(buf.String(), 10))
	}
	return buf.String(), nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

var _ io.Writer = (*lineLog)(nil)

// errSkip marks a scenario part that cannot run here (missing program).
var errSkip = errors.New("skipped")

// ownCPU returns the CPU time of pid's live threads with nanosecond
// precision (the sum of /proc/<pid>/task/*/schedstat run times); it does not
// include children.
func ownCPU(pid int) time.Duration {
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		return 0
	}
	var sum time.Duration
	for _, t := range tasks {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/schedstat", pid, t.Name()))
		if err != nil {
			continue
		}
		if f := strings.Fields(string(b)); len(f) > 0 {
			v, _ := strconv.ParseInt(f[0], 10, 64)
			sum += time.Duration(v)
		}
	}
	return sum
}
