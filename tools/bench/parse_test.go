package main

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseCClient(t *testing.T) {
	res, err := parseCClient([]byte("ok 3 errors 1 elapsed_ns 1500000\n100\n200\n300\n"))
	require.NoError(t, err)
	assert.Equal(t, 3, res.n)
	assert.Equal(t, 1, res.errs)
	assert.Error(t, res.firstErr)
	assert.Equal(t, 1500*time.Microsecond, res.elapsed)
	assert.Equal(t, []time.Duration{100, 200, 300}, res.lat)

	for _, bad := range []string{"", "hello\n", "ok 2 errors 0 elapsed_ns 5\n1\n", "ok 1 errors 0 elapsed_ns 5\nx\n"} {
		_, err := parseCClient([]byte(bad))
		assert.Error(t, err, "%q", bad)
	}
}

func TestParseStat(t *testing.T) {
	// A command name with a space and a parenthesis; utime 7, stime 3,
	// cutime 20, cstime 10 (fields 14-17), ppid 42.
	line := "1234 (a b) c) S 42 1234 1234 0 -1 4194560 100 0 0 0 7 3 20 10 20 0 1 0 100 1000 50"
	s, err := parseStat(1234, []byte(line))
	require.NoError(t, err)
	assert.Equal(t, 42, s.ppid)
	assert.Equal(t, 10*clockTick, s.own)
	assert.Equal(t, 40*clockTick, s.cpu)
	_, err = parseStat(1, []byte("1 (x S 1"))
	assert.Error(t, err)
}

func TestTreeOf(t *testing.T) {
	stats := []procStat{{pid: 1, ppid: 0}, {pid: 10, ppid: 1}, {pid: 11, ppid: 10}, {pid: 12, ppid: 10}, {pid: 20, ppid: 1}}
	var pids []int
	for _, s := range treeOf(stats, 10) {
		pids = append(pids, s.pid)
	}
	assert.Equal(t, []int{10, 11, 12}, pids)
	assert.Empty(t, treeOf(stats, 99))
}

func TestParseStraceC(t *testing.T) {
	out := `% time     seconds  usecs/call     calls    errors syscall
------ ----------- ----------- --------- --------- ----------------
 65.59    0.003233          20       156           munmap
  4.97    0.000245           6        36         2 newfstatat
------ ----------- ----------- --------- --------- ----------------
100.00    0.004929          11       192         2 total
`
	path := filepath.Join(t.TempDir(), "strace")
	require.NoError(t, os.WriteFile(path, []byte(out), 0o644))
	got, err := parseStraceC(path)
	require.NoError(t, err)
	assert.Equal(t, map[string]int{"munmap": 156, "newfstatat": 36}, got)
}

func TestFCGIRecords(t *testing.T) {
	b := appendRecord(nil, fcgiStdin, []byte("abc"))
	assert.Equal(t, []byte{1, fcgiStdin, 0, 1, 0, 3, 0, 0, 'a', 'b', 'c'}, b)
	big := appendRecord(nil, fcgiStdin, make([]byte, 70000))
	assert.Len(t, big, 8+65535+8+(70000-65535))
	assert.Equal(t, []byte{3, 1, 'k', 'e', 'y', 'v'}, appendPair(nil, "key", "v"))
	long := appendPair(nil, string(make([]byte, 200)), "")
	assert.Equal(t, []byte{0x80, 0, 0, 200, 0}, long[:5])
}

func TestCheckHTTPBody(t *testing.T) {
	assert.NoError(t, checkHTTPBody([]byte("HTTP/1.1 200 OK\r\nA: b\r\n\r\nhello"), 5, "\r\n\r\n"))
	assert.Error(t, checkHTTPBody([]byte("HTTP/1.1 500 Oops\r\n\r\nhello"), 5, "\r\n\r\n"))
	assert.Error(t, checkHTTPBody([]byte("Status: 404 Not Found\r\n\r\n"), 0, "\r\n\r\n"))
	assert.NoError(t, checkHTTPBody([]byte("Content-type: text/html\r\n\r\n"), 0, "\r\n\r\n"))
	assert.Error(t, checkHTTPBody([]byte("no header end"), 0, "\r\n\r\n"))
	assert.Error(t, checkHTTPBody([]byte("A: b\r\n\r\nhell"), 5, "\r\n\r\n"))
}

func TestRatioRowAndTargets(t *testing.T) {
	r := ratioRow("x", metric{med: 0.96, lo: 0.9, hi: 1, n: 3}, 0.95, true, "")
	assert.Equal(t, 1, r.met)
	assert.Equal(t, "≥ 0.95x", r.goal)
	assert.Equal(t, "0.96x (0.90x–1.00x)", r.value)
	r = ratioRow("x", metric{med: 1.2, lo: 1.2, hi: 1.2, n: 1}, 1.1, false, "")
	assert.Equal(t, 0, r.met)
	r = ratioRow("x", newMetric(nil), 1.1, false, "")
	assert.Equal(t, -1, r.met)
	v := valueRow("y", metric{med: 12, lo: 10, hi: 14, n: 3}, 50, fmtMS, "")
	assert.Equal(t, 1, v.met)
	assert.Equal(t, "< 50 ms", v.goal)
}

func TestParseBenchOutput(t *testing.T) {
	out := []byte("goos: linux\nBenchmarkCall/0B-2   \t   50000\t     21600 ns/op\t   19700 cpu-ns/op\t       0 B/op\t       0 allocs/op\nPASS\n")
	got := parseBenchOutput("./go/client/", out)
	if len(got) != 1 {
		t.Fatalf("got %d benchmarks, want 1", len(got))
	}
	b := got[0]
	if b.pkg != "go/client" || b.name != "Call/0B" || b.metrics["ns/op"] != 21600 || b.metrics["cpu-ns/op"] != 19700 ||
		b.metrics["allocs/op"] != 0 || len(b.units) != 4 {
		t.Fatalf("parsed %+v", b)
	}
}
