package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pluton-go/pluton/go/manager/lookup"
	"github.com/pluton-go/pluton/go/servicekey"
	"github.com/pluton-go/pluton/go/version"
)

func plVersion(args ...string) (out, errOut string, code int) {
	var o, e bytes.Buffer
	code = run(args, &o, &e)
	return o.String(), e.String(), code
}

func TestPlVersion(t *testing.T) {
	dir := t.TempDir()
	v := version.Version
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(text), 0o644))
		return p
	}
	// The map a real manager writes.
	real := filepath.Join(dir, "lookup.map")
	key, err := servicekey.ParseConfigName("system.echo.0.raw")
	require.NoError(t, err)
	require.NoError(t, lookup.Write(real, dir, []servicekey.Key{key}))

	tests := []struct {
		name    string
		path    string
		manager string
		format  string
		warning string
	}{
		{"same", real, v, "3001", ""},
		{"older manager", write("old.map", "# pluton lookup map 3001\n# plutonManager 0.0.1\nrendezvous /r\n"),
			"0.0.1", "3001", "Warning: the versions differ: plutonManager 0.0.1, clientAPI " + v + "\n"},
		{"other format", write("fmt.map", "# pluton lookup map 3002\n# plutonManager "+v+"\nrendezvous /r\n"),
			v, "3002", "Warning: the lookup map's format is 3002, this client reads 3001\n"},
		{"no manager line", write("bare.map", "# pluton lookup map 3001\nrendezvous /r\n"),
			"unknown (" + filepath.Join(dir, "bare.map") + " names no manager version (written by an older plutonManager))", "3001", ""},
		{"missing", filepath.Join(dir, "none.map"), "unknown (no lookup map at " + filepath.Join(dir, "none.map") + ")", "3001", ""},
		{"directory", dir, "unknown (" + dir + " is a rendezvous directory, not a lookup map)", "3001", ""},
		{"not a map", write("junk", "hello\n"), "unknown (" + filepath.Join(dir, "junk") + " is not a lookup map)", "3001", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, errOut, code := plVersion("-L", tt.path)
			assert.Equal(t, 0, code)
			assert.Equal(t, "plutonManager: "+tt.manager+"\nclientAPI: "+v+"\nserviceAPI: "+v+
				"\nLookup Map: "+tt.path+"\nshmLookupMapVersion: "+tt.format+"\nshmServiceVersion: 2\n", out)
			assert.Equal(t, tt.warning, errOut)
		})
	}

	t.Setenv("plutonLookupMap", real)
	out, errOut, code := plVersion()
	assert.Equal(t, 0, code)
	assert.Contains(t, out, "plutonManager: "+v+"\n")
	assert.Contains(t, out, "Lookup Map: "+real+"\n")
	assert.Empty(t, errOut)
}

func TestPlVersionUsage(t *testing.T) {
	for _, tt := range []struct {
		args []string
		err  string
	}{
		{[]string{"-x"}, "plVersion: invalid option -- 'x'\n\n" + usage},
		{[]string{"-L"}, "plVersion: option requires an argument -- 'L'\n\n" + usage},
		{[]string{"extra"}, "plVersion: unexpected argument \"extra\"\n\n" + usage},
	} {
		out, errOut, code := plVersion(tt.args...)
		assert.Equal(t, 1, code, "%q", tt.args)
		assert.Equal(t, tt.err, errOut)
		assert.Empty(t, out)
	}
	out, errOut, code := plVersion("-h")
	assert.Equal(t, 0, code)
	assert.Equal(t, usage, out)
	assert.Empty(t, errOut)
}
