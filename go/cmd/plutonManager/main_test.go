package main

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestOptions(t *testing.T) {
	for _, tt := range []struct {
		args []string
		code int
		out  string
	}{
		{[]string{"-h"}, 0, "Version "},
		{[]string{"-x"}, 1, "FATAL: Invoked with bad parameter: -x\n"},
		{[]string{"-C"}, 1, "FATAL: Option -C needs a value\n"},
		{[]string{"-s", "0"}, 1, "FATAL: -s 0: want a whole number of seconds, at least 1\n"},
		{[]string{"-e", "x"}, 1, "FATAL: -e x: want a whole number of seconds, at least 1\n"},
		{[]string{"-lbogus"}, 1, "FATAL: Unknown logging flag: bogus"},
		{[]string{"-o", "stray"}, 1, "FATAL: Invoked with bad parameter: stray\n"},
		{[]string{"--", "stray"}, 1, "FATAL: Invoked with bad parameter: stray\n"},
		{[]string{"-R/nonexistent/pluton", "-lprocessExit,calibrate"}, 1, "Option: logging=processExit calibrate\n"},
	} {
		var out, errb bytes.Buffer
		code := run(tt.args, &out, &errb)
		assert.Equal(t, tt.code, code, tt.args)
		assert.Contains(t, out.String(), tt.out, tt.args)
	}
}
