package e2e

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pluton-go/pluton/go/protocol"
)

// rawCall sends one request with the given id and client name and returns
// the whole response packet and the time it took.
func rawCall(path, key string, id int64, name, data string, timeout time.Duration, ctx ...string) (protocol.Response, time.Duration, error) {
	var resp protocol.Response
	start := time.Now()
	conn, err := net.DialTimeout("unix", path, timeout)
	if err != nil {
		return resp, 0, err
	}
	defer conn.Close()
	_ = conn.SetDeadline(start.Add(timeout))
	req := protocol.Request{ID: id, ClientName: name, ServiceKey: key, TimeoutMS: timeout.Milliseconds(), Data: []byte(data)}
	for i := 0; i+1 < len(ctx); i += 2 {
		req.Context = protocol.AppendContext(req.Context, ctx[i], ctx[i+1])
	}
	if _, err := conn.Write(protocol.AppendRequest(nil, &req)); err != nil {
		return resp, time.Since(start), err
	}
	err = protocol.NewResponseDecoder(conn).ReadResponse(&resp)
	return resp, time.Since(start), err
}

// serviceStatus returns GET /services/<key> as a map.
func serviceStatus(t *testing.T, m *manager, key string) map[string]any {
	t.Helper()
	var st map[string]any
	require.NoError(t, json.Unmarshal([]byte(m.get("/services/"+key)), &st))
	return st
}

// cpuTime returns the user+system CPU time of pid from /proc/<pid>/stat.
func cpuTime(t *testing.T, pid int) time.Duration {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	require.NoError(t, err)
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * 10 * time.Millisecond // USER_HZ is 100 on Linux
}

// clientLoop calls key over fresh connections until stop is closed or the
// bound is reached, counting successes and failures.
func clientLoop(m *manager, key string, stop chan struct{}, bound time.Duration, ok, failed *atomic.Int64, firstErr *atomic.Value) *sync.WaitGroup {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		end := time.Now().Add(bound)
		for i := 0; time.Now().Before(end); i++ {
			select {
			case <-stop:
				return
			default:
			}
			got, err := m.call(key, "r"+strconv.Itoa(i), 10*time.Second)
			if err == nil && got == "r"+strconv.Itoa(i) {
				ok.Add(1)
			} else {
				failed.Add(1)
				firstErr.CompareAndSwap(nil, fmt.Sprint(err))
			}
			time.Sleep(2 * time.Millisecond)
		}
	}()
	return &wg
}

// TestRolloutCannotStartKeepsOldVersion is issue 22 item 1: a reload to an
// exec that cannot start leaves the running version serving (0 failed
// requests), logs the failure and shows it in the status API; the next
// reload tries again, and a good version then replaces the old one.
func TestRolloutCannotStartKeepsOldVersion(t *testing.T) {
	t.Parallel()
	m := startManager(t, map[string]string{echoKey: echoConfig(t, "prestart-processes true\nunresponsive-timeout 5\n")})
	m.waitFor("Process Start: "+echoKey, 10*time.Second)
	oldPid := pidsOf(m.Grep("Process Start: " + echoKey))[0]
	stop := make(chan struct{})
	var ok, failed atomic.Int64
	var firstErr atomic.Value
	wg := clientLoop(m, echoKey, stop, 60*time.Second, &ok, &failed, &firstErr)

	missing := filepath.Join(m.Dir, "no-such-service")
	for _, tt := range []struct {
		name, config, want string
	}{
		{"missing exec", "exec " + missing + "\n", "exec " + missing + ": no such file or directory"},
		{"exits at once", "exec " + bin(t, "testExit") + " 3\n", "ended before it was ready: exit(3)"},
		{"never ready", "exec /bin/sleep 60\nunresponsive-timeout 5\n", "not ready (first accept) within 5s"},
	} {
		n := len(m.Grep("Service Error: rollout of " + echoKey + " failed"))
		m.writeConfig(echoKey, tt.config)
		m.signal(syscall.SIGHUP)
		line := m.waitCount("Service Error: rollout of "+echoKey+" failed", n+1, 15*time.Second)[n]
		assert.Contains(t, line, tt.want, tt.name)
		assert.Contains(t, line, "the running version keeps serving", tt.name)
		st := serviceStatus(t, m, echoKey)
		assert.Contains(t, st["rollout"], "rollout of "+echoKey+" failed: ", tt.name)
		assert.Contains(t, st["rollout"], tt.want, tt.name)
		assert.True(t, alive(oldPid), "%s: the old instance must keep serving", tt.name)
	}
	// The next reload tries again (and fails again the same way).
	m.writeConfig(echoKey, "exec "+missing+"\n# again\n")
	m.signal(syscall.SIGHUP)
	m.waitCount("Service Error: rollout of "+echoKey+" failed: exec "+missing, 2, 15*time.Second)
	// A good version replaces the old one.
	m.writeConfig(echoKey, echoConfig(t, "prestart-processes true\nminimum-processes 2\n"))
	m.signal(syscall.SIGHUP)
	m.waitFor("Service Shutdown: "+echoKey+" config changed", 15*time.Second)
	m.waitFor("Child Exit: normal "+echoKey+"/0-"+strconv.Itoa(oldPid)+" service shutdown", 15*time.Second)
	time.Sleep(300 * time.Millisecond)
	close(stop)
	wg.Wait()
	st := serviceStatus(t, m, echoKey)
	assert.Nil(t, st["rollout"])
	assert.EqualValues(t, 2, st["minimumProcesses"])
	t.Logf("MEASURED: %d requests during 5 reloads (3 bad versions, 1 retry, 1 good), %d failed", ok.Load()+failed.Load(), failed.Load())
	assert.Zero(t, failed.Load(), "first error: %v", firstErr.Load())
	assert.Positive(t, ok.Load())
	m.stop()
}

// TestCheckOnly is plutonManager -n: every problem of a configuration
// directory is printed, nothing is started, the exit code says whether
// there was any.
func TestCheckOnly(t *testing.T) {
	t.Parallel()
	m := newDirs(t, map[string]string{
		echoKey:             echoConfig(t, ""),
		"app.missing.0.raw": "exec " + filepath.Join(t.TempDir(), "nothing") + "\n",
		"app.notexec.0.raw": "exec /etc/passwd\n",
		"app.baduser.0.raw": echoConfig(t, "user no-such-user-pluton\n"),
		"app.syntax.0.raw":  echoConfig(t, "maximum-processes 0\n"),
		"app.badcd.0.raw":   echoConfig(t, "cd /no/such/dir\n"),
		"not a key":         "whatever",
	})
	out, err := runManager(t, "-n", "-C", m.C)
	assert.Equal(t, 1, exitCode(err), out)
	for _, want := range []string{
		"Config Error: " + filepath.Join(m.C, "app.missing.0.raw") + ": exec ",
		"nothing: no such file or directory",
		"Config Error: " + filepath.Join(m.C, "app.notexec.0.raw") + ": exec /etc/passwd: not executable",
		"Config Error: " + filepath.Join(m.C, "app.baduser.0.raw") + ": user: unknown user 'no-such-user-pluton'",
		"Config Error: " + filepath.Join(m.C, "app.syntax.0.raw") + ": Line 2: maximum-processes=0",
		"Config Error: " + filepath.Join(m.C, "app.badcd.0.raw") + ": cd /no/such/dir: no such file or directory",
		"Ignoring file 'not a key'",
		"1 service(s) ready, 5 problem(s): configuration test failed",
	} {
		assert.Contains(t, out, want)
	}
	entries, _ := os.ReadDir(m.R)
	assert.Empty(t, entries, "-n must not create anything")

	good := newDirs(t, map[string]string{echoKey: echoConfig(t, "")})
	out, err = runManager(t, "-n", "-C", good.C)
	require.NoError(t, err, out)
	assert.Contains(t, out, "1 service(s), configuration test is successful")
}

// TestManagerAnswersUnavailable is issue 14 item 5 and issue 22 item 7: a
// service in backoff, halted or held with no instance is answered by the
// manager with fault 7 naming the state and the cause, echoing the
// request's id and client name, at once; resume ends a backoff and starts
// an instance at once.
func TestManagerAnswersUnavailable(t *testing.T) {
	t.Parallel()
	crash, held := "test.crash.0.raw", "test.held.0.raw"
	m := startManager(t, map[string]string{
		crash:   "exec " + bin(t, "testExit") + " 1\nprestart-processes true\nexec-failure-backoff 60\n",
		held:    echoConfig(t, "minimum-processes 0\n"),
		echoKey: echoConfig(t, "prestart-processes true\n"),
	})
	m.waitFor("Service Warning: "+crash+": backoff restarts for 60s", 10*time.Second)
	var worst time.Duration
	for i := range 20 {
		resp, took, err := rawCall(m.socket(crash), crash, int64(1000+i), "e2e:"+strconv.Itoa(i), "x", 5*time.Second)
		require.NoError(t, err)
		worst = max(worst, took)
		require.EqualValues(t, 7, resp.FaultCode)
		assert.Equal(t, int64(1000+i), resp.ID)
		assert.Equal(t, "e2e:"+strconv.Itoa(i), resp.ClientName)
		assert.Regexp(t, `^`+crash+`: exec backoff \d+ s after 1 crash; last exit status 1; last stderr line: testExit: exiting with status 1$`, resp.FaultText)
	}
	t.Logf("MEASURED: fault 7 during a backoff answered in at most %s (20 requests)", worst.Round(time.Microsecond))
	assert.Less(t, worst, time.Second) // goal 100 ms; generous on a loaded machine
	st := serviceStatus(t, m, crash)
	assert.Contains(t, st["unavailable"], crash+": exec backoff")
	assert.Equal(t, 1, len(m.Grep("Process Start: "+crash)))

	// resume ends the backoff and starts an instance at once.
	code, body := m.post("/services/" + crash + "/resume")
	require.Equal(t, 200, code, body)
	m.waitCount("Process Start: "+crash, 2, 2*time.Second)

	// Halted.
	code, body = m.post("/services/" + echoKey + "/halt")
	require.Equal(t, 200, code, body)
	deadline := time.Now().Add(5 * time.Second)
	for instances(t, m, echoKey) != 0 {
		require.True(t, time.Now().Before(deadline), "halt did not stop the instances")
		time.Sleep(20 * time.Millisecond)
	}
	resp, took, err := rawCall(m.socket(echoKey), echoKey, 7, "e2e:halt", "x", 5*time.Second)
	require.NoError(t, err)
	assert.EqualValues(t, 7, resp.FaultCode)
	assert.Equal(t, echoKey+": halted (POST /services/"+echoKey+"/resume ends it)", resp.FaultText)
	t.Logf("MEASURED: fault 7 for a halted service in %s", took.Round(time.Microsecond))
	code, _ = m.post("/services/" + echoKey + "/resume")
	require.Equal(t, 200, code)
	got, err := m.call(echoKey, "back", 10*time.Second)
	require.NoError(t, err)
	assert.Equal(t, "back", got)

	// Held with no instance.
	code, _ = m.post("/services/" + held + "/hold")
	require.Equal(t, 200, code)
	resp, _, err = rawCall(m.socket(held), held, 8, "e2e:held", "x", 5*time.Second)
	require.NoError(t, err)
	assert.EqualValues(t, 7, resp.FaultCode)
	assert.Contains(t, resp.FaultText, held+": held with no instance running")
	m.stop()
}

// TestNoSpinWithQueuedConnections is issue 22 item 3: with queued and
// abandoned connections on services that cannot start, under every
// backoff setting, the manager stays below 5 % of a core and its log
// stops growing (repeated lines are summarized).
func TestNoSpinWithQueuedConnections(t *testing.T) {
	t.Parallel()
	missing := filepath.Join(os.TempDir(), "pluton-no-such-exec")
	keys := map[string]string{
		"spin.missing0.0.raw": "exec " + missing + "\nexec-failure-backoff 0\n",
		"spin.crash0.0.raw":   "exec " + bin(t, "testExit") + " 1\nexec-failure-backoff 0\nprestart-processes true\n",
		"spin.missing5.0.raw": "exec " + missing + "\nexec-failure-backoff 5\n",
		"spin.crash1.0.raw":   "exec " + bin(t, "testExit") + " 1\nexec-failure-backoff 1\nprestart-processes true\n",
	}
	m := startManager(t, keys)
	// Queue connections on every service: some send a request and wait,
	// some send nothing, some give up at once.
	var conns []net.Conn
	for key := range keys {
		for i := range 6 {
			c, err := net.Dial("unix", m.socket(key))
			require.NoError(t, err)
			switch i % 3 {
			case 0:
				req := protocol.Request{ID: int64(i), ServiceKey: key, TimeoutMS: 1000}
				_, _ = c.Write(protocol.AppendRequest(nil, &req))
				conns = append(conns, c)
			case 1:
				conns = append(conns, c) // silent
			case 2:
				c.Close() // abandoned
			}
		}
	}
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	// Warm-up: the first lines of each kind are logged in full (5 of each
	// within 30 s), then held back and summarized.
	time.Sleep(7 * time.Second)
	pid := m.cmd.Process.Pid
	lines0, cpu0, t0 := len(m.Lines()), cpuTime(t, pid), time.Now()
	time.Sleep(5 * time.Second)
	lines1, cpu1, wall := len(m.Lines()), cpuTime(t, pid), time.Since(t0)
	pct := 100 * float64(cpu1-cpu0) / float64(wall)
	rate := float64(lines1-lines0) / wall.Seconds()
	t.Logf("MEASURED: manager CPU %.1f %% of a core, log %.1f lines/s, with 4 failing services (backoff 0, 0, 1, 5 s) and 24 queued/abandoned connections", pct, rate)
	assert.Less(t, pct, 5.0)
	assert.Less(t, rate, 3.0)
	// Waiting clients were answered (fault 7), not left queued.
	for _, c := range conns[:1] {
		_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
		var resp protocol.Response
		if err := protocol.NewResponseDecoder(c).ReadResponse(&resp); err == nil {
			assert.EqualValues(t, 7, resp.FaultCode)
		}
	}
	m.stop()
}

// TestStartingInstanceLastActive is issue 22 item 8: an instance that has
// not written its slot yet shows its start time as lastActive, not the zero
// time.
func TestStartingInstanceLastActive(t *testing.T) {
	t.Parallel()
	key := "test.sleeper.0.raw"
	m := startManager(t, map[string]string{key: "exec /bin/sleep 30\nprestart-processes true\n"})
	m.waitFor("Process Start: "+key, 10*time.Second)
	var body struct {
		Processes []struct {
			State      string    `json:"state"`
			LastActive time.Time `json:"lastActive"`
		} `json:"processes"`
	}
	require.NoError(t, json.Unmarshal([]byte(m.get("/processes")), &body))
	require.Len(t, body.Processes, 1)
	assert.Equal(t, "starting", body.Processes[0].State)
	assert.WithinDuration(t, time.Now(), body.Processes[0].LastActive, time.Minute)
	m.stop()
}

// TestCrashForensics is issue 15 item 3: an instance killed while busy is
// named with the request it died on (and its recorder in-file when
// recording), in the Child Exit line and the status.
func TestCrashForensics(t *testing.T) {
	t.Parallel()
	rec := t.TempDir() + "/rec-"
	for _, tt := range []struct {
		name, extra, recorded string
	}{
		{"plain", "", ""},
		{"recording", "recorder-prefix " + rec + "\n", rec + "in.%d.00001"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m := startManager(t, map[string]string{echoKey: echoConfig(t, "prestart-processes true\nmaximum-processes 1\n"+tt.extra)})
			m.waitFor("Process Start: "+echoKey, 10*time.Second)
			pids := pidsOf(m.Grep("Process Start: " + echoKey))
			require.Len(t, pids, 1)
			done := make(chan error, 1)
			go func() {
				_, _, err := rawCall(m.socket(echoKey), echoKey, 4242, "poison:77", "x", 20*time.Second,
					"echo.sleepMS", "10000", "echo.log", "1")
				done <- err
			}()
			m.waitFor("Context: echo.sleepMS=10000", 10*time.Second)
			require.NoError(t, syscall.Kill(pids[0], syscall.SIGKILL))
			line := m.waitFor("Child Exit: abnormal "+echoKey+"/0-"+strconv.Itoa(pids[0]), 10*time.Second)
			assert.Contains(t, line, "; while serving request 4242 from poison:77")
			file := ""
			if tt.recorded != "" {
				file = fmt.Sprintf(tt.recorded, pids[0])
				assert.Contains(t, line, "(recorded in "+file+")")
				b, err := os.ReadFile(file)
				require.NoError(t, err, "the recorded request can be replayed")
				assert.Contains(t, string(b), "9apoison:77,")
			}
			assert.Error(t, <-done)
			st := serviceStatus(t, m, echoKey)
			crash, _ := st["lastCrash"].(map[string]any)
			require.NotNil(t, crash, "lastCrash")
			assert.EqualValues(t, 4242, crash["requestID"])
			assert.Equal(t, "poison:77", crash["clientName"])
			assert.Equal(t, false, crash["answered"])
			if file != "" {
				assert.Equal(t, file, crash["recorderFile"])
			}
			m.stop()
		})
	}
}

// TestRolloutSupersededAndRemoved: a reload during a rollout abandons the
// version being rolled out for the newer one; a removed configuration
// abandons it and removes the service.
func TestRolloutSupersededAndRemoved(t *testing.T) {
	t.Parallel()
	m := startManager(t, map[string]string{echoKey: echoConfig(t, "prestart-processes true\nunresponsive-timeout 30\n")})
	m.waitFor("Process Start: "+echoKey, 10*time.Second)
	// A version that never becomes ready (its instance never accepts).
	m.writeConfig(echoKey, "exec /bin/sleep 60\nunresponsive-timeout 30\n")
	m.signal(syscall.SIGHUP)
	m.waitFor("Service Rollout: "+echoKey+" starting 1 instance(s)", 10*time.Second)
	st := serviceStatus(t, m, echoKey)
	assert.Equal(t, "running", st["phase"])
	// Superseded by a good version before its bound.
	m.writeConfig(echoKey, echoConfig(t, "prestart-processes true\nminimum-processes 2\n"))
	m.signal(syscall.SIGHUP)
	m.waitFor("Service Shutdown: "+echoKey+" new version abandoned: superseded by a newer configuration", 10*time.Second)
	m.waitFor("Service Shutdown: "+echoKey+" config changed", 10*time.Second)
	got, err := m.call(echoKey, "new", 10*time.Second)
	require.NoError(t, err)
	assert.Equal(t, "new", got)
	assert.EqualValues(t, 2, serviceStatus(t, m, echoKey)["minimumProcesses"])
	assert.Empty(t, m.Grep("rollout of "+echoKey+" failed"))

	// Removed during a rollout.
	m.writeConfig(echoKey, "exec /bin/sleep 60\n# never ready\n")
	m.signal(syscall.SIGHUP)
	m.waitCount("Service Rollout: "+echoKey+" starting", 3, 10*time.Second)
	require.NoError(t, os.Remove(filepath.Join(m.C, echoKey)))
	m.signal(syscall.SIGHUP)
	m.waitFor("Service Shutdown: "+echoKey+" new version abandoned: its configuration was removed", 10*time.Second)
	m.waitFor("Service Shutdown: "+echoKey+" config deleted", 10*time.Second)
	m.waitFor("Service Exit: "+echoKey, 20*time.Second)
	_, err = os.Stat(m.socket(echoKey))
	assert.True(t, os.IsNotExist(err))
	entries, _ := os.ReadDir(m.R)
	for _, e := range entries {
		assert.NotContains(t, e.Name(), ".tmp", "a staged file left behind")
	}
	m.stop()
}
