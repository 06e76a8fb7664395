// Command bench measures Pluton for Go against the physical floor (a C and a
// Go server doing the bare exchange, a bare worker per scripting language)
// and against the peers users would pick instead (PHP-FPM, gunicorn), and
// writes docs/benchmarks.md and the charts in docs/bench/.
//
// Usage:
//
//	cd tools/bench && go run . [-quick] [-only latency,throughput,languages,sizes,profile,burst,cost,micro] [-sweep sizes] [-langs python,php,perl|none] [-out docs] [-v]
//
// Every figure compares configurations measured in the same run: rounds of
// each configuration are interleaved and the report gives the median of the
// rounds and their range. -quick runs fewer and shorter rounds and finishes
// in under two minutes.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

var (
	verbose bool
	began   = time.Now()
)

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "[%6.1fs] %s\n", time.Since(began).Seconds(), fmt.Sprintf(format, args...))
}

func main() {
	quick := flag.Bool("quick", false, "fewer and shorter rounds (under two minutes)")
	out := flag.String("out", "", "directory for benchmarks.md and bench/*.png (default: <repo>/docs)")
	only := flag.String("only", "", "comma-separated scenarios to run (latency,throughput,languages,sizes,profile,burst,cost,micro); default all")
	sweep := flag.String("sweep", "", "comma-separated request sizes in bytes of the size sweep (default 0,1024,16384,65536,262144,1048576,8388608)")
	langs := flag.String("langs", "", "comma-separated languages of the size sweep besides Go (python,php,perl; \"none\" for Go only); default all")
	keep := flag.Bool("keep", false, "keep the temporary directory")
	flag.BoolVar(&verbose, "v", false, "copy the output of every server to stderr")
	flag.Parse()
	if *sweep != "" {
		var sizes []int
		for _, f := range strings.Split(*sweep, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n < 0 {
				fmt.Fprintf(os.Stderr, "bench: -sweep: %q is not a size in bytes\n", f)
				os.Exit(2)
			}
			sizes = append(sizes, n)
		}
		sweepSizes = sizes
	}
	if *langs != "" {
		if err := pickSweepLangs(*langs); err != nil {
			fmt.Fprintln(os.Stderr, "bench: -langs:", err)
			os.Exit(2)
		}
	}

	root, err := repoRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
	if *out == "" {
		*out = filepath.Join(root, "docs")
	}
	tmp, err := os.MkdirTemp("", "plb")
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
	cleanup := func() {
		stopAll()
		if !*keep {
			_ = os.RemoveAll(tmp)
		}
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	go func() {
		s := <-sigs
		logf("%v: stopping every process started", s)
		cleanup()
		os.Exit(130)
	}()
	code := 0
	if err := runAll(root, tmp, *out, *quick, *only); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		code = 1
	}
	cleanup()
	os.Exit(code)
}

func runAll(root, tmp, out string, quick bool, only string) error {
	want := func(s string) bool {
		if only == "" {
			return true
		}
		for _, o := range strings.Split(only, ",") {
			if strings.TrimSpace(o) == s {
				return true
			}
		}
		return false
	}
	e := &env{root: root, tmp: tmp, quick: quick}
	info := machineInfo()
	logf("setting up in %s", tmp)
	if err := setup(e); err != nil {
		return err
	}
	b := newBench(e)
	if want("latency") || want("throughput") || want("languages") || want("sizes") || want("profile") {
		b.startEchoManager()
	}
	steps := []struct {
		name string
		fn   func()
	}{
		{"latency", b.runLatency},
		{"throughput", b.runThroughput},
		{"languages", b.runLanguages},
		{"sizes", b.runSizes},
		{"profile", b.runProfile},
		{"stop", b.stopServers},
		{"burst", b.runBurst},
		{"cost", b.runCost},
		{"micro", b.runMicro},
	}
	for _, s := range steps {
		if s.name == "stop" || want(s.name) {
			logf("== %s", s.name)
			s.fn()
		}
	}
	info.loadEnd = loadAvg()
	info.wall = time.Since(began)
	if err := os.MkdirAll(filepath.Join(out, "bench"), 0o755); err != nil {
		return err
	}
	charts := writeCharts(b, filepath.Join(out, "bench"))
	md, err := renderReport(b, info, charts, only)
	if err != nil {
		return err
	}
	path := filepath.Join(out, "benchmarks.md")
	if err := os.WriteFile(path, []byte(md), 0o644); err != nil {
		return err
	}
	logf("wrote %s (%d charts) in %v", path, len(charts), time.Since(began).Round(time.Second))
	fmt.Print(summaryText(b))
	return nil
}

// stopServers stops the floors, the peers and the echo manager.
func (b *bench) stopServers() {
	for _, s := range b.floors {
		if s != nil {
			t0 := time.Now()
			s.stop()
			if d := time.Since(t0); d > 200*time.Millisecond {
				logf("stopping %s (%d workers) took %v", s.label, s.workers, d.Round(time.Millisecond))
			}
		}
	}
	if b.mgr != nil {
		n := len(childPids(b.mgr.p.pid()))
		took := b.mgr.stop()
		b.e.note("stopping the manager of the echo services (%d idle Go, Python, PHP and Perl instances) with SIGTERM took %s", n, durMS(took))
	}
}

// repoRoot finds the module root from the working directory.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && strings.Contains(string(b)+"\n", "module github.com/pluton-go/pluton\n") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("run it inside the repository (no go.mod of github.com/pluton-go/pluton above %s)", dir)
		}
		dir = parent
	}
}
