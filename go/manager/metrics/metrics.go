// Package metrics holds the manager's Prometheus metrics, in a registry of
// their own (no global state), served by the status server at /metrics.
package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/pluton-go/pluton/go/stats"
)

// Metrics are the manager's series. Every per-service series has the label
// service (the service key).
type Metrics struct {
	Registry *prometheus.Registry

	Instances *prometheus.GaugeVec   // live instances, stopping ones included
	Busy      *prometheus.GaugeVec   // instances handling a request
	Threads   *prometheus.GaugeVec   // threads handling a request (maximum-threads)
	Occupancy *prometheus.GaugeVec   // smoothed busy share of the serving instances, 0..1
	Backlog   *prometheus.GaugeVec   // connections waiting in the accept queue
	Backoff   *prometheus.GaugeVec   // 1 while restarts are backed off
	Held      *prometheus.GaugeVec   // 1 while held (no new instances)
	Halted    *prometheus.GaugeVec   // 1 while halted (no instances at all)
	Requests  *prometheus.CounterVec // reported requests, by outcome (ok, fault, readError, writeError)
	Faults    *prometheus.CounterVec // reported faults
	Duration  *prometheus.HistogramVec
	Starts    *prometheus.CounterVec // instances started
	Exits     *prometheus.CounterVec // instances ended, by reason
	Rejected  *prometheus.CounterVec // connections closed unserved (backoff, halt)

	Services  prometheus.Gauge
	Processes prometheus.Gauge
}

// New returns the metrics registered in a new registry, with the Go runtime
// and process collectors.
func New() *Metrics {
	svc := []string{"service"}
	gauge := func(name, help string) *prometheus.GaugeVec {
		return prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "pluton", Subsystem: "service", Name: name, Help: help}, svc)
	}
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "pluton", Subsystem: "service", Name: name, Help: help},
			append([]string{"service"}, labels...))
	}
	m := &Metrics{
		Registry:  prometheus.NewRegistry(),
		Instances: gauge("instances", "Live instances of the service, stopping ones included."),
		Busy:      gauge("busy_instances", "Instances handling a request."),
		Threads:   gauge("busy_threads", "Threads handling a request, over every instance (maximum-threads); equals busy_instances with one thread."),
		Occupancy: gauge("occupancy_ratio", "Smoothed share of time the serving instances are busy (0-1)."),
		Backlog:   gauge("backlog", "Connections waiting in the accept queue of the service's socket."),
		Backoff:   gauge("backoff", "1 while restarts are backed off after an abnormal exit."),
		Held:      gauge("held", "1 while the service is held: no new instances."),
		Halted:    gauge("halted", "1 while the service is halted: no instances."),
		Requests:  counter("requests_total", "Requests reported by the instances, by outcome.", "outcome"),
		Faults:    counter("faults_total", "Faults reported by the instances."),
		Duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: "pluton", Subsystem: "service",
			Name: "request_duration_seconds", Help: "Request durations reported by the instances.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}}, svc),
		Starts:   counter("starts_total", "Instances started."),
		Exits:    counter("exits_total", "Instances ended, by reason (restarts by reason).", "reason"),
		Rejected: counter("rejected_total", "Connections closed unserved while backed off or halted."),
		Services: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "pluton", Subsystem: "manager", Name: "services",
			Help: "Services loaded."}),
		Processes: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "pluton", Subsystem: "manager", Name: "processes",
			Help: "Instances alive, all services."}),
	}
	m.Registry.MustRegister(m.Instances, m.Busy, m.Threads, m.Occupancy, m.Backlog, m.Backoff, m.Held, m.Halted,
		m.Requests, m.Faults, m.Duration, m.Starts, m.Exits, m.Rejected, m.Services, m.Processes,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Forget deletes every series of a service that is gone.
func (m *Metrics) Forget(service string) {
	l := prometheus.Labels{"service": service}
	for _, g := range []*prometheus.GaugeVec{m.Instances, m.Busy, m.Threads, m.Occupancy, m.Backlog, m.Backoff, m.Held, m.Halted} {
		g.DeletePartialMatch(l)
	}
	for _, c := range []*prometheus.CounterVec{m.Requests, m.Faults, m.Starts, m.Exits, m.Rejected} {
		c.DeletePartialMatch(l)
	}
	m.Duration.DeletePartialMatch(l)
}

// Service holds the series of one service that the manager updates on every
// sample and every report, looked up once rather than by label each time.
// The gauges exist from the start; the request series appear with the first
// report of their outcome, as with WithLabelValues.
type Service struct {
	m   *Metrics
	key string

	Instances, Busy, Threads, Occupancy, Backlog, Backoff, Held, Halted prometheus.Gauge

	requests [stats.OK + 1]prometheus.Counter // by outcome
	duration prometheus.Observer
}

// Service returns the series of the service key.
func (m *Metrics) Service(key string) *Service {
	return &Service{m: m, key: key,
		Instances: m.Instances.WithLabelValues(key), Busy: m.Busy.WithLabelValues(key), Threads: m.Threads.WithLabelValues(key),
		Occupancy: m.Occupancy.WithLabelValues(key), Backlog: m.Backlog.WithLabelValues(key),
		Backoff: m.Backoff.WithLabelValues(key), Held: m.Held.WithLabelValues(key), Halted: m.Halted.WithLabelValues(key)}
}

var outcomeLabels = [...]string{stats.ReadError: "readError", stats.WriteError: "writeError", stats.Faulted: "fault", stats.OK: "ok"}

// Requests returns the request counter of an outcome, which must be valid
// (stats.ReadError to stats.OK).
func (s *Service) Requests(o stats.Outcome) prometheus.Counter {
	if s.requests[o] == nil {
		s.requests[o] = s.m.Requests.WithLabelValues(s.key, outcomeLabels[o])
	}
	return s.requests[o]
}

// Duration returns the observer of the request durations, in seconds.
func (s *Service) Duration() prometheus.Observer {
	if s.duration == nil {
		s.duration = s.m.Duration.WithLabelValues(s.key)
	}
	return s.duration
}
