// Command plSubmit enqueues a durable job for a Pluton job class on NATS
// JetStream (docs/remote.md) and prints its id, or with -w waits for its
// result and prints the result data.
//
//	plSubmit [-hw] [-N natsURL] [-L lookupMap] [-C name=value ..] [-i jobID] [-t seconds] ServiceKey [payload]
//
// The payload is the operand if given, else all of stdin. Exit status 0 on
// success, 1 for any error or, with -w, a job that failed.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/pluton-go/pluton/go/client"
	"github.com/pluton-go/pluton/go/internal/cli"
	"github.com/pluton-go/pluton/go/protocol"
	"github.com/pluton-go/pluton/go/remote/jobs"
)

const usage = `Usage: plSubmit [-hw] [-N natsURL] [-L lookupMap] [-C name=value ..] [-i jobID] [-t seconds] ServiceKey [payload]

Enqueue a durable job for the job class ServiceKey (a service configured with
"jobs true") and print its id; with -w, wait for its result and print the
result data. The payload is the operand if given, else all of stdin.

  -C name=value  add a context pair to the job (repeatable)
  -h             this help
  -i jobID       the job id (letters, digits, '-', '_', '='; default: a
                 unique id); an id submitted before is not enqueued again
  -L lookupMap   lookup map or rendezvous directory, to find the NATS URL
                 the local manager uses (default ` + client.LookupHelp + `)
  -N natsURL     NATS server(s) (default $plutonNATS, then the local
                 manager's)
  -t seconds     how long -w waits, and the NATS timeout (default 30)
  -w             wait for the result: print its data, or fail with its fault
`

func main() { os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) }

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return cli.Status(execute(args, stdin, stdout, stderr))
}

func execute(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	cmd := &cli.Command{Name: "plSubmit", Spec: "hwN:L:C:i:t:", Usage: usage, Stdout: stdout, Stderr: stderr}
	opts, operands, err := cmd.Parse(args)
	if err != nil {
		return err
	}
	var (
		url, lookup, id string
		wait            bool
		timeout         = 30 * time.Second
		ctxPayload      []byte
	)
	for _, o := range opts {
		switch o.Name {
		case 'w':
			wait = true
		case 'N':
			url = o.Arg
		case 'L':
			lookup = o.Arg
		case 'i':
			if err := jobs.CheckID(o.Arg); err != nil {
				return cmd.Fail(1, "plSubmit -i: %v", err)
			}
			id = o.Arg
		case 't':
			if timeout, err = cli.PositiveSeconds("Timeout (-t)", o.Arg); err != nil {
				return cmd.OptionError(1, err)
			}
		case 'C':
			name, value, err := cli.ContextPair(o.Arg)
			if err != nil {
				return cmd.OptionError(1, err)
			}
			if protocol.IsReservedContextKey(name) {
				return cmd.Fail(1, "plSubmit -C %s: context names starting with %q are reserved", name, protocol.ReservedContextPrefix)
			}
			ctxPayload = protocol.AppendContext(ctxPayload, name, value)
		}
	}
	switch {
	case len(operands) == 0:
		return cmd.Fail(1, "Must supply ServiceKey on the command line")
	case len(operands) > 2:
		return cmd.Fail(1, "Too many command line arguments")
	}
	key := operands[0]
	var payload []byte
	if len(operands) == 2 {
		payload = []byte(operands[1])
	} else if payload, err = io.ReadAll(stdin); err != nil {
		return cmd.Fail(1, "plSubmit reading stdin: %v", err)
	}
	if url == "" {
		url = os.Getenv(client.NATSEnv)
	}
	if url == "" {
		c, err := client.New("plSubmit", client.WithLookup(lookup))
		if err != nil {
			return cmd.Fail(1, "plSubmit: no NATS URL (-N, $%s) and no local manager: %s", client.NATSEnv, cli.Message(err))
		}
		if url = c.NATS(); url == "" {
			return cmd.Fail(1, "plSubmit: no NATS URL: pass -N or set $%s, or start plutonManager with -N", client.NATSEnv)
		}
	}
	nc, err := nats.Connect(url, nats.Name("plSubmit"), nats.Timeout(min(timeout, 5*time.Second)))
	if err != nil {
		return cmd.Fail(1, "plSubmit: NATS %s: %v", url, err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return cmd.Fail(1, "plSubmit: JetStream: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	kv, err := jobs.Ensure(ctx, js, jetstream.FileStorage)
	if err != nil {
		return cmd.Fail(1, "plSubmit: %v", err)
	}
	sub, err := jobs.Submit(ctx, js, jobs.Job{ID: id, Key: key, Payload: payload, Context: ctxPayload})
	if err != nil {
		return cmd.Fail(1, "plSubmit: %v", err)
	}
	if !wait {
		if sub.Duplicate {
			fmt.Fprintf(stderr, "plSubmit: job %s was submitted before; not enqueued again\n", sub.ID)
		}
		fmt.Fprintln(stdout, sub.ID)
		return nil
	}
	res, err := jobs.WaitResult(ctx, kv, sub.ID)
	if errors.Is(err, context.DeadlineExceeded) {
		return cmd.Fail(1, "plSubmit: job %s: no result within %s (it stays queued)", sub.ID, timeout)
	}
	if err != nil {
		return cmd.Fail(1, "plSubmit: job %s: %v", sub.ID, err)
	}
	if !res.OK {
		return cmd.Fail(1, "plSubmit: job %s failed after %d attempt(s): Fault: %d:%s", sub.ID, res.Attempts, res.FaultCode, res.FaultText)
	}
	if _, err := stdout.Write(res.Data); err != nil {
		return cmd.Fail(1, "plSubmit writing the result: %v", err)
	}
	return nil
}
