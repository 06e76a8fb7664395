package status

import (
	"encoding/json"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pluton-go/pluton/go/manager/metrics"
	"github.com/pluton-go/pluton/go/manager/pool"
	"github.com/pluton-go/pluton/go/stats"
)

func ptr(v float64) *float64 { return &v }

func TestQuantile(t *testing.T) {
	inf := math.Inf(1)
	for _, tc := range []struct {
		name string
		q    float64
		b    []bucket
		want *float64
	}{
		{"empty", 0.5, nil, nil},
		{"no observations", 0.5, []bucket{{0.1, 0}, {inf, 0}}, nil},
		{"all in the first bucket", 0.5, []bucket{{0.001, 10}, {0.01, 10}, {inf, 10}}, ptr(0.0005)},
		{"interpolated in the second bucket", 0.5, []bucket{{0.001, 0}, {0.002, 10}, {inf, 10}}, ptr(0.0015)},
		{"p99 spans buckets", 0.99, []bucket{{0.001, 90}, {0.011, 100}, {inf, 100}}, ptr(0.01)},
		{"rank in +Inf: highest finite bound", 0.99, []bucket{{0.001, 1}, {0.01, 1}, {inf, 100}}, ptr(0.01)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := quantile(tc.q, tc.b)
			if tc.want == nil {
				assert.Nil(t, got)
				return
			}
			require.NotNil(t, got)
			assert.InDelta(t, *tc.want, *got, 1e-12)
		})
	}
}

func TestSubtract(t *testing.T) {
	inf := math.Inf(1)
	cur := []bucket{{0.1, 5}, {inf, 7}}
	assert.Equal(t, []bucket{{0.1, 3}, {inf, 4}}, subtract(cur, []bucket{{0.1, 2}, {inf, 3}}))
	assert.Equal(t, cur, subtract(cur, nil), "no earlier sample: everything so far")
	assert.Equal(t, cur, subtract(cur, []bucket{{0.1, 9}, {inf, 9}}), "a counter that went back: the service was replaced")
}

func TestRememberWindow(t *testing.T) {
	o := &overviewer{}
	t0 := time.Unix(1000, 0)
	at := func(d time.Duration) sample { return sample{at: t0.Add(d)} }
	assert.Nil(t, o.remember(at(0)), "first look: no window")
	assert.Nil(t, o.remember(at(50*time.Millisecond)), "too short a window")
	b := o.remember(at(time.Second))
	require.NotNil(t, b)
	assert.Equal(t, t0, b.at)
	for i := 2; i <= 30; i++ {
		b = o.remember(at(time.Duration(i) * time.Second))
	}
	require.NotNil(t, b)
	assert.Equal(t, t0.Add(20*time.Second), b.at, "the oldest sample within 10 s")
	assert.LessOrEqual(t, len(o.samples), 12, "old samples are dropped")
	// A look after a long pause reaches back to the previous one.
	b = o.remember(at(100 * time.Second))
	require.NotNil(t, b)
	assert.Equal(t, t0.Add(30*time.Second), b.at)
}

func TestOverview(t *testing.T) {
	t.Parallel()
	m := metrics.New()
	f := newFake()
	f.services = append(f.services, pool.ServiceStatus{Key: "a.idle.0.raw", Phase: "running", MaximumProcesses: 1},
		pool.ServiceStatus{Key: testKey, Phase: "stopping"})
	f.procs = []pool.ProcessStatus{{Service: testKey, PID: 4242, State: "idle", Slot: 0}}
	sm := m.Service(testKey)
	for range 90 {
		sm.Duration().Observe(0.0003)
	}
	for range 10 {
		sm.Duration().Observe(0.2)
	}
	m.Exits.WithLabelValues(testKey, "abnormalExit").Add(3)
	m.Starts.WithLabelValues(testKey).Add(4)
	f.services[0].Requests = 100

	ov := &overviewer{c: f, reg: m.Registry}
	got, err := ov.overview(t.Context())
	require.NoError(t, err)
	require.Len(t, got.Services, 3)
	assert.Zero(t, got.WindowSeconds)
	idle, echo, stopping := got.Services[0], got.Services[1], got.Services[2]
	assert.Equal(t, "a.idle.0.raw", idle.Key, "sorted by key")
	assert.Nil(t, idle.P50Seconds, "no requests: no percentile")
	assert.Empty(t, idle.Processes)
	assert.Equal(t, "stopping", stopping.Phase)
	assert.Empty(t, stopping.Processes, "the instances belong to the running service of the key")

	assert.Nil(t, echo.RequestRate, "no window yet")
	require.NotNil(t, echo.P50Seconds)
	require.NotNil(t, echo.P99Seconds)
	assert.Greater(t, *echo.P50Seconds, 0.00025)
	assert.LessOrEqual(t, *echo.P50Seconds, 0.0005)
	assert.Greater(t, *echo.P99Seconds, 0.1)
	assert.LessOrEqual(t, *echo.P99Seconds, 0.25)
	assert.Equal(t, map[string]uint64{"abnormalExit": 3}, echo.Restarts)
	assert.Equal(t, uint64(4), echo.Starts)
	require.Len(t, echo.Processes, 1)
	assert.Equal(t, 4242, echo.Processes[0].PID)

	// A window: 50 more requests, all fast.
	time.Sleep(300 * time.Millisecond)
	for range 50 {
		sm.Duration().Observe(0.002)
	}
	f.mu.Lock()
	f.services[0].Requests = 150
	f.mu.Unlock()
	got, err = ov.overview(t.Context())
	require.NoError(t, err)
	echo = got.Services[1]
	assert.Greater(t, got.WindowSeconds, 0.25)
	require.NotNil(t, echo.RequestRate)
	assert.InDelta(t, 50/got.WindowSeconds, *echo.RequestRate, 1e-9)
	require.NotNil(t, echo.P99Seconds)
	assert.Greater(t, *echo.P99Seconds, 0.001, "the window holds only the new requests")
	assert.LessOrEqual(t, *echo.P99Seconds, 0.0025)
}

func TestOverviewEndpointsAndPage(t *testing.T) {
	t.Parallel()
	m := metrics.New()
	f := newFake()
	f.services[0].Busy, f.services[0].Idle, f.services[0].Instances = 1, 2, 3
	f.services[0].Backoff = &pool.BackoffStatus{Reason: "exit(1)", RemainingSeconds: 12}
	f.services[0].Rollout = "rollout of " + testKey + " failed: exec /nope: no such file or directory"
	f.services[0].Unavailable = testKey + ": exec backoff 12 s after 1 crash"
	f.services[0].LastAbnormalExit = &pool.ExitStatus{LogID: testKey + "/0-77", PID: 77, Status: "exit(3)", UptimeSeconds: 2,
		Requests: 5, Reasons: "Abnormal Exit Code", StderrTail: []string{"Traceback (most recent call last):", "<script>alert(1)</script>"}}
	f.services[0].LastCrash = &pool.CrashStatus{LogID: testKey + "/0-77", PID: 77, RequestID: 17, ClientName: "plSend:4242"}
	f.procs = []pool.ProcessStatus{{Service: testKey, PID: 4242, State: "busy", UptimeSeconds: 3725, Requests: 7,
		StderrTail: []string{"warning: disk & space"}}}
	m.Service(testKey).Requests(stats.OK).Add(1)
	srv := httptest.NewServer(Handler(f, m.Registry))
	defer srv.Close()

	for _, path := range []string{"/overview", "/?json"} {
		resp, err := srv.Client().Get(srv.URL + path)
		require.NoError(t, err)
		var ov Overview
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&ov), path)
		resp.Body.Close()
		assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
		require.Len(t, ov.Services, 1, path)
		assert.Equal(t, testKey, ov.Services[0].Key)
		assert.Equal(t, 3, ov.Services[0].Instances)
		assert.Equal(t, "test", ov.Manager.Version)
	}

	resp, err := srv.Client().Get(srv.URL + "/")
	require.NoError(t, err)
	defer resp.Body.Close()
	var b strings.Builder
	_, err = io.Copy(&b, resp.Body)
	require.NoError(t, err)
	page := b.String()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "text/html; charset=utf-8", resp.Header.Get("Content-Type"))
	csp := resp.Header.Get("Content-Security-Policy")
	assert.Contains(t, csp, "frame-ancestors 'none'")
	assert.Contains(t, csp, "connect-src 'self'")
	assert.NotContains(t, csp, "unsafe-inline")
	assert.Equal(t, "DENY", resp.Header.Get("X-Frame-Options"))
	for _, want := range []string{
		`data-key="` + testKey + `"`, `<td data-field="busy">1</td>`, `<td data-field="idle">2</td>`,
		`<td data-field="instances">3/2</td>`, `backoff 12.0 s: exit(1)`, `data-action="hold"`,
		`data-action="halt"`, `data-action="resume"`, `<td data-field="pid">4242</td>`, `<td data-field="uptime">1h02m</td>`,
		`"Content-Type": "application/json"`, `setInterval(refresh, 2000)`,
		`<tr class="svc backoff" data-key="` + testKey + `"`, `backoff 12.0 s: exit(1), rollout failed`,
		`<tr class="note" data-key="` + testKey + `">`,
		`data-note="rollout">rollout of ` + testKey + ` failed: exec /nope: no such file or directory</div>`,
		`data-note="unavailable">clients are answered: ` + testKey + `: exec backoff 12 s after 1 crash</div>`,
		`data-note="exit">last abnormal exit: ` + testKey + `/0-77 (pid 77) exit(3) after 2s, 5 requests, at `,
		"<pre class=\"stderr\">Traceback (most recent call last):\n&lt;script&gt;alert(1)&lt;/script&gt;</pre>",
		`data-note="crash">last death while busy: ` + testKey + `/0-77 (pid 77) while serving request 17 from plSend:4242 at `,
		`<td class="l" data-field="stderr"><pre class="stderr">warning: disk &amp; space</pre></td>`,
	} {
		assert.Contains(t, page, want)
	}
	// No external assets: nothing loaded from anywhere but this server.
	assert.NotContains(t, page, "<script>alert(1)", "stderr is escaped")
	for _, bad := range []string{"http://", "https://", "<link", "src="} {
		assert.NotContains(t, page, bad)
	}

	resp, err = srv.Client().Get(srv.URL + "/nothing-here")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)
}

func TestFormats(t *testing.T) {
	for in, want := range map[float64]string{0: "0s", 59.9: "59s", 65: "1m05s", 3725: "1h02m", 90000: "1d01h"} {
		assert.Equal(t, want, FormatUptime(in), in)
	}
	for _, tc := range []struct {
		in   *float64
		want string
	}{{nil, "–"}, {ptr(0.00025), "250 µs"}, {ptr(0.0125), "12.50 ms"}, {ptr(2.5), "2.50 s"}} {
		assert.Equal(t, tc.want, pageFormat.Seconds(tc.in))
	}
	term := Format{Missing: "-", NoRestarts: "none"}
	for _, tc := range []struct {
		in   *float64
		want string
	}{{nil, "-"}, {ptr(0.00025), "250µs"}, {ptr(0.0125), "12.50ms"}, {ptr(2.5), "2.50s"}} {
		assert.Equal(t, tc.want, term.Seconds(tc.in))
	}
	assert.Equal(t, "-", term.Rate(nil))
	assert.Equal(t, "12.3", term.Rate(ptr(12.34)))
	assert.Equal(t, "none", term.Restarts(map[string]uint64{}))
	assert.Equal(t, "–", pageFormat.Restarts(nil))
	assert.Equal(t, "abnormalExit=2 maxRequests=1", pageFormat.Restarts(map[string]uint64{"maxRequests": 1, "abnormalExit": 2}))
}
