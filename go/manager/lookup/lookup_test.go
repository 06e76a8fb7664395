package lookup

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pluton-go/pluton/go/servicekey"
	"github.com/pluton-go/pluton/go/version"
)

func TestWrite(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "lookup.map")
	k1, err := servicekey.ParseConfigName("system.echo.0.raw")
	require.NoError(t, err)
	k2, err := servicekey.ParseConfigName("AddressBook..0.JSON")
	require.NoError(t, err)
	require.NoError(t, Write(path, "/r", []servicekey.Key{k1, k2}))
	require.NoError(t, Write(path, "/r", []servicekey.Key{k1, k2})) // over a 0444 file
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, "# pluton lookup map 3001\n# plutonManager "+version.Version+"\nrendezvous /r\n"+
		"AddressBook.JSON.0 /r/AddressBook..0.JSON.socket\nsystem.raw.0.echo /r/system.echo.0.raw.socket\n", string(b))
	fi, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o444), fi.Mode().Perm())
	_, err = os.Stat(path + ".tmp")
	assert.True(t, os.IsNotExist(err))
}
