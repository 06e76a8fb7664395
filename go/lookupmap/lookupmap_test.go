package lookupmap

import (
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pluton-go/pluton/go/servicekey"
)

func keys(t *testing.T, names ...string) []servicekey.Key {
	t.Helper()
	out := make([]servicekey.Key, 0, len(names))
	for _, n := range names {
		k, err := servicekey.ParseConfigName(n)
		require.NoError(t, err)
		out = append(out, k)
	}
	return out
}

// TestHash checks the original's hash on values computed by hand from
// h += h<<5; h ^= c.
func TestHash(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want uint32
	}{
		{"", 0},
		{"a", 0x61},
		{"ab", (0x61 * 33) ^ 0x62},
		{"abc", (((0x61 * 33) ^ 0x62) * 33) ^ 0x63},
	} {
		assert.Equal(t, tc.want, Hash(tc.in), tc.in)
	}
	// 32-bit wrap: a long key must not overflow into a wider value.
	var h uint64
	for _, c := range []byte("system.raw.0.echo.with.a.long.tail.beyond.thirty.two.bits") {
		h = (h + h<<5) & 0xffffffff
		h ^= uint64(c)
	}
	assert.Equal(t, uint32(h), Hash("system.raw.0.echo.with.a.long.tail.beyond.thirty.two.bits"))
}

// TestBuildLayout checks every byte of a built map against the documented
// layout (pluton.md §1.3) and resolves every key through it.
func TestBuildLayout(t *testing.T) {
	ks := keys(t, "system.echo.0.raw", "AddressBook..0.JSON", "AddressBook.AddEntry.0.JSON", "app.f.12.XML")
	entries := ManagerEntries("/r", ks)
	b, err := Build(entries)
	require.NoError(t, err)
	ne := binary.NativeEndian
	n := len(entries) // 4 services + the rendezvous entry
	table := 2*n + 7
	entryBase := 32 + 4*table
	strs := 0
	for k, v := range entries {
		strs += len(k) + len(v)
	}
	stringBase := entryBase + 20*(n+1)
	assert.Equal(t, uint32(1001), ne.Uint32(b[0:]), "version")
	assert.Equal(t, []byte{'n', 0, 0, 0}, b[4:8], "remap flag and padding")
	assert.Equal(t, uint32(table), ne.Uint32(b[8:]), "hashTableSize = 2*keys+7")
	assert.Equal(t, uint32(n+1), ne.Uint32(b[12:]), "maximumEntryIndex")
	assert.Equal(t, uint32(len(b)), ne.Uint32(b[16:]), "mapSize")
	assert.Equal(t, stringBase+strs, len(b))
	assert.Equal(t, uint32(entryBase), ne.Uint32(b[20:]), "entryBaseOffset")
	assert.Equal(t, uint32(stringBase), ne.Uint32(b[24:]), "stringBaseOffset")
	assert.Equal(t, make([]byte, 20), b[entryBase:entryBase+20], "entry 0 is the NULL entry")
	assert.Equal(t, make([]byte, 4), b[entryBase-4:entryBase], "the header's own bucket slot past the table")

	// Walk every bucket as an original client would: each entry is in the
	// bucket of its key's hash, and every entry is reached exactly once.
	reached := map[int]bool{}
	for bk := 0; bk < table; bk++ {
		idx := int(ne.Uint32(b[28+4*bk:]))
		for steps := 0; idx != 0; steps++ {
			require.Less(t, steps, n+1, "bucket %d loops", bk)
			require.False(t, reached[idx])
			reached[idx] = true
			e := b[entryBase+20*idx:]
			ko, kl := int(ne.Uint32(e[0:])), int(ne.Uint32(e[4:]))
			vo, vl := int(ne.Uint32(e[8:])), int(ne.Uint32(e[12:]))
			key := string(b[stringBase+ko : stringBase+ko+kl])
			val := string(b[stringBase+vo : stringBase+vo+vl])
			assert.Equal(t, uint32(bk), Hash(key)%uint32(table), key)
			assert.Equal(t, entries[key], val, key)
			assert.Equal(t, ko+kl, vo, "a key's value follows it")
			idx = int(ne.Uint32(e[16:]))
		}
	}
	assert.Len(t, reached, n)

	m, err := Parse(b)
	require.NoError(t, err)
	assert.False(t, m.Stale())
	assert.Equal(t, n, m.Len())
	assert.Equal(t, entries, m.Entries())
	for _, k := range ks {
		v, matched, ok := m.Find(k.SearchKey())
		require.True(t, ok, k.SearchKey())
		assert.Equal(t, "/r/"+k.String()+".socket", v)
		assert.Equal(t, k.SearchKey(), matched)
	}
	// The original's component back-off: an unknown function of
	// AddressBook finds the wildcard; other versions find nothing.
	v, matched, ok := m.Find("AddressBook.JSON.0.GetList")
	require.True(t, ok)
	assert.Equal(t, "/r/AddressBook..0.JSON.socket", v)
	assert.Equal(t, "AddressBook.JSON.0", matched)
	_, _, ok = m.Find("system.raw.1.echo")
	assert.False(t, ok)
	dir, err := m.Rendezvous()
	require.NoError(t, err)
	assert.Equal(t, "/r", dir)
}

// TestBuildEmpty: a manager with no service still writes a valid map.
func TestBuildEmpty(t *testing.T) {
	b, err := Build(map[string]string{})
	require.NoError(t, err)
	assert.Len(t, b, 32+4*7+20)
	m, err := Parse(b)
	require.NoError(t, err)
	_, _, ok := m.Find("a.raw.0.b")
	assert.False(t, ok)
	_, err = m.Rendezvous()
	assert.ErrorContains(t, err, "no rendezvous directory")
}

// TestRendezvousFromOriginal: a map written by the original has no
// rendezvous entry; the directory of its sockets is used.
func TestRendezvousFromOriginal(t *testing.T) {
	b, err := Build(map[string]string{"system.raw.0.echo": "/var/r/system.echo.0.raw.socket"})
	require.NoError(t, err)
	m, err := Parse(b)
	require.NoError(t, err)
	dir, err := m.Rendezvous()
	require.NoError(t, err)
	assert.Equal(t, "/var/r", dir)
}

// TestParseHostile: truncated and corrupt maps fail with a clear error or
// resolve nothing; none panics or loops.
func TestParseHostile(t *testing.T) {
	good, err := Build(ManagerEntries("/r", keys(t, "system.echo.0.raw", "a.b.1.raw")))
	require.NoError(t, err)
	_, err = Parse([]byte("# pluton lookup map 3001\n"))
	assert.ErrorIs(t, err, ErrNotBinary)
	_, err = Parse(good[:12])
	assert.ErrorContains(t, err, "header")
	_, err = Parse(good[:40])
	assert.ErrorContains(t, err, "hashTableSize")
	_, err = Parse(good[:len(good)-1])
	assert.ErrorContains(t, err, "mapSize")
	zeroTable := append([]byte(nil), good...)
	binary.NativeEndian.PutUint32(zeroTable[8:], 0)
	_, err = Parse(zeroTable)
	assert.ErrorContains(t, err, "hashTableSize is 0")

	// Every bucket and next index pointing at itself: bounded, no match.
	loop := append([]byte(nil), good...)
	ne := binary.NativeEndian
	table := int(ne.Uint32(loop[8:]))
	eb := int(ne.Uint32(loop[20:]))
	for i := 0; i < table; i++ {
		ne.PutUint32(loop[28+4*i:], 1)
	}
	ne.PutUint32(loop[eb+20+16:], 1)
	ne.PutUint32(loop[eb+20+4:], 1000) // a key running past the map
	m, err := Parse(loop)
	require.NoError(t, err)
	_, _, ok := m.Find("system.raw.0.echo")
	assert.False(t, ok)

	// Every single-byte corruption: Parse and Find never panic.
	for i := range good {
		c := append([]byte(nil), good...)
		c[i] ^= 0xff
		if m, err := Parse(c); err == nil {
			m.Find("system.raw.0.echo")
			m.Entries()
			_, _ = m.Rendezvous()
		}
	}
}

// TestWriteFile: the file is mode 0444, and a rewrite flags the replaced
// map 'Y' in place so a client holding it re-opens the path.
func TestWriteFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lookup.map")
	b1, err := Build(ManagerEntries("/r", keys(t, "system.echo.0.raw")))
	require.NoError(t, err)
	require.NoError(t, WriteFile(path, b1))
	fi, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o444), fi.Mode().Perm())
	held, err := os.Open(path) // an original client's mapping of the old map
	require.NoError(t, err)
	defer held.Close()

	b2, err := Build(ManagerEntries("/r", keys(t, "system.echo.0.raw", "a.b.1.raw")))
	require.NoError(t, err)
	require.NoError(t, WriteFile(path, b2))
	flag := make([]byte, 1)
	_, err = held.ReadAt(flag, RemapFlagOffset)
	require.NoError(t, err)
	assert.Equal(t, byte('Y'), flag[0], "the replaced map is flagged stale")
	m, err := ReadFile(path)
	require.NoError(t, err)
	assert.False(t, m.Stale())
	_, _, ok := m.Find("a.raw.1.b")
	assert.True(t, ok)
	fi, err = os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o444), fi.Mode().Perm())
	_, err = os.Stat(path + ".tmp")
	assert.True(t, os.IsNotExist(err))
}

// TestManyKeys: chains in a well-filled table resolve every key.
func TestManyKeys(t *testing.T) {
	var names []string
	for i := range 300 {
		names = append(names, fmt.Sprintf("app%d.f%d.%d.raw", i%17, i, i%3))
	}
	ks := keys(t, names...)
	b, err := Build(ManagerEntries("/rv", ks))
	require.NoError(t, err)
	m, err := Parse(b)
	require.NoError(t, err)
	for _, k := range ks {
		v, _, ok := m.Find(k.SearchKey())
		require.True(t, ok, k.String())
		assert.Equal(t, "/rv/"+k.String()+".socket", v)
	}
}

// TestReplacingByText: a binary map replaced by another file (a text map,
// after a format change) is flagged stale for the clients holding it.
func TestReplacingByText(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lookup.map")
	b, err := Build(ManagerEntries("/r", keys(t, "system.echo.0.raw")))
	require.NoError(t, err)
	require.NoError(t, WriteFile(path, b))
	held, err := os.Open(path)
	require.NoError(t, err)
	defer held.Close()
	flag := Replacing(path)
	require.NoError(t, os.WriteFile(path+".new", []byte("# pluton lookup map 3001\n"), 0o444))
	require.NoError(t, os.Rename(path+".new", path))
	require.NoError(t, flag())
	got := make([]byte, 1)
	_, err = held.ReadAt(got, RemapFlagOffset)
	require.NoError(t, err)
	assert.Equal(t, byte('Y'), got[0])
	// Nothing to flag: a text map, or no file.
	require.NoError(t, Replacing(path)())
	require.NoError(t, Replacing(path+".missing")())
}

// TestCReader: a C reader with the original client's structs (testdata/
// cmaplookup.c) maps the file WriteFile wrote and resolves every key, the
// wildcard back-off and a miss as the original did.
func TestCReader(t *testing.T) {
	cc, err := exec.LookPath("cc")
	if err != nil {
		t.Skip("no C compiler")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "cmaplookup")
	out, err := exec.Command(cc, "-std=c99", "-O2", "-Wall", "-Werror", "-o", bin, "testdata/cmaplookup.c").CombinedOutput()
	require.NoError(t, err, string(out))
	ks := keys(t, "system.echo.0.raw", "AddressBook..0.JSON", "AddressBook.AddEntry.0.JSON", "a.b.1.raw")
	path := filepath.Join(dir, "lookup.map")
	b, err := Build(ManagerEntries("/var/r", ks))
	require.NoError(t, err)
	require.NoError(t, WriteFile(path, b))
	args := []string{path}
	want := ""
	for _, k := range ks {
		args = append(args, k.SearchKey())
		want += k.SearchKey() + " /var/r/" + k.String() + ".socket\n"
	}
	args = append(args, "AddressBook.JSON.0.GetList", "system.raw.1.echo", "/rendezvous")
	want += "AddressBook.JSON.0.GetList /var/r/AddressBook..0.JSON.socket\nsystem.raw.1.echo -30\n/rendezvous /var/r\n"
	out, err = exec.Command(bin, args...).CombinedOutput()
	require.NoError(t, err, string(out))
	assert.Equal(t, want, string(out))
}
