package status

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pluton-go/pluton/go/manager/pool"
)

// fakeController records the controls it is asked for.
type fakeController struct {
	mu       sync.Mutex
	services []pool.ServiceStatus
	procs    []pool.ProcessStatus
	controls []string
}

func (f *fakeController) Services(context.Context) ([]pool.ServiceStatus, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]pool.ServiceStatus(nil), f.services...), nil
}

func (f *fakeController) Processes(context.Context) ([]pool.ProcessStatus, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]pool.ProcessStatus(nil), f.procs...), nil
}

func (f *fakeController) Stats(context.Context) (Stats, error) {
	return Stats{Version: "test", PID: 1}, nil
}

func (f *fakeController) Control(_ context.Context, key, action string) (pool.ServiceStatus, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, s := range f.services {
		if s.Key == key {
			f.controls = append(f.controls, key+" "+action)
			switch action {
			case "hold":
				f.services[i].Held = true
			case "halt":
				f.services[i].Halted = true
			case "resume":
				f.services[i].Held, f.services[i].Halted = false, false
			}
			return f.services[i], nil
		}
	}
	return pool.ServiceStatus{}, ErrNotFound
}

func (f *fakeController) Controls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.controls...)
}

const testKey = "system.echo.0.raw"

func newFake() *fakeController {
	return &fakeController{services: []pool.ServiceStatus{{Key: testKey, Phase: "running", MaximumProcesses: 2}}}
}

// send makes one request with raw header control (Host and Origin as given).
func send(t *testing.T, c *http.Client, method, url, host string, hdr map[string]string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, strings.NewReader("{}"))
	require.NoError(t, err)
	if host != "" {
		req.Host = host
	}
	for k, v := range hdr {
		req.Header[k] = []string{v}
	}
	resp, err := c.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

func TestCrossSiteControls(t *testing.T) {
	t.Parallel()
	f := newFake()
	srv := httptest.NewServer(Handler(f, prometheus.NewRegistry()))
	defer srv.Close()
	self := strings.TrimPrefix(srv.URL, "http://") // 127.0.0.1:port
	port := self[strings.LastIndex(self, ":")+1:]
	url := srv.URL + "/services/" + testKey + "/hold"
	jsonCT := "application/json"

	for _, tc := range []struct {
		name   string
		host   string
		hdr    map[string]string
		ok     bool
		reason string // in the 403 body
	}{
		{"legitimate", "", map[string]string{"Content-Type": jsonCT}, true, ""},
		{"legitimate with charset and same origin", "", map[string]string{"Content-Type": jsonCT + "; charset=utf-8", "Origin": "http://" + self}, true, ""},
		{"localhost name of a loopback address", "localhost:" + port, map[string]string{"Content-Type": jsonCT, "Origin": "http://localhost:" + port}, true, ""},
		{"evil origin", "", map[string]string{"Content-Type": jsonCT, "Origin": "http://evil.example"}, false, `Origin \"http://evil.example\" is not this status server`},
		{"other port on localhost", "", map[string]string{"Content-Type": jsonCT, "Origin": "http://127.0.0.1:1"}, false, "is not this status server"},
		{"https origin", "", map[string]string{"Content-Type": jsonCT, "Origin": "https://" + self}, false, "is not this status server"},
		{"origin null with text/plain", "", map[string]string{"Content-Type": "text/plain", "Origin": "null"}, false, "Origin null"},
		{"origin null with json", "", map[string]string{"Content-Type": jsonCT, "Origin": "null"}, false, "Origin null"},
		{"empty origin", "", map[string]string{"Content-Type": jsonCT, "Origin": ""}, false, "is not this status server"},
		{"foreign host (DNS rebinding)", "evil.example:" + port, map[string]string{"Content-Type": jsonCT}, false, `Host \"evil.example:` + port + `\" does not name this status server`},
		{"foreign host with matching origin", "evil.example:" + port, map[string]string{"Content-Type": jsonCT, "Origin": "http://evil.example:" + port}, false, "DNS rebinding"},
		{"right host wrong port", "127.0.0.1:1", map[string]string{"Content-Type": jsonCT}, false, "does not name this status server"},
		{"form content type", "", map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, false, "Content-Type \\\"application/x-www-form-urlencoded\\\""},
		{"multipart form", "", map[string]string{"Content-Type": "multipart/form-data; boundary=x"}, false, "must be sent with Content-Type: application/json"},
		{"text/plain", "", map[string]string{"Content-Type": "text/plain"}, false, "must be sent with Content-Type: application/json"},
		{"no content type", "", nil, false, "must be sent with Content-Type: application/json"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(f.Controls())
			code, body := send(t, srv.Client(), http.MethodPost, url, tc.host, tc.hdr)
			if tc.ok {
				assert.Equal(t, http.StatusOK, code, body)
				assert.Contains(t, body, `"held": true`)
				assert.Len(t, f.Controls(), before+1)
				return
			}
			assert.Equal(t, http.StatusForbidden, code, body)
			assert.Contains(t, body, "control refused")
			assert.Contains(t, body, tc.reason)
			var e map[string]string
			require.NoError(t, json.Unmarshal([]byte(body), &e), body)
			assert.NotEmpty(t, e["error"])
			assert.Len(t, f.Controls(), before, "a refused request changed state")
		})
	}
}

func TestGetStaysOpen(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(Handler(newFake(), prometheus.NewRegistry()))
	defer srv.Close()
	// A foreign Host and Origin may read; reading changes nothing.
	code, body := send(t, srv.Client(), http.MethodGet, srv.URL+"/services", "evil.example", map[string]string{"Origin": "http://evil.example"})
	assert.Equal(t, http.StatusOK, code, body)
	assert.Contains(t, body, testKey)
	// No CORS grant: a page of another site cannot read the reply.
	resp, err := srv.Client().Get(srv.URL + "/services")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Empty(t, resp.Header.Get("Access-Control-Allow-Origin"))
}

func TestUnixSocketControlsNeedNoHeaders(t *testing.T) {
	t.Parallel()
	sock := filepath.Join(t.TempDir(), "s")
	l, err := Listen(sock)
	require.NoError(t, err)
	f := newFake()
	s := Serve(l, Handler(f, prometheus.NewRegistry()))
	defer s.Close()
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		}}}
	code, body := send(t, c, http.MethodPost, "http://pluton/services/"+testKey+"/halt", "", map[string]string{"Content-Type": "text/plain"})
	assert.Equal(t, http.StatusOK, code, body)
	assert.Equal(t, []string{testKey + " halt"}, f.Controls())
}

func TestHostNames(t *testing.T) {
	for _, tc := range []struct {
		addr *net.TCPAddr
		want []string
	}{
		{&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9990}, []string{"127.0.0.1:9990", "localhost:9990"}},
		{&net.TCPAddr{IP: net.IPv6loopback, Port: 7}, []string{"[::1]:7", "localhost:7"}},
		{&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 80}, []string{"127.0.0.1:80", "localhost:80", "127.0.0.1", "localhost"}},
	} {
		assert.Equal(t, tc.want, hostNames(tc.addr), tc.addr.String())
	}
}
