// Command plutonManager runs Pluton services: it reads one configuration
// file per service from -C, creates each service's rendezvous socket and
// stats segment in -R, writes the lookup map -L, starts and stops service
// instances to match the load, and logs to stdout. docs/manager.md describes
// it.
package main

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/pluton-go/pluton/go/manager/logging"
	"github.com/pluton-go/pluton/go/manager/manager"
	"github.com/pluton-go/pluton/go/manager/process"
	"github.com/pluton-go/pluton/go/version"
)

const usage = `Usage: plutonManager [-hno] [-C configDir] [-L lookupMap] [-R rendezvousDir]
        [-c statusAddress] [-e emergencyExitDelay] [-l logFlag]... [-s statsInterval]

  -C dir     configuration directory, one file per service key (default .)
  -L path    lookup map path (default ./lookup.map)
  -R dir     rendezvous directory for sockets and stats segments (default .)
  -c addr    status and control API: loopback host:port, :port, port, or a
             Unix socket path (anything containing '/')
  -e secs    emergency exit delay once shutdown starts (default 30)
  -h         print this help and exit
  -l flag    turn on a log category (repeatable, or comma separated):
             processStart processLog processExit processUsage serviceConfig
             serviceStart serviceExit calibrate, or the groups process,
             service, all
  -n         check the configuration (every file loads, every exec is an
             executable file, every user/group exists), print each problem,
             and exit: 0 if there is none, 1 otherwise; starts nothing
  -o         accepted for compatibility; does nothing
  -s secs    periodic statistics interval (default 600)
`

func main() {
	process.RunLimitsWrapper() // returns unless started as an instance's limits wrapper
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	opts := manager.DefaultOptions()
	opts.Stdout, opts.Stderr = stdout, stderr
	bad := func(format string, a ...any) int {
		fmt.Fprint(stderr, usage)
		msg := fmt.Sprintf(format, a...)
		fmt.Fprintf(stdout, "FATAL: %s\n", msg)
		fmt.Fprintf(stderr, "FATAL: %s\n", msg)
		return 1
	}
	seconds := func(v string) (time.Duration, bool) {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return 0, false
		}
		return time.Duration(n) * time.Second, true
	}
	var rest []string
	checkOnly := false
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			rest = args[i+1:]
			break
		}
		if len(a) < 2 || a[0] != '-' {
			return bad("Invoked with bad parameter: %s", a)
		}
		for j := 1; j < len(a); j++ {
			opt := a[j]
			switch opt {
			case 'h':
				fmt.Fprint(stdout, usage)
				fmt.Fprintf(stdout, "\nVersion %s\n", version.Version)
				return 0
			case 'o':
				continue
			case 'n':
				checkOnly = true
				continue
			case 'C', 'L', 'R', 'c', 'e', 'l', 's':
			default:
				return bad("Invoked with bad parameter: -%c", opt)
			}
			// An option with a value: the rest of this word, or the next word.
			v := a[j+1:]
			if v == "" {
				if i+1 >= len(args) {
					return bad("Option -%c needs a value", opt)
				}
				i++
				v = args[i]
			}
			j = len(a)
			var ok bool
			switch opt {
			case 'C':
				opts.ConfigDir = v
			case 'L':
				opts.LookupMap = v
			case 'R':
				opts.RendezvousDir = v
			case 'c':
				opts.StatusAddr = v
			case 'e':
				if opts.EmergencyExit, ok = seconds(v); !ok {
					return bad("-e %s: want a whole number of seconds, at least 1", v)
				}
			case 's':
				if opts.StatsInterval, ok = seconds(v); !ok {
					return bad("-s %s: want a whole number of seconds, at least 1", v)
				}
			case 'l':
				for _, name := range strings.Split(v, ",") {
					c, err := logging.ParseCategory(strings.TrimSpace(name))
					if err != nil {
						return bad("Unknown logging flag: %s (want one of %s)", name, strings.Join(logging.CategoryNames(), " "))
					}
					opts.Logging |= c
				}
			}
		}
	}
	if len(rest) > 0 {
		return bad("Invoked with bad parameter: %s", rest[0])
	}
	if checkOnly {
		return manager.Check(opts.ConfigDir, stdout)
	}
	return manager.Run(opts)
}
