package cli

import (
	"bytes"
	"errors"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pluton-go/pluton/go/fault"
)

func TestGetopt(t *testing.T) {
	tests := []struct {
		args     []string
		opts     []Opt
		operands []string
		err      string
	}{
		{[]string{"-KoN", "-c", "3", "key"}, []Opt{{'K', ""}, {'o', ""}, {'N', ""}, {'c', "3"}}, []string{"key"}, ""},
		{[]string{"-c3", "-Lmap", "a", "b"}, []Opt{{'c', "3"}, {'L', "map"}}, []string{"a", "b"}, ""},
		{[]string{"-oc", "5"}, []Opt{{'o', ""}, {'c', "5"}}, []string{}, ""},
		{[]string{"-oc5", "x"}, []Opt{{'o', ""}, {'c', "5"}}, []string{"x"}, ""},
		{[]string{"-c", "-o"}, []Opt{{'c', "-o"}}, []string{}, ""},
		{[]string{"--", "-o"}, nil, []string{"-o"}, ""},
		{[]string{"key", "-o"}, nil, []string{"key", "-o"}, ""},
		{[]string{"-", "x"}, nil, []string{"-", "x"}, ""},
		{[]string{}, nil, []string{}, ""},
		{[]string{"-x"}, nil, nil, "invalid option -- 'x'"},
		{[]string{"-ox"}, nil, nil, "invalid option -- 'x'"},
		{[]string{"-c"}, nil, nil, "option requires an argument -- 'c'"},
		{[]string{"-oc"}, nil, nil, "option requires an argument -- 'c'"},
		{[]string{"-:"}, nil, nil, "invalid option -- ':'"},
		{[]string{"--help"}, nil, nil, "invalid option -- '-'"},
	}
	for _, tt := range tests {
		opts, operands, err := Getopt(tt.args, "KoNc:L:")
		if tt.err != "" {
			assert.EqualError(t, err, tt.err, "%q", tt.args)
			continue
		}
		require.NoError(t, err, "%q", tt.args)
		assert.Equal(t, tt.opts, opts, "%q", tt.args)
		assert.Equal(t, tt.operands, operands, "%q", tt.args)
	}
}

func TestCommandParse(t *testing.T) {
	const usage = "Usage: plX [-ab] [-t n] key\n"
	tests := []struct {
		name           string
		spec           string
		usageExit      int
		args           []string
		code           int // -1: no exit
		stdout, stderr string
		opts           []Opt
		operands       []string
	}{
		{"ok", "abt:", 0, []string{"-ab", "-t", "3", "k"}, -1, "", "", []Opt{{'a', ""}, {'b', ""}, {'t', "3"}}, []string{"k"}},
		{"help", "abt:", 0, []string{"-h"}, 0, usage, "", nil, nil},
		{"help not in spec", "ab", 0, []string{"-a", "-h", "-x"}, 0, usage, "", nil, nil},
		{"help listed", "habt:", 0, []string{"-ah"}, 0, usage, "", nil, nil},
		{"long help", "ab", 0, []string{"-a", "--help"}, 0, usage, "", nil, nil},
		{"help after operand is an operand", "ab", 0, []string{"k", "-h"}, -1, "", "", nil, []string{"k", "-h"}},
		{"long help as an argument", "abt:", 0, []string{"-t", "--help", "k"}, -1, "", "", []Opt{{'t', "--help"}}, []string{"k"}},
		{"long help after an attached argument", "abt:", 0, []string{"-t5", "--help"}, 0, usage, "", nil, nil},
		{"long help after --", "ab", 0, []string{"--", "--help"}, -1, "", "", nil, []string{"--help"}},
		{"bad option", "ab", 0, []string{"-x"}, 1, "", "plX: invalid option -- 'x'\n\n" + usage, nil, nil},
		{"bad option, own status", "ab", 9, []string{"-ax"}, 9, "", "plX: invalid option -- 'x'\n\n" + usage, nil, nil},
		{"missing argument", "abt:", 2, []string{"-t"}, 2, "", "plX: option requires an argument -- 't'\n\n" + usage, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			c := Command{Name: "plX", Spec: tt.spec, Usage: usage, UsageExit: tt.usageExit, Stdout: &out, Stderr: &errb}
			opts, operands, err := c.Parse(tt.args)
			if tt.code < 0 {
				require.NoError(t, err)
				assert.Equal(t, tt.opts, opts)
				assert.Equal(t, tt.operands, operands)
			} else {
				var e *Exit
				require.ErrorAs(t, err, &e)
				assert.Equal(t, tt.code, e.Code)
				assert.Equal(t, tt.code, Status(err))
			}
			assert.Equal(t, tt.stdout, out.String())
			assert.Equal(t, tt.stderr, errb.String())
		})
	}
}

func TestStatusAndMessages(t *testing.T) {
	assert.Equal(t, 0, Status(nil))
	assert.Equal(t, 1, Status(errors.New("x")))
	assert.Equal(t, 7, Status(&Exit{Code: 7}))
	assert.Equal(t, "exit 7", (&Exit{Code: 7}).Error())

	var out, errb bytes.Buffer
	c := Command{Name: "plX", Usage: "U\n", Stdout: &out, Stderr: &errb}
	assert.Equal(t, 4, Status(c.Fail(4, "Count (-c) must be %s", "positive")))
	assert.Equal(t, 1, Status(c.BadUsage("Too many arguments")))
	assert.Equal(t, 3, Status(c.OptionError(3, ErrContext)))
	assert.Equal(t, 3, Status(c.OptionError(3, errors.New("bad"))))
	assert.Equal(t, "Error: Count (-c) must be positive\nplX: Too many arguments\n\nU\n"+
		"Usage Error: Context string needs an '=' character\nError: bad\n", errb.String())
	assert.Empty(t, out.String())
}

func TestFaultText(t *testing.T) {
	tests := []struct {
		f    *fault.Fault
		want string
	}{
		{fault.New(111, "sleep time negative"), "sleep time negative"},
		{fault.Wrap(111, "text", errors.New("cause")), "text"},
		{fault.Wrap(fault.ConnectFailed, "/r/x.socket", syscall.ECONNREFUSED), "/r/x.socket: connection refused"},
		{fault.Wrap(fault.ConnectFailed, "", syscall.ECONNREFUSED), "connection refused"},
		{fault.Wrap(111, "", errors.New("cause")), "cause"},
		{fault.New(fault.ServiceTimeout, ""), ""},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, FaultText(tt.f), "%v", tt.f)
	}
	assert.Equal(t, "pluton::Fault=-30 (serviceNotFound:ServiceKey is not in lookupMap) 'a.b.0.raw'",
		Message(fault.New(fault.ServiceNotFound, "a.b.0.raw")))
	assert.Equal(t, "plain", Message(errors.New("plain")))
	assert.Equal(t, fault.ServiceNotFound, Code(fault.New(fault.ServiceNotFound, "")))
	assert.Equal(t, fault.Code(0), Code(errors.New("plain")))
	assert.True(t, AddRequestFault(fault.ServiceKeyBad))
	assert.False(t, AddRequestFault(fault.ServiceTimeout))
}

func TestClientOptions(t *testing.T) {
	tests := []struct {
		opt     Opt
		handled bool
		err     string
		check   func(*ClientOptions)
	}{
		{Opt{'L', "/x/lookup.map"}, true, "", func(c *ClientOptions) { assert.Equal(t, "/x/lookup.map", c.Lookup) }},
		{Opt{'d', ""}, true, "", func(c *ClientOptions) { assert.True(t, c.Debug) }},
		{Opt{'t', "2.5"}, true, "", func(c *ClientOptions) { assert.Equal(t, 2500*time.Millisecond, c.Timeout) }},
		{Opt{'t', "0"}, true, `Timeout (-t) must be a positive number of seconds, not "0"`, nil},
		{Opt{'t', "abc"}, true, `Timeout (-t) must be a positive number of seconds, not "abc"`, nil},
		{Opt{'t', "NaN"}, true, `Timeout (-t) must be a positive number of seconds, not "NaN"`, nil},
		{Opt{'t', "1e300"}, true, `Timeout (-t) must be a positive number of seconds, not "1e300"`, nil},
		{Opt{'C', "a=b=c"}, true, "", func(c *ClientOptions) { assert.Len(t, c.Contexts, 1) }},
		{Opt{'C', "novalue"}, true, ErrContext.Error(), nil},
		{Opt{'q', ""}, false, "", nil},
	}
	for _, tt := range tests {
		var c ClientOptions
		handled, err := c.Set(tt.opt)
		assert.Equal(t, tt.handled, handled, "%c %q", tt.opt.Name, tt.opt.Arg)
		if tt.err != "" {
			assert.EqualError(t, err, tt.err)
			continue
		}
		require.NoError(t, err)
		if tt.check != nil {
			tt.check(&c)
		}
	}
}

func TestNumbers(t *testing.T) {
	n, err := PositiveInt("Count (-c)", "3")
	require.NoError(t, err)
	assert.Equal(t, 3, n)
	_, err = PositiveInt("Count (-c)", "0")
	assert.EqualError(t, err, `Count (-c) must be a positive integer, not "0"`)
	n, err = NonNegativeInt("Size (-s)", "0")
	require.NoError(t, err)
	assert.Zero(t, n)
	_, err = NonNegativeInt("Size (-s)", "-1")
	assert.EqualError(t, err, `Size (-s) must be a non-negative integer, not "-1"`)
	d, err := NonNegativeSeconds("Wait (-i)", "0")
	require.NoError(t, err)
	assert.Zero(t, d)
	_, err = NonNegativeSeconds("Wait (-i)", "-0.5")
	assert.EqualError(t, err, `Wait (-i) must be a non-negative number of seconds, not "-0.5"`)
	name, value, err := ContextPair("k=")
	require.NoError(t, err)
	assert.Equal(t, [2]string{"k", ""}, [2]string{name, value})
}
