// Command plSend sends one request to a Pluton service and writes the
// response data to stdout.
//
//	plSend [-edhno] [-L lookupMap] [-C name=value ..] [-t timeoutSeconds] ServiceKey [requestString]
//
// The request data is requestString if given, else all of stdin. Exit status
// 0 on success, 1 for any error (the message goes to stderr).
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/pluton-go/pluton/go/client"
	"github.com/pluton-go/pluton/go/client/cli"
	"github.com/pluton-go/pluton/go/fault"
)

const usage = `Usage: plSend [-edhno] [-L lookupMap] [-C name=value ..] [-t timeoutSeconds] ServiceKey [requestString]

Send one request to a Pluton service and write the response data to stdout.
The request data is requestString if given, else all of stdin.

  -C name=value  add a context pair (repeatable)
  -d             client debug output to stderr
  -e             print "Elapsed Time: S.UUUUUU" to stderr
  -h             this help
  -L lookupMap   lookup map or rendezvous directory
                 (default $plutonLookupMap, then ` + client.DefaultLookupPath + `)
  -n             append a newline to the response
  -o             noRetry
  -t seconds     timeout (default 4)
`

func main() { os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) }

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	opts, operands, err := cli.Getopt(args, "edhnoL:C:t:")
	if err != nil {
		fmt.Fprintf(stderr, "plSend: %v\n%s", err, usage)
		return 1
	}
	var (
		elapsed, newline bool
		lookup           string
		timeout          = client.DefaultTimeout
		reqOpts          []client.RequestOption
		clientOpts       []client.Option
	)
	for _, o := range opts {
		switch o.Name {
		case 'h':
			fmt.Fprint(stdout, usage)
			return 0
		case 'e':
			elapsed = true
		case 'd':
			clientOpts = append(clientOpts, client.WithLogger(slog.New(slog.NewTextHandler(stderr,
				&slog.HandlerOptions{Level: slog.LevelDebug}))))
		case 'n':
			newline = true
		case 'o':
			reqOpts = append(reqOpts, client.NoRetry())
		case 'L':
			lookup = o.Arg
		case 'C':
			name, value, ok := strings.Cut(o.Arg, "=")
			if !ok {
				fmt.Fprintln(stderr, "Usage Error: Context string needs an '=' character")
				return 1
			}
			reqOpts = append(reqOpts, client.Context(name, value))
		case 't':
			n, err := strconv.Atoi(o.Arg)
			if err != nil || n <= 0 {
				fmt.Fprintf(stderr, "Error: Timeout (-t) must be a positive integer, not %q\n", o.Arg)
				return 1
			}
			timeout = time.Duration(n) * time.Second
		}
	}
	switch {
	case len(operands) == 0:
		fmt.Fprintln(stderr, "Error: Must supply ServiceKey on the command line")
		return 1
	case len(operands) > 2:
		fmt.Fprintln(stderr, "Error: Too many command line arguments")
		return 1
	}
	key := operands[0]
	var data []byte
	if len(operands) == 2 {
		data = []byte(operands[1])
	} else if data, err = io.ReadAll(stdin); err != nil {
		fmt.Fprintf(stderr, "Error: plSend reading stdin: %v\n", err)
		return 1
	}

	clientOpts = append(clientOpts, client.WithLookup(lookup), client.WithTimeout(timeout))
	c, err := client.New("plSend", clientOpts...)
	if err != nil {
		fmt.Fprintf(stderr, "Error: plSend initialize:  %s\n", message(err))
		return 1
	}
	start := time.Now()
	resp, err := c.Call(context.Background(), key, data, reqOpts...)
	if elapsed {
		fmt.Fprintf(stderr, "Elapsed Time: %s\n", cli.Seconds(time.Since(start)))
	}
	if err != nil {
		var f *fault.Fault
		switch {
		case !errors.As(err, &f):
			fmt.Fprintf(stderr, "Error: plSend %v\n", err)
		case f.Code == fault.ServiceTimeout:
			fmt.Fprintln(stderr, "Error: plSend timed out")
		case addRequestFault(f.Code):
			fmt.Fprintf(stderr, "Error: plSend addRequest:  %s\n", f.Message("", true))
		default:
			fmt.Fprintf(stderr, "Error: plSend Fault: %d:%s\n", f.Code, faultText(f))
		}
		return 1
	}
	stdout.Write(resp.Data)
	if newline {
		io.WriteString(stdout, "\n")
	}
	return 0
}

// addRequestFault reports the faults the original raised in addRequest,
// before any I/O (its lookup happened there too).
func addRequestFault(c fault.Code) bool {
	switch c {
	case fault.NotInitialized, fault.RequestAlreadyAdded, fault.BadRequestLength, fault.NoAffinity,
		fault.NoWaitNotAllowed, fault.NeedNoRetry, fault.ContextReservedNamespace,
		fault.ServiceNotFound, fault.ServiceKeyBad, fault.LookupButNoMap, fault.PersistentRemapFlag:
		return true
	}
	return false
}

// faultText is the fault's text, or, for a system fault without one, the
// text of its cause.
func faultText(f *fault.Fault) string {
	if f.Text == "" && f.Err != nil {
		return f.Err.Error()
	}
	if f.Code.IsSystem() && f.Err != nil {
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
