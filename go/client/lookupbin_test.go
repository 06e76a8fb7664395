package client

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pluton-go/pluton/go/fault"
	"github.com/pluton-go/pluton/go/lookupmap"
)

// TestReadRendezvousBinary: the original's binary map is read by content,
// whatever its name; a short or corrupt one is a clear fault.
func TestReadRendezvousBinary(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, b, 0o444))
		return p
	}
	ours, err := lookupmap.Build(map[string]string{lookupmap.RendezvousKey: "/srv/r",
		"system.raw.0.echo": "/srv/r/system.echo.0.raw.socket"})
	require.NoError(t, err)
	original, err := lookupmap.Build(map[string]string{"system.raw.0.echo": "/var/orig/system.echo.0.raw.socket"})
	require.NoError(t, err)
	empty, err := lookupmap.Build(map[string]string{})
	require.NoError(t, err)
	for _, tc := range []struct {
		name string
		data []byte
		dir  string
		code fault.Code
	}{
		{"lookup.map", ours, "/srv/r", 0},
		{"original.map", original, "/var/orig", 0},
		{"short.map", ours[:20], "", fault.ShmImpossiblySmall},
		{"truncated.map", ours[:len(ours)-3], "", fault.MapInitializationFailed},
		{"empty.map", empty, "", fault.MapInitializationFailed},
	} {
		got, err := ReadRendezvous(write(tc.name, tc.data))
		if tc.code == 0 {
			require.NoError(t, err, tc.name)
			assert.Equal(t, tc.dir, got, tc.name)
			continue
		}
		var f *fault.Fault
		require.ErrorAs(t, err, &f, tc.name)
		assert.Equal(t, tc.code, f.Code, tc.name)
		assert.Contains(t, err.Error(), tc.name)
	}
}
