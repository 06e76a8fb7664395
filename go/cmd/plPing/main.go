// Command plPing measures round trips to an echo service.
//
//	plPing [-dhKkNnow] [-c count] [-C sleepMS] [-i wait] [-s size] [-L map] [-p parallel] [-t timeout] [ServiceKey]
//
// Each round sends -p requests at once (default 1) of -s bytes (default 0)
// and checks that the replies echo them. It runs -c rounds (default: until
// interrupted), -i seconds apart (default 1; 0 floods), and ends with a
// latency report. See the usage text for the exit codes.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"time"

	"github.com/pluton-go/pluton/go/client"
	"github.com/pluton-go/pluton/go/fault"
	"github.com/pluton-go/pluton/go/internal/cli"
)

const usage = `Usage: plPing [-dhKkNnow] [-c count] [-C sleepMS] [-i wait] [-s size] [-L map] [-p parallel] [-t timeout] [ServiceKey]

Send rounds of echo requests (ServiceKey default system.echo.0.raw) and report
the round-trip times.

  -c count     rounds to run (default: until interrupted)
  -C sleepMS   context echo.sleepMS=sleepMS (the bare value, sent as is;
               echo.sleepMS=<digits> is taken as <digits>)
  -d           client debug output to stderr
  -h           this help
  -i wait      seconds between rounds (default 1; 0 = flood, no per-reply lines)
  -k           context echo.die (the echo service exits)
  -K           keepAffinity (with -o) on every request; requests are reused
  -L map       lookup map or rendezvous directory
  -n           do not check the reply contents (the length is still checked)
  -N           needAffinity from the second round on
  -o           noRetry
  -p parallel  requests per round, sent at once (default 1)
  -s size      request size in bytes (default 0)
  -t timeout   request timeout in seconds (default 5)
  -w           noWait (the reply is empty by design; its length is not checked)

Exit: 0 ok, 1 fault, 2 length changed, 3 payload corrupted, 4 bad -c, 5 bad -i,
6 bad -p, 7 bad -s, 8 bad -t, 9 bad option, 10 too many arguments,
11 initialize failed, 12 request rejected, 13 wait error, 14 fault (parallel),
15 fewer replies than count*parallel, 16 timed out.
`

// Exit codes of the original plPing.
const (
	exitOK = iota
	exitFault
	exitLength
	exitCorrupt
	exitBadCount
	exitBadInterval
	exitBadParallel
	exitBadSize
	exitBadTimeout
	exitBadOption
	exitTooManyArgs
	exitInitialize
	exitAddRequest
	exitWaitOne
	exitFaultAny
	exitShort
	exitTimeout
)

type config struct {
	count           int // rounds; 0 = until interrupted
	parallel        int
	size            int
	interval        time.Duration
	timeout         time.Duration
	sleepMS         string
	die, noCheck    bool
	keep, need      bool
	noRetry, noWait bool
	debug           bool
	lookup, key     string
	stop            *atomic.Bool // set by SIGINT
	stdout, stderr  io.Writer
	startLetter     int
}

func main() {
	var stop atomic.Bool
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt)
	go func() {
		<-sig
		stop.Store(true)
		signal.Stop(sig) // a second ^C kills
	}()
	os.Exit(run(os.Args[1:], &stop, os.Stdout, os.Stderr))
}

func run(args []string, stop *atomic.Bool, stdout, stderr io.Writer) int {
	cfg := config{parallel: 1, interval: time.Second, timeout: 5 * time.Second,
		key: "system.echo.0.raw", stop: stop, stdout: stdout, stderr: stderr,
		startLetter: int(time.Now().Unix() % 26)}
	cmd := &cli.Command{Name: "plPing", Spec: "dhKkNnowc:C:i:s:L:p:t:", Usage: usage,
		UsageExit: exitBadOption, Stdout: stdout, Stderr: stderr}
	opts, operands, err := cmd.Parse(args)
	if err != nil {
		return cli.Status(err)
	}
	for _, o := range opts {
		switch o.Name {
		case 'd':
			cfg.debug = true
		case 'K':
			cfg.keep = true
		case 'k':
			cfg.die = true
		case 'N':
			cfg.need = true
		case 'n':
			cfg.noCheck = true
		case 'o':
			cfg.noRetry = true
		case 'w':
			cfg.noWait = true
		case 'L':
			cfg.lookup = o.Arg
		case 'C':
			cfg.sleepMS = sleepValue(o.Arg)
		case 'c':
			if cfg.count, err = cli.PositiveInt("Count (-c)", o.Arg); err != nil {
				return cli.Status(cmd.OptionError(exitBadCount, err))
			}
		case 'i':
			if cfg.interval, err = cli.NonNegativeSeconds("Interval (-i)", o.Arg); err != nil {
				return cli.Status(cmd.OptionError(exitBadInterval, err))
			}
		case 'p':
			if cfg.parallel, err = cli.PositiveInt("Parallel (-p)", o.Arg); err != nil {
				return cli.Status(cmd.OptionError(exitBadParallel, err))
			}
		case 's':
			if cfg.size, err = cli.NonNegativeInt("Size (-s)", o.Arg); err != nil {
				return cli.Status(cmd.OptionError(exitBadSize, err))
			}
		case 't':
			if cfg.timeout, err = cli.PositiveSeconds("Timeout (-t)", o.Arg); err != nil {
				return cli.Status(cmd.OptionError(exitBadTimeout, err))
			}
		}
	}
	switch len(operands) {
	case 0:
	case 1:
		cfg.key = operands[0]
	default:
		return cli.Status(cmd.Fail(exitTooManyArgs, "Too many command line arguments"))
	}
	return ping(&cfg)
}

// sleepValue returns the value of context echo.sleepMS for -C: the bare
// argument, as the original took it. The form "echo.sleepMS=<digits>" is
// accepted too and means <digits>: it cannot be meant as a value, since the
// echo service reads the value as a number of milliseconds.
func sleepValue(arg string) string {
	if v, ok := strings.CutPrefix(arg, "echo.sleepMS="); ok && v != "" && strings.Trim(v, "0123456789") == "" {
		return v
	}
	return arg
}

func ping(cfg *config) int {
	copts := []client.Option{client.WithLookup(cfg.lookup), client.WithTimeout(cfg.timeout)}
	if cfg.debug {
		copts = append(copts, client.WithLogger(cli.DebugLogger(cfg.stderr)))
	}
	c, err := client.New("plPing", copts...)
	if err != nil {
		fmt.Fprintf(cfg.stderr, "Error: plPing initialize: %s\n", cli.Message(err))
		return exitInitialize
	}

	data := make([]byte, cfg.size)
	for i := range data {
		data[i] = byte('A' + (cfg.startLetter+i)%26)
	}
	reqs := make([]*client.Request, cfg.parallel)
	for i := range reqs {
		r := client.NewRequest(cfg.key, data)
		if cfg.sleepMS != "" {
			r.SetContext("echo.sleepMS", cfg.sleepMS)
		}
		if cfg.die {
			r.SetContext("echo.die", "")
		}
		if cfg.noRetry {
			r.SetAttributes(client.NoRetryAttr)
		}
		if cfg.noWait {
			r.SetAttributes(client.NoWaitAttr)
		}
		if cfg.keep {
			r.SetAttributes(client.KeepAffinityAttr)
		}
		r.Handle = i
		reqs[i] = r
	}
	defer func() {
		for _, r := range reqs {
			r.Close()
		}
	}()

	var (
		hist          cli.Histogram
		replies       int
		read, written int64
		batch         = c.NewBatch()
		ctx           = context.Background()
		start         = time.Now()
	)
	for round := 0; cfg.count == 0 || round < cfg.count; round++ {
		if cfg.stop.Load() {
			break
		}
		if round > 0 && cfg.interval > 0 {
			time.Sleep(cfg.interval)
		}
		if round == 1 && cfg.need {
			for _, r := range reqs {
				r.SetAttributes(client.NeedAffinityAttr)
			}
		}
		for _, r := range reqs {
			if err := batch.Add(ctx, r); err != nil {
				fmt.Fprintf(cfg.stderr, "Error: plPing addRequest: %s\n", cli.Message(err))
				batch.WaitAll()
				return exitAddRequest
			}
			written += int64(len(data))
		}
		for range reqs {
			var r *client.Request
			if cfg.parallel == 1 {
				r = reqs[0]
				batch.WaitOne(r)
			} else if r = batch.WaitAny(); r == nil {
				fmt.Fprintln(cfg.stderr, "Error: plPing wait returned nothing")
				return exitWaitOne
			}
			if rc := check(cfg, r, data); rc != exitOK {
				batch.WaitAll()
				return rc
			}
			replies++
			got := len(r.Response().Data)
			read += int64(got)
			hist.Record(r.Elapsed())
			if cfg.interval > 0 {
				fmt.Fprintf(cfg.stdout, "%d bytes: seq=%d/%d time=%s\n", got, replies, r.Handle.(int), cli.Seconds(r.Elapsed()))
			}
		}
	}
	elapse := time.Since(start)
	fmt.Fprintf(cfg.stdout, "plPings: %d Read=%d Write=%d Min: %s Max: %s Avg: %s P50: %s P99: %s Elapse: %s\n",
		replies, read, written, cli.Seconds(hist.Min()), cli.Seconds(hist.Max()), cli.Seconds(hist.Mean()),
		cli.Seconds(hist.Percentile(50)), cli.Seconds(hist.Percentile(99)), cli.Seconds(elapse))
	if cfg.count > 0 && replies < cfg.count*cfg.parallel {
		fmt.Fprintf(cfg.stderr, "Error: only %d of %d replies\n", replies, cfg.count*cfg.parallel)
		return exitShort
	}
	return exitOK
}

// check returns the exit code for a completed request.
func check(cfg *config, r *client.Request, data []byte) int {
	if err := r.Err(); err != nil {
		var f *fault.Fault
		if !errors.As(err, &f) {
			fmt.Fprintf(cfg.stderr, "Fault: %v\n", err)
			return exitFault
		}
		switch {
		case f.Code == fault.ServiceTimeout:
			fmt.Fprintln(cfg.stderr, "Request timed out")
			return exitTimeout
		case cli.AddRequestFault(f.Code):
			// The original looked the key up when the request was added; we
			// find out when connecting, and keep its exit code.
			fmt.Fprintf(cfg.stderr, "Error: plPing addRequest: %s\n", f.Message("", true))
			return exitAddRequest
		}
		fmt.Fprintf(cfg.stderr, "Fault: %d %s\n", f.Code, cli.FaultText(f))
		if cfg.parallel > 1 {
			return exitFaultAny
		}
		return exitFault
	}
	if cfg.noWait {
		return exitOK
	}
	got := r.Response().Data
	if len(got) != len(data) {
		fmt.Fprintf(cfg.stderr, "Error: Length changed: sent %d, received %d\n", len(data), len(got))
		return exitLength
	}
	if !cfg.noCheck && string(got) != string(data) {
		fmt.Fprintln(cfg.stderr, "Error: Payload corrupted")
		return exitCorrupt
	}
	return exitOK
}
