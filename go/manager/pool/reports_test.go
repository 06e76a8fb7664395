package pool

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pluton-go/pluton/go/manager/config"
	"github.com/pluton-go/pluton/go/manager/logging"
	"github.com/pluton-go/pluton/go/manager/metrics"
	"github.com/pluton-go/pluton/go/manager/process"
	"github.com/pluton-go/pluton/go/servicekey"
	"github.com/pluton-go/pluton/go/stats"
)

// newTestService builds a service with no instance started (the socket,
// segment and report pipe exist), logging to log.
func newTestService(t *testing.T, log *bytes.Buffer) *Service {
	t.Helper()
	key, err := servicekey.ParseConfigName("test.reports.0.raw")
	require.NoError(t, err)
	cfg, err := config.Parse(strings.NewReader("exec /bin/true\nmaximum-processes 2\n"), "test.reports.0.raw", key)
	require.NoError(t, err)
	env := &Env{Log: logging.New(log, 0), Metrics: metrics.New(), Counters: &Counters{}, RendezvousDir: t.TempDir()}
	s, err := New(cfg, env, time.Now())
	require.NoError(t, err)
	t.Cleanup(s.closeFiles)
	return s
}

func record(pid, slot uint32, outcomes ...stats.Outcome) []byte {
	r := stats.Record{PID: pid, Slot: slot}
	for i, o := range outcomes {
		r.Entries = append(r.Entries, stats.Entry{Outcome: o, DurationMicros: uint32(1000 * (i + 1)), RequestBytes: 10, ResponseBytes: 20})
	}
	return stats.AppendRecord(nil, &r)
}

func TestDrainReports(t *testing.T) {
	var log bytes.Buffer
	s := newTestService(t, &log)
	in := &Instance{Slot: 1, Proc: &process.Process{Pid: 4242}}
	s.inst[1] = in

	var b []byte
	b = append(b, record(4242, 1, stats.OK, stats.OK, stats.Faulted)...)
	b = append(b, record(4242, stats.NoSlot, stats.ReadError)...) // found by pid
	b = append(b, record(999, 0, stats.OK)...)                    // unknown pid: not an instance's usage
	bad := record(4242, 1, stats.OK)
	bad[0] = 7 // version
	b = append(b, bad...)
	b = append(b, record(4242, 1, stats.WriteError)[:100]...) // the rest comes later
	_, err := s.repW.Write(b)
	require.NoError(t, err)

	s.drainReports()
	assert.Equal(t, 4, in.usage.reqs)
	assert.Equal(t, 1, in.usage.faults)
	assert.Equal(t, 1, in.usage.readErrs)
	assert.Equal(t, []uint32{1000, 1000, 2000, 3000}, in.usage.slow)
	assert.Equal(t, uint64(5), s.requests)
	assert.Equal(t, uint64(1), s.faults)
	assert.Equal(t, 5, s.env.Counters.Requests)
	assert.Contains(t, log.String(), "Service Warning: test.reports.0.raw: Reporting Event from unknown pid 999 ignored")
	assert.Contains(t, log.String(), "Service Warning: test.reports.0.raw: Unrecognized reporting event: report record: version 7, want 1")
	assert.Len(t, s.repTail, 100)

	_, err = s.repW.Write(record(4242, 1, stats.WriteError)[100:])
	require.NoError(t, err)
	s.drainReports()
	assert.Empty(t, s.repTail)
	assert.Equal(t, 1, in.usage.wErr)
	assert.Equal(t, uint64(6), s.requests)

	assert.Equal(t, map[string]float64{
		"pluton_service_requests_total/ok": 3, "pluton_service_requests_total/fault": 1,
		"pluton_service_requests_total/readError": 1, "pluton_service_requests_total/writeError": 1,
		"pluton_service_faults_total/": 1, "pluton_service_request_duration_seconds/": 6,
	}, requestSeries(t, s.env.Metrics))

	// A record cut short by the last writer is named when the pipe closes.
	_, err = s.repW.Write(record(4242, 1, stats.OK)[:50])
	require.NoError(t, err)
	s.closeFiles()
	assert.Contains(t, log.String(), "Service Warning: test.reports.0.raw: Unexpected byte count from Reporting Channel: 50")
	assert.Equal(t, -1, s.repFD)
}

// requestSeries returns the request counters and the duration histogram's
// sample counts, by name and outcome.
func requestSeries(t *testing.T, m *metrics.Metrics) map[string]float64 {
	t.Helper()
	families, err := m.Registry.Gather()
	require.NoError(t, err)
	out := map[string]float64{}
	for _, f := range families {
		name := f.GetName()
		if name != "pluton_service_requests_total" && name != "pluton_service_faults_total" &&
			name != "pluton_service_request_duration_seconds" {
			continue
		}
		for _, s := range f.GetMetric() {
			outcome := ""
			for _, l := range s.GetLabel() {
				if l.GetName() == "outcome" {
					outcome = l.GetValue()
				}
			}
			v := s.GetCounter().GetValue()
			if h := s.GetHistogram(); h != nil {
				v = float64(h.GetSampleCount())
			}
			out[name+"/"+outcome] = v
		}
	}
	return out
}

func TestReportPipeGrows(t *testing.T) {
	var log bytes.Buffer
	s := newTestService(t, &log)
	size := s.repSize
	rec := record(1, 0, stats.OK)
	for written := 0; 2*written < size; written += len(rec) {
		_, err := s.repW.Write(rec)
		require.NoError(t, err)
	}
	s.drainReports()
	if !strings.Contains(log.String(), "Reporting Channel kept at") { // refused: pipe-user-pages-soft reached
		assert.Equal(t, 2*size, s.repSize)
	}
}
