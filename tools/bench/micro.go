package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// microPackages are the packages whose go test benchmarks the report shows:
// the client library (against a real echoService), the wire protocol and the
// service library.
var microPackages = []string{"./go/client/", "./go/protocol/", "./go/service/"}

// microBench is one line of `go test -bench -benchmem` output.
type microBench struct {
	pkg     string
	name    string
	metrics map[string]float64 // by unit: ns/op, B/op, allocs/op, cpu-ns/op, ...
	units   []string           // in the order printed
}

// runMicro runs the Go micro-benchmarks of microPackages.
func (b *bench) runMicro() {
	benchtime := "1s"
	if b.e.quick {
		benchtime = "2000x"
	}
	for _, pkg := range microPackages {
		cmd := exec.Command("go", "test", "-run", "^$", "-bench", ".", "-benchmem", "-count", "1",
			"-benchtime", benchtime, pkg)
		cmd.Dir = b.e.root
		cmd.Env = append(os.Environ(), "PLUTON_BIN="+filepath.Join(b.e.root, "bin"))
		out, err := cmd.CombinedOutput()
		if err != nil {
			b.microErr = fmt.Errorf("go test -bench %s: %v\n%s", pkg, err, out)
			return
		}
		b.micro = append(b.micro, parseBenchOutput(pkg, out)...)
	}
}

// parseBenchOutput reads the Benchmark lines of go test output.
func parseBenchOutput(pkg string, out []byte) []microBench {
	var res []microBench
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 4 || !strings.HasPrefix(fields[0], "Benchmark") {
			continue
		}
		name := strings.TrimPrefix(fields[0], "Benchmark")
		if i := strings.LastIndexByte(name, '-'); i > 0 {
			name = name[:i] // the GOMAXPROCS suffix
		}
		mb := microBench{pkg: strings.Trim(pkg, "./"), name: name, metrics: map[string]float64{}}
		for i := 2; i+1 < len(fields); i += 2 {
			v, err := strconv.ParseFloat(fields[i], 64)
			if err != nil {
				continue
			}
			mb.metrics[fields[i+1]] = v
			mb.units = append(mb.units, fields[i+1])
		}
		res = append(res, mb)
	}
	return res
}

// microTable is the table of the Go micro-benchmarks, or nil if none ran.
func microTable(b *bench) *mdTable {
	if len(b.micro) == 0 {
		return nil
	}
	t := &mdTable{Head: []string{"package", "benchmark", "ns/op", "cpu-ns/op", "B/op", "allocs/op", "other"}}
	for _, mb := range b.micro {
		var other []string
		for _, u := range mb.units {
			switch u {
			case "ns/op", "cpu-ns/op", "B/op", "allocs/op":
			default:
				other = append(other, strconv.FormatFloat(mb.metrics[u], 'g', 4, 64)+" "+u)
			}
		}
		cell := func(u string) string {
			if v, ok := mb.metrics[u]; ok {
				return strconv.FormatFloat(v, 'f', -1, 64)
			}
			return ""
		}
		t.Rows = append(t.Rows, []string{mb.pkg, mb.name, cell("ns/op"), cell("cpu-ns/op"), cell("B/op"),
			cell("allocs/op"), strings.Join(other, ", ")})
	}
	return t
}
