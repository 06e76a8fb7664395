package quickstart

import (
	"bufio"
	"context"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pluton-go/pluton/go/testbin"
)

// block is one fenced block of the page.
type block struct {
	lang string // "sh", "text", "console", ...
	text string
	line int // of the opening fence
}

// blocks returns the fenced blocks of a Markdown page, in order.
func blocks(t *testing.T, path string) []block {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	var out []block
	var cur *block
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		n++
		line := sc.Text()
		switch {
		case cur == nil && strings.HasPrefix(line, "```"):
			cur = &block{lang: strings.TrimSpace(strings.TrimPrefix(line, "```")), line: n}
		case cur != nil && line == "```":
			out = append(out, *cur)
			cur = nil
		case cur != nil:
			cur.text += line + "\n"
		}
	}
	require.NoError(t, sc.Err())
	require.Nil(t, cur, "unterminated block in %s", path)
	return out
}

// copyTree copies the source tree to dst, without what a fresh clone does
// not have (build outputs, Bazel links, VCS data).
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	skip := map[string]bool{".git": true, "bin": true, "dist": true, "test-results": true, "node_modules": true}
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() && rel != "." && (skip[d.Name()] && filepath.Dir(rel) == "." || strings.HasPrefix(d.Name(), "bazel-")) {
			return filepath.SkipDir
		}
		if strings.HasPrefix(d.Name(), "bazel-") {
			return nil // the Bazel output links
		}
		target := filepath.Join(dst, rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			return os.MkdirAll(target, 0o755)
		case info.Mode()&fs.ModeSymlink != 0:
			link, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return os.Symlink(link, target)
		case info.Mode().IsRegular():
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			return os.WriteFile(target, data, info.Mode().Perm())
		}
		return nil
	})
	require.NoError(t, err)
}

// goEnv returns `go env name`.
func goEnv(t *testing.T, name string) string {
	t.Helper()
	out, err := exec.Command("go", "env", name).Output()
	require.NoError(t, err)
	return strings.TrimSpace(string(out))
}

func TestQuickstartAsWritten(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the commands and four services")
	}
	if os.Getenv("TEST_SRCDIR") != "" {
		t.Skip("needs the whole source tree and make: run by go test, not under Bazel's sandbox")
	}
	for _, tool := range []string{"bash", "go", "python3", "php", "perl", "make"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed (make setup installs it)", tool)
		}
	}
	root := testbin.RepoRoot(t)
	page := filepath.Join(root, "docs", "quickstart.md")
	all := blocks(t, page)

	// The script: every sh block, in order. The prologue and the trap are
	// the test's, not the page's: stop on the first failure, and never
	// leave a manager behind.
	var script strings.Builder
	script.WriteString("set -euo pipefail\numask 022\ntrap 'kill $(jobs -p) 2>/dev/null || true' EXIT\n")
	var expected [][]string // the lines of each text block, in order
	for _, b := range all {
		switch b.lang {
		case "sh":
			script.WriteString("# docs/quickstart.md line " + strconv.Itoa(b.line) + "\n" + b.text)
		case "text":
			var lines []string
			for _, l := range strings.Split(strings.TrimSpace(b.text), "\n") {
				lines = append(lines, strings.TrimSpace(l))
			}
			expected = append(expected, lines)
		}
	}
	require.NotEmpty(t, expected)

	tmp, err := os.MkdirTemp("", "qs") // short: the home's socket paths must fit in 108 bytes
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(tmp) })
	clone := filepath.Join(tmp, "pluton")
	home := filepath.Join(tmp, "home")
	require.NoError(t, os.MkdirAll(home, 0o700))
	copyTree(t, root, clone)

	env := []string{"HOME=" + home, "PATH=" + os.Getenv("PATH"), "LANG=C.UTF-8",
		// Go's caches stay the machine's: the page's go commands then need
		// no network (the module cache holds golang.org/x/sys, verified when
		// it was downloaded; a fresh machine has no checksum database tiles
		// cached, hence GOSUMDB=off with GOPROXY=off).
		"GOCACHE=" + goEnv(t, "GOCACHE"), "GOMODCACHE=" + goEnv(t, "GOMODCACHE"), "GOPATH=" + goEnv(t, "GOPATH"),
		"GOFLAGS=" + goEnv(t, "GOFLAGS"), "GOTOOLCHAIN=local", "GOPROXY=off", "GOSUMDB=off"}
	if v := os.Getenv("PYENV_ROOT"); v != "" {
		env = append(env, "PYENV_ROOT="+v)
	} else if h, err := os.UserHomeDir(); err == nil {
		if _, err := os.Stat(filepath.Join(h, ".pyenv")); err == nil {
			env = append(env, "PYENV_ROOT="+filepath.Join(h, ".pyenv")) // python3 may be a pyenv shim
		}
	}
	if os.Geteuid() == 0 {
		// As root the page's home is /usr/local/var/pluton, shared with
		// the machine: give this run its own.
		env = append(env, "plutonHome="+filepath.Join(home, "pluton-home"))
	}

	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-c", script.String())
	cmd.Dir = clone
	cmd.Env = env
	cmd.WaitDelay = 10 * time.Second
	start := time.Now()
	out, err := cmd.CombinedOutput()
	t.Logf("MEASURED: docs/quickstart.md ran in %s", time.Since(start).Round(time.Millisecond))
	log, _ := os.ReadFile(filepath.Join(home, "pluton-manager.log"))
	require.NoError(t, err, "the page's commands failed:\n%s\nmanager log:\n%s", out, log)
	if testing.Verbose() {
		t.Logf("output:\n%s", out)
	}

	// Every text block's lines appear in the output, in order.
	rest := string(out)
	for _, lines := range expected {
		for _, l := range lines {
			i := strings.Index(rest, l)
			if !assert.GreaterOrEqual(t, i, 0, "%q not in the output (in order):\n%s", l, out) {
				t.Logf("manager log:\n%s", log)
				return
			}
			rest = rest[i+len(l):]
		}
	}

	// Step 7: the client got the manager's fault naming the cause, and the
	// log has the exit line and the traceback's last line.
	assert.Contains(t, string(out), "7:broken.python.1.raw: ")
	assert.Contains(t, string(out), "last stderr line: RuntimeError: cannot open the database")
	assert.Contains(t, string(log), "Child Exit: abnormal broken.python.1.raw/0-")
	assert.Contains(t, string(log), "RuntimeError: cannot open the database")
	assert.Regexp(t, `(?m)^Child Exit: abnormal broken\.python\.1\.raw/0-\d+ exit\(1\) pid=\d+ service=broken\.python\.1\.raw slot=0 status=exit\(1\) uptime=\S+ requests=0$`, string(out))
	assert.Regexp(t, `(?m)^Child Stderr: broken\.python\.1\.raw/0-\d+ RuntimeError: cannot open the database$`, string(out))
}
