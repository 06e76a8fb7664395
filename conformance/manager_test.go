package conformance_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
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

	"github.com/stretchr/testify/require"

	"github.com/pluton-go/pluton/go/protocol"
	"github.com/pluton-go/pluton/go/testbin"
)

// managed is a plutonManager started for the manager harness, serving every
// SDK's testee under the wildcard key <sdk>..0.raw.
type managed struct {
	rendezvous string
	lookup     string
	cmd        *exec.Cmd
	mu         sync.Mutex
	log        bytes.Buffer
}

func startManager(t *testing.T, list []sdk) *managed {
	t.Helper()
	dir, err := os.MkdirTemp("", "plc") // short: socket paths must fit in sun_path
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	m := &managed{rendezvous: filepath.Join(dir, "r"), lookup: filepath.Join(dir, "lookup.map")}
	configDir := filepath.Join(dir, "c")
	require.NoError(t, os.Mkdir(m.rendezvous, 0o755))
	require.NoError(t, os.Mkdir(configDir, 0o755))
	for _, s := range list {
		exec := "exec " + strings.Join(s.testee, " ") + "\n"
		write := func(key, extra string) {
			require.NoError(t, os.WriteFile(filepath.Join(configDir, key), []byte(exec+extra), 0o644))
		}
		write(s.name+"..0.raw", "maximum-processes 4\nminimum-processes 1\nprestart-processes true\nexec-failure-backoff 0\n")
		write(s.name+".pid.1.raw", "maximum-processes 1\nmaximum-requests 3\nenable-leak-ramping false\nexec-failure-backoff 0\n")
	}
	m.cmd = exec.Command(testbin.Path(t, "plutonManager"), "-C", configDir, "-R", m.rendezvous, "-L", m.lookup,
		"-l", "processExit", "-l", "processLog")
	out, err := m.cmd.StdoutPipe()
	require.NoError(t, err)
	m.cmd.Stderr = m.cmd.Stdout
	require.NoError(t, m.cmd.Start())
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			line := sc.Text()
			m.mu.Lock()
			m.log.WriteString(line + "\n")
			m.mu.Unlock()
			if strings.Contains(line, "Manager ready:") || strings.Contains(line, "FATAL:") {
				select {
				case ready <- line:
				default:
				}
			}
		}
	}()
	t.Cleanup(func() {
		_ = m.cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan error, 1)
		go func() { done <- m.cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			_ = m.cmd.Process.Kill()
			t.Errorf("plutonManager did not stop within 15 s; log:\n%s", m.logText())
		}
		if t.Failed() {
			t.Logf("manager log:\n%s", m.logText())
		}
	})
	select {
	case line := <-ready:
		require.Contains(t, line, "Manager ready:", "manager log:\n%s", m.logText())
	case <-time.After(20 * time.Second):
		t.Fatalf("plutonManager not ready after 20 s; log:\n%s", m.logText())
	}
	return m
}

func (m *managed) logText() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.log.String()
}

// exchange sends req over conn and reads one response.
func exchange(conn net.Conn, dec *protocol.Decoder, req *protocol.Request) (protocol.Response, error) {
	var resp protocol.Response
	if _, err := conn.Write(protocol.AppendRequest(nil, req)); err != nil {
		return resp, err
	}
	err := dec.ReadResponse(&resp)
	return resp, err
}

func (m *managed) dial(key string) (net.Conn, *protocol.Decoder, error) {
	path := filepath.Join(m.rendezvous, key+".socket")
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		parts := strings.Split(key, ".")
		path = filepath.Join(m.rendezvous, parts[0]+".."+parts[2]+"."+parts[3]+".socket")
	}
	conn, err := net.DialTimeout("unix", path, 5*time.Second)
	if err != nil {
		return nil, nil, err
	}
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	return conn, protocol.NewResponseDecoder(conn), nil
}

// call sends one request on a fresh connection, retrying briefly while the
// manager is (re)starting an instance.
func (m *managed) call(key string, data []byte, ctx ...string) (protocol.Response, error) {
	var c []byte
	for i := 0; i+1 < len(ctx); i += 2 {
		c = protocol.AppendContext(c, ctx[i], ctx[i+1])
	}
	var lastErr error
	for attempt := 0; attempt < 20; attempt++ {
		conn, dec, err := m.dial(key)
		if err != nil {
			lastErr = err
			time.Sleep(100 * time.Millisecond)
			continue
		}
		resp, err := exchange(conn, dec, &protocol.Request{ID: 100, ClientName: "runner:1", ServiceKey: key, TimeoutMS: 4000, Context: c, Data: data})
		conn.Close()
		if err == nil {
			return resp, nil
		}
		lastErr = err
		time.Sleep(100 * time.Millisecond)
	}
	return protocol.Response{}, lastErr
}

var pidCount = regexp.MustCompile(`^(\d+):(\d+)$`)

func parsePid(resp protocol.Response) (pid, n int, err error) {
	m := pidCount.FindSubmatch(resp.Data)
	if m == nil {
		return 0, 0, fmt.Errorf("pid response %q (fault %d %q) is not <pid>:<n>", resp.Data, resp.FaultCode, resp.FaultText)
	}
	pid, _ = strconv.Atoi(string(m[1]))
	n, _ = strconv.Atoi(string(m[2]))
	return pid, n, nil
}

// TestManager checks what only a real manager shows: affinity over one
// connection, maximum-requests recycling, exit on request, noWait.
func TestManager(t *testing.T) {
	list := native(sdks(t))
	m := startManager(t, list)
	for _, s := range list {
		check(t, s, "manager", "affinity", func() error { return affinity(m, s.name+".pid.0.raw") })
		check(t, s, "manager", "maximum_requests", func() error { return maximumRequests(m, s.name+".pid.1.raw") })
		check(t, s, "manager", "exit_on_request", func() error { return exitOnRequest(m, s.name) })
		check(t, s, "manager", "no_wait", func() error { return noWait(m, s.name+".echo.0.raw") })
		check(t, s, "manager", "wildcard_key", func() error {
			resp, err := m.call(s.name+".AnyFunction.0.raw", nil)
			if err != nil {
				return err
			}
			if resp.FaultCode != 2 || resp.FaultText != "unknown function AnyFunction" {
				return fmt.Errorf("got fault %d %q, want 2 \"unknown function AnyFunction\"", resp.FaultCode, resp.FaultText)
			}
			resp, err = m.call(s.name+".key.0.raw", nil)
			if err != nil {
				return err
			}
			return expectData(resp, []byte(s.name+"\nkey\n0\nraw\n"+s.name+".key.0.raw"))
		})
	}
}

func expectData(resp protocol.Response, want []byte) error {
	if resp.FaultCode != 0 {
		return fmt.Errorf("unexpected fault %d %q", resp.FaultCode, resp.FaultText)
	}
	if d := diff(want, resp.Data); d != "" {
		return fmt.Errorf("response data differs:\n%s", d)
	}
	return nil
}

func affinity(m *managed, key string) error {
	conn, dec, err := m.dial(key)
	if err != nil {
		return err
	}
	defer conn.Close()
	firstPid, firstN := 0, 0
	for i := 0; i < 3; i++ {
		resp, err := exchange(conn, dec, &protocol.Request{ID: int64(100 + i), ClientName: "runner:1", ServiceKey: key,
			TimeoutMS: 4000, KeepAffinity: true, NoRetry: true, NeedAffinity: i > 0})
		if err != nil {
			return fmt.Errorf("request %d on the affinity connection: %w", i+1, err)
		}
		if resp.ID != int64(100+i) {
			return fmt.Errorf("request %d: response id %d", i+1, resp.ID)
		}
		pid, n, err := parsePid(resp)
		if err != nil {
			return err
		}
		if i == 0 {
			firstPid, firstN = pid, n
		} else if pid != firstPid || n != firstN+i {
			return fmt.Errorf("request %d answered by %d:%d, want %d:%d (same instance, next count)", i+1, pid, n, firstPid, firstN+i)
		}
	}
	return nil
}

func maximumRequests(m *managed, key string) error {
	served := map[int]int{}
	var order []int
	for i := 0; i < 7; i++ {
		resp, err := m.call(key, nil)
		if err != nil {
			return fmt.Errorf("request %d: %w", i+1, err)
		}
		pid, n, err := parsePid(resp)
		if err != nil {
			return err
		}
		if n > 3 {
			return fmt.Errorf("instance %d served its request number %d, beyond maximum-requests 3", pid, n)
		}
		served[pid]++
		order = append(order, pid)
	}
	if len(served) < 3 {
		return fmt.Errorf("7 requests with maximum-requests 3 were served by %d instance(s) %v, want at least 3", len(served), order)
	}
	return nil
}

func exitOnRequest(m *managed, name string) error {
	key := name + ".exit.0.raw"
	conn, dec, err := m.dial(key)
	if err != nil {
		return err
	}
	_, err = exchange(conn, dec, &protocol.Request{ID: 100, ServiceKey: key, TimeoutMS: 4000,
		Context: protocol.AppendContext(nil, "exit.code", "0")})
	conn.Close()
	if err == nil {
		return errors.New("the exit function answered; want the connection closed without a response")
	}
	resp, err := m.call(name+".echo.0.raw", []byte("after exit"))
	if err != nil {
		return fmt.Errorf("echo after an instance exited: %w", err)
	}
	return expectData(resp, []byte("after exit"))
}

func noWait(m *managed, key string) error {
	conn, _, err := m.dial(key)
	if err != nil {
		return err
	}
	defer conn.Close()
	if _, err := conn.Write(protocol.AppendRequest(nil, &protocol.Request{ID: 100, ServiceKey: key, TimeoutMS: 4000,
		NoWait: true, Data: []byte("fire and forget")})); err != nil {
		return err
	}
	var buf [64]byte
	n, err := conn.Read(buf[:])
	if n != 0 || err == nil {
		return fmt.Errorf("noWait: read %d bytes %q (err %v), want a close with zero bytes", n, buf[:n], err)
	}
	return nil
}

// TestClientMatrix runs every SDK's client against every SDK's testee.
func TestClientMatrix(t *testing.T) {
	list := native(sdks(t))
	m := startManager(t, list)
	big := bytes.Repeat([]byte("0123456789abcdef"), 100000/16)
	for _, client := range list {
		for _, testee := range list {
			name := client.name + "_client"
			app := testee.name
			cases := []struct {
				name   string
				key    string
				args   []string
				data   []byte
				stdout []byte
				fault  string
			}{
				{"echo", app + ".echo.0.raw", nil, []byte("Hello from " + name), []byte("Hello from " + name), ""},
				{"echo_100k", app + ".echo.0.raw", nil, big, big, ""},
				{"fault", app + ".fault.0.raw", []string{"-C", "fault.code=111", "-C", "fault.text=sleep time negative"}, nil, nil, "FAULT 111 sleep time negative"},
				{"context", app + ".context.0.raw", []string{"-C", "alpha=1", "-C", "beta=two words"}, []byte("alpha\nbeta\nmissing\n"), []byte("alpha=1\nbeta=two words\nmissing!\n"), ""},
				{"wildcard_key", app + ".key.0.raw", nil, nil, []byte(app + "\nkey\n0\nraw\n" + app + ".key.0.raw"), ""},
				{"no_wait", app + ".echo.0.raw", []string{"-w"}, []byte("dropped"), nil, ""},
			}
			for _, c := range cases {
				check(t, client, "matrix", testee.name+"/"+c.name, func() error {
					ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
					defer cancel()
					args := append(append(append([]string{}, client.client[1:]...), m.lookup, c.key), c.args...)
					cmd := exec.CommandContext(ctx, client.client[0], args...)
					cmd.Stdin = bytes.NewReader(c.data)
					var stdout, stderr bytes.Buffer
					cmd.Stdout, cmd.Stderr = &stdout, &stderr
					err := cmd.Run()
					if c.fault != "" {
						if err == nil || !strings.Contains(stderr.String(), c.fault) {
							return fmt.Errorf("want exit 1 with %q on stderr; got %v, stderr %q", c.fault, err, stderr.String())
						}
						return nil
					}
					if err != nil {
						return fmt.Errorf("client exited with %v; stderr:\n%s", err, stderr.String())
					}
					if d := diff(c.stdout, stdout.Bytes()); d != "" {
						return fmt.Errorf("stdout differs:\n%s", d)
					}
					return nil
				})
			}
			check(t, client, "matrix", testee.name+"/client_name", func() error {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				cmd := exec.CommandContext(ctx, client.client[0], append(append([]string{}, client.client[1:]...), m.lookup, app+".client.0.raw")...)
				var stderr bytes.Buffer
				cmd.Stderr = &stderr
				out, err := cmd.Output()
				if err != nil {
					return fmt.Errorf("client exited with %v; stderr:\n%s", err, stderr.String())
				}
				if !regexp.MustCompile(`^[^:\n]*:\d+$`).Match(out) {
					return fmt.Errorf("client name %q is not <name>:<pid>", out)
				}
				return nil
			})
		}
		// Faults the client raises itself, before or instead of any exchange.
		for _, c := range []struct {
			name  string
			args  []string
			fault string
		}{
			{"service_not_found", []string{"nosuch.echo.0.raw"}, "FAULT -30 "},
			{"service_key_bad", []string{"go.echo.0.bad"}, "FAULT -31 "},
			{"context_reserved", []string{"go.echo.0.raw", "-C", "pluton.x=1"}, "FAULT -23 "},
		} {
			check(t, client, "matrix", "client/"+c.name, func() error {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				args := append(append(append([]string{}, client.client[1:]...), m.lookup), c.args...)
				cmd := exec.CommandContext(ctx, client.client[0], args...)
				var stdout, stderr bytes.Buffer
				cmd.Stdout, cmd.Stderr = &stdout, &stderr
				err := cmd.Run()
				var ee *exec.ExitError
				if !errors.As(err, &ee) || ee.ExitCode() != 1 || !strings.HasPrefix(stderr.String(), c.fault) {
					return fmt.Errorf("want exit 1 with %q... on stderr; got %v, stdout %q, stderr %q", c.fault, err, stdout.String(), stderr.String())
				}
				return nil
			})
		}
	}
}
