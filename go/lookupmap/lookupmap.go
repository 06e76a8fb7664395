// Package lookupmap reads and writes the original Pluton's binary lookup map
// (version 1001, /work/shared/reference/pluton.md §1.3; docs/protocol.md
// §7.2), so that unmodified original clients find the services of this
// manager and this project's clients find those of an original manager.
//
// The map is one file of fixed-width integers in native byte order:
//
//	@0   u32 version (1001)
//	@4   byte remapFlag ('n' current, 'Y' stale: re-open by path), 3 bytes 0
//	@8   u32 hashTableSize (2*entries + 7)
//	@12  u32 maximumEntryIndex (entries + 1, as the original wrote it)
//	@16  u32 mapSize (the file's size)
//	@20  u32 entryBaseOffset (32 + 4*hashTableSize)
//	@24  u32 stringBaseOffset (entryBaseOffset + 20*(entries+1))
//	@28  u32 buckets[hashTableSize], then 4 bytes 0 (the header's own slot)
//	entries, 20 bytes each: i32 keyOffset, keyLength, valueOffset,
//	    valueLength, nextIndex; entry 0 is all zero and means "none"
//	strings: each key then its value, offsets relative to stringBaseOffset,
//	    no NUL bytes
//
// A key is a search key App.Ser.Ver[.Func] and its value the absolute path
// of the service's rendezvous socket. This manager adds one entry the
// original never looks up: RendezvousKey, whose value is the rendezvous
// directory (a search key never contains '/').
package lookupmap

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/pluton-go/pluton/go/servicekey"
)

// Version is the original's lookup map version, the map's first u32.
const Version = 1001

// HeaderSize is sizeof(relativeHashMap): the fixed header including the
// first bucket's slot.
const HeaderSize = 32

// EntrySize is sizeof(hashMapEntry).
const EntrySize = 20

// RemapFlagOffset is the offset of the remap flag byte.
const RemapFlagOffset = 4

// Remap flag values.
const (
	FlagCurrent = 'n' // the map is current
	FlagStale   = 'Y' // a newer map replaced this one: re-open it by path
)

// RendezvousKey is the entry naming the rendezvous directory.
const RendezvousKey = "/rendezvous"

// maxMapSize bounds a map this package reads (the original had none; 64
// MiB is far beyond any real map).
const maxMapSize = 64 << 20

// ErrNotBinary is returned by Parse for data that does not start with the
// binary map's version (a text map, for example).
var ErrNotBinary = errors.New("not a binary lookup map")

// Hash is the original's hash of a key: h = 0; for each byte c: h += h<<5;
// h ^= c, in unsigned 32-bit arithmetic.
func Hash(key string) uint32 {
	var h uint32
	for i := 0; i < len(key); i++ {
		h += h << 5
		h ^= uint32(key[i])
	}
	return h
}

// IsBinary reports whether data starts like a binary lookup map: its first
// four bytes are Version in native byte order.
func IsBinary(data []byte) bool {
	return len(data) >= 4 && binary.NativeEndian.Uint32(data) == Version
}

// Build returns the bytes of a map holding entries (key to value), the
// entries in key order, remap flag 'n'.
func Build(entries map[string]string) ([]byte, error) {
	keys := make([]string, 0, len(entries))
	strs := 0
	for k, v := range entries {
		if k == "" {
			return nil, errors.New("lookup map: empty key")
		}
		keys = append(keys, k)
		strs += len(k) + len(v)
	}
	sort.Strings(keys)
	n := len(keys)
	table := 2*n + 7
	entryBase := HeaderSize + 4*table
	stringBase := entryBase + EntrySize*(n+1)
	size := stringBase + strs
	if size > maxMapSize {
		return nil, fmt.Errorf("lookup map: %d bytes is more than %d", size, maxMapSize)
	}
	b := make([]byte, size)
	ne := binary.NativeEndian
	ne.PutUint32(b[0:], Version)
	b[RemapFlagOffset] = FlagCurrent
	ne.PutUint32(b[8:], uint32(table))
	ne.PutUint32(b[12:], uint32(n+1))
	ne.PutUint32(b[16:], uint32(size))
	ne.PutUint32(b[20:], uint32(entryBase))
	ne.PutUint32(b[24:], uint32(stringBase))
	off := 0
	for i, k := range keys {
		idx := i + 1 // entry 0 is the NULL entry
		e := b[entryBase+EntrySize*idx:]
		v := entries[k]
		ne.PutUint32(e[0:], uint32(off))
		ne.PutUint32(e[4:], uint32(len(k)))
		copy(b[stringBase+off:], k)
		off += len(k)
		ne.PutUint32(e[8:], uint32(off))
		ne.PutUint32(e[12:], uint32(len(v)))
		copy(b[stringBase+off:], v)
		off += len(v)
		bucket := HeaderSize - 4 + 4*int(Hash(k)%uint32(table))
		ne.PutUint32(e[16:], ne.Uint32(b[bucket:])) // chain the bucket's previous head
		ne.PutUint32(b[bucket:], uint32(idx))
	}
	return b, nil
}

// Map is a parsed binary lookup map.
type Map struct {
	data                        []byte
	table, maxIndex             uint32
	entryBase, stringBase, size uint32
	// last is the highest entry index that lies before the strings: the
	// bound of every walk, whatever maximumEntryIndex says.
	last uint32
}

// Parse checks data's header and returns the map. It fails with
// ErrNotBinary when data does not start with Version, and with an error
// naming the field when the header does not fit the data.
func Parse(data []byte) (*Map, error) {
	if !IsBinary(data) {
		return nil, ErrNotBinary
	}
	if len(data) < HeaderSize {
		return nil, fmt.Errorf("binary lookup map: %d bytes, less than the %d-byte header", len(data), HeaderSize)
	}
	ne := binary.NativeEndian
	m := &Map{data: data, table: ne.Uint32(data[8:]), maxIndex: ne.Uint32(data[12:]),
		size: ne.Uint32(data[16:]), entryBase: ne.Uint32(data[20:]), stringBase: ne.Uint32(data[24:])}
	switch {
	case m.table == 0:
		return nil, errors.New("binary lookup map: hashTableSize is 0")
	case uint64(HeaderSize-4)+4*uint64(m.table) > uint64(len(data)):
		return nil, fmt.Errorf("binary lookup map: hashTableSize %d does not fit in %d bytes", m.table, len(data))
	case uint64(m.size) > uint64(len(data)):
		return nil, fmt.Errorf("binary lookup map: mapSize %d is more than the file's %d bytes", m.size, len(data))
	case m.entryBase > m.size || m.stringBase > m.size:
		return nil, fmt.Errorf("binary lookup map: entry base %d or string base %d beyond mapSize %d",
			m.entryBase, m.stringBase, m.size)
	}
	m.last = m.maxIndex
	if m.stringBase >= m.entryBase {
		if slots := (m.stringBase - m.entryBase) / EntrySize; slots == 0 {
			m.last = 0
		} else {
			m.last = min(m.last, slots-1)
		}
	}
	return m, nil
}

// Stale reports whether the map's remap flag says a newer map replaced it.
func (m *Map) Stale() bool { return m.data[RemapFlagOffset] != FlagCurrent }

// Len returns the number of entries.
func (m *Map) Len() int { return len(m.Entries()) }

// entry returns the fields of entry idx, false for 0 or one outside the map.
func (m *Map) entry(idx uint32) (key, value string, next uint32, ok bool) {
	if idx == 0 || idx > m.maxIndex {
		return "", "", 0, false
	}
	at := uint64(m.entryBase) + EntrySize*uint64(idx)
	if at+EntrySize > uint64(m.size) {
		return "", "", 0, false
	}
	ne := binary.NativeEndian
	e := m.data[at:]
	str := func(off, n uint32) (string, bool) {
		start := uint64(m.stringBase) + uint64(off)
		if int32(off) < 0 || int32(n) < 0 || start+uint64(n) > uint64(m.size) {
			return "", false
		}
		return string(m.data[start : start+uint64(n)]), true
	}
	k, ok1 := str(ne.Uint32(e[0:]), ne.Uint32(e[4:]))
	v, ok2 := str(ne.Uint32(e[8:]), ne.Uint32(e[12:]))
	return k, v, ne.Uint32(e[16:]), ok1 && ok2
}

// Get returns the value of exactly key.
func (m *Map) Get(key string) (string, bool) {
	idx := binary.NativeEndian.Uint32(m.data[HeaderSize-4+4*int(Hash(key)%m.table):])
	for steps := uint32(0); steps <= m.last; steps++ { // bounded: a corrupt chain may loop
		k, v, next, ok := m.entry(idx)
		if !ok {
			return "", false
		}
		if k == key {
			return v, true
		}
		idx = next
	}
	return "", false
}

// Find is the original's lookup: key itself, else key with its last
// ".component" cut off, and so on, until nothing is left. It returns the
// value and the key that matched.
func (m *Map) Find(key string) (value, matched string, ok bool) {
	for k := key; k != ""; {
		if v, ok := m.Get(k); ok {
			return v, k, true
		}
		i := strings.LastIndexByte(k, '.')
		if i < 0 {
			break
		}
		k = k[:i]
	}
	return "", "", false
}

// Entries returns every entry, in entry order.
func (m *Map) Entries() map[string]string {
	out := make(map[string]string)
	for idx := uint32(1); idx <= m.last; idx++ {
		if k, v, _, ok := m.entry(idx); ok && k != "" {
			out[k] = v
		}
	}
	return out
}

// Rendezvous returns the rendezvous directory the map names: the value of
// RendezvousKey, else (a map written by the original) the directory of the
// first socket path. It fails for a map with neither.
func (m *Map) Rendezvous() (string, error) {
	if v, ok := m.Get(RendezvousKey); ok && v != "" {
		return v, nil
	}
	for idx := uint32(1); idx <= m.last; idx++ {
		if _, v, _, ok := m.entry(idx); ok && strings.HasSuffix(v, ".socket") {
			return filepath.Dir(v), nil
		}
	}
	return "", errors.New("binary lookup map names no rendezvous directory and no service")
}

// ReadFile reads and parses the map at path.
func ReadFile(path string) (*Map, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxMapSize+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	m, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}

// WriteFile replaces the map at path with data, as the original did but
// without a moment with no map: it writes <path>.tmp (mode 0444), renames
// it over path, then sets the remap flag of the map it replaced to 'Y', so
// an original client that has the old file mapped re-opens the new one.
func WriteFile(path string, data []byte) error {
	flagOld := Replacing(path)
	tmp := path + ".tmp"
	_ = os.Remove(tmp)
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o444)
	if err == nil {
		_, err = f.Write(data)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("binary lookup map %s: %w", path, err)
	}
	return flagOld()
}

// Replacing prepares to replace whatever is at path with another file (a
// text map, when the manager's format changes): if path holds a binary
// map, the function returned sets its remap flag to 'Y' once the
// replacement is renamed into place, so original clients that have it
// mapped re-open the path. Call the function (always non-nil) after the
// rename.
func Replacing(path string) func() error {
	old := openOld(path)
	if old == nil {
		return func() error { return nil }
	}
	return func() error {
		defer old.Close()
		if _, err := old.WriteAt([]byte{FlagStale}, RemapFlagOffset); err != nil {
			return fmt.Errorf("binary lookup map %s: flagging the old map: %w", path, err)
		}
		return nil
	}
}

// openOld opens the binary map at path for writing its flag, nil if there
// is none. A map is mode 0444, so its owner makes it writable for a moment.
func openOld(path string) *os.File {
	head := make([]byte, 4)
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	_, err = io.ReadFull(f, head)
	f.Close()
	if err != nil || !IsBinary(head) {
		return nil
	}
	w, err := os.OpenFile(path, os.O_WRONLY, 0)
	if errors.Is(err, os.ErrPermission) {
		if os.Chmod(path, 0o644) == nil {
			w, err = os.OpenFile(path, os.O_WRONLY, 0)
			_ = os.Chmod(path, 0o444)
		}
	}
	if err != nil {
		return nil
	}
	return w
}

// ManagerEntries builds the entries of a manager's map: each search key to its
// socket below rendezvousDir, and RendezvousKey to rendezvousDir.
func ManagerEntries(rendezvousDir string, keys []servicekey.Key) map[string]string {
	out := make(map[string]string, len(keys)+1)
	for _, k := range keys {
		out[k.SearchKey()] = filepath.Join(rendezvousDir, k.String()+".socket")
	}
	out[RendezvousKey] = rendezvousDir
	return out
}
