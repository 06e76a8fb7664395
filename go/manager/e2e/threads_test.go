package e2e

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pluton-go/pluton/go/manager/pool"
	"github.com/pluton-go/pluton/go/protocol"
	"github.com/pluton-go/pluton/go/stats"
	"github.com/pluton-go/pluton/go/testbin"
)

// callNamed sends one request to key and returns the response, the
// service's name (the s field) included.
func callNamed(path, key, data string, timeout time.Duration, ctx ...string) (protocol.Response, error) {
	var resp protocol.Response
	conn, err := net.DialTimeout("unix", path, timeout)
	if err != nil {
		return resp, err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(timeout))
	req := protocol.Request{ID: 1, ClientName: "e2e:threads", ServiceKey: key, TimeoutMS: timeout.Milliseconds(), Data: []byte(data)}
	for i := 0; i+1 < len(ctx); i += 2 {
		req.Context = protocol.AppendContext(req.Context, ctx[i], ctx[i+1])
	}
	if _, err := conn.Write(protocol.AppendRequest(nil, &req)); err != nil {
		return resp, err
	}
	if err := protocol.NewResponseDecoder(conn).ReadResponse(&resp); err != nil {
		return resp, err
	}
	if resp.FaultCode != 0 {
		return resp, fmt.Errorf("fault %d: %s", resp.FaultCode, resp.FaultText)
	}
	return resp, nil
}

// processes fetches GET /processes.
func processes(t *testing.T, m *manager) []pool.ProcessStatus {
	var body struct {
		Processes []pool.ProcessStatus `json:"processes"`
	}
	require.NoError(t, json.Unmarshal([]byte(m.get("/processes")), &body))
	return body.Processes
}

// busyThreads returns the busy threads of the instance of key, -1 if none.
func busyThreads(t *testing.T, m *manager, key string) int {
	for _, p := range processes(t, m) {
		if p.Service == key {
			return p.BusyThreads
		}
	}
	return -1
}

// TestThreadsServeAtOnce: one instance of the Go echo service with
// maximum-threads 4 serves four slow requests at once, each in its own
// thread (the response's s field is echo:<pid>/<thread>), and the status
// API shows its four busy threads meanwhile.
func TestThreadsServeAtOnce(t *testing.T) {
	t.Parallel()
	const key = "test.threads.0.raw"
	const threads = 4
	const sleep = 3 * time.Second
	m := startManager(t, map[string]string{key: echoConfig(t,
		"maximum-threads 4\nminimum-processes 1\nmaximum-processes 1\nprestart-processes true\n")})
	m.waitFor("Process Start: "+key+"/0-", 10*time.Second)
	got, err := m.call(key, "warm", 10*time.Second)
	require.NoError(t, err)
	require.Equal(t, "warm", got)

	type result struct {
		resp protocol.Response
		err  error
		took time.Duration
	}
	results := make(chan result, threads)
	start := time.Now()
	for i := range threads {
		go func() {
			t0 := time.Now()
			resp, err := callNamed(m.socket(key), key, "slow "+strconv.Itoa(i), 20*time.Second,
				"echo.sleepMS", strconv.Itoa(int(sleep/time.Millisecond)))
			results <- result{resp, err, time.Since(t0)}
		}()
		// The next request is sent once this one is being served: a thread
		// that is busy accepts no connection, so each request gets a
		// thread of its own (a connection accepted while a worker waits for
		// an incomplete packet could otherwise queue behind another,
		// docs/protocol.md §8 "Known limit").
		deadline := time.Now().Add(2 * time.Second)
		for busyThreads(t, m, key) < i+1 {
			require.True(t, time.Now().Before(deadline), "request %d not busy within 2 s", i)
			time.Sleep(10 * time.Millisecond)
		}
	}

	// All four at work: one busy instance, four busy threads.
	var inst pool.ProcessStatus
	for _, p := range processes(t, m) {
		if p.Service == key {
			inst = p
		}
	}
	assert.Equal(t, threads, inst.Threads)
	assert.Equal(t, threads, inst.BusyThreads)
	assert.Equal(t, "busy", inst.State)
	require.Len(t, inst.Serving, threads)
	for i, ts := range inst.Serving {
		assert.Equal(t, i, ts.Thread)
		assert.Equal(t, "e2e:threads", ts.ClientName)
	}
	svc := servicesStatus(t, m)[key]
	require.NotNil(t, svc)
	assert.EqualValues(t, threads, svc["maximumThreads"])
	assert.EqualValues(t, 1, svc["instances"])
	metric := `pluton_service_busy_threads{service="` + key + `"} 4`
	assert.Eventually(t, func() bool { return strings.Contains(m.get("/metrics"), metric) }, time.Second, 50*time.Millisecond,
		"the metrics count the busy threads: %s", metric)

	names := map[string]bool{}
	pids := map[string]bool{}
	re := regexp.MustCompile(`^echo:(\d+)/([0-3])$`)
	for range threads {
		r := <-results
		require.NoError(t, r.err)
		assert.Contains(t, string(r.resp.Data), "slow ")
		assert.GreaterOrEqual(t, r.took, sleep, "each request slept")
		mm := re.FindStringSubmatch(r.resp.ServiceName)
		require.NotNil(t, mm, "service name %q", r.resp.ServiceName)
		names[r.resp.ServiceName] = true
		pids[mm[1]] = true
	}
	wall := time.Since(start)
	t.Logf("MEASURED: %d requests of %s on one instance of %d threads in %s", threads, sleep, threads, wall.Round(time.Millisecond))
	assert.Less(t, wall, 2*sleep, "the requests overlapped")
	assert.Len(t, names, threads, "each request in its own thread: %v", names)
	assert.Len(t, pids, 1, "one instance")
	assert.Len(t, m.Grep("Process Start: "+key), 1, "no second instance")
	m.stop()
}

// TestThreadsReload: a reload that changes maximum-threads replaces the
// service with a new stats segment of maximum-processes × maximum-threads
// slots, and the new instances run that many threads.
func TestThreadsReload(t *testing.T) {
	t.Parallel()
	const key = "test.rethread.0.raw"
	config := func(threads int) string {
		return echoConfig(t, fmt.Sprintf("maximum-threads %d\nmaximum-processes 2\nminimum-processes 1\nprestart-processes true\n", threads))
	}
	m := startManager(t, map[string]string{key: config(2)})
	segment := func() stats.HeaderConfig {
		b, err := os.ReadFile(filepath.Join(m.R, key+".mmap"))
		require.NoError(t, err)
		seg := stats.Segment(b)
		require.NoError(t, seg.Validate())
		return seg.Header()
	}
	resp, err := callNamed(m.socket(key), key, "two", 10*time.Second)
	require.NoError(t, err)
	assert.Regexp(t, `^echo:\d+/[01]$`, resp.ServiceName)
	h := segment()
	assert.Equal(t, 4, h.Slots)
	assert.Equal(t, 2, h.ThreadsPerInstance)

	m.writeConfig(key, config(3))
	m.signal(syscall.SIGHUP)
	m.waitFor("Config Scan Complete: New=0 Retained=0 Replaced=1 Removed=0", 10*time.Second)
	m.waitFor("Service Shutdown: "+key+" config changed", 10*time.Second)
	m.waitFor("Child Exit: normal "+key+"/", 10*time.Second) // the old version's instance
	h = segment()
	assert.Equal(t, 6, h.Slots)
	assert.Equal(t, 3, h.ThreadsPerInstance)
	assert.EqualValues(t, 3, servicesStatus(t, m)[key]["maximumThreads"])
	resp, err = callNamed(m.socket(key), key, "three", 10*time.Second)
	require.NoError(t, err)
	assert.Regexp(t, `^echo:\d+/[012]$`, resp.ServiceName)
	for _, p := range processes(t, m) {
		if p.Service == key {
			assert.Equal(t, 3, p.Threads)
			assert.Zero(t, p.Slot%3, "an instance's slot is its first thread slot")
		}
	}
	m.stop()
}

// TestThreadsRefusedByScriptingSDKs: the Python, PHP and Perl SDKs serve
// one request at a time, so a reload to maximum-threads 2 is refused by
// the new instances at start (fault -104 with a line that says what to
// change, in the manager's log), the rollout fails, and the running
// version goes on serving.
func TestThreadsRefusedByScriptingSDKs(t *testing.T) {
	t.Parallel()
	root := testbin.RepoRoot(t)
	for _, sdk := range []struct{ name, language, interpreter, program string }{
		{"python", "Python", "python3", filepath.Join(root, "sdk/python/examples/echo.py")},
		{"php", "PHP", "php", filepath.Join(root, "sdk/php/examples/echo.php")},
		{"perl", "Perl", "perl", filepath.Join(root, "sdk/perl/examples/echo.pl")},
	} {
		t.Run(sdk.name, func(t *testing.T) {
			t.Parallel()
			interpreter, err := exec.LookPath(sdk.interpreter)
			if err != nil {
				t.Skipf("%s is not installed", sdk.interpreter)
			}
			key := "thr." + sdk.name + ".0.raw"
			config := func(threads int) string {
				return fmt.Sprintf("exec %s\nmaximum-threads %d\nmaximum-processes 2\nprestart-processes true\n",
					join([]string{interpreter, sdk.program}), threads)
			}
			m := startManager(t, map[string]string{key: config(1)})
			defer m.stop()
			got, err := m.call(key, "before", 20*time.Second)
			require.NoError(t, err)
			require.Equal(t, "before", got)

			m.writeConfig(key, config(2))
			m.signal(syscall.SIGHUP)
			m.waitFor("Service Error: rollout of "+key+" failed", 30*time.Second)
			m.waitFor("maximum-threads 2 is not supported by the "+sdk.language+
				" SDK: an instance serves one request at a time; set maximum-threads 1 and raise maximum-processes", 5*time.Second)
			got, err = m.call(key, "after", 20*time.Second)
			require.NoError(t, err, "the running version still serves")
			assert.Equal(t, "after", got)
		})
	}
}
