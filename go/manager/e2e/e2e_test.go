// Package e2e runs the plutonManager binary with real service processes,
// sockets and signals.
package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pluton-go/pluton/go/testbin"
)

const echoKey = "system.echo.0.raw"

func echoConfig(t *testing.T, extra string) string {
	return "exec " + bin(t, "echoService") + "\n" + extra
}

// servicesStatus fetches GET /services.
func servicesStatus(t *testing.T, m *manager) map[string]map[string]any {
	var body struct {
		Services []map[string]any `json:"services"`
	}
	require.NoError(t, json.Unmarshal([]byte(m.get("/services")), &body))
	out := make(map[string]map[string]any)
	for _, s := range body.Services {
		if s["phase"] == "running" {
			out[s["key"].(string)] = s
		}
	}
	return out
}

func instances(t *testing.T, m *manager, key string) int {
	s := servicesStatus(t, m)[key]
	if s == nil {
		return -1
	}
	return int(s["instances"].(float64))
}

func TestEchoServesAndStops(t *testing.T) {
	t.Parallel()
	m := startManager(t, map[string]string{echoKey: echoConfig(t, ""), "wild..0.raw": echoConfig(t, "")})
	got, err := m.call(echoKey, "Hello", 10*time.Second)
	require.NoError(t, err)
	assert.Equal(t, "Hello", got)
	// A wildcard configuration App..Ver.Ser serves any function of App.
	got, err = call(m.socket("wild..0.raw"), "wild.anything.0.raw", "wild", 10*time.Second)
	require.NoError(t, err)
	assert.Equal(t, "wild", got)
	m.waitFor("Process Start: system.echo.0.raw/0-", time.Second)
	lookupMap, err := os.ReadFile(filepath.Join(m.Dir, "lookup.map"))
	require.NoError(t, err)
	assert.Contains(t, string(lookupMap), "system.raw.0.echo "+m.socket(echoKey)+"\n")
	assert.Contains(t, string(lookupMap), "wild.raw.0 "+m.socket("wild..0.raw")+"\n")
	fi, err := os.Stat(m.socket(echoKey))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o666), fi.Mode().Perm())
	pids := pidsOf(m.Grep("Process Start:"))
	assert.NotEmpty(t, m.GrepRE(`^(\S+ )?Uptime: \S+ CPU=[\d.]+% Mem=\d+MB Objects: Services=2 Process=\d Max \(2/\d\)$`))
	assert.NotEmpty(t, m.GrepRE(`^(\S+ )?Stats: Processes=\d Children=\d`))
	m.stop()
	m.waitFor("Child Exit: normal system.echo.0.raw/0-", time.Second)
	for _, pid := range pids {
		assert.False(t, alive(pid), "instance %d still alive", pid)
	}
	_, err = os.Stat(m.socket(echoKey))
	assert.True(t, os.IsNotExist(err), "socket left behind")
}

func TestConfigErrors(t *testing.T) {
	t.Parallel()
	src := filepath.Join(testbin.RepoRoot(t), "go/manager/config/testdata/allErrorsConfig")
	entries, err := os.ReadDir(src)
	require.NoError(t, err)
	configs := map[string]string{echoKey: echoConfig(t, "")}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		require.NoError(t, err)
		configs[e.Name()] = string(b)
	}
	m := startManager(t, configs)
	errs := m.Grep("Config Error:")
	assert.Len(t, errs, 11, strings.Join(errs, "\n"))
	for _, name := range []string{"affinityTooHigh", "affinityTooLow", "badBoolean", "badMultiplier", "badNumber",
		"duplicateExec", "empty", "exex", "minAboveMax", "overflow", "unknown"} {
		assert.Len(t, m.Grep("Config Error: "+filepath.Join(m.C, "allErrors."+name+".0.raw")), 1, name)
	}
	assert.Len(t, m.Grep("Ignoring file 'badtype.param.0.yoo'"), 1)
	assert.Len(t, m.Grep("Ignoring file 'invalid.type'"), 1)
	m.waitFor("Config Scan Complete: New=1 Retained=0 Replaced=0", time.Second)
	got, err := m.call(echoKey, "still serving", 10*time.Second)
	require.NoError(t, err)
	assert.Equal(t, "still serving", got)
	m.stop()
}

func TestReload(t *testing.T) {
	t.Parallel()
	a, b, c := "app.a.0.raw", "app.b.0.raw", "app.c.0.raw"
	m := startManager(t, map[string]string{a: echoConfig(t, ""), b: echoConfig(t, "")})
	for _, k := range []string{a, b} {
		_, err := m.call(k, "x", 10*time.Second)
		require.NoError(t, err, k)
	}
	oldPids := pidsOf(m.Grep("Process Start: " + a))
	require.Len(t, oldPids, 1)

	// Touch a, add c, SIGHUP.
	future := time.Now()
	require.NoError(t, os.Chtimes(filepath.Join(m.C, a), future, future))
	m.writeConfig(c, echoConfig(t, ""))
	m.signal(syscall.SIGHUP)
	m.waitFor("Config Scan Complete: New=1 Retained=1 Replaced=1 Removed=0", 10*time.Second)
	m.waitFor("Config Loading changed: "+a, time.Second)
	m.waitFor("Config Loading new: "+c, time.Second)
	m.waitFor("Service Shutdown: "+a+" config changed", time.Second)
	for _, k := range []string{a, b, c} {
		got, err := m.call(k, "after reload", 10*time.Second)
		require.NoError(t, err, k)
		assert.Equal(t, "after reload", got)
	}
	m.waitFor("Child Exit: normal "+a+"/0-"+strconv.Itoa(oldPids[0])+" service shutdown", 10*time.Second)
	lookupMap, err := os.ReadFile(filepath.Join(m.Dir, "lookup.map"))
	require.NoError(t, err)
	assert.Contains(t, string(lookupMap), "app.raw.0.c ")

	// A changed config that no longer parses keeps the running service.
	m.writeConfig(b, echoConfig(t, "maximum-processes 0\n"))
	m.signal(syscall.SIGHUP)
	m.waitFor("Config Scan Complete: New=0 Retained=3 Replaced=0 Removed=0", 10*time.Second)
	m.waitFor("Config Error: "+filepath.Join(m.C, b), time.Second)
	m.waitFor("configuration no longer loads; the running service is kept", time.Second)
	_, err = m.call(b, "kept", 10*time.Second)
	require.NoError(t, err)

	// A group-writable config is refused the same way.
	require.NoError(t, os.Chmod(filepath.Join(m.C, c), 0o664))
	// A removed config stops its service and removes its socket; SIGINT reloads everything.
	require.NoError(t, os.Remove(filepath.Join(m.C, b)))
	m.signal(syscall.SIGINT)
	m.waitFor("Config Removing: "+b, 10*time.Second)
	m.waitFor("Config Error: "+filepath.Join(m.C, c), 10*time.Second)
	m.waitFor("Config Scan Complete: New=0 Retained=1 Replaced=1 Removed=1", 10*time.Second)
	m.waitFor("Service Exit: "+b, 10*time.Second)
	_, err = os.Stat(m.socket(b))
	assert.True(t, os.IsNotExist(err))
	_, err = m.call(c, "kept", 10*time.Second)
	require.NoError(t, err)
	m.stop()
}

func TestUnresponsiveKilled(t *testing.T) {
	t.Parallel()
	key := "test.stall.0.raw"
	m := startManager(t, map[string]string{key: "exec " + bin(t, "testStall") +
		"\nunresponsive-timeout 5\nmaximum-processes 1\nprestart-processes true\n"})
	m.waitFor("Process Start: "+key, 10*time.Second)
	stalled := make(chan error, 1)
	start := time.Now()
	go func() {
		_, err := m.call(key, "stall", 20*time.Second)
		stalled <- err
	}()
	m.waitFor("Log: "+key+"/0-", 10*time.Second) // "testStall: stalling"
	got, err := m.call(key, "next", 20*time.Second)
	require.NoError(t, err, "the request after the stalled one")
	assert.Equal(t, "next", got)
	t.Logf("MEASURED: unresponsive instance replaced and next request served after %s", time.Since(start).Round(time.Millisecond))
	assert.Error(t, <-stalled, "the stalled request cannot succeed")
	m.waitFor("unresponsive: busy for", time.Second)
	m.waitFor("SIGKILL sent to unresponsive child", time.Second)
	line := m.waitFor("Child Exit: abnormal "+key, time.Second)
	assert.Contains(t, line, "responded to kill(SIGKILL), unresponsive")
	assert.Empty(t, m.Grep("backoff restarts"))
	m.stop()
}

func TestExitBackoff(t *testing.T) {
	t.Parallel()
	backed, eager := "test.backoff.0.raw", "test.eager.0.raw"
	m := startManager(t, map[string]string{
		backed: "exec " + bin(t, "testExit") + " 1\nprestart-processes true\n",
		eager:  "exec " + bin(t, "testExit") + " 1\nprestart-processes true\nexec-failure-backoff 0\n",
	})
	m.waitFor("Child Exit: abnormal "+backed, 10*time.Second)
	line := m.waitFor("Service Warning: "+backed+": backoff restarts for 60s: Abnormal Exit Code", 10*time.Second)
	assert.NotEmpty(t, line)
	assert.Contains(t, m.waitFor("Child Exit: abnormal "+backed, time.Second), "exit(1)")
	// Clients fail fast while the service is backed off.
	start := time.Now()
	_, err := m.call(backed, "x", 10*time.Second)
	assert.Error(t, err)
	assert.Less(t, time.Since(start), 2*time.Second, "client should fail fast during backoff")
	t.Logf("MEASURED: client turned away during backoff in %s", time.Since(start).Round(time.Millisecond))
	// With exec-failure-backoff 0 the service keeps being restarted.
	m.waitCount("Process Start: "+eager, 3, 8*time.Second)
	m.waitFor("Service Warning: "+eager+": prefer to backoff restarts due to: Abnormal Exit Code", time.Second)
	assert.Len(t, m.Grep("Process Start: "+backed), 1, "no restart during backoff")
	m.stop()
}

// load runs n clients that call key in a loop until stop is closed.
func load(m *manager, key string, n int, stop chan struct{}, ok *atomic.Int64, ctx ...string) *sync.WaitGroup {
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := m.call(key, "load", 10*time.Second, ctx...); err == nil {
					ok.Add(1)
				}
			}
		}()
	}
	return &wg
}

// TestBacklogScaleUp is not parallel: it measures a reaction time.
func TestBacklogScaleUp(t *testing.T) {
	m := startManager(t, map[string]string{echoKey: echoConfig(t,
		"minimum-processes 1\nmaximum-processes 4\nprestart-processes true\n")})
	m.waitFor("Process Start: "+echoKey, 10*time.Second)
	stop := make(chan struct{})
	var ok atomic.Int64
	start := time.Now()
	wg := load(m, echoKey, 16, stop, &ok, "echo.sleepMS", "50")
	m.waitFor("(4 of 4)", 10*time.Second)
	elapsed := time.Since(start)
	time.Sleep(500 * time.Millisecond)
	close(stop)
	wg.Wait()
	t.Logf("MEASURED: backlog scale-up 1 -> 4 instances in %s (16 clients, echo.sleepMS=50)", elapsed.Round(time.Millisecond))
	assert.Less(t, elapsed, 5*time.Second) // the bound
	assert.NotEmpty(t, m.Grep("Calibrate Up: "+echoKey))
	assert.Positive(t, ok.Load())
	m.stop()
}

func TestIdleShutdown(t *testing.T) {
	t.Parallel()
	m := startManager(t, map[string]string{echoKey: echoConfig(t,
		"minimum-processes 1\nmaximum-processes 4\nprestart-processes true\nidle-timeout 10\n")})
	m.waitFor("Process Start: "+echoKey, 10*time.Second)
	stop := make(chan struct{})
	var ok atomic.Int64
	wg := load(m, echoKey, 16, stop, &ok, "echo.sleepMS", "50")
	m.waitFor("(4 of 4)", 10*time.Second)
	close(stop)
	wg.Wait()
	end := time.Now()
	deadline := end.Add(14 * time.Second)
	for instances(t, m, echoKey) > 1 {
		require.True(t, time.Now().Before(deadline), "instances did not drop back to the minimum")
		time.Sleep(100 * time.Millisecond)
	}
	elapsed := time.Since(end)
	t.Logf("MEASURED: back to minimum-processes %s after the load stopped (idle-timeout 10s)", elapsed.Round(time.Millisecond))
	assert.Less(t, elapsed, 12*time.Second)
	reasons := append(m.Grep("excess processes"), m.Grep("idle timeout")...)
	assert.Len(t, reasons, 3, strings.Join(reasons, "\n"))
	m.stop()
}

func TestKill9LeavesNoInstance(t *testing.T) {
	t.Parallel()
	m := startManager(t, map[string]string{echoKey: echoConfig(t, "minimum-processes 2\nprestart-processes true\n")})
	pids := pidsOf(m.waitCount("Process Start: "+echoKey, 2, 10*time.Second))
	require.Len(t, pids, 2)
	require.NoError(t, m.cmd.Process.Kill())
	<-m.done
	deadline := time.Now().Add(2 * time.Second)
	for _, pid := range pids {
		for alive(pid) {
			require.True(t, time.Now().Before(deadline), "instance %d survived kill -9 of the manager", pid)
			time.Sleep(20 * time.Millisecond)
		}
	}
}

func TestMaxRequestsRecycling(t *testing.T) {
	t.Parallel()
	m := startManager(t, map[string]string{echoKey: echoConfig(t,
		"maximum-requests 5\nenable-leak-ramping false\nmaximum-processes 3\nprestart-processes true\n")})
	m.waitFor("Process Start: "+echoKey, 10*time.Second)
	for i := range 23 {
		got, err := m.call(echoKey, fmt.Sprint("r", i), 10*time.Second)
		require.NoError(t, err, "request %d", i)
		require.Equal(t, fmt.Sprint("r", i), got)
		time.Sleep(20 * time.Millisecond)
	}
	m.waitCount("maximum requests", 4, 10*time.Second)
	for _, l := range m.Grep("maximum requests") {
		assert.Contains(t, l, "Child Exit: normal")
	}
	assert.GreaterOrEqual(t, len(m.Grep("Process Start: "+echoKey)), 5)
	m.stop()
}

func TestHoldHaltResumeAndMetrics(t *testing.T) {
	t.Parallel()
	m := startManager(t, map[string]string{echoKey: echoConfig(t, "prestart-processes true\n")})
	m.waitFor("Process Start: "+echoKey, 10*time.Second)
	_, err := m.call(echoKey, "x", 10*time.Second)
	require.NoError(t, err)

	code, body := m.post("/services/" + echoKey + "/hold")
	require.Equal(t, 200, code, body)
	assert.Contains(t, body, `"held": true`)
	_, err = m.call(echoKey, "held but running", 10*time.Second)
	require.NoError(t, err)

	code, body = m.post("/services/" + echoKey + "/halt")
	require.Equal(t, 200, code, body)
	deadline := time.Now().Add(5 * time.Second)
	for instances(t, m, echoKey) != 0 {
		require.True(t, time.Now().Before(deadline), "halt did not stop the instances")
		time.Sleep(50 * time.Millisecond)
	}
	start := time.Now()
	_, err = m.call(echoKey, "halted", 10*time.Second)
	assert.Error(t, err)
	assert.Less(t, time.Since(start), 2*time.Second, "a halted service turns clients away")

	code, _ = m.post("/services/" + echoKey + "/resume")
	require.Equal(t, 200, code)
	got, err := m.call(echoKey, "resumed", 10*time.Second)
	require.NoError(t, err)
	assert.Equal(t, "resumed", got)

	code, _ = m.post("/services/no.such.0.raw/hold")
	assert.Equal(t, 404, code)
	code, _ = m.post("/services/" + echoKey + "/explode")
	assert.Equal(t, 404, code)

	procs := m.get("/processes")
	assert.Contains(t, procs, `"logID": "`+echoKey+`/`)
	assert.Contains(t, m.get("/stats"), `"services": 1`)
	// Reports come in batches: wait for one.
	deadline = time.Now().Add(5 * time.Second)
	var metrics string
	for {
		metrics = m.get("/metrics")
		if strings.Contains(metrics, `pluton_service_requests_total{outcome="ok",service="`+echoKey+`"}`) ||
			time.Now().After(deadline) {
			break
		}
		_, _ = m.call(echoKey, "more", 10*time.Second)
		time.Sleep(200 * time.Millisecond)
	}
	for _, series := range []string{
		`pluton_service_instances{service="` + echoKey + `"} 1`,
		`pluton_service_busy_instances{service="` + echoKey + `"}`,
		`pluton_service_occupancy_ratio{service="` + echoKey + `"}`,
		`pluton_service_backlog{service="` + echoKey + `"}`,
		`pluton_service_requests_total{outcome="ok",service="` + echoKey + `"}`,
		`pluton_service_request_duration_seconds_bucket{service="` + echoKey + `",le="0.001"}`,
		`pluton_service_exits_total{reason="serviceShutdown",service="` + echoKey + `"} 1`,
		`pluton_service_starts_total{service="` + echoKey + `"} 2`,
		`pluton_service_backoff{service="` + echoKey + `"} 0`,
		`pluton_service_held{service="` + echoKey + `"} 0`,
	} {
		assert.Contains(t, metrics, series)
	}
	m.stop()
}

func TestSecondManagerRefused(t *testing.T) {
	t.Parallel()
	m := startManager(t, map[string]string{echoKey: echoConfig(t, "")})
	out, err := runManager(t, "-C", m.C, "-R", m.R, "-L", filepath.Join(m.Dir, "other.map"))
	require.Error(t, err)
	assert.Equal(t, 1, exitCode(err))
	assert.Regexp(t, regexp.MustCompile(`FATAL: Another plutonManager \(pid \d+\) is using Rendezvous directory `+regexp.QuoteMeta(m.R)), out)
	got, err := m.call(echoKey, "first still serves", 10*time.Second)
	require.NoError(t, err)
	assert.Equal(t, "first still serves", got)
	m.stop()
}

func TestFatalDirectories(t *testing.T) {
	t.Parallel()
	m := newDirs(t, nil)
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"-C", m.C, "-R", filepath.Join(m.Dir, "missing", "R")}, "FATAL: Rendezvous directory " + filepath.Join(m.Dir, "missing", "R") + ": cannot create it: no such file or directory"},
		{[]string{"-C", filepath.Join(m.Dir, "missing"), "-R", m.R}, "FATAL: Configuration directory "},
		{[]string{"-C", m.C, "-R", m.R, "-L", filepath.Join(m.Dir, "missing", "lookup.map")}, "FATAL: LookupMap directory "},
		{[]string{"-C", m.C, "-R", m.R, "-c", "0.0.0.0:9990"}, "FATAL: Status address 0.0.0.0:9990 refused"},
		{[]string{"-C", m.C, "-R", m.R, "-x"}, "FATAL: Invoked with bad parameter: -x"},
		{[]string{"-C", m.C, "-R", m.R, "extra"}, "FATAL: Invoked with bad parameter: extra"},
	} {
		out, err := runManager(t, tt.args...)
		assert.Equal(t, 1, exitCode(err), tt.args)
		assert.Contains(t, out, tt.want, tt.args)
	}
	out, err := runManager(t, "-h")
	require.NoError(t, err)
	assert.Contains(t, out, "Version ")
}

func TestResourceLimits(t *testing.T) {
	t.Parallel()
	key, mem := "test.files.0.raw", "test.malloc.0.raw"
	m := startManager(t, map[string]string{
		key: "exec " + bin(t, "testFileLoop") + "\nulimit-open-files 20\nprestart-processes true\n",
		mem: "exec " + bin(t, "testMallocLoop") + "\nulimit-data-memory 64\nprestart-processes true\n",
	})
	line := m.waitFor("testFileLoop: opened", 10*time.Second)
	mm := regexp.MustCompile(`opened (\d+) files`).FindStringSubmatch(line)
	require.NotNil(t, mm, line)
	n, _ := strconv.Atoi(mm[1])
	assert.Less(t, n, 20, line)
	assert.Positive(t, n, line)
	m.waitFor("Log: "+mem+"/0-", 10*time.Second)
	assert.Contains(t, m.waitFor("Child Exit: abnormal "+mem, 10*time.Second), "exit(2)")
	assert.NotEmpty(t, m.GrepRE(`Log: `+regexp.QuoteMeta(mem)+`/0-\d+ fatal error: .*out of memory`))
	assert.Empty(t, m.GrepRE(`testMallocLoop: (6[4-9]|[7-9]\d|\d{3,}) MB`), "allocated beyond the limit")
	m.stop()
}

func runManager(t *testing.T, args ...string) (string, error) {
	cmd := execCommand(bin(t, "plutonManager"), args...)
	cmd.Env = append(os.Environ(), "plutonHome="+t.TempDir()) // the default home is never the machine's
	out, err := cmd.CombinedOutput()
	return string(out), err
}
