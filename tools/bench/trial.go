package main

import (
	"fmt"
	"math"
	"slices"
	"time"
)

// trial is what one round of one configuration measured.
type trial struct {
	n, errs   int
	rps       float64 // completed exchanges per second
	mean, p50 float64 // µs
	p90, p99  float64 // µs
	cpuPerReq float64 // server CPU per exchange, µs (NaN if unknown)
	mgrCPU    float64 // the manager's own CPU, fraction of one core (NaN if no manager)
}

// config is one measured combination: a server, a client and a load.
type config struct {
	group      string // the comparison it belongs to (e.g. "size 1 KiB")
	srv        *server
	drv        driver
	size, conc int
	trials     []trial
	firstErr   error
	failed     error // the configuration could not run at all
	replaced   int   // rounds during which an instance of the service was replaced
}

func (c *config) String() string {
	return fmt.Sprintf("%s / %s / %s / conc %d / %d workers", c.srv.label, c.drv.name(), fmtBytes(c.size), c.conc, c.srv.workers)
}

// runTrial measures one round of c.
func runTrial(c *config, dur time.Duration) {
	pids := c.srv.cpuPids()
	mgrPid := 0
	if c.srv.mgr != nil {
		mgrPid = c.srv.mgr.p.pid()
	}
	var mgr0 time.Duration
	if mgrPid != 0 {
		mgr0 = ownCPU(mgrPid)
	}
	cpu0 := c.srv.sampleCPU(pids)
	t0 := time.Now()
	res, err := c.drv.run(&c.srv.t, c.size, c.conc, dur)
	wall := time.Since(t0)
	cpu1 := c.srv.sampleCPU(pids)
	if c.srv.mgr != nil && !sameInts(pids, c.srv.cpuPids()) {
		c.replaced++
	}
	var mgr1 time.Duration
	if mgrPid != 0 {
		mgr1 = ownCPU(mgrPid)
	}
	if err != nil {
		if len(c.trials) == 0 {
			c.failed = err
		}
		if c.firstErr == nil {
			c.firstErr = err
		}
		return
	}
	if res.firstErr != nil && c.firstErr == nil {
		c.firstErr = res.firstErr
	}
	if res.n == 0 {
		if len(c.trials) == 0 {
			c.failed = fmt.Errorf("no exchange completed (%d errors; first: %v)", res.errs, res.firstErr)
		}
		return
	}
	ls := summarize(res.lat)
	us := func(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
	t := trial{
		n: res.n, errs: res.errs,
		rps:  float64(res.n) / res.elapsed.Seconds(),
		mean: us(ls.mean), p50: us(ls.p50), p90: us(ls.p90), p99: us(ls.p99),
		cpuPerReq: us(cpu1.sub(cpu0).tree) / float64(res.n),
		mgrCPU:    math.NaN(),
	}
	if mgrPid != 0 {
		t.mgrCPU = float64(mgr1-mgr0) / float64(wall)
		if len(pids) == 0 { // the service's instances were not found
			t.cpuPerReq = math.NaN()
		}
	}
	c.trials = append(c.trials, t)
}

// interleave runs rounds of every configuration, alternating their order
// (A B C, C B A, ...) so that drift on the machine touches them alike.
// Configurations that failed in their first round are not retried.
func interleave(cfgs []*config, rounds int, dur time.Duration, progress string) {
	for r := 0; r < rounds; r++ {
		order := slices.Clone(cfgs)
		if r%2 == 1 {
			slices.Reverse(order)
		}
		for _, c := range order {
			if c.failed != nil {
				continue
			}
			runTrial(c, dur)
			if c.failed != nil {
				logf("  %s: %v", c, c.failed)
			}
		}
		logf("%s: round %d/%d done", progress, r+1, rounds)
	}
}

// field extracts one figure from every trial.
func (c *config) field(f func(trial) float64) []float64 {
	out := make([]float64, len(c.trials))
	for i, t := range c.trials {
		out[i] = f(t)
	}
	return out
}

func (c *config) metric(f func(trial) float64) metric { return newMetric(c.field(f)) }

func (c *config) errors() int {
	n := 0
	for _, t := range c.trials {
		n += t.errs
	}
	return n
}

// Figure getters.
func fRPS(t trial) float64  { return t.rps }
func fMean(t trial) float64 { return t.mean }
func fP50(t trial) float64  { return t.p50 }
func fP99(t trial) float64  { return t.p99 }
func fCPU(t trial) float64  { return t.cpuPerReq }
func fMgr(t trial) float64  { return t.mgrCPU }

// ratio returns the median and range of the per-round ratios a/b of a
// figure (the rounds of a and b were interleaved).
func ratio(a, b *config, f func(trial) float64) metric {
	if a == nil || b == nil {
		return metric{med: math.NaN()}
	}
	return newMetric(ratios(a.field(f), b.field(f)))
}

// sameInts reports whether a and b hold the same values (in any order).
func sameInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	m := map[int]int{}
	for _, x := range a {
		m[x]++
	}
	for _, x := range b {
		if m[x]--; m[x] < 0 {
			return false
		}
	}
	return true
}
