// Package lookup writes the lookup map: the text file (docs/protocol.md §7)
// that tells clients where the rendezvous directory is and which search keys
// the manager serves.
package lookup

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/pluton-go/pluton/go/servicekey"
	"github.com/pluton-go/pluton/go/version"
)

// Header is the first line of a lookup map.
var Header = fmt.Sprintf("# pluton lookup map %d", version.LookupMapVersion)

// ManagerLine is the second line of a lookup map: the version of the
// manager that wrote it, for plVersion (a comment to every other reader).
var ManagerLine = "# plutonManager " + version.Version

// Write replaces the map at path with one naming rendezvousDir and the given
// services. It writes <path>.tmp and renames it over path, so a reader always
// sees a whole map (the original unlinked the old map first). The file is
// mode 0444.
func Write(path, rendezvousDir string, keys []servicekey.Key) error {
	lines := make([]string, 0, len(keys))
	for _, k := range keys {
		lines = append(lines, k.SearchKey()+" "+filepath.Join(rendezvousDir, k.String()+".socket"))
	}
	sort.Strings(lines)
	tmp := path + ".tmp"
	_ = os.Remove(tmp)
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	fmt.Fprintln(w, Header)
	fmt.Fprintln(w, ManagerLine) // read by plVersion
	fmt.Fprintln(w, "rendezvous", rendezvousDir)
	for _, l := range lines {
		fmt.Fprintln(w, l)
	}
	err = w.Flush()
	if err == nil {
		err = f.Chmod(0o444)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("lookup map %s: %w", path, err)
	}
	return nil
}
