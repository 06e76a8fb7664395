package client

import (
	"bufio"
	"bytes"
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

	"github.com/pluton-go/pluton/go/fault"
	"github.com/pluton-go/pluton/go/testbin"
)

// e2eCommands are the commands the end-to-end tests run.
var e2eCommands = []string{"plutonManager", "echoService", "plSend", "plPing", "plLookup", "plBatch"}

var (
	e2eOnce sync.Once
	e2eDir  string
	e2eErr  string
)

// e2eBin returns a directory holding e2eCommands: $PLUTON_BIN, or a build of
// them from this tree. It skips the test while the manager or the echo
// service does not exist yet.
func e2eBin(t testing.TB) string {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end test skipped in -short mode")
	}
	if d := os.Getenv("PLUTON_BIN"); d != "" {
		for _, c := range e2eCommands {
			if _, err := os.Stat(filepath.Join(d, c)); err != nil {
				t.Skipf("$PLUTON_BIN has no %s", c)
			}
		}
		return d
	}
	root := testbin.RepoRoot(t)
	for _, c := range []string{"plutonManager", "echoService"} {
		if _, err := os.Stat(filepath.Join(root, "go", "cmd", c, "main.go")); err != nil {
			t.Skipf("go/cmd/%s does not exist yet: end-to-end test skipped", c)
		}
	}
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command to build the commands and $PLUTON_BIN is not set")
	}
	e2eOnce.Do(func() {
		d, err := os.MkdirTemp("", "plbin")
		if err != nil {
			e2eErr = err.Error()
			return
		}
		args := []string{"build", "-o", d + string(os.PathSeparator)}
		for _, c := range e2eCommands {
			args = append(args, "./go/cmd/"+c)
		}
		cmd := exec.Command("go", args...)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			e2eErr = fmt.Sprintf("go build: %v\n%s", err, out)
			return
		}
		e2eDir = d
	})
	if e2eErr != "" {
		t.Fatal(e2eErr)
	}
	return e2eDir
}

// manager is a running plutonManager.
type manager struct {
	bin, config, rendezvous, lookupMap string
	cmd                                *exec.Cmd
	mu                                 sync.Mutex
	log                                bytes.Buffer
}

func (m *manager) output() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.log.String()
}

// startManager runs plutonManager with one configuration file per entry of
// configs (key -> file contents) and waits for "Manager ready:".
func startManager(t testing.TB, bin string, configs map[string]string) *manager {
	t.Helper()
	dir := tempDir(t)
	m := &manager{bin: bin, config: filepath.Join(dir, "c"), rendezvous: filepath.Join(dir, "r"),
		lookupMap: filepath.Join(dir, "lookup.map")}
	require.NoError(t, os.Mkdir(m.config, 0o755))
	require.NoError(t, os.Mkdir(m.rendezvous, 0o755))
	for key, text := range configs {
		require.NoError(t, os.WriteFile(filepath.Join(m.config, key), []byte(text), 0o644))
	}
	m.cmd = exec.Command(filepath.Join(bin, "plutonManager"), "-C", m.config, "-R", m.rendezvous, "-L", m.lookupMap)
	m.cmd.Dir = dir
	out, err := m.cmd.StdoutPipe()
	require.NoError(t, err)
	m.cmd.Stderr = m.cmd.Stdout
	require.NoError(t, m.cmd.Start())
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(out)
		once := sync.Once{}
		for sc.Scan() {
			m.mu.Lock()
			m.log.WriteString(sc.Text() + "\n")
			m.mu.Unlock()
			if strings.Contains(sc.Text(), "Manager ready:") {
				once.Do(func() { close(ready) })
			}
		}
	}()
	t.Cleanup(func() {
		m.cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { m.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			m.cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("plutonManager output:\n%s", m.output())
		}
	})
	select {
	case <-ready:
	case <-time.After(15 * time.Second):
		t.Fatalf("plutonManager not ready after 15 s:\n%s", m.output())
	}
	return m
}

// waitFound waits until c finds key.
func waitFound(t testing.TB, c *Client, key string) {
	t.Helper()
	end := time.Now().Add(10 * time.Second)
	for {
		_, err := c.Lookup(key)
		if err == nil {
			return
		}
		if time.Now().After(end) {
			t.Fatalf("%s not found: %v", key, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// runCmd runs one of the commands with env plutonLookupMap set.
func runCmd(t *testing.T, m *manager, stdin []byte, name string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(filepath.Join(m.bin, name), args...)
	cmd.Env = append(os.Environ(), LookupEnv+"="+m.lookupMap)
	cmd.Stdin = bytes.NewReader(stdin)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	code = cmd.ProcessState.ExitCode()
	if err != nil && code < 0 {
		t.Fatalf("%s: %v", name, err)
	}
	return o.String(), e.String(), code
}

// textFile returns n bytes of line-structured text.
func textFile(n int) []byte {
	var b bytes.Buffer
	for i := 0; b.Len() < n; i++ {
		fmt.Fprintf(&b, "%05d The quick brown fox jumps over the lazy dog; Größe, naïve café, 東京 %d\n", i, i*i)
	}
	return b.Bytes()[:n]
}

// TestE2E runs the client and the commands against a real plutonManager and
// echoService.
func TestE2E(t *testing.T) {
	bin := e2eBin(t)
	echo := filepath.Join(bin, "echoService")
	m := startManager(t, bin, map[string]string{
		echoKey:                "exec " + echo + "\nmaximum-processes 4\naffinity-timeout 10\n",
		"test.limited.0.raw":   "exec " + echo + "\nmaximum-processes 2\n",
		"test..0.raw":          "exec " + echo + "\nmaximum-processes 1\n",
		"test.exactOnly.0.raw": "exec " + echo + "\nmaximum-processes 1\n",
		"test.sleepy.0.raw":    "exec " + echo + "\nmaximum-processes 6\n",
	})
	c, err := New("e2e", WithLookup(m.lookupMap))
	require.NoError(t, err)
	waitFound(t, c, echoKey)
	waitFound(t, c, "test.limited.0.raw")
	waitFound(t, c, "test.sleepy.0.raw")
	ctx := context.Background()

	t.Run("EchoSizes", func(t *testing.T) {
		for _, base := range []int{0, 1024, 4096, 65536, 1 << 20} {
			for _, n := range []int{base - 1, base, base + 1} {
				if n < 0 {
					continue
				}
				data := payload(n)
				resp, err := c.Call(ctx, echoKey, data)
				require.NoError(t, err, "size %d", n)
				require.True(t, bytes.Equal(data, resp.Data), "size %d: echo differs (got %d bytes)", n, len(resp.Data))
				assert.Regexp(t, `^echo:\d+/0$`, resp.ServiceName)
			}
		}
	})

	t.Run("TextFileThroughPlSend", func(t *testing.T) {
		text := textFile(75985)
		require.Len(t, text, 75985)
		out, errOut, code := runCmd(t, m, text, "plSend", echoKey)
		require.Equal(t, 0, code, errOut)
		assert.True(t, bytes.Equal(text, []byte(out)), "the text came back changed")
	})

	t.Run("PlSendHello", func(t *testing.T) {
		out, errOut, code := runCmd(t, m, nil, "plSend", echoKey, "hello")
		assert.Equal(t, 0, code, errOut)
		assert.Equal(t, "hello", out)
		out, _, code = runCmd(t, m, nil, "plSend", "-n", "-L", m.lookupMap, echoKey, "hello")
		assert.Equal(t, 0, code)
		assert.Equal(t, "hello\n", out)
	})

	t.Run("Fault111", func(t *testing.T) {
		_, err := c.Call(ctx, echoKey, []byte("x"), Context("echo.sleepMS", "-1"))
		var f *fault.Fault
		require.ErrorAs(t, err, &f)
		assert.Equal(t, fault.Code(111), f.Code)
		assert.Equal(t, "sleep time negative", f.Text)
		out, errOut, code := runCmd(t, m, nil, "plSend", "-C", "echo.sleepMS=-1", echoKey, "x")
		assert.Equal(t, 1, code)
		assert.Empty(t, out)
		assert.Equal(t, "Error: plSend Fault: 111:sleep time negative\n", errOut)
	})

	t.Run("PlSendErrors", func(t *testing.T) {
		_, errOut, code := runCmd(t, m, nil, "plSend")
		assert.Equal(t, 1, code)
		assert.Equal(t, "Error: Must supply ServiceKey on the command line\n", errOut)
		_, errOut, code = runCmd(t, m, nil, "plSend", "nosuch.thing.0.raw", "x")
		assert.Equal(t, 1, code)
		assert.Equal(t, "Error: plSend addRequest: pluton::Fault=-30 (serviceNotFound:ServiceKey is not in lookupMap) 'nosuch.thing.0.raw'\n", errOut)
		_, errOut, code = runCmd(t, m, nil, "plSend", "-t", "1", "-C", "echo.sleepMS=3000", "test.sleepy.0.raw", "x")
		assert.Equal(t, 1, code)
		assert.Equal(t, "Error: plSend timed out\n", errOut)
		_, errOut, code = runCmd(t, m, nil, "plSend", "-L", "/nonexistent/lookup.map", echoKey, "x")
		assert.Equal(t, 1, code)
		assert.True(t, strings.HasPrefix(errOut, "Error: plSend initialize: pluton::Fault=-33"), errOut)
	})

	t.Run("Timeout", func(t *testing.T) {
		start := time.Now()
		_, err := c.Call(ctx, "test.sleepy.0.raw", nil, Context("echo.sleepMS", "3000"), Timeout(300*time.Millisecond))
		assert.Equal(t, fault.ServiceTimeout, faultCode(t, err))
		assert.Less(t, time.Since(start), 2*time.Second)
		resp, err := c.Call(ctx, "test.sleepy.0.raw", []byte("after"))
		require.NoError(t, err)
		assert.Equal(t, "after", string(resp.Data))
	})

	t.Run("NoWait", func(t *testing.T) {
		start := time.Now()
		resp, err := c.Call(ctx, "test.sleepy.0.raw", []byte("x"), NoWait(), Context("echo.sleepMS", "4000"))
		require.NoError(t, err)
		assert.Nil(t, resp.Data)
		assert.Less(t, time.Since(start), 3*time.Second, "noWait does not wait for the service's work")
	})

	t.Run("Wildcard", func(t *testing.T) {
		waitFound(t, c, "test.anything.0.raw")
		resp, err := c.Call(ctx, "test.anything.0.raw", []byte("wild"))
		require.NoError(t, err)
		assert.Equal(t, "wild", string(resp.Data))
		loc, err := c.Lookup("test.anything.0.raw")
		require.NoError(t, err)
		assert.True(t, loc.Wildcard)
		loc, err = c.Lookup("test.exactOnly.0.raw")
		require.NoError(t, err)
		assert.False(t, loc.Wildcard)
	})

	t.Run("Affinity", func(t *testing.T) {
		r := NewRequest(echoKey, []byte("same"), KeepAffinity(), NoRetry())
		defer r.Close()
		var name string
		for i := range 100 {
			require.NoError(t, c.Do(ctx, r), "request %d", i)
			if i == 0 {
				name = r.Response().ServiceName
				r.SetAttributes(NeedAffinityAttr)
			}
			require.Equal(t, name, r.Response().ServiceName, "request %d went to another instance", i)
		}
		// The rule that needAffinity fails once the instance dropped the
		// connection is tested with the fake service
		// (TestNeedAffinityAfterServiceDroppedConnection): the smallest
		// affinity-timeout, 10 s, would make this test too slow.
	})

	t.Run("ParallelLimitedByMaximumProcesses", func(t *testing.T) {
		const n, sleep = 6, 400 * time.Millisecond
		b := c.NewBatch()
		start := time.Now()
		for range n {
			require.NoError(t, b.Add(ctx, NewRequest("test.limited.0.raw", nil,
				Context("echo.sleepMS", strconv.Itoa(int(sleep.Milliseconds()))), Timeout(10*time.Second))))
		}
		names := map[string]bool{}
		for r := b.WaitAny(); r != nil; r = b.WaitAny() {
			require.NoError(t, r.Err())
			names[r.Response().ServiceName] = true
		}
		elapsed := time.Since(start)
		assert.LessOrEqual(t, len(names), 2, "at most maximum-processes instances: %v", names)
		assert.GreaterOrEqual(t, elapsed, 3*sleep-50*time.Millisecond, "6 requests on at most 2 instances take 3 rounds")
	})

	t.Run("PlPing", func(t *testing.T) {
		out, errOut, code := runCmd(t, m, nil, "plPing", "-c", "1000", "-p", "8", "-i", "0", "-s", "100")
		require.Equal(t, 0, code, errOut)
		re := regexp.MustCompile(`^plPings: 8000 Read=800000 Write=800000 Min: \d+\.\d{6} Max: \d+\.\d{6} Avg: \d+\.\d{6} P50: \d+\.\d{6} P99: \d+\.\d{6} Elapse: \d+\.\d{6}\n$`)
		assert.Regexp(t, re, out)
		out, _, code = runCmd(t, m, nil, "plPing", "-c", "3", "-i", "0.01", "-s", "5", "-KoN")
		assert.Equal(t, 0, code)
		assert.Regexp(t, `(?m)^5 bytes: seq=3/0 time=\d+\.\d{6}$`, out)
		_, errOut, code = runCmd(t, m, nil, "plPing", "-c", "1", "-C", "-1")
		assert.Equal(t, 1, code)
		assert.Equal(t, "Fault: 111 sleep time negative\n", errOut)
		_, _, code = runCmd(t, m, nil, "plPing", "-c", "1", "-t", "0.2", "-C", "2000")
		assert.Equal(t, 16, code)
		_, _, code = runCmd(t, m, nil, "plPing", "-c", "2", "-i", "0", "-w", "-s", "10")
		assert.Equal(t, 0, code, "a noWait ping succeeds (the original exited 2)")
	})

	t.Run("PlLookup", func(t *testing.T) {
		out, _, code := runCmd(t, m, nil, "plLookup", echoKey, "test.x.0.raw")
		assert.Equal(t, 0, code)
		assert.Equal(t, "Lookup Path: "+m.lookupMap+"\n"+
			echoKey+"=system.raw.0.echo="+filepath.Join(m.rendezvous, echoKey+".socket")+"\n"+
			"test.x.0.raw=test.raw.0="+filepath.Join(m.rendezvous, "test..0.raw.socket")+"\n", out)
		out, _, code = runCmd(t, m, nil, "plLookup", "-q", "nosuch.x.0.raw", "bad")
		assert.Equal(t, 1, code)
		assert.Equal(t, "Bad Service Key: bad: need four dot-separated tokens\n", out)
	})

	t.Run("PlBatch", func(t *testing.T) {
		out, errOut, code := runCmd(t, m, nil, "plBatch", "-n", "2000", "-p", "4", "-s", "512", echoKey)
		require.Equal(t, 0, code, errOut+out)
		assert.Contains(t, out, "requests=2000 parallel=4 size=512")
		assert.Regexp(t, `(?m)^Throughput: \d+\.\d req/s`, out)
		assert.Regexp(t, `(?m)^Latency: min=\S+ p50=\S+ p90=\S+ p99=\S+ max=\S+`, out)
		assert.Contains(t, out, "Errors: 0\n")
	})

	t.Run("ReloadAddsAndRemoves", func(t *testing.T) {
		const key = "test.reloaded.1.raw"
		_, err := c.Call(ctx, key, nil)
		assert.Equal(t, fault.ServiceNotFound, faultCode(t, err))
		cfg := filepath.Join(m.config, key)
		require.NoError(t, os.WriteFile(cfg, []byte("exec "+echo+"\n"), 0o644))
		require.NoError(t, m.cmd.Process.Signal(syscall.SIGHUP))
		waitUntil(t, 10*time.Second, func() bool { _, err := c.Call(ctx, key, nil); return err == nil })
		require.NoError(t, os.Remove(cfg))
		require.NoError(t, m.cmd.Process.Signal(syscall.SIGHUP))
		waitUntil(t, 10*time.Second, func() bool {
			_, err := c.Call(ctx, key, nil)
			return err != nil && faultCode(t, err) == fault.ServiceNotFound
		})
	})
}

// BenchmarkCallEchoService measures Call against the real echoService under
// plutonManager (skipped while they do not exist).
func BenchmarkCallEchoService(b *testing.B) {
	bin := e2eBin(b)
	m := startManager(b, bin, map[string]string{
		echoKey: "exec " + filepath.Join(bin, "echoService") + "\nmaximum-processes 4\n",
	})
	c, err := New("bench", WithLookup(m.lookupMap))
	require.NoError(b, err)
	waitFound(b, c, echoKey)
	for _, s := range benchSizes {
		b.Run(s.name, func(b *testing.B) { benchCalls(b, c, echoKey, s.size) })
	}
}
