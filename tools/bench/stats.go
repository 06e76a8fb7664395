package main

import (
	"fmt"
	"math"
	"slices"
	"time"
)

// percentile returns the p-th percentile (0 < p <= 100) of sorted by the
// nearest-rank method: the smallest value with at least p% of the values at
// or below it. It returns 0 for an empty slice.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	rank = min(max(rank, 1), len(sorted))
	return sorted[rank-1]
}

// latStats summarises one trial's latencies.
type latStats struct {
	mean, p50, p90, p99, max time.Duration
}

// summarize sorts lat in place and returns its statistics.
func summarize(lat []time.Duration) latStats {
	if len(lat) == 0 {
		return latStats{}
	}
	slices.Sort(lat)
	var sum time.Duration
	for _, d := range lat {
		sum += d
	}
	return latStats{
		mean: sum / time.Duration(len(lat)),
		p50:  percentile(lat, 50),
		p90:  percentile(lat, 90),
		p99:  percentile(lat, 99),
		max:  lat[len(lat)-1],
	}
}

// median returns the median of xs (the mean of the two middle values for an
// even count), ignoring NaNs; NaN if nothing is left.
func median(xs []float64) float64 {
	v := finite(xs)
	if len(v) == 0 {
		return math.NaN()
	}
	slices.Sort(v)
	if n := len(v); n%2 == 1 {
		return v[n/2]
	} else {
		return (v[n/2-1] + v[n/2]) / 2
	}
}

// finite returns a copy of xs without NaNs and infinities.
func finite(xs []float64) []float64 {
	v := make([]float64, 0, len(xs))
	for _, x := range xs {
		if !math.IsNaN(x) && !math.IsInf(x, 0) {
			v = append(v, x)
		}
	}
	return v
}

// metric is a figure measured over several rounds: its median and range.
type metric struct {
	med, lo, hi float64
	n           int
}

// newMetric summarises per-round values (NaNs are ignored).
func newMetric(xs []float64) metric {
	v := finite(xs)
	if len(v) == 0 {
		return metric{med: math.NaN(), lo: math.NaN(), hi: math.NaN()}
	}
	return metric{med: median(v), lo: slices.Min(v), hi: slices.Max(v), n: len(v)}
}

// valid reports whether the metric has at least one value.
func (m metric) valid() bool { return m.n > 0 }

// ratios returns a[i]/b[i] for the rounds where both are finite and b is not 0.
func ratios(a, b []float64) []float64 {
	n := min(len(a), len(b))
	out := make([]float64, 0, n)
	for i := 0; i < n; i++ {
		if b[i] != 0 && !math.IsNaN(a[i]) && !math.IsNaN(b[i]) {
			out = append(out, a[i]/b[i])
		}
	}
	return out
}

// fmtRate formats a rate in requests per second: 950, 12.3k, 1.25M.
func fmtRate(x float64) string {
	switch {
	case math.IsNaN(x):
		return "–"
	case x >= 1e6:
		return fmt.Sprintf("%.2fM", x/1e6)
	case x >= 1e4:
		return fmt.Sprintf("%.1fk", x/1e3)
	case x >= 1e3:
		return fmt.Sprintf("%.2fk", x/1e3)
	default:
		return fmt.Sprintf("%.0f", x)
	}
}

// fmtMicros formats a duration given in microseconds: 0.85 µs, 45.2 µs,
// 457 µs, 2.61 ms, 1.20 s.
func fmtMicros(us float64) string {
	switch {
	case math.IsNaN(us):
		return "–"
	case us >= 1e6:
		return fmt.Sprintf("%.2f s", us/1e6)
	case us >= 1e4:
		return fmt.Sprintf("%.1f ms", us/1e3)
	case us >= 1e3:
		return fmt.Sprintf("%.2f ms", us/1e3)
	case us >= 100:
		return fmt.Sprintf("%.0f µs", us)
	case us >= 10:
		return fmt.Sprintf("%.1f µs", us)
	default:
		return fmt.Sprintf("%.2f µs", us)
	}
}

// fmtRatio formats a ratio as 0.93x (1.23x, 12.3x, 123x).
func fmtRatio(r float64) string {
	switch {
	case math.IsNaN(r) || math.IsInf(r, 0):
		return "–"
	case r >= 100:
		return fmt.Sprintf("%.0fx", r)
	case r >= 10:
		return fmt.Sprintf("%.1fx", r)
	default:
		return fmt.Sprintf("%.2fx", r)
	}
}

// fmtMetric formats a metric as "median (lo–hi)" with f, or just the median
// when there was one round or the range is a single value.
func fmtMetric(m metric, f func(float64) string) string {
	if !m.valid() {
		return "–"
	}
	med := f(m.med)
	lo, hi := f(m.lo), f(m.hi)
	if m.n == 1 || lo == hi {
		return med
	}
	return fmt.Sprintf("%s (%s–%s)", med, lo, hi)
}

// fmtBytes formats a payload size: 0 B, 1 KiB, 64 KiB, 1 MiB.
func fmtBytes(n int) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	default:
		return fmt.Sprintf("%d B", n)
	}
}
