package manager

import (
	"fmt"

	"github.com/pluton-go/pluton/go/lookupmap"
	"github.com/pluton-go/pluton/go/manager/lookup"
	"github.com/pluton-go/pluton/go/servicekey"
)

// Lookup map formats (Options.LookupFormat, plutonManager --lookup-format;
// docs/manager.md "Lookup map formats").
const (
	// LookupBoth writes the text map at the -L path and the original's
	// binary map (version 1001) beside it at <path>.bin. The default.
	LookupBoth = "both"
	// LookupText writes the text map only.
	LookupText = "text"
	// LookupBinary writes the binary map at the -L path and no text map:
	// unmodified original clients, which read the -L path, find the
	// services; this project's clients read either format.
	LookupBinary = "binary"
)

// BinaryLookupSuffix is appended to the -L path for the binary map of
// LookupBoth.
const BinaryLookupSuffix = ".bin"

// LookupFormats lists the valid values of Options.LookupFormat.
var LookupFormats = []string{LookupBoth, LookupText, LookupBinary}

// CheckLookupFormat returns an error naming the valid formats when f is
// not one of them ("" is the default, LookupBoth).
func CheckLookupFormat(f string) error {
	switch f {
	case "", LookupBoth, LookupText, LookupBinary:
		return nil
	}
	return fmt.Errorf("lookup map format %q: want %s, %s or %s", f, LookupBoth, LookupText, LookupBinary)
}

// writeLookup writes the lookup map(s) of Options.LookupFormat naming keys.
func (m *Manager) writeLookup(keys []servicekey.Key) error {
	format := m.opts.LookupFormat
	if err := CheckLookupFormat(format); err != nil {
		return err
	}
	if format != LookupBinary {
		flagOld := lookupmap.Replacing(m.opts.LookupMap) // a binary map there before (format changed)
		if err := lookup.Write(m.opts.LookupMap, m.opts.RendezvousDir, keys); err != nil {
			return err
		}
		if err := flagOld(); err != nil {
			m.log.Printf("Warning: %v", err)
		}
	}
	if format == LookupText {
		return nil
	}
	b, err := lookupmap.Build(lookupmap.ManagerEntries(m.opts.RendezvousDir, keys))
	if err != nil {
		return err
	}
	path := m.opts.LookupMap
	if format != LookupBinary {
		path += BinaryLookupSuffix
	}
	return lookupmap.WriteFile(path, b)
}
