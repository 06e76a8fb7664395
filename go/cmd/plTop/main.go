// Command plTop is a terminal view of a running plutonManager, in the style
// of uwsgitop and "rr workers -i": its services and their instances from the
// status API, refreshed every second, sortable, with hold, halt and resume of
// the selected service.
//
//	plTop [-hb] [-i seconds] -c statusAddress
//
// docs/status.md describes the screen and the keys.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/pluton-go/pluton/go/internal/cli"
)

const usage = `Usage: plTop [-hb] [-i seconds] -c statusAddress

Watch a running plutonManager: its services (state, busy/idle/starting
instances, occupancy, backlog, request rate, p50/p99, requests, faults,
restarts) and the instances of the selected one, from the manager's status
API, refreshed every second.

  -c addr     the manager's status address, as given to its -c: a loopback
              host:port, :port or port, or a Unix socket path (anything
              containing '/'); the manager has no default, so neither has
              plTop (env plutonStatus is used when -c is not given)
  -i seconds  refresh interval (default 1; fractions allowed, at least 0.1)
  -b          batch: print one screen to stdout and exit (after a second
              look, up to 1 s later, when the manager had no window for
              the rates yet)
  -h          this help

Keys: up/down (or k/j) select a service; s cycles the sort column and S
reverses it; h holds, H halts and r resumes the selected service; q quits.
`

func main() { os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) }

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	cmd := &cli.Command{Name: "plTop", Spec: "hbc:i:", Usage: usage, Stdout: stdout, Stderr: stderr}
	opts, operands, err := cmd.Parse(args)
	if err != nil {
		return cli.Status(err)
	}
	if len(operands) > 0 {
		return cli.Status(cmd.BadUsage("unexpected argument %q", operands[0]))
	}
	addr := os.Getenv("plutonStatus")
	interval := time.Second
	batch := false
	for _, o := range opts {
		switch o.Name {
		case 'c':
			addr = o.Arg
		case 'b':
			batch = true
		case 'i':
			secs, err := strconv.ParseFloat(o.Arg, 64)
			if err != nil || secs < 0.1 || secs > 3600 {
				return cli.Status(cmd.Fail(1, "-i %s: want seconds between 0.1 and 3600", o.Arg))
			}
			interval = time.Duration(secs * float64(time.Second))
		}
	}
	if addr == "" {
		return cli.Status(cmd.BadUsage("no status address: start plutonManager with -c ADDR and run plTop -c ADDR"))
	}
	a, err := newAPI(addr)
	if err != nil {
		return cli.Status(cmd.Fail(1, "%v", err))
	}
	m := newModel(a, addr, interval)

	if batch {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		ov, err := a.Overview(ctx)
		if err == nil && ov.WindowSeconds == 0 {
			// The manager's first look has no window for the rates and
			// percentiles: take a second one an interval later (at most 1 s).
			time.Sleep(min(interval, time.Second))
			ov, err = a.Overview(ctx)
		}
		if err != nil {
			return cli.Status(cmd.Fail(1, "%v", err))
		}
		next, _ := m.Update(overviewMsg{ov: ov})
		fmt.Fprint(stdout, next.(model).render(false))
		return 0
	}

	p := tea.NewProgram(m, tea.WithAltScreen(), tea.WithInput(stdin), tea.WithOutput(stdout))
	if _, err := p.Run(); err != nil {
		return cli.Status(cmd.Fail(1, "%v", err))
	}
	return 0
}
