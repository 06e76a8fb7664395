package main

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pluton-go/pluton/go/manager/pool"
	"github.com/pluton-go/pluton/go/manager/status"
)

// fakeManager is a status.Controller with three services.
type fakeManager struct {
	mu       sync.Mutex
	services []pool.ServiceStatus
	controls []string
}

func newFakeManager() *fakeManager {
	return &fakeManager{services: []pool.ServiceStatus{
		{Key: "b.busy.0.raw", Phase: "running", Busy: 3, Instances: 3, MaximumProcesses: 5, MaximumThreads: 4, BusyThreads: 9, Requests: 10},
		{Key: "a.quiet.0.raw", Phase: "running", Idle: 1, Instances: 1, MaximumProcesses: 2, Requests: 500},
		{Key: "c.crash.0.raw", Phase: "running", MaximumProcesses: 1,
			Backoff:     &pool.BackoffStatus{Reason: "Abnormal Exit Code", RemainingSeconds: 41.2},
			Unavailable: "c.crash.0.raw: exec backoff 42 s after 1 crash",
			Rollout:     "rollout of c.crash.0.raw failed: exec /nope: no such file or directory",
			LastAbnormalExit: &pool.ExitStatus{LogID: "c.crash.0.raw/0-77", PID: 77, Status: "exit(1)", UptimeSeconds: 1,
				StderrTail: []string{"line 1", "line 2", "line 3", "line 4", "line 5", "line 6", "ValueError: boom"}},
			LastCrash: &pool.CrashStatus{LogID: "c.crash.0.raw/0-70", PID: 70, RequestID: 17, ClientName: "plSend:4242"}},
		{Key: "a.quiet.0.raw", Phase: "stopping"},
	}}
}

func (f *fakeManager) Services(context.Context) ([]pool.ServiceStatus, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]pool.ServiceStatus(nil), f.services...), nil
}

func (f *fakeManager) Processes(context.Context) ([]pool.ProcessStatus, error) {
	return []pool.ProcessStatus{
		{Service: "b.busy.0.raw", PID: 101, Slot: 1, State: "busy", UptimeSeconds: 65, Requests: 4, StderrTail: []string{"old", "warning: slow disk"}},
		{Service: "b.busy.0.raw", PID: 100, Slot: 0, State: "busy", UptimeSeconds: 3725, Requests: 6, Stopping: "maximum requests"},
	}, nil
}

func (f *fakeManager) Stats(context.Context) (status.Stats, error) {
	return status.Stats{Version: "9.9.9", PID: 4242, Services: 3}, nil
}

func (f *fakeManager) Control(_ context.Context, key, action string) (pool.ServiceStatus, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, s := range f.services {
		if s.Key == key && s.Phase == "running" {
			f.controls = append(f.controls, action+" "+key)
			switch action {
			case "hold":
				f.services[i].Held = true
			case "halt":
				f.services[i].Halted = true
			case "resume":
				f.services[i].Held, f.services[i].Halted, f.services[i].Backoff = false, false, nil
			}
			return f.services[i], nil
		}
	}
	return pool.ServiceStatus{}, status.ErrNotFound
}

// serve starts the real status handler on loopback over the fake.
func serve(t *testing.T, f *fakeManager) (addr string) {
	t.Helper()
	srv := httptest.NewServer(status.Handler(f, prometheus.NewRegistry()))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// drive runs a model through messages, executing the commands it returns
// except ticks (one level deep: enough for fetch and control).
func drive(t *testing.T, m model, msgs ...tea.Msg) model {
	t.Helper()
	for _, msg := range msgs {
		next, cmd := m.Update(msg)
		m = next.(model)
		m = runCmd(t, m, cmd)
	}
	return m
}

func runCmd(t *testing.T, m model, cmd tea.Cmd) model {
	t.Helper()
	if cmd == nil {
		return m
	}
	done := make(chan tea.Msg, 1)
	go func() { done <- cmd() }()
	select {
	case msg := <-done:
		switch msg := msg.(type) {
		case overviewMsg, controlMsg:
			next, cmd := m.Update(msg)
			m = next.(model)
			if _, isControl := msg.(controlMsg); isControl {
				m = runCmd(t, m, cmd) // the refresh after a control
			}
		case tea.QuitMsg:
			m.message = "quit"
		}
	case <-time.After(50 * time.Millisecond): // a tick: not waited for
	}
	return m
}

func key(k string) tea.KeyMsg {
	switch k {
	case "up":
		return tea.KeyMsg{Type: tea.KeyUp}
	case "down":
		return tea.KeyMsg{Type: tea.KeyDown}
	}
	return tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune(k)}
}

// rowKeys returns the service keys in the order shown.
func rowKeys(view string) []string {
	var keys []string
	for _, l := range strings.Split(view, "\n") {
		f := strings.Fields(strings.TrimPrefix(strings.TrimPrefix(l, "> "), "  "))
		if len(f) > 1 && strings.HasSuffix(f[0], ".raw") && !strings.HasSuffix(f[0], ":") {
			keys = append(keys, f[0])
		}
	}
	return keys
}

func TestModelShowsSortsAndControls(t *testing.T) {
	f := newFakeManager()
	a, err := newAPI(serve(t, f))
	require.NoError(t, err)
	m := newModel(a, "test", time.Second)
	m = runCmd(t, m, m.Init())
	require.True(t, m.have, "first overview: %v", m.err)

	v := m.render(false)
	assert.Contains(t, v, "manager pid 4242 9.9.9")
	assert.Equal(t, []string{"a.quiet.0.raw", "b.busy.0.raw", "c.crash.0.raw"}, rowKeys(v), "by key, running services only")
	assert.Contains(t, v, "> a.quiet.0.raw", "the first row is selected")
	assert.Contains(t, v, "backoff 42s")
	assert.Regexp(t, `b\.busy\.0\.raw .* 3/5×4 `, v, "INST shows the threads of each instance")
	assert.Regexp(t, `a\.quiet\.0\.raw .* 1/2 `, v, "one thread: no ×")

	// s cycles the sort column: STATE, then BUSY (largest first).
	m = drive(t, m, key("s"))
	assert.Contains(t, m.render(false), "STATEv")
	assert.Equal(t, []string{"c.crash.0.raw", "a.quiet.0.raw", "b.busy.0.raw"}, rowKeys(m.render(false)), "backoff < serving")
	m = drive(t, m, key("s"))
	v = m.render(false)
	assert.Contains(t, v, "BUSYv")
	assert.Contains(t, v, "s sort (BUSY, descending)")
	assert.Equal(t, []string{"b.busy.0.raw", "a.quiet.0.raw", "c.crash.0.raw"}, rowKeys(v))
	m = drive(t, m, key("S"))
	assert.Equal(t, []string{"c.crash.0.raw", "a.quiet.0.raw", "b.busy.0.raw"}, rowKeys(m.render(false)), "S reverses")
	assert.Contains(t, m.render(false), "BUSY^")

	// The selection follows the service, not the row.
	assert.Contains(t, m.render(false), "> a.quiet.0.raw")
	m = drive(t, m, key("down"))
	assert.Contains(t, m.render(false), "> b.busy.0.raw")
	v = m.render(false)
	assert.Contains(t, v, "b.busy.0.raw: serving")
	assert.Less(t, strings.Index(v, "      100    0 busy (stopping: maximum requests)"), strings.Index(v, "      101    1 busy"),
		"instances by slot:\n%s", v)
	assert.Contains(t, v, "1h02m")
	assert.Contains(t, v, "4       0     0.0s  warning: slow disk", "an instance's last stderr line")
	m = drive(t, m, key("down"), key("down"))
	assert.Contains(t, m.render(false), "> b.busy.0.raw", "the last row stays selected")
	m = drive(t, m, key("up"), key("k"))
	v = m.render(false)
	assert.Contains(t, v, "> c.crash.0.raw")
	for _, want := range []string{
		"c.crash.0.raw: backoff 42s,rollout failed: Abnormal Exit Code",
		"  rollout of c.crash.0.raw failed: exec /nope: no such file or directory",
		"  clients are answered: c.crash.0.raw: exec backoff 42 s after 1 crash",
		"  last abnormal exit: c.crash.0.raw/0-77 (pid 77) exit(1) after 1s, 0 requests, at ",
		"    | line 3\n", "    | ValueError: boom",
		"  last death while busy: c.crash.0.raw/0-70 (pid 70) while serving request 17 from plSend:4242 at ",
		"  no instances",
	} {
		assert.Contains(t, v, want)
	}
	assert.NotContains(t, v, "| line 2", "the last 5 stderr lines only")

	// h, H, r act on the selected service through the status API (which
	// refuses any request without the cross-site-safe headers).
	m = drive(t, m, key("j"), key("h"))
	assert.Equal(t, "hold a.quiet.0.raw: held", m.message)
	assert.Contains(t, m.render(false), "held")
	m = drive(t, m, key("H"))
	assert.Equal(t, "halt a.quiet.0.raw: halted,held", m.message)
	m = drive(t, m, key("r"))
	assert.Equal(t, "resume a.quiet.0.raw: serving", m.message)
	assert.Equal(t, []string{"hold a.quiet.0.raw", "halt a.quiet.0.raw", "resume a.quiet.0.raw"}, f.controls)

	m = drive(t, m, key("q"))
	assert.Equal(t, "quit", m.message)
}

func TestModelErrors(t *testing.T) {
	f := newFakeManager()
	a, err := newAPI(serve(t, f))
	require.NoError(t, err)
	m := newModel(a, "127.0.0.1:9", time.Second)
	m = drive(t, m, overviewMsg{err: errors.New("connection refused")})
	v := m.render(false)
	assert.Contains(t, v, "connection refused (retrying every 1s)")
	m = drive(t, m, key("h"))
	assert.Equal(t, "no service selected", m.message)

	ov, err := a.Overview(t.Context())
	require.NoError(t, err)
	m = drive(t, m, overviewMsg{ov: ov}, overviewMsg{err: errors.New("manager gone")})
	v = m.render(false)
	assert.Contains(t, v, "stale since")
	assert.Contains(t, v, "manager gone")
	assert.Contains(t, v, "a.quiet.0.raw", "the last data stays on screen")

	m = drive(t, m, controlMsg{key: "x.y.0.raw", action: "hold", err: errors.New("POST /services/x.y.0.raw/hold: 404: no such service")})
	assert.Equal(t, "hold x.y.0.raw failed: POST /services/x.y.0.raw/hold: 404: no such service", m.message)
}

func TestAPIRefusesBadAddresses(t *testing.T) {
	for addr, want := range map[string]string{
		"":             "no status address",
		"8.8.8.8:9990": "not a loopback address",
		"127.0.0.1":    "no port",
	} {
		_, err := newAPI(addr)
		require.Error(t, err, addr)
		assert.Contains(t, err.Error(), want, addr)
	}
	a, err := newAPI("9990")
	require.NoError(t, err)
	assert.Equal(t, "http://127.0.0.1:9990", a.base)
}

func TestRun(t *testing.T) {
	f := newFakeManager()
	addr := serve(t, f)
	for _, tc := range []struct {
		name   string
		args   []string
		env    string
		code   int
		stdout []string
		stderr []string
	}{
		{"help", []string{"-h"}, "", 0, []string{"Usage: plTop ", "Keys:"}, nil},
		{"bad option", []string{"-Z"}, "", 1, nil, []string{"plTop: invalid option -- 'Z'", "Usage: plTop "}},
		{"no address", nil, "", 1, nil, []string{"plTop: no status address: start plutonManager with -c ADDR", "Usage: plTop "}},
		{"bad interval", []string{"-c", addr, "-i", "0"}, "", 1, nil, []string{"Error: -i 0: want seconds between 0.1 and 3600"}},
		{"not loopback", []string{"-c", "10.1.2.3:9"}, "", 1, nil, []string{"Error: status address 10.1.2.3:9:", "not a loopback address"}},
		{"nobody there", []string{"-b", "-c", "127.0.0.1:1"}, "", 1, nil, []string{"Error: status API at 127.0.0.1:1:", "refused"}},
		{"batch", []string{"-b", "-c", addr}, "", 0, []string{"plTop " + addr + "  manager pid 4242", "> a.quiet.0.raw", "  b.busy.0.raw", "backoff 42s", "q quit"}, nil},
		{"batch from the environment", []string{"-b", "-i", "0.1"}, addr, 0, []string{"> a.quiet.0.raw"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("plutonStatus", tc.env)
			var out, errb bytes.Buffer
			code := run(tc.args, strings.NewReader(""), &out, &errb)
			assert.Equal(t, tc.code, code, "stdout:\n%s\nstderr:\n%s", out.String(), errb.String())
			for _, s := range tc.stdout {
				assert.Contains(t, out.String(), s)
			}
			for _, s := range tc.stderr {
				assert.Contains(t, errb.String(), s)
			}
			if tc.code != 0 {
				assert.Empty(t, out.String())
			} else {
				assert.Empty(t, errb.String())
			}
			assert.NotContains(t, out.String(), "\x1b[", "batch output is plain text")
		})
	}
}

// The batch screen has rates: a first look without a window is followed by
// a second.
func TestBatchHasRates(t *testing.T) {
	f := newFakeManager()
	addr := serve(t, f)
	var out, errb bytes.Buffer
	require.Equal(t, 0, run([]string{"-b", "-i", "0.2", "-c", addr}, strings.NewReader(""), &out, &errb), errb.String())
	row := ""
	for _, l := range strings.Split(out.String(), "\n") {
		if strings.Contains(l, "b.busy.0.raw ") && strings.Contains(l, "serving") {
			row = l
		}
	}
	cols := strings.Fields(row)
	require.Len(t, cols, 14, out.String())
	assert.Equal(t, "0.0", cols[8], "REQ/S over the window:\n%s", out.String())
}

func TestUnixSocketAddress(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "status.sock")
	l, err := net.Listen("unix", sock)
	require.NoError(t, err)
	f := newFakeManager()
	s := status.Serve(l, status.Handler(f, prometheus.NewRegistry()))
	defer s.Close()
	var out, errb bytes.Buffer
	require.Equal(t, 0, run([]string{"-b", "-c", sock}, strings.NewReader(""), &out, &errb), errb.String())
	assert.Contains(t, out.String(), "plTop "+sock)
	assert.Contains(t, out.String(), "c.crash.0.raw")
	_, err = os.Stat(sock)
	require.NoError(t, err)
}

func TestAPIBadReplies(t *testing.T) {
	for _, tc := range []struct {
		name string
		code int
		body string
		want string
	}{
		{"not JSON", 200, "<html>proxy</html>", "GET /overview: bad reply:"},
		{"error reply", 503, `{"error": "manager shutting down"}`, "GET /overview: 503: manager shutting down"},
		{"plain error", 404, "404 page not found\n", "GET /overview: 404: 404 page not found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tc.code)
				_, _ = w.Write([]byte(tc.body))
			}))
			defer srv.Close()
			a, err := newAPI(strings.TrimPrefix(srv.URL, "http://"))
			require.NoError(t, err)
			_, err = a.Overview(t.Context())
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}
