package remote_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/stretchr/testify/require"

	"github.com/pluton-go/pluton/go/remote"
	"github.com/pluton-go/pluton/go/testbin"
)

// startNATS runs a real NATS server with JetStream in this process, on a
// free loopback port, storing in a temporary directory.
func startNATS(t testing.TB) string {
	t.Helper()
	srv, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, JetStream: true,
		StoreDir: t.TempDir(), NoSigs: true, NoLog: true})
	require.NoError(t, err)
	go srv.Start()
	require.True(t, srv.ReadyForConnections(10*time.Second), "NATS server not ready")
	t.Cleanup(func() { srv.Shutdown(); srv.WaitForShutdown() })
	return srv.ClientURL()
}

// host is one plutonManager process with its own directories: a host.
type host struct {
	t      testing.TB
	name   string
	Dir    string
	C, R   string
	Map    string
	Status string
	cmd    *exec.Cmd
	mu     sync.Mutex
	lines  []string
	done   chan struct{}
}

// startHost starts plutonManager -N url with the configs (file name →
// text) and waits until it is ready and connected to NATS.
func startHost(t testing.TB, name, url string, configs map[string]string, env ...string) *host {
	t.Helper()
	return startManager(t, name, []string{"-N", url}, configs, env...)
}

// startPlainHost starts a manager without NATS.
func startPlainHost(t testing.TB, configs map[string]string) *host {
	t.Helper()
	return startManager(t, "plain", nil, configs)
}

func startManager(t testing.TB, name string, extra []string, configs map[string]string, env ...string) *host {
	t.Helper()
	dir, err := os.MkdirTemp("", "plr") // short: socket paths must fit in 108 bytes
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	h := &host{t: t, name: name, Dir: dir, C: filepath.Join(dir, "C"), R: filepath.Join(dir, "R"),
		Map: filepath.Join(dir, "lookup.map"), Status: filepath.Join(dir, "st.sock"), done: make(chan struct{})}
	require.NoError(t, os.Mkdir(h.C, 0o755))
	require.NoError(t, os.Mkdir(h.R, 0o755))
	for file, text := range configs {
		require.NoError(t, os.WriteFile(filepath.Join(h.C, file), []byte(text), 0o644))
		require.NoError(t, os.Chmod(filepath.Join(h.C, file), 0o644))
	}
	h.cmd = exec.Command(testbin.Path(t, "plutonManager"), append([]string{"-C", h.C, "-R", h.R, "-L", h.Map, "-c", h.Status,
		"-e", "10", "-l", "all"}, extra...)...)
	h.cmd.Env = append(append(os.Environ(), "plutonHome="+dir), env...)
	h.cmd.Stderr = os.Stderr
	out, err := h.cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, h.cmd.Start())
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			h.mu.Lock()
			h.lines = append(h.lines, sc.Text())
			h.mu.Unlock()
		}
		_ = h.cmd.Wait()
		close(h.done)
	}()
	t.Cleanup(func() {
		select {
		case <-h.done:
			return
		default:
		}
		_ = h.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-h.done:
		case <-time.After(20 * time.Second):
			_ = h.cmd.Process.Kill()
			<-h.done
		}
		if t.Failed() {
			t.Logf("log of host %s:\n%s", h.name, strings.Join(h.Lines(), "\n"))
		}
	})
	h.waitFor("Manager ready:", 30*time.Second)
	return h
}

// Lines returns the manager's log so far.
func (h *host) Lines() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.lines...)
}

func (h *host) waitFor(s string, timeout time.Duration) {
	h.t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		for _, l := range h.Lines() {
			if strings.Contains(l, s) {
				return
			}
		}
		select {
		case <-h.done:
			h.t.Fatalf("host %s exited waiting for %q:\n%s", h.name, s, strings.Join(h.Lines(), "\n"))
		case <-time.After(20 * time.Millisecond):
		}
	}
	h.t.Fatalf("host %s: no %q within %s:\n%s", h.name, s, timeout, strings.Join(h.Lines(), "\n"))
}

// kill sends SIGKILL to the manager (its instances die with it).
func (h *host) kill() {
	require.NoError(h.t, h.cmd.Process.Signal(syscall.SIGKILL))
	select {
	case <-h.done:
	case <-time.After(10 * time.Second):
		h.t.Fatalf("host %s: still running 10 s after SIGKILL", h.name)
	}
}

// http calls the status API.
func (h *host) http(method, path string, out any) {
	h.t.Helper()
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", h.Status)
		}}}
	req, err := http.NewRequest(method, "http://status"+path, nil)
	require.NoError(h.t, err)
	resp, err := c.Do(req)
	require.NoError(h.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(h.t, err)
	require.Equal(h.t, 200, resp.StatusCode, "%s %s: %s", method, path, b)
	if out != nil {
		require.NoError(h.t, json.Unmarshal(b, out), "%s", b)
	}
}

// remoteStatus returns GET /remote.
func (h *host) remoteStatus() remote.RemoteStatus {
	var v struct {
		Remote remote.RemoteStatus `json:"remote"`
	}
	h.http("GET", "/remote", &v)
	return v.Remote
}

// remoteStatusRaw returns GET /remote's "remote" member as decoded JSON.
func (h *host) remoteStatusRaw() any {
	var v map[string]any
	h.http("GET", "/remote", &v)
	return v["remote"]
}

// waitExported waits until the host exports every key.
func (h *host) waitExported(keys ...string) {
	h.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		got := strings.Join(h.remoteStatus().Exported, " ")
		missing := ""
		for _, k := range keys {
			if !strings.Contains(" "+got+" ", " "+k+" ") {
				missing = k
			}
		}
		if missing == "" {
			return
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("host %s: %s not exported within 30 s (exported: %s)", h.name, missing, got)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// echoConfig is a configuration of the echo service.
func echoConfig(t testing.TB, extra string) string {
	return fmt.Sprintf("exec %s\nminimum-processes 1\nmaximum-processes 4\n%s", testbin.Path(t, "echoService"), extra)
}
