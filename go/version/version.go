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
const LookupMapVersion = 3001

// StatsSegmentVersion is the version of the fd 4 stats segment layout.
const StatsSegmentVersion = 1

// ReportVersion is the version of the fd 5 report record layout.
const ReportVersion = 1
