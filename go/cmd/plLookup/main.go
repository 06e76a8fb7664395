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
	"time"

	"github.com/pluton-go/pluton/go/client"
	"github.com/pluton-go/pluton/go/fault"
	"github.com/pluton-go/pluton/go/internal/cli"
)

const usage = `Usage: plLookup [-dhq] [-t timeout] [-L lookupMap] [ServiceKeys...]

Show the socket each service key resolves to: <SK>=<searchKey>=<socketPath>.

  -d             debug output to stderr
  -h             this help
  -L lookupMap   lookup map or rendezvous directory
                 (default ` + client.LookupHelp + `)
  -q             quiet: no "Lookup Path" and "Not Found" lines
  -t seconds     retry missing keys (and a missing map) every 100 ms for up to
                 this long, e.g. while the manager starts
`

// retryInterval is how often -t retries.
const retryInterval = 100 * time.Millisecond

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	cmd := &cli.Command{Name: "plLookup", Spec: "dhqt:L:", Usage: usage, Stdout: stdout, Stderr: stderr}
	opts, keys, err := cmd.Parse(args)
	if err != nil {
		return cli.Status(err)
	}
	var (
		quiet, debug bool
		lookup       string
		wait         time.Duration
	)
	for _, o := range opts {
		switch o.Name {
		case 'd':
			debug = true
		case 'q':
			quiet = true
		case 'L':
			lookup = o.Arg
		case 't':
			if wait, err = cli.NonNegativeSeconds("Timeout (-t)", o.Arg); err != nil {
				return cli.Status(cmd.OptionError(1, err))
			}
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
		fmt.Fprintf(stderr, "Error: map of %s failed: %d\n", path, cli.Code(err))
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
