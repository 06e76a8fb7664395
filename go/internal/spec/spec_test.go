package spec

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
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

// sdkTable is where one SDK takes its fault table from: the generated file
// of the spec, never a table of its own.
type sdkTable struct {
	lang, path string
	// uses is the SDK's reference to its generated table.
	uses string
	// entry matches one entry of a hand-written table, which must not come back.
	entry *regexp.Regexp
}

var sdkTables = []sdkTable{
	{
		lang: "python", path: "sdk/python/src/pluton/faults.py",
		uses:  "from ._spec import FAULTS",
		entry: regexp.MustCompile(`(?m)^\s+_C\.(\w+): \("(\w+)", ("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')\),?$`),
	},
	{
		lang: "php", path: "sdk/php/src/Fault.php",
		uses:  "Spec::FAULTS",
		entry: regexp.MustCompile(`(?m)^\s+(-?\d+) => \['(\w+)', ("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')\],?$`),
	},
	{
		lang: "perl", path: "sdk/perl/lib/Pluton/Fault.pm",
		uses:  "@Pluton::Spec::FAULTS",
		entry: regexp.MustCompile(`(?m)^\s+\[\s*(-?\d+),\s*'\w+',\s*'(\w+)',\s*('(?:[^'\\]|\\.)*')\s*\],?$`),
	},
}

// sdkDisagreements lists every SDK whose fault module does not take its
// table from its generated spec file, or carries a hand-written table again.
func sdkDisagreements(t *testing.T, root string) []string {
	var out []string
	for _, tab := range sdkTables {
		src, err := os.ReadFile(filepath.Join(root, tab.path))
		require.NoError(t, err)
		if !strings.Contains(string(src), tab.uses) {
			out = append(out, fmt.Sprintf("%s: %s does not use its generated table (%s)", tab.lang, tab.path, tab.uses))
		}
		if n := len(tab.entry.FindAllString(string(src), -1)); n > 0 {
			out = append(out, fmt.Sprintf("%s: %s has a hand-written fault table (%d entries)", tab.lang, tab.path, n))
		}
	}
	sort.Strings(out)
	return out
}

// TestSDKFaultTables checks that the Python, PHP and Perl SDKs take their
// fault names and texts from the files generated from the spec. Known
// disagreements are listed, one per line, in spec/known_disagreements.txt;
// any other disagreement fails, and so does a listed one that is gone.
func TestSDKFaultTables(t *testing.T) {
	root, _ := load(t)
	known := map[string]bool{}
	b, err := os.ReadFile(filepath.Join(root, "spec/known_disagreements.txt"))
	require.NoError(t, err)
	for _, line := range strings.Split(string(b), "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			known[line] = true
		}
	}
	for _, d := range sdkDisagreements(t, root) {
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

func TestSDKTablePatterns(t *testing.T) {
	for i, line := range []string{
		`    _C.SERVICE_EXCEPTION: ("serviceException", "the service's own code failed"),`,
		`        6 => ['serviceException', "the service's own code failed"],`,
		`    [     6, 'SERVICE_EXCEPTION',   'serviceException',   'the service code died' ],`,
	} {
		assert.True(t, sdkTables[i].entry.MatchString(line), "%s pattern misses a hand-written entry", sdkTables[i].lang)
	}
}
