package remote_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pluton-go/pluton/go/fault"
	"github.com/pluton-go/pluton/go/remote/jobs"
	"github.com/pluton-go/pluton/go/testbin"
)

// jobCount is how many jobs TestJobs submits: 300, or $plutonTestJobs
// (e.g. 1000).
func jobCount(t *testing.T) int {
	if v := os.Getenv("plutonTestJobs"); v != "" {
		n, err := strconv.Atoi(v)
		require.NoError(t, err, "plutonTestJobs")
		return n
	}
	return 300
}

func workerConfig(t *testing.T, extra string) string {
	return fmt.Sprintf("exec %s\nminimum-processes 1\nmaximum-processes 4\njobs true\n%s", testbin.Path(t, "testJobWorker"), extra)
}

func jetStream(t *testing.T, url string) (jetstream.JetStream, jetstream.KeyValue) {
	t.Helper()
	nc, err := nats.Connect(url)
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	kv, err := jobs.Ensure(ctx, js, jetstream.FileStorage)
	require.NoError(t, err)
	return js, kv
}

// results returns every stored result by job id.
func results(t *testing.T, kv jetstream.KeyValue) map[string]jobs.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out := map[string]jobs.Result{}
	keys, err := kv.ListKeys(ctx)
	require.NoError(t, err)
	for k := range keys.Keys() {
		r, err := jobs.GetResult(ctx, kv, k)
		require.NoError(t, err)
		out[k] = r
	}
	return out
}

func waitResults(t *testing.T, kv jetstream.KeyValue, n int, timeout time.Duration) map[string]jobs.Result {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		st, err := kv.Status(context.Background())
		require.NoError(t, err)
		if int(st.Values()) >= n || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	return results(t, kv)
}

func classStats(h *host, key string) jobs.ClassStats {
	for _, c := range h.remoteStatus().Jobs {
		if c.Key == key {
			return c
		}
	}
	return jobs.ClassStats{}
}

// TestJobs: N jobs on one class, one of whose workers SIGKILLs itself
// mid-job; every job has exactly one result, the right one; a job that
// keeps failing ends in the dead-letter stream with its last fault; a
// second submit of an id is not enqueued again.
func TestJobs(t *testing.T) {
	url := startNATS(t)
	marker := filepath.Join(t.TempDir(), "killed")
	deliveries := filepath.Join(t.TempDir(), "deliveries")
	h := startHost(t, "B", url, map[string]string{
		"system.job.0.raw":     workerConfig(t, "jobs-max-workers 4\njobs-max-attempts 10\njobs-worker-max-ttl 20\nexec-failure-backoff 1\n"),
		"system.jobfail.0.raw": workerConfig(t, "jobs-max-attempts 2\n"),
		"system.jobttl.0.raw":  workerConfig(t, "jobs-max-attempts 2\njobs-worker-max-ttl 1\n"),
	}, "testJobLog="+deliveries)
	h.waitFor("Job Class: system.job.0.raw", 30*time.Second)
	h.waitFor("Job Class: system.jobfail.0.raw", 30*time.Second)
	js, kv := jetStream(t, url)
	ctx := context.Background()

	n := jobCount(t)
	payload := func(i int) string {
		if i == n/3 {
			return "kill-once:" + marker
		}
		return "job " + strconv.Itoa(i)
	}
	for i := range n {
		s, err := jobs.Submit(ctx, js, jobs.Job{ID: fmt.Sprintf("job-%05d", i), Key: "system.job.0.raw", Payload: []byte(payload(i))})
		require.NoError(t, err)
		require.False(t, s.Duplicate)
	}
	s, err := jobs.Submit(ctx, js, jobs.Job{ID: "job-00000", Key: "system.job.0.raw", Payload: []byte("again")})
	require.NoError(t, err)
	assert.True(t, s.Duplicate, "an id submitted before is not enqueued again")
	_, err = jobs.Submit(ctx, js, jobs.Job{ID: "fails", Key: "system.jobfail.0.raw", Payload: []byte("fault:1001")})
	require.NoError(t, err)
	_, err = jobs.Submit(ctx, js, jobs.Job{ID: "slow", Key: "system.jobttl.0.raw", Payload: []byte("sleep:2500:x")})
	require.NoError(t, err)
	_, err = jobs.Submit(ctx, js, jobs.Job{ID: "bad id!", Key: "system.job.0.raw"})
	assert.ErrorContains(t, err, "not allowed")

	got := waitResults(t, kv, n+2, 3*time.Minute)
	require.Len(t, got, n+2, "one result per job")
	for i := range n {
		id := fmt.Sprintf("job-%05d", i)
		r, ok := got[id]
		if !assert.True(t, ok, "no result for %s", id) {
			continue
		}
		assert.True(t, r.OK, "%s: %+v", id, r)
		assert.Equal(t, "done:"+id+":"+payload(i), string(r.Data))
		if i == n/3 {
			assert.GreaterOrEqual(t, r.Attempts, 2, "the killed job ran again")
		}
	}
	fail := got["fails"]
	assert.False(t, fail.OK)
	assert.EqualValues(t, 1001, fail.FaultCode)
	assert.Equal(t, "asked for fault 1001", fail.FaultText)
	assert.Equal(t, 2, fail.Attempts)

	slow := got["slow"]
	assert.False(t, slow.OK, "an attempt longer than jobs-worker-max-ttl fails")
	assert.EqualValues(t, fault.ServiceTimeout, slow.FaultCode)
	assert.Equal(t, 2, slow.Attempts)

	// The dead letter carries the job and its last fault.
	dead, err := js.Stream(ctx, jobs.DeadStream)
	require.NoError(t, err)
	dl, err := dead.GetLastMsgForSubject(ctx, "pluton.dead.system.jobfail.0.raw")
	require.NoError(t, err)
	assert.Equal(t, "fault:1001", string(dl.Data))
	assert.Equal(t, "fails", dl.Header.Get(jobs.HeaderJobID))
	assert.Equal(t, "1001", dl.Header.Get(jobs.HeaderFaultCode))
	assert.Equal(t, "2", dl.Header.Get(jobs.HeaderAttempts))

	// The killed job was delivered at least twice (at-least-once delivery);
	// its result exists once.
	b, err := os.ReadFile(deliveries)
	require.NoError(t, err)
	killedID := fmt.Sprintf("job-%05d ", n/3)
	assert.GreaterOrEqual(t, strings.Count(string(b), killedID), 2)

	st := classStats(h, "system.job.0.raw")
	assert.EqualValues(t, n, st.Done)
	assert.Zero(t, st.Failed)
	assert.GreaterOrEqual(t, st.Redelivered, int64(1))
	assert.Zero(t, st.Running)
	assert.Zero(t, st.Queued)
	assert.Equal(t, "running", st.State)
	assert.EqualValues(t, 1, classStats(h, "system.jobfail.0.raw").Failed)
}

// TestJobsHoldHalt: HOLD stops new deliveries until resume; HALT lets the
// jobs in progress finish, delivers no more, and resume goes on.
func TestJobsHoldHalt(t *testing.T) {
	url := startNATS(t)
	const key = "system.hold.0.raw"
	h := startHost(t, "B", url, map[string]string{key: workerConfig(t, "jobs-max-workers 2\n")})
	h.waitFor("Job Class: "+key, 30*time.Second)
	js, kv := jetStream(t, url)
	ctx := context.Background()

	h.http("POST", "/services/"+key+"/hold", nil)
	waitState(t, h, key, jobs.StateHeld)
	for i := range 10 {
		_, err := jobs.Submit(ctx, js, jobs.Job{ID: fmt.Sprintf("h%d", i), Key: key, Payload: []byte("x")})
		require.NoError(t, err)
	}
	time.Sleep(2 * time.Second)
	assert.Empty(t, results(t, kv), "no delivery while held")
	st := classStats(h, key)
	assert.EqualValues(t, 10, int(st.Queued)+st.InFlight, "%+v", st) // a job fetched as the hold came is kept, not run
	assert.Zero(t, st.Running)
	h.http("POST", "/services/"+key+"/resume", nil)
	require.Len(t, waitResults(t, kv, 10, time.Minute), 10)

	for i := range 20 {
		_, err := jobs.Submit(ctx, js, jobs.Job{ID: fmt.Sprintf("s%d", i), Key: key, Payload: []byte("sleep:300:x")})
		require.NoError(t, err)
	}
	waitResults(t, kv, 12, time.Minute)
	h.http("POST", "/services/"+key+"/halt", nil)
	waitState(t, h, key, jobs.StateHalted)
	done := len(results(t, kv))
	time.Sleep(2 * time.Second)
	assert.Len(t, results(t, kv), done, "no delivery once halted")
	assert.Less(t, done, 30, "halted before the queue was empty")
	st = classStats(h, key)
	assert.Zero(t, st.Running)
	assert.EqualValues(t, 30-done, int(st.Queued)+st.InFlight, "%+v", st)
	h.http("POST", "/services/"+key+"/resume", nil)
	require.Len(t, waitResults(t, kv, 30, time.Minute), 30)
}

func waitState(t *testing.T, h *host, key, state string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for classStats(h, key).State != state {
		if time.Now().After(deadline) {
			t.Fatalf("%s: state %q, want %q", key, classStats(h, key).State, state)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestEmbeddedAndPlSubmit: a manager with -N embedded runs a NATS server
// with JetStream under its home; plSubmit finds it through the lookup map
// and waits for the result.
func TestEmbeddedAndPlSubmit(t *testing.T) {
	h := startHost(t, "E", "embedded", map[string]string{"system.emb.0.raw": workerConfig(t, "")})
	h.waitFor("Job Class: system.emb.0.raw", 30*time.Second)
	_, err := os.Stat(filepath.Join(h.Dir, "nats", "jetstream"))
	require.NoError(t, err, "JetStream store under the home")

	run := func(args ...string) (string, string, error) {
		cmd := exec.Command(testbin.Path(t, "plSubmit"), args...)
		cmd.Env = append(os.Environ(), "plutonNATS=")
		var out, errOut strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &errOut
		err := cmd.Run()
		return out.String(), errOut.String(), err
	}
	out, stderr, err := run("-L", h.Map, "-w", "-t", "30", "-i", "e1", "-C", "tag=b", "system.emb.0.raw", "hello")
	require.NoError(t, err, stderr)
	assert.Equal(t, "done:e1:hello:tag=b", out, "the job's context reaches the service")

	out, stderr, err = run("-L", h.Map, "-i", "e1", "system.emb.0.raw", "again")
	require.NoError(t, err, stderr)
	assert.Equal(t, "e1\n", out)
	assert.Contains(t, stderr, "submitted before")

	_, stderr, err = run("-L", h.Map, "-w", "-t", "30", "-i", "e2", "system.emb.0.raw", "fault:1002")
	require.Error(t, err)
	assert.Contains(t, stderr, "Fault: 1002:asked for fault 1002")

	_, stderr, err = run("-L", h.Map, "-i", "no/slash", "system.emb.0.raw", "x")
	require.Error(t, err)
	assert.Contains(t, stderr, "not allowed")

	_, stderr, err = run("-L", filepath.Join(t.TempDir(), "none"), "system.emb.0.raw", "x")
	require.Error(t, err)
	assert.Contains(t, stderr, "no NATS URL")

	_, stderr, err = run("-N", "nats://127.0.0.1:1", "system.emb.0.raw", "x")
	require.Error(t, err)
	assert.Contains(t, stderr, "plSubmit: NATS nats://127.0.0.1:1:")

	_, stderr, err = run("-L", h.Map, "not-a-key", "x")
	require.Error(t, err)
	assert.Contains(t, stderr, "job class: bad service key")

	_, stderr, err = run("-L", h.Map)
	require.Error(t, err)
	assert.Contains(t, stderr, "Must supply ServiceKey")

	out, _, err = run("-h")
	require.NoError(t, err)
	assert.Contains(t, out, "Usage: plSubmit")
}

// TestJobsOverdrive: with jobs-overdrive one worker holds a batch of jobs
// (several delivered, unacknowledged) and runs them back to back; without
// it, one at a time.
func TestJobsOverdrive(t *testing.T) {
	url := startNATS(t)
	h := startHost(t, "B", url, map[string]string{
		"system.od.0.raw":  workerConfig(t, "jobs-max-workers 1\njobs-overdrive true\n"),
		"system.one.0.raw": workerConfig(t, "jobs-max-workers 1\n"),
	})
	h.waitFor("Job Class: system.od.0.raw", 30*time.Second)
	h.waitFor("Job Class: system.one.0.raw", 30*time.Second)
	js, kv := jetStream(t, url)
	for _, key := range []string{"system.od.0.raw", "system.one.0.raw"} {
		for i := range 12 {
			_, err := jobs.Submit(context.Background(), js, jobs.Job{ID: fmt.Sprintf("%s-%d", strings.Split(key, ".")[1], i),
				Key: key, Payload: []byte("sleep:100:x")})
			require.NoError(t, err)
		}
	}
	maxInFlight := map[string]int{}
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		for _, c := range h.remoteStatus().Jobs {
			maxInFlight[c.Key] = max(maxInFlight[c.Key], c.InFlight)
			assert.LessOrEqual(t, c.Running, int64(1), "one worker")
		}
		st, err := kv.Status(context.Background())
		require.NoError(t, err)
		if st.Values() >= 24 {
			break
		}
		time.Sleep(150 * time.Millisecond)
	}
	require.Len(t, results(t, kv), 24)
	assert.Greater(t, maxInFlight["system.od.0.raw"], 1, "overdrive holds a batch")
	assert.LessOrEqual(t, maxInFlight["system.one.0.raw"], 1, "one job per fetch")
}

// TestJobsHostDies: a host's manager is SIGKILLed while it runs a job; the
// job is delivered again, after jobs-worker-max-ttl + 5 s, to another host,
// which stores its one result.
func TestJobsHostDies(t *testing.T) {
	url := startNATS(t)
	const key = "system.survive.0.raw"
	cfg := map[string]string{key: workerConfig(t, "jobs-worker-max-ttl 2\n")}
	a := startHost(t, "A", url, cfg)
	a.waitFor("Job Class: "+key, 30*time.Second)
	js, kv := jetStream(t, url)
	_, err := jobs.Submit(context.Background(), js, jobs.Job{ID: "survivor", Key: key, Payload: []byte("sleep:1500:x")})
	require.NoError(t, err)
	deadline := time.Now().Add(30 * time.Second)
	for classStats(a, key).Running == 0 {
		require.True(t, time.Now().Before(deadline), "the job never ran on host A")
		time.Sleep(20 * time.Millisecond)
	}
	a.kill()
	b := startHost(t, "B", url, cfg)
	b.waitFor("Job Class: "+key, 30*time.Second)
	got := waitResults(t, kv, 1, time.Minute)
	require.Len(t, got, 1)
	r := got["survivor"]
	assert.True(t, r.OK, "%+v", r)
	assert.Equal(t, 2, r.Attempts)
	assert.NotEqual(t, classStats(b, key).Done, int64(0), "host B ran it")
	assert.Contains(t, r.Host, ":", "%+v", r)
}

// TestJobsWithoutNATS: a job class on a manager without -N is served as a
// plain service, with a warning naming the missing option.
func TestJobsWithoutNATS(t *testing.T) {
	h := startPlainHost(t, map[string]string{"system.plain.0.raw": workerConfig(t, "")})
	h.waitFor("Config Warning: system.plain.0.raw: jobs true has no effect: the manager was not started with -N", 10*time.Second)
	assert.Nil(t, h.remoteStatusRaw())
}
