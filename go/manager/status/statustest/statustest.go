// Package statustest runs a real plutonManager (built by go/testbin) with a
// loopback status address, for the tests of the status page and plTop.
package statustest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pluton-go/pluton/go/manager/pool"
	"github.com/pluton-go/pluton/go/manager/status"
	"github.com/pluton-go/pluton/go/protocol"
	"github.com/pluton-go/pluton/go/testbin"
)

// Manager is a plutonManager run by a test in a temporary directory holding
// C (configuration), R (rendezvous) and lookup.map.
type Manager struct {
	t    testing.TB
	Dir  string
	C, R string
	// Addr is the status API's host:port on loopback.
	Addr string

	cmd   *exec.Cmd
	mu    sync.Mutex
	lines []string
	done  chan struct{}
}

var listening = regexp.MustCompile(`listening on (?:tcp )?(\d+\.\d+\.\d+\.\d+:\d+|\[[0-9a-f:]+\]:\d+)`)

// Start runs a manager with the services given as key → configuration text
// (see Exec) and a status API on 127.0.0.1 at a free port, and waits until
// it is ready. The manager is stopped when the test ends.
func Start(t testing.TB, services map[string]string) *Manager {
	t.Helper()
	dir, err := os.MkdirTemp("", "plst") // short: socket paths must fit in 108 bytes
	require.NoError(t, err)
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	m := &Manager{t: t, Dir: dir, C: filepath.Join(dir, "C"), R: filepath.Join(dir, "R"), done: make(chan struct{})}
	require.NoError(t, os.Mkdir(m.C, 0o755))
	require.NoError(t, os.Chmod(m.C, 0o755))
	require.NoError(t, os.Mkdir(m.R, 0o755))
	for key, text := range services {
		p := filepath.Join(m.C, key)
		require.NoError(t, os.WriteFile(p, []byte(text), 0o644))
		require.NoError(t, os.Chmod(p, 0o644))
	}
	m.cmd = exec.Command(testbin.Path(t, "plutonManager"), "-C", m.C, "-R", m.R,
		"-L", filepath.Join(dir, "lookup.map"), "-c", "127.0.0.1:0")
	m.cmd.Stderr = &lineWriter{m: m}
	m.cmd.Stdout = m.cmd.Stderr
	require.NoError(t, m.cmd.Start())
	go func() {
		_ = m.cmd.Wait()
		close(m.done)
	}()
	t.Cleanup(m.stop)
	m.WaitFor("Manager ready", 30*time.Second)
	for _, l := range m.Lines() {
		if g := listening.FindStringSubmatch(l); g != nil {
			m.Addr = g[1]
		}
	}
	require.NotEmpty(t, m.Addr, "no status address in the manager's log:\n%s", strings.Join(m.Lines(), "\n"))
	return m
}

// Exec returns a configuration that runs the named command of go/cmd with
// the arguments and extra configuration lines.
func Exec(t testing.TB, command string, args []string, extra ...string) string {
	t.Helper()
	line := "exec " + testbin.Path(t, command)
	for _, a := range args {
		line += " " + a
	}
	return line + "\n" + strings.Join(extra, "\n") + "\n"
}

// stop ends the manager: SIGTERM, then SIGKILL after 10 s.
func (m *Manager) stop() {
	select {
	case <-m.done:
		return
	default:
	}
	_ = m.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-m.done:
	case <-time.After(10 * time.Second):
		_ = m.cmd.Process.Kill()
		<-m.done
	}
	if m.t.Failed() {
		m.t.Logf("manager log:\n%s", strings.Join(m.Lines(), "\n"))
	}
}

// lineWriter collects the manager's output lines.
type lineWriter struct {
	m    *Manager
	part []byte
}

func (w *lineWriter) Write(b []byte) (int, error) {
	w.m.mu.Lock()
	defer w.m.mu.Unlock()
	w.part = append(w.part, b...)
	for {
		i := bytes.IndexByte(w.part, '\n')
		if i < 0 {
			break
		}
		w.m.lines = append(w.m.lines, string(w.part[:i]))
		w.part = w.part[i+1:]
	}
	return len(b), nil
}

// Lines returns the manager's output so far.
func (m *Manager) Lines() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.lines...)
}

// WaitFor waits for an output line containing s and returns it.
func (m *Manager) WaitFor(s string, timeout time.Duration) string {
	m.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		for _, l := range m.Lines() {
			if strings.Contains(l, s) {
				return l
			}
		}
		select {
		case <-m.done:
			m.t.Fatalf("manager exited before a line with %q:\n%s", s, strings.Join(m.Lines(), "\n"))
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			m.t.Fatalf("no line with %q within %s:\n%s", s, timeout, strings.Join(m.Lines(), "\n"))
		}
	}
}

// URL returns the status server's URL of path.
func (m *Manager) URL(path string) string { return "http://" + m.Addr + path }

var client = &http.Client{Timeout: 5 * time.Second}

// Get fetches path from the status API and decodes its JSON into v.
func (m *Manager) Get(path string, v any) {
	m.t.Helper()
	resp, err := client.Get(m.URL(path))
	require.NoError(m.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(m.t, err)
	require.Equal(m.t, http.StatusOK, resp.StatusCode, "GET %s: %s", path, b)
	require.NoError(m.t, json.Unmarshal(b, v), "GET %s: %s", path, b)
}

// Services returns GET /services, running services only, by key.
func (m *Manager) Services() map[string]pool.ServiceStatus {
	m.t.Helper()
	var body struct {
		Services []pool.ServiceStatus `json:"services"`
	}
	m.Get("/services", &body)
	out := map[string]pool.ServiceStatus{}
	for _, s := range body.Services {
		if s.Phase == "running" {
			out[s.Key] = s
		}
	}
	return out
}

// Control sends a control POST the way the status page does and returns
// the status code and body.
func (m *Manager) Control(key, action string) (int, string) {
	m.t.Helper()
	req, err := http.NewRequest(http.MethodPost, m.URL("/services/"+key+"/"+action), strings.NewReader("{}"))
	require.NoError(m.t, err)
	req.Header.Set("Content-Type", status.ControlContentType)
	resp, err := client.Do(req)
	require.NoError(m.t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// Eventually polls cond every 50 ms until it holds or timeout passes.
func (m *Manager) Eventually(what string, timeout time.Duration, cond func() bool) {
	m.t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			m.t.Fatalf("%s: not within %s", what, timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Call sends one request to the service key and returns the response data.
func (m *Manager) Call(key, data string, timeout time.Duration) (string, error) {
	conn, err := net.DialTimeout("unix", filepath.Join(m.R, key+".socket"), timeout)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(timeout))
	req := protocol.Request{ID: 1, ClientName: "statustest:1", ServiceKey: key, TimeoutMS: timeout.Milliseconds(), Data: []byte(data)}
	if _, err := conn.Write(protocol.AppendRequest(nil, &req)); err != nil {
		return "", err
	}
	var resp protocol.Response
	if err := protocol.NewResponseDecoder(conn).ReadResponse(&resp); err != nil {
		return "", err
	}
	if resp.FaultCode != 0 {
		return "", fmt.Errorf("fault %d: %s", resp.FaultCode, resp.FaultText)
	}
	return string(resp.Data), nil
}

// Load sends n requests to key, one after another, and returns how many
// were answered.
func (m *Manager) Load(key string, n int) int {
	ok := 0
	for i := range n {
		if got, err := m.Call(key, fmt.Sprint("load ", i), 10*time.Second); err == nil && got == fmt.Sprint("load ", i) {
			ok++
		}
	}
	return ok
}
