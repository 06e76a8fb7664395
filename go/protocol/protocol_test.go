package protocol

import (
	"bytes"
	"errors"
	"io"
	"math"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Captured packets of reference §3.4.
const (
	capturedRequest  = "0Q,3b100,12aplSend:26446,17csystem.echo.0.raw,4l4000,20j12kecho.sleepMS,1v5,,5kHello,0z\n"
	capturedResponse = "0A,3b100,12aplSend:26446,12secho:26429/0,5qHello,0z\n"
	capturedFault    = "0A,3b100,12aplSend:26448,12secho:26429/0,3p111,19rsleep time negative,0z\n"
	capturedAllAttrs = "0Q,3b100,10amyApp:4242,17csystem.echo.0.raw,4l4000,0e,0f,0g,0h,0i,22j12kecho.sleepMS,3v500,,4kping,0z\n"
	capturedNoWait   = "0Q,3b100,12aplPing:27036,17csystem.echo.0.raw,4l5000,0e,5kLMNOP,0z\n"
	capturedPlTest   = "0Q,1b0,20cplTest.service.0.raw,1l0,0z\n"
	capturedPlTestRe = "0A,1b0,10secho:706/0,0z\n"
	capturedHello    = "0Q,1b0,17csystem.echo.0.raw,1l0,5kHello,0z\n"
	t80              = "0Q,3b100,12aplPing:26666,17csystem.echo.0.raw,4l5000,0z"
)

func decodeRequest(t *testing.T, s string) (Request, error) {
	t.Helper()
	var r Request
	err := NewRequestDecoder(strings.NewReader(s)).ReadRequest(&r)
	return r, err
}

func TestDecodeCapturedRequest(t *testing.T) {
	r, err := decodeRequest(t, capturedRequest)
	require.NoError(t, err)
	assert.Equal(t, int64(100), r.ID)
	assert.Equal(t, "plSend:26446", r.ClientName)
	assert.Equal(t, "system.echo.0.raw", r.ServiceKey)
	assert.Equal(t, int64(4000), r.TimeoutMS)
	assert.Equal(t, []byte("Hello"), r.Data)
	ctx, err := ContextMap(r.Context)
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"echo.sleepMS": "5"}, ctx)
	assert.False(t, r.NoWait || r.KeepAffinity || r.NoRetry)
}

func TestEncodeCaptured(t *testing.T) {
	tests := []struct {
		name   string
		packet string
	}{
		{"request", capturedRequest},
		{"allAttributes", capturedAllAttrs},
		{"noWait", capturedNoWait},
		{"plTestEmpty", capturedPlTest},
		{"plTestHello", capturedHello},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := decodeRequest(t, tt.packet)
			require.NoError(t, err)
			assert.Equal(t, tt.packet, string(AppendRequest(nil, &r)))
		})
	}
	for _, packet := range []string{capturedResponse, capturedFault, capturedPlTestRe} {
		var r Response
		require.NoError(t, NewResponseDecoder(strings.NewReader(packet)).ReadResponse(&r))
		assert.Equal(t, packet, string(AppendResponse(nil, &r)))
	}
}

func TestEncodeRequestFromFields(t *testing.T) {
	r := Request{ID: 100, ClientName: "plSend:26446", ServiceKey: "system.echo.0.raw", TimeoutMS: 4000,
		Context: AppendContext(nil, "echo.sleepMS", "5"), Data: []byte("Hello")}
	assert.Equal(t, capturedRequest, string(AppendRequest(nil, &r)))
	resp := Response{ID: 100, ClientName: "plSend:26448", ServiceName: "echo:26429/0", FaultCode: 111,
		FaultText: "sleep time negative"}
	assert.Equal(t, capturedFault, string(AppendResponse(nil, &resp)))
}

func TestDecoderRules(t *testing.T) {
	tests := []struct {
		name    string
		input   string
		syntax  string // expected *SyntaxError message
		decode  string // expected *DecodeError message
		wantEOF bool
	}{
		{name: "endsNewline", input: t80 + "\n"},
		{name: "endsComma", input: t80 + ","},
		{name: "badEnd", input: t80 + "X", syntax: msgBadTerminator},
		{name: "wrongFirst", input: "0G," + t80[3:] + "\n", decode: "Unexpected netString type. Wanted: requestPT, but got: 'G' (?unknownPT?)"},
		{name: "responseAsRequest", input: capturedResponse, decode: "Unexpected netString type. Wanted: requestPT, but got: 'A' (responsePT)"},
		{name: "badLength", input: "0Q,3b1x00,0z\n", syntax: msgBadTerminator},
		{name: "duplicate", input: "0Q,4l5000,4l5000,0z\n", decode: "Duplicate netString type of 'l'"},
		{name: "twelveDigits", input: "0Q,123456789012b,0z\n", syntax: msgTooLong},
		{name: "tabType", input: "0Q,0\t,0z\n", syntax: msgBadType},
		{name: "nonDigitStart", input: "xQ,0z\n", syntax: msgLeadingNotDigit},
		{name: "outOfRange", input: "0Q,0{,0z\n", decode: "Out-of-range netString type: '{'"},
		{name: "unknownIgnored", input: "0Q,3Yabc,0z\n"},
		{name: "truncated", input: "0Q,3b100,12aplSend:26", decode: msgUnexpectedEOF},
		{name: "truncatedAtTerminator", input: "0Q,3b100", decode: msgUnexpectedEOF},
		{name: "empty", input: "", wantEOF: true},
		{name: "highByteType", input: "0Q,0\xff,0z\n", syntax: msgBadType},
		// Found by conformance/differential_test.go: the original names
		// only packet types, and does not count the packet type as a field.
		{name: "fieldTypeFirst", input: "3b100,0z\n", decode: "Unexpected netString type. Wanted: requestPT, but got: 'b' (?unknownPT?)"},
		{name: "secondQIgnored", input: "0Q,3b100,0Q,0z\n"},
		{name: "thirdQDuplicate", input: "0Q,0Q,0Q,0z\n", decode: "Duplicate netString type of 'Q'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := decodeRequest(t, tt.input)
			var se *SyntaxError
			var de *DecodeError
			switch {
			case tt.wantEOF:
				assert.ErrorIs(t, err, io.EOF)
			case tt.syntax != "":
				require.True(t, errors.As(err, &se), "got %v", err)
				assert.Equal(t, tt.syntax, se.Msg)
			case tt.decode != "":
				require.True(t, errors.As(err, &de), "got %v", err)
				assert.Equal(t, tt.decode, de.Msg)
				assert.Equal(t, tt.decode == MsgUnexpectedEOF, errors.Is(err, io.ErrUnexpectedEOF))
			default:
				assert.NoError(t, err)
			}
		})
	}
}

func TestBackToBackAndChunking(t *testing.T) {
	stream := capturedRequest + capturedAllAttrs + capturedNoWait + capturedHello
	want := []string{capturedRequest, capturedAllAttrs, capturedNoWait, capturedHello}
	readers := map[string]func(io.Reader) io.Reader{
		"whole":   func(r io.Reader) io.Reader { return r },
		"oneByte": iotest.OneByteReader,
		"half":    iotest.HalfReader,
	}
	for name, wrap := range readers {
		t.Run(name, func(t *testing.T) {
			d := NewRequestDecoder(wrap(strings.NewReader(stream)))
			for _, w := range want {
				var r Request
				require.NoError(t, d.ReadRequest(&r))
				assert.Equal(t, w, string(AppendRequest(nil, &r)))
			}
			var r Request
			assert.ErrorIs(t, d.ReadRequest(&r), io.EOF)
		})
	}
}

func TestFeedReportsPacketBoundary(t *testing.T) {
	p := NewRequestParser()
	in := []byte(capturedHello + capturedPlTest)
	n, done, err := p.Feed(in)
	require.NoError(t, err)
	require.True(t, done)
	assert.Equal(t, len(capturedHello), n)
	var r Request
	p.Request(&r)
	assert.Equal(t, []byte("Hello"), r.Data)
	n2, done, err := p.Feed(in[n:])
	require.NoError(t, err)
	require.True(t, done)
	assert.Equal(t, len(capturedPlTest), n2)
}

func TestFieldOwnership(t *testing.T) {
	p := NewResponseParser()
	big := bytes.Repeat([]byte("x"), 5000)
	first := AppendResponse(nil, &Response{ID: 1, ServiceName: "s:1/0", Data: big})
	_, done, err := p.Feed(first)
	require.NoError(t, err)
	require.True(t, done)
	kept := p.Field(TypeResponseData)
	assert.Equal(t, []byte("s:1/0"), p.Field(TypeServiceName))
	assert.Nil(t, p.Field(TypeFaultCode))
	assert.Nil(t, p.Field('{'))
	second := AppendResponse(nil, &Response{ID: 2, Data: bytes.Repeat([]byte("y"), 5000)})
	_, done, err = p.Feed(second)
	require.NoError(t, err)
	require.True(t, done)
	assert.Equal(t, big, kept, "a large payload is not reused by the next packet")
}

func TestLargePayloads(t *testing.T) {
	for _, size := range []int{0, 1, 4095, 4096, 4097, 65537, 1<<20 + 1, 3<<20 + 7} {
		data := bytes.Repeat([]byte("0123456789abcdef"), size/16+1)[:size]
		packet := AppendRequest(nil, &Request{ID: 7, ServiceKey: "a.b.0.raw", Data: data})
		for name, wrap := range map[string]func(io.Reader) io.Reader{
			"whole": func(r io.Reader) io.Reader { return r }, "half": iotest.HalfReader,
		} {
			var r Request
			d := NewRequestDecoder(wrap(bytes.NewReader(packet)))
			require.NoError(t, d.ReadRequest(&r), "%d %s", size, name)
			assert.Equal(t, len(data), len(r.Data))
			assert.True(t, bytes.Equal(data, r.Data), "size %d %s", size, name)
		}
	}
}

func TestDeclaredLengthDoesNotAllocateUpFront(t *testing.T) {
	// A peer that declares 999,999,999 bytes and sends 10 must not cost a gigabyte.
	p := NewRequestParser()
	allocs := testing.AllocsPerRun(1, func() {
		p.Reset()
		_, _, err := p.Feed([]byte("0Q,999999999k0123456789"))
		require.NoError(t, err)
	})
	assert.Less(t, allocs, 5.0)
	assert.LessOrEqual(t, len(p.Direct()), firstBig)
}

func TestContext(t *testing.T) {
	tests := []struct {
		name    string
		payload string
		want    []ContextPair
		err     string
	}{
		{"one", "12kecho.sleepMS,1v5,", []ContextPair{{"echo.sleepMS", "5"}}, ""},
		{"empty", "", nil, ""},
		{"lastWins", "1ka,1v1,1ka,1v2,", []ContextPair{{"a", "1"}, {"a", "2"}}, ""},
		{"emptyValue", "1ka,0v,", []ContextPair{{"a", ""}}, ""},
		{"wrongType", "1xa,1v1,", nil, "Service Error: Unexpected Context type. Wanted: 'k', but got: 'x'"},
		{"wrongTypeHighByte", "1\xffa,1v1,", nil, "Service Error: Unexpected Context type. Wanted: 'k', but got: '\xff'"},
		{"missingValue", "1ka,", nil, "Service Error: Context leading netString character not a digit"},
		{"truncated", "5ka,", nil, "Service Error: Context truncated"},
		{"badTerminator", "1ka;1v1,", nil, "Service Error: Context incorrect netString terminator - comma or \\n expected"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseContext([]byte(tt.payload))
			if tt.err != "" {
				var de *DecodeError
				require.True(t, errors.As(err, &de), "got %v", err)
				assert.Equal(t, tt.err, de.Msg)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
	m, err := ContextMap([]byte("1ka,1v1,1ka,1v2,"))
	require.NoError(t, err)
	assert.Equal(t, "2", m["a"])
	assert.True(t, IsReservedContextKey("pluton.x"))
}

func TestParseNumber(t *testing.T) {
	tests := map[string]int64{"100": 100, "": 0, "  -5x": -5, "+7": 7, "abc": 0, "99999999999999999999999": math.MaxInt64,
		"9223372036854775807": math.MaxInt64, "9223372036854775808": math.MaxInt64, "-9223372036854775808": math.MinInt64,
		"-9223372036854775809": math.MinInt64, "-99999999999999999999999": math.MinInt64, "-9223372036854775807": -math.MaxInt64}
	for in, want := range tests {
		assert.Equal(t, want, ParseNumber([]byte(in)), in)
	}
}

func BenchmarkDecodeRequest(b *testing.B) {
	packet := []byte(capturedRequest)
	p := NewRequestParser()
	var r Request
	b.ReportAllocs()
	for b.Loop() {
		p.Reset()
		if _, done, err := p.Feed(packet); !done || err != nil {
			b.Fatal(err)
		}
		p.Request(&r)
	}
}

func BenchmarkEncodeResponse(b *testing.B) {
	resp := Response{ID: 100, ClientName: "plSend:26446", ServiceName: "echo:26429/0", Data: []byte("Hello")}
	buf := make([]byte, 0, 256)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendResponse(buf[:0], &resp)
	}
}

func TestMaxLength(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		limit   int
		errLen  int    // declared length refused, 0 = none
		consume int    // bytes taken before the refusal
		id, cn  string // fields already complete at the refusal
	}{
		{"data over", "0Q,3b100,12aplSend:26446,17csystem.echo.0.raw,4l4000,20kHello, Hello, Hello!,0z\n", 19, 20, 55, "100", "plSend:26446"},
		{"at limit", "0Q,3b100,17csystem.echo.0.raw,4l4000,17kHello, Hello, Hel,0z\n", 17, 0, 0, "100", ""},
		{"no id yet", "9999999Q", 10, 9999999, 7, "", ""},
		{"key over", "0Q,1b7,17csystem.echo.0.raw,0z\n", 16, 17, 9, "7", ""},
		{"off", "0Q,3b100,17csystem.echo.0.raw,4l4000,5kHello,0z\n", 0, 0, 0, "100", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := NewRequestParser()
			p.SetMaxLength(tt.limit)
			n, done, err := p.Feed([]byte(tt.in))
			if tt.errLen == 0 {
				require.NoError(t, err)
				assert.True(t, done)
				return
			}
			var le *LengthError
			require.ErrorAs(t, err, &le)
			assert.Equal(t, tt.errLen, le.Length)
			assert.Equal(t, tt.limit, le.Limit)
			assert.Equal(t, tt.consume, n, "stops at the end of the length prefix")
			assert.False(t, done)
			assert.Equal(t, tt.id, string(p.Field(TypeRequestID)))
			assert.Equal(t, tt.cn, string(p.Field(TypeClientName)))
			assert.Equal(t, "request data of "+strings.TrimSpace(strconv.Itoa(tt.errLen))+" bytes exceeds maximum-request-size "+strconv.Itoa(tt.limit), err.Error())
		})
	}
}
