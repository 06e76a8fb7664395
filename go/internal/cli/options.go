package cli

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/pluton-go/pluton/go/client"
)

// ErrContext is the error of a -C value without '='; commands print it as
// the original did: "Usage Error: Context string needs an '=' character".
//
//lint:ignore ST1005 the original's wording, printed as is
var ErrContext = errors.New("Context string needs an '=' character")

// ClientOptions are the options the client commands share:
//
//	-L map      lookup map or rendezvous directory (docs/protocol.md §7.1)
//	-t seconds  request timeout, a positive number of seconds
//	-C n=v      a context pair added to every request (repeatable)
//	-d          client debug output to stderr
type ClientOptions struct {
	Lookup   string
	Timeout  time.Duration
	Debug    bool
	Contexts []client.RequestOption
}

// Set applies o if it is one of -L, -t, -C and -d, and reports whether it
// was. A bad value is an error naming the option and the value.
func (c *ClientOptions) Set(o Opt) (bool, error) {
	switch o.Name {
	case 'L':
		c.Lookup = o.Arg
	case 'd':
		c.Debug = true
	case 't':
		d, err := PositiveSeconds("Timeout (-t)", o.Arg)
		if err != nil {
			return true, err
		}
		c.Timeout = d
	case 'C':
		name, value, err := ContextPair(o.Arg)
		if err != nil {
			return true, err
		}
		c.Contexts = append(c.Contexts, client.Context(name, value))
	default:
		return false, nil
	}
	return true, nil
}

// New returns a client named name with the lookup location, the timeout (if
// set) and, with -d, a debug logger writing to stderr.
func (c *ClientOptions) New(name string, stderr io.Writer) (*client.Client, error) {
	opts := []client.Option{client.WithLookup(c.Lookup)}
	if c.Timeout > 0 {
		opts = append(opts, client.WithTimeout(c.Timeout))
	}
	if c.Debug {
		opts = append(opts, client.WithLogger(DebugLogger(stderr)))
	}
	return client.New(name, opts...)
}

// DebugLogger returns the logger of the -d option: text, debug level, to w.
func DebugLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// ContextPair splits a -C value "name=value"; a value without '=' is
// ErrContext.
func ContextPair(arg string) (name, value string, err error) {
	name, value, ok := strings.Cut(arg, "=")
	if !ok {
		return "", "", ErrContext
	}
	return name, value, nil
}

// PositiveSeconds parses a number of seconds greater than zero, e.g. "5" or
// "0.25". what names the option in the error, e.g. "Timeout (-t)".
func PositiveSeconds(what, arg string) (time.Duration, error) {
	v, err := strconv.ParseFloat(arg, 64)
	if err != nil || !(v > 0) || v > maxSeconds {
		return 0, fmt.Errorf("%s must be a positive number of seconds, not %q", what, arg)
	}
	return time.Duration(v * float64(time.Second)), nil
}

// NonNegativeSeconds parses a number of seconds, zero or more.
func NonNegativeSeconds(what, arg string) (time.Duration, error) {
	v, err := strconv.ParseFloat(arg, 64)
	if err != nil || !(v >= 0) || v > maxSeconds {
		return 0, fmt.Errorf("%s must be a non-negative number of seconds, not %q", what, arg)
	}
	return time.Duration(v * float64(time.Second)), nil
}

// maxSeconds keeps a duration in range (about 290 years fit; a year is
// plenty).
const maxSeconds = 366 * 24 * 3600

// PositiveInt parses an integer greater than zero.
func PositiveInt(what, arg string) (int, error) {
	n, err := strconv.Atoi(arg)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("%s must be a positive integer, not %q", what, arg)
	}
	return n, nil
}

// NonNegativeInt parses an integer, zero or more.
func NonNegativeInt(what, arg string) (int, error) {
	n, err := strconv.Atoi(arg)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%s must be a non-negative integer, not %q", what, arg)
	}
	return n, nil
}

// OptionError prints err for a bad option value and returns &Exit{code}:
// "Usage Error: <err>" for ErrContext (the original's wording), else
// "Error: <err>".
func (c *Command) OptionError(code int, err error) error {
	if errors.Is(err, ErrContext) {
		fmt.Fprintf(c.Stderr, "Usage Error: %v\n", err)
		return &Exit{Code: code}
	}
	return c.Fail(code, "%v", err)
}
