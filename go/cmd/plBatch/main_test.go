package main

import (
	"bytes"
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
	assert.Contains(t, out, "\nErrors: 0\n")
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

	for _, tt := range []struct {
		args []string
		err  string
	}{
		{[]string{"system.echo.0.raw"}, "Error: Give exactly one of -n requests and -d duration\n"},
		{[]string{"-n", "1", "-d", "1s", "system.echo.0.raw"}, "Error: Give exactly one of -n requests and -d duration\n"},
		{[]string{"-n", "0", "system.echo.0.raw"}, "Error: Requests (-n) must be a positive integer, not \"0\"\n"},
		{[]string{"-d", "soon", "system.echo.0.raw"}, "Error: Duration (-d) must be positive, e.g. 10s, not \"soon\"\n"},
		{[]string{"-n", "1"}, "Error: Must supply ServiceKey on the command line\n"},
		{[]string{"-n", "1", "a", "b"}, "Error: Too many command line arguments\n"},
		{[]string{"-n", "1", "-p", "0", "system.echo.0.raw"}, "Error: Parallel (-p) must be a positive integer, not \"0\"\n"},
		{[]string{"-n", "1", "-t", "-1", "system.echo.0.raw"}, "Error: Timeout (-t) must be a positive number of seconds, not \"-1\"\n"},
		{[]string{"-n", "1", "-C", "x", "system.echo.0.raw"}, "Usage Error: Context string needs an '=' character\n"},
		{[]string{"-y"}, "plBatch: invalid option -- 'y'\n\n" + usage},
		{[]string{"-n"}, "plBatch: option requires an argument -- 'n'\n\n" + usage},
	} {
		out, errOut, code := batch(tt.args...)
		assert.Equal(t, exitUsage, code, "%q", tt.args)
		assert.Equal(t, tt.err, errOut, "%q", tt.args)
		assert.Empty(t, out)
	}
	out, errOut, code = batch("-h")
	assert.Equal(t, exitOK, code)
	assert.Equal(t, usage, out)
	assert.Empty(t, errOut)
}
