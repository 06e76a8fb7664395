// Package status serves the manager's status and control API over HTTP on a
// loopback TCP address or a Unix socket: a status page for a person (GET /),
// JSON snapshots of the services, their instances and the manager,
// Prometheus metrics, and hold/halt/resume of a service, refused to other
// web sites (docs/status.md).
package status

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/pluton-go/pluton/go/manager/pool"
)

// ErrNotFound is returned by Controller.Control for an unknown service.
var ErrNotFound = errors.New("no such service")

// ErrNotLoopback is returned by Listen for an address that is not loopback.
var ErrNotLoopback = errors.New("not a loopback address")

// Stats is the manager-wide snapshot of GET /stats.
type Stats struct {
	Version         string         `json:"version"`
	PID             int            `json:"pid"`
	UptimeSeconds   float64        `json:"uptimeSeconds"`
	CPUPercent      float64        `json:"cpuPercent"`
	MaxRSSMB        int64          `json:"maxRSSMB"`
	Services        int            `json:"services"`
	Processes       int            `json:"processes"`
	Children        int            `json:"children"`
	ZombieServices  int            `json:"zombieServices"`
	MaxProcesses    int            `json:"maxProcesses"`
	IntervalStarted int            `json:"intervalStarted"`
	IntervalReqs    int            `json:"intervalRequests"`
	IntervalExits   map[string]int `json:"intervalExits"`
	ShuttingDown    bool           `json:"shuttingDown"`
}

// Controller is what the server asks the manager. Every method must be safe
// to call from the server's goroutines.
type Controller interface {
	Services(ctx context.Context) ([]pool.ServiceStatus, error)
	Processes(ctx context.Context) ([]pool.ProcessStatus, error)
	Stats(ctx context.Context) (Stats, error)
	// Control applies "hold", "halt" or "resume" to the service key.
	Control(ctx context.Context, key, action string) (pool.ServiceStatus, error)
}

// Listen opens the status address: a path containing '/' is a Unix socket
// (mode 0600; a stale socket file is replaced); otherwise host:port, :port or
// a bare port, on loopback only (an empty host is 127.0.0.1).
func Listen(addr string) (net.Listener, error) {
	if strings.Contains(addr, "/") {
		if fi, err := os.Lstat(addr); err == nil && fi.Mode()&os.ModeSocket != 0 {
			_ = os.Remove(addr)
		}
		l, err := net.Listen("unix", addr)
		if err != nil {
			return nil, err
		}
		_ = os.Chmod(addr, 0o600)
		return l, nil
	}
	hostport, err := LoopbackAddress(addr)
	if err != nil {
		return nil, err
	}
	return net.Listen("tcp", hostport)
}

// LoopbackAddress normalizes a TCP status address and checks that every
// address its host resolves to is loopback.
func LoopbackAddress(addr string) (string, error) {
	host, port := "", addr
	if strings.Contains(addr, ":") {
		var err error
		if host, port, err = net.SplitHostPort(addr); err != nil {
			return "", err
		}
	} else if _, err := strconv.Atoi(addr); err != nil {
		host, port = addr, "0"
	}
	if port == "" {
		port = "0"
	}
	if host == "" {
		host = "127.0.0.1"
	}
	var ips []net.IP
	if ip := net.ParseIP(host); ip != nil {
		ips = []net.IP{ip}
	} else {
		addrs, err := net.LookupIP(host)
		if err != nil {
			return "", err
		}
		ips = addrs
	}
	for _, ip := range ips {
		if !ip.IsLoopback() {
			return "", fmt.Errorf("status address %s: %s is %w", addr, ip, ErrNotLoopback)
		}
	}
	return net.JoinHostPort(ips[0].String(), port), nil
}

// Handler returns the API's HTTP handler. Requests that change state are
// refused unless they pass the cross-site rule of crossSiteGuard.
func Handler(c Controller, reg *prometheus.Registry) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /services", func(w http.ResponseWriter, r *http.Request) {
		s, err := c.Services(r.Context())
		reply(w, map[string]any{"services": withControls(r.Context(), c, s)}, err)
	})
	mux.HandleFunc("GET /services/{key}", func(w http.ResponseWriter, r *http.Request) {
		all, err := c.Services(r.Context())
		if err != nil {
			reply(w, nil, err)
			return
		}
		for _, s := range all {
			if s.Key == r.PathValue("key") && s.Phase == "running" {
				reply(w, withControls(r.Context(), c, []pool.ServiceStatus{s})[0], nil)
				return
			}
		}
		reply(w, nil, ErrNotFound)
	})
	mux.HandleFunc("POST /services/{key}/{action}", func(w http.ResponseWriter, r *http.Request) {
		action := r.PathValue("action")
		switch action {
		case "hold", "halt", "resume":
		default:
			http.Error(w, "unknown action "+strconv.Quote(action)+": want hold, halt or resume", http.StatusNotFound)
			return
		}
		ctx := WithActor(r.Context(), requestActor(r))
		s, err := c.Control(ctx, r.PathValue("key"), action)
		if err != nil {
			reply(w, s, err)
			return
		}
		reply(w, withControls(ctx, c, []pool.ServiceStatus{s})[0], nil)
	})
	mux.HandleFunc("GET /processes", func(w http.ResponseWriter, r *http.Request) {
		p, err := c.Processes(r.Context())
		reply(w, map[string]any{"processes": nonNil(p)}, err)
	})
	mux.HandleFunc("GET /stats", func(w http.ResponseWriter, r *http.Request) {
		s, err := c.Stats(r.Context())
		reply(w, s, err)
	})
	mux.HandleFunc("GET /remote", func(w http.ResponseWriter, r *http.Request) {
		// NATS export and job classes (docs/remote.md); null without -N.
		var v any
		if rc, ok := c.(interface{ RemoteStatus(context.Context) any }); ok {
			v = rc.RemoteStatus(r.Context())
		}
		reply(w, map[string]any{"remote": v}, nil)
	})
	handleLogging(c, mux) // GET and POST /logging (logging.go)
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	ov := &overviewer{c: c, reg: reg}
	mux.HandleFunc("GET /overview", func(w http.ResponseWriter, r *http.Request) {
		o, err := ov.overview(r.Context())
		reply(w, o, err)
	})
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		o, err := ov.overview(r.Context())
		if err != nil || r.URL.Query().Has("json") {
			reply(w, o, err)
			return
		}
		servePage(w, o, remoteForPage(r.Context(), c))
	})
	return crossSiteGuard(mux)
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func reply(w http.ResponseWriter, v any, err error) {
	if err != nil {
		code := http.StatusServiceUnavailable
		if errors.Is(err, ErrNotFound) {
			code = http.StatusNotFound
		}
		replyCode(w, code, map[string]string{"error": err.Error()})
		return
	}
	replyCode(w, http.StatusOK, v)
}

// replyCode writes v as indented JSON with the status code.
func replyCode(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// Server is a running status server.
type Server struct {
	srv *http.Server
	l   net.Listener
}

// Serve starts serving h on l.
func Serve(l net.Listener, h http.Handler) *Server {
	s := &Server{l: l, srv: &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}}
	go func() { _ = s.srv.Serve(l) }()
	return s
}

// Addr returns the address served.
func (s *Server) Addr() net.Addr { return s.l.Addr() }

// Close stops the server (and removes a Unix socket).
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	err := s.srv.Shutdown(ctx)
	if ua, ok := s.l.Addr().(*net.UnixAddr); ok {
		_ = os.Remove(ua.Name)
	}
	return err
}
