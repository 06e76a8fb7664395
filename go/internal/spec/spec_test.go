package spec

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pluton-go/pluton/go/fault"
	"github.com/pluton-go/pluton/go/stats"
)

func load(t *testing.T) (root string, s *Spec) {
	t.Helper()
	root, err := FindRoot(".")
	if err != nil {
		t.Skipf("not in a source tree (%v): the native go test run checks the spec", err)
	}
	s, err = Load(filepath.Join(root, File))
	require.NoError(t, err)
	return root, s
}

// TestGeneratedFilesFresh fails when a generated file differs from what the
// spec gives: run go generate ./go/internal/spec after editing the spec.
func TestGeneratedFilesFresh(t *testing.T) {
	root, s := load(t)
	files, err := s.Render()
	require.NoError(t, err)
	require.Len(t, files, 4)
	for path, want := range files {
		got, err := os.ReadFile(filepath.Join(root, path))
		require.NoError(t, err, "%s is missing: run go generate ./go/internal/spec", path)
		assert.Equal(t, string(want), string(got), "%s is stale: run go generate ./go/internal/spec", path)
		assert.Contains(t, string(got), "DO NOT EDIT", path)
	}
	// The generated Go tables are the ones compiled into this package.
	assert.Equal(t, s.Faults, Faults)
	assert.Equal(t, s.ExitReasons, ExitReasons)
}

func TestCheck(t *testing.T) {
	_, s := load(t)
	require.NoError(t, s.Check())
	for _, tt := range []struct {
		name   string
		mutate func(*Spec)
		err    string
	}{
		{"duplicate code", func(s *Spec) { s.Faults[1].Code = s.Faults[0].Code }, "duplicate code or name"},
		{"non-ASCII text", func(s *Spec) { s.Faults[0].English = "caf\u00e9" }, "not usable in every language"},
		{"bad name", func(s *Spec) { s.Faults[0].Name = "No Fault" }, "not usable in every language"},
		{"gap", func(s *Spec) { s.StatsSegment.Slot[1].Offset++ }, "statsSegment.slot.state: offset 5, want 4"},
		{"short", func(s *Spec) { s.StatsSegment.HeaderSize++ }, "statsSegment.header: fields end at 320, size is 321"},
		{"entries", func(s *Spec) { s.ReportRecord.MaxEntries = 15 }, "15 entries of 32 bytes"},
		{"magic", func(s *Spec) { s.StatsSegment.Magic = "PLS" }, `statsSegment.magic "PLS"`},
		{"state name", func(s *Spec) { s.SlotStates[1].Name = s.SlotStates[0].Name }, "slotStates 1: duplicate"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, c := load(t)
			tt.mutate(c)
			assert.ErrorContains(t, c.Check(), tt.err)
		})
	}
	_, err := Parse([]byte(`{"faults": [], "typo": 1}`))
	assert.ErrorContains(t, err, `unknown field "typo"`)
}

// TestGoFaultTable compares go/fault's hand-written table with the spec, in
// both directions.
func TestGoFaultTable(t *testing.T) {
	_, s := load(t)
	var diffs []string
	inSpec := map[int]bool{}
	for _, f := range s.Faults {
		inSpec[f.Code] = true
		c := fault.Code(f.Code)
		if c.Name() != f.Name || c.English() != f.English {
			diffs = append(diffs, fmt.Sprintf("%d: go/fault has %q %q, spec %q %q", f.Code, c.Name(), c.English(), f.Name, f.English))
		}
	}
	for c := fault.Code(-1000); c <= 1000; c++ {
		if c.Name() != "" && !inSpec[int(c)] {
			diffs = append(diffs, fmt.Sprintf("%d %s: in go/fault, not in the spec", c, c.Name()))
		}
	}
	assert.Empty(t, diffs, "go/fault disagrees with %s", File)
}

// TestGoStats checks go/stats against the spec: its constants, and the
// bytes it writes at the offsets the spec gives.
func TestGoStats(t *testing.T) {
	_, s := load(t)
	seg, rec := s.StatsSegment, s.ReportRecord
	assert.Equal(t, seg.Magic, stats.Magic)
	assert.Equal(t, seg.Version, stats.SegmentVersion)
	assert.Equal(t, seg.HeaderSize, stats.HeaderSize)
	assert.Equal(t, seg.SlotSize, stats.SlotSize)
	assert.Equal(t, seg.NotRecording, uint32(stats.NotRecording))
	assert.Equal(t, rec.Version, stats.ReportVersion)
	assert.Equal(t, rec.RecordSize, stats.RecordSize)
	assert.Equal(t, rec.EntrySize, stats.EntrySize)
	assert.Equal(t, rec.MaxEntries, stats.EntriesPerRecord)
	assert.Equal(t, rec.NoSlot, uint32(stats.NoSlot))
	for _, v := range s.SlotStates {
		assert.Equal(t, v.Name, stats.State(v.Value).String())
	}
	for _, v := range s.ExitReasons {
		assert.Equal(t, v.Name, stats.ExitReason(v.Value).Name())
		assert.Equal(t, v.Text, stats.ExitReason(v.Value).String())
	}
	outcomes := map[string]stats.Outcome{"readError": stats.ReadError, "writeError": stats.WriteError,
		"fault": stats.Faulted, "ok": stats.OK}
	for _, v := range s.Outcomes {
		assert.EqualValues(t, v.Value, outcomes[v.Name], v.Name)
	}

	le := binary.LittleEndian
	field := func(fields []Field, name string) Field {
		for _, f := range fields {
			if f.Name == name {
				return f
			}
		}
		t.Fatalf("no field %s in the spec", name)
		return Field{}
	}
	u32 := func(b []byte, fields []Field, name string) uint32 { return le.Uint32(b[field(fields, name).Offset:]) }
	u64 := func(b []byte, fields []Field, name string) uint64 { return le.Uint64(b[field(fields, name).Offset:]) }

	b := make([]byte, stats.SegmentSize(3))
	sg := stats.InitSegment(b, stats.HeaderConfig{Slots: 3, AffinityTimeout: 11 * time.Second, RecorderCycle: 12,
		MaximumRequestSize: 13, RequestReadTimeout: 14 * time.Millisecond, MaximumPending: 15, RecorderPrefix: "/tmp/rec."})
	h := seg.Header
	assert.Equal(t, seg.Magic, string(b[:4]))
	for name, want := range map[string]uint32{"version": uint32(seg.Version), "headerSize": uint32(seg.HeaderSize),
		"slotSize": uint32(seg.SlotSize), "slotCount": 3, "affinityTimeout": 11, "recorderCycle": 12,
		"maximumRequestSize": 13, "requestReadTimeout": 14, "maximumPending": 15} {
		assert.Equal(t, want, u32(b, h, name), "header %s", name)
	}
	prefix := field(h, "recorderPrefix")
	assert.Equal(t, "/tmp/rec.", strings.TrimRight(string(b[prefix.Offset:prefix.Offset+prefix.Size]), "\x00"))

	slot := sg.Slot(2)
	slotBytes := b[seg.HeaderSize+2*seg.SlotSize : seg.HeaderSize+3*seg.SlotSize]
	slot.SetPID(21)
	slot.StartRequest(22, 23)
	slot.FinishRequest(23, 24, 25, 26)
	slot.SetManagerFields(27, stats.MaxRequests)
	slot.SetExitReason(stats.IdleTimeout)
	slot.SetRequestIdentity(28, 29, "plSend:1")
	sl := seg.Slot
	assert.Equal(t, uint32(21), u32(slotBytes, sl, "pid"))
	assert.Equal(t, uint32(stats.StateBusy), u32(slotBytes, sl, "state"))
	for name, want := range map[string]uint64{"since": 22, "requests": 23, "responses": 24, "faults": 25,
		"busyMicros": 26, "requestID": 28} {
		assert.Equal(t, want, u64(slotBytes, sl, name), "slot %s", name)
	}
	for name, want := range map[string]uint32{"maximumRequests": 27, "shutdownRequest": uint32(stats.MaxRequests),
		"exitReason": uint32(stats.IdleTimeout), "recorderIndex": 29, "clientNameLength": 8} {
		assert.Equal(t, want, u32(slotBytes, sl, name), "slot %s", name)
	}
	cn := field(sl, "clientName")
	assert.Equal(t, "plSend:1", string(slotBytes[cn.Offset:cn.Offset+8]))

	r := stats.AppendRecord(nil, &stats.Record{PID: 31, Slot: 32, Entries: []stats.Entry{
		{}, {Outcome: stats.Faulted, DurationMicros: 33, RequestBytes: 34, ResponseBytes: 35, Function: "echo"}}})
	require.Len(t, r, rec.RecordSize)
	for name, want := range map[string]uint32{"version": uint32(rec.Version), "pid": 31, "slot": 32, "entries": 2} {
		assert.Equal(t, want, u32(r, rec.Header, name), "record %s", name)
	}
	e := r[field(rec.Header, "entry").Offset+rec.EntrySize:]
	for name, want := range map[string]uint32{"outcome": uint32(stats.Faulted), "durationMicros": 33,
		"requestBytes": 34, "responseBytes": 35} {
		assert.Equal(t, want, u32(e, rec.Entry, name), "entry %s", name)
	}
	fn := field(rec.Entry, "function")
	assert.Equal(t, "echo", strings.TrimRight(string(e[fn.Offset:fn.Offset+fn.Size]), "\x00"))
}

// sdkTable is how to find one SDK's hand-written fault table.
type sdkTable struct {
	lang, path string
	// entry matches one table entry; its groups give the code (or a
	// constant name, resolved through constant), the name and the text.
	entry    *regexp.Regexp
	constant *regexp.Regexp // constant name = code, for tables keyed by name
	unquote  func(string) string
}

var sdkTables = []sdkTable{
	{
		lang: "python", path: "sdk/python/src/pluton/faults.py",
		entry:    regexp.MustCompile(`(?m)^\s+_C\.(\w+): \("(\w+)", ("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')\),?$`),
		constant: regexp.MustCompile(`(?m)^\s+([A-Z_]+) = (-?\d+)$`),
		unquote:  unquotePython,
	},
	{
		lang: "php", path: "sdk/php/src/Fault.php",
		entry:   regexp.MustCompile(`(?m)^\s+(-?\d+) => \['(\w+)', ("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')\],?$`),
		unquote: unquoteSingle,
	},
	{
		lang: "perl", path: "sdk/perl/lib/Pluton/Fault.pm",
		entry:   regexp.MustCompile(`(?m)^\s+\[\s*(-?\d+),\s*'\w+',\s*'(\w+)',\s*('(?:[^'\\]|\\.)*')\s*\],?$`),
		unquote: unquoteSingle,
	},
}

func unquotePython(s string) string {
	if strings.HasPrefix(s, `"`) {
		if u, err := strconv.Unquote(s); err == nil {
			return u
		}
	}
	return unquoteSingle(s)
}

func unquoteSingle(s string) string {
	s = s[1 : len(s)-1]
	if strings.HasPrefix(s, `"`) {
		return s
	}
	return strings.NewReplacer(`\\`, `\`, `\'`, `'`, `\"`, `"`).Replace(s)
}

// sdkDisagreements parses each SDK's fault table and lists every entry that
// differs from the spec, every spec code it lacks and every code it has
// that the spec lacks.
func sdkDisagreements(t *testing.T, root string, s *Spec) []string {
	var out []string
	for _, tab := range sdkTables {
		src, err := os.ReadFile(filepath.Join(root, tab.path))
		require.NoError(t, err)
		consts := map[string]string{}
		if tab.constant != nil {
			for _, m := range tab.constant.FindAllStringSubmatch(string(src), -1) {
				consts[m[1]] = m[2]
			}
		}
		got := map[int]Fault{}
		for _, m := range tab.entry.FindAllStringSubmatch(string(src), -1) {
			code := m[1]
			if tab.constant != nil {
				code = consts[m[1]]
			}
			n, err := strconv.Atoi(code)
			require.NoError(t, err, "%s: entry %q", tab.path, m[0])
			got[n] = Fault{Code: n, Name: m[2], English: tab.unquote(m[3])}
		}
		require.Greater(t, len(got), 50, "%s: the fault table was not found; update the pattern in spec_test.go", tab.path)
		for _, f := range s.Faults {
			g, ok := got[f.Code]
			switch {
			case !ok:
				out = append(out, fmt.Sprintf("%s: %d %s: missing", tab.lang, f.Code, f.Name))
			case g.Name != f.Name:
				out = append(out, fmt.Sprintf("%s: %d: name %q, spec %q", tab.lang, f.Code, g.Name, f.Name))
			case g.English != f.English:
				out = append(out, fmt.Sprintf("%s: %d %s: text %q, spec %q", tab.lang, f.Code, f.Name, g.English, f.English))
			}
			delete(got, f.Code)
		}
		for code, g := range got {
			out = append(out, fmt.Sprintf("%s: %d %s: not in the spec", tab.lang, code, g.Name))
		}
	}
	sort.Strings(out)
	return out
}

// TestSDKFaultTables compares the Python, PHP and Perl SDKs' hand-written
// fault tables with the spec. Known disagreements are listed, one per line,
// in spec/known_disagreements.txt; any other disagreement fails, and so
// does a listed one that is gone (remove it from the list).
func TestSDKFaultTables(t *testing.T) {
	root, s := load(t)
	known := map[string]bool{}
	b, err := os.ReadFile(filepath.Join(root, "spec/known_disagreements.txt"))
	require.NoError(t, err)
	for _, line := range strings.Split(string(b), "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			known[line] = true
		}
	}
	got := sdkDisagreements(t, root, s)
	for _, d := range got {
		if known[d] {
			t.Logf("known disagreement: %s", d)
			delete(known, d)
			continue
		}
		t.Errorf("disagreement with %s: %s", File, d)
	}
	for d := range known {
		t.Errorf("listed in spec/known_disagreements.txt but no longer true (remove it): %s", d)
	}
}

func TestSDKTableParsers(t *testing.T) {
	assert.Equal(t, "the service's own code", unquotePython(`"the service's own code"`))
	assert.Equal(t, "the service's own code", unquoteSingle(`'the service\'s own code'`))
	assert.Equal(t, "a \\ b", unquoteSingle(`'a \\ b'`))
	assert.Equal(t, "the service's own code", unquoteSingle(`"the service's own code"`))
	m := sdkTables[1].entry.FindStringSubmatch(`        6 => ['serviceException', "the service's own code failed"],`)
	require.Len(t, m, 4)
	assert.Equal(t, []string{"6", "serviceException", `"the service's own code failed"`}, m[1:])
	m = sdkTables[2].entry.FindStringSubmatch(`    [     6, 'SERVICE_EXCEPTION',   'serviceException',   'the service code died' ],`)
	require.Len(t, m, 4)
	assert.Equal(t, []string{"6", "serviceException", `'the service code died'`}, m[1:])
}
