package modgraph

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pluton-go/pluton/go/testbin"
)

// TestClientImporterModuleGraph builds a scratch module that imports only
// go/client (with a replace to this tree) and checks that go list -m all
// shows no plotting or FastCGI module.
func TestClientImporterModuleGraph(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the go command")
	}
	root := testbin.RepoRoot(t)
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Skip("not in the module tree")
	}
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module example.com/scratch\n\ngo 1.26.0\n\n"+
		"require github.com/pluton-go/pluton v0.0.0\n\nreplace github.com/pluton-go/pluton => "+root+"\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "main.go"), []byte("package main\n\n"+
		"import \"github.com/pluton-go/pluton/go/client\"\n\nfunc main() { _, _ = client.New(\"scratch\") }\n"), 0o644))
	// The module cache first (GOPROXY=off, and GOSUMDB=off: what is in the
	// cache was verified when it was downloaded, and a fresh machine has no
	// checksum database tiles cached); the module proxy when the cache lacks
	// a go.mod of the graph (a dependency added since the last download).
	run := func(args ...string) string {
		var out []byte
		var err error
		for _, proxy := range [][]string{{"GOPROXY=off", "GOSUMDB=off"}, nil} {
			cmd := exec.Command("go", args...)
			cmd.Dir = dir
			cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOWORK=off")
			cmd.Env = append(cmd.Env, proxy...)
			if out, err = cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "GOPROXY=off") {
				break
			}
		}
		require.NoError(t, err, "go %s: %s", strings.Join(args, " "), out)
		return string(out)
	}
	run("mod", "tidy")
	mods := run("list", "-m", "all")
	require.Contains(t, mods, "github.com/pluton-go/pluton v0.0.0 =>")
	for _, unwanted := range []string{"gonum.org/v1/plot", "github.com/yookoala/gofast", "codeberg.org/go-pdf", "golang.org/x/image"} {
		assert.NotContains(t, mods, unwanted, "a go/client importer pulls in %s:\n%s", unwanted, mods)
	}
	b, err := os.ReadFile(filepath.Join(root, "go.mod"))
	require.NoError(t, err)
	assert.NotContains(t, string(b), "gonum.org/v1/plot", "the library's go.mod")
	assert.NotContains(t, string(b), "github.com/yookoala/gofast", "the library's go.mod")
}
