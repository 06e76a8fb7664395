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
	"os"
	"time"

	"github.com/pluton-go/pluton/go/client"
	"github.com/pluton-go/pluton/go/fault"
	"github.com/pluton-go/pluton/go/internal/cli"
)

const usage = `Usage: plSend [-edhno] [-L lookupMap] [-C name=value ..] [-t timeoutSeconds] ServiceKey [requestString]

Send one request to a Pluton service and write the response data to stdout.
The request data is requestString if given, else all of stdin.

  -C name=value  add a context pair (repeatable)
  -d             client debug output to stderr
  -e             print "Elapsed Time: S.UUUUUU" to stderr
  -h             this help
  -L lookupMap   lookup map or rendezvous directory
                 (default ` + client.LookupHelp + `)
  -n             append a newline to the response
  -o             noRetry
  -t seconds     timeout, a positive number of seconds (default 4)
`

func main() { os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) }

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return cli.Status(execute(args, stdin, stdout, stderr))
}

func execute(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	cmd := &cli.Command{Name: "plSend", Spec: "edhnoL:C:t:", Usage: usage, Stdout: stdout, Stderr: stderr}
	opts, operands, err := cmd.Parse(args)
	if err != nil {
		return err
	}
	var (
		elapsed, newline bool
		copts            = cli.ClientOptions{Timeout: client.DefaultTimeout}
		reqOpts          []client.RequestOption
	)
	for _, o := range opts {
		switch o.Name {
		case 'e':
			elapsed = true
		case 'n':
			newline = true
		case 'o':
			reqOpts = append(reqOpts, client.NoRetry())
		default:
			if _, err := copts.Set(o); err != nil {
				return cmd.OptionError(1, err)
			}
		}
	}
	switch {
	case len(operands) == 0:
		return cmd.Fail(1, "Must supply ServiceKey on the command line")
	case len(operands) > 2:
		return cmd.Fail(1, "Too many command line arguments")
	}
	key := operands[0]
	var data []byte
	if len(operands) == 2 {
		data = []byte(operands[1])
	} else if data, err = io.ReadAll(stdin); err != nil {
		return cmd.Fail(1, "plSend reading stdin: %v", err)
	}

	c, err := copts.New("plSend", stderr)
	if err != nil {
		return cmd.Fail(1, "plSend initialize: %s", cli.Message(err))
	}
	start := time.Now()
	resp, err := c.Call(context.Background(), key, data, append(copts.Contexts, reqOpts...)...)
	if elapsed {
		fmt.Fprintf(stderr, "Elapsed Time: %s\n", cli.Seconds(time.Since(start)))
	}
	if err != nil {
		var f *fault.Fault
		switch {
		case !errors.As(err, &f):
			return cmd.Fail(1, "plSend %v", err)
		case f.Code == fault.ServiceTimeout:
			return cmd.Fail(1, "plSend timed out")
		case cli.AddRequestFault(f.Code):
			return cmd.Fail(1, "plSend addRequest: %s", f.Message("", true))
		default:
			return cmd.Fail(1, "plSend Fault: %d:%s", f.Code, cli.FaultText(f))
		}
	}
	if newline {
		resp.Data = append(resp.Data, '\n')
	}
	if _, err := stdout.Write(resp.Data); err != nil {
		return cmd.Fail(1, "plSend writing the response: %v", err)
	}
	return nil
}
