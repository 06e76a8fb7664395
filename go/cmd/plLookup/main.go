// Command plLookup shows where the client library sends requests for
// service keys.
//
//	plLookup [-dhq] [-t timeout] [-L lookupMap] [ServiceKeys...]
//
// For each key found it prints <SK>=<searchKey>=<socketPath>, where the
// search key is App.Ser.Ver.Func for an exact match and App.Ser.Ver when the
// key resolved to its wildcard service. Exit status 0 if every key was found
// (or none was given), else 1.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"github.com/pluton-go/pluton/go/client"
	"github.com/pluton-go/pluton/go/client/cli"
	"github.com/pluton-go/pluton/go/fault"
)

const usage = `Usage: plLookup [-dhq] [-t timeout] [-L lookupMap] [ServiceKeys...]

Show the socket each service key resolves to: <SK>=<searchKey>=<socketPath>.

  -d             debug output to stderr
  -h             this help
  -L lookupMap   lookup map or rendezvous directory
                 (default $plutonLookupMap, then ` + client.DefaultLookupPath + `)
  -q             quiet: no "Lookup Path" and "Not Found" lines
  -t seconds     retry missing keys (and a missing map) every 100 ms for up to
                 this long, e.g. while the manager starts
`

// retryInterval is how often -t retries.
const retryInterval = 100 * time.Millisecond

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	opts, keys, err := cli.Getopt(args, "dhqt:L:")
	if err != nil {
		fmt.Fprintf(stderr, "plLookup: %v\n%s", err, usage)
		return 1
	}
	var (
		quiet, debug bool
		lookup       string
		wait         time.Duration
	)
	for _, o := range opts {
		switch o.Name {
		case 'h':
			fmt.Fprint(stdout, usage)
			return 0
		case 'd':
			debug = true
		case 'q':
			quiet = true
		case 'L':
			lookup = o.Arg
		case 't':
			n, err := strconv.ParseFloat(o.Arg, 64)
			if err != nil || n < 0 {
				fmt.Fprintf(stderr, "Error: Timeout (-t) must be a non-negative number of seconds, not %q\n", o.Arg)
				return 1
			}
			wait = time.Duration(n * float64(time.Second))
		}
	}
	path := client.LookupPath(lookup)
	if !quiet {
		fmt.Fprintf(stdout, "Lookup Path: %s\n", path)
	}
	deadline := time.Now().Add(wait)

	var c *client.Client
	for {
		c, err = client.New("plLookup", client.WithLookup(path))
		if err == nil || !time.Now().Before(deadline) {
			break
		}
		time.Sleep(retryInterval)
	}
	if err != nil {
		code := fault.Code(0)
		var f *fault.Fault
		if errors.As(err, &f) {
			code = f.Code
		}
		fmt.Fprintf(stderr, "Error: map of %s failed: %d\n", path, code)
		if debug {
			fmt.Fprintf(stderr, "plLookup: %v\n", err)
		}
		return 1
	}
	if debug {
		fmt.Fprintf(stderr, "plLookup: rendezvous directory %s\n", c.Rendezvous())
	}

	pending, bad := keys, 0
	for {
		var missing []string
		for _, key := range pending {
			loc, err := c.Lookup(key)
			var f *fault.Fault
			switch {
			case err == nil:
				fmt.Fprintf(stdout, "%s=%s=%s\n", key, loc.SearchKey, loc.SocketPath)
			case errors.As(err, &f) && f.Code == fault.ServiceKeyBad:
				fmt.Fprintf(stdout, "Bad Service Key: %s: %s\n", key, f.Text)
				bad++
			default:
				missing = append(missing, key)
			}
		}
		pending = missing
		if len(pending) == 0 || !time.Now().Before(deadline) {
			break
		}
		time.Sleep(retryInterval)
	}
	if !quiet {
		for _, key := range pending {
			fmt.Fprintf(stdout, "Not Found: %s\n", key)
		}
	}
	if len(pending) > 0 || bad > 0 {
		return 1
	}
	return 0
}
