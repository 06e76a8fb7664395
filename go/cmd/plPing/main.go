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
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/pluton-go/pluton/go/client"
	"github.com/pluton-go/pluton/go/client/cli"
	"github.com/pluton-go/pluton/go/fault"
)

const usage = `Usage: plPing [-dhKkNnow] [-c count] [-C sleepMS] [-i wait] [-s size] [-L map] [-p parallel] [-t timeout] [ServiceKey]

Send rounds of echo requests (ServiceKey default system.echo.0.raw) and report
the round-trip times.

  -c count     rounds to run (default: until interrupted)
  -C sleepMS   context echo.sleepMS=sleepMS (a bare value; echo.sleepMS=V also works)
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
	opts, operands, err := cli.Getopt(args, "dhKkNnowc:C:i:s:L:p:t:")
	if err != nil {
		fmt.Fprintf(stderr, "plPing: %v\n%s", err, usage)
		return exitBadOption
	}
	for _, o := range opts {
		switch o.Name {
		case 'h':
			fmt.Fprint(stderr, usage)
			return exitOK
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
			cfg.sleepMS = strings.TrimPrefix(o.Arg, "echo.sleepMS=")
		case 'c':
			if cfg.count, err = strconv.Atoi(o.Arg); err != nil || cfg.count <= 0 {
				fmt.Fprintf(stderr, "Error: Count (-c) must be a positive integer, not %q\n", o.Arg)
				return exitBadCount
			}
		case 'i':
			v, err := strconv.ParseFloat(o.Arg, 64)
			if err != nil || v < 0 {
				fmt.Fprintf(stderr, "Error: Interval (-i) must be a non-negative number of seconds, not %q\n", o.Arg)
				return exitBadInterval
			}
			cfg.interval = time.Duration(v * float64(time.Second))
		case 'p':
			if cfg.parallel, err = strconv.Atoi(o.Arg); err != nil || cfg.parallel <= 0 {
				fmt.Fprintf(stderr, "Error: Parallel (-p) must be a positive integer, not %q\n", o.Arg)
				return exitBadParallel
			}
		case 's':
			if cfg.size, err = strconv.Atoi(o.Arg); err != nil || cfg.size < 0 {
				fmt.Fprintf(stderr, "Error: Size (-s) must be a non-negative integer, not %q\n", o.Arg)
				return exitBadSize
			}
		case 't':
			v, err := strconv.ParseFloat(o.Arg, 64)
			if err != nil || v <= 0 {
				fmt.Fprintf(stderr, "Error: Timeout (-t) must be a positive number of seconds, not %q\n", o.Arg)
				return exitBadTimeout
			}
			cfg.timeout = time.Duration(v * float64(time.Second))
		}
	}
	switch len(operands) {
	case 0:
	case 1:
		cfg.key = operands[0]
	default:
		fmt.Fprintln(stderr, "Error: Too many command line arguments")
		return exitTooManyArgs
	}
	return ping(&cfg)
}

func ping(cfg *config) int {
	copts := []client.Option{client.WithLookup(cfg.lookup), client.WithTimeout(cfg.timeout)}
	if cfg.debug {
		copts = append(copts, client.WithLogger(slog.New(slog.NewTextHandler(cfg.stderr,
			&slog.HandlerOptions{Level: slog.LevelDebug}))))
	}
	c, err := client.New("plPing", copts...)
	if err != nil {
		fmt.Fprintf(cfg.stderr, "Error: plPing initialize:  %s\n", message(err))
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
				fmt.Fprintf(cfg.stderr, "Error: plPing addRequest:  %s\n", message(err))
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
		switch f.Code {
		case fault.ServiceTimeout:
			fmt.Fprintln(cfg.stderr, "Request timed out")
			return exitTimeout
		case fault.ServiceNotFound:
			// The original looked the key up when the request was added; we
			// find out when connecting, and keep its exit code.
			fmt.Fprintf(cfg.stderr, "Error: plPing addRequest:  %s\n", f.Message("", true))
			return exitAddRequest
		}
		fmt.Fprintf(cfg.stderr, "Fault: %d %s\n", f.Code, faultText(f))
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

func faultText(f *fault.Fault) string {
	if f.Code.IsSystem() && f.Err != nil {
		if f.Text == "" {
			return f.Err.Error()
		}
		return f.Text + ": " + f.Err.Error()
	}
	return f.Text
}

func message(err error) string {
	var f *fault.Fault
	if errors.As(err, &f) {
		return f.Message("", true)
	}
	return err.Error()
}
