package cli_test

import (
	"bytes"
	"errors"
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pluton-go/pluton/go/testbin"
)

// TestCommandsHelpAndBadOption runs every command built on this package
// with -h, --help and a bad option, and checks that they behave alike: the
// usage on stdout and exit 0 for help; the error and the usage on stderr,
// nothing on stdout, and the command's usage status for a bad option.
func TestCommandsHelpAndBadOption(t *testing.T) {
	tests := []struct {
		name      string
		usageExit int
	}{
		{"plSend", 1},
		{"plPing", 9},
		{"plBatch", 2},
		{"plLookup", 1},
		{"plTest", 1},
		{"plNetStringGrep", 1},
		{"plReloadManager", 2},
		{"plKillOldServices", 1},
		{"plVersion", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := testbin.Path(t, tt.name)
			for _, help := range []string{"-h", "--help"} {
				stdout, stderr, code := runCommand(t, path, help)
				assert.Equal(t, 0, code, "%s %s", tt.name, help)
				assert.True(t, strings.HasPrefix(stdout, "Usage: "+tt.name+" "), "%s %s: stdout %q", tt.name, help, stdout)
				assert.Empty(t, stderr, "%s %s", tt.name, help)
			}
			stdout, stderr, code := runCommand(t, path, "-Z")
			assert.Equal(t, tt.usageExit, code, "%s -Z", tt.name)
			assert.Empty(t, stdout, "%s -Z", tt.name)
			assert.True(t, strings.HasPrefix(stderr, tt.name+": invalid option -- 'Z'\n\nUsage: "+tt.name+" "),
				"%s -Z: stderr %q", tt.name, stderr)
		})
	}
}

func runCommand(t *testing.T, path string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var o, e bytes.Buffer
	cmd := exec.Command(path, args...)
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return o.String(), e.String(), ee.ExitCode()
	}
	require.NoError(t, err)
	return o.String(), e.String(), 0
}
