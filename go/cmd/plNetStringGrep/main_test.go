package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

const response = "0A,3b100,12aplSend:26446,12secho:26429/0,5qHello,0z\n"

func TestPlNetStringGrep(t *testing.T) {
	tests := []struct {
		name   string
		args   []string
		input  string
		stdout string
		stderr string
		code   int
	}{
		{name: "all", input: response, stdout: response},
		{name: "strip", args: []string{"-v", "sa"}, input: response, stdout: "0A,3b100,5qHello,0z\n"},
		{name: "select", args: []string{"qb"}, input: response, stdout: "3b100,5qHello,"},
		{name: "newlines", args: []string{"-n", "qb"}, input: response, stdout: "3b100\n5qHello\n"},
		{name: "clustered", args: []string{"-nv", "Aabsz"}, input: response, stdout: "5qHello\n"},
		{name: "invertAll", args: []string{"-v"}, input: response, stdout: ""},
		{name: "empty", input: "", stdout: ""},
		{name: "leadingZeros", args: []string{"x"}, input: "003xabc,1yZ\n", stdout: "003xabc,"},
		{name: "binaryPayload", input: "3k\x00,\n,", stdout: "3k\x00,\n,"},
		{name: "badTerminator", input: "0A,3b100;", stdout: "0A,", stderr: "Parse Error: incorrect netString terminator - comma or \\n expected\n", code: 1},
		{name: "notDigit", input: "x", stderr: "Parse Error: leading netString character not a digit\n", code: 1},
		{name: "tooLong", input: "1234567890x", stderr: "Parse Error: netString length value greater than 999999999\n", code: 1},
		{name: "badType", input: "0\t,", stderr: "Parse Error: invalid netString type (not isprint())\n", code: 1},
		{name: "truncated", input: "0A,5qHel", stdout: "0A,", stderr: "Parse Error: unexpected EOF in netString\n", code: 1},
		{name: "twoArgs", args: []string{"a", "b"}, stderr: "Error: Unexpected argument on command line.\n", code: 1},
		{name: "badOption", args: []string{"-x"}, stderr: "plNetStringGrep: invalid option -- 'x'\n\n" + usage, code: 1},
		{name: "badOptionAfterGood", args: []string{"-nx"}, stderr: "plNetStringGrep: invalid option -- 'x'\n\n" + usage, code: 1},
		{name: "longHelp", args: []string{"--help"}, stdout: usage},
		{name: "helpWins", args: []string{"-vh", "-x"}, stdout: usage},
		{name: "help", args: []string{"-h"}, stdout: usage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(tt.args, strings.NewReader(tt.input), &stdout, &stderr)
			assert.Equal(t, tt.code, code)
			assert.Equal(t, tt.stdout, stdout.String())
			if tt.code == 0 || tt.name == "twoArgs" {
				assert.True(t, strings.HasPrefix(stderr.String(), tt.stderr), stderr.String())
			} else {
				assert.Equal(t, tt.stderr, stderr.String())
			}
		})
	}
}

func TestLargePayloadStreams(t *testing.T) {
	big := strings.Repeat("z", 3<<20)
	in := "3145728k" + big + ",0z\n"
	var stdout, stderr bytes.Buffer
	assert.Equal(t, 0, run([]string{"z"}, strings.NewReader(in), &stdout, &stderr))
	assert.Equal(t, "0z\n", stdout.String())
	stdout.Reset()
	assert.Equal(t, 0, run([]string{"k"}, strings.NewReader(in), &stdout, &stderr))
	assert.Equal(t, "3145728k"+big+",", stdout.String())
}
