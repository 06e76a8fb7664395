package main

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// sweepSizes are the request sizes of the size sweep (issue 23).
var sweepSizes = []int{0, 1 << 10, 16 << 10, 64 << 10, 256 << 10, 1 << 20, 8 << 20}

// sweepConcs are its outstanding requests.
var sweepConcs = []int{1, 4}

// sweepLangs are the scripting languages of the sweep, with their bare workers.
var sweepLangs = []struct {
	l     lang
	floor floorKind
}{{langPython, floorPython}, {langPHP, floorPHP}, {langPerl, floorPerl}}

// pickSweepLangs keeps the scripting languages of the sweep named in list
// (comma-separated python, php, perl; "none" keeps none): the Go rows are
// always measured.
func pickSweepLangs(list string) error {
	var keep []lang
	for _, f := range strings.Split(list, ",") {
		f = strings.TrimSpace(f)
		if f == "none" {
			continue
		}
		found := false
		for l, name := range langNames {
			if l != langGo && strings.EqualFold(name, f) {
				keep, found = append(keep, l), true
			}
		}
		if !found {
			return fmt.Errorf("%q is not python, php, perl or none", f)
		}
	}
	kept := sweepLangs[:0:0]
	for _, sl := range sweepLangs {
		if slices.Contains(keep, sl.l) {
			kept = append(kept, sl)
		}
	}
	sweepLangs = kept
	return nil
}

// sizeResult is what the size sweep measured besides its configurations.
type sizeResult struct {
	cfgs []*config
	// Resident memory of one instance of each language's echo, KiB: when
	// the manager had started it (idle, before any request), right after
	// the sweep, and after a further idle period.
	rssIdle, rssAfter, rssLater map[lang]int64
	idleWait                    time.Duration
	profile                     string // the Go instance's CPU profile at profileSize
	profileSize, profileN       int
	profileErr                  error
}

// profileSize is the request size of the large-request service profile.
const profileSize = 1 << 20

// recordIdleRSS notes the resident memory of one instance of each
// language's echo service (1 instance) before any request.
func (b *bench) recordIdleRSS() {
	b.sizes2.rssIdle = b.instanceRSS()
}

// instanceRSS returns VmRSS of the single instance of each language's echo.
func (b *bench) instanceRSS() map[lang]int64 {
	out := map[lang]int64{}
	for _, l := range []lang{langGo, langPython, langPHP, langPerl} {
		s := b.pluton(l, 1)
		if s == nil {
			continue
		}
		if pids := instancePids(s); len(pids) == 1 {
			out[l] = rssKiB(pids[0])
		}
	}
	return out
}

// sweepDur is the round length of a size: larger requests get longer rounds
// so that a round holds enough of them.
func (b *bench) sweepDur(size int) time.Duration {
	switch {
	case size >= 4<<20:
		return 4 * b.dur
	case size >= 256<<10:
		return 2 * b.dur
	}
	return b.dur
}

// runSizes is the size sweep: at every size, 1 and 4 outstanding requests
// from the Go client to the C floor, the Go floor, the Go echo under the
// manager, and each scripting language's bare worker and SDK echo under
// the manager, one worker or instance each, in interleaved rounds; then the
// instances' resident memory, and a profile of a Go instance at 1 MiB.
func (b *bench) runSizes() {
	r := &b.sizes2
	for _, size := range sweepSizes {
		var cfgs []*config
		for _, conc := range sweepConcs {
			g := fmt.Sprintf("sweep %s, %d outstanding", fmtBytes(size), conc)
			servers := []*server{b.floor(floorC, 1), b.floor(floorGo, 1), b.pluton(langGo, 1)}
			for _, sl := range sweepLangs {
				servers = append(servers, b.floor(sl.floor, 1), b.pluton(sl.l, 1))
			}
			for _, s := range servers {
				cfgs = add(cfgs, g, s, b.lib, size, conc)
			}
		}
		interleave(cfgs, b.rounds, b.sweepDur(size), "sizes "+fmtBytes(size))
		r.cfgs = append(r.cfgs, cfgs...)
	}
	r.rssAfter = b.instanceRSS()
	// An idle instance gives back the buffers of large requests after its
	// accept times out (a second); wait a little longer.
	r.idleWait = 2500 * time.Millisecond
	time.Sleep(r.idleWait)
	r.rssLater = b.instanceRSS()
	b.profileLarge()
}

// profileLarge profiles a Go echo instance under the manager serving
// profileSize requests one at a time.
func (b *bench) profileLarge() {
	r := &b.sizes2
	r.profileSize = profileSize
	if b.e.mgrBin == "" || b.e.profBin == "" {
		r.profileErr = errSkip
		return
	}
	dir := b.e.newDir("profL")
	key := "bench.profl.0.raw"
	dur := 3 * time.Second
	if b.e.quick {
		dur = 1500 * time.Millisecond
	}
	prefix := filepath.Join(dir, "echo")
	m, err := startManager(b.e, []svcSpec{{key: key, exec: fmt.Sprintf("%s %s %g", b.e.profBin, prefix, dur.Seconds()), min: 1, max: 1, prestart: true}}, true)
	if err != nil {
		r.profileErr = err
		return
	}
	defer m.stop()
	srv := m.server("Pluton + Go echo (profiled)", key, 1)
	res, err := b.lib.run(&srv.t, profileSize, 1, dur+300*time.Millisecond)
	if err != nil {
		r.profileErr = err
		return
	}
	r.profileN = res.n
	var profs []string
	for t0 := time.Now(); time.Since(t0) < 5*time.Second; time.Sleep(20 * time.Millisecond) {
		if profs, _ = filepath.Glob(prefix + ".*.pprof"); len(profs) > 0 {
			break
		}
	}
	if len(profs) == 0 {
		r.profileErr = fmt.Errorf("the service wrote no profile in %s", dir)
		return
	}
	if fi, err := os.Stat(profs[0]); err == nil && fi.Size() > 0 {
		r.profile = pprofTop(b.e.root, b.e.profBin, profs[0])
	}
}

// sweepFind returns the sweep configuration of a server at a size and load.
func (b *bench) sweepFind(label string, size, conc int) *config {
	return find(b.sizes2.cfgs, label, "Go client", size, conc, 1)
}

// sizeTargets are the targets of issue 23, from the size sweep.
func sizeTargets(b *bench) []targetRow {
	if len(b.sizes2.cfgs) == 0 {
		return nil
	}
	var rows []targetRow
	pair := func(p, c *config, f func(trial) float64, unit func(float64) string) string {
		if p == nil || c == nil {
			return "–"
		}
		return fmt.Sprintf("%s vs %s", unit(p.metric(f).med), unit(c.metric(f).med))
	}
	for _, size := range sweepSizes {
		for _, conc := range sweepConcs {
			p := b.sweepFind(lblPlutonG, size, conc)
			c := b.sweepFind(lblC, size, conc)
			g := b.sweepFind(lblGo, size, conc)
			sz := fmt.Sprintf("%s, %d outstanding", fmtBytes(size), conc)
			if size < 16<<10 {
				rows = append(rows,
					ratioRow("Sweep: Go echo under the manager vs Go floor, "+sz+": req/s", ratio(p, g, fRPS), 0.98, true, pair(p, g, fRPS, fmtRate)),
					ratioRow("Sweep: same vs C floor: server CPU per request", ratio(p, c, fCPU), 1.0, false, pair(p, c, fCPU, fmtMicros)))
				continue
			}
			rows = append(rows,
				ratioRow("Sweep: Go echo under the manager vs C floor, "+sz+": server CPU per request", ratio(p, c, fCPU), 1.05, false, pair(p, c, fCPU, fmtMicros)),
				ratioRow("Sweep: same: req/s", ratio(p, c, fRPS), 0.95, true, pair(p, c, fRPS, fmtRate)))
		}
	}
	for _, sl := range sweepLangs {
		for _, size := range []int{64 << 10, 1 << 20} {
			for _, conc := range sweepConcs {
				p := b.sweepFind("Pluton + "+langNames[sl.l]+" echo", size, conc)
				f := b.sweepFind("bare "+langNames[sl.l]+" worker", size, conc)
				rows = append(rows, ratioRow(fmt.Sprintf("Sweep: %s SDK echo under the manager vs bare %s worker, %s, %d outstanding: server CPU per request",
					langNames[sl.l], langNames[sl.l], fmtBytes(size), conc), ratio(p, f, fCPU), 1.15, false, pair(p, f, fCPU, fmtMicros)))
			}
		}
	}
	largest := sweepSizes[len(sweepSizes)-1]
	idle, after := b.sizes2.rssIdle[langGo], b.sizes2.rssAfter[langGo]
	m := metric{med: math.NaN()}
	meas := "–"
	if idle > 0 && after > 0 {
		v := float64(after)
		m = metric{med: v, lo: v, hi: v, n: 1}
		meas = fmt.Sprintf("idle %s, after the sweep %s, %s later %s", fmtMB(float64(idle)), fmtMB(v),
			durMS(b.sizes2.idleWait), fmtMB(float64(b.sizes2.rssLater[langGo])))
	}
	// The pool's bound (go/service): three read buffers of the recent
	// size, each with 4 KiB of room for the packet's other fields.
	limit := float64(idle) + 3*float64(largest+4096)/1024
	r := valueRow(fmt.Sprintf("Sweep: Go echo instance's resident memory after the sweep (idle + 3 × (%s + 4 KiB))", fmtBytes(largest)), m, limit, fmtMB, meas)
	r.goal = "≤ " + fmtMB(limit)
	if m.valid() && m.med <= limit {
		r.met = 1
	}
	rows = append(rows, r)
	return rows
}

// sweepTables are the report's tables of the sweep: the Go servers by size
// and load, then each language's bare worker and SDK echo.
func sweepTables(b *bench) []titled {
	if len(b.sizes2.cfgs) == 0 {
		return nil
	}
	var out []titled
	t := mdTable{Head: []string{"size", "outstanding", "C floor req/s", "Go floor req/s", "Go echo req/s", "Go echo / C floor req/s",
		"C floor CPU/req", "Go floor CPU/req", "Go echo CPU/req", "Go echo / C floor CPU", "Go echo / Go floor req/s"}}
	for _, size := range sweepSizes {
		for _, conc := range sweepConcs {
			c, g, p := b.sweepFind(lblC, size, conc), b.sweepFind(lblGo, size, conc), b.sweepFind(lblPlutonG, size, conc)
			if c == nil && g == nil && p == nil {
				continue
			}
			t.Rows = append(t.Rows, []string{fmtBytes(size), fmt.Sprint(conc), rate(c), rate(g), rate(p),
				fmtMetric(ratio(p, c, fRPS), fmtRatio), cpu(c), cpu(g), cpu(p), fmtMetric(ratio(p, c, fCPU), fmtRatio),
				fmtMetric(ratio(p, g, fRPS), fmtRatio)})
		}
	}
	out = append(out, titled{"Go: the echo under the manager against the C and Go floors", t})
	for _, sl := range sweepLangs {
		name := langNames[sl.l]
		pl, bare := "Pluton + "+name+" echo", "bare "+name+" worker"
		t := mdTable{Head: []string{"size", "outstanding", "bare worker req/s", "SDK echo req/s", "SDK / bare req/s",
			"bare worker CPU/req", "SDK echo CPU/req", "SDK / bare CPU", "SDK / Go echo CPU"}}
		for _, size := range sweepSizes {
			for _, conc := range sweepConcs {
				f, p, ge := b.sweepFind(bare, size, conc), b.sweepFind(pl, size, conc), b.sweepFind(lblPlutonG, size, conc)
				if f == nil && p == nil {
					continue
				}
				t.Rows = append(t.Rows, []string{fmtBytes(size), fmt.Sprint(conc), rate(f), rate(p), fmtMetric(ratio(p, f, fRPS), fmtRatio),
					cpu(f), cpu(p), fmtMetric(ratio(p, f, fCPU), fmtRatio), fmtMetric(ratio(p, ge, fCPU), fmtRatio)})
			}
		}
		if len(t.Rows) > 0 {
			out = append(out, titled{name + ": the SDK echo under the manager against the bare worker", t})
		}
	}
	return out
}

// rssTable is the instances' resident memory before and after the sweep.
func rssTable(b *bench) *mdTable {
	r := b.sizes2
	if len(r.rssAfter) == 0 {
		return nil
	}
	t := &mdTable{Head: []string{"instance", "idle, before any request", "right after the sweep", fmt.Sprintf("%s later", durMS(r.idleWait))}}
	for _, l := range []lang{langGo, langPython, langPHP, langPerl} {
		if _, ok := r.rssAfter[l]; !ok {
			continue
		}
		t.Rows = append(t.Rows, []string{langNames[l] + " echo", kibMB(r.rssIdle[l]), kibMB(r.rssAfter[l]), kibMB(r.rssLater[l])})
	}
	return t
}

func kibMB(k int64) string {
	if k <= 0 {
		return "–"
	}
	return fmtMB(float64(k))
}
