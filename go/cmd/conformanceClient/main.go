// Command conformanceClient is the Go SDK's client driver for the
// conformance suite (conformance/README.md):
//
//	conformanceClient <lookup> <key> [-C key=value]... [-w] < data
//
// It sends one request with go/client (-w: noWait), writes the response data
// to stdout and exits 0, or writes "FAULT <code> <text>" to stderr and exits 1.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/pluton-go/pluton/go/client"
	"github.com/pluton-go/pluton/go/fault"
)

const usage = "usage: conformanceClient <lookup> <key> [-C key=value]... [-w] < data\n"

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) < 2 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	lookup, key := args[0], args[1]
	var opts []client.RequestOption
	for i := 2; i < len(args); i++ {
		a := args[i]
		var pair string
		switch {
		case a == "-w":
			opts = append(opts, client.NoWait())
			continue
		case a == "-C" && i+1 < len(args):
			i++
			pair = args[i]
		case strings.HasPrefix(a, "-C") && len(a) > 2:
			pair = a[2:]
		default:
			fmt.Fprintf(stderr, "conformanceClient: unexpected argument %q\n%s", a, usage)
			return 2
		}
		k, v, ok := strings.Cut(pair, "=")
		if !ok {
			fmt.Fprintf(stderr, "conformanceClient: -C needs key=value\n%s", usage)
			return 2
		}
		opts = append(opts, client.Context(k, v))
	}
	data, err := io.ReadAll(stdin)
	if err != nil {
		fmt.Fprintf(stderr, "conformanceClient: reading the request data: %v\n", err)
		return 2
	}
	c, err := client.New("goClient", client.WithLookup(lookup))
	if err != nil {
		return fail(stderr, err)
	}
	resp, err := c.Call(context.Background(), key, data, opts...)
	if err != nil {
		return fail(stderr, err)
	}
	if _, err := stdout.Write(resp.Data); err != nil {
		fmt.Fprintf(stderr, "conformanceClient: writing the response: %v\n", err)
		return 2
	}
	return 0
}

// fail writes "FAULT <code> <text>" and returns the exit status 1.
func fail(stderr io.Writer, err error) int {
	var f *fault.Fault
	if !errors.As(err, &f) {
		f = fault.Wrap(fault.SeriousInternalOSError, err.Error(), err)
	}
	fmt.Fprintf(stderr, "FAULT %d %s\n", f.Code, f.Text)
	return 1
}
