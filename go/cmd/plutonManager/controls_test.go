package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pluton-go/pluton/go/client"
	"github.com/pluton-go/pluton/go/fault"
	"github.com/pluton-go/pluton/go/testbin"
)

type controlJSON struct {
	Key     string `json:"key"`
	Held    bool   `json:"held"`
	Halted  bool   `json:"halted"`
	Control *struct {
		Action string    `json:"action"`
		At     time.Time `json:"at"`
		By     string    `json:"by"`
	} `json:"control"`
}

// post sends a control request to the status API.
func (r *running) post(path string, v any) int {
	r.t.Helper()
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", r.status)
		}}}
	resp, err := hc.Post("http://localhost"+path, "application/json", bytes.NewReader(nil))
	require.NoError(r.t, err)
	defer resp.Body.Close()
	if v != nil && resp.StatusCode == http.StatusOK {
		require.NoError(r.t, json.NewDecoder(resp.Body).Decode(v))
	}
	return resp.StatusCode
}

func (r *running) control(key string) controlJSON {
	r.t.Helper()
	var c controlJSON
	r.get("/services/"+key, &c)
	return c
}

func clearHaltCmd(t *testing.T, home, key string) (string, int) {
	cmd := exec.Command(testbin.Path(t, "plutonManager"), "--clear-halt", key)
	cmd.Env = append(envWithout("plutonHome", "plutonLookupMap"), "plutonHome="+home)
	out, err := cmd.CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else {
		require.NoError(t, err)
	}
	return string(out), code
}

// TestControlsSurviveReloadAndRestart: a HALT and a HOLD set through the
// status API are kept in <R>/plutonManager.controls, survive a reload of
// the changed service and a manager restart, are shown with when and by
// whom, and are lifted by RESUME or plutonManager --clear-halt (with the
// manager running, and with none running).
func TestControlsSurviveReloadAndRestart(t *testing.T) {
	svc := "exec echoService\nminimum-processes 1\nprestart-processes true\n"
	home := newHome(t, map[string]string{"system.echo.0.raw": svc, "system.other.0.raw": svc})
	file := filepath.Join(home, "rendezvous", "plutonManager.controls")
	r := startIn(t, home)
	r.waitFor(ready, 1, 30*time.Second)

	var got controlJSON
	before := time.Now().Add(-time.Second)
	require.Equal(t, http.StatusOK, r.post("/services/system.echo.0.raw/halt", &got))
	assert.True(t, got.Halted)
	require.NotNil(t, got.Control)
	assert.Equal(t, "halt", got.Control.Action)
	assert.Contains(t, got.Control.By, "status API unix:"+r.status)
	assert.WithinRange(t, got.Control.At, before.Truncate(time.Second), time.Now().Add(time.Second))
	require.Equal(t, http.StatusOK, r.post("/services/system.other.0.raw/hold", &got))
	assert.True(t, got.Held)
	b, err := os.ReadFile(file)
	require.NoError(t, err)
	assert.Contains(t, string(b), `"system.echo.0.raw"`)
	assert.Contains(t, string(b), `"action": "halt"`)

	// A reload that replaces the halted service's version keeps it halted.
	cfg := filepath.Join(home, "configuration", "system.echo.0.raw")
	require.NoError(t, os.WriteFile(cfg, []byte(svc+"idle-timeout 61\n"), 0o644))
	require.NoError(t, os.Chtimes(cfg, time.Now().Add(time.Second), time.Now().Add(time.Second)))
	require.NoError(t, r.cmd.Process.Signal(syscall.SIGINT)) // reload everything
	r.waitFor(`Service Control: system\.echo\.0\.raw halted \(kept from .* by status API unix:`, 1, 20*time.Second)
	assert.True(t, r.control("system.echo.0.raw").Halted)
	assert.True(t, r.control("system.other.0.raw").Held)

	// A manager restart keeps both, with their records.
	r.stop()
	r2 := startIn(t, home)
	r2.waitFor(ready, 1, 30*time.Second)
	echo := r2.control("system.echo.0.raw")
	assert.True(t, echo.Halted)
	require.NotNil(t, echo.Control)
	assert.Equal(t, "halt", echo.Control.Action)
	assert.Contains(t, echo.Control.By, "status API unix:")
	assert.True(t, r2.control("system.other.0.raw").Held)
	r2.waitFor(`Service Control: system\.echo\.0\.raw halted \(kept from `, 1, 5*time.Second)
	c, err := client.New("controls", client.WithLookup(filepath.Join(home, "lookup.map")))
	require.NoError(t, err)
	_, err = c.Call(context.Background(), "system.echo.0.raw", []byte("x"))
	var f *fault.Fault
	require.ErrorAs(t, err, &f)
	assert.Equal(t, fault.ServiceUnavailable, f.Code, err.Error())

	// RESUME lifts the hold and forgets it.
	got = controlJSON{}
	require.Equal(t, http.StatusOK, r2.post("/services/system.other.0.raw/resume", &got))
	assert.False(t, got.Held)
	assert.Nil(t, got.Control)
	b, err = os.ReadFile(file)
	require.NoError(t, err)
	assert.NotContains(t, string(b), "system.other.0.raw")

	// --clear-halt with the manager running: the file is cleared and the
	// manager, told to reload, resumes the service.
	out, code := clearHaltCmd(t, home, "system.echo.0.raw")
	require.Equal(t, 0, code, out)
	assert.Contains(t, out, "system.echo.0.raw: halt of ")
	assert.Contains(t, out, "told to reload (SIGHUP)")
	r2.waitFor(`Service Control: system\.echo\.0\.raw resumed \(its halt was cleared from plutonManager\.controls\)`, 1, 10*time.Second)
	assert.False(t, r2.control("system.echo.0.raw").Halted)
	got2, err := c.Call(context.Background(), "system.echo.0.raw", []byte("back"))
	require.NoError(t, err)
	assert.Equal(t, "back", string(got2.Data))
	_, err = os.Stat(file)
	assert.True(t, os.IsNotExist(err), "no control left, no file")

	// A key with nothing to clear is an error naming it.
	out, code = clearHaltCmd(t, home, "system.echo.0.raw")
	assert.Equal(t, 1, code)
	assert.Contains(t, out, "system.echo.0.raw is neither held nor halted")

	// --clear-halt with no manager running.
	require.Equal(t, http.StatusOK, r2.post("/services/system.echo.0.raw/halt", nil))
	r2.stop()
	out, code = clearHaltCmd(t, home, "system.echo.0.raw")
	require.Equal(t, 0, code, out)
	assert.Contains(t, out, "no manager is running")
	r3 := startIn(t, home)
	r3.waitFor(ready, 1, 30*time.Second)
	assert.False(t, r3.control("system.echo.0.raw").Halted)
	assert.Empty(t, r3.grep(`Service Control:`))
}

// TestControlsFileDamaged: a controls file that does not parse is a
// warning naming it; the manager starts with no control restored.
func TestControlsFileDamaged(t *testing.T) {
	home := newHome(t, map[string]string{"system.echo.0.raw": "exec echoService\n"})
	require.NoError(t, os.MkdirAll(filepath.Join(home, "rendezvous"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(home, "rendezvous", "plutonManager.controls"), []byte("{not json"), 0o644))
	r := startIn(t, home)
	r.waitFor(ready, 1, 30*time.Second)
	w := r.waitFor(`Warning: controls file .*plutonManager\.controls: .*no hold or halt restored`, 1, 5*time.Second)
	assert.Len(t, w, 1)
	assert.False(t, r.control("system.echo.0.raw").Halted)
	assert.True(t, strings.HasSuffix(r.control("system.echo.0.raw").Key, "echo.0.raw"))
}
