package main

import (
	"bytes"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/pluton-go/pluton/go/client/clienttest"
	"github.com/pluton-go/pluton/go/protocol"
)

func pingCmd(args ...string) (out, errOut string, code int) {
	var o, e bytes.Buffer
	var stop atomic.Bool
	code = run(args, &stop, &o, &e)
	return o.String(), e.String(), code
}

func TestPlPing(t *testing.T) {
	dir := clienttest.Dir(t)
	echo := clienttest.Start(t, dir, "system.echo.0.raw", "echo", nil)
	var lastCtx atomic.Value
	clienttest.Start(t, dir, "test.ctx.0.raw", "ctx", func(req *protocol.Request) []byte {
		m, _ := protocol.ContextMap(req.Context)
		lastCtx.Store(m)
		return echo.Echo(req)
	})
	clienttest.Start(t, dir, "test.short.0.raw", "short", func(req *protocol.Request) []byte {
		return echo.Response(req, req.Data[1:])
	})
	clienttest.Start(t, dir, "test.corrupt.0.raw", "corrupt", func(req *protocol.Request) []byte {
		return echo.Response(req, bytes.ToLower(req.Data))
	})
	clienttest.Start(t, dir, "test.fault.0.raw", "fault", func(req *protocol.Request) []byte {
		return echo.Fault(req, 111, "sleep time negative")
	})
	clienttest.Start(t, dir, "test.slow.0.raw", "slow", func(req *protocol.Request) []byte {
		time.Sleep(500 * time.Millisecond)
		return echo.Echo(req)
	})

	out, errOut, code := pingCmd("-L", dir, "-c", "20", "-p", "4", "-i", "0", "-s", "50")
	assert.Equal(t, exitOK, code, errOut)
	assert.Regexp(t, `^plPings: 80 Read=4000 Write=4000 Min: \d\.\d{6} Max: \d\.\d{6} Avg: \d\.\d{6} P50: \d\.\d{6} P99: \d\.\d{6} Elapse: \d+\.\d{6}\n$`, out)

	out, _, code = pingCmd("-L", dir, "-c", "2", "-i", "0.01", "-s", "5", "-p", "2")
	assert.Equal(t, exitOK, code)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	assert.Len(t, lines, 5)
	assert.Regexp(t, regexp.MustCompile(`^5 bytes: seq=4/[01] time=\d\.\d{6}$`), lines[3])

	_, errOut, code = pingCmd("-L", dir, "-c", "1", "-C", "echo.sleepMS=7", "-k", "test.ctx.0.raw")
	assert.Equal(t, exitOK, code, errOut)
	assert.Equal(t, map[string]string{"echo.sleepMS": "7", "echo.die": ""}, lastCtx.Load())
	// -C takes the original's bare value; only echo.sleepMS=<digits> is read as <digits>.
	for _, tt := range []struct{ arg, want string }{
		{"40", "40"},
		{"0", "0"},
		{"abc", "abc"},
		{"x=1", "x=1"},
		{"echo.sleepMS=12", "12"},
		{"echo.sleepMS=", "echo.sleepMS="},
		{"echo.sleepMS=-5", "echo.sleepMS=-5"},
		{"echo.sleepMS=1x", "echo.sleepMS=1x"},
		{"echo.sleepms=3", "echo.sleepms=3"},
	} {
		_, errOut, code = pingCmd("-L", dir, "-c", "1", "-C", tt.arg, "test.ctx.0.raw")
		assert.Equal(t, exitOK, code, errOut)
		assert.Equal(t, map[string]string{"echo.sleepMS": tt.want}, lastCtx.Load(), "-C %q", tt.arg)
	}

	// Affinity: -K needs -o; with it, one connection serves every round.
	before := echo.Requests()
	_, errOut, code = pingCmd("-L", dir, "-c", "5", "-i", "0", "-KoN")
	assert.Equal(t, exitOK, code, errOut)
	assert.EqualValues(t, 5, echo.Requests()-before)
	_, errOut, code = pingCmd("-L", dir, "-c", "1", "-K")
	assert.Equal(t, exitAddRequest, code)
	assert.Contains(t, errOut, "pluton::Fault=-11")

	_, _, code = pingCmd("-L", dir, "-c", "3", "-i", "0", "-w", "-s", "10")
	assert.Equal(t, exitOK, code, "noWait replies are empty by design")

	tests := []struct {
		name string
		args []string
		code int
		err  string
	}{
		{"length", []string{"-c", "1", "-s", "10", "test.short.0.raw"}, exitLength, "Error: Length changed: sent 10, received 9\n"},
		{"corrupt", []string{"-c", "1", "-s", "10", "test.corrupt.0.raw"}, exitCorrupt, "Error: Payload corrupted\n"},
		{"noCheck", []string{"-c", "1", "-s", "10", "-n", "test.corrupt.0.raw"}, exitOK, ""},
		{"fault", []string{"-c", "1", "test.fault.0.raw"}, exitFault, "Fault: 111 sleep time negative\n"},
		{"faultParallel", []string{"-c", "1", "-p", "2", "test.fault.0.raw"}, exitFaultAny, "Fault: 111 sleep time negative\n"},
		{"timeout", []string{"-c", "1", "-t", "0.1", "test.slow.0.raw"}, exitTimeout, "Request timed out\n"},
		{"notFound", []string{"-c", "1", "no.such.0.raw"}, exitAddRequest, "Error: plPing addRequest: pluton::Fault=-30"},
		{"badCount", []string{"-c", "0"}, exitBadCount, "Error: Count"},
		{"badInterval", []string{"-i", "x"}, exitBadInterval, "Error: Interval"},
		{"badParallel", []string{"-p", "-1"}, exitBadParallel, "Error: Parallel"},
		{"badSize", []string{"-s", "x"}, exitBadSize, "Error: Size"},
		{"badTimeout", []string{"-t", "0"}, exitBadTimeout, "Error: Timeout"},
		{"badOption", []string{"-z"}, exitBadOption, "plPing: invalid option -- 'z'"},
		{"tooMany", []string{"a", "b"}, exitTooManyArgs, "Error: Too many command line arguments\n"},
		{"badKey", []string{"-c", "1", "no.such.raw"}, exitAddRequest, "Error: plPing addRequest: pluton::Fault=-31"},
		{"badOptionAfterGood", []string{"-nz"}, exitBadOption, "plPing: invalid option -- 'z'\n\nUsage: plPing"},
		{"missingArgument", []string{"-c"}, exitBadOption, "plPing: option requires an argument -- 'c'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, errOut, code := pingCmd(append([]string{"-L", dir}, tt.args...)...)
			assert.Equal(t, tt.code, code, errOut)
			assert.True(t, strings.HasPrefix(errOut, tt.err), "stderr %q", errOut)
		})
	}
	_, errOut, code = pingCmd("-L", dir+"/missing", "-c", "1")
	assert.Equal(t, exitInitialize, code)
	assert.True(t, strings.HasPrefix(errOut, "Error: plPing initialize: pluton::Fault=-33"), errOut)

	out, errOut, code = pingCmd("-h")
	assert.Equal(t, exitOK, code)
	assert.True(t, strings.HasPrefix(out, "Usage: plPing"), "usage goes to stdout")
	assert.Empty(t, errOut)
}

func TestPlPingInterrupted(t *testing.T) {
	dir := clienttest.Dir(t)
	clienttest.Start(t, dir, "system.echo.0.raw", "echo", nil)
	var o, e bytes.Buffer
	var stop atomic.Bool
	time.AfterFunc(100*time.Millisecond, func() { stop.Store(true) })
	code := run([]string{"-L", dir, "-i", "0.01"}, &stop, &o, &e)
	assert.Equal(t, exitOK, code, "an endless ping ends cleanly on ^C")
	assert.Contains(t, o.String(), "plPings: ")
}
