package status

import (
	"io"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pluton-go/pluton/go/manager/metrics"
	"github.com/pluton-go/pluton/go/manager/pool"
)

// TestThreadTexts: instances of several threads (maximum-threads) show
// their busy threads; with one thread the texts are as before.
func TestThreadTexts(t *testing.T) {
	for _, tt := range []struct {
		p    pool.ProcessStatus
		want string
	}{
		{pool.ProcessStatus{State: "busy"}, "busy"},
		{pool.ProcessStatus{State: "busy", Threads: 1, BusyThreads: 1}, "busy"},
		{pool.ProcessStatus{State: "busy", Threads: 4, BusyThreads: 2}, "busy 2/4 threads"},
		{pool.ProcessStatus{State: "idle", Threads: 4}, "idle 0/4 threads"},
		{pool.ProcessStatus{State: "busy", Threads: 8, BusyThreads: 3, Stopping: "unresponsive"}, "busy 3/8 threads (stopping: unresponsive)"},
		{pool.ProcessStatus{State: "idle", Threads: 2, Retiring: true}, "idle 0/2 threads (retiring)"},
	} {
		assert.Equal(t, tt.want, ProcessState(tt.p))
	}

	for _, tt := range []struct {
		s    pool.ServiceStatus
		want string
	}{
		{pool.ServiceStatus{Instances: 3, MaximumProcesses: 10}, "3/10"},
		{pool.ServiceStatus{Instances: 3, MaximumProcesses: 10, MaximumThreads: 1}, "3/10"},
		{pool.ServiceStatus{Instances: 1, MaximumProcesses: 2, MaximumThreads: 16}, "1/2×16"},
	} {
		assert.Equal(t, tt.want, InstancesText(tt.s))
	}

	at := time.Date(2026, 12, 7, 12, 0, 0, 0, time.Local)
	for _, tt := range []struct {
		c    pool.CrashStatus
		want string
	}{
		{pool.CrashStatus{LogID: "k/0-7", PID: 7, RequestID: 17, ClientName: "plSend:1", Time: at},
			"last death while busy: k/0-7 (pid 7) while serving request 17 from plSend:1 at 12:00:00"},
		{pool.CrashStatus{LogID: "k/4-7", PID: 7, RequestID: 17, Thread: 2, Threads: 4, Answered: true, Time: at},
			"last death while busy: k/4-7 (pid 7) after answering request 17 from an unnamed client in thread 2 at 12:00:00"},
		{pool.CrashStatus{LogID: "k/4-7", PID: 7, RequestID: 17, Thread: 0, Threads: 4, Time: at,
			OtherThreads: []pool.ThreadRequest{{Thread: 3}}},
			"last death while busy: k/4-7 (pid 7) while serving request 17 from an unnamed client in thread 0 at 12:00:00 (and 1 other busy thread)"},
		{pool.CrashStatus{LogID: "k/4-7", PID: 7, RequestID: 17, Thread: 1, Threads: 4, Time: at,
			OtherThreads: []pool.ThreadRequest{{Thread: 2}, {Thread: 3}}},
			"last death while busy: k/4-7 (pid 7) while serving request 17 from an unnamed client in thread 1 at 12:00:00 (and 2 other busy threads)"},
	} {
		assert.Equal(t, tt.want, CrashText(&tt.c))
	}
}

// TestPageThreads: the page renders a threaded service's instances, an
// instance's busy threads and the thread of its last death while busy.
func TestPageThreads(t *testing.T) {
	t.Parallel()
	f := newFake()
	f.services[0].Instances, f.services[0].MaximumThreads = 1, 4
	f.services[0].LastCrash = &pool.CrashStatus{LogID: testKey + "/4-77", PID: 77, RequestID: 17, ClientName: "plSend:4242",
		Thread: 3, Threads: 4, OtherThreads: []pool.ThreadRequest{{Thread: 1, RequestID: 18}}}
	f.procs = []pool.ProcessStatus{{Service: testKey, PID: 4242, Slot: 4, State: "busy", Threads: 4, BusyThreads: 2,
		Serving: []pool.ThreadStatus{{Thread: 0, RequestID: 5}, {Thread: 2, RequestID: 6}}}}
	srv := httptest.NewServer(Handler(f, metrics.New().Registry))
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL + "/")
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	page := string(b)
	for _, want := range []string{
		`<td data-field="instances">1/2×4</td>`,
		`<td class="l" data-field="state">busy 2/4 threads</td>`,
		`<td>4</td>`,
		`data-note="crash">last death while busy: ` + testKey + `/4-77 (pid 77) while serving request 17 from plSend:4242 in thread 3 at `,
		` (and 1 other busy thread)</div>`,
	} {
		assert.Contains(t, page, want)
	}
	// The page's script writes the same texts when it redraws.
	for _, want := range []string{
		`function instances(s) { return s.instances + "/" + s.maximumProcesses + (s.maximumThreads > 1 ? "×" + s.maximumThreads : ""); }`,
		`if (p.threads > 1) t += " " + p.busyThreads + "/" + p.threads + " threads";`,
		`(c.threads > 1 ? " in thread " + c.thread : "")`,
	} {
		assert.Contains(t, page, want)
	}
}
