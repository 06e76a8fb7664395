package main

import (
	"bytes"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/pluton-go/pluton/go/client"
	"github.com/pluton-go/pluton/go/client/clienttest"
	"github.com/pluton-go/pluton/go/protocol"
)

const key = "system.echo.0.raw"

func send(stdin string, args ...string) (out, errOut string, code int) {
	var o, e bytes.Buffer
	code = run(args, strings.NewReader(stdin), &o, &e)
	return o.String(), e.String(), code
}

func TestPlSend(t *testing.T) {
	dir := clienttest.Dir(t)
	var (
		mu   sync.Mutex
		last protocol.Request
	)
	lastReq := func() protocol.Request { mu.Lock(); defer mu.Unlock(); return last }
	s := clienttest.Start(t, dir, key, "echo", nil)
	clienttest.Start(t, dir, "test.fault.0.raw", "f", func(req *protocol.Request) []byte {
		return s.Fault(req, 111, "sleep time negative")
	})
	clienttest.Start(t, dir, "test.ctx.0.raw", "c", func(req *protocol.Request) []byte {
		mu.Lock()
		last = *req
		last.Context = append([]byte(nil), req.Context...)
		mu.Unlock()
		return s.Response(req, nil)
	})
	clienttest.Start(t, dir, "test.silent.0.raw", "s", func(req *protocol.Request) []byte { return nil })

	tests := []struct {
		name, stdin string
		args        []string
		out, err    string
		code        int
		errPrefix   bool
	}{
		{"argument", "", []string{"-L", dir, key, "hello"}, "hello", "", 0, false},
		{"stdin", "from stdin\n", []string{"-L", dir, key}, "from stdin\n", "", 0, false},
		{"newline", "", []string{"-nL", dir, key, "hi"}, "hi\n", "", 0, false},
		{"elapsed", "", []string{"-e", "-L", dir, key, "x"}, "x", "Elapsed Time: 0.", 0, true},
		{"help", "", []string{"-h"}, "Usage: plSend", "", 0, false},
		{"noKey", "", []string{"-L", dir}, "", "Error: Must supply ServiceKey on the command line\n", 1, false},
		{"tooMany", "", []string{"-L", dir, key, "a", "b"}, "", "Error: Too many command line arguments\n", 1, false},
		{"badTimeout", "", []string{"-t", "0", key}, "", "Error: Timeout (-t) must be a positive number of seconds, not \"0\"\n", 1, false},
		{"badContext", "", []string{"-C", "novalue", key}, "", "Usage Error: Context string needs an '=' character\n", 1, false},
		{"badOption", "", []string{"-z", key}, "", "plSend: invalid option -- 'z'\n", 1, true},
		{"fault", "", []string{"-L", dir, "test.fault.0.raw", "x"}, "", "Error: plSend Fault: 111:sleep time negative\n", 1, false},
		{"notFound", "", []string{"-L", dir, "no.such.0.raw", "x"}, "",
			"Error: plSend addRequest: pluton::Fault=-30 (serviceNotFound:ServiceKey is not in lookupMap) 'no.such.0.raw'\n", 1, false},
		{"badKey", "", []string{"-L", dir, "no.such.raw", "x"}, "",
			"Error: plSend addRequest: pluton::Fault=-31 (serviceKeyBad:ServiceKey badly formed) 'need four dot-separated tokens'\n", 1, false},
		{"reserved", "", []string{"-L", dir, "-C", "pluton.x=1", key, "x"}, "",
			"Error: plSend addRequest: pluton::Fault=-23 (contextReservedNamespace:context key uses the pluton. prefix) 'Context Key uses reserved prefix of 'pluton.''\n", 1, false},
		{"initialize", "", []string{"-L", dir + "/missing", key, "x"}, "", "Error: plSend initialize: pluton::Fault=-33", 1, true},
		{"incomplete", "", []string{"-o", "-L", dir, "test.silent.0.raw", "x"}, "", "Error: plSend Fault: -20:" + client.DiedText + "\n", 1, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, errOut, code := send(tt.stdin, tt.args...)
			assert.Equal(t, tt.code, code)
			if tt.name == "help" {
				assert.True(t, strings.HasPrefix(out, tt.out))
			} else {
				assert.Equal(t, tt.out, out)
			}
			if tt.errPrefix {
				assert.True(t, strings.HasPrefix(errOut, tt.err), "stderr %q", errOut)
			} else {
				assert.Equal(t, tt.err, errOut)
			}
		})
	}

	_, errOut, code := send("", "-o", "-L", dir, "-C", "a=1", "-C", "b=x=y", "test.ctx.0.raw")
	assert.Equal(t, 0, code, errOut)
	got := lastReq()
	assert.True(t, got.NoRetry)
	assert.Equal(t, "plSend:", got.ClientName[:7])
	assert.EqualValues(t, 4000, got.TimeoutMS, "default timeout 4 s")
	ctx, err := protocol.ContextMap(got.Context)
	assert.NoError(t, err)
	assert.Equal(t, map[string]string{"a": "1", "b": "x=y"}, ctx)
	out, errOut, code := send("", "-d", "-L", dir, key, "dbg")
	assert.Equal(t, 0, code)
	assert.Equal(t, "dbg", out)
	assert.Contains(t, errOut, "level=DEBUG msg=sending key=system.echo.0.raw")
	assert.Contains(t, errOut, "level=DEBUG msg=\"request done\"")

	_, _, code = send("", "-t", "9", "-L", dir, "test.ctx.0.raw")
	assert.Equal(t, 0, code)
	assert.InDelta(t, 9000, lastReq().TimeoutMS, 50)
	_, _, code = send("", "-t", "0.5", "-L", dir, "test.ctx.0.raw")
	assert.Equal(t, 0, code)
	assert.InDelta(t, 500, lastReq().TimeoutMS, 50)
}
