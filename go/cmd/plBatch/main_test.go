package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/pluton-go/pluton/go/client/clienttest"
	"github.com/pluton-go/pluton/go/protocol"
)

func batch(args ...string) (out, errOut string, code int) {
	var o, e bytes.Buffer
	code = run(args, &o, &e, false)
	return o.String(), e.String(), code
}

func TestPlBatch(t *testing.T) {
	dir := clienttest.Dir(t)
	echo := clienttest.Start(t, dir, "system.echo.0.raw", "echo", nil)
	clienttest.Start(t, dir, "test.mixed.0.raw", "mixed", func(req *protocol.Request) []byte {
		switch req.ID % 3 {
		case 0:
			return echo.Fault(req, 111, "sleep time negative")
		case 1:
			return echo.Response(req, []byte("not an echo"))
		}
		return echo.Echo(req)
	})

	out, errOut, code := batch("-L", dir, "-n", "300", "-p", "4", "-s", "100", "system.echo.0.raw")
	assert.Equal(t, exitOK, code, errOut)
	assert.Contains(t, out, "plBatch: system.echo.0.raw requests=300 parallel=4 size=100 elapsed=")
	assert.Regexp(t, `(?m)^Throughput: \d+\.\d req/s \d+\.\d\d MB/s$`, out)
	assert.Regexp(t, `(?m)^Latency: min=\d\.\d{6} p50=\d\.\d{6} p90=\d\.\d{6} p99=\d\.\d{6} max=\d\.\d{6} avg=\d\.\d{6}$`, out)
	assert.Contains(t, out, "\nErrors: 0\n")
	assert.EqualValues(t, 300, echo.Requests())

	start := time.Now()
	out, _, code = batch("-L", dir, "-d", "0.3", "-p", "2", "-C", "a=b", "system.echo.0.raw")
	assert.Equal(t, exitOK, code)
	assert.GreaterOrEqual(t, time.Since(start), 300*time.Millisecond)
	assert.Less(t, time.Since(start), 3*time.Second)

	out, _, code = batch("-L", dir, "-n", "30", "-p", "3", "test.mixed.0.raw")
	assert.Equal(t, exitErrors, code)
	assert.Contains(t, out, "\nErrors: 20\n")
	assert.Contains(t, out, "\n  111 service fault: 10\n")
	assert.Contains(t, out, "\n  reply does not echo the request: 10\n")

	out, _, code = batch("-L", dir, "-n", "10", "no.such.0.raw")
	assert.Equal(t, exitErrors, code)
	assert.Contains(t, out, "\n  -30 serviceNotFound: 10\n")

	out, _, code = batch("-L", dir, "-n", "10", "-E", "-w", "test.mixed.0.raw")
	assert.Equal(t, exitOK, code, out)

	for _, args := range [][]string{
		{"system.echo.0.raw"},
		{"-n", "1", "-d", "1s", "system.echo.0.raw"},
		{"-n", "0", "system.echo.0.raw"},
		{"-n", "1"},
		{"-n", "1", "a", "b"},
		{"-n", "1", "-p", "0", "system.echo.0.raw"},
		{"-n", "1", "-C", "x", "system.echo.0.raw"},
		{"-y"},
	} {
		_, errOut, code := batch(args...)
		assert.Equal(t, exitUsage, code, "%q", args)
		assert.NotEmpty(t, errOut)
	}
	out, _, code = batch("-h")
	assert.Equal(t, exitOK, code)
	assert.True(t, strings.HasPrefix(out, "Usage: plBatch"))
}
