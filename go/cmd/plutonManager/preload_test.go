package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pluton-go/pluton/go/client"
	"github.com/pluton-go/pluton/go/testbin"
)

// preloadPython is a Python service whose import takes 2 s. It answers
// "<pid> <slot> <pid that ran the import> <on_fork calls> <on_preload calls>";
// the request "sleep" holds the instance 300 ms.
const preloadPython = `import os, sys, time
sys.path.insert(0, %q)
time.sleep(2)  # a slow import
IMPORTED_IN = os.getpid()
import pluton

service = pluton.Service("preload")
forks, warm = [], []
service.on_fork(lambda: forks.append(os.getpid()))
service.on_preload(lambda: warm.append(os.getpid()))

def handle(request):
    if request.data == b"sleep":
        time.sleep(0.3)
    return ("%%d %%s %%d %%d %%d" %% (os.getpid(), os.environ.get("plutonSlot"), IMPORTED_IN, len(forks), len(warm))).encode()

service.serve(handle)
`

// preloadAnswer is one parsed answer of preloadPython.
type preloadAnswer struct {
	pid, slot, importedIn, forks, warm int
}

func parsePreloadAnswer(t *testing.T, data []byte) preloadAnswer {
	t.Helper()
	f := strings.Fields(string(data))
	require.Len(t, f, 5, "answer %q", data)
	n := make([]int, 5)
	for i, s := range f {
		v, err := strconv.Atoi(s)
		require.NoError(t, err, "answer %q", data)
		n[i] = v
	}
	return preloadAnswer{pid: n[0], slot: n[1], importedIn: n[2], forks: n[3], warm: n[4]}
}

// burst calls key with "sleep" from 24 goroutines until 8 distinct pids
// answered or within; it returns the answers by pid and how long it took.
func burst(t *testing.T, c *client.Client, key string, within time.Duration) (map[int]preloadAnswer, time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	var mu sync.Mutex
	seen := map[int]preloadAnswer{}
	var errs []error
	start := time.Now()
	var took time.Duration
	var wg sync.WaitGroup
	for range 24 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				got, err := c.Call(ctx, key, []byte("sleep"))
				if ctx.Err() != nil {
					return
				}
				mu.Lock()
				if err != nil {
					errs = append(errs, err)
				} else {
					a := parsePreloadAnswer(t, got.Data)
					seen[a.pid] = a
					if len(seen) == 8 && took == 0 {
						took = time.Since(start)
						cancel()
					}
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	require.Empty(t, errs, "calls failed during the burst")
	require.Len(t, seen, 8, "8 instances did not answer within %s", within)
	return seen, took
}

// TestPreloadPythonBurst: a Python service whose import takes 2 s, with and
// without "preload true", bursts from 1 to 8 instances. With preload the 7
// new instances are forked from the template: they did not run the import
// (IMPORTED_IN is the template's pid), ran on_fork once and inherited the
// one run of on_preload (in the template), answer from their own slot, have their own
// report records (Usage lines) and are there well under the import time.
// Killing the template (kill -9) restarts it while every instance keeps
// serving; killing a forked instance is seen like any exit; a changed
// configuration and an upgrade in place each start a new template, leaving
// no zombie. Without preload every new instance pays the import (measured
// and logged).
func TestPreloadPythonBurst(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("no python3")
	}
	root := testbin.RepoRoot(t)
	dir, err := os.MkdirTemp("", "preload")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	script := filepath.Join(dir, "slow.py")
	require.NoError(t, os.WriteFile(script, []byte(fmt.Sprintf(preloadPython, filepath.Join(root, "sdk/python/src"))), 0o644))
	common := "exec " + py + " " + script + "\nprestart-processes true\nminimum-processes 1\nmaximum-processes 8\nidle-timeout 300\n"
	configs := map[string]string{
		"slow.preload.0.raw": common + "preload true\n",
		"slow.exec.0.raw":    common,
	}
	home := newHome(t, configs)
	r := startIn(t, home, "-l", "processStart,processExit,processUsage,processLog,calibrate,serviceConfig")
	r.waitFor(ready, 1, 30*time.Second)
	readyRe := `Service Preload: slow\.preload\.0\.raw preload template pid (\d+) ready`
	lines := r.waitFor(readyRe, 1, 30*time.Second)
	template, err := strconv.Atoi(regexp.MustCompile(readyRe).FindStringSubmatch(lines[0])[1])
	require.NoError(t, err)
	r.waitFor(`Process Start: slow\.exec\.0\.raw/0-`, 1, 10*time.Second)

	c, err := client.New("preload", client.WithLookup(filepath.Join(home, "lookup.map")), client.WithTimeout(20*time.Second))
	require.NoError(t, err)
	// the exec'd first instance of each service is past its import
	for _, key := range []string{"slow.preload.0.raw", "slow.exec.0.raw"} {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		_, err := c.Call(ctx, key, []byte("x"))
		cancel()
		require.NoError(t, err, key)
	}

	seen, took := burst(t, c, "slow.preload.0.raw", 20*time.Second)
	t.Logf("preload: 1 -> 8 serving instances in %s", took.Round(time.Millisecond))
	assert.Less(t, took, 2*time.Second, "with preload, 8 instances serve well before one import could finish")
	slots := map[int]bool{}
	forked := 0
	for pid, a := range seen {
		slots[a.slot] = true
		if a.importedIn == pid { // the exec'd first instance
			assert.Equal(t, 0, a.forks)
			assert.Equal(t, 1, a.warm, "on_preload runs in an exec'd instance")
			continue
		}
		forked++
		assert.Equal(t, template, a.importedIn, "pid %d: the import ran in the template", pid)
		assert.Equal(t, 1, a.forks, "pid %d: on_fork ran once", pid)
		assert.Equal(t, 1, a.warm, "pid %d: on_preload ran once, in the template", pid)
	}
	assert.Equal(t, 7, forked, "7 instances forked from the template")
	assert.Len(t, slots, 8, "every instance has its own slot")
	assert.Len(t, r.grep(`Process Start: slow\.preload\.0\.raw/\d-\d+ .*start=preload`), 7)

	var procs struct {
		Processes []struct {
			Service  string `json:"service"`
			Slot     int    `json:"slot"`
			PID      int    `json:"pid"`
			Requests uint64 `json:"requests"`
			Start    string `json:"start"`
		} `json:"processes"`
	}
	r.get("/processes", &procs)
	matched := 0
	for _, p := range procs.Processes {
		if a, ok := seen[p.PID]; ok && p.Service == "slow.preload.0.raw" {
			matched++
			assert.Equal(t, a.slot, p.Slot, "pid %d: the slot the manager gave it", p.PID)
			assert.Positive(t, p.Requests, "pid %d: its slot counts its requests", p.PID)
			want := "preload"
			if a.importedIn == p.PID {
				want = "exec"
			}
			assert.Equal(t, want, p.Start, "pid %d: how it started", p.PID)
		}
	}
	assert.Equal(t, preloadStatus{PID: template, Ready: true}, r.preload("slow.preload.0.raw"))
	var plain struct {
		Preload *preloadStatus `json:"preload"`
	}
	r.get("/services/slow.exec.0.raw", &plain)
	assert.Nil(t, plain.Preload, "no preload: null")
	assert.Equal(t, 8, matched, "the status API shows every instance with its pid in its slot")

	// kill -9 of the template: it is restarted; the instances keep serving
	require.NoError(t, syscall.Kill(template, syscall.SIGKILL))
	r.waitFor(fmt.Sprintf(`preload template pid %d ended: signal SIGKILL`, template), 1, 10*time.Second)
	for range 16 {
		got := callSettled(t, c, "slow.preload.0.raw", "an instance answers while the template is down")
		_, ok := seen[parsePreloadAnswer(t, got).pid]
		assert.True(t, ok, "answered by one of the running instances")
	}
	r.waitFor(readyRe, 2, 30*time.Second)

	// kill -9 of a forked instance: the manager reaps it like any child
	for pid, a := range seen {
		if a.importedIn != pid {
			require.NoError(t, syscall.Kill(pid, syscall.SIGKILL))
			r.waitFor(fmt.Sprintf(`Child Exit: abnormal slow\.preload\.0\.raw/%d-%d .*signal SIGKILL`, a.slot, pid), 1, 10*time.Second)
			break
		}
	}

	// without preload: every new instance pays the import
	seenExec, tookExec := burst(t, c, "slow.exec.0.raw", 30*time.Second)
	t.Logf("exec: 1 -> 8 serving instances in %s", tookExec.Round(time.Millisecond))
	for pid, a := range seenExec {
		assert.Equal(t, pid, a.importedIn, "pid %d: an exec'd instance runs the import itself", pid)
		assert.Equal(t, 0, a.forks)
	}

	// an upgrade in place: the forked instances are handed over like the
	// others, the old template is stopped and reaped, the new program
	// starts its own
	require.NoError(t, r.cmd.Process.Signal(syscall.SIGUSR2))
	r.waitFor(`Manager Upgrade: adopted`, 1, 30*time.Second)
	for range 8 {
		callSettled(t, c, "slow.preload.0.raw", "the handed-over instances serve")
	}
	r.waitFor(readyRe, 3, 30*time.Second)
	assert.Empty(t, zombieChildren(t, r.cmd.Process.Pid), "no zombie left by the template or the upgrade")

	// a changed configuration: the new version gets a new template
	cfg := filepath.Join(home, "configuration", "slow.preload.0.raw")
	require.NoError(t, os.WriteFile(cfg, []byte(configs["slow.preload.0.raw"]+"maximum-requests 5000\n"), 0o644))
	require.NoError(t, r.cmd.Process.Signal(syscall.SIGHUP))
	r.waitFor(readyRe, 4, 30*time.Second)

	r.stop()
	// every instance forked from a template left its own report records
	for pid, a := range seen {
		if a.importedIn != pid {
			assert.NotEmpty(t, r.grep(fmt.Sprintf(`Usage: slow\.preload\.0\.raw/%d-%d `, a.slot, pid)), "pid %d: Usage from its reports", pid)
		}
	}
}

// TestPreloadUnsupportedSDK: a Go service (the Go library cannot fork
// safely and does not implement preload) configured with "preload true":
// its template finds no request source and exits; after three templates
// preload is given up with a warning naming the service, and instances are
// exec'd and serve.
func TestPreloadUnsupportedSDK(t *testing.T) {
	home := newHome(t, map[string]string{
		"echo.go.0.raw": "exec " + testbin.Path(t, "echoService") + "\nprestart-processes true\npreload true\n",
	})
	r := startIn(t, home)
	r.waitFor(ready, 1, 30*time.Second)
	r.waitFor(`Service Warning: echo\.go\.0\.raw: preload disabled until the configuration changes: 3 templates in a row ended before they were ready`, 1, 20*time.Second)
	c, err := client.New("preload", client.WithLookup(filepath.Join(home, "lookup.map")))
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	got, err := c.Call(ctx, "echo.go.0.raw", []byte("hi"))
	require.NoError(t, err)
	assert.Equal(t, "hi", string(got.Data))
	assert.Equal(t, preloadStatus{Disabled: true}, r.preload("echo.go.0.raw"))
}

// preloadStatus is the "preload" object of GET /services/<SK>.
type preloadStatus struct {
	PID      int  `json:"pid"`
	Ready    bool `json:"ready"`
	Disabled bool `json:"disabled"`
}

func (r *running) preload(key string) preloadStatus {
	r.t.Helper()
	var s struct {
		Preload *preloadStatus `json:"preload"`
	}
	r.get("/services/"+key, &s)
	require.NotNil(r.t, s.Preload, "%s: preload", key)
	return *s.Preload
}

// zombieChildren returns the children of pid that are zombies.
func zombieChildren(t *testing.T, pid int) []int {
	t.Helper()
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	require.NoError(t, err)
	var out []int
	for _, task := range tasks {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/children", pid, task.Name()))
		if err != nil {
			continue
		}
		for _, f := range strings.Fields(string(b)) {
			if child, err := strconv.Atoi(f); err == nil && zombie(child) {
				out = append(out, child)
			}
		}
	}
	return out
}

// callSettled calls key with "x", trying up to three times: the pool scales
// down after the burst, and a request that reaches an instance just as it is
// stopped may be answered with a fault (a race of every scale-down, not of
// preload); three failures in a row fail the test.
func callSettled(t *testing.T, c *client.Client, key, what string) []byte {
	t.Helper()
	var err error
	for range 3 {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		var got client.Response
		got, err = c.Call(ctx, key, []byte("x"))
		cancel()
		if err == nil {
			return got.Data
		}
		t.Logf("%s: %v (retrying)", what, err)
		time.Sleep(100 * time.Millisecond)
	}
	require.NoError(t, err, what)
	return nil
}
