// Command plBatch is a load generator: it sends requests to one service key
// with a fixed number outstanding and reports throughput, latency
// percentiles and errors by fault.
//
//	plBatch (-n requests | -d duration) [-p parallel] [-s size] [-C name=value ..] [-L map] [-t timeout] [-DEhoqw] ServiceKey
//
// The original plBatch read a command list for the loadSimulator service
// from stdin; that mode is not carried over (see docs/client.md).
package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/pluton-go/pluton/go/client"
	"github.com/pluton-go/pluton/go/fault"
	"github.com/pluton-go/pluton/go/internal/cli"
)

const usage = `Usage: plBatch (-n requests | -d duration) [-p parallel] [-s size] [-C name=value ..]
               [-L map] [-t timeout] [-DEhoqw] ServiceKey

Send requests to ServiceKey with -p outstanding at all times and report the
throughput, the latency percentiles and the errors by fault.

  -n requests    send this many requests
  -d duration    send for this long (e.g. 10s, 1m, or seconds)
  -p parallel    requests outstanding at once (default 1)
  -s size        request size in bytes (default 0)
  -C name=value  add a context pair to every request (repeatable)
  -L map         lookup map or rendezvous directory
  -t timeout     request timeout in seconds (default 4)
  -o             noRetry
  -w             noWait (replies are empty; nothing is checked)
  -E             do not check that replies echo the request
  -q             no progress line (it is shown only when stderr is a terminal)
  -D             client debug output to stderr
  -h             this help

Exit: 0 all requests succeeded, 1 some failed, 2 usage or setup error.
`

const (
	exitOK     = 0
	exitErrors = 1
	exitUsage  = 2
)

type config struct {
	requests int64
	duration time.Duration
	parallel int
	size     int
	client   cli.ClientOptions // -L, -t, -C, -D
	key      string
	noCheck  bool
	quiet    bool
	opts     []client.RequestOption
	noWait   bool
}

// worker results, merged at the end.
type result struct {
	hist     cli.Histogram
	faults   map[fault.Code]int
	mismatch int
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr, isTerminal(os.Stderr)))
}

func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

func run(args []string, stdout, stderr io.Writer, progress bool) int {
	cfg := config{parallel: 1}
	cmd := &cli.Command{Name: "plBatch", Spec: "DEhoqwn:d:p:s:C:L:t:", Usage: usage,
		UsageExit: exitUsage, Stdout: stdout, Stderr: stderr}
	opts, operands, err := cmd.Parse(args)
	if err != nil {
		return cli.Status(err)
	}
	cfg.client.Timeout = client.DefaultTimeout
	bad := func(err error) int { return cli.Status(cmd.OptionError(exitUsage, err)) }
	for _, o := range opts {
		switch o.Name {
		case 'D':
			cfg.client.Debug = true
		case 'E':
			cfg.noCheck = true
		case 'q':
			cfg.quiet = true
		case 'o':
			cfg.opts = append(cfg.opts, client.NoRetry())
		case 'w':
			cfg.noWait = true
			cfg.opts = append(cfg.opts, client.NoWait())
		case 'n':
			n, err := cli.PositiveInt("Requests (-n)", o.Arg)
			if err != nil {
				return bad(err)
			}
			cfg.requests = int64(n)
		case 'd':
			if cfg.duration, err = parseDuration(o.Arg); err != nil || cfg.duration <= 0 {
				return cli.Status(cmd.Fail(exitUsage, "Duration (-d) must be positive, e.g. 10s, not %q", o.Arg))
			}
		case 'p':
			if cfg.parallel, err = cli.PositiveInt("Parallel (-p)", o.Arg); err != nil {
				return bad(err)
			}
		case 's':
			if cfg.size, err = cli.NonNegativeInt("Size (-s)", o.Arg); err != nil {
				return bad(err)
			}
		default: // -C, -L, -t
			if _, err := cfg.client.Set(o); err != nil {
				return bad(err)
			}
		}
	}
	switch {
	case len(operands) == 0:
		return cli.Status(cmd.Fail(exitUsage, "Must supply ServiceKey on the command line"))
	case len(operands) > 1:
		return cli.Status(cmd.Fail(exitUsage, "Too many command line arguments"))
	case (cfg.requests == 0) == (cfg.duration == 0):
		return cli.Status(cmd.Fail(exitUsage, "Give exactly one of -n requests and -d duration"))
	}
	cfg.key = operands[0]
	cfg.opts = append(cfg.opts, cfg.client.Contexts...)
	if cfg.quiet {
		progress = false
	}
	return load(&cfg, stdout, stderr, progress)
}

func parseDuration(s string) (time.Duration, error) {
	if v, err := strconv.ParseFloat(s, 64); err == nil {
		return time.Duration(v * float64(time.Second)), nil
	}
	return time.ParseDuration(s)
}

func load(cfg *config, stdout, stderr io.Writer, progress bool) int {
	c, err := cfg.client.New("plBatch", stderr)
	if err != nil {
		fmt.Fprintf(stderr, "Error: plBatch initialize: %s\n", cli.Message(err))
		return exitUsage
	}
	data := make([]byte, cfg.size)
	for i := range data {
		data[i] = byte('a' + i%26)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	var (
		remaining atomic.Int64
		completed atomic.Int64
		failed    atomic.Int64
		end       time.Time
		start     = time.Now()
	)
	remaining.Store(cfg.requests)
	if cfg.duration > 0 {
		end = start.Add(cfg.duration)
	}
	results := make([]result, cfg.parallel)
	var wg sync.WaitGroup
	for w := range results {
		wg.Add(1)
		go func(res *result) {
			defer wg.Done()
			res.faults = map[fault.Code]int{}
			for ctx.Err() == nil {
				if cfg.requests > 0 {
					if remaining.Add(-1) < 0 {
						return
					}
				} else if time.Now().After(end) {
					return
				}
				t0 := time.Now()
				resp, err := c.Call(context.Background(), cfg.key, data, cfg.opts...)
				res.hist.Record(time.Since(t0))
				completed.Add(1)
				switch {
				case err != nil:
					var f *fault.Fault
					code := fault.Code(0)
					if errors.As(err, &f) {
						code = f.Code
					}
					res.faults[code]++
					failed.Add(1)
				case !cfg.noCheck && !cfg.noWait && !bytes.Equal(resp.Data, data):
					res.mismatch++
					failed.Add(1)
				}
			}
		}(&results[w])
	}

	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
wait:
	for {
		select {
		case <-done:
			break wait
		case <-tick.C:
			if progress {
				el := time.Since(start)
				n := completed.Load()
				fmt.Fprintf(stderr, "\r%6.1fs %10d requests %10.1f req/s %6d errors ", el.Seconds(), n,
					float64(n)/el.Seconds(), failed.Load())
			}
		}
	}
	elapsed := time.Since(start)
	if progress {
		fmt.Fprint(stderr, "\r\033[K")
	}

	var total result
	total.faults = map[fault.Code]int{}
	for i := range results {
		total.hist.Merge(&results[i].hist)
		for code, n := range results[i].faults {
			total.faults[code] += n
		}
		total.mismatch += results[i].mismatch
	}
	n := total.hist.Count()
	h := &total.hist
	fmt.Fprintf(stdout, "plBatch: %s requests=%d parallel=%d size=%d elapsed=%s\n",
		cfg.key, n, cfg.parallel, cfg.size, cli.Seconds(elapsed))
	rate := float64(n) / elapsed.Seconds()
	fmt.Fprintf(stdout, "Throughput: %.1f req/s %.2f MB/s\n", rate, rate*float64(2*cfg.size)/1e6)
	fmt.Fprintf(stdout, "Latency: min=%s p50=%s p90=%s p99=%s max=%s avg=%s\n",
		cli.Seconds(h.Min()), cli.Seconds(h.Percentile(50)), cli.Seconds(h.Percentile(90)),
		cli.Seconds(h.Percentile(99)), cli.Seconds(h.Max()), cli.Seconds(h.Mean()))
	errs := total.mismatch
	for _, v := range total.faults {
		errs += v
	}
	fmt.Fprintf(stdout, "Errors: %d\n", errs)
	codes := make([]fault.Code, 0, len(total.faults))
	for code := range total.faults {
		codes = append(codes, code)
	}
	slices.Sort(codes)
	for _, code := range codes {
		name := code.Name()
		if name == "" {
			name = "service fault"
		}
		fmt.Fprintf(stdout, "  %d %s: %d\n", code, name, total.faults[code])
	}
	if total.mismatch > 0 {
		fmt.Fprintf(stdout, "  reply does not echo the request: %d\n", total.mismatch)
	}
	if errs > 0 {
		return exitErrors
	}
	return exitOK
}
