// Package vectors describes the conformance vectors stored beside it:
// cases.json and, per case, the request packets (<name>.in) and the expected
// response packets (<name>.out).
package vectors

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
)

// ServiceName is the s field every testee writes, with the pid replaced by 0.
const ServiceName = "testee:0/0"

// Expectations of a case.
const (
	ExpectOK    = "ok"    // the testee answers every packet and exits 0
	ExpectError = "error" // the testee answers the packets before the bad one, then exits non-zero
)

// Case is one conformance case.
type Case struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	In          string `json:"in"`               // file of request packets, back to back
	Out         string `json:"out"`              // file of expected response packets
	Expect      string `json:"expect"`           // ExpectOK or ExpectError
	Stderr      string `json:"stderr,omitempty"` // for ExpectError: text the testee's stderr must contain
	// PlTest marks a one-packet case that plTest can send: the runner takes
	// the key, context and data from the request in In (plTest itself sends
	// id 0, no client name and timeout 0) and the expected data or fault
	// from the response in Out.
	PlTest bool `json:"pltest,omitempty"`
}

// Load reads cases.json from dir.
func Load(dir string) ([]Case, error) {
	b, err := os.ReadFile(filepath.Join(dir, "cases.json"))
	if err != nil {
		return nil, fmt.Errorf("conformance vectors: %w", err)
	}
	var cases []Case
	if err := json.Unmarshal(b, &cases); err != nil {
		return nil, fmt.Errorf("conformance vectors: cases.json: %w", err)
	}
	return cases, nil
}

var serviceNameField = regexp.MustCompile(`\d+stestee:\d+/0,`)

// NormalizeServiceName replaces the pid in every testee s field, so that
// output from any process compares equal to the stored vectors.
func NormalizeServiceName(b []byte) []byte {
	return serviceNameField.ReplaceAll(b, []byte(fmt.Sprintf("%ds%s,", len(ServiceName), ServiceName)))
}

// DefaultMaximumRequestSize is the maximum-request-size of a testee without
// a stats segment, as in stand-alone mode (docs/protocol.md §8): a longer
// length prefix is refused with fault 3 before its payload is read.
const DefaultMaximumRequestSize = 64 << 20
