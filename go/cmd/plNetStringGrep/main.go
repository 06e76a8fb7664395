// Command plNetStringGrep filters a stream of netstrings (reference §8.6).
//
//	plNetStringGrep [-hnv] [typeList]
//
// It reads netstrings from stdin and writes, byte for byte, those whose type
// is in typeList (every type when typeList is absent); -v writes those that
// do not match instead, and -n replaces each terminator with a newline.
// Typical use is stripping the fields that vary between runs before a
// comparison, e.g. plNetStringGrep -v sa (service name, client name).
//
// A malformed netstring prints "Parse Error: <reason>" and exits 1.
package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/pluton-go/pluton/go/internal/cli"
	"github.com/pluton-go/pluton/go/protocol"
)

const usage = `Usage: plNetStringGrep [-hnv] [typeList]

Read netStrings from STDIN and write matching types to STDOUT.

 -h   Display usage and exit

 -n   Convert the trailing netString terminator to a newline

 -v   Invert the test and only output types that do not match.
       This option is particularly useful for removing variable
       valued netstrings - such as timestamps and process ids - to
       simplify regression test comparisons.

 typeList is a series of netString types to match. If not present
 all types match.

Examples:

 $ plNetStringGrep <filein aFnb: >fileout

      fileout only contains 'a', 'F', 'n', 'b' and ':' types.

 $ plNetStringGrep -v <filein aFnB: >fileoutNot

      fileoutNot contains everything not in fileout.

 $ plNetStringGrep -v a <results >results.stripped
 $ plNetStringGrep -v a <expected | cmp --s - -
 $ [ $? -ne 0 ] && echo Comparison failed

      Remove the 'a' netString type and compare the rest with
      a previously created regression comparison file to see
      whether results have changed or not.

If the input contains an invalid netString an error message is
written to STDERR and the program exits.

`

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	cmd := &cli.Command{Name: "plNetStringGrep", Spec: "hnv", Usage: usage, Stdout: stdout, Stderr: stderr}
	opts, rest, err := cmd.Parse(args)
	if err != nil {
		return cli.Status(err)
	}
	invert, newline := false, false
	for _, o := range opts {
		switch o.Name {
		case 'n':
			newline = true
		case 'v':
			invert = true
		}
	}
	if len(rest) > 1 {
		fmt.Fprintf(stderr, "Error: Unexpected argument on command line.\n\n%s", usage)
		return 1
	}
	match := func(byte) bool { return true }
	if len(rest) == 1 {
		list := rest[0]
		match = func(t byte) bool { return strings.IndexByte(list, t) >= 0 }
	}

	out := bufio.NewWriter(stdout)
	defer out.Flush()
	err = grep(bufio.NewReaderSize(stdin, 64*1024), func(raw []byte, typ byte) error {
		if match(typ) == invert {
			return nil
		}
		if newline {
			raw = append(raw[:len(raw)-1], '\n')
		}
		_, err := out.Write(raw)
		return err
	})
	if err != nil {
		var pe parseError
		if errors.As(err, &pe) {
			out.Flush()
			fmt.Fprintf(stderr, "Parse Error: %s\n", string(pe))
		} else {
			fmt.Fprintf(stderr, "plNetStringGrep: %v\n", err)
		}
		return 1
	}
	if err := out.Flush(); err != nil {
		fmt.Fprintf(stderr, "plNetStringGrep: %v\n", err)
		return 1
	}
	return 0
}

// parseError is a malformed netstring, with the original's message.
type parseError string

func (e parseError) Error() string { return string(e) }

// grep calls emit with each raw netstring (length, type, payload,
// terminator, as read) and its type. The payload is read into memory as it
// arrives, so a declared length costs nothing until the bytes come.
func grep(r *bufio.Reader, emit func(raw []byte, typ byte) error) error {
	var raw bytes.Buffer
	for {
		raw.Reset()
		length, digits := 0, 0
		var c byte
		var err error
		for {
			c, err = r.ReadByte()
			if err != nil {
				break
			}
			if c < '0' || c > '9' {
				break
			}
			raw.WriteByte(c)
			length = length*10 + int(c-'0')
			digits++
			if length > protocol.MaxLength {
				return parseError("netString length value greater than 999999999")
			}
		}
		if err == io.EOF && digits == 0 {
			return nil // clean end between netstrings
		}
		if err != nil {
			return truncated(err)
		}
		if digits == 0 {
			return parseError("leading netString character not a digit")
		}
		if c < 0x20 || c > 0x7e {
			return parseError("invalid netString type (not isprint())")
		}
		typ := c
		raw.WriteByte(c)
		if n, err := io.CopyN(&raw, r, int64(length)); err != nil || n != int64(length) {
			return truncated(err)
		}
		c, err = r.ReadByte()
		if err != nil {
			return truncated(err)
		}
		if c != ',' && c != '\n' {
			return parseError(`incorrect netString terminator - comma or \n expected`)
		}
		raw.WriteByte(c)
		if err := emit(raw.Bytes(), typ); err != nil {
			return err
		}
	}
}

func truncated(err error) error {
	if err == nil || err == io.EOF {
		return parseError("unexpected EOF in netString")
	}
	return err
}
