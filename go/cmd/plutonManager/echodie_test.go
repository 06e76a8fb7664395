package main

import (
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pluton-go/pluton/go/testbin"
)

// TestPlPingKillEveryEcho: plPing -k (context echo.die) makes the echo
// service of every SDK exit with status 3 without a response; the caller
// gets fault -20 and the next ping is served by a new instance.
func TestPlPingKillEveryEcho(t *testing.T) {
	root := testbin.RepoRoot(t)
	echoes := map[string]string{"go.echo.0.raw": "exec echoService\n"}
	if py, err := exec.LookPath("python3"); err == nil {
		echoes["py.echo.0.raw"] = "exec " + py + " " + filepath.Join(root, "sdk/python/examples/echo.py") + "\n"
	}
	if php, err := exec.LookPath("php"); err == nil {
		echoes["php.echo.0.raw"] = "exec " + php + " " + filepath.Join(root, "sdk/php/examples/echo.php") + "\n"
	}
	if perl, err := exec.LookPath("perl"); err == nil {
		echoes["perl.echo.0.raw"] = "exec " + perl + " " + filepath.Join(root, "sdk/perl/examples/echo.pl") + "\n"
	}
	for key := range echoes {
		echoes[key] += "exec-failure-backoff 0\n" // the next ping gets a new instance at once
	}
	home := newHome(t, echoes)
	r := startIn(t, home)
	r.waitFor(ready, 1, 30*time.Second)
	lookup := filepath.Join(home, "lookup.map")
	for key := range echoes {
		t.Run(key, func(t *testing.T) {
			out, err := exec.Command(testbin.Path(t, "plPing"), "-i", "0", "-c", "1", "-L", lookup, key).CombinedOutput()
			require.NoError(t, err, "a plain ping: %s", out)
			out, err = exec.Command(testbin.Path(t, "plPing"), "-k", "-i", "0", "-c", "1", "-L", lookup, key).CombinedOutput()
			var ee *exec.ExitError
			require.ErrorAs(t, err, &ee, "plPing -k must fail: %s", out)
			assert.Contains(t, string(out), "-20", "incompleteResponse: %s", out)
			r.waitFor(`Child Exit: abnormal `+regexp.QuoteMeta(key)+`/\S+ .*exit\(3\)`, 1, 10*time.Second)
			r.waitFor(`Child Stderr: `+regexp.QuoteMeta(key)+`/\S+ echo: echo\.die: exiting without a response to request`, 1, 10*time.Second)
			// A new instance serves once the restart throttle after a crash is over.
			require.Eventually(t, func() bool {
				return exec.Command(testbin.Path(t, "plPing"), "-i", "0", "-c", "1", "-L", lookup, key).Run() == nil
			}, 20*time.Second, 200*time.Millisecond, "a new instance serves")
		})
	}
}
