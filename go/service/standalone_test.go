package service

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/pluton-go/pluton/go/fault"
	"github.com/pluton-go/pluton/go/protocol"
	"github.com/pluton-go/pluton/go/servicekey"
)

// Captured packets of reference §3.4.
const (
	capturedRequest  = "0Q,3b100,12aplSend:26446,17csystem.echo.0.raw,4l4000,20j12kecho.sleepMS,1v5,,5kHello,0z\n"
	capturedAllAttrs = "0Q,3b100,10amyApp:4242,17csystem.echo.0.raw,4l4000,0e,0f,0g,0h,0i,22j12kecho.sleepMS,3v500,,4kping,0z\n"
	plainRequest     = "0Q,3b100,12aplSend:26446,17csystem.echo.0.raw,4l4000,5kHello,0z\n"
	t80              = "0Q,3b100,12aplPing:26666,17csystem.echo.0.raw,4l5000,0z"
)

// testEnv returns an env with the given descriptors and environment.
func testEnv(listen, stats, report int, vars map[string]string) env {
	return env{
		getenv: func(k string) string { return vars[k] },
		listen: listen, stats: stats, report: report,
	}
}

// inheritable returns a duplicate of f's descriptor without close-on-exec,
// as a child process would inherit it; the service takes it over.
func inheritable(t testing.TB, f *os.File) int {
	t.Helper()
	fd, err := unix.Dup(int(f.Fd()))
	require.NoError(t, err)
	return fd
}

// standAlone runs a stand-alone service on input and returns it, with a
// function that returns everything it wrote once it has been closed.
func standAlone(t *testing.T, input string, vars map[string]string) (*Service, func() string) {
	t.Helper()
	dir := t.TempDir()
	in := dir + "/in"
	require.NoError(t, os.WriteFile(in, []byte(input), 0o644))
	fin, err := os.Open(in)
	require.NoError(t, err)
	defer fin.Close()
	fout, err := os.Create(dir + "/out")
	require.NoError(t, err)
	defer fout.Close()
	inFD, outFD := inheritable(t, fin), inheritable(t, fout)
	t.Cleanup(func() { closeFD(inFD); closeFD(outFD) })
	svc, err := newService("echo", testEnv(inFD, outFD, -1, vars))
	require.NoError(t, err)
	require.Equal(t, StandAlone, svc.Mode())
	return svc, func() string {
		b, err := os.ReadFile(dir + "/out")
		require.NoError(t, err)
		return string(b)
	}
}

// echoLoop answers every request with its data, or with fault 111 when the
// context asks for a negative sleep, as echoService does. It returns the
// number of requests served and the error that ended the loop.
func echoLoop(svc *Service) (int, error) {
	n := 0
	for {
		req, err := svc.Next()
		if err != nil {
			return n, err
		}
		n++
		v, _, _ := req.Context("echo.sleepMS")
		if ms := protocol.ParseNumber([]byte(v)); ms < 0 {
			err = req.Fault(111, "sleep time negative")
		} else {
			time.Sleep(time.Duration(ms) * time.Millisecond)
			err = req.Respond(req.Data())
		}
		if err != nil {
			return n, err
		}
	}
}

func echoResponse(id int, client, data string) string {
	return string(protocol.AppendResponse(nil, &protocol.Response{ID: int64(id), ClientName: client,
		ServiceName: "echo:" + strconv.Itoa(os.Getpid()) + "/0", Data: []byte(data)}))
}

func TestStandAlone(t *testing.T) {
	resp := echoResponse(100, "plSend:26446", "Hello")
	tests := []struct {
		name   string
		input  string
		output string
		served int
		code   fault.Code // 0: the loop ends with ErrStop
		text   string
	}{
		{name: "captured", input: plainRequest, output: resp, served: 1},
		{name: "withContext", input: capturedRequest, output: resp, served: 1},
		{name: "backToBack", input: plainRequest + capturedRequest, output: resp + resp, served: 2},
		{name: "empty", input: "", output: "", served: 0},
		{name: "noWaitWritesNothing", input: "0Q,3b100,17csystem.echo.0.raw,0e,5kHello,0z\n", served: 1},
		{name: "fault", input: "0Q,3b100,12aplSend:26448,17csystem.echo.0.raw,4l4000,21j12kecho.sleepMS,2v-1,,0z\n",
			output: "0A,3b100,12aplSend:26448," + strconv.Itoa(len(fmt.Sprintf("echo:%d/0", os.Getpid()))) +
				"s" + fmt.Sprintf("echo:%d/0", os.Getpid()) + ",3p111,19rsleep time negative,0z\n", served: 1},
		{name: "endsComma", input: t80 + ",", output: echoResponse(100, "plPing:26666", ""), served: 1},
		{name: "badEnd", input: t80 + "X", code: fault.RequestNetStringParseError,
			text: "incorrect netString terminator - comma or \\n expected"},
		{name: "wrongFirst", input: "0G," + t80[3:] + "\n", code: fault.RequestDecodeFailed,
			text: "Unexpected netString type. Wanted: requestPT, but got: 'G' (?unknownPT?)"},
		{name: "badLength", input: "0Q,3b1x00,0z\n", code: fault.RequestNetStringParseError,
			text: "incorrect netString terminator - comma or \\n expected"},
		{name: "duplicate", input: "0Q,4l5000,4l5000,0z\n", code: fault.RequestDecodeFailed, text: "Duplicate netString type of 'l'"},
		{name: "twelveDigits", input: "0Q,123456789012b,0z\n", code: fault.RequestNetStringParseError,
			text: "netString length value greater than 999999999"},
		{name: "tabType", input: "0Q,0\t,0z\n", code: fault.RequestNetStringParseError, text: "invalid netString type (not isprint())"},
		{name: "nonDigitStart", input: "xQ,0z\n", code: fault.RequestNetStringParseError, text: "leading netString character not a digit"},
		{name: "truncated", input: "0Q,3b100,12aplSend:26", code: fault.RequestDecodeFailed, text: "unexpected EOF in packet"},
		{name: "goodThenBad", input: plainRequest + "xQ,", output: resp, served: 1,
			code: fault.RequestNetStringParseError, text: "leading netString character not a digit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svc, output := standAlone(t, tt.input, nil)
			n, err := echoLoop(svc)
			_, again := svc.Next()
			assert.Equal(t, err, again, "the stop is sticky")
			require.NoError(t, svc.Close())
			assert.Equal(t, tt.served, n)
			assert.Equal(t, tt.output, output())
			if tt.code == 0 {
				assert.ErrorIs(t, err, ErrStop)
				return
			}
			var f *fault.Fault
			require.True(t, errors.As(err, &f), "got %v", err)
			assert.Equal(t, tt.code, f.Code)
			assert.Equal(t, tt.text, f.Text)
			var se *protocol.SyntaxError
			var de *protocol.DecodeError
			assert.True(t, errors.As(err, &se) || errors.As(err, &de), "the parser's error is wrapped")
		})
	}
}

func TestRequestAccessors(t *testing.T) {
	svc, _ := standAlone(t, capturedAllAttrs+plainRequest, nil)
	req, err := svc.Next()
	require.NoError(t, err)
	key := req.Key()
	assert.Equal(t, "system", key.Application)
	assert.Equal(t, "echo", key.Function)
	assert.Equal(t, uint32(0), key.Version)
	assert.Equal(t, servicekey.Raw, key.Serialization)
	assert.Equal(t, "system.echo.0.raw", req.RawKey())
	assert.Equal(t, "myApp:4242", req.ClientName())
	assert.Equal(t, int64(100), req.ID())
	assert.Equal(t, 4*time.Second, req.Timeout())
	assert.Equal(t, []byte("ping"), req.Data())
	assert.True(t, req.NoWait())
	assert.True(t, req.KeepAffinity())
	v, ok, err := req.Context("echo.sleepMS")
	require.NoError(t, err)
	assert.True(t, ok)
	assert.Equal(t, "500", v)
	v, ok, err = req.Context("missing")
	assert.NoError(t, err)
	assert.False(t, ok)
	assert.Empty(t, v)
	assert.Equal(t, "echo", req.Key().Function)
	require.NoError(t, req.Respond(nil))

	req, err = svc.Next()
	require.NoError(t, err)
	assert.False(t, req.NoWait())
	assert.False(t, req.KeepAffinity())
	m, err := req.ContextMap()
	assert.NoError(t, err)
	assert.Empty(t, m)
	assert.Equal(t, []byte("Hello"), req.Data())
	require.NoError(t, req.Respond(req.Data()))
	_, err = svc.Next()
	assert.ErrorIs(t, err, ErrStop)
	require.NoError(t, svc.Close())
}

func TestKeyThatDoesNotParse(t *testing.T) {
	svc, _ := standAlone(t, "0Q,1b0,9cnot.a.key,0z\n", nil)
	_, err := svc.Next()
	var f *fault.Fault
	require.True(t, errors.As(err, &f), "got %v", err)
	assert.Equal(t, fault.RequestDecodeFailed, f.Code)
	assert.Equal(t, "Invalid Service Key: need four dot-separated tokens", f.Text)
}

func TestMalformedContext(t *testing.T) {
	svc, _ := standAlone(t, "0Q,1b0,17csystem.echo.0.raw,8j1xa,1v1,,0z\n", nil)
	req, err := svc.Next()
	require.NoError(t, err)
	for range 2 {
		_, ok, err := req.Context("a")
		assert.False(t, ok)
		var f *fault.Fault
		require.True(t, errors.As(err, &f), "got %v", err)
		assert.Equal(t, fault.ContextFormatError, f.Code)
		assert.Equal(t, "Service Error: Unexpected Context type. Wanted: 'k', but got: 'x'", f.Text)
	}
}

func TestOutOfSequence(t *testing.T) {
	svc, output := standAlone(t, plainRequest+plainRequest+plainRequest, nil)
	req, err := svc.Next()
	require.NoError(t, err)
	require.NoError(t, req.Respond([]byte("once")))
	var f *fault.Fault
	err = req.Respond([]byte("twice"))
	require.True(t, errors.As(err, &f))
	assert.Equal(t, fault.SendResponseNotNext, f.Code)
	err = req.Fault(20, "late")
	require.True(t, errors.As(err, &f))
	assert.Equal(t, fault.SendResponseNotNext, f.Code)

	// A request left unanswered is answered with fault 6 by the next Next.
	_, err = svc.Next()
	require.NoError(t, err)
	_, err = svc.Next()
	require.NoError(t, err, "the out-of-sequence faults do not end the loop")
	_, err = svc.Next()
	require.ErrorIs(t, err, ErrStopped)
	require.NoError(t, svc.Close())
	notAnswered := string(protocol.AppendResponse(nil, &protocol.Response{ID: 100, ClientName: "plSend:26446",
		ServiceName: "echo:" + strconv.Itoa(os.Getpid()) + "/0", FaultCode: 6, FaultText: "request not answered by the service"}))
	assert.Equal(t, echoResponse(100, "plSend:26446", "once")+notAnswered+notAnswered, output())
	_, err = svc.Next()
	require.True(t, errors.As(err, &f))
	assert.Equal(t, fault.NotInitialized, f.Code)
}

func TestNoFauxSTDIN(t *testing.T) {
	f, err := os.Open(os.DevNull)
	require.NoError(t, err)
	fd := int(f.Fd())
	require.NoError(t, f.Close()) // fd is now closed
	_, err = newService("echo", testEnv(fd, fd, fd, nil))
	var ft *fault.Fault
	require.True(t, errors.As(err, &ft), "got %v", err)
	assert.Equal(t, fault.NoFauxSTDIN, ft.Code)

	// A descriptor the process opened itself (close-on-exec) is not an
	// inherited fd 3 either: the Go runtime may hold a cgroup file there.
	g, err := os.Open(os.DevNull)
	require.NoError(t, err)
	defer g.Close()
	_, err = newService("echo", testEnv(int(g.Fd()), -1, -1, nil))
	require.True(t, errors.As(err, &ft), "got %v", err)
	assert.Equal(t, fault.NoFauxSTDIN, ft.Code)
}

func TestStandAloneWithoutOutput(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(dir+"/in", []byte(plainRequest), 0o644))
	fin, err := os.Open(dir + "/in")
	require.NoError(t, err)
	defer fin.Close()
	inFD := inheritable(t, fin)
	defer closeFD(inFD)
	svc, err := newService("echo", testEnv(inFD, 999, -1, nil))
	require.NoError(t, err)
	req, err := svc.Next()
	require.NoError(t, err)
	err = req.Respond(req.Data())
	var f *fault.Fault
	require.True(t, errors.As(err, &f))
	assert.Equal(t, fault.SocketWriteFailed, f.Code)
	_, err2 := svc.Next()
	assert.Equal(t, err, err2)
}

func TestLargeRequest(t *testing.T) {
	data := make([]byte, 3<<20+17)
	for i := range data {
		data[i] = byte(i)
	}
	packet := protocol.AppendRequest(nil, &protocol.Request{ID: 7, ServiceKey: "a.big.0.raw", Data: data})
	svc, output := standAlone(t, string(packet)+plainRequest, nil)
	n, err := echoLoop(svc)
	assert.ErrorIs(t, err, ErrStop)
	assert.Equal(t, 2, n)
	require.NoError(t, svc.Close())
	d := protocol.NewResponseDecoder(stringsReader(output()))
	var r protocol.Response
	require.NoError(t, d.ReadResponse(&r))
	assert.Equal(t, data, r.Data)
	require.NoError(t, d.ReadResponse(&r))
	assert.Equal(t, []byte("Hello"), r.Data)
	assert.ErrorIs(t, d.ReadResponse(&r), io.EOF)
}

func stringsReader(s string) io.Reader { return &stringReader{s: s} }

type stringReader struct{ s string }

func (r *stringReader) Read(b []byte) (int, error) {
	if r.s == "" {
		return 0, io.EOF
	}
	n := copy(b, r.s)
	r.s = r.s[n:]
	return n, nil
}
