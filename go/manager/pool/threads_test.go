package pool

import (
	"bytes"
	"encoding/json"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/pluton-go/pluton/go/manager/config"
	"github.com/pluton-go/pluton/go/manager/logging"
	"github.com/pluton-go/pluton/go/manager/metrics"
	"github.com/pluton-go/pluton/go/manager/process"
	"github.com/pluton-go/pluton/go/servicekey"
	"github.com/pluton-go/pluton/go/stats"
)

// TestCombine checks what the thread slots of one instance say of the
// instance (threads.go).
func TestCombine(t *testing.T) {
	const t0 = uint64(1_000_000_000)
	idle := func(since uint64, reqs uint64, id int64) stats.SlotStats {
		return stats.SlotStats{State: stats.StateIdle, SinceMicros: since, Requests: reqs, Responses: reqs,
			BusyMicros: 10 * reqs, RequestID: id, ClientName: "c" + string(rune('0'+id))}
	}
	busy := func(since uint64, reqs uint64, id int64) stats.SlotStats {
		st := idle(since, reqs, id)
		st.State, st.Responses = stats.StateBusy, reqs-1
		return st
	}
	first := stats.SlotStats{PID: 42, MaximumRequests: 900, ShutdownRequest: stats.IdleTimeout, ExitReason: stats.MaxRequests}
	withFirst := func(st stats.SlotStats) stats.SlotStats {
		st.PID, st.MaximumRequests, st.ShutdownRequest, st.ExitReason = first.PID, first.MaximumRequests, first.ShutdownRequest, first.ExitReason
		return st
	}
	tests := []struct {
		name    string
		threads []stats.SlotStats
		state   stats.State
		since   uint64
		reqs    uint64
		id      int64 // whose request identity the instance shows
	}{
		{"one thread: its slot", []stats.SlotStats{withFirst(busy(t0, 3, 7))}, stats.StateBusy, t0, 3, 7},
		{"all starting", []stats.SlotStats{first, {}, {}}, stats.StateStarting, 0, 0, 0},
		{"one thread idle: idle", []stats.SlotStats{first, {}, idle(t0, 0, 0)}, stats.StateIdle, t0, 0, 0},
		{"one thread busy: busy", []stats.SlotStats{withFirst(idle(t0+5, 2, 1)), busy(t0+3, 4, 2), idle(t0+9, 1, 3)},
			stats.StateBusy, t0 + 9, 7, 2},
		{"the thread busy the longest", []stats.SlotStats{withFirst(busy(t0+5, 2, 1)), idle(t0+9, 1, 2), busy(t0+3, 4, 3)},
			stats.StateBusy, t0 + 9, 7, 3},
		{"affinity above idle", []stats.SlotStats{withFirst(idle(t0, 1, 1)),
			{State: stats.StateAffinity, SinceMicros: t0 + 1, Requests: 2, Responses: 2, BusyMicros: 20, RequestID: 2, ClientName: "c2"}},
			stats.StateAffinity, t0 + 1, 3, 2},
		{"none busy: the last to serve", []stats.SlotStats{withFirst(idle(t0+8, 1, 1)), idle(t0+2, 5, 2), idle(t0+9, 0, 0)},
			stats.StateIdle, t0 + 9, 6, 1},
		{"stopping threads and one idle", []stats.SlotStats{
			{PID: 42, MaximumRequests: 900, ShutdownRequest: stats.IdleTimeout, ExitReason: stats.MaxRequests, State: stats.StateStopping, SinceMicros: t0},
			idle(t0+1, 1, 4)}, stats.StateIdle, t0 + 1, 1, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := combine(tt.threads)
			assert.Equal(t, tt.state, c.State)
			assert.Equal(t, tt.since, c.SinceMicros)
			assert.Equal(t, tt.reqs, c.Requests)
			var resp, busyMicros uint64
			for _, th := range tt.threads {
				resp += th.Responses
				busyMicros += th.BusyMicros
			}
			assert.Equal(t, resp, c.Responses)
			assert.Equal(t, busyMicros, c.BusyMicros)
			assert.Equal(t, tt.id, c.RequestID)
			if tt.id != 0 {
				assert.Equal(t, "c"+string(rune('0'+tt.id)), c.ClientName)
			}
			// The per-instance fields are the first slot's.
			assert.Equal(t, tt.threads[0].PID, c.PID)
			assert.Equal(t, tt.threads[0].MaximumRequests, c.MaximumRequests)
			assert.Equal(t, tt.threads[0].ShutdownRequest, c.ShutdownRequest)
			assert.Equal(t, tt.threads[0].ExitReason, c.ExitReason)
		})
	}
}

// TestServingThreads checks the busy threads an instance reports.
func TestServingThreads(t *testing.T) {
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	ago := func(d time.Duration) uint64 { return uint64(now.Add(-d).UnixMicro()) }
	threads := []stats.SlotStats{
		{State: stats.StateIdle, SinceMicros: ago(time.Minute), Requests: 3, Responses: 3, RequestID: 1},
		{State: stats.StateBusy, SinceMicros: ago(1500 * time.Millisecond), Requests: 5, Responses: 4, RequestID: 9, ClientName: "a:1"},
		{State: stats.StateAffinity, SinceMicros: ago(time.Second), Requests: 1, Responses: 1},
		{State: stats.StateBusy, SinceMicros: ago(250 * time.Millisecond), Requests: 2, Responses: 1, Faults: 1, RequestID: 12},
	}
	assert.Equal(t, 2, busyThreads(threads))
	assert.Equal(t, []ThreadStatus{
		{Thread: 1, RequestID: 9, ClientName: "a:1", BusySeconds: 1.5},
		{Thread: 3, RequestID: 12, BusySeconds: 0.25, Answered: true},
	}, servingThreads(threads, now))
	assert.Equal(t, []ThreadStatus{}, servingThreads(threads[:1], now), "none busy: empty, not null")
	assert.Zero(t, busyThreads(threads[:1]))
}

// TestThreadSegment: the segment has maximum-processes × maximum-threads
// slots and says how many are each instance's.
func TestThreadSegment(t *testing.T) {
	for _, tt := range []struct {
		text           string
		slots, threads int
	}{
		{"exec /bin/true\nmaximum-processes 3\n", 3, 1},
		{"exec /bin/true\nmaximum-processes 3\nmaximum-threads 4\n", 12, 4},
		{"exec /bin/true\nmaximum-processes 1\nmaximum-threads 16\n", 16, 16},
	} {
		s := newConfiguredService(t, tt.text)
		require.NoError(t, s.seg.Validate())
		h := s.seg.Header()
		assert.Equal(t, tt.slots, h.Slots, tt.text)
		assert.Equal(t, tt.threads, h.ThreadsPerInstance, tt.text)
		assert.Len(t, []byte(s.seg), stats.SegmentSize(tt.slots))
		assert.Len(t, s.inst, tt.slots/tt.threads, "one entry per instance")
		assert.Equal(t, tt.threads, s.Status(time.Now()).MaximumThreads)
	}
}

// TestThreadSlotsOfInstances: instance k gets the slots k×T … k×T+T−1,
// plutonSlot = k×T, all of them reset at its start and when it is gone.
func TestThreadSlotsOfInstances(t *testing.T) {
	h := newHarness(t, "exec /bin/sh -c 'echo slot=$plutonSlot >&2; exec sleep 60'\n"+
		"minimum-processes 2\nmaximum-processes 2\nmaximum-threads 3\nprestart-processes true\n")
	// Left-overs in the second instance's thread slots are cleared at its start.
	for slot := range 6 {
		h.s.seg.Slot(slot).StartRequest(1, 99)
	}
	now := time.Now()
	h.s.Prestart(now)
	ins := h.instances()
	require.Len(t, ins, 2)
	for k, in := range ins {
		assert.Equal(t, 3*k, in.Slot)
		assert.Equal(t, k, h.s.index(in))
		h.waitLog(in.LogID + " slot=" + string(rune('0'+3*k)))
		first := h.s.seg.Slot(in.Slot).Read()
		assert.EqualValues(t, in.Proc.Pid, first.PID)
		assert.Equal(t, in.MaxRequests, first.MaximumRequests)
		for th := 1; th < 3; th++ {
			assert.Equal(t, stats.SlotStats{}, h.s.seg.Slot(in.Slot+th).Read(), "slot %d", in.Slot+th)
		}
	}

	// Threads of the second instance at work; it is stopped, and when it
	// is gone every one of its slots is zero again.
	victim := ins[1]
	for th := range 3 {
		sl := h.s.seg.Slot(victim.Slot + th)
		sl.SetState(stats.StateIdle, uint64(now.UnixMicro()))
		sl.FinishRequest(5, 5, 1, 100)
	}
	h.s.stop(victim, now, stats.ExcessProcesses, time.Minute)
	assert.Equal(t, stats.ExcessProcesses, h.s.seg.Slot(victim.Slot).ShutdownRequest(), "the reason is in the first slot")
	assert.Equal(t, stats.NoReason, h.s.seg.Slot(victim.Slot+1).ShutdownRequest())
	require.True(t, h.pumpUntil(victim.exited))
	for th := range 3 {
		assert.Equal(t, stats.SlotStats{}, h.s.seg.Slot(victim.Slot+th).Read(), "slot %d", victim.Slot+th)
	}
	assert.Nil(t, h.s.inst[1])
	assert.NotNil(t, h.s.inst[0])
	assert.EqualValues(t, 15, h.s.book.requests, "the final counts of all three threads")
	assert.EqualValues(t, 3, h.s.book.faults)
}

// TestThreadOccupancy: capacity is counted in threads. Two instances of
// four threads, two threads of the first busy: one busy instance, one
// idle, and an occupancy of 2/8.
func TestThreadOccupancy(t *testing.T) {
	h := newHarness(t, "exec /bin/sleep 60\nminimum-processes 2\nmaximum-processes 2\nmaximum-threads 4\nprestart-processes true\n")
	t0 := time.Now()
	h.s.Prestart(t0)
	ins := h.instances()
	require.Len(t, ins, 2)
	since := uint64(t0.UnixMicro())
	for th := range 4 {
		for _, in := range ins {
			h.s.seg.Slot(in.Slot+th).SetState(stats.StateIdle, since)
		}
	}
	h.s.seg.Slot(ins[0].Slot+1).StartRequest(since, 1)
	h.s.seg.Slot(ins[0].Slot+3).StartRequest(since, 1)
	h.s.Sample(t0, 0, true) // the first sample only records
	prev := h.s.occFast
	dt := time.Second
	h.s.Sample(t0.Add(dt), 0, true)
	assert.Equal(t, 1, h.s.busy, "an instance with a busy thread is busy")
	assert.Equal(t, 1, h.s.idle)
	assert.Equal(t, 2, h.s.busyThreads)
	assert.InDelta(t, smoothOccupancy(prev, 2.0/8, dt, occupancyFastTau), h.s.occFast, 1e-9)
	st := h.s.Status(t0.Add(dt))
	assert.Equal(t, 1, st.Busy)
	assert.Equal(t, 2, st.BusyThreads)
	assert.Equal(t, 4, st.MaximumThreads)
	assert.EqualValues(t, 2, st.Requests, "live counts sum the threads")

	// Both threads answered and went back to wait; their time is counted
	// as in an instance of one thread: nothing more once they are idle.
	for _, th := range []int{1, 3} {
		sl := h.s.seg.Slot(ins[0].Slot + th)
		sl.FinishRequest(1, 1, 0, uint64(dt/time.Microsecond))
		sl.SetState(stats.StateIdle, uint64(t0.Add(dt).UnixMicro()))
	}
	prev = h.s.occFast
	h.s.Sample(t0.Add(2*dt), 0, true)
	assert.Equal(t, 0, h.s.busy)
	assert.Equal(t, 2, h.s.idle)
	assert.InDelta(t, smoothOccupancy(prev, 0, dt, occupancyFastTau), h.s.occFast, 1e-9)
}

// TestThreadStatus: GET /processes shows an instance's threads, how many
// are busy and the request of each.
func TestThreadStatus(t *testing.T) {
	h := newHarness(t, "exec /bin/sleep 60\nminimum-processes 1\nmaximum-threads 4\nprestart-processes true\n")
	now := time.UnixMicro(time.Now().UnixMicro()) // whole µs, as in the slots
	h.s.Prestart(now)
	in := h.instances()[0]
	for th := range 4 {
		h.s.seg.Slot(in.Slot+th).SetState(stats.StateIdle, uint64(now.Add(-time.Minute).UnixMicro()))
	}
	sl := h.s.seg.Slot(in.Slot + 2)
	sl.StartRequest(uint64(now.Add(-2*time.Second).UnixMicro()), 4)
	sl.SetRequestIdentity(31, stats.NotRecording, "plSend:7")
	h.s.seg.Slot(in.Slot).FinishRequest(6, 6, 0, 500)

	procs := h.s.Processes(now)
	require.Len(t, procs, 1)
	p := procs[0]
	assert.Equal(t, "busy", p.State)
	assert.Equal(t, 0, p.Slot)
	assert.Equal(t, 4, p.Threads)
	assert.Equal(t, 1, p.BusyThreads)
	assert.EqualValues(t, 10, p.Requests)
	assert.EqualValues(t, 6, p.Responses)
	assert.EqualValues(t, 31, p.RequestID)
	assert.Equal(t, "plSend:7", p.ClientName)
	assert.Equal(t, []ThreadStatus{{Thread: 2, RequestID: 31, ClientName: "plSend:7", BusySeconds: 2}}, p.Serving)

	b, err := json.Marshal(p)
	require.NoError(t, err)
	for _, field := range []string{`"threads":4`, `"busyThreads":1`, `"serving":[{"thread":2,"requestID":31,"clientName":"plSend:7","busySeconds":2,"answered":false}]`} {
		assert.Contains(t, string(b), field)
	}
}

// TestUnresponsiveThread: a thread other than the first busy for longer
// than unresponsive-timeout gets the instance killed, and the Child Exit
// line and the status API name the request of every busy thread.
func TestUnresponsiveThread(t *testing.T) {
	h := newHarness(t, "exec "+ignoreTERM(t)+"\nminimum-processes 1\nprestart-processes true\nunresponsive-timeout 5\nmaximum-threads 4\n")
	now := time.Now()
	h.s.Prestart(now)
	in := h.instances()[0]
	h.waitLog(in.LogID + " trapped")
	for th := range 4 {
		h.s.seg.Slot(in.Slot+th).SetState(stats.StateIdle, uint64(now.UnixMicro()))
	}
	serve := func(th int, since time.Time, id int64, client string) {
		sl := h.s.seg.Slot(in.Slot + th)
		sl.StartRequest(uint64(since.UnixMicro()), 1)
		sl.SetRequestIdentity(id, stats.NotRecording, client)
	}
	serve(3, now, 13, "c:3")
	serve(1, now.Add(time.Second), 11, "a:1")

	h.s.Sample(now.Add(4900*time.Millisecond), 0, true)
	assert.Equal(t, InstReady, in.State(), "thread 3 busy for 4.9 s of 5")
	h.s.Sample(now.Add(5100*time.Millisecond), 0, true)
	assert.Equal(t, InstStopping, in.State())
	assert.Equal(t, stats.Unresponsive, h.s.seg.Slot(in.Slot).ShutdownRequest(), "the reason is in the first slot")
	assert.Contains(t, h.log.String(), "Process Warning: "+in.LogID+" unresponsive: busy for 5.1s in thread 3 (unresponsive-timeout 5s)")
	h.s.Sample(now.Add(6100*time.Millisecond), 0, true)
	assert.Equal(t, InstKilled, in.State())
	require.True(t, h.pumpUntil(in.exited))
	assert.Contains(t, h.log.String(), "Child Exit: abnormal "+in.LogID+" responded to kill(SIGKILL), unresponsive"+
		"; while serving request 11 from a:1 in thread 1, while serving request 13 from c:3 in thread 3")
	c := h.s.Status(time.Now()).LastCrash
	require.NotNil(t, c)
	assert.Equal(t, 1, c.Thread)
	assert.Equal(t, 4, c.Threads)
	assert.EqualValues(t, 11, c.RequestID)
	assert.Equal(t, "a:1", c.ClientName)
	assert.Equal(t, []ThreadRequest{{Thread: 3, RequestID: 13, ClientName: "c:3"}}, c.OtherThreads)
}

// TestUnresponsiveEveryThread: any thread past the timeout is one too many;
// a thread that answered and stays busy (wedged before its next wait) too.
func TestUnresponsiveEveryThread(t *testing.T) {
	for th := range 3 {
		t.Run("thread "+string(rune('0'+th)), func(t *testing.T) {
			h := newHarness(t, "exec /bin/sleep 60\nminimum-processes 1\nprestart-processes true\nunresponsive-timeout 5\nmaximum-threads 3\n")
			now := time.Now()
			h.s.Prestart(now)
			in := h.instances()[0]
			for i := range 3 {
				h.s.seg.Slot(in.Slot+i).SetState(stats.StateIdle, uint64(now.UnixMicro()))
			}
			sl := h.s.seg.Slot(in.Slot + th)
			sl.StartRequest(uint64(now.UnixMicro()), 1)
			sl.FinishRequest(1, 1, 0, 10)
			h.s.Sample(now.Add(5100*time.Millisecond), 0, true)
			assert.Equal(t, InstStopping, in.State())
			assert.Equal(t, stats.Unresponsive, in.stop.reason)
			require.True(t, h.pumpUntil(in.exited))
			assert.Contains(t, h.log.String(), "; after answering request 0 from an unnamed client in thread "+string(rune('0'+th)))
		})
	}
}

// TestCrashDescriptionThreads: the Child Exit suffix of an instance with
// threads names each busy thread; with one thread it is unchanged.
func TestCrashDescriptionThreads(t *testing.T) {
	for _, tt := range []struct {
		name string
		c    CrashStatus
		want string
	}{
		{"one thread", CrashStatus{RequestID: 17, ClientName: "plSend:4242", Threads: 1},
			"; while serving request 17 from plSend:4242"},
		{"threads unknown", CrashStatus{RequestID: 17, ClientName: "plSend:4242"},
			"; while serving request 17 from plSend:4242"},
		{"one busy thread of four", CrashStatus{RequestID: 17, ClientName: "plSend:4242", Thread: 2, Threads: 4},
			"; while serving request 17 from plSend:4242 in thread 2"},
		{"three busy threads", CrashStatus{RequestID: 1, Threads: 8, RecorderFile: "/r/in.9.00001",
			OtherThreads: []ThreadRequest{{Thread: 5, RequestID: 2, ClientName: "b:2", Answered: true},
				{Thread: 7, RequestID: 3, ClientName: "c:3", RecorderFile: "/r/in.9.00003"}}},
			"; while serving request 1 from an unnamed client in thread 0 (recorded in /r/in.9.00001)" +
				", after answering request 2 from b:2 in thread 5" +
				", while serving request 3 from c:3 in thread 7 (recorded in /r/in.9.00003)"},
	} {
		t.Run(tt.name, func(t *testing.T) { assert.Equal(t, tt.want, tt.c.describe()) })
	}
}

// TestReportsOfThreads: a record's slot is the instance's plutonSlot (its
// first slot); it maps to the instance, and so would any of its thread
// slots. A record of another instance's pid in that slot does not.
func TestReportsOfThreads(t *testing.T) {
	var log bytes.Buffer
	s := newThreadService(t, &log, "exec /bin/true\nmaximum-processes 3\nmaximum-threads 4\n")
	a := &Instance{Slot: 4, Proc: &process.Process{Pid: 4242}}
	b := &Instance{Slot: 8, Proc: &process.Process{Pid: 4343}}
	s.inst[1], s.inst[2] = a, b
	for _, tt := range []struct {
		slot, pid uint32
		want      *Instance
	}{
		{4, 4242, a}, {6, 4242, a}, {7, 4242, a}, {8, 4343, b}, {11, 4343, b},
		{4, 4343, b}, // found by pid
		{stats.NoSlot, 4343, b},
		{0, 4141, nil}, {9999, 4141, nil},
	} {
		assert.Same(t, tt.want, s.reporter(tt.slot, tt.pid), "slot %d pid %d", tt.slot, tt.pid)
	}
	var rec []byte
	rec = append(rec, record(4242, 4, stats.OK, stats.OK, stats.Faulted)...)
	rec = append(rec, record(4343, 8, stats.OK)...)
	_, err := s.repW.Write(rec)
	require.NoError(t, err)
	s.drainReports()
	assert.Equal(t, 3, a.usage.reqs)
	assert.Equal(t, 1, a.usage.faults)
	assert.Equal(t, 1, b.usage.reqs)
	assert.EqualValues(t, 4, s.requests)
	assert.NotContains(t, log.String(), "unknown pid")
}

func newThreadService(t *testing.T, log *bytes.Buffer, text string) *Service {
	t.Helper()
	key, err := servicekey.ParseConfigName("test.threads.0.raw")
	require.NoError(t, err)
	cfg, err := config.Parse(strings.NewReader(text), "test.threads.0.raw", key)
	require.NoError(t, err)
	env := &Env{Log: logging.New(log, 0), Metrics: metrics.New(), Counters: &Counters{}, RendezvousDir: t.TempDir()}
	s, err := New(cfg, env, time.Now())
	require.NoError(t, err)
	t.Cleanup(s.closeFiles)
	return s
}

// TestAdoptThreads: an upgrade in place adopts a segment with the threads
// it was made with; a segment that does not fit the configuration is
// refused.
func TestAdoptThreads(t *testing.T) {
	for _, tt := range []struct {
		name       string
		made       string // the configuration the segment was made for
		adoptProcs int    // the handed-over configuration's maximum-processes
		adoptThr   int    // and maximum-threads
		threads    int    // adopted with
		warning    string
		err        string
	}{
		{"same threads", "maximum-processes 2\nmaximum-threads 4\n", 2, 4, 4, "", ""},
		{"one thread", "maximum-processes 2\n", 2, 1, 1, "", ""},
		{"segment of a manager without threads", "maximum-processes 2\n", 2, 4, 1,
			"Service Warning: test.threads.0.raw: adopted with 1 thread(s) per instance, as its stats segment was made; maximum-threads 4 takes effect when the service is replaced (its file changes, or the manager restarts)", ""},
		{"slot count does not fit", "maximum-processes 2\nmaximum-threads 4\n", 3, 4, 0, "",
			"stats segment fd"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var log bytes.Buffer
			old := newThreadService(t, &log, "exec /bin/true\n"+tt.made)
			h, _, err := old.Handover()
			require.NoError(t, err)
			// The adopting service gets its own descriptors (in an upgrade
			// they are the same, inherited across execve).
			for _, fd := range []*int{&h.ListenFD, &h.SegmentFD, &h.ReportFD, &h.ReportWFD} {
				*fd, err = unix.Dup(*fd)
				require.NoError(t, err)
			}
			cfg := *old.Cfg
			cfg.MaximumProcesses, cfg.MaximumThreads = tt.adoptProcs, tt.adoptThr
			h.Config = &cfg
			var alog bytes.Buffer
			env := &Env{Log: logging.New(&alog, 0), Metrics: metrics.New(), Counters: &Counters{},
				RendezvousDir: old.env.RendezvousDir}
			s, err := Adopt(h, env, time.Now())
			if tt.err != "" {
				unix.Close(h.ListenFD) // not yet the adopted service's
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.err)
				return
			}
			require.NoError(t, err)
			t.Cleanup(s.closeFiles)
			assert.Equal(t, tt.threads, s.perInstance())
			assert.Len(t, s.inst, tt.adoptProcs)
			if tt.warning != "" {
				assert.Contains(t, alog.String(), tt.warning)
			} else {
				assert.NotContains(t, alog.String(), "Service Warning")
			}
		})
	}
}

// TestNewFailsCleanly: a service whose socket cannot be made is an error,
// its files closed and removed (the clean-up once dereferenced the nil
// service it had just returned).
func TestNewFailsCleanly(t *testing.T) {
	key, err := servicekey.ParseConfigName("test.threads.0.raw")
	require.NoError(t, err)
	cfg, err := config.Parse(strings.NewReader("exec /bin/true\nmaximum-threads 2\n"), "test.threads.0.raw", key)
	require.NoError(t, err)
	dir := t.TempDir() + "/" + strings.Repeat("d", 100) // too long for a socket address
	require.NoError(t, os.Mkdir(dir, 0o755))
	env := &Env{Log: logging.New(&bytes.Buffer{}, 0), Metrics: metrics.New(), Counters: &Counters{}, RendezvousDir: dir}
	s, err := New(cfg, env, time.Now())
	require.ErrorIs(t, err, unix.ENAMETOOLONG)
	assert.Nil(t, s)
	left, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Empty(t, left, "the .tmp segment is removed")
}

// TestListenBacklogGrowsWithThreads: the socket's accept queue holds
// 128 + 3 × maximum-processes × maximum-threads connections.
func TestListenBacklogGrowsWithThreads(t *testing.T) {
	somaxconn, err := os.ReadFile("/proc/sys/net/core/somaxconn")
	require.NoError(t, err)
	limit, err := strconv.Atoi(strings.TrimSpace(string(somaxconn)))
	require.NoError(t, err)
	for _, tt := range []struct {
		text    string
		backlog int
	}{
		{"exec /bin/true\nmaximum-processes 2\n", 134},
		{"exec /bin/true\nmaximum-processes 2\nmaximum-threads 4\n", 152},
	} {
		if tt.backlog > limit {
			t.Skipf("net.core.somaxconn %d caps the backlog below %d", limit, tt.backlog)
		}
		s := newConfiguredService(t, tt.text)
		// Non-blocking connects succeed until the queue is full (the
		// kernel takes one more than the backlog on a Unix socket).
		queued := 0
		for ; queued <= tt.backlog+10; queued++ {
			fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
			require.NoError(t, err)
			t.Cleanup(func() { unix.Close(fd) })
			if err := unix.Connect(fd, &unix.SockaddrUnix{Name: s.SocketPath}); err != nil {
				require.ErrorIs(t, err, unix.EAGAIN)
				break
			}
		}
		assert.Equal(t, tt.backlog+1, queued, tt.text)
	}
}
