// Command plTest runs a service once, without a manager (reference §8.1).
//
//	plTest [-hen] [-C name=value ..] [-K ServiceKey] [-i filein] [-o fileout] [--] [servicePath [args]]
//
// It reads the request data from stdin (or -i), builds a request packet (id
// 0, no client name, timeout 0, key -K, contexts -C), starts the service
// with the request on its fd 3 and its fd 4 connected back, and writes the
// response data to stdout (or -o). Without a service path it prints the raw
// request packet instead.
//
// Exit status: 0 on success or when the service sent nothing; 1 for a
// fault, a bad response packet, a truncated response or a service that died
// before reading the request.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/pluton-go/pluton/go/fault"
	"github.com/pluton-go/pluton/go/internal/cli"
	"github.com/pluton-go/pluton/go/protocol"
	"github.com/pluton-go/pluton/go/servicekey"
)

const usage = `Usage: plTest [-hen]  [-C name=context .. ] [-K ServiceKey]
              [-i filein] [-o fileout]
              -- [serviceExecutionPath [Arguments]]

Generate a request and run the service using STDIN as the source of
request data. Response Data is written to STDOUT.

Where:
 -C   Set the context for this request - multiple occurences ok
 -h   Print this usage message on STDOUT and exit(0)
 -e   Print Child Exit details
 -i   Use this file as the request data instead of STDIN
       Useful when running the service under a debugger
 -K   Define the serviceKey passed to the service in the
       request (default: plTest.service.0.raw)
 -n   Append a Newline to the output
 -o   Use this file to write the response data instead of STDOUT
       Useful when running the service under a debugger

 ServiceKey: Place in request (default: plTest.service.0.raw)

ServiceExecutionpath: Location of the service executable. If not
supplied, the request packet is written to STDOUT and -o is ignored.

Arguments: passed to the service executable (searched in PATH)

`

// options are the parsed command line.
type options struct {
	exitDetails bool
	newline     bool
	key         string
	context     []byte
	in          *os.File
	out         *os.File
	command     []string
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	opts, err := parseArgs(args, stdout, stderr)
	if err != nil {
		return cli.Status(err)
	}
	if opts.in != nil {
		defer opts.in.Close()
		stdin = opts.in
	}
	data, err := io.ReadAll(stdin)
	if err != nil {
		fmt.Fprintf(stderr, "plTest: reading the request data: %v\n", err)
		return 1
	}
	req := protocol.Request{ServiceKey: opts.key, Context: opts.context, Data: data}
	if len(opts.command) == 0 {
		if _, err := stdout.Write(protocol.AppendRequest(nil, &req)); err != nil {
			fmt.Fprintf(stderr, "plTest: writing the request packet: %v\n", err)
			return 1
		}
		return 0
	}
	var out io.Writer = stdout
	if opts.out != nil {
		defer opts.out.Close()
		out = opts.out
	}
	return runService(opts, &req, out, stderr)
}

// parseArgs parses the options as getopt("+C:ehi:K:no:") does: options end at
// the first non-option (the service path), so the service's own arguments are
// never taken for plTest's. Errors are printed; the error returned carries
// the exit status.
func parseArgs(args []string, stdout, stderr io.Writer) (*options, error) {
	cmd := &cli.Command{Name: "plTest", Spec: "C:ehi:K:no:", Usage: usage, Stdout: stdout, Stderr: stderr}
	parsed, operands, err := cmd.Parse(args)
	if err != nil {
		return nil, err
	}
	opts := &options{key: "plTest.service.0.raw"}
	for _, o := range parsed {
		switch o.Name {
		case 'e':
			opts.exitDetails = true
		case 'n':
			opts.newline = true
		default:
			if err := opts.set(cmd, o.Name, o.Arg); err != nil {
				opts.close()
				return nil, err
			}
		}
	}
	opts.command = operands
	if _, err := servicekey.Parse(opts.key); err != nil {
		opts.close()
		fmt.Fprintf(stderr, "plTest ServiceKey Error: %v\n", err)
		return nil, &cli.Exit{Code: 1}
	}
	return opts, nil
}

// close closes the -i and -o files.
func (o *options) close() {
	if o.in != nil {
		o.in.Close()
	}
	if o.out != nil {
		o.out.Close()
	}
}

// set applies one option that takes a value.
func (o *options) set(cmd *cli.Command, c byte, val string) error {
	switch c {
	case 'C':
		k, v, err := cli.ContextPair(val)
		if err != nil {
			return cmd.OptionError(1, err)
		}
		if protocol.IsReservedContextKey(k) {
			return cmd.Fail(1, "plTest Fault: %d:Context Key uses reserved prefix of '%s'",
				fault.ContextReservedNamespace, protocol.ReservedContextPrefix)
		}
		o.context = protocol.AppendContext(o.context, k, v)
	case 'i':
		f, err := os.Open(val)
		if err != nil {
			return cmd.Fail(1, "Could not open '%s' for input: %v", val, err)
		}
		o.in = f
	case 'K':
		o.key = val
	case 'o':
		f, err := os.Create(val)
		if err != nil {
			return cmd.Fail(1, "Could not open '%s' for output: %v", val, err)
		}
		o.out = f
	}
	return nil
}

// runService starts the service with the request on its fd 3 and its fd 4
// connected back to us, and handles the response.
func runService(opts *options, req *protocol.Request, out, stderr io.Writer) int {
	// As under the manager, the service starts with SIGPIPE ignored; a
	// service that goes away early is then an EPIPE for us, not a signal.
	signal.Ignore(syscall.SIGPIPE)

	toChild, childIn, err := socketPair()
	if err != nil {
		fmt.Fprintf(stderr, "plTest: socketpair() meToThem failed: %v\n", err)
		return 1
	}
	fromChild, childOut, err := socketPair()
	if err != nil {
		fmt.Fprintf(stderr, "plTest: socketpair() themToMe failed: %v\n", err)
		return 1
	}
	cmd := exec.Command(opts.command[0], opts.command[1:]...)
	if errors.Is(cmd.Err, exec.ErrDot) {
		cmd.Err = nil // execvp runs a program found through a relative PATH entry
	}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.ExtraFiles = []*os.File{childIn, childOut} // fd 3 and fd 4
	err = cmd.Start()
	childIn.Close()
	childOut.Close()
	if err != nil {
		fmt.Fprintf(stderr, "plTest: execvp() failed: %v\n", err)
		return 1
	}

	// Write the request while reading the response, so that neither side
	// blocks on a full socket buffer; then end the service's input.
	written := make(chan error, 1)
	go func() {
		head, trailer := protocol.AppendRequestHead(nil, req)
		err := writeParts(toChild, head, req.Data, []byte(trailer))
		_ = unix.Shutdown(int(toChild.Fd()), unix.SHUT_WR)
		written <- err
	}()
	status := readResponse(fromChild, out, opts.newline, stderr)
	fromChild.Close()
	writeErr := <-written
	toChild.Close()

	waitErr := cmd.Wait()
	reportChild(cmd, waitErr, opts.exitDetails, stderr)
	if writeErr != nil {
		fmt.Fprintln(stderr, "Child has exited prematurely")
		return 1
	}
	return status
}

// readResponse reads one response packet and writes its data to out. It
// returns the exit status.
func readResponse(r io.Reader, out io.Writer, newline bool, stderr io.Writer) int {
	var resp protocol.Response
	err := protocol.NewResponseDecoder(r).ReadResponse(&resp)
	var se *protocol.SyntaxError
	var de *protocol.DecodeError
	switch {
	case errors.Is(err, io.EOF):
		return 0 // the service sent nothing at all
	case errors.As(err, &se):
		fmt.Fprintf(stderr, "plTest: Packet parse error: %s\n", se.Msg)
		return 1
	case errors.As(err, &de) && de.Msg == "unexpected EOF in packet":
		fmt.Fprintln(stderr, "plTest: End of File on response socket")
		return 1
	case errors.As(err, &de):
		fmt.Fprintf(stderr, "plTest: Packet decode failed: %s\n", de.Msg)
		return 1
	case err != nil:
		fmt.Fprintf(stderr, "plTest: read() error on response socket: %v\n", err)
		return 1
	}
	if resp.FaultCode != 0 {
		fmt.Fprintf(stderr, "plTest: Fault %d:%s\n", resp.FaultCode, resp.FaultText)
		return 1
	}
	data := resp.Data
	if newline {
		data = append(data, '\n')
	}
	if _, err := out.Write(data); err != nil {
		fmt.Fprintf(stderr, "plTest: writing the response data: %v\n", err)
		return 1
	}
	return 0
}

// reportChild prints the child's exit details as the original did.
func reportChild(cmd *exec.Cmd, waitErr error, details bool, stderr io.Writer) {
	var ws syscall.WaitStatus
	ok := cmd.ProcessState != nil
	if ok {
		ws, ok = cmd.ProcessState.Sys().(syscall.WaitStatus)
	}
	if !ok {
		if waitErr != nil {
			fmt.Fprintf(stderr, "plTest: wait: %v\n", waitErr)
		}
		return
	}
	if details {
		fmt.Fprintf(stderr, "Child exit status = %d\n", ws.ExitStatus()&0xff)
	}
	switch {
	case ws.Exited() && ws.ExitStatus() != 0:
		fmt.Fprintf(stderr, "Warning: plTest Service exit(%d)\n", ws.ExitStatus())
	case ws.Signaled():
		fmt.Fprintf(stderr, "Warning: plTest Service killed(%d)\n", int(ws.Signal()))
	}
}

// socketPair returns the two ends of a Unix stream socketpair as files.
func socketPair() (mine, theirs *os.File, err error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, err
	}
	return os.NewFile(uintptr(fds[0]), "plTest-parent"), os.NewFile(uintptr(fds[1]), "plTest-child"), nil
}

// writeParts writes the request packet in its three parts, so that large
// request data is not copied.
func writeParts(f *os.File, parts ...[]byte) error {
	for _, p := range parts {
		if _, err := f.Write(p); err != nil {
			return err
		}
	}
	return nil
}
