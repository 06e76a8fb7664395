package client

import (
	"io"
	"os"

	"github.com/pluton-go/pluton/go/fault"
	"github.com/pluton-go/pluton/go/lookupmap"
)

// binaryRendezvous reads the rendezvous directory of location when it is the
// original's binary lookup map (version 1001, docs/protocol.md §7.2; written
// by an original manager, or by this one with --lookup-format). ok is false
// when location is not a binary map (a text map, a directory): the caller
// reads it as text. A binary map shorter than its header is
// shmImpossiblySmall (-107), a corrupt one mapInitializationFailed (-32).
func binaryRendezvous(location string) (dir string, ok bool, err error) {
	f, err := os.Open(location)
	if err != nil {
		return "", false, nil // the text reader reports it
	}
	head := make([]byte, 4)
	_, rerr := io.ReadFull(f, head)
	f.Close()
	if rerr != nil || !lookupmap.IsBinary(head) {
		return "", false, nil
	}
	m, err := lookupmap.ReadFile(location)
	if err != nil {
		if st, serr := os.Stat(location); serr == nil && st.Size() < lookupmap.HeaderSize {
			return "", true, fault.Wrap(fault.ShmImpossiblySmall, location, err)
		}
		return "", true, fault.Wrap(fault.MapInitializationFailed, location, err)
	}
	dir, err = m.Rendezvous()
	if err != nil {
		return "", true, fault.Wrap(fault.MapInitializationFailed, location, err)
	}
	return dir, true, nil
}
