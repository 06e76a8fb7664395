package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
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

// run is one plutonManager process in an isolated home.
type running struct {
	t       *testing.T
	home    string // $plutonHome
	status  string // the status API's Unix socket
	cmd     *exec.Cmd
	mu      sync.Mutex
	out     []string // stdout lines
	errText strings.Builder
	done    chan struct{}
}

// newHome makes a home with a configuration directory holding configs.
func newHome(t *testing.T, configs map[string]string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "plm") // short: socket paths must fit in 108 bytes
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	home := filepath.Join(dir, "h")
	require.NoError(t, os.MkdirAll(filepath.Join(home, "configuration"), 0o755))
	for name, text := range configs {
		p := filepath.Join(home, "configuration", name)
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		mode := os.FileMode(0o644)
		if strings.HasSuffix(name, ".sh") {
			mode = 0o755
		}
		require.NoError(t, os.WriteFile(p, []byte(text), mode))
		require.NoError(t, os.Chmod(p, mode))
	}
	return home
}

// startIn starts the manager with no -C/-L/-R: everything from the home.
// The PATH holds the project's commands, so configurations can name them
// bare.
func startIn(t *testing.T, home string, args ...string) *running {
	t.Helper()
	return startManagerBinary(t, home, testbin.Path(t, "plutonManager"), nil, nil, args...)
}

// startManagerBinary starts the manager program exe with its status API
// on a socket beside home, everything else from the home, and the
// environment of the test without the variables named in drop, plus env.
func startManagerBinary(t *testing.T, home, exe string, drop, env []string, args ...string) *running {
	t.Helper()
	r := &running{t: t, home: home, status: filepath.Join(filepath.Dir(home), "st.sock"), done: make(chan struct{})}
	r.cmd = exec.Command(exe, append([]string{"-c", r.status}, args...)...)
	r.cmd.Env = append(envWithout(append([]string{"plutonHome", "plutonLookupMap", "PATH"}, drop...)...), env...)
	r.cmd.Env = append(r.cmd.Env, "plutonHome="+home, "PATH="+testbin.Dir(t)+":/usr/local/bin:/usr/bin:/bin")
	r.cmd.Stderr = &lockedWriter{mu: &r.mu, b: &r.errText}
	stdout, err := r.cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, r.cmd.Start())
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			r.mu.Lock()
			r.out = append(r.out, sc.Text())
			r.mu.Unlock()
		}
		_ = r.cmd.Wait()
		close(r.done)
	}()
	t.Cleanup(func() {
		r.stop()
		if t.Failed() {
			t.Logf("manager log:\n%s\nstderr:\n%s", strings.Join(r.lines(), "\n"), r.stderr())
		}
	})
	return r
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *strings.Builder
}

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func envWithout(names ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		keep := true
		for _, n := range names {
			if strings.HasPrefix(kv, n+"=") {
				keep = false
			}
		}
		if keep {
			env = append(env, kv)
		}
	}
	return env
}

func (r *running) lines() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.out...)
}

func (r *running) stderr() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.errText.String()
}

func (r *running) grep(re string) []string {
	rx := regexp.MustCompile(re)
	var out []string
	for _, l := range r.lines() {
		if rx.MatchString(l) {
			out = append(out, l)
		}
	}
	return out
}

// waitFor waits for n log lines matching re and returns them.
func (r *running) waitFor(re string, n int, timeout time.Duration) []string {
	r.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if got := r.grep(re); len(got) >= n {
			return got
		}
		select {
		case <-r.done:
			r.t.Fatalf("manager exited before %d lines matching %q", n, re)
		default:
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("no %d lines matching %q within %s", n, re, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (r *running) stop() {
	select {
	case <-r.done:
		return
	default:
	}
	_ = r.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-r.done:
	case <-time.After(15 * time.Second):
		_ = r.cmd.Process.Kill()
		<-r.done
	}
}

// get decodes a status API answer.
func (r *running) get(path string, v any) {
	r.t.Helper()
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", r.status)
		}}}
	resp, err := hc.Get("http://localhost" + path)
	require.NoError(r.t, err)
	defer resp.Body.Close()
	require.Equal(r.t, http.StatusOK, resp.StatusCode)
	require.NoError(r.t, json.NewDecoder(resp.Body).Decode(v))
}

type serviceJSON struct {
	Key              string `json:"key"`
	Requests         uint64 `json:"requests"`
	Faults           uint64 `json:"faults"`
	LastAbnormalExit *struct {
		PID        int      `json:"pid"`
		Status     string   `json:"status"`
		ExitCode   int      `json:"exitCode"`
		StderrTail []string `json:"stderrTail"`
	} `json:"lastAbnormalExit"`
}

func (r *running) service(key string) serviceJSON {
	r.t.Helper()
	var s serviceJSON
	r.get("/services/"+key, &s)
	require.Equal(r.t, key, s.Key)
	return s
}

const ready = `Manager ready: `

func TestDefaultHomeEndToEnd(t *testing.T) { // not parallel: it sets the test's own environment
	dir, err := os.MkdirTemp("", "plm")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	home := filepath.Join(dir, "h") // nothing exists yet
	r := startIn(t, home)
	r.waitFor(ready, 1, 30*time.Second)
	assert.Len(t, r.grep(`^\S+ Manager created home directory `+regexp.QuoteMeta(home)+`$`), 1)
	assert.Len(t, r.grep(`Manager created Rendezvous directory `+regexp.QuoteMeta(home+"/rendezvous")+`$`), 1)
	assert.Len(t, r.grep(`Manager created Configuration directory `+regexp.QuoteMeta(home+"/configuration")+`$`), 1)
	// The periodic line is written at once: no absurd CPU figure at Uptime 0s.
	up := r.waitFor(`Uptime: 0s CPU=`, 1, 5*time.Second)[0]
	m := regexp.MustCompile(`CPU=([\d.]+)%`).FindStringSubmatch(up)
	require.NotNil(t, m, up)
	cpu, err := strconv.ParseFloat(m[1], 64)
	require.NoError(t, err)
	assert.Less(t, cpu, 100.0, up)

	// A service added to the home's configuration directory: a bare exec
	// name found on PATH, and a script found relative to the directory that
	// reports the plutonLookupMap it was given.
	conf := filepath.Join(home, "configuration")
	require.NoError(t, os.WriteFile(filepath.Join(conf, "system.echo.0.raw"), []byte("exec echoService\n"), 0o644))
	require.NoError(t, os.MkdirAll(filepath.Join(conf, "bin"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(conf, "bin", "env.sh"),
		[]byte("#!/bin/sh\necho \"lookup=$plutonLookupMap\" >&2\nexit 4\n"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(conf, "system.env.0.raw"), []byte("exec bin/env.sh\nprestart-processes true\n"), 0o644))
	require.NoError(t, r.cmd.Process.Signal(syscall.SIGHUP))
	r.waitFor(`Child Stderr: system\.env\.0\.raw/0-\d+ lookup=`, 1, 10*time.Second)
	assert.NotEmpty(t, r.grep(`Child Stderr: system\.env\.0\.raw/0-\d+ lookup=`+regexp.QuoteMeta(home+"/lookup.map")+`$`))

	// A client with no option and no variable finds the home's map. As
	// root the home rule is /usr/local/var/pluton unless $plutonHome is
	// set: the test sets it for itself only.
	t.Setenv(client.HomeEnv, home)
	t.Setenv(client.LookupEnv, "")
	c, err := client.New("e2e")
	require.NoError(t, err)
	assert.Equal(t, home+"/lookup.map", c.LookupPath())
	got, err := c.Call(context.Background(), "system.echo.0.raw", []byte("hello"))
	require.NoError(t, err)
	assert.Equal(t, "hello", string(got.Data))

	// plSend, likewise, with no -L.
	cmd := exec.Command(testbin.Path(t, "plSend"), "system.echo.0.raw", "from plSend")
	cmd.Env = append(envWithout("plutonHome", "plutonLookupMap"), "plutonHome="+home)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, string(out))
	assert.Equal(t, "from plSend", string(out))

	// Process start and exit lines are in the default log.
	assert.NotEmpty(t, r.grep(`Process Start: system\.echo\.0\.raw/0-\d+ \(1 of 10\) pid=\d+ service=system\.echo\.0\.raw slot=0 program=`+
		regexp.QuoteMeta(testbin.Dir(t))+`/echoService( |$)`))
	r.stop()
	exit := r.grep(`Child Exit: normal system\.echo\.0\.raw/0-\d+ `)
	require.Len(t, exit, 1)
	assert.Regexp(t, `pid=\d+ service=system\.echo\.0\.raw slot=0 status=exit\(0\) uptime=\S+ requests=2$`, exit[0])
}

func TestMissingLookupMapFault(t *testing.T) {
	t.Parallel()
	home := filepath.Join(t.TempDir(), "nothing")
	cmd := exec.Command(testbin.Path(t, "plSend"), "system.echo.0.raw", "x")
	cmd.Env = append(envWithout("plutonHome", "plutonLookupMap"), "plutonHome="+home)
	out, err := cmd.CombinedOutput()
	require.Error(t, err)
	assert.Contains(t, string(out), "no lookup map at "+home+"/lookup.map or "+client.DefaultLookupPath+
		": is plutonManager running? Start it, or set plutonLookupMap or pass -L")
}

func TestCrashedInstanceStderrTail(t *testing.T) {
	t.Parallel()
	script := "#!/bin/sh\ni=0\nwhile [ $i -lt 30 ]; do echo \"crash line $i\" >&2; i=$((i+1)); done\n" +
		"echo 'ValueError: boom' >&2\nexit 3\n"
	home := newHome(t, map[string]string{
		"bin/crash.sh":       script,
		"system.crash.0.raw": "exec bin/crash.sh\nprestart-processes true\n",
	})
	r := startIn(t, home)
	exit := r.waitFor(`Child Exit: abnormal system\.crash\.0\.raw/0-\d+ exit\(3\)`, 1, 30*time.Second)[0]
	assert.Regexp(t, `pid=\d+ service=system\.crash\.0\.raw slot=0 status=exit\(3\) uptime=\S+ requests=0$`, exit)
	pid := regexp.MustCompile(`/0-(\d+) `).FindStringSubmatch(exit)[1]
	tail := r.waitFor(`Child Stderr: system\.crash\.0\.raw/0-`+pid+` `, 21, 5*time.Second)
	assert.GreaterOrEqual(t, len(tail), 20)
	assert.True(t, strings.HasSuffix(tail[len(tail)-1], " ValueError: boom"), tail[len(tail)-1])

	s := r.service("system.crash.0.raw")
	require.NotNil(t, s.LastAbnormalExit)
	assert.Equal(t, pid, strconv.Itoa(s.LastAbnormalExit.PID))
	assert.Equal(t, "exit(3)", s.LastAbnormalExit.Status)
	assert.Equal(t, 3, s.LastAbnormalExit.ExitCode)
	require.GreaterOrEqual(t, len(s.LastAbnormalExit.StderrTail), 20)
	assert.Equal(t, "ValueError: boom", s.LastAbnormalExit.StderrTail[len(s.LastAbnormalExit.StderrTail)-1])
}

func TestKilledInstanceStderrTail(t *testing.T) {
	t.Parallel()
	home := newHome(t, map[string]string{
		"bin/hang.sh":       "#!/bin/sh\necho 'about to hang' >&2\nexec sleep 60\n",
		"system.hang.0.raw": "exec bin/hang.sh\nprestart-processes true\n",
	})
	r := startIn(t, home)
	start := r.waitFor(`Process Start: system\.hang\.0\.raw/0-\d+ `, 1, 30*time.Second)[0]
	pid, err := strconv.Atoi(regexp.MustCompile(`pid=(\d+)`).FindStringSubmatch(start)[1])
	require.NoError(t, err)
	deadline := time.Now().Add(5 * time.Second)
	for {
		var all struct {
			Processes []struct {
				PID        int      `json:"pid"`
				StderrTail []string `json:"stderrTail"`
			} `json:"processes"`
		}
		r.get("/processes", &all)
		procs := all.Processes
		if len(procs) == 1 && len(procs[0].StderrTail) == 1 {
			assert.Equal(t, []string{"about to hang"}, procs[0].StderrTail, "a live instance's tail")
			break
		}
		require.True(t, time.Now().Before(deadline), "no stderr tail on /processes: %+v", procs)
		time.Sleep(20 * time.Millisecond)
	}
	require.NoError(t, syscall.Kill(pid, syscall.SIGKILL))
	exit := r.waitFor(`Child Exit: abnormal system\.hang\.0\.raw/0-`+strconv.Itoa(pid)+` `, 1, 10*time.Second)[0]
	assert.Contains(t, exit, "status=\"signal SIGKILL\"")
	r.waitFor(`Child Stderr: system\.hang\.0\.raw/0-`+strconv.Itoa(pid)+` about to hang$`, 1, 5*time.Second)
	s := r.service("system.hang.0.raw")
	require.NotNil(t, s.LastAbnormalExit)
	assert.Equal(t, "signal SIGKILL", s.LastAbnormalExit.Status)
	assert.Equal(t, []string{"about to hang"}, s.LastAbnormalExit.StderrTail)
}

func TestLiveRequestCounts(t *testing.T) {
	t.Parallel()
	home := newHome(t, map[string]string{"system.echo.0.raw": "exec echoService\nprestart-processes true\n"})
	r := startIn(t, home)
	r.waitFor(ready, 1, 30*time.Second)
	c, err := client.New("counts", client.WithLookup(filepath.Join(home, "lookup.map")))
	require.NoError(t, err)
	for i := 1; i <= 20; i++ {
		_, err := c.Call(context.Background(), "system.echo.0.raw", []byte("x"))
		require.NoError(t, err)
		// Read at once: the count includes the request just answered.
		assert.Equal(t, uint64(i), r.service("system.echo.0.raw").Requests, "after request %d", i)
	}
}

func TestDebugFlagsTrace(t *testing.T) {
	t.Parallel()
	home := newHome(t, map[string]string{"system.echo.0.raw": "exec echoService\nprestart-processes true\n"})
	r := startIn(t, home, "-d", "CHILD,process", "-dReportingChannel", "-d", "oneShot", "-d", "thread")
	r.waitFor(ready, 1, 30*time.Second)
	c, err := client.New("dbg", client.WithLookup(filepath.Join(home, "lookup.map")))
	require.NoError(t, err)
	for range 3 {
		_, err := c.Call(context.Background(), "system.echo.0.raw", []byte("x"))
		require.NoError(t, err)
	}
	r.stop()
	errText := r.stderr()
	for _, want := range []string{
		`(?m)^\d+\.\d{6}:  oneShot: home ` + regexp.QuoteMeta(home),
		`(?m)^\d+\.\d{6}:  oneShot: locked ` + regexp.QuoteMeta(home+"/rendezvous/plutonManager.lock"),
		`(?m)^\d+\.\d{6}:  child: system\.echo\.0\.raw slot 0: exec \S+/echoService argv=`,
		`(?m)^\d+\.\d{6}:  process: Process Start: system\.echo\.0\.raw/0-\d+ `,
		`(?m)^\d+\.\d{6}:  process: Child Exit: normal system\.echo\.0\.raw/0-\d+ `,
		`(?m)^\d+\.\d{6}:  thread: system\.echo\.0\.raw/0-\d+: waiter goroutine started$`,
		`(?m)^\d+\.\d{6}:  reportingChannel: system\.echo\.0\.raw: record from pid \d+ slot 0: 3 entries$`,
	} {
		assert.Regexp(t, want, errText)
	}
	// Flags not given stay quiet, and nothing of the trace is in the log.
	assert.NotRegexp(t, `(?m)^\d+\.\d{6}:  (manager|calibrate|config|stio|service): `, errText)
	for _, l := range r.lines() {
		assert.NotRegexp(t, `^\d+\.\d{6}:  `, l)
	}
}

func TestJSONLog(t *testing.T) {
	t.Parallel()
	home := newHome(t, map[string]string{"system.echo.0.raw": "exec echoService\nprestart-processes true\n"})
	r := startIn(t, home, "-j")
	r.waitFor(`"msg":"Manager ready: `, 1, 30*time.Second)
	r.waitFor(`"msg":"Process Start: `, 1, 10*time.Second)
	c, err := client.New("json", client.WithLookup(filepath.Join(home, "lookup.map")))
	require.NoError(t, err)
	_, err = c.Call(context.Background(), "system.echo.0.raw", []byte("x")) // the instance is in its loop
	require.NoError(t, err)
	r.stop()
	var sawExit bool
	for _, l := range r.lines() {
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(l), &m), l)
		require.Contains(t, m, "time")
		require.Contains(t, m, "level")
		if strings.HasPrefix(fmt.Sprint(m["msg"]), "Child Exit: normal system.echo.0.raw/0-") {
			sawExit = true
			assert.Equal(t, "system.echo.0.raw", m["service"])
			assert.Equal(t, "exit(0)", m["status"])
			assert.Equal(t, "processExit", m["category"])
			assert.Contains(t, m, "pid")
			assert.Contains(t, m, "uptime")
		}
	}
	assert.True(t, sawExit)
}

func TestUntrustedConfigurationDirectory(t *testing.T) {
	t.Parallel()
	home := newHome(t, map[string]string{"system.echo.0.raw": "exec echoService\n"})
	conf := filepath.Join(home, "configuration")
	require.NoError(t, os.Chmod(conf, 0o777))
	r := startIn(t, home)
	<-r.done
	assert.Equal(t, 1, r.cmd.ProcessState.ExitCode())
	log := strings.Join(r.lines(), "\n")
	assert.Contains(t, log, "configuration directory "+conf+" is writable by group and others (mode 0777): refusing it")
	assert.Contains(t, log, "fix: chmod go-w "+conf)
	assert.Len(t, r.grep(`FATAL: Cannot continue without a configuration`), 1)
	assert.Equal(t, 1, strings.Count(r.stderr(), "FATAL:"), "FATAL is repeated on stderr once (a separate file here)")
}

func TestDebugFlagsTraceManagerConfigServiceCalibrateStio(t *testing.T) {
	t.Parallel()
	home := newHome(t, map[string]string{
		"system.echo.0.raw": "exec echoService\n", // lazy: started by the first connection
		"bin/talk.sh":       "#!/bin/sh\necho 'talk: started' >&2\nexec echoService\n",
		"system.talk.0.raw": "exec bin/talk.sh\nprestart-processes true\n",
	})
	r := startIn(t, home, "-d", "manager,Config,SERVICE,calibrate,stio")
	r.waitFor(ready, 1, 30*time.Second)
	c, err := client.New("dbg", client.WithLookup(filepath.Join(home, "lookup.map")))
	require.NoError(t, err)
	_, err = c.Call(context.Background(), "system.echo.0.raw", []byte("x"))
	require.NoError(t, err)
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(r.stderr(), "stio: Log: system.talk.0.raw/0-") && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	require.NoError(t, r.cmd.Process.Signal(syscall.SIGHUP))
	time.Sleep(300 * time.Millisecond)
	r.stop()
	errText := r.stderr()
	for _, want := range []string{
		`(?m)^\d+\.\d{6}:  manager: scan ` + regexp.QuoteMeta(home+"/configuration") + ` \(initial: true`,
		`(?m)^\d+\.\d{6}:  manager: signal SIGHUP `,
		`(?m)^\d+\.\d{6}:  manager: lookup map ` + regexp.QuoteMeta(home+"/lookup.map") + `: 2 services$`,
		`(?m)^\d+\.\d{6}:  config: Config Scan Start: `,
		`(?m)^\d+\.\d{6}:  config: system\.echo\.0\.raw from \S+/system\.echo\.0\.raw: argv=\["\S+/echoService"\] `,
		`(?m)^\d+\.\d{6}:  service: system\.echo\.0\.raw: no instance; watching the socket for a connection$`,
		`(?m)^\d+\.\d{6}:  service: system\.echo\.0\.raw: connection pending `,
		`(?m)^\d+\.\d{6}:  service: Service Ready: system\.echo\.0\.raw$`,
		`(?m)^\d+\.\d{6}:  calibrate: system\.talk\.0\.raw sample: backlog=0 `,
		`(?m)^\d+\.\d{6}:  stio: Log: system\.talk\.0\.raw/0-\d+ talk: started$`,
	} {
		assert.Regexp(t, want, errText)
	}
	assert.NotRegexp(t, `(?m)^\d+\.\d{6}:  (child|process|thread|reportingChannel|oneShot): `, errText)
	// -l processLog is off: the stderr line is traced, not logged.
	assert.Empty(t, r.grep(`Log: system\.talk\.0\.raw/0-`))
}

func TestUntrustedDirectoryOnReloadKeepsServices(t *testing.T) {
	t.Parallel()
	home := newHome(t, map[string]string{"system.echo.0.raw": "exec echoService\nprestart-processes true\n"})
	conf := filepath.Join(home, "configuration")
	r := startIn(t, home)
	r.waitFor(ready, 1, 30*time.Second)
	c, err := client.New("reload", client.WithLookup(filepath.Join(home, "lookup.map")))
	require.NoError(t, err)

	require.NoError(t, os.Chmod(conf, 0o757))
	t.Cleanup(func() { _ = os.Chmod(conf, 0o755) })
	require.NoError(t, r.cmd.Process.Signal(syscall.SIGHUP))
	r.waitFor(`Config Error: Reload refused; the running services are kept$`, 1, 10*time.Second)
	assert.NotEmpty(t, r.grep(`configuration directory `+regexp.QuoteMeta(conf)+` is writable by others \(mode 0757\): refusing it .*; fix: chmod o-w `+regexp.QuoteMeta(conf)+`$`))
	got, err := c.Call(context.Background(), "system.echo.0.raw", []byte("still here"))
	require.NoError(t, err)
	assert.Equal(t, "still here", string(got.Data))

	// Fixed: the next reload reads the directory again.
	require.NoError(t, os.Chmod(conf, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(conf, "system.two.0.raw"), []byte("exec echoService\n"), 0o644))
	require.NoError(t, r.cmd.Process.Signal(syscall.SIGHUP))
	deadline := time.Now().Add(10 * time.Second)
	for {
		got, err = c.Call(context.Background(), "system.two.0.raw", []byte("two"))
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	require.NoError(t, err)
	assert.Equal(t, "two", string(got.Data))
	select {
	case <-r.done:
		t.Fatal("the manager stopped")
	default:
	}
}
