// Package cli is the command-line layer shared by every Pluton command
// (plSend, plPing, plBatch, plLookup, plTest, plNetStringGrep,
// plReloadManager, plKillOldServices, plVersion): one getopt-style option
// parser, one way of printing usage and errors, the shared -L/-t/-C/-d
// options, fault formatting, and the latency histogram of the reports.
//
// Every command behaves the same way at its edges:
//
//   - "-h" (or "--help") prints the usage text to stdout and exits 0;
//   - an unknown option, a missing option argument or a bad operand prints
//     "<command>: <what was wrong>" and the usage text to stderr and exits
//     with the command's usage status (1 unless the command documents
//     another, as plPing's 9 and plBatch's and plReloadManager's 2);
//   - a bad option value prints "Error: <what was wrong>" to stderr and
//     exits with the command's status for it.
package cli

import (
	"errors"
	"fmt"
	"io"
	"strings"
)

// Command describes one command for parsing its command line.
type Command struct {
	// Name is the command's name, e.g. "plSend".
	Name string
	// Spec is the getopt(3) option string, e.g. "dhL:t:". "h" is always
	// taken as the help option, whether listed or not.
	Spec string
	// Usage is the full usage text, ending in a newline.
	Usage string
	// UsageExit is the exit status for bad usage (0 means 1).
	UsageExit int
	// Stdout and Stderr receive the usage and error messages.
	Stdout, Stderr io.Writer
}

// Exit ends a command with a status after its message has been printed.
// Parse and Fail return it; Status extracts the status.
type Exit struct {
	// Code is the process exit status.
	Code int
}

// Error returns "exit <code>".
func (e *Exit) Error() string { return fmt.Sprintf("exit %d", e.Code) }

// Status returns the exit status carried by err: the code of an *Exit, 0 for
// nil, and 1 for any other error.
func Status(err error) int {
	var e *Exit
	switch {
	case err == nil:
		return 0
	case errors.As(err, &e):
		return e.Code
	default:
		return 1
	}
}

func (c *Command) usageExit() int {
	if c.UsageExit == 0 {
		return 1
	}
	return c.UsageExit
}

// Parse parses args (without the program name) with the command's option
// string. On "-h" or "--help" it prints the usage to stdout and returns
// &Exit{0}; on an unknown option or a missing argument it prints the error
// and the usage to stderr and returns &Exit{UsageExit}. The caller returns
// Status(err) whenever err is not nil.
func (c *Command) Parse(args []string) (opts []Opt, operands []string, err error) {
	spec := c.Spec
	if strings.IndexByte(spec, 'h') < 0 {
		spec = "h" + spec
	}
	if longHelp(args, spec) {
		return nil, nil, c.Help()
	}
	opts, operands, err = Getopt(args, spec)
	for _, o := range opts { // as getopt's loop: a -h before a bad option wins
		if o.Name == 'h' {
			return nil, nil, c.Help()
		}
	}
	if err != nil {
		return nil, nil, c.BadUsage("%v", err)
	}
	return opts, operands, nil
}

// Help prints the usage text to stdout and returns &Exit{0}.
func (c *Command) Help() error {
	fmt.Fprint(c.Stdout, c.Usage)
	return &Exit{Code: 0}
}

// BadUsage prints "<command>: <message>", a blank line and the usage text to
// stderr, and returns &Exit{UsageExit}.
func (c *Command) BadUsage(format string, a ...any) error {
	fmt.Fprintf(c.Stderr, "%s: %s\n\n%s", c.Name, fmt.Sprintf(format, a...), c.Usage)
	return &Exit{Code: c.usageExit()}
}

// Fail prints "Error: <message>" to stderr and returns &Exit{code}.
func (c *Command) Fail(code int, format string, a ...any) error {
	fmt.Fprintf(c.Stderr, "Error: %s\n", fmt.Sprintf(format, a...))
	return &Exit{Code: code}
}

// longHelp reports whether "--help" comes among the options of args, where
// getopt would see it as an option (not as the argument of one, nor after
// the options end).
func longHelp(args []string, spec string) bool {
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--help":
			return true
		case a == "--" || len(a) < 2 || a[0] != '-':
			return false
		}
		for j := 1; j < len(a); j++ {
			k := strings.IndexByte(spec, a[j])
			if k >= 0 && k+1 < len(spec) && spec[k+1] == ':' {
				if j == len(a)-1 {
					i++ // the next word is this option's argument
				}
				break
			}
		}
	}
	return false
}
