package process

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCheckExec(t *testing.T) {
	dir := t.TempDir()
	exe := filepath.Join(dir, "svc")
	require.NoError(t, os.WriteFile(exe, []byte("#!/bin/sh\n"), 0o755))
	plain := filepath.Join(dir, "plain")
	require.NoError(t, os.WriteFile(plain, []byte("x"), 0o644))
	require.NoError(t, os.Mkdir(filepath.Join(dir, "sub"), 0o755))
	for _, tt := range []struct {
		name, program, dir, want string
	}{
		{"absolute", exe, "", ""},
		{"relative to cd", "svc", dir, ""},
		{"missing", filepath.Join(dir, "nope"), "", "exec " + filepath.Join(dir, "nope") + ": no such file or directory"},
		{"not executable", plain, "", "exec " + plain + ": not executable (mode 0644): permission denied"},
		{"a directory", filepath.Join(dir, "sub"), "", "exec " + filepath.Join(dir, "sub") + ": not a regular file"},
		{"cd missing", exe, filepath.Join(dir, "gone"), "cd " + filepath.Join(dir, "gone") + ": no such file or directory"},
		{"cd not a directory", exe, plain, "cd " + plain + ": not a directory"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckExec(tt.program, tt.dir)
			if tt.want == "" {
				assert.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Equal(t, tt.want, err.Error())
		})
	}
}
