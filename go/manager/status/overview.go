package status

import (
	"context"
	"fmt"
	"math"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/pluton-go/pluton/go/manager/pool"
)

// The metric families the overview reads (go/manager/metrics).
const (
	durationFamily = "pluton_service_request_duration_seconds"
	exitsFamily    = "pluton_service_exits_total"
	startsFamily   = "pluton_service_starts_total"
	rejectedFamily = "pluton_service_rejected_total"
)

// Figures over a window: the window reaches back to the oldest sample taken
// at most maxWindow ago (or, when there is none, to the newest one before
// that), and is none when shorter than minWindow; a new sample is kept at
// most every sampleEvery.
const (
	maxWindow   = 10 * time.Second
	sampleEvery = 500 * time.Millisecond
	minWindow   = 100 * time.Millisecond
)

// ServiceView is one service in GET /overview: its GET /services entry, the
// figures over the window, its restarts and its instances.
type ServiceView struct {
	pool.ServiceStatus

	// RequestRate is the requests per second over the window; nil when the
	// window is empty (the first look after the manager started).
	RequestRate *float64 `json:"requestRate"`
	// P50Seconds and P99Seconds are the median and 99th percentile of the
	// request durations reported over the window, interpolated within the
	// duration histogram's buckets; nil when no request was reported.
	P50Seconds *float64 `json:"p50Seconds"`
	P99Seconds *float64 `json:"p99Seconds"`
	// Restarts counts the instances ended since the manager started, by
	// reason (the exits_total metric); Starts and Rejected likewise.
	Restarts map[string]uint64 `json:"restarts"`
	Starts   uint64            `json:"starts"`
	Rejected uint64            `json:"rejected"`
	// Processes are the service's live instances, as in GET /processes.
	Processes []pool.ProcessStatus `json:"processes"`
}

// Overview is the reply of GET /overview: everything the status page and
// plTop show, in one request.
type Overview struct {
	Manager Stats `json:"manager"`
	// WindowSeconds is the span of the window of the rates and percentiles
	// (0 when there is none yet; then the percentiles cover every request
	// reported since the manager started and the rates are nil).
	WindowSeconds float64       `json:"windowSeconds"`
	Services      []ServiceView `json:"services"`
	Time          time.Time     `json:"time"`
}

// sample is what the overview remembers of one look, per service.
type sample struct {
	at       time.Time
	services map[string]serviceSample
}

type serviceSample struct {
	requests uint64
	buckets  []bucket // cumulative, ascending bounds, +Inf last
}

type bucket struct {
	upper float64
	count uint64
}

// overviewer builds overviews and keeps the recent samples their windows
// need. Safe for concurrent use.
type overviewer struct {
	c   Controller
	reg *prometheus.Registry

	mu      sync.Mutex
	samples []sample // oldest first
}

// overview takes a look at the manager and its metrics.
func (o *overviewer) overview(ctx context.Context) (Overview, error) {
	services, err := o.c.Services(ctx)
	if err != nil {
		return Overview{}, err
	}
	procs, err := o.c.Processes(ctx)
	if err != nil {
		return Overview{}, err
	}
	st, err := o.c.Stats(ctx)
	if err != nil {
		return Overview{}, err
	}
	families, err := o.reg.Gather()
	if err != nil {
		return Overview{}, fmt.Errorf("metrics: %w", err)
	}
	now := time.Now()
	cur := sample{at: now, services: map[string]serviceSample{}}
	restarts := map[string]map[string]uint64{}
	starts := map[string]uint64{}
	rejected := map[string]uint64{}
	for _, f := range families {
		switch f.GetName() {
		case durationFamily:
			for _, m := range f.GetMetric() {
				key := label(m, "service")
				ss := cur.services[key]
				ss.buckets = histogramBuckets(m.GetHistogram())
				cur.services[key] = ss
			}
		case exitsFamily:
			for _, m := range f.GetMetric() {
				key := label(m, "service")
				if restarts[key] == nil {
					restarts[key] = map[string]uint64{}
				}
				restarts[key][label(m, "reason")] += uint64(m.GetCounter().GetValue())
			}
		case startsFamily:
			for _, m := range f.GetMetric() {
				starts[label(m, "service")] += uint64(m.GetCounter().GetValue())
			}
		case rejectedFamily:
			for _, m := range f.GetMetric() {
				rejected[label(m, "service")] += uint64(m.GetCounter().GetValue())
			}
		}
	}
	for _, s := range services {
		if s.Phase != "running" {
			continue // a service shutting down shares its key with its successor
		}
		ss := cur.services[s.Key]
		ss.requests = s.Requests
		cur.services[s.Key] = ss
	}
	base := o.remember(cur)

	ov := Overview{Manager: st, Time: now.UTC(), Services: make([]ServiceView, 0, len(services))}
	if base != nil {
		ov.WindowSeconds = now.Sub(base.at).Seconds()
	}
	byService := map[string][]pool.ProcessStatus{}
	for _, p := range procs {
		byService[p.Service] = append(byService[p.Service], p)
	}
	for _, s := range services {
		v := ServiceView{ServiceStatus: s, Restarts: restarts[s.Key], Starts: starts[s.Key], Rejected: rejected[s.Key]}
		if v.Restarts == nil {
			v.Restarts = map[string]uint64{}
		}
		if s.Phase == "running" {
			v.Processes = byService[s.Key]
			ss := cur.services[s.Key]
			var prev serviceSample
			if base != nil {
				prev = base.services[s.Key]
				if ss.requests >= prev.requests && ov.WindowSeconds > 0 {
					rate := float64(ss.requests-prev.requests) / ov.WindowSeconds
					v.RequestRate = &rate
				}
			}
			delta := subtract(ss.buckets, prev.buckets)
			v.P50Seconds = quantile(0.5, delta)
			v.P99Seconds = quantile(0.99, delta)
		}
		if v.Processes == nil {
			v.Processes = []pool.ProcessStatus{}
		}
		ov.Services = append(ov.Services, v)
	}
	sort.SliceStable(ov.Services, func(i, j int) bool { return ov.Services[i].Key < ov.Services[j].Key })
	return ov, nil
}

// remember keeps cur if the newest sample is old enough and returns the
// base of the window (nil when there is none), dropping the samples older
// than it.
func (o *overviewer) remember(cur sample) *sample {
	o.mu.Lock()
	defer o.mu.Unlock()
	// The base: the oldest sample within maxWindow, else the newest before.
	bi := -1
	for i, s := range o.samples {
		if cur.at.Sub(s.at) <= maxWindow {
			bi = i
			break
		}
		bi = i
	}
	var base *sample
	if bi >= 0 {
		o.samples = o.samples[bi:]
		if b := o.samples[0]; cur.at.Sub(b.at) >= minWindow {
			base = &b
		}
	}
	if n := len(o.samples); n == 0 || cur.at.Sub(o.samples[n-1].at) >= sampleEvery {
		o.samples = append(o.samples, cur)
	}
	return base
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// histogramBuckets returns the cumulative buckets of h, +Inf last.
func histogramBuckets(h *dto.Histogram) []bucket {
	out := make([]bucket, 0, len(h.GetBucket())+1)
	for _, b := range h.GetBucket() {
		out = append(out, bucket{upper: b.GetUpperBound(), count: b.GetCumulativeCount()})
	}
	if len(out) == 0 || !math.IsInf(out[len(out)-1].upper, 1) {
		out = append(out, bucket{upper: math.Inf(1), count: h.GetSampleCount()})
	}
	return out
}

// subtract returns cur - prev bucket by bucket (prev may be empty: a service
// without reports then). A counter that went backwards (the service was
// replaced) yields cur.
func subtract(cur, prev []bucket) []bucket {
	if len(prev) != len(cur) {
		return cur
	}
	out := make([]bucket, len(cur))
	for i := range cur {
		if cur[i].count < prev[i].count || cur[i].upper != prev[i].upper {
			return cur
		}
		out[i] = bucket{upper: cur[i].upper, count: cur[i].count - prev[i].count}
	}
	return out
}

// quantile estimates the q-quantile of cumulative buckets as Prometheus'
// histogram_quantile does: linear interpolation within the bucket holding
// the rank; the highest finite bound when the rank is in the +Inf bucket.
// It returns nil for an empty histogram.
func quantile(q float64, b []bucket) *float64 {
	if len(b) == 0 || b[len(b)-1].count == 0 {
		return nil
	}
	total := float64(b[len(b)-1].count)
	rank := q * total
	lower, below := 0.0, 0.0
	for i, x := range b {
		if float64(x.count) >= rank && x.count > 0 {
			if math.IsInf(x.upper, 1) {
				if i == 0 {
					return nil
				}
				v := b[i-1].upper
				return &v
			}
			in := float64(x.count) - below
			v := x.upper
			if in > 0 {
				v = lower + (x.upper-lower)*(rank-below)/in
			}
			return &v
		}
		lower, below = x.upper, float64(x.count)
	}
	return nil
}
