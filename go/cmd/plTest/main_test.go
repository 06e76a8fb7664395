package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pluton-go/pluton/go/testbin"
)

// plTest runs the built command with stdin and arguments.
func plTest(t *testing.T, stdin string, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, testbin.Path(t, "plTest"), args...)
	cmd.Stdin = strings.NewReader(stdin)
	cmd.Env = append(os.Environ(), env...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	require.NoError(t, ctx.Err(), "plTest must not hang")
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else {
		require.NoError(t, err)
	}
	return o.String(), e.String(), code
}

func TestPlTest(t *testing.T) {
	echo := testbin.Path(t, "echoService")
	// A service written in sh: reads the request, then does what it says.
	sh := func(script string) []string { return []string{"sh", "-c", "cat <&3 >/dev/null; " + script} }
	tests := []struct {
		name   string
		stdin  string
		args   []string
		stdout string
		stderr string // a line the stderr must contain ("" = must be empty)
		code   int
	}{
		{name: "echo", stdin: "Hello", args: []string{"-K", "system.echo.0.raw", echo}, stdout: "Hello"},
		{name: "fault", stdin: "Hello", args: []string{"-K", "system.echo.0.raw", "-C", "echo.sleepMS=-1", echo},
			stderr: "plTest: Fault 111:sleep time negative\n", code: 1},
		{name: "newline", stdin: "Hi", args: []string{"-n", "--", echo}, stdout: "Hi\n"},
		{name: "clusteredFlags", stdin: "Hi", args: []string{"-en", echo}, stdout: "Hi\n", stderr: "Child exit status = 0\n"},
		{name: "attachedValue", stdin: "Hi", args: []string{"-Cecho.sleepMS=-5", echo}, stderr: "plTest: Fault 111:", code: 1},
		{name: "emptyRequest", args: []string{echo}, stdout: ""},
		{name: "rawPacket", stdin: "Hello", args: []string{"-K", "system.echo.0.raw"},
			stdout: "0Q,1b0,17csystem.echo.0.raw,1l0,5kHello,0z\n"},
		{name: "rawPacketDefaults", stdout: "0Q,1b0,20cplTest.service.0.raw,1l0,0z\n"},
		{name: "rawPacketContext", args: []string{"-C", "a=1", "-C", "b=x=y"},
			stdout: "0Q,1b0,20cplTest.service.0.raw,1l0,18j1ka,1v1,1kb,3vx=y,,0z\n"},
		{name: "contextWithoutEquals", args: []string{"-C", "foo", echo},
			stderr: "Usage Error: Context string needs an '=' character\n", code: 1},
		{name: "reservedContext", args: []string{"-C", "pluton.x=1", echo}, stderr: "-23:", code: 1},
		{name: "badKey", args: []string{"-K", "bad.key", echo},
			stderr: `plTest ServiceKey Error: bad service key "bad.key": need four dot-separated tokens`, code: 1},
		{name: "badOption", args: []string{"-x"}, stderr: "plTest: invalid option -- 'x'\n", code: 1},
		{name: "missingValue", args: []string{"-K"}, stderr: "option requires an argument -- 'K'", code: 1},
		{name: "serviceArgsAreNotOptions", stdin: "Hi", args: []string{"sh", "-c", `cat <&3 >/dev/null; printf '0A,1b0,2q-n,0z\n' >&4`},
			stdout: "-n"},
		{name: "serviceExit", args: sh("exit 3"), stderr: "Warning: plTest Service exit(3)\n"},
		{name: "serviceKilled", args: sh("kill -9 $$"), stderr: "Warning: plTest Service killed(9)\n"},
		{name: "exitDetails", args: append([]string{"-e"}, sh("exit 5")...),
			stderr: "Child exit status = 5\nWarning: plTest Service exit(5)\n"},
		{name: "decodeFailed", args: sh(`printf '0G,0z\n' >&4`),
			stderr: "plTest: Packet decode failed: Unexpected netString type. Wanted: responsePT, but got: 'G' (?unknownPT?)\n", code: 1},
		{name: "parseError", args: sh(`printf 'xx' >&4`),
			stderr: "plTest: Packet parse error: leading netString character not a digit\n", code: 1},
		{name: "truncatedResponse", args: sh(`printf '0A,3b1' >&4`), stderr: "plTest: End of File on response socket\n", code: 1},
		{name: "noSuchService", args: []string{"./no-such-service"}, stderr: "plTest: execvp() failed", code: 1},
		{name: "prematureExit", stdin: strings.Repeat("x", 4<<20), args: []string{"sh", "-c", "exit 0"},
			stderr: "Child has exited prematurely\n", code: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stdout, stderr, code := plTest(t, tt.stdin, nil, tt.args...)
			assert.Equal(t, tt.code, code, stderr)
			assert.Equal(t, tt.stdout, stdout)
			if tt.stderr == "" {
				assert.Empty(t, stderr)
			} else {
				assert.Contains(t, stderr, tt.stderr)
			}
		})
	}
}

func TestPlTestFilesAndPath(t *testing.T) {
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in"), filepath.Join(dir, "out")
	require.NoError(t, os.WriteFile(in, []byte("from file"), 0o644))
	bin := testbin.Dir(t)

	// -i and -o, and the service found through PATH as execvp would.
	stdout, stderr, code := plTest(t, "ignored", []string{"PATH=" + bin + ":" + os.Getenv("PATH")},
		"-i", in, "-o", out, "echoService")
	require.Equal(t, 0, code, stderr)
	assert.Empty(t, stdout)
	b, err := os.ReadFile(out)
	require.NoError(t, err)
	assert.Equal(t, "from file", string(b))

	// A relative path works from the service's directory.
	cmd := exec.Command(filepath.Join(bin, "plTest"), "./echoService")
	cmd.Dir = bin
	cmd.Stdin = strings.NewReader("rel")
	got, err := cmd.Output()
	require.NoError(t, err)
	assert.Equal(t, "rel", string(got))

	_, stderr, code = plTest(t, "", nil, "-i", filepath.Join(dir, "missing"))
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "Error: Could not open '"+filepath.Join(dir, "missing")+"' for input")

	stdout, _, code = plTest(t, "", nil, "-h")
	assert.Equal(t, 0, code)
	assert.True(t, strings.HasPrefix(stdout, "Usage: plTest [-hen]"), "usage to stdout")
}
