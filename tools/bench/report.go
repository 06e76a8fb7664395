package main

import (
	_ "embed"
	"errors"
	"fmt"
	"math"
	"os"
	"runtime"
	"sort"
	"strings"
	"text/template"
	"time"
)

// info describes the machine and the run.
type info struct {
	date               time.Time
	cpu, kernel, goV   string
	cores              int
	loadStart, loadEnd string
	wall               time.Duration
}

func machineInfo() info {
	in := info{date: time.Now(), cores: runtime.NumCPU(), goV: runtime.Version(), loadStart: loadAvg()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				in.cpu = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		in.kernel = strings.TrimSpace(string(b))
	}
	return in
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// find returns the configuration with this server label, driver, size,
// outstanding count and worker count (workers 0: any), or nil.
func find(cfgs []*config, label, drv string, size, conc, workers int) *config {
	for _, c := range cfgs {
		if c.srv.label == label && c.drv.name() == drv && c.size == size && c.conc == conc &&
			(workers == 0 || c.srv.workers == workers) && c.failed == nil && len(c.trials) > 0 {
			return c
		}
	}
	return nil
}

// Server labels.
const (
	lblC       = "C floor"
	lblGo      = "Go floor"
	lblPlutonG = "Pluton + Go echo"
)

// targetRow is one line of the targets table.
type targetRow struct {
	what, goal, measured, value string
	met                         int // 1 met, 0 not met, -1 not measured
}

func statusText(met int) string {
	switch met {
	case 1:
		return "met"
	case 0:
		return "**not met**"
	default:
		return "not measured"
	}
}

// ratioRow builds a row for a ratio goal: at least (atLeast) or at most goal.
func ratioRow(what string, m metric, goal float64, atLeast bool, measured string) targetRow {
	g := "≥ " + fmtRatio(goal)
	if !atLeast {
		g = "≤ " + fmtRatio(goal)
	}
	r := targetRow{what: what, goal: g, measured: measured, value: fmtMetric(m, fmtRatio), met: -1}
	if m.valid() {
		r.met = 0
		if (atLeast && m.med >= goal) || (!atLeast && m.med <= goal) {
			r.met = 1
		}
	}
	return r
}

// valueRow builds a row for an absolute goal (value at most goal).
func valueRow(what string, m metric, goal float64, unit func(float64) string, measured string) targetRow {
	r := targetRow{what: what, goal: "< " + unit(goal), measured: measured, value: fmtMetric(m, unit), met: -1}
	if m.valid() {
		r.met = 0
		if m.med < goal {
			r.met = 1
		}
	}
	return r
}

func fmtMS(ms float64) string {
	if math.IsNaN(ms) {
		return "–"
	}
	if ms >= 1000 {
		return fmt.Sprintf("%.2f s", ms/1000)
	}
	if ms >= 10 {
		return fmt.Sprintf("%.0f ms", ms)
	}
	return fmt.Sprintf("%.1f ms", ms)
}

func fmtPct(f float64) string {
	if math.IsNaN(f) {
		return "–"
	}
	return fmt.Sprintf("%.2f%%", f*100)
}

func fmtMB(kib float64) string {
	if math.IsNaN(kib) {
		return "–"
	}
	return fmt.Sprintf("%.1f MB", kib*1024/1e6)
}

// targets computes the targets table.
func targets(b *bench) []targetRow {
	var rows []targetRow
	for _, size := range []int{0, 1 << 10} {
		sz := fmtBytes(size)
		p := find(b.latency, lblPlutonG, "Go client", size, 1, 1)
		c := find(b.latency, lblC, "Go client", size, 1, 1)
		desc := func(f func(trial) float64, unit func(float64) string) string {
			if p == nil || c == nil {
				return "–"
			}
			return fmt.Sprintf("%s vs %s", unit(p.metric(f).med), unit(c.metric(f).med))
		}
		rows = append(rows,
			ratioRow("Go client → manager + Go echo vs C server, "+sz+", 1 outstanding: req/s", ratio(p, c, fRPS), 0.95, true, desc(fRPS, fmtRate)),
			ratioRow("same: p50 latency", ratio(p, c, fP50), 1.1, false, desc(fP50, fmtMicros)),
			ratioRow("same: server CPU per request", ratio(p, c, fCPU), 1.1, false, desc(fCPU, fmtMicros)))
		pc := find(b.latency, lblPlutonG, "C client", size, 1, 1)
		cc := find(b.latency, lblC, "C client", size, 1, 1)
		d := "–"
		if pc != nil && cc != nil {
			d = fmt.Sprintf("%s vs %s", fmtRate(pc.metric(fRPS).med), fmtRate(cc.metric(fRPS).med))
		}
		rows = append(rows, ratioRow("C client → manager + Go echo vs C floor, "+sz+", 1 outstanding: req/s", ratio(pc, cc, fRPS), 0.9, true, d))
	}
	w0 := b.langWorkers[0]
	for _, l := range []lang{langPython, langPHP, langPerl} {
		cfgs := b.langs[l]
		p := find(cfgs, "Pluton + "+langNames[l]+" echo", "Go client", b.loadSize, 4, w0)
		f := find(cfgs, "bare "+langNames[l]+" worker", "Go client", b.loadSize, 4, w0)
		d := "–"
		if p != nil && f != nil {
			d = fmt.Sprintf("%s vs %s", fmtMicros(p.metric(fCPU).med), fmtMicros(f.metric(fCPU).med))
		}
		rows = append(rows, ratioRow(fmt.Sprintf("%s SDK echo under the manager vs bare %s worker: server CPU per request (%d worker, 4 outstanding)", langNames[l], langNames[l], w0),
			ratio(p, f, fCPU), 1.15, false, d))
	}
	for _, pe := range []struct {
		l            lang
		peer         string
		drivers      []string
		primaryLabel string
	}{
		{langPHP, "PHP-FPM", []string{"raw FastCGI", "gofast (FastCGI)"}, "PHP"},
		{langPython, "gunicorn", []string{"raw HTTP", "net/http"}, "Python"},
	} {
		for _, w := range b.langWorkers {
			cfgs := b.langs[pe.l]
			p := find(cfgs, "Pluton + "+langNames[pe.l]+" echo", "Go client", b.loadSize, 4, w)
			// The peer with its fastest client, so that the ratio is the
			// least flattering one for us.
			var best *config
			for _, dn := range pe.drivers {
				if c := find(cfgs, pe.peer, dn, b.loadSize, 4, w); c != nil && (best == nil || c.metric(fRPS).med > best.metric(fRPS).med) {
					best = c
				}
			}
			d := "–"
			if p != nil && best != nil {
				d = fmt.Sprintf("%s vs %s (%s)", fmtRate(p.metric(fRPS).med), fmtRate(best.metric(fRPS).med), best.drv.name())
			}
			rows = append(rows, ratioRow(fmt.Sprintf("%s SDK echo under the manager vs %s, %d workers each, 4 outstanding: req/s", pe.primaryLabel, pe.peer, w),
				ratio(p, best, fRPS), 3, true, d))
		}
	}
	var to8 []float64
	for _, r := range b.burst {
		if r.to8 >= 0 {
			to8 = append(to8, float64(r.to8)/1e6)
		} else {
			to8 = append(to8, math.Inf(1))
		}
	}
	rows = append(rows, valueRow("Burst: idle pool (1 of max 8) to 8 instances under 64 outstanding 5 ms requests", newMetricInf(to8), 2000, fmtMS,
		fmt.Sprintf("%d round(s)", len(b.burst))))
	c := b.cost
	rows = append(rows,
		valueRow("Stop the manager with 8 idle instances (SIGTERM to exit)", newMetric(c.stop8), 200, fmtMS, fmt.Sprintf("%d rounds", len(c.stop8))),
		valueRow("Manager start to first response", newMetric(c.firstResp), 50, fmtMS, fmt.Sprintf("%d rounds", len(c.firstResp))))
	rss := metric{med: math.NaN()}
	if c.rssKiB > 0 {
		rss = metric{med: float64(c.rssKiB), lo: float64(c.rssKiB), hi: float64(c.rssKiB), n: 1}
	}
	rows = append(rows, valueRow(fmt.Sprintf("Manager RSS with %d services (%d instances)", c.services, c.instances), rss, 20e6/1024, fmtMB, "VmRSS"))
	rows = append(rows, sizeTargets(b)...)
	full := b.fullLoad()
	m := metric{med: math.NaN()}
	meas := "–"
	if full != nil {
		m = full.metric(fMgr)
		meas = fmt.Sprintf("%d instances, %d outstanding, %s", full.srv.workers, full.conc, fmtRate(full.metric(fRPS).med)+" req/s")
	}
	rows = append(rows, valueRow("Manager CPU at full load (share of one core)", m, 0.02, fmtPct, meas))
	return rows
}

// newMetricInf is newMetric where +Inf (never reached) counts: the median
// is then +Inf if most rounds never got there.
func newMetricInf(xs []float64) metric {
	if len(xs) == 0 {
		return metric{med: math.NaN()}
	}
	v := append([]float64(nil), xs...)
	sort.Float64s(v)
	med := v[len(v)/2]
	if len(v)%2 == 0 {
		med = (v[len(v)/2-1] + v[len(v)/2]) / 2
	}
	return metric{med: med, lo: v[0], hi: v[len(v)-1], n: len(v)}
}

// fullLoad returns the throughput configuration with the most instances and
// outstanding requests through the manager.
func (b *bench) fullLoad() *config {
	var best *config
	for _, c := range b.throughput {
		if c.srv.mgr == nil || c.failed != nil || len(c.trials) == 0 {
			continue
		}
		if best == nil || c.srv.workers > best.srv.workers || (c.srv.workers == best.srv.workers && c.conc > best.conc) {
			best = c
		}
	}
	return best
}

// reportTemplate holds the report's prose; renderReport fills it.
//
//go:embed report.md.tmpl
var reportTemplate string

// sweepNotes is the written analysis of the size sweep (what bounds each
// target), kept next to the code and shown after the sweep's figures.
//
//go:embed sweep-notes.md
var sweepNotes string

// mdTable is a Markdown table.
type mdTable struct {
	Head []string
	Rows [][]string
}

// String renders the table, one line per row.
func (t mdTable) String() string {
	var s strings.Builder
	s.WriteString("| " + strings.Join(t.Head, " | ") + " |\n|")
	for range t.Head {
		s.WriteString("---|")
	}
	s.WriteString("\n")
	for _, r := range t.Rows {
		s.WriteString("| " + strings.Join(r, " | ") + " |\n")
	}
	return s.String()
}

// titled is a table under a heading.
type titled struct {
	Title string
	Table mdTable
}

// langSection is the report of one scripting language.
type langSection struct {
	Name, Skip string
	Rates, CPU mdTable
	Errors     string
}

// reportData is what report.md.tmpl shows.
type reportData struct {
	Cmd, Flags, Date, Mode, Only, Wall         string
	CPU, Kernel, GoVersion, LoadStart, LoadEnd string
	Cores, Rounds, Warmup                      int
	Dur, LoadSize                              string
	Targets                                    mdTable
	Latency, Throughput                        []titled
	LatencyErrors, ThroughputErrors            string
	Languages                                  []langSection
	Sweep                                      struct {
		Ran         bool
		Tables      []titled
		RSS         *mdTable
		Errors      string
		Profile     string
		ProfileSize string
		ProfileN    int
		ProfileErr  error
	}
	Burst struct {
		Skipped  bool
		Err      error
		Table    *mdTable
		FirstErr error
	}
	Cost struct {
		Skipped                bool
		Err, StartErr, StopErr error
		Table                  *mdTable
	}
	Profile struct {
		Skipped                 bool
		Err, ManagerErr         error
		Requests                int
		AllocsPerReq            float64
		ClientTop, ServiceTop   string
		ManagerTop, ManagerLoad string
		Syscalls                []titled
		SyscallSize             string
		SyscallErr              error
	}
	Micro struct {
		Err   error
		Table *mdTable
	}
	Notes      []string
	SweepNotes string
}

// renderReport renders docs/benchmarks.md from the results.
func renderReport(b *bench, in info, charts []chart, only string) (string, error) {
	tmpl, err := template.New("report").Funcs(template.FuncMap{
		"table": func(t mdTable) string { return t.String() },
		"code":  func(s string) string { return "```\n" + s + "\n```\n" },
		"chart": func(name string) string {
			for _, c := range charts {
				if c.file == name {
					return fmt.Sprintf("![%s](bench/%s)\n\n", c.caption, c.file)
				}
			}
			return ""
		},
	}).Parse(reportTemplate)
	if err != nil {
		return "", fmt.Errorf("report template: %w", err)
	}
	var out strings.Builder
	if err := tmpl.Execute(&out, reportFigures(b, in, only)); err != nil {
		return "", fmt.Errorf("report template: %w", err)
	}
	return out.String(), nil
}

// reportFigures computes every figure and table of the report.
func reportFigures(b *bench, in info, only string) *reportData {
	d := &reportData{Cmd: "make bench", Mode: "full", Only: only,
		Date: in.date.Format("2006-01-02 15:04 MST"), Wall: in.wall.Round(time.Second).String(),
		CPU: orDash(in.cpu), Kernel: orDash(in.kernel), GoVersion: in.goV, LoadStart: in.loadStart, LoadEnd: in.loadEnd,
		Cores: in.cores, Rounds: b.rounds, Warmup: warmupPerWorker, Dur: b.dur.String(), LoadSize: fmtBytes(b.loadSize)}
	if b.e.quick {
		d.Cmd, d.Mode, d.Flags = "make bench-quick", "quick", " -quick"
	}
	for _, r := range targets(b) {
		d.Targets.Rows = append(d.Targets.Rows, []string{r.what, r.goal, r.value, r.measured, statusText(r.met)})
	}
	d.Targets.Head = []string{"Target", "Goal", "Measured (median, range)", "Figures", "Status"}

	for _, size := range b.sizes {
		var rows [][]string
		for _, c := range b.latency {
			if c.size == size {
				rows = append(rows, perfRow([]string{c.srv.label, c.drv.name()}, c))
			}
		}
		if len(rows) > 0 {
			d.Latency = append(d.Latency, titled{fmtBytes(size), mdTable{
				[]string{"Server", "Client", "req/s", "mean", "p50", "p99", "server CPU/req", "errors"}, rows}})
		}
	}
	d.LatencyErrors = errorNotes(b.latency)

	for _, w := range b.workers {
		var rows [][]string
		for _, conc := range b.concs {
			c := find(b.throughput, lblC, "Go client", b.loadSize, conc, w)
			g := find(b.throughput, lblGo, "Go client", b.loadSize, conc, w)
			p := find(b.throughput, lblPlutonG, "Go client", b.loadSize, conc, w)
			if c == nil && g == nil && p == nil {
				continue
			}
			rows = append(rows, []string{fmt.Sprint(conc),
				rate(c), rate(g), rate(p), fmtMetric(ratio(p, c, fRPS), fmtRatio),
				lat(c, fP50), lat(p, fP50),
				cpu(c), cpu(g), cpu(p), fmtMetric(ratio(p, c, fCPU), fmtRatio), mgrPct(p)})
		}
		if len(rows) > 0 {
			d.Throughput = append(d.Throughput, titled{fmt.Sprintf("%d worker(s) / instance(s)", w), mdTable{
				[]string{"outstanding", "C floor req/s", "Go floor req/s", "Pluton req/s", "Pluton / C", "C p50", "Pluton p50",
					"C CPU/req", "Go floor CPU/req", "Pluton CPU/req", "Pluton / C CPU", "manager CPU"}, rows}})
		}
	}
	d.ThroughputErrors = errorNotes(b.throughput)

	for _, l := range []lang{langPython, langPHP, langPerl} {
		d.Languages = append(d.Languages, languageSection(b, l))
	}

	sw := &d.Sweep
	sw.Ran = len(b.sizes2.cfgs) > 0
	sw.Tables, sw.RSS, sw.Errors = sweepTables(b), rssTable(b), errorNotes(b.sizes2.cfgs)
	sw.Profile, sw.ProfileSize, sw.ProfileN = b.sizes2.profile, fmtBytes(b.sizes2.profileSize), b.sizes2.profileN
	if !errors.Is(b.sizes2.profileErr, errSkip) {
		sw.ProfileErr = b.sizes2.profileErr
	}

	d.Burst.Skipped = errors.Is(b.burstErr, errSkip)
	d.Burst.Err = b.burstErr
	if len(b.burst) > 0 {
		t := &mdTable{Head: []string{"round", "requests", "instances idle", "time to 8 instances", "most instances",
			"backlog gone after", "ideal", "p50", "p99", "errors"}}
		for i, r := range b.burst {
			to8 := "never"
			if r.to8 >= 0 {
				to8 = fmtMS(float64(r.to8) / 1e6)
			}
			gone := "not within 60 s"
			if r.backlogGone >= 0 {
				gone = fmtMS(float64(r.backlogGone) / 1e6)
			}
			t.Rows = append(t.Rows, []string{fmt.Sprint(i + 1), fmt.Sprint(r.requests), fmt.Sprint(r.idleInstances), to8,
				fmt.Sprint(r.maxInstances), gone, fmtMS(float64(r.ideal) / 1e6), fmtMicros(r.p50), fmtMicros(r.p99), fmt.Sprint(r.errs)})
			if r.firstErr != nil && d.Burst.FirstErr == nil {
				d.Burst.FirstErr = r.firstErr
			}
		}
		d.Burst.Table = t
	}

	c := b.cost
	d.Cost.Skipped, d.Cost.Err, d.Cost.StartErr, d.Cost.StopErr = errors.Is(c.err, errSkip), c.err, c.startErr, c.stopErr
	var rows [][]string
	if c.rssKiB > 0 {
		rows = append(rows,
			[]string{fmt.Sprintf("RSS with %d services, %d instances running", c.services, c.instances), fmtMB(float64(c.rssKiB)), "< 20 MB"},
			[]string{fmt.Sprintf("CPU idle with %d services (manager alone, over %v)", c.services, c.idleWindow), fmtPct(c.idleCPU) + " of one core", ""},
			[]string{"CPU idle, manager and its idle instances", fmtPct(c.idleTreeCPU) + " of one core", ""},
			[]string{fmt.Sprintf("Stop with %d instances (SIGTERM to exit)", c.instances), durMS(c.stop100), ""})
	}
	if full := b.fullLoad(); full != nil {
		rows = append(rows, []string{fmt.Sprintf("CPU at full load (%d instances, %d outstanding, %s req/s), manager alone",
			full.srv.workers, full.conc, fmtRate(full.metric(fRPS).med)), fmtMetric(full.metric(fMgr), fmtPct) + " of one core", "< 2%"})
	}
	if len(c.readyLog) > 0 {
		rows = append(rows, []string{"Start to `Manager ready:` (1 service, 1 prestarted instance)", fmtMetric(newMetric(c.readyLog), fmtMS), ""})
	}
	if len(c.firstResp) > 0 {
		rows = append(rows, []string{"Start to first response (1 service, 1 prestarted instance)", fmtMetric(newMetric(c.firstResp), fmtMS), "< 50 ms"})
	}
	if len(c.stop8) > 0 {
		rows = append(rows,
			[]string{"Stop with 8 idle instances: SIGTERM to manager exit", fmtMetric(newMetric(c.stop8), fmtMS), "< 200 ms"},
			[]string{"Stop with 8 idle instances: SIGTERM until every instance is gone", fmtMetric(newMetric(c.stop8AllGone), fmtMS), ""})
	}
	if len(rows) > 0 {
		d.Cost.Table = &mdTable{[]string{"What", "Measured (median, range)", "Target"}, rows}
	}

	pr := b.prof
	p := &d.Profile
	p.Skipped, p.Err = errors.Is(pr.err, errSkip), pr.err
	p.Requests, p.AllocsPerReq, p.ClientTop, p.ServiceTop = pr.requests, pr.allocsPerReq, pr.clientTop, pr.serviceTop
	p.ManagerTop, p.ManagerLoad = pr.managerTop, pr.managerLoad
	if !errors.Is(pr.managerErr, errSkip) {
		p.ManagerErr = pr.managerErr
	}
	p.Syscalls, p.SyscallSize, p.SyscallErr = syscallTables(pr.syscalls), fmtBytes(1<<10), pr.syscallErr

	d.Micro.Err, d.Micro.Table = b.microErr, microTable(b)
	d.Notes = b.e.notes
	d.SweepNotes = sweepNotes
	return d
}

// languageSection computes the tables of one scripting language: every
// (server, driver) measured, in order of appearance, by workers and
// outstanding requests, with the ratios of Pluton to the bare worker and to
// the peers.
func languageSection(b *bench, l lang) langSection {
	sec := langSection{Name: langNames[l]}
	cfgs := b.langs[l]
	if why := b.langSkip[l]; why != "" && len(cfgs) == 0 {
		sec.Skip = why
		return sec
	}
	type col struct{ label, drv string }
	var cols []col
	seen := map[col]bool{}
	for _, c := range cfgs {
		k := col{c.srv.label, c.drv.name()}
		if !seen[k] {
			seen[k] = true
			cols = append(cols, k)
		}
	}
	head := []string{"workers", "outstanding"}
	for _, c := range cols {
		head = append(head, c.label+" ("+c.drv+")")
	}
	peer := func(k col) bool { return k.label == "PHP-FPM" || k.label == "gunicorn" }
	pl, bare := "Pluton + "+langNames[l]+" echo", "bare "+langNames[l]+" worker"
	for _, w := range b.langWorkers {
		for _, conc := range b.langConcs {
			rr := []string{fmt.Sprint(w), fmt.Sprint(conc)}
			cr := []string{fmt.Sprint(w), fmt.Sprint(conc)}
			for _, k := range cols {
				c := find(cfgs, k.label, k.drv, b.loadSize, conc, w)
				rr = append(rr, rate(c))
				cr = append(cr, cpu(c))
			}
			p := find(cfgs, pl, "Go client", b.loadSize, conc, w)
			f := find(cfgs, bare, "Go client", b.loadSize, conc, w)
			rr = append(rr, fmtMetric(ratio(p, f, fRPS), fmtRatio))
			cr = append(cr, fmtMetric(ratio(p, f, fCPU), fmtRatio))
			for _, k := range cols {
				if peer(k) {
					rr = append(rr, fmtMetric(ratio(p, find(cfgs, k.label, k.drv, b.loadSize, conc, w), fRPS), fmtRatio))
				}
			}
			if len(cfgs) > 0 {
				sec.Rates.Rows, sec.CPU.Rows = append(sec.Rates.Rows, rr), append(sec.CPU.Rows, cr)
			}
		}
	}
	sec.Rates.Head = append(append([]string(nil), head...), "Pluton / bare")
	for _, k := range cols {
		if peer(k) {
			sec.Rates.Head = append(sec.Rates.Head, "Pluton / "+k.label+" ("+k.drv+")")
		}
	}
	sec.CPU.Head = append(append([]string(nil), head...), "Pluton / bare")
	sec.Errors = errorNotes(cfgs)
	return sec
}

// syscallTables turns the strace counts into one table per group: a row per
// system call seen at least once per 100 exchanges, a column per server.
func syscallTables(counts []syscallCount) []titled {
	var groups []string
	for _, s := range counts {
		if !containsStr(groups, s.group) {
			groups = append(groups, s.group)
		}
	}
	var out []titled
	for _, g := range groups {
		var cols []syscallCount
		for _, s := range counts {
			if s.group == g {
				cols = append(cols, s)
			}
		}
		names := map[string]bool{}
		for _, s := range cols {
			for n := range s.perReq {
				if s.perReq[n] >= 0.01 {
					names[n] = true
				}
			}
		}
		var list []string
		for n := range names {
			list = append(list, n)
		}
		sort.Strings(list)
		t := mdTable{Head: []string{"system call"}}
		for _, s := range cols {
			t.Head = append(t.Head, s.server)
		}
		for _, n := range list {
			r := []string{"`" + n + "`"}
			for _, s := range cols {
				r = append(r, fmt.Sprintf("%.2f", s.perReq[n]))
			}
			t.Rows = append(t.Rows, r)
		}
		tot := []string{"**total**"}
		for _, s := range cols {
			tot = append(tot, fmt.Sprintf("**%.2f**", s.total))
		}
		t.Rows = append(t.Rows, tot)
		out = append(out, titled{g, t})
	}
	return out
}

func orDash(s string) string {
	if s == "" {
		return "–"
	}
	return s
}

func durMS(d time.Duration) string {
	if d < 0 {
		return "did not exit within 10 s"
	}
	return fmtMS(float64(d) / 1e6)
}

func rate(c *config) string {
	if c == nil {
		return "–"
	}
	return fmtMetric(c.metric(fRPS), fmtRate)
}

func lat(c *config, f func(trial) float64) string {
	if c == nil {
		return "–"
	}
	return fmtMetric(c.metric(f), fmtMicros)
}

func cpu(c *config) string {
	if c == nil {
		return "–"
	}
	return fmtMetric(c.metric(fCPU), fmtMicros)
}

func mgrPct(c *config) string {
	if c == nil {
		return "–"
	}
	return fmtMetric(c.metric(fMgr), fmtPct)
}

// perfRow is the common row: prefix, req/s, mean, p50, p99, CPU, errors.
func perfRow(prefix []string, c *config) []string {
	if c.failed != nil {
		return append(prefix, "failed: "+oneLine(c.failed.Error()), "", "", "", "", "")
	}
	return append(prefix, rate(c), lat(c, fMean), lat(c, fP50), lat(c, fP99), cpu(c), fmt.Sprint(c.errors()))
}

func oneLine(s string) string {
	s = strings.ReplaceAll(s, "\n", " ")
	s = strings.ReplaceAll(s, "|", "/")
	if len(s) > 160 {
		s = s[:160] + "…"
	}
	return s
}

// errorNotes lists the configurations that failed or had errors.
func errorNotes(cfgs []*config) string {
	var out []string
	for _, c := range cfgs {
		switch {
		case c.failed != nil:
			out = append(out, fmt.Sprintf("* %s: failed: `%s`", c, oneLine(c.failed.Error())))
		case c.errors() > 0:
			out = append(out, fmt.Sprintf("* %s: %d errors (first: `%s`)", c, c.errors(), oneLine(fmt.Sprint(c.firstErr))))
		}
		if c.replaced > 0 {
			out = append(out, fmt.Sprintf("* %s: instances of the service were replaced (exited and restarted) during %d of %d rounds", c, c.replaced, len(c.trials)))
		}
	}
	if len(out) > 8 {
		out = append(out[:8], fmt.Sprintf("* … and %d more", len(out)-8))
	}
	return strings.Join(out, "\n")
}

// summaryText is what the command prints at the end.
func summaryText(b *bench) string {
	var s strings.Builder
	s.WriteString("\nTargets:\n")
	for _, r := range targets(b) {
		st := map[int]string{1: "met", 0: "NOT MET", -1: "not measured"}[r.met]
		fmt.Fprintf(&s, "  %-12s %-9s %-28s %s  [%s]\n", st, r.goal, r.value, r.what, r.measured)
	}
	var bad []string
	for _, group := range [][]*config{b.latency, b.throughput, b.langs[langPython], b.langs[langPHP], b.langs[langPerl]} {
		if n := errorNotes(group); n != "" {
			bad = append(bad, n)
		}
	}
	if len(bad) > 0 {
		s.WriteString("\nErrors:\n" + strings.Join(bad, "\n") + "\n")
	}
	return s.String()
}

func containsStr(xs []string, s string) bool {
	for _, x := range xs {
		if x == s {
			return true
		}
	}
	return false
}
