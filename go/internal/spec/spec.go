// Package spec holds the cross-language facts of Pluton for Go in one place:
// the fault codes with their names and texts, the fd 4 stats segment layout
// (docs/protocol.md §4), the slot states and exit reasons, and the fd 5
// report record layout (§5). The source is spec/pluton.json; Render turns it
// into the Go, Python, PHP and Perl tables:
//
//	go/internal/spec/tables_gen.go
//	sdk/python/src/pluton/_spec.py
//	sdk/php/src/Spec.php
//	sdk/perl/lib/Pluton/Spec.pm
//
// After editing spec/pluton.json, run go generate ./go/internal/spec; the
// package's tests fail while a generated file is stale, and they compare the
// hand-written tables of go/fault, go/stats and each SDK with the spec.
package spec

//go:generate go run ./gen

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// File is the spec's path, relative to the repository root.
const File = "spec/pluton.json"

// Spec is the content of spec/pluton.json.
type Spec struct {
	Comment      string  `json:"comment"`
	Faults       []Fault `json:"faults"`
	StatsSegment Segment `json:"statsSegment"`
	SlotStates   []Value `json:"slotStates"`
	ExitReasons  []Value `json:"exitReasons"`
	ReportRecord Record  `json:"reportRecord"`
	Outcomes     []Value `json:"outcomes"`
}

// Fault is one fault code.
type Fault struct {
	Code    int    `json:"code"`
	Name    string `json:"name"`    // e.g. "serviceTimeout"
	English string `json:"english"` // e.g. "client timeout expired"
}

// Field is one fixed-size field of a binary layout.
type Field struct {
	Name   string `json:"name"`
	Offset int    `json:"offset"`
	Size   int    `json:"size"`
	Writer string `json:"writer"` // "manager", "service", "both" or "none"
	Doc    string `json:"doc,omitempty"`
}

// Segment is the fd 4 stats segment layout: a header, then one slot per
// instance.
type Segment struct {
	Magic        string  `json:"magic"`
	Version      int     `json:"version"`
	HeaderSize   int     `json:"headerSize"`
	SlotSize     int     `json:"slotSize"`
	NotRecording uint32  `json:"notRecording"`
	Header       []Field `json:"header"`
	Slot         []Field `json:"slot"`
}

// Record is the fd 5 report record layout: a header, then entries.
type Record struct {
	Version    int     `json:"version"`
	RecordSize int     `json:"recordSize"`
	EntrySize  int     `json:"entrySize"`
	MaxEntries int     `json:"maxEntries"`
	NoSlot     uint32  `json:"noSlot"`
	Header     []Field `json:"header"`
	Entry      []Field `json:"entry"`
}

// Value is one named value of an enumeration (slot states, exit reasons,
// outcomes).
type Value struct {
	Value int    `json:"value"`
	Name  string `json:"name"`
	Text  string `json:"text,omitempty"`
}

// FindRoot returns the repository root: the first of dir and its parents
// that holds spec/pluton.json.
func FindRoot(dir string) (string, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, File)); err == nil {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("no %s in %s or any parent", File, dir)
		}
	}
}

// Load reads and checks the spec at path.
func Load(path string) (*Spec, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(b)
}

// Parse decodes and checks a spec. Unknown fields are an error, so a typo
// in the file cannot go unnoticed.
func Parse(b []byte) (*Spec, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var s Spec
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("%s: %w", File, err)
	}
	if err := s.Check(); err != nil {
		return nil, fmt.Errorf("%s: %w", File, err)
	}
	return &s, nil
}

// Check reports every inconsistency of the spec: duplicate codes or names,
// texts that are not printable ASCII, and layouts whose fields overlap,
// leave gaps or do not add up to the declared sizes.
func (s *Spec) Check() error {
	var errs []error
	codes, names := map[int]bool{}, map[string]bool{}
	for _, f := range s.Faults {
		if codes[f.Code] || names[f.Name] {
			errs = append(errs, fmt.Errorf("fault %d %s: duplicate code or name", f.Code, f.Name))
		}
		codes[f.Code], names[f.Name] = true, true
		if !identifier(f.Name) || !printable(f.English) || f.English == "" {
			errs = append(errs, fmt.Errorf("fault %d: name %q or text %q is not usable in every language", f.Code, f.Name, f.English))
		}
	}
	seg, rec := s.StatsSegment, s.ReportRecord
	errs = append(errs, checkLayout("statsSegment.header", seg.Header, seg.HeaderSize))
	errs = append(errs, checkLayout("statsSegment.slot", seg.Slot, seg.SlotSize))
	errs = append(errs, checkLayout("reportRecord.header", rec.Header, rec.RecordSize))
	errs = append(errs, checkLayout("reportRecord.entry", rec.Entry, rec.EntrySize))
	if rec.MaxEntries*rec.EntrySize != rec.RecordSize-rec.Header[len(rec.Header)-1].Offset {
		errs = append(errs, fmt.Errorf("reportRecord: %d entries of %d bytes do not fill the record after its header",
			rec.MaxEntries, rec.EntrySize))
	}
	if len(seg.Magic) != 4 || !printable(seg.Magic) {
		errs = append(errs, fmt.Errorf("statsSegment.magic %q: want 4 printable bytes", seg.Magic))
	}
	for _, e := range []struct {
		what string
		vs   []Value
	}{{"slotStates", s.SlotStates}, {"exitReasons", s.ExitReasons}, {"outcomes", s.Outcomes}} {
		seen := map[string]bool{}
		for _, v := range e.vs {
			if seen[v.Name] || !identifier(v.Name) || !printable(v.Text) {
				errs = append(errs, fmt.Errorf("%s %d: duplicate or unusable name %q or text %q", e.what, v.Value, v.Name, v.Text))
			}
			seen[v.Name] = true
		}
	}
	return errors.Join(errs...)
}

func checkLayout(what string, fields []Field, size int) error {
	if len(fields) == 0 {
		return fmt.Errorf("%s: no fields", what)
	}
	var errs []error
	next, seen := 0, map[string]bool{}
	for _, f := range fields {
		if f.Offset != next {
			errs = append(errs, fmt.Errorf("%s.%s: offset %d, want %d (fields must be contiguous)", what, f.Name, f.Offset, next))
		}
		if f.Size <= 0 || !identifier(f.Name) || (seen[f.Name] && f.Name != "reserved") {
			errs = append(errs, fmt.Errorf("%s.%s: bad size %d or name", what, f.Name, f.Size))
		}
		seen[f.Name] = true
		next = f.Offset + f.Size
	}
	if next != size {
		errs = append(errs, fmt.Errorf("%s: fields end at %d, size is %d", what, next, size))
	}
	return errors.Join(errs...)
}

func identifier(s string) bool {
	if s == "" || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for _, c := range []byte(s) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

func printable(s string) bool {
	for _, c := range []byte(s) {
		if c < 0x20 || c > 0x7e {
			return false
		}
	}
	return true
}
