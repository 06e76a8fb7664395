package main

import (
	"net/http"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pluton-go/pluton/go/manager/logging"
	"github.com/pluton-go/pluton/go/manager/manager"
	"github.com/pluton-go/pluton/go/testbin"
)

func TestChangeLogging(t *testing.T) {
	for _, tc := range []struct {
		log, debug  []string
		want, wantD string
		err         string
	}{
		{log: []string{"+processStart"}, want: "processStart serviceExit", wantD: "calibrate"},
		{log: []string{"processStart,-serviceExit"}, want: "processStart", wantD: "calibrate"},
		{log: []string{"none", "+service"}, want: "serviceConfig serviceStart serviceExit", wantD: "calibrate"},
		{log: []string{"-all"}, want: "", wantD: "calibrate"},
		{debug: []string{"+child,+MANAGER"}, want: "serviceExit", wantD: "child manager calibrate"},
		{debug: []string{"none"}, want: "serviceExit", wantD: ""},
		{log: []string{"+bogus"}, err: `unknown logging flag "bogus" (want one of processStart`},
		{debug: []string{"-nope"}, err: `unknown debug flag "nope" (want one of child`},
	} {
		c, d, err := manager.ChangeLogging(logCats(t, "serviceExit"), debugFlags(t, "calibrate"), tc.log, tc.debug)
		if tc.err != "" {
			assert.ErrorContains(t, err, tc.err)
			continue
		}
		require.NoError(t, err)
		assert.Equal(t, tc.want, c.String(), tc.log)
		assert.Equal(t, tc.wantD, d.String(), tc.debug)
	}
}

// plm runs plutonManager with args and returns stdout, stderr, exit code.
func plm(t *testing.T, args ...string) (string, string, int) {
	cmd := exec.Command(testbin.Path(t, "plutonManager"), args...)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else {
		require.NoError(t, err)
	}
	return out.String(), errb.String(), code
}

// TestLoggingAtRunTime: log categories and debug flags switched on a
// running manager with plutonManager --log/--debug over its status API take
// effect at once and are logged; bad names and a missing -c are errors.
func TestLoggingAtRunTime(t *testing.T) {
	home := newHome(t, map[string]string{"system.echo.0.raw": "exec echoService\n"})
	r := startIn(t, home)
	r.waitFor(ready, 1, 30*time.Second)
	var st struct {
		Categories      []string `json:"categories"`
		Debug           []string `json:"debug"`
		KnownCategories []string `json:"knownCategories"`
	}
	r.get("/logging", &st)
	assert.Empty(t, st.Categories)
	assert.Empty(t, st.Debug)
	assert.Contains(t, st.KnownCategories, "serviceConfig")

	// Off: a reload writes no Config Scan line, no debug trace.
	require.NoError(t, r.cmd.Process.Signal(syscall.SIGHUP))
	r.waitFor(`Manager Signal: Configuration Reload$`, 1, 10*time.Second)
	assert.Empty(t, r.grep(`Config Scan Start`))

	out, errOut, code := plm(t, "-c", r.status, "--log", "+serviceConfig", "--debug", "manager")
	require.Equal(t, 0, code, errOut)
	assert.Equal(t, "log categories: serviceConfig\ndebug flags: manager\n", out)
	r.waitFor(`Manager Logging: categories=serviceConfig debug=manager \(was categories=none debug=none; by status API unix:`+
		regexp.QuoteMeta(r.status)+`\)`, 1, 5*time.Second)
	require.NoError(t, r.cmd.Process.Signal(syscall.SIGHUP))
	r.waitFor(`Config Scan Start: `, 1, 10*time.Second)
	require.Eventually(t, func() bool { return strings.Contains(r.stderr(), "manager: signal") }, 10*time.Second, 20*time.Millisecond,
		"the manager debug trace is on: %s", r.stderr())

	out, errOut, code = plm(t, "-c", r.status, "--log=none", "--debug=-manager")
	require.Equal(t, 0, code, errOut)
	assert.Equal(t, "log categories: none\ndebug flags: none\n", out)
	r.waitFor(`Manager Logging: categories=none debug=none \(was categories=serviceConfig debug=manager;`, 1, 5*time.Second)
	require.NoError(t, r.cmd.Process.Signal(syscall.SIGHUP))
	r.waitFor(`Manager Signal: Configuration Reload$`, 3, 10*time.Second)
	time.Sleep(200 * time.Millisecond)
	assert.Len(t, r.grep(`Config Scan Start`), 1, "off again")

	_, errOut, code = plm(t, "-c", r.status, "--log", "+bogus")
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, `unknown logging flag "bogus"`)
	_, errOut, code = plm(t, "--log", "+calibrate")
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "give -c <status address>")
	assert.Len(t, r.grep(`Manager Logging:`), 2, "a refused change changes and logs nothing")
}

// TestLoggingCrossSite: on a TCP status address POST /logging obeys the
// cross-site rule of the other controls; the command passes it.
func TestLoggingCrossSite(t *testing.T) {
	home := newHome(t, map[string]string{"system.echo.0.raw": "exec echoService\n"})
	r := startIn(t, home, "-c", "127.0.0.1:0")
	line := r.waitFor(`Manager Status: listening on tcp 127\.0\.0\.1:\d+`, 1, 30*time.Second)[0]
	addr := regexp.MustCompile(`127\.0\.0\.1:\d+`).FindString(line)
	resp, err := http.Post("http://"+addr+"/logging", "text/plain", strings.NewReader(`{"log":["+all"]}`))
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusForbidden, resp.StatusCode)
	resp, err = http.Post("http://"+addr+"/logging", "application/json", strings.NewReader(`{"log":`))
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
	assert.Empty(t, r.grep(`Manager Logging:`))

	out, errOut, code := plm(t, "-c", addr, "--log", "+calibrate")
	require.Equal(t, 0, code, errOut)
	assert.Equal(t, "log categories: calibrate\ndebug flags: none\n", out)
	r.waitFor(`Manager Logging: categories=calibrate .* by status API 127\.0\.0\.1:\d+\)`, 1, 5*time.Second)
}

func logCats(t *testing.T, names ...string) logging.Category {
	var c logging.Category
	for _, n := range names {
		x, err := logging.ParseCategory(n)
		require.NoError(t, err)
		c |= x
	}
	return c
}

func debugFlags(t *testing.T, names ...string) logging.DebugFlag {
	var f logging.DebugFlag
	for _, n := range names {
		x, err := logging.ParseDebugFlag(n)
		require.NoError(t, err)
		f |= x
	}
	return f
}
