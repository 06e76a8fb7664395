// Package version holds the one version number of Pluton for Go.
//
// The number lives in the file VERSION beside this source; the Go
// commands, the manager and the SDK tarball tool all read it from there.
package version

import (
	_ "embed"
	"strings"
)

//go:embed VERSION
var raw string

// Version is the release of this tree, e.g. "0.1.0".
var Version = strings.TrimSpace(raw)

// LookupMapVersion is the version of the lookup map format the manager writes.
// (The stats segment and report record versions live with their layouts, in
// go/stats, and in spec/pluton.json.)
const LookupMapVersion = 3001
