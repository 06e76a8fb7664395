// Package servicekey parses and validates Pluton service keys of the form
// Application.Function.Version.Serialization.
//
// A key names a service and, in the rendezvous directory, a file; so besides
// the original's rules this package rejects '/' and NUL bytes in every part.
package servicekey

import (
	"fmt"
	"strconv"
	"strings"
)

// Serialization is the fourth part of a key. The framework never checks that
// payloads follow it; it is a label that must match exactly.
type Serialization byte

// The serializations, with the original's character codes.
const (
	Unknown   Serialization = '?'
	COBOL     Serialization = 'c'
	HTML      Serialization = 'h'
	JMS       Serialization = 'm'
	JSON      Serialization = 'j'
	NETSTRING Serialization = 'n'
	PHP       Serialization = 'p'
	SOAP      Serialization = 's'
	XML       Serialization = 'x'
	Raw       Serialization = 'r'
)

var serializationNames = map[string]Serialization{
	"COBOL": COBOL, "HTML": HTML, "JMS": JMS, "JSON": JSON, "NETSTRING": NETSTRING,
	"PHP": PHP, "SOAP": SOAP, "XML": XML, "raw": Raw,
}

// String returns the name as written in a key, e.g. "raw" or "JSON".
func (s Serialization) String() string {
	for name, v := range serializationNames {
		if v == s {
			return name
		}
	}
	return "?"
}

// Key is a parsed service key.
type Key struct {
	Application   string
	Function      string // empty only for a wildcard configuration name
	Version       uint32
	Serialization Serialization
	text          string // the Version and Serialization exactly as written
	versionText   string
	serialText    string
}

// Error reports a key that does not parse. It names the key and the rule it breaks.
type Error struct {
	Key    string
	Reason string
}

func (e *Error) Error() string {
	return fmt.Sprintf("bad service key %q: %s", e.Key, e.Reason)
}

// Parse parses a key as a client must write it: all four parts present.
func Parse(s string) (Key, error) { return parse(s, true) }

// ParseConfigName parses a configuration file name, where an empty Function
// (App..Ver.Ser) makes a wildcard serving every function without its own config.
func ParseConfigName(s string) (Key, error) { return parse(s, false) }

func parse(s string, client bool) (Key, error) {
	fail := func(reason string) (Key, error) { return Key{}, &Error{Key: s, Reason: reason} }
	parts := strings.Split(s, ".")
	switch {
	case len(parts) < 4:
		return fail("need four dot-separated tokens")
	case len(parts) > 4:
		return fail("more than four dot-separated tokens")
	}
	for _, p := range parts {
		if strings.IndexByte(p, '/') >= 0 {
			return fail("contains '/'")
		}
		if strings.IndexByte(p, 0) >= 0 {
			return fail("contains a NUL byte")
		}
	}
	app, fn, ver, ser := parts[0], parts[1], parts[2], parts[3]
	if len(app) < 1 || len(app) > 32 {
		return fail("Application Name length is not in the range 1-32 characters")
	}
	if client && fn == "" {
		return fail("Service Function is zero length")
	}
	if len(fn) > 32 {
		return fail("Service Function length is greater than 32 characters")
	}
	if len(ver) < 1 || len(ver) > 6 {
		return fail("Service Version length is not in the range 1-6 characters")
	}
	// The leading zero first, as the original (so 0x1 has a leading zero).
	if ver[0] == '0' && len(ver) > 1 {
		return fail("version has ambiguous leading zero")
	}
	for _, c := range ver {
		if c < '0' || c > '9' {
			return fail("version is not a positive integer")
		}
	}
	if ser == "" {
		return fail("serialization is zero length")
	}
	st, ok := serializationNames[ser]
	if !ok {
		return fail("serialization type is unrecognized")
	}
	v, _ := strconv.ParseUint(ver, 10, 32)
	return Key{Application: app, Function: fn, Version: uint32(v), Serialization: st,
		text: s, versionText: ver, serialText: ser}, nil
}

// String returns the key as Application.Function.Version.Serialization.
func (k Key) String() string {
	if k.text != "" {
		return k.text
	}
	return k.Application + "." + k.Function + "." + strconv.FormatUint(uint64(k.Version), 10) + "." + k.Serialization.String()
}

// IsWildcard reports whether the key has an empty Function.
func (k Key) IsWildcard() bool { return k.Function == "" }

// Wildcard returns the key with its Function emptied: App..Ver.Ser.
func (k Key) Wildcard() Key {
	w := Key{Application: k.Application, Version: k.Version, Serialization: k.Serialization}
	w.text = w.String()
	return w
}

// SearchKey returns the original lookup-map key App.Ser.Ver[.Func], the
// Function left out for a wildcard.
func (k Key) SearchKey() string {
	s := k.Application + "." + k.Serialization.String() + "." + strconv.FormatUint(uint64(k.Version), 10)
	if k.Function != "" {
		s += "." + k.Function
	}
	return s
}
