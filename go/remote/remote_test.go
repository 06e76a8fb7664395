package remote_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pluton-go/pluton/go/client"
	"github.com/pluton-go/pluton/go/fault"
	"github.com/pluton-go/pluton/go/protocol"
	"github.com/pluton-go/pluton/go/remote"
	"github.com/pluton-go/pluton/go/remote/natsrpc"
	"github.com/pluton-go/pluton/go/testbin"
)

func faultCode(t *testing.T, err error) fault.Code {
	t.Helper()
	var f *fault.Fault
	require.True(t, errors.As(err, &f), "want a *fault.Fault, got %v", err)
	return f.Code
}

// TestTwoHosts: a key served only by the second host is reached from a
// client of the first; context, service faults, noRemote, a deadline that
// expires remotely, and micro discovery.
func TestTwoHosts(t *testing.T) {
	url := startNATS(t)
	a := startHost(t, "A", url, map[string]string{"system.local.0.raw": echoConfig(t, "")})
	b := startHost(t, "B", url, map[string]string{"system.echo.0.raw": echoConfig(t, ""),
		"wild..0.raw": echoConfig(t, "")})
	a.waitExported("system.local.0.raw")
	b.waitExported("system.echo.0.raw", "wild..0.raw")

	c, err := client.New("twoHosts", client.WithLookup(a.Map), client.WithTimeout(5*time.Second))
	require.NoError(t, err)
	defer c.Close()
	require.Equal(t, url, c.NATS(), "the client takes the URL its manager wrote")
	ctx := context.Background()

	tests := []struct {
		name    string
		key     string
		data    string
		opts    []client.RequestOption
		want    string
		code    fault.Code
		text    string
		maxTime time.Duration
	}{
		{name: "local", key: "system.local.0.raw", data: "here", want: "here"},
		{name: "remote", key: "system.echo.0.raw", data: "there", want: "there"},
		{name: "remote context", key: "system.echo.0.raw", data: "slept", opts: []client.RequestOption{client.Context("echo.sleepMS", "50")}, want: "slept"},
		{name: "remote noWait", key: "system.echo.0.raw", data: "nw", opts: []client.RequestOption{client.NoWait()}, want: ""},
		{name: "remote wildcard", key: "wild.anything.0.raw", data: "w", want: "w"},
		{name: "remote service fault", key: "system.echo.0.raw", data: "x", opts: []client.RequestOption{client.Context("echo.sleepMS", "-1")},
			code: 111, text: "sleep time negative"},
		{name: "noRemote", key: "system.echo.0.raw", data: "x", opts: []client.RequestOption{client.NoRemote()},
			code: fault.ServiceNotFound, maxTime: time.Second},
		{name: "nowhere", key: "system.nowhere.0.raw", data: "x", code: fault.ServiceNotFound, text: "no host serves it", maxTime: 2 * time.Second},
		{name: "remote deadline", key: "system.echo.0.raw", data: "x",
			opts: []client.RequestOption{client.Context("echo.sleepMS", "3000"), client.Timeout(time.Second)},
			code: fault.ServiceTimeout, text: "enforced by host", maxTime: 2500 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			resp, err := c.Call(ctx, tt.key, []byte(tt.data), tt.opts...)
			if tt.maxTime > 0 {
				assert.Less(t, time.Since(start), tt.maxTime)
			}
			if tt.code == 0 {
				require.NoError(t, err)
				assert.Equal(t, tt.want, string(resp.Data))
				if tt.want != "" {
					assert.NotEmpty(t, resp.ServiceName)
				}
				return
			}
			require.Error(t, err)
			assert.Equal(t, tt.code, faultCode(t, err), "%v", err)
			assert.Contains(t, err.Error(), tt.text)
		})
	}

	// WithNATS("off") keeps every request local.
	off, err := client.New("off", client.WithLookup(a.Map), client.WithNATS("off"))
	require.NoError(t, err)
	assert.Empty(t, off.NATS())
	_, err = off.Call(ctx, "system.echo.0.raw", []byte("x"))
	assert.Equal(t, fault.ServiceNotFound, faultCode(t, err))

	// Affinity stays local: a KeepAffinity request for a remote key fails
	// as not found.
	r := client.NewRequest("system.echo.0.raw", []byte("x"), client.KeepAffinity(), client.NoRetry())
	err = c.Do(ctx, r)
	assert.Equal(t, fault.ServiceNotFound, faultCode(t, err))
	r.Close()

	// The gateway socket relays a raw request packet (what an SDK without a
	// NATS client sends after a local miss) and answers a response packet.
	gw := filepath.Join(a.R, remote.GatewaySocketName)
	gwCall := func(req protocol.Request) protocol.Response {
		t.Helper()
		conn, err := net.DialTimeout("unix", gw, 5*time.Second)
		require.NoError(t, err)
		defer conn.Close()
		require.NoError(t, conn.SetDeadline(time.Now().Add(10*time.Second)))
		_, err = conn.Write(protocol.AppendRequest(nil, &req))
		require.NoError(t, err)
		var resp protocol.Response
		require.NoError(t, protocol.NewResponseDecoder(conn).ReadResponse(&resp))
		return resp
	}
	resp := gwCall(protocol.Request{ID: 7, ClientName: "sdk:1", ServiceKey: "system.echo.0.raw", TimeoutMS: 4000, Data: []byte("via gateway"),
		Context: protocol.AppendContext(nil, "echo.sleepMS", "1")})
	assert.Equal(t, int64(7), resp.ID)
	assert.Equal(t, "sdk:1", resp.ClientName)
	assert.Zero(t, resp.FaultCode, resp.FaultText)
	assert.Equal(t, "via gateway", string(resp.Data))
	assert.NotEmpty(t, resp.ServiceName)
	resp = gwCall(protocol.Request{ID: 8, ClientName: "sdk:1", ServiceKey: "system.echo.0.raw", TimeoutMS: 4000,
		Context: protocol.AppendContext(nil, "echo.sleepMS", "-1")})
	assert.Equal(t, int64(111), resp.FaultCode)
	assert.Equal(t, "sleep time negative", resp.FaultText)
	resp = gwCall(protocol.Request{ID: 9, ClientName: "sdk:1", ServiceKey: "system.nowhere.0.raw", TimeoutMS: 4000})
	assert.Equal(t, int64(fault.ServiceNotFound), resp.FaultCode)
	resp = gwCall(protocol.Request{ID: 10, ClientName: "sdk:1", ServiceKey: "system.echo.0.raw", TimeoutMS: 4000, NoRemote: true})
	assert.Equal(t, int64(fault.ServiceNotFound), resp.FaultCode)
	// Garbage is dropped without an answer, and the gateway goes on.
	conn, err := net.DialTimeout("unix", gw, 5*time.Second)
	require.NoError(t, err)
	_, _ = conn.Write([]byte("garbage\n"))
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(10*time.Second)))
	n, _ := conn.Read(make([]byte, 16))
	assert.Zero(t, n)
	conn.Close()
	assert.Equal(t, "again", string(gwCall(protocol.Request{ID: 11, ServiceKey: "system.echo.0.raw", Data: []byte("again")}).Data))

	// Discovery: both hosts answer $SRV.INFO.pluton with their endpoints.
	nc, err := nats.Connect(url)
	require.NoError(t, err)
	defer nc.Close()
	inbox := nats.NewInbox()
	sub, err := nc.SubscribeSync(inbox)
	require.NoError(t, err)
	require.NoError(t, nc.PublishRequest("$SRV.INFO.pluton", inbox, nil))
	subjects := map[string]string{}
	for i := 0; i < 2; i++ {
		m, err := sub.NextMsg(5 * time.Second)
		require.NoError(t, err)
		var info struct {
			Endpoints []struct {
				Subject    string            `json:"subject"`
				QueueGroup string            `json:"queue_group"`
				Metadata   map[string]string `json:"metadata"`
			} `json:"endpoints"`
		}
		require.NoError(t, json.Unmarshal(m.Data, &info))
		for _, e := range info.Endpoints {
			subjects[e.Metadata["key"]] = e.Subject + " " + e.QueueGroup
		}
	}
	assert.Equal(t, "pluton.svc.system.echo.0.raw pluton-system.echo.0.raw", subjects["system.echo.0.raw"])
	assert.Equal(t, "pluton.svc.wild.~.0.raw pluton-wild.~.0.raw", subjects["wild..0.raw"])
	assert.Contains(t, subjects, "system.local.0.raw")

	// Standard tooling can call a service: a plain NATS request.
	m, err := nc.Request("pluton.svc.system.echo.0.raw", []byte("plain"), 5*time.Second)
	require.NoError(t, err)
	assert.Equal(t, "plain", string(m.Data))
	assert.NotEmpty(t, m.Header.Get(natsrpc.HeaderHost))
}

// TestSpreadOverHosts: requests for a key served by two hosts reach both.
func TestSpreadOverHosts(t *testing.T) {
	url := startNATS(t)
	a := startHost(t, "A", url, map[string]string{"system.spread.0.raw": echoConfig(t, "")})
	b := startHost(t, "B", url, map[string]string{"system.spread.0.raw": echoConfig(t, "")})
	a.waitExported("system.spread.0.raw")
	b.waitExported("system.spread.0.raw")
	caller := natsrpc.NewCaller(url, "spread")
	defer caller.Close()
	hosts := map[string]int{}
	for i := range 60 {
		resp, err := caller.Call(context.Background(), natsrpc.Request{Key: "system.spread.0.raw", Data: []byte(fmt.Sprint(i)),
			Deadline: time.Now().Add(5 * time.Second)})
		require.NoError(t, err)
		assert.Equal(t, fmt.Sprint(i), string(resp.Data))
		hosts[resp.Host]++
	}
	assert.Len(t, hosts, 2, "both hosts served: %v", hosts)
}

// TestHostKilledMidLoad: the only host serving a key is killed with SIGKILL
// while clients of another host call it; every call ends within its
// timeout with a result or a fault, and nothing hangs.
func TestHostKilledMidLoad(t *testing.T) {
	url := startNATS(t)
	a := startHost(t, "A", url, map[string]string{"system.local.0.raw": echoConfig(t, "")})
	b := startHost(t, "B", url, map[string]string{"system.far.0.raw": echoConfig(t, "")})
	a.waitExported("system.local.0.raw")
	b.waitExported("system.far.0.raw")
	c, err := client.New("killed", client.WithLookup(a.Map))
	require.NoError(t, err)
	defer c.Close()

	const timeout = 2 * time.Second
	var (
		mu               sync.Mutex
		ok, faults, slow int
		codes            = map[fault.Code]int{}
		wg               sync.WaitGroup
		okBeforeKill     = make(chan struct{})
		once             sync.Once
	)
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 150 {
				start := time.Now()
				_, err := c.Call(context.Background(), "system.far.0.raw", []byte(fmt.Sprintf("%d-%d", g, i)),
					client.Timeout(timeout), client.Context("echo.sleepMS", "10"))
				el := time.Since(start)
				mu.Lock()
				if el > timeout+time.Second {
					slow++
				}
				if err == nil {
					ok++
					if ok >= 20 {
						once.Do(func() { close(okBeforeKill) })
					}
				} else {
					faults++
					var f *fault.Fault
					if errors.As(err, &f) {
						codes[f.Code]++
					}
				}
				mu.Unlock()
			}
		}()
	}
	select {
	case <-okBeforeKill:
	case <-time.After(60 * time.Second):
		t.Fatal("no 20 successful remote calls within 60 s")
	}
	b.kill()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(3 * time.Minute):
		t.Fatal("callers still running 3 min after the kill")
	}
	t.Logf("ok=%d faults=%d codes=%v", ok, faults, codes)
	assert.Zero(t, slow, "calls that took longer than their timeout + 1 s")
	assert.GreaterOrEqual(t, ok, 20)
	assert.Positive(t, faults, "calls after the kill fail")
	for code := range codes {
		assert.Contains(t, []fault.Code{fault.ServiceTimeout, fault.ServiceNotFound, fault.IncompleteResponse}, code)
	}
	// The first host is untouched.
	resp, err := c.Call(context.Background(), "system.local.0.raw", []byte("alive"))
	require.NoError(t, err)
	assert.Equal(t, "alive", string(resp.Data))
}

// TestExporterBadRequests: malformed headers get a fault naming what is
// wrong, and the exporter keeps serving.
func TestExporterBadRequests(t *testing.T) {
	url := startNATS(t)
	b := startHost(t, "B", url, map[string]string{"system.echo.0.raw": echoConfig(t, "")})
	b.waitExported("system.echo.0.raw")
	nc, err := nats.Connect(url)
	require.NoError(t, err)
	defer nc.Close()
	tests := []struct {
		name    string
		headers map[string]string
		code    string
		text    string
	}{
		{"bad timeout", map[string]string{natsrpc.HeaderTimeout: "soon"}, "-31", `Pluton-Timeout-Ms header "soon" is not a number`},
		{"expired", map[string]string{natsrpc.HeaderTimeout: "0"}, "-19", "deadline passed before host"},
		{"bad context", map[string]string{natsrpc.HeaderContext: "!!"}, "-23", "bad request context"},
		{"bad context payload", map[string]string{natsrpc.HeaderContext: natsrpc.EncodeContext([]byte("zz"))}, "-23", "bad request context"},
		{"key mismatch", map[string]string{natsrpc.HeaderKey: "other.echo.0.raw"}, "-31", "does not match the exported key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := nats.NewMsg("pluton.svc.system.echo.0.raw")
			m.Data = []byte("x")
			for k, v := range tt.headers {
				m.Header.Set(k, v)
			}
			r, err := nc.RequestMsg(m, 5*time.Second)
			require.NoError(t, err)
			assert.Equal(t, tt.code, r.Header.Get(natsrpc.HeaderErrorCode))
			assert.Contains(t, string(r.Data), tt.text)
		})
	}
	r, err := nc.Request("pluton.svc.system.echo.0.raw", []byte("still"), 5*time.Second)
	require.NoError(t, err)
	assert.Equal(t, "still", string(r.Data))
}

// TestManagerBadNATS: a manager whose NATS server cannot be reached does not
// start, and says why.
func TestManagerBadNATS(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command(testbin.Path(t, "plutonManager"), "-C", dir, "-R", dir, "-L", filepath.Join(dir, "lookup.map"),
		"-N", "nats://127.0.0.1:1")
	out, err := cmd.CombinedOutput()
	require.Error(t, err)
	assert.Contains(t, string(out), "FATAL: -N nats://127.0.0.1:1: NATS nats://127.0.0.1:1")
}

// TestReloadChangesExports: a reload that adds a key exports it, one that
// removes a key stops exporting it; the other keys keep answering.
func TestReloadChangesExports(t *testing.T) {
	url := startNATS(t)
	b := startHost(t, "B", url, map[string]string{"system.one.0.raw": echoConfig(t, "")})
	b.waitExported("system.one.0.raw")
	require.NoError(t, os.WriteFile(filepath.Join(b.C, "system.two.0.raw"), []byte(echoConfig(t, "")), 0o644))
	require.NoError(t, b.cmd.Process.Signal(syscall.SIGHUP))
	b.waitExported("system.one.0.raw", "system.two.0.raw")

	caller := natsrpc.NewCaller(url, "reload")
	defer caller.Close()
	call := func(key string) error {
		_, err := caller.Call(context.Background(), natsrpc.Request{Key: key, Data: []byte("x"), Deadline: time.Now().Add(5 * time.Second)})
		return err
	}
	require.NoError(t, call("system.two.0.raw"))

	require.NoError(t, os.Remove(filepath.Join(b.C, "system.one.0.raw")))
	require.NoError(t, b.cmd.Process.Signal(syscall.SIGHUP))
	deadline := time.Now().Add(30 * time.Second)
	for strings.Join(b.remoteStatus().Exported, " ") != "system.two.0.raw" {
		require.True(t, time.Now().Before(deadline), "exported: %v", b.remoteStatus().Exported)
		time.Sleep(50 * time.Millisecond)
	}
	assert.Equal(t, fault.ServiceNotFound, faultCode(t, call("system.one.0.raw")))
	require.NoError(t, call("system.two.0.raw"))
}

// TestSecondManagerSameDirectory: a second manager started by mistake on a
// host's rendezvous directory fails on the lock and leaves the first one's
// gateway socket, URL file and exports alone.
func TestSecondManagerSameDirectory(t *testing.T) {
	url := startNATS(t)
	a := startHost(t, "A", url, map[string]string{"system.echo.0.raw": echoConfig(t, "")})
	a.waitExported("system.echo.0.raw")
	cmd := exec.Command(testbin.Path(t, "plutonManager"), "-C", a.C, "-R", a.R, "-L", a.Map, "-N", url)
	out, err := cmd.CombinedOutput()
	require.Error(t, err)
	assert.Contains(t, string(out), "Another plutonManager")
	for _, name := range []string{remote.GatewaySocketName, client.NATSURLFile} {
		_, err := os.Stat(filepath.Join(a.R, name))
		assert.NoError(t, err, name)
	}
	assert.Equal(t, []string{"system.echo.0.raw"}, a.remoteStatus().Exported)
}
