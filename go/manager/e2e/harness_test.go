package e2e

import (
	"bufio"
	"context"
	"errors"
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

	"github.com/pluton-go/pluton/go/protocol"
	"github.com/pluton-go/pluton/go/testbin"
)

// manager is a plutonManager process run by a test, in its own temporary
// directory holding C (configuration), R (rendezvous) and lookup.map.
type manager struct {
	t      *testing.T
	Dir    string
	C, R   string
	Status string // the Unix socket of the status API
	cmd    *exec.Cmd
	mu     sync.Mutex
	lines  []string
	done   chan struct{}
	err    error
}

// newDirs makes the directories; configs maps a file name to its content.
func newDirs(t *testing.T, configs map[string]string) *manager {
	t.Helper()
	dir, err := os.MkdirTemp("", "pl") // short: socket paths must fit in 108 bytes
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	m := &manager{t: t, Dir: dir, C: filepath.Join(dir, "C"), R: filepath.Join(dir, "R"),
		Status: filepath.Join(dir, "status.sock"), done: make(chan struct{})}
	require.NoError(t, os.Mkdir(m.C, 0o755))
	require.NoError(t, os.Mkdir(m.R, 0o755))
	for name, text := range configs {
		m.writeConfig(name, text)
	}
	return m
}

func (m *manager) writeConfig(name, text string) {
	m.t.Helper()
	p := filepath.Join(m.C, name)
	require.NoError(m.t, os.WriteFile(p+".new", []byte(text), 0o644))
	require.NoError(m.t, os.Chmod(p+".new", 0o644))
	require.NoError(m.t, os.Rename(p+".new", p))
}

// startManager starts a manager with -l all and a status socket, and waits
// for "Manager ready:".
func startManager(t *testing.T, configs map[string]string, extra ...string) *manager {
	t.Helper()
	m := newDirs(t, configs)
	m.start(extra...)
	m.waitFor("Manager ready:", 30*time.Second)
	return m
}

func (m *manager) start(extra ...string) {
	m.t.Helper()
	args := append([]string{"-C", m.C, "-R", m.R, "-L", filepath.Join(m.Dir, "lookup.map"), "-l", "all", "-c", m.Status}, extra...)
	m.cmd = exec.Command(testbin.Path(m.t, "plutonManager"), args...)
	m.cmd.Stderr = os.Stderr
	out, err := m.cmd.StdoutPipe()
	require.NoError(m.t, err)
	require.NoError(m.t, m.cmd.Start())
	go func() {
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			m.mu.Lock()
			m.lines = append(m.lines, sc.Text())
			m.mu.Unlock()
		}
		m.err = m.cmd.Wait()
		close(m.done)
	}()
	m.t.Cleanup(func() {
		select {
		case <-m.done:
		default:
			_ = m.cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-m.done:
			case <-time.After(10 * time.Second):
				_ = m.cmd.Process.Kill()
				<-m.done
			}
		}
		if m.t.Failed() {
			m.t.Logf("manager log:\n%s", strings.Join(m.Lines(), "\n"))
		}
	})
}

// Lines returns the log so far.
func (m *manager) Lines() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.lines...)
}

// Grep returns the log lines containing s.
func (m *manager) Grep(s string) []string {
	var out []string
	for _, l := range m.Lines() {
		if strings.Contains(l, s) {
			out = append(out, l)
		}
	}
	return out
}

// GrepRE returns the log lines matching re.
func (m *manager) GrepRE(re string) []string {
	r := regexp.MustCompile(re)
	var out []string
	for _, l := range m.Lines() {
		if r.MatchString(l) {
			out = append(out, l)
		}
	}
	return out
}

// waitFor waits for a log line containing s and returns it.
func (m *manager) waitFor(s string, timeout time.Duration) string {
	m.t.Helper()
	return m.waitCount(s, 1, timeout)[0]
}

// waitCount waits until n log lines contain s.
func (m *manager) waitCount(s string, n int, timeout time.Duration) []string {
	m.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if got := m.Grep(s); len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			m.t.Fatalf("no %d log lines with %q within %s", n, s, timeout)
		}
		select {
		case <-m.done:
			if got := m.Grep(s); len(got) >= n {
				return got
			}
			m.t.Fatalf("manager exited (%v) before %d log lines with %q", m.err, n, s)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// signal sends sig to the manager.
func (m *manager) signal(sig syscall.Signal) {
	m.t.Helper()
	require.NoError(m.t, m.cmd.Process.Signal(sig))
}

// stop sends SIGTERM and checks the clean shutdown.
func (m *manager) stop() {
	m.t.Helper()
	m.signal(syscall.SIGTERM)
	select {
	case <-m.done:
	case <-time.After(15 * time.Second):
		m.t.Fatal("manager did not exit within 15s of SIGTERM")
	}
	require.NoError(m.t, m.err)
	m.waitFor("Final Objects: Map=0 Services=0 Process=0 Children=0 Zombies=0", time.Second)
	m.waitFor("Manager exiting: Version", time.Second)
}

// socket returns the rendezvous socket of a service key.
func (m *manager) socket(key string) string { return filepath.Join(m.R, key+".socket") }

// call sends one request to key and returns the response data.
func (m *manager) call(key, data string, timeout time.Duration, ctx ...string) (string, error) {
	return call(m.socket(key), key, data, timeout, ctx...)
}

func call(path, key, data string, timeout time.Duration, ctx ...string) (string, error) {
	conn, err := net.DialTimeout("unix", path, timeout)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(timeout))
	req := protocol.Request{ID: 1, ClientName: "e2e:1", ServiceKey: key, TimeoutMS: timeout.Milliseconds(), Data: []byte(data)}
	for i := 0; i+1 < len(ctx); i += 2 {
		req.Context = protocol.AppendContext(req.Context, ctx[i], ctx[i+1])
	}
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

// httpClient talks to the status API's Unix socket.
func (m *manager) httpClient() *http.Client {
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", m.Status)
		}}}
}

func (m *manager) get(path string) string {
	m.t.Helper()
	resp, err := m.httpClient().Get("http://pluton" + path)
	require.NoError(m.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(m.t, err)
	require.Equal(m.t, http.StatusOK, resp.StatusCode, string(b))
	return string(b)
}

func (m *manager) post(path string) (int, string) {
	m.t.Helper()
	resp, err := m.httpClient().Post("http://pluton"+path, "text/plain", nil)
	require.NoError(m.t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// alive reports whether pid is a live (not zombie) process.
func alive(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 && i+2 < len(s) {
		return s[i+2] != 'Z' && s[i+2] != 'X'
	}
	return true
}

// pidsOf extracts the pids from Process Start lines.
func pidsOf(lines []string) []int {
	var pids []int
	re := regexp.MustCompile(`Process Start: \S+/\d+-(\d+) `)
	for _, l := range lines {
		if mm := re.FindStringSubmatch(l); mm != nil {
			var pid int
			fmt.Sscan(mm[1], &pid)
			pids = append(pids, pid)
		}
	}
	return pids
}

func bin(t *testing.T, name string) string { return testbin.Path(t, name) }
