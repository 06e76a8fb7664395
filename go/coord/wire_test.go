package coord

import (
	"bufio"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestReadPacket(t *testing.T) {
	tests := []struct {
		name, in, err string
		want          map[byte]string
	}{
		{name: "request", in: "0R,1b1,5ohello,9sa.b.0.raw,0z\n", want: map[byte]string{'b': "1", 'o': "hello", 's': "a.b.0.raw"}},
		{name: "newline terminators", in: "0R\n1b1\n0z\n", want: map[byte]string{'b': "1"}},
		{name: "payload with separators", in: "0S,5va,b\nc,0z\n", want: map[byte]string{'v': "a,b\nc"}},
		{name: "not a digit", in: "x", err: "control protocol: leading netString character not a digit"},
		{name: "bad kind", in: "0Q,0z\n", err: "control protocol: packet must start with 0R, 0S, or 0E, not 0Q"},
		{name: "bad terminator", in: "0R,1b1;0z\n", err: `control protocol: incorrect netString terminator - comma or \n expected`},
		{name: "duplicate", in: "0R,1b1,1b2,0z\n", err: "control protocol: Duplicate netString type of 'b'"},
		{name: "truncated", in: "0R,1b1,", err: "control protocol: unexpected EOF in packet"},
		{name: "truncated payload", in: "0R,5vab", err: "control protocol: unexpected EOF in packet"},
		{name: "unprintable type", in: "0R,1\x01a,0z\n", err: "control protocol: invalid netString type (not isprint())"},
		{name: "too large", in: "0R,2000000v", err: "control protocol: packet exceeds 1 MiB"},
		{name: "digit flood", in: strings.Repeat("9", 100), err: "control protocol: packet exceeds 1 MiB"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := ReadPacket(bufio.NewReader(strings.NewReader(tt.in)))
			if tt.err != "" {
				require.EqualError(t, err, tt.err)
				return
			}
			require.NoError(t, err)
			got := map[byte]string{}
			for k, v := range p.Fields {
				got[k] = string(v)
			}
			assert.Equal(t, tt.want, got)
		})
	}
	_, err := ReadPacket(bufio.NewReader(strings.NewReader("")))
	assert.True(t, errors.Is(err, io.EOF), "a clean end of input is io.EOF")
}

func TestAppendOrderAndRoundTrip(t *testing.T) {
	p := NewPacket(KindRequest).SetStr(FieldValue, "x").SetInt(FieldID, 7).SetStr(FieldOp, "var.set").
		SetStr(FieldName, "n").SetFlag(FieldGlobal)
	b := p.Append(nil)
	assert.Equal(t, "0R,1b7,7ovar.set,1nn,0g,1vx,0z\n", string(b))
	back, err := ReadPacket(bufio.NewReader(strings.NewReader(string(b))))
	require.NoError(t, err)
	assert.Equal(t, p, back)
	v, ok, err := back.Int(FieldID)
	require.NoError(t, err)
	assert.True(t, ok)
	assert.EqualValues(t, 7, v)
	_, _, err = NewPacket(KindRequest).SetStr(FieldInt, "x1").Int(FieldInt)
	assert.EqualError(t, err, `field 'i': "x1" is not a decimal number`)
}

func TestErrorIs(t *testing.T) {
	err := error(&Error{Code: CodeTimeout, Text: "mutex \"m\" not acquired"})
	assert.ErrorIs(t, err, ErrTimeout)
	assert.NotErrorIs(t, err, ErrLimit)
	assert.Equal(t, `coord: timeout: mutex "m" not acquired`, err.Error())
}
