package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pluton-go/pluton/go/testbin"
)

// The test helpers under each ulimit of a service config (issue 15 item 7):
// each dies of the expected signal or fails the expected call. The limits
// are set with prlimit(1), as the manager's exec wrapper sets them, and the
// helpers run in stand-alone mode (a request on fd 3, responses on fd 4).

// limited is the outcome of one run under limits.
type limited struct {
	stderr string
	code   int            // exit status, -1 when killed by a signal
	signal syscall.Signal // the signal that ended it, if any
	wall   time.Duration
}

func runLimited(t *testing.T, limits []string, path string, args ...string) limited {
	t.Helper()
	prlimit, err := exec.LookPath("prlimit")
	if err != nil {
		t.Skip("prlimit (util-linux) is not installed")
	}
	dir := t.TempDir()
	req := filepath.Join(dir, "req")
	require.NoError(t, os.WriteFile(req, []byte("0Q,1b1,17csystem.echo.0.raw,1l0,5kHello,0z\n"), 0o644))
	in, err := os.Open(req)
	require.NoError(t, err)
	defer in.Close()
	out, err := os.Create(filepath.Join(dir, "resp"))
	require.NoError(t, err)
	defer out.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, prlimit, append(append(append([]string{"--core=0"}, limits...), "--", path), args...)...)
	cmd.ExtraFiles = []*os.File{in, out}
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	start := time.Now()
	err = cmd.Run()
	r := limited{stderr: stderr.String(), wall: time.Since(start)}
	require.NoError(t, ctx.Err(), "the helper must end under its limit: %s", r.stderr)
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		r.code = ee.ExitCode()
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			r.signal = ws.Signal()
		}
	} else {
		require.NoError(t, err)
	}
	return r
}

func TestCPULoopDiesOfSIGXCPU(t *testing.T) {
	r := runLimited(t, []string{"--cpu=1:3"}, testbin.Path(t, "testCPULoop"))
	assert.Equal(t, syscall.SIGXCPU, r.signal, "code %d, stderr %q", r.code, r.stderr)
	assert.Contains(t, r.stderr, "testCPULoop: looping on request 1")
	assert.Less(t, r.wall, 30*time.Second)
}

func TestFileLoopOpenFilesEMFILE(t *testing.T) {
	r := runLimited(t, []string{"--nofile=16:17"}, testbin.Path(t, "testFileLoop"))
	assert.Equal(t, 1, r.code, r.stderr)
	m := regexp.MustCompile(`testFileLoop: opened (\d+) files: open /dev/null: too many open files \(EMFILE\)`).FindStringSubmatch(r.stderr)
	require.NotNil(t, m, r.stderr)
	n, _ := strconv.Atoi(m[1])
	assert.Less(t, n, 16)
}

func TestFileLoopFileSizeEFBIG(t *testing.T) {
	r := runLimited(t, []string{"--fsize=65536", "--nofile=64:64"}, testbin.Path(t, "testFileLoop"), "-write", "big")
	assert.Equal(t, 1, r.code, r.stderr)
	assert.Zero(t, r.signal, "SIGXFSZ does not end a Go program: the write fails")
	assert.Regexp(t, `testFileLoop: wrote 65536 bytes to big: write big: file too large \(EFBIG\)`, r.stderr)
}

func TestMallocLoopGoRuntimeOutOfMemory(t *testing.T) {
	r := runLimited(t, []string{"--data=" + strconv.Itoa(96<<20)}, testbin.Path(t, "testMallocLoop"))
	assert.Equal(t, 2, r.code, r.stderr)
	// The runtime words it "runtime: out of memory" or "out of memory
	// allocating heap arena metadata", depending on which allocation failed.
	assert.Regexp(t, `fatal error: [^\n]*(out of memory|cannot allocate memory)`, r.stderr)
	assert.NotRegexp(t, `testMallocLoop: (9[6-9]|\d{3,}) MB`, r.stderr, "nothing allocated beyond the limit")
}

// TestMallocLoopOneMegabyte: under the original's 1 MB data limit the Go
// runtime cannot start, so the C helper runs instead; its malloc fails.
func TestMallocLoopOneMegabyte(t *testing.T) {
	cc, err := exec.LookPath("cc")
	if err != nil {
		t.Skip("no C compiler (cc)")
	}
	bin := filepath.Join(t.TempDir(), "mallocLoop")
	out, err := exec.Command(cc, "-O2", "-o", bin, filepath.Join("testdata", "mallocLoop.c")).CombinedOutput()
	require.NoError(t, err, string(out))
	r := runLimited(t, []string{"--data=" + strconv.Itoa(1<<20)}, bin)
	assert.Equal(t, 1, r.code, r.stderr)
	assert.Contains(t, r.stderr, "testMallocLoop: malloc failed after 0 MB: Cannot allocate memory")

	// The Go helper does not start under that limit: the runtime aborts
	// before main, which is why the C helper exists.
	g := runLimited(t, []string{"--data=" + strconv.Itoa(1<<20)}, testbin.Path(t, "testMallocLoop"))
	assert.NotEqual(t, 0, g.code)
	assert.Contains(t, g.stderr, "out of memory")
	assert.NotContains(t, g.stderr, "testMallocLoop:")
}
