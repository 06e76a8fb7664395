package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// floorKey is the service key under which floors are found: each floor's
// socket is <dir>/system.echo.0.raw.socket, so that the Go client library
// reaches a floor exactly as it reaches a Pluton service.
const floorKey = "system.echo.0.raw"

// env is what the benchmarks found and built.
type env struct {
	root    string // repository root
	tmp     string // the run's temporary directory (short, for socket paths)
	quick   bool
	seq     int // for unique directory names
	cServer string
	cClient string
	goSrv   string
	profBin string // echo with a CPU profile (profecho)
	profMgr string // the manager with a CPU profile (profmanager; "" if it does not build)
	mgrBin  string // plutonManager ("" if missing)
	echoBin string // echoService ("" if missing)
	notes   []string

	python, php, perl string // interpreters ("" if missing)
	fpm, gunicorn     string // peers ("" if missing)
}

func (e *env) note(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	e.notes = append(e.notes, msg)
	logf("note: %s", msg)
}

func (e *env) newDir(prefix string) string {
	e.seq++
	d := filepath.Join(e.tmp, prefix+strconv.Itoa(e.seq))
	if err := os.MkdirAll(d, 0o755); err != nil {
		panic(err)
	}
	return d
}

// setup finds the interpreters and peers and builds the floors and the
// commands the benchmarks run.
func setup(e *env) error {
	bin := filepath.Join(e.tmp, "bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		return err
	}
	e.cServer = filepath.Join(bin, "cserver")
	e.cClient = filepath.Join(bin, "cclient")
	cdir := filepath.Join(e.root, "tools/bench/floors/c")
	for _, b := range []struct{ out, src string }{{e.cServer, "server.c"}, {e.cClient, "client.c"}} {
		if _, err := run(cdir, "gcc", "-O2", "-Wall", "-o", b.out, b.src); err != nil {
			return err
		}
	}
	if _, err := run(filepath.Join(e.root, "tools/bench"), "go", "build", "-o", bin+"/", "./floors/goserver", "./profecho"); err != nil {
		return err
	}
	e.goSrv = filepath.Join(bin, "goserver")
	e.profBin = filepath.Join(bin, "profecho")
	if _, err := run(filepath.Join(e.root, "tools/bench"), "go", "build", "-o", bin+"/", "./profmanager"); err == nil {
		e.profMgr = filepath.Join(bin, "profmanager")
	} else {
		e.note("tools/bench/profmanager did not build (%v): no manager profile", firstLine(err.Error()))
	}

	// The commands under test: built fresh; bin/ if that fails.
	for _, c := range []struct {
		dst *string
		cmd string
	}{{&e.mgrBin, "plutonManager"}, {&e.echoBin, "echoService"}} {
		out := filepath.Join(bin, c.cmd)
		if _, err := run(e.root, "go", "build", "-o", out, "./go/cmd/"+c.cmd); err == nil {
			*c.dst = out
			continue
		} else if st, serr := os.Stat(filepath.Join(e.root, "bin", c.cmd)); serr == nil && !st.IsDir() {
			*c.dst = filepath.Join(e.root, "bin", c.cmd)
			e.note("%s did not build (%v); using bin/%s", c.cmd, firstLine(err.Error()), c.cmd)
		} else {
			e.note("%s is not available (%v): its scenarios are skipped", c.cmd, firstLine(err.Error()))
		}
	}

	// /usr/bin/python3 is the interpreter Debian's gunicorn runs on, so the
	// Python SDK, the bare worker and gunicorn all run on the same one.
	e.python = findExe("/usr/bin/python3", "python3")
	e.php = findExe("/usr/bin/php", "php")
	e.perl = findExe("/usr/bin/perl", "perl")
	e.fpm = findExe("/usr/sbin/php-fpm8.2", "php-fpm8.2", "php-fpm")
	e.gunicorn = findExe("/usr/bin/gunicorn", "gunicorn")
	for _, m := range []struct{ name, path string }{
		{"python3", e.python}, {"php", e.php}, {"perl", e.perl},
		{"php-fpm8.2 (PLUTON_BENCH=1 tools/setup.sh installs it)", e.fpm},
		{"gunicorn (PLUTON_BENCH=1 tools/setup.sh installs it)", e.gunicorn},
	} {
		if m.path == "" {
			e.note("%s not found: its scenarios are skipped", m.name)
		}
	}
	return nil
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return s
}

func findExe(candidates ...string) string {
	for _, c := range candidates {
		if p, err := exec.LookPath(c); err == nil {
			return p
		}
	}
	return ""
}

// A server is a running server under test.
type server struct {
	label   string // e.g. "C floor", "Pluton + Go echo"
	workers int
	t       target
	p       *proc    // the process started (the floor's parent, the manager, the peer's master)
	mgr     *manager // set for Pluton services
}

// cpuPids returns the pids whose process trees make up the server: the
// process started (a floor's or a peer's parent, with its workers), or for a
// Pluton service the instances of that service (the manager itself is
// counted apart, see sampleCPU).
func (s *server) cpuPids() []int {
	if s.mgr != nil {
		return instancePids(s)
	}
	return []int{s.p.pid()}
}

// sampleCPU returns the CPU time used so far by the server: the trees of
// pids, and for a Pluton service the manager's own time (utime+stime, not
// its children, which belong to the other services it runs).
func (s *server) sampleCPU(pids []int) cpuSample {
	c := sampleCPU(pids...)
	if s.mgr != nil {
		if st, err := readStat(s.mgr.p.pid()); err == nil {
			c.tree += st.own
		}
	}
	return c
}

// floor kinds.
type floorKind int

const (
	floorC floorKind = iota
	floorGo
	floorPython
	floorPHP
	floorPerl
)

// startFloor starts a floor server with w workers.
func startFloor(e *env, kind floorKind, w int) (*server, error) {
	dir := e.newDir("f")
	sock := filepath.Join(dir, floorKey+".socket")
	ws := strconv.Itoa(w)
	var label string
	var argv []string
	wdir := filepath.Join(e.root, "tools/bench/floors")
	switch kind {
	case floorC:
		label, argv = "C floor", []string{e.cServer, sock, ws}
	case floorGo:
		label, argv = "Go floor", []string{e.goSrv, sock, ws}
	case floorPython:
		label, argv = "bare Python worker", []string{e.python, filepath.Join(wdir, "python/worker.py"), sock, ws}
	case floorPHP:
		label, argv = "bare PHP worker", []string{e.php, filepath.Join(wdir, "php/worker.php"), sock, ws}
	case floorPerl:
		label, argv = "bare Perl worker", []string{e.perl, filepath.Join(wdir, "perl/worker.pl"), sock, ws}
	}
	if argv[0] == "" {
		return nil, errSkip
	}
	p, err := startProc(label, nil, dir, argv...)
	if err != nil {
		return nil, err
	}
	s := &server{label: label, workers: w, p: p, t: target{dir: dir, key: floorKey, socket: sock}}
	if err := waitReady(s, w+1, 15*time.Second); err != nil {
		p.stop(syscall.SIGTERM, time.Second)
		return nil, err
	}
	return s, nil
}

// waitReady waits until s answers an echo request and its process tree has
// at least procs processes.
func waitReady(s *server, procs int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	rx := newRawExchanger(s.t.socket, s.t.key)
	var err error
	for time.Now().Before(deadline) {
		if s.p.exited() {
			return fmt.Errorf("%s exited: %v; output: %s", s.label, s.p.err, s.p.tail(5))
		}
		if err = rx.exchange([]byte("ping")); err == nil && len(treeOf(allStats(), s.p.pid())) >= procs {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("%s not ready after %v (last error: %v); output: %s", s.label, timeout, err, s.p.tail(5))
}

// svcSpec is one service of a manager.
type svcSpec struct {
	key      string
	exec     string
	min, max int
	prestart bool
}

// manager is a running plutonManager.
type manager struct {
	p                     *proc
	cfg, rdv, lookup, dir string
	started               time.Time
	services              []svcSpec
}

// languages of the echo services.
type lang int

const (
	langGo lang = iota
	langPython
	langPHP
	langPerl
)

var langNames = map[lang]string{langGo: "Go", langPython: "Python", langPHP: "PHP", langPerl: "Perl"}

// echoExec returns the exec line of the echo service in language l, or ""
// if it cannot run here.
func echoExec(e *env, l lang) string {
	sdk := filepath.Join(e.root, "sdk")
	exists := func(p string) bool { _, err := os.Stat(p); return err == nil }
	switch l {
	case langGo:
		return e.echoBin
	case langPython:
		if p := filepath.Join(sdk, "python/examples/echo.py"); e.python != "" && exists(p) {
			return e.python + " " + p
		}
	case langPHP:
		if p := filepath.Join(sdk, "php/examples/echo.php"); e.php != "" && exists(p) {
			return e.php + " " + p
		}
	case langPerl:
		if p := filepath.Join(sdk, "perl/examples/echo.pl"); e.perl != "" && exists(p) {
			return e.perl + " -I" + filepath.Join(sdk, "perl/lib") + " " + p
		}
	}
	return ""
}

// writeConfig writes the configuration file of one service.
func writeConfig(dir string, s svcSpec) error {
	body := fmt.Sprintf("exec %s\nminimum-processes %d\nmaximum-processes %d\nprestart-processes %t\n"+
		"maximum-requests 1G\nunresponsive-timeout 60\n", s.exec, s.min, s.max, s.prestart)
	path := filepath.Join(dir, s.key)
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		return err
	}
	return os.Chmod(path, 0o644)
}

// startManager writes the configuration of services and starts a manager;
// it returns once the manager logged "Manager ready:" (and, with wait, once
// every prestarted instance is up and answers).
func startManager(e *env, services []svcSpec, wait bool) (*manager, error) {
	return startManagerWith(e, e.mgrBin, nil, services, wait)
}

// startManagerWith is startManager with another manager binary and
// arguments before the options (profmanager's profile path).
func startManagerWith(e *env, bin string, pre []string, services []svcSpec, wait bool) (*manager, error) {
	if bin == "" || e.mgrBin == "" {
		return nil, errSkip
	}
	dir := e.newDir("m")
	m := &manager{dir: dir, cfg: filepath.Join(dir, "cfg"), rdv: filepath.Join(dir, "rdv"), lookup: filepath.Join(dir, "lookup.map"), services: services}
	for _, d := range []string{m.cfg, m.rdv} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	for _, s := range services {
		if s.exec == "" {
			return nil, errSkip
		}
		if err := writeConfig(m.cfg, s); err != nil {
			return nil, err
		}
	}
	argv := append(append([]string{bin}, pre...), "-C", m.cfg, "-R", m.rdv, "-L", m.lookup)
	m.started = time.Now()
	p, err := startProc("plutonManager", nil, dir, argv...)
	if err != nil {
		return nil, err
	}
	m.p = p
	if _, err := p.waitFor("Manager ready:", 30*time.Second); err != nil {
		p.stop(syscall.SIGTERM, 2*time.Second)
		return nil, err
	}
	if wait {
		if err := m.waitInstances(60 * time.Second); err != nil {
			m.stop()
			return nil, err
		}
	}
	return m, nil
}

// waitInstances waits until every prestarted service answers and the
// manager has as many children as the services' minimums add up to.
func (m *manager) waitInstances(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	want := 0
	for _, s := range m.services {
		if s.prestart {
			want += s.min
		}
	}
	for _, s := range m.services {
		if !s.prestart {
			continue
		}
		rx := newRawExchanger(filepath.Join(m.rdv, s.key+".socket"), s.key)
		for {
			err := rx.exchange([]byte("ping"))
			if err == nil {
				break
			}
			if m.p.exited() {
				return fmt.Errorf("plutonManager exited: %v; output: %s", m.p.err, m.p.tail(5))
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("service %s does not answer: %v; manager output: %s", s.key, err, m.p.tail(5))
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	for len(childPids(m.p.pid())) < want {
		if time.Now().After(deadline) {
			return fmt.Errorf("only %d of %d instances started; manager output: %s", len(childPids(m.p.pid())), want, m.p.tail(5))
		}
		time.Sleep(20 * time.Millisecond)
	}
	return nil
}

// server returns the server handle of one of the manager's services.
func (m *manager) server(label, key string, workers int) *server {
	return &server{label: label, workers: workers, p: m.p, mgr: m,
		t: target{dir: m.rdv, key: key, socket: filepath.Join(m.rdv, key+".socket")}}
}

// stop stops the manager with SIGTERM and returns how long it took to exit
// (-1 if it had to be killed).
func (m *manager) stop() time.Duration {
	return m.p.stop(syscall.SIGTERM, 10*time.Second)
}

// startFPM starts php-fpm in the foreground with a static pool of w workers
// on a socket of its own.
func startFPM(e *env, w int) (*server, error) {
	if e.fpm == "" {
		return nil, errSkip
	}
	dir := e.newDir("fpm")
	sock := filepath.Join(dir, "fpm.sock")
	script := filepath.Join(dir, "echo.php")
	src, err := os.ReadFile(filepath.Join(e.root, "tools/bench/peers/fpm/echo.php"))
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(script, src, 0o644); err != nil {
		return nil, err
	}
	user := ""
	args := []string{e.fpm, "-F", "-y", filepath.Join(dir, "fpm.conf"), "-p", dir}
	if os.Geteuid() == 0 {
		user = "user = root\ngroup = root\n"
		args = append(args, "-R")
	}
	conf := fmt.Sprintf(`[global]
pid = %[1]s/fpm.pid
error_log = %[1]s/fpm.log
daemonize = no

[bench]
%[2]slisten = %[3]s
listen.backlog = 1024
pm = static
pm.max_children = %[4]d
pm.max_requests = 0
clear_env = no
catch_workers_output = no
access.log = /dev/null
`, dir, user, sock, w)
	if err := os.WriteFile(filepath.Join(dir, "fpm.conf"), []byte(conf), 0o644); err != nil {
		return nil, err
	}
	p, err := startProc("php-fpm", nil, dir, args...)
	if err != nil {
		return nil, err
	}
	s := &server{label: "PHP-FPM", workers: w, p: p, t: target{socket: sock, fcgiScript: script}}
	if err := waitPeer(s, fcgiRawDriver{}, w+1); err != nil {
		log, _ := os.ReadFile(filepath.Join(dir, "fpm.log"))
		p.stop(syscall.SIGTERM, time.Second)
		return nil, fmt.Errorf("%w; fpm.log: %s", err, lastLines(string(log), 5))
	}
	return s, nil
}

// startGunicorn starts gunicorn with w sync workers on a Unix socket.
func startGunicorn(e *env, w int) (*server, error) {
	if e.gunicorn == "" {
		return nil, errSkip
	}
	dir := e.newDir("gu")
	sock := filepath.Join(dir, "gunicorn.sock")
	p, err := startProc("gunicorn", nil, dir, e.gunicorn, "--workers", strconv.Itoa(w), "--worker-class", "sync",
		"--bind", "unix:"+sock, "--backlog", "1024", "--chdir", filepath.Join(e.root, "tools/bench/peers/gunicorn"),
		"--log-level", "warning", "echo_app:app")
	if err != nil {
		return nil, err
	}
	s := &server{label: "gunicorn", workers: w, p: p, t: target{socket: sock}}
	if err := waitPeer(s, httpRawDriver{}, w+1); err != nil {
		p.stop(syscall.SIGTERM, time.Second)
		return nil, err
	}
	return s, nil
}

// waitPeer waits until a peer answers through d and has procs processes.
func waitPeer(s *server, d driver, procs int) error {
	deadline := time.Now().Add(20 * time.Second)
	var err error
	for time.Now().Before(deadline) {
		if s.p.exited() {
			return fmt.Errorf("%s exited: %v; output: %s", s.label, s.p.err, s.p.tail(5))
		}
		var res result
		res, err = d.run(&s.t, 4, 1, time.Millisecond)
		if err == nil && res.n > 0 && res.errs == 0 && len(treeOf(allStats(), s.p.pid())) >= procs {
			return nil
		}
		if err == nil {
			err = res.firstErr
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("%s not ready: %v; output: %s", s.label, err, s.p.tail(5))
}

// stopServer stops a floor or a peer.
func (s *server) stop() {
	if s.mgr != nil {
		return // stopped with its manager
	}
	s.p.stop(syscall.SIGTERM, 2*time.Second)
}
