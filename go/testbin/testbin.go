// Package testbin gives tests the project's commands (plutonManager,
// echoService, plTest, ...) built from the current tree.
package testbin

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
)

var (
	once   sync.Once
	dir    string
	errMsg string
)

// RepoRoot returns the repository root (the directory holding go.mod).
func RepoRoot(t testing.TB) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("testbin: cannot locate source file")
	}
	root := filepath.Join(filepath.Dir(file), "..", "..")
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		// Under Bazel the sources are not in a module tree; use the working directory.
		wd, _ := os.Getwd()
		return wd
	}
	abs, _ := filepath.Abs(root)
	return abs
}

// Dir returns a directory holding every command of go/cmd. With PLUTON_BIN
// set it returns that directory; otherwise it builds the commands into a
// temporary directory once per test binary.
func Dir(t testing.TB) string {
	t.Helper()
	if d := os.Getenv("PLUTON_BIN"); d != "" {
		return d
	}
	once.Do(func() {
		d, err := os.MkdirTemp("", "pluton-bin-")
		if err != nil {
			errMsg = err.Error()
			return
		}
		cmd := exec.Command("go", "build", "-o", d+string(os.PathSeparator), "./go/cmd/...")
		cmd.Dir = RepoRoot(t)
		if out, err := cmd.CombinedOutput(); err != nil {
			errMsg = "go build ./go/cmd/...: " + err.Error() + "\n" + string(out)
			return
		}
		dir = d
	})
	if errMsg != "" {
		t.Fatal(errMsg)
	}
	return dir
}

// Path returns the path of one command, e.g. Path(t, "echoService").
func Path(t testing.TB, name string) string {
	t.Helper()
	p := filepath.Join(Dir(t), name)
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("testbin: command %s not built: %v", name, err)
	}
	return p
}
