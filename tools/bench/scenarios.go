package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/pluton-go/pluton/go/client"
)

// bench holds the plan and the results of one run.
type bench struct {
	e      *env
	rounds int
	dur    time.Duration

	sizes       []int
	concs       []int
	workers     []int
	langConcs   []int
	langWorkers []int
	loadSize    int // request size of the throughput scenarios

	lib  *libDriver
	raw  rawDriver
	cdrv cDriver

	floors map[[2]int]*server // (floorKind, workers)
	mgr    *manager           // the manager of the echo services
	mgrErr error
	svc    map[lang]map[int]*server

	// results
	latency    []*config
	throughput []*config
	langs      map[lang][]*config
	langSkip   map[lang]string
	burst      []burstRun
	burstErr   error
	cost       costResult
	sizes2     sizeResult // the size sweep (b.sizes is the latency scenario's)
	prof       profResult
	micro      []microBench
	microErr   error
}

func newBench(e *env) *bench {
	b := &bench{e: e, lib: &libDriver{}, cdrv: cDriver{bin: e.cClient},
		floors: map[[2]int]*server{}, svc: map[lang]map[int]*server{},
		langs: map[lang][]*config{}, langSkip: map[lang]string{},
		sizes: []int{0, 1 << 10, 64 << 10, 1 << 20}, concs: []int{1, 4, 16, 64}, workers: []int{1, 2, 4},
		loadSize: 1 << 10}
	if e.quick {
		b.rounds, b.dur = 3, 150*time.Millisecond
		b.langConcs, b.langWorkers = []int{1, 4}, []int{1, 4}
	} else {
		b.rounds, b.dur = 5, time.Second
		b.langConcs, b.langWorkers = []int{1, 4, 16, 64}, []int{1, 2, 4}
	}
	return b
}

// floor returns a running floor server, starting it on first use.
func (b *bench) floor(kind floorKind, w int) *server {
	k := [2]int{int(kind), w}
	if s, ok := b.floors[k]; ok {
		return s
	}
	s, err := startFloor(b.e, kind, w)
	if err != nil {
		if !errors.Is(err, errSkip) {
			b.e.note("floor %d with %d workers did not start: %v", kind, w, err)
		}
		s = nil
	}
	b.floors[k] = s
	return s
}

var langShort = map[lang]string{langGo: "go", langPython: "py", langPHP: "php", langPerl: "pl"}

// startEchoManager starts the manager that runs every echo service, one
// service key per language and instance count (min = max, prestarted).
func (b *bench) startEchoManager() {
	var specs []svcSpec
	counts := map[int]bool{}
	for _, w := range append(cloneInts(b.workers), b.langWorkers...) {
		counts[w] = true
	}
	for _, l := range []lang{langGo, langPython, langPHP, langPerl} {
		x := echoExec(b.e, l)
		if x == "" {
			if l != langGo {
				b.langSkip[l] = "the " + langNames[l] + " SDK echo or its interpreter is missing"
			}
			continue
		}
		for w := range counts {
			specs = append(specs, svcSpec{key: fmt.Sprintf("bench.%s%d.0.raw", langShort[l], w), exec: x, min: w, max: w, prestart: true})
		}
	}
	sort.Slice(specs, func(i, j int) bool { return specs[i].key < specs[j].key })
	m, err := startManager(b.e, specs, true)
	if err != nil {
		b.mgrErr = err
		if !errors.Is(err, errSkip) {
			b.e.note("the manager with the echo services did not start: %v", err)
		}
		return
	}
	b.mgr = m
	time.Sleep(time.Second) // let the instances settle before the first round
	for _, s := range specs {
		var l lang
		for k, v := range langShort {
			if strings.HasPrefix(s.key, "bench."+v) && strings.TrimPrefix(strings.TrimSuffix(s.key, ".0.raw"), "bench."+v) == strconv.Itoa(s.min) {
				l = k
			}
		}
		if b.svc[l] == nil {
			b.svc[l] = map[int]*server{}
		}
		b.svc[l][s.min] = m.server("Pluton + "+langNames[l]+" echo", s.key, s.min)
	}
	b.recordIdleRSS()
	logf("manager ready with %d services (%d instances)", len(specs), len(childPids(m.p.pid())))
}

func cloneInts(xs []int) []int { return append([]int(nil), xs...) }

// pluton returns the Pluton echo service of language l with w instances.
func (b *bench) pluton(l lang, w int) *server { return b.svc[l][w] }

// add appends a configuration if its server exists.
func add(cfgs []*config, group string, s *server, d driver, size, conc int) []*config {
	if s == nil {
		return cfgs
	}
	return append(cfgs, &config{group: group, srv: s, drv: d, size: size, conc: conc})
}

// runLatency: sequential exchanges by size, floors against Pluton + Go echo.
func (b *bench) runLatency() {
	var cfgs []*config
	for _, size := range b.sizes {
		g := fmtBytes(size)
		for _, s := range []*server{b.floor(floorC, 1), b.floor(floorGo, 1), b.pluton(langGo, 1)} {
			cfgs = add(cfgs, g, s, b.lib, size, 1)
		}
		if size <= 1<<10 {
			for _, d := range []driver{b.cdrv, b.raw} {
				for _, s := range []*server{b.floor(floorC, 1), b.floor(floorGo, 1), b.pluton(langGo, 1)} {
					cfgs = add(cfgs, g, s, d, size, 1)
				}
			}
		}
	}
	interleave(cfgs, b.rounds, b.dur, "latency")
	b.latency = cfgs
}

// runThroughput: outstanding requests × instances, floors against Pluton + Go echo.
func (b *bench) runThroughput() {
	var cfgs []*config
	for _, w := range b.workers {
		for _, c := range b.concs {
			g := fmt.Sprintf("%d workers, %d outstanding", w, c)
			for _, s := range []*server{b.floor(floorC, w), b.floor(floorGo, w), b.pluton(langGo, w)} {
				cfgs = add(cfgs, g, s, b.lib, b.loadSize, c)
			}
		}
	}
	interleave(cfgs, b.rounds, b.dur, "throughput")
	b.throughput = cfgs
}

// runLanguages: each SDK's echo under the manager against a bare worker of
// its language and, for PHP and Python, against PHP-FPM and gunicorn.
func (b *bench) runLanguages() {
	for _, l := range []lang{langPython, langPHP, langPerl} {
		if b.svc[l] == nil && b.langSkip[l] == "" && b.mgr == nil {
			b.langSkip[l] = "no manager"
		}
		var cfgs []*config
		for _, w := range b.langWorkers {
			var bare *server
			var peers []*server
			var peerDrivers []driver
			switch l {
			case langPython:
				bare = b.floor(floorPython, w)
				if s, err := startGunicorn(b.e, w); err == nil {
					peers = append(peers, s)
					peerDrivers = []driver{httpDriver{}, httpRawDriver{}}
				} else if !errors.Is(err, errSkip) {
					b.e.note("gunicorn with %d workers did not start: %v", w, err)
				}
			case langPHP:
				bare = b.floor(floorPHP, w)
				if s, err := startFPM(b.e, w); err == nil {
					peers = append(peers, s)
					peerDrivers = []driver{gofastDriver{}, fcgiRawDriver{}}
				} else if !errors.Is(err, errSkip) {
					b.e.note("php-fpm with %d workers did not start: %v", w, err)
				}
			case langPerl:
				bare = b.floor(floorPerl, w)
			}
			for _, c := range b.langConcs {
				g := fmt.Sprintf("%d workers, %d outstanding", w, c)
				cfgs = add(cfgs, g, bare, b.lib, b.loadSize, c)
				cfgs = add(cfgs, g, b.pluton(l, w), b.lib, b.loadSize, c)
				for _, p := range peers {
					for _, d := range peerDrivers {
						cfgs = add(cfgs, g, p, d, b.loadSize, c)
					}
				}
			}
		}
		interleave(cfgs, b.rounds, b.dur, strings.ToLower(langNames[l]))
		b.langs[l] = cfgs
		// The peers are needed by this language only.
		for _, c := range cfgs {
			if c.srv.label == "PHP-FPM" || c.srv.label == "gunicorn" {
				c.srv.stop()
			}
		}
	}
}

// burstRun is one round of the burst scenario.
type burstRun struct {
	requests      int
	to8           time.Duration // -1 if 8 instances were never seen
	backlogGone   time.Duration // all requests answered
	ideal         time.Duration // requests × 5 ms / 8
	errs          int
	maxInstances  int
	samples       []burstSample
	p50, p99      float64 // µs
	firstErr      error
	idleInstances int
}

type burstSample struct {
	at        time.Duration
	instances int
	done      int
}

// runBurst: an idle pool (min 1, max 8) hit by 64 outstanding requests of
// 5 ms of work each.
func (b *bench) runBurst() {
	if b.e.echoBin == "" || b.e.mgrBin == "" {
		b.burstErr = errSkip
		return
	}
	rounds, requests := 3, 3000
	if b.e.quick {
		rounds, requests = 1, 1500
	}
	for r := 0; r < rounds; r++ {
		key := "bench.burst.0.raw"
		m, err := startManager(b.e, []svcSpec{{key: key, exec: b.e.echoBin, min: 1, max: 8, prestart: true}}, true)
		if err != nil {
			b.burstErr = err
			return
		}
		time.Sleep(500 * time.Millisecond) // let the pool settle idle
		run := burstRun{requests: requests, to8: -1, ideal: time.Duration(requests) * 5 * time.Millisecond / 8}
		run.idleInstances = len(childPids(m.p.pid()))
		t := &target{dir: m.rdv, key: key}
		var issued, done, errs atomic.Int64
		var firstErr atomic.Value
		lats := make([][]time.Duration, 64)
		start := time.Now()
		var wg sync.WaitGroup
		for w := 0; w < 64; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for issued.Add(1) <= int64(requests) {
					t0 := time.Now()
					err := b.lib.call(t, nil, client.Context("echo.sleepMS", "5"), client.Timeout(30*time.Second))
					if err != nil {
						errs.Add(1)
						firstErr.CompareAndSwap(nil, err)
					} else {
						lats[w] = append(lats[w], time.Since(t0))
					}
					done.Add(1)
				}
			}()
		}
		finished := make(chan struct{})
		go func() { wg.Wait(); close(finished) }()
		tick := time.NewTicker(10 * time.Millisecond)
	sample:
		for {
			select {
			case <-finished:
				run.backlogGone = time.Since(start)
				break sample
			case <-tick.C:
				at := time.Since(start)
				n := len(childPids(m.p.pid()))
				run.samples = append(run.samples, burstSample{at: at, instances: n, done: int(done.Load())})
				run.maxInstances = max(run.maxInstances, n)
				if n >= 8 && run.to8 < 0 {
					run.to8 = at
				}
				if at > 60*time.Second {
					run.backlogGone = -1
					break sample
				}
			}
		}
		tick.Stop()
		run.samples = append(run.samples, burstSample{at: time.Since(start), instances: len(childPids(m.p.pid())), done: int(done.Load())})
		<-finished
		var all []time.Duration
		for _, l := range lats {
			all = append(all, l...)
		}
		ls := summarize(all)
		run.p50, run.p99 = float64(ls.p50)/1e3, float64(ls.p99)/1e3
		run.errs = int(errs.Load())
		if v := firstErr.Load(); v != nil {
			run.firstErr = v.(error)
		}
		m.stop()
		b.burst = append(b.burst, run)
		logf("burst round %d/%d: 8 instances after %v, backlog gone after %v (ideal %v), %d errors",
			r+1, rounds, run.to8, run.backlogGone.Round(time.Millisecond), run.ideal, run.errs)
	}
}

// costResult is the manager-cost scenario.
type costResult struct {
	err          error
	services     int
	instances    int
	rssKiB       int64
	idleWindow   time.Duration
	idleCPU      float64 // fraction of one core, manager alone
	idleTreeCPU  float64 // manager and its idle instances
	stop100      time.Duration
	firstResp    []float64 // ms
	readyLog     []float64 // ms, until "Manager ready:"
	stop8        []float64 // ms
	stop8AllGone []float64 // ms until every instance pid is gone
	startErr     error
	stopErr      error
}

// runCost measures what the manager itself costs.
func (b *bench) runCost() {
	c := &b.cost
	if b.e.echoBin == "" || b.e.mgrBin == "" {
		c.err = errSkip
		return
	}
	// Idle with 100 services, one prestarted instance each.
	c.services = 100
	var specs []svcSpec
	for i := 0; i < c.services; i++ {
		specs = append(specs, svcSpec{key: fmt.Sprintf("bench.s%03d.0.raw", i), exec: b.e.echoBin, min: 1, max: 2, prestart: true})
	}
	m, err := startManager(b.e, specs, true)
	if err != nil {
		c.err = err
	} else {
		time.Sleep(time.Second)
		c.instances = len(childPids(m.p.pid()))
		c.rssKiB = rssKiB(m.p.pid())
		c.idleWindow = 3 * time.Second
		if !b.e.quick {
			c.idleWindow = 10 * time.Second
		}
		own0, tree0, t0 := ownCPU(m.p.pid()), sampleCPU(m.p.pid()), time.Now()
		time.Sleep(c.idleWindow)
		own1, tree1, wall := ownCPU(m.p.pid()), sampleCPU(m.p.pid()), time.Since(t0)
		c.idleCPU = float64(own1-own0) / float64(wall)
		c.idleTreeCPU = float64(tree1.sub(tree0).tree) / float64(wall)
		c.rssKiB = max(c.rssKiB, rssKiB(m.p.pid()))
		c.stop100 = m.stop()
		logf("manager cost: %d services, %d instances, RSS %d KiB, idle CPU %.2f%%", c.services, c.instances, c.rssKiB, c.idleCPU*100)
	}

	rounds := 5 // cheap enough for -quick too; single starts are noisy on a loaded machine
	// Start to first response.
	for r := 0; r < rounds; r++ {
		key := "bench.first.0.raw"
		dir := b.e.newDir("s")
		cfg, rdv := filepath.Join(dir, "cfg"), filepath.Join(dir, "rdv")
		_ = os.MkdirAll(cfg, 0o755)
		_ = os.MkdirAll(rdv, 0o755)
		if err := writeConfig(cfg, svcSpec{key: key, exec: b.e.echoBin, min: 1, max: 1, prestart: true}); err != nil {
			c.startErr = err
			break
		}
		rx := newRawExchanger(filepath.Join(rdv, key+".socket"), key)
		t0 := time.Now()
		p, err := startProc("plutonManager", nil, dir, b.e.mgrBin, "-C", cfg, "-R", rdv, "-L", filepath.Join(dir, "lookup.map"))
		if err != nil {
			c.startErr = err
			break
		}
		var got time.Duration = -1
		for time.Since(t0) < 20*time.Second && !p.exited() {
			if rx.exchange(nil) == nil {
				got = time.Since(t0)
				break
			}
			time.Sleep(100 * time.Microsecond)
		}
		if line, err := p.waitFor("Manager ready:", 5*time.Second); err == nil {
			c.readyLog = append(c.readyLog, float64(line.at.Sub(t0))/1e6)
		}
		p.stop(syscall.SIGTERM, 10*time.Second)
		if got < 0 {
			c.startErr = fmt.Errorf("no response within 20 s; output: %s", p.tail(5))
			break
		}
		c.firstResp = append(c.firstResp, float64(got)/1e6)
	}

	// Stop with 8 idle instances.
	for r := 0; r < rounds; r++ {
		m, err := startManager(b.e, []svcSpec{{key: "bench.stop.0.raw", exec: b.e.echoBin, min: 8, max: 8, prestart: true}}, true)
		if err != nil {
			c.stopErr = err
			break
		}
		time.Sleep(300 * time.Millisecond)
		kids := childPids(m.p.pid())
		t0 := time.Now()
		took := m.stop()
		if took < 0 {
			c.stopErr = errors.New("the manager did not exit within 10 s of SIGTERM")
			break
		}
		for time.Since(t0) < 10*time.Second && anyAlive(kids) {
			time.Sleep(time.Millisecond)
		}
		c.stop8 = append(c.stop8, float64(took)/1e6)
		c.stop8AllGone = append(c.stop8AllGone, float64(time.Since(t0))/1e6)
	}
	logf("manager cost: first response %v ms, stop %v ms", c.firstResp, c.stop8)
}

func anyAlive(pids []int) bool {
	for _, p := range pids {
		if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p)); err == nil {
			if s := string(b); !strings.Contains(s[strings.LastIndexByte(s, ')')+1:], " Z ") {
				return true
			}
		}
	}
	return false
}

// profResult is the profiling scenario.
type profResult struct {
	err          error
	requests     int
	allocsPerReq float64
	clientTop    string
	serviceTop   string
	managerTop   string
	managerLoad  string // what the manager profile ran under
	managerErr   error
	syscalls     []syscallCount
	syscallErr   error
}

// syscallCount is strace's count of system calls per request for one server.
type syscallCount struct {
	group  string // "Go and C" or a language
	server string
	procs  int
	perReq map[string]float64
	total  float64
}

// runProfile profiles the hot path: the Go client library in this process
// and the Go service library in an instance under the manager, while one
// request at a time flows; then counts system calls per request with strace.
func (b *bench) runProfile() {
	pr := &b.prof
	if b.e.mgrBin == "" {
		pr.err = errSkip
		return
	}
	dir := b.e.newDir("prof")
	key := "bench.prof.0.raw"
	dur := 5 * time.Second
	if b.e.quick {
		dur = time.Second
	}
	prefix := filepath.Join(dir, "echo")
	m, err := startManager(b.e, []svcSpec{{key: key, exec: fmt.Sprintf("%s %s %g", b.e.profBin, prefix, dur.Seconds()), min: 1, max: 1, prestart: true}}, true)
	if err != nil {
		pr.err = err
		return
	}
	srv := m.server("Pluton + Go echo (profiled)", key, 1)
	cpf, err := os.Create(filepath.Join(dir, "client.pprof"))
	if err != nil {
		pr.err = err
		m.stop()
		return
	}
	var ms0, ms1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms0)
	_ = pprof.StartCPUProfile(cpf)
	res, err := b.lib.run(&srv.t, 0, 1, dur+300*time.Millisecond)
	pprof.StopCPUProfile()
	runtime.ReadMemStats(&ms1)
	_ = cpf.Close()
	var profs []string
	for t0 := time.Now(); time.Since(t0) < 5*time.Second; time.Sleep(20 * time.Millisecond) {
		if profs, _ = filepath.Glob(prefix + ".*.pprof"); len(profs) > 0 {
			break
		}
	}
	m.stop()
	if err != nil {
		pr.err = err
		return
	}
	pr.requests = res.n
	pr.allocsPerReq = float64(ms1.Mallocs-ms0.Mallocs) / float64(res.n+warmupPerWorker)
	self, _ := os.Executable()
	pr.clientTop = pprofTop(b.e.root, self, filepath.Join(dir, "client.pprof"))
	if len(profs) > 0 {
		pr.serviceTop = pprofTop(b.e.root, b.e.profBin, profs[0])
	} else {
		pr.serviceTop = "(the service wrote no profile)"
	}
	b.profileManager(dur)
	b.countSyscalls()
}

// profileManager profiles the manager while 64 outstanding requests keep two
// Go echo instances busy.
func (b *bench) profileManager(dur time.Duration) {
	pr := &b.prof
	if b.e.profMgr == "" || b.e.echoBin == "" {
		pr.managerErr = errSkip
		return
	}
	dir := b.e.newDir("mprof")
	prof := filepath.Join(dir, "manager.pprof")
	key := "bench.load.0.raw"
	m, err := startManagerWith(b.e, b.e.profMgr, []string{prof}, []svcSpec{{key: key, exec: b.e.echoBin, min: 2, max: 2, prestart: true}}, true)
	if err != nil {
		pr.managerErr = err
		return
	}
	srv := m.server("Pluton + Go echo (manager profiled)", key, 2)
	c := &config{srv: srv, drv: b.lib, size: b.loadSize, conc: 64}
	runTrial(c, dur)
	if strace, err := exec.LookPath("strace"); err == nil {
		counts, ok, err := straceCount(strace, b.e.tmp, []int{m.p.pid()}, func() int {
			res, err := b.lib.run(&srv.t, b.loadSize, 64, dur/2)
			if err != nil {
				return 0
			}
			return res.n
		})
		if err == nil {
			sc := syscallCount{group: "Manager (64 outstanding, 2 instances; the manager process alone)", server: "plutonManager", procs: 1, perReq: map[string]float64{}}
			for name, v := range counts {
				sc.perReq[name] = float64(v) / float64(ok)
				sc.total += float64(v) / float64(ok)
			}
			pr.syscalls = append(pr.syscalls, sc)
		}
	}
	m.stop()
	if c.failed != nil || len(c.trials) == 0 {
		pr.managerErr = fmt.Errorf("load failed: %v", c.failed)
		return
	}
	t := c.trials[0]
	pr.managerLoad = fmt.Sprintf("%v of 64 outstanding %s requests to 2 Go echo instances: %s req/s, manager CPU %s of one core",
		dur, fmtBytes(b.loadSize), fmtRate(t.rps), fmtPct(t.mgrCPU))
	pr.managerTop = pprofTop(b.e.root, b.e.profMgr, prof)
}

// pprofTop returns `go tool pprof -top` output, without its header lines.
func pprofTop(root, bin, prof string) string {
	out, err := run(root, "go", "tool", "pprof", "-top", "-nodecount=22", bin, prof)
	if err != nil {
		return "pprof failed: " + err.Error()
	}
	var keep []string
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "File:") || strings.HasPrefix(l, "Build ID:") || strings.HasPrefix(l, "Type:") || strings.HasPrefix(l, "Time:") {
			continue
		}
		keep = append(keep, l)
	}
	return strings.TrimSpace(strings.Join(keep, "\n"))
}

// workerPids returns the processes that serve s's requests: the children of
// a floor's parent, or the instances of a Pluton service.
func workerPids(s *server) []int {
	if s.mgr != nil {
		return instancePids(s)
	}
	return childPids(s.p.pid())
}

// countSyscalls attaches strace -c to every worker of a server, runs a
// fixed number of sequential exchanges and reports the system calls per
// exchange: the C and Go floors against the Go echo, and each language's
// bare worker against its SDK echo (one instance, and the most instances,
// where idle instances show if they all wake for each connection).
func (b *bench) countSyscalls() {
	pr := &b.prof
	strace, err := exec.LookPath("strace")
	if err != nil {
		pr.syscallErr = errors.New("strace is not installed")
		return
	}
	n := 2000
	if b.e.quick {
		n = 500
	}
	type entry struct {
		group string
		s     *server
	}
	entries := []entry{{"Go and C", b.floor(floorC, 1)}, {"Go and C", b.floor(floorGo, 1)}, {"Go and C", b.pluton(langGo, 1)}}
	wmax := b.langWorkers[len(b.langWorkers)-1]
	for _, l := range []lang{langPython, langPHP, langPerl} {
		kind := map[lang]floorKind{langPython: floorPython, langPHP: floorPHP, langPerl: floorPerl}[l]
		entries = append(entries, entry{langNames[l], b.floor(kind, 1)}, entry{langNames[l], b.pluton(l, 1)}, entry{langNames[l], b.floor(kind, wmax)}, entry{langNames[l], b.pluton(l, wmax)})
	}
	for _, en := range entries {
		s := en.s
		if s == nil {
			continue
		}
		pids := workerPids(s)
		if len(pids) == 0 {
			continue
		}
		rx := newRawExchanger(s.t.socket, s.t.key)
		data := payload(1 << 10)
		counts, ok, err := straceCount(strace, b.e.tmp, pids, func() int {
			ok := 0
			for i := 0; i < n; i++ {
				if rx.exchange(data) == nil {
					ok++
				}
			}
			return ok
		})
		if err != nil {
			pr.syscallErr = fmt.Errorf("strace on %s: %v", s.label, err)
			continue
		}
		sc := syscallCount{group: en.group, server: fmt.Sprintf("%s ×%d", s.label, len(pids)), procs: len(pids), perReq: map[string]float64{}}
		for name, v := range counts {
			sc.perReq[name] = float64(v) / float64(ok)
			sc.total += float64(v) / float64(ok)
		}
		pr.syscalls = append(pr.syscalls, sc)
	}
}

// straceCount runs load (which returns the exchanges that succeeded) with
// strace -c -f attached to pids and returns the system call counts.
func straceCount(strace, tmp string, pids []int, load func() int) (map[string]int, int, error) {
	out := filepath.Join(tmp, fmt.Sprintf("strace.%d", pids[0]))
	args := []string{"-c", "-f", "-o", out}
	for _, p := range pids {
		args = append(args, "-p", strconv.Itoa(p))
	}
	cmd := exec.Command(strace, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, 0, err
	}
	time.Sleep(300 * time.Millisecond) // attached
	ok := load()
	_ = cmd.Process.Signal(syscall.SIGINT)
	_ = cmd.Wait()
	if ok == 0 {
		return nil, 0, errors.New("no exchange succeeded")
	}
	counts, err := parseStraceC(out)
	return counts, ok, err
}

// instancePids returns the pids of the live instances of s's service: the
// manager's children whose fd 3 is the service's listening socket. (The
// socket is found in /proc/net/unix by the path it was bound to, which is
// <R>/<key>.socket or, before the manager's rename, <R>/<key>.socket.tmp.
// The stats segment's pid fields are not used: they are only as good as
// every SDK's writes.)
func instancePids(s *server) []int {
	ino := listenInode(s.t.socket)
	if ino == "" {
		return nil
	}
	want := "socket:[" + ino + "]"
	var out []int
	for _, k := range childPids(s.mgr.p.pid()) {
		if l, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/3", k)); err == nil && l == want {
			out = append(out, k)
		}
	}
	return out
}

// listenInode returns the inode of the listening Unix socket bound to path
// (or to path+".tmp"), from /proc/net/unix.
func listenInode(path string) string {
	b, err := os.ReadFile("/proc/net/unix")
	if err != nil {
		return ""
	}
	for _, l := range strings.Split(string(b), "\n") {
		// Num RefCount Protocol Flags Type St Inode Path
		f := strings.Fields(l)
		if len(f) < 8 || (f[7] != path && f[7] != path+".tmp") {
			continue
		}
		if flags, err := strconv.ParseUint(f[3], 16, 32); err == nil && flags&0x10000 != 0 {
			return f[6]
		}
	}
	return ""
}

// parseStraceC parses the summary table of strace -c.
func parseStraceC(path string) (map[string]int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	out := map[string]int{}
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		// % time, seconds, usecs/call, calls, [errors,] syscall
		if len(f) < 5 || strings.HasPrefix(l, "%") || strings.HasPrefix(l, "-") || f[len(f)-1] == "total" {
			continue
		}
		calls, err := strconv.Atoi(f[3])
		if err != nil {
			continue
		}
		out[f[len(f)-1]] = calls
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no syscall counts in %s", path)
	}
	return out, nil
}
