package pool

import (
	"bytes"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pluton-go/pluton/go/manager/config"
	"github.com/pluton-go/pluton/go/manager/logging"
	"github.com/pluton-go/pluton/go/manager/metrics"
	"github.com/pluton-go/pluton/go/protocol"
	"github.com/pluton-go/pluton/go/servicekey"
	"github.com/pluton-go/pluton/go/stats"
)

func newConfiguredService(t *testing.T, text string) *Service {
	t.Helper()
	key, err := servicekey.ParseConfigName("test.rel.0.raw")
	require.NoError(t, err)
	cfg, err := config.Parse(strings.NewReader(text), "test.rel.0.raw", key)
	require.NoError(t, err)
	env := &Env{Log: logging.New(&bytes.Buffer{}, 0), Metrics: metrics.New(), Counters: &Counters{}, RendezvousDir: t.TempDir()}
	s, err := New(cfg, env, time.Now())
	require.NoError(t, err)
	t.Cleanup(s.closeFiles)
	return s
}

func TestHeaderCarriesServiceLoopLimits(t *testing.T) {
	for _, tt := range []struct {
		name, text string
		want       stats.HeaderConfig
	}{
		{"defaults", "exec /bin/true\n", stats.HeaderConfig{MaximumRequestSize: 64 << 20,
			RequestReadTimeout: 5 * time.Second, MaximumPending: 64}},
		{"configured", "exec /bin/true\nmaximum-request-size 1K\nrequest-read-timeout 2\nmaximum-pending 3\n",
			stats.HeaderConfig{MaximumRequestSize: 1000, RequestReadTimeout: 2 * time.Second, MaximumPending: 3}},
		{"no limits", "exec /bin/true\nmaximum-request-size 0\nrequest-read-timeout 0\n",
			stats.HeaderConfig{MaximumPending: 64}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := newConfiguredService(t, tt.text).seg.Header()
			assert.Equal(t, tt.want.MaximumRequestSize, h.MaximumRequestSize)
			assert.Equal(t, tt.want.RequestReadTimeout, h.RequestReadTimeout)
			assert.Equal(t, tt.want.MaximumPending, h.MaximumPending)
			assert.Equal(t, 10, h.Slots)
		})
	}
}

func TestRequestScanner(t *testing.T) {
	full := protocol.AppendRequest(nil, &protocol.Request{ID: 77, ClientName: "c:1", ServiceKey: "a.b.0.raw",
		TimeoutMS: 10, Data: bytes.Repeat([]byte("x"), 5000)})
	for _, tt := range []struct {
		name     string
		in       []byte
		chunk    int
		max      int64
		done     bool
		id       int64
		client   string
		consumed bool
	}{
		{"whole packet", full, len(full), 1 << 20, true, 77, "c:1", true},
		{"byte by byte", full, 1, 1 << 20, true, 77, "c:1", true},
		{"incomplete", full[:len(full)-3], 7, 1 << 20, false, 77, "c:1", true},
		{"data over the limit", full, len(full), 4000, true, 77, "c:1", false},
		{"huge prefix", []byte("0Q,3b100,9999999999k"), 3, 1 << 30, true, 100, "", false},
		{"not a request", []byte("0A,3b100,"), 9, 1 << 20, true, 0, "", false},
		{"bad terminator", []byte("0Q,3b100;"), 9, 1 << 20, true, 0, "", false},
		{"silent", nil, 1, 1 << 20, false, 0, "", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var sc requestScanner
			done := false
			for i := 0; i < len(tt.in) && !done; i += tt.chunk {
				done = sc.feed(tt.in[i:min(i+tt.chunk, len(tt.in))], tt.max)
			}
			assert.Equal(t, tt.done, done)
			assert.Equal(t, tt.id, sc.id)
			assert.Equal(t, tt.client, sc.name)
		})
	}
}

func readResponse(t *testing.T, c net.Conn) protocol.Response {
	t.Helper()
	require.NoError(t, c.SetReadDeadline(time.Now().Add(5*time.Second)))
	var resp protocol.Response
	require.NoError(t, protocol.NewResponseDecoder(c).ReadResponse(&resp))
	return resp
}

func TestRejectorAnswersFault7(t *testing.T) {
	s := newConfiguredService(t, "exec /bin/true\nrequest-read-timeout 1\nmaximum-pending 2\nmaximum-request-size 100\n")
	var answered atomic.Int32
	r, err := startRejector(s.lfd, "test.rel.0.raw: halted", s.maxRequestSize(), time.Second, s.maxPending(),
		func() { answered.Add(1) })
	require.NoError(t, err)
	dial := func() net.Conn {
		c, err := net.Dial("unix", s.SocketPath)
		require.NoError(t, err)
		t.Cleanup(func() { c.Close() })
		return c
	}
	send := func(c net.Conn, req *protocol.Request) {
		_, err := c.Write(protocol.AppendRequest(nil, req))
		require.NoError(t, err)
	}

	// A complete request: fault 7 with the request's id and client name.
	c := dial()
	start := time.Now()
	send(c, &protocol.Request{ID: 5, ClientName: "t:1", ServiceKey: "test.rel.0.raw", Data: []byte("hi")})
	resp := readResponse(t, c)
	took := time.Since(start)
	assert.EqualValues(t, 7, resp.FaultCode)
	assert.Equal(t, "test.rel.0.raw: halted", resp.FaultText)
	assert.EqualValues(t, 5, resp.ID)
	assert.Equal(t, "t:1", resp.ClientName)
	assert.Contains(t, resp.ServiceName, "plutonManager:")
	assert.Less(t, took, time.Second)

	// The text follows the state.
	r.setText("test.rel.0.raw: exec backoff 3 s")
	c = dial()
	send(c, &protocol.Request{ID: 6, ServiceKey: "test.rel.0.raw", Data: bytes.Repeat([]byte("y"), 101)})
	resp = readResponse(t, c) // over maximum-request-size: answered at once
	assert.Equal(t, "test.rel.0.raw: exec backoff 3 s", resp.FaultText)
	assert.EqualValues(t, 6, resp.ID)

	// A silent connection is closed unanswered at its deadline.
	silent := dial()
	require.NoError(t, silent.SetReadDeadline(time.Now().Add(5*time.Second)))
	start = time.Now()
	n, err := silent.Read(make([]byte, 10))
	assert.Zero(t, n)
	assert.Error(t, err)
	assert.Less(t, time.Since(start), 3*time.Second)

	// With more pending connections than maximum-pending the oldest goes.
	old, mid, last := dial(), dial(), dial()
	require.NoError(t, old.SetReadDeadline(time.Now().Add(500*time.Millisecond)))
	n, err = old.Read(make([]byte, 10))
	assert.Zero(t, n)
	assert.NotErrorIs(t, err, nil)
	// stop answers what is pending with what is known.
	send(mid, &protocol.Request{ID: 9, ClientName: "m:1", ServiceKey: "test.rel.0.raw"}) // complete: answered now
	assert.EqualValues(t, 9, readResponse(t, mid).ID)
	_, _ = last.Write([]byte("0Q,2b42,"))
	time.Sleep(50 * time.Millisecond)
	r.stop()
	resp = readResponse(t, last)
	assert.EqualValues(t, 42, resp.ID)
	assert.EqualValues(t, 7, resp.FaultCode)
	assert.Equal(t, int32(4), answered.Load())
}

func TestUnavailableText(t *testing.T) {
	now := time.Now()
	s := newConfiguredService(t, "exec /bin/true\n")
	assert.Empty(t, s.Unavailable(now))
	s.backoffUntil = now.Add(11500 * time.Millisecond)
	s.crashes = 5
	s.lastCause = "last exit status 1; last stderr line: boom"
	assert.Equal(t, "test.rel.0.raw: exec backoff 12 s after 5 crashes; last exit status 1; last stderr line: boom", s.Unavailable(now))
	s.crashes = 1
	assert.Contains(t, s.Unavailable(now), "after 1 crash;")
	s.backoffUntil = time.Time{}
	s.throttleUntil = now.Add(time.Second)
	assert.Contains(t, s.Unavailable(now), "test.rel.0.raw: restarts throttled (exec-failure-backoff 0) after 1 crash")
	s.halted = true
	assert.Equal(t, "test.rel.0.raw: halted (POST /services/test.rel.0.raw/resume ends it)", s.Unavailable(now))
	s.halted, s.throttleUntil, s.held = false, time.Time{}, true
	assert.Contains(t, s.Unavailable(now), "held with no instance running")
	// While an instance is alive the manager does not answer.
	s.live = 1
	assert.Empty(t, s.Unavailable(now))
}

func TestLineLimiter(t *testing.T) {
	var out bytes.Buffer
	l := newLineLimiter(logging.NewWith(&out, logging.Options{Format: logging.Plain}))
	now := time.Unix(1000, 0)
	l.now = func() time.Time { return now }
	for i := range 12 {
		l.logf(0, "Child Exit: abnormal k/0 exit(1)", "Child Exit: abnormal k/0-%d exit(1)", 100+i)
	}
	l.logf(0, "other", "other line")
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	assert.Len(t, lines, repeatFree+1, out.String())
	now = now.Add(repeatWindow)
	l.flush(now)
	assert.Contains(t, out.String(), "Child Exit: abnormal k/0-111 exit(1) ... repeated 7 times\n")
	// Still repeating: held back, summarized each window.
	l.logf(0, "Child Exit: abnormal k/0 exit(1)", "Child Exit: abnormal k/0-%d exit(1)", 200)
	now = now.Add(repeatWindow)
	l.flush(now)
	assert.Contains(t, out.String(), "Child Exit: abnormal k/0-200 exit(1) ... repeated 1 times\n")
	// Quiet for a whole window: forgotten, logged in full again.
	now = now.Add(repeatWindow)
	l.flush(now)
	out.Reset()
	l.logf(0, "Child Exit: abnormal k/0 exit(1)", "Child Exit: abnormal k/0-%d exit(1)", 300)
	assert.Equal(t, "Child Exit: abnormal k/0-300 exit(1)\n", out.String())
}

func TestCrashDescription(t *testing.T) {
	assert.Equal(t, "/var/rec/in.4711.00017", recorderFile("/var/rec/", 4711, 17))
	assert.Equal(t, "rin.1.123456", recorderFile("r", 1, 123456))
	assert.Empty(t, recorderFile("", 1, 1))
	assert.Empty(t, recorderFile("/p/", 1, stats.NotRecording))
	c := &CrashStatus{RequestID: 17, ClientName: "plSend:4242", RecorderFile: "/var/rec/in.4711.00017"}
	assert.Equal(t, "; while serving request 17 from plSend:4242 (recorded in /var/rec/in.4711.00017)", c.describe())
	c = &CrashStatus{RequestID: 3, Answered: true}
	assert.Equal(t, "; after answering request 3 from an unnamed client", c.describe())
}

func TestLifeLinesSummarizedOnlyInACrashStreak(t *testing.T) {
	var out bytes.Buffer
	l := newLineLimiter(logging.NewWith(&out, logging.Options{Format: logging.Plain}))
	for i := range 12 { // a healthy scale-up or recycles: every line
		l.lifeLogf(0, "Process Start: k/0", "Process Start: k/%d-%d (1 of 20)", i, 100+i)
	}
	assert.Equal(t, 12, strings.Count(out.String(), "Process Start:"))
	out.Reset()
	l.streak.Store(true) // a crash loop: summarized
	for i := range 12 {
		l.lifeLogf(0, "Process Start: k/0", "Process Start: k/0-%d (1 of 20)", 200+i)
	}
	assert.Equal(t, repeatFree, strings.Count(out.String(), "Process Start:"))
}
