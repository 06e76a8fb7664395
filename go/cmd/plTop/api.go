package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/pluton-go/pluton/go/manager/pool"
	"github.com/pluton-go/pluton/go/manager/status"
)

// api talks to a manager's status API (docs/status.md).
type api struct {
	addr string // as given, for messages
	base string // URL prefix
	http *http.Client
}

// newAPI returns a client of the status address addr: a Unix socket path
// (anything containing '/') or a loopback host:port, :port or port, as the
// manager's -c takes it.
func newAPI(addr string) (*api, error) {
	if addr == "" {
		return nil, errors.New("no status address: give -c with the address of plutonManager's -c")
	}
	tr := &http.Transport{MaxIdleConns: 2, IdleConnTimeout: 30 * time.Second}
	a := &api{addr: addr, http: &http.Client{Timeout: 5 * time.Second, Transport: tr}}
	if strings.Contains(addr, "/") {
		tr.DialContext = func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", addr)
		}
		a.base = "http://pluton"
		return a, nil
	}
	hostport, err := status.LoopbackAddress(addr)
	if err != nil {
		return nil, fmt.Errorf("status address %s: %w", addr, err)
	}
	if strings.HasSuffix(hostport, ":0") {
		return nil, fmt.Errorf("status address %s: no port", addr)
	}
	a.base = "http://" + hostport
	return a, nil
}

// Overview fetches GET /overview.
func (a *api) Overview(ctx context.Context) (status.Overview, error) {
	var ov status.Overview
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.base+"/overview", nil)
	if err != nil {
		return ov, err
	}
	err = a.do(req, &ov)
	return ov, err
}

// Control sends hold, halt or resume for a service, with the headers the
// status API's cross-site rule asks for.
func (a *api) Control(ctx context.Context, key, action string) (pool.ServiceStatus, error) {
	var st pool.ServiceStatus
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.base+"/services/"+key+"/"+action, strings.NewReader("{}"))
	if err != nil {
		return st, err
	}
	req.Header.Set("Content-Type", status.ControlContentType)
	err = a.do(req, &st)
	return st, err
}

// do sends req and decodes a JSON reply into v; an error reply becomes an
// error carrying its text.
func (a *api) do(req *http.Request, v any) error {
	resp, err := a.http.Do(req)
	if err != nil {
		return fmt.Errorf("status API at %s: %w", a.addr, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return fmt.Errorf("status API at %s: %w", a.addr, err)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(b, &e) == nil && e.Error != "" {
			return fmt.Errorf("%s %s: %d: %s", req.Method, req.URL.Path, resp.StatusCode, e.Error)
		}
		return fmt.Errorf("%s %s: %d: %s", req.Method, req.URL.Path, resp.StatusCode, strings.TrimSpace(string(b)))
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s %s: bad reply: %w", req.Method, req.URL.Path, err)
	}
	return nil
}
