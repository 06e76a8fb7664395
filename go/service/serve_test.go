package service

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"syscall"
	"testing"
	"time"

	"os/signal"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pluton-go/pluton/go/fault"
	"github.com/pluton-go/pluton/go/protocol"
	"github.com/pluton-go/pluton/go/stats"
)

// requestWith returns a stand-alone request packet with id and data.
func requestWith(id int64, data string) string {
	return string(protocol.AppendRequest(nil, &protocol.Request{ID: id, ClientName: "t:1",
		ServiceKey: "system.echo.0.raw", TimeoutMS: 4000, Data: []byte(data)}))
}

// responses decodes every response packet of out.
func responses(t *testing.T, out string) []protocol.Response {
	t.Helper()
	d := protocol.NewResponseDecoder(stringsReader(out))
	var rs []protocol.Response
	for {
		var r protocol.Response
		if err := d.ReadResponse(&r); err != nil {
			return rs
		}
		r.Data = append([]byte(nil), r.Data...) // the decoder reuses its buffers
		rs = append(rs, r)
	}
}

func TestServeHandlerOutcomes(t *testing.T) {
	tests := []struct {
		name     string
		data     string
		code     int64
		text     string
		respData string
	}{
		{"response", "hello", 0, "", "hello"},
		{"nil data", "nil", 0, "", ""},
		{"fault", "fault", 111, "sleep time negative", ""},
		{"wrapped fault", "wrapped", 12, "inner", ""},
		{"error", "error", 6, "database is down", ""},
		{"panic", "panic", 6, "panic: boom", ""},
		{"panic error", "panicerr", 6, "panic: runtime error: index out of range [5] with length 0", ""},
		{"answered itself", "self", 0, "", "by hand"},
		{"faulted itself", "selffault", 13, "by hand", ""},
	}
	var in string
	for i, tt := range tests {
		in += requestWith(int64(i), tt.data)
	}
	svc, output := standAlone(t, in, nil)
	pid := os.Getpid()
	var pids []int
	err := svc.Serve(func(req *Request) ([]byte, error) {
		pids = append(pids, os.Getpid())
		switch string(req.Data()) {
		case "nil":
			return nil, nil
		case "fault":
			return nil, fault.New(111, "sleep time negative")
		case "wrapped":
			return []byte("ignored"), fmt.Errorf("outer: %w", fault.New(12, "inner"))
		case "error":
			return nil, errors.New("database is down")
		case "panic":
			panic("boom")
		case "panicerr":
			var empty []int
			return []byte(strconv.Itoa(empty[5])), nil
		case "self":
			require.NoError(t, req.Respond([]byte("by hand")))
			return []byte("ignored"), errors.New("ignored too")
		case "selffault":
			require.NoError(t, req.Fault(13, "by hand"))
			return nil, nil
		}
		return req.Data(), nil
	})
	require.NoError(t, err, "end of input is a clean stop")
	require.NoError(t, svc.Close())
	rs := responses(t, output())
	require.Len(t, rs, len(tests), "one answer per request, never two")
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, int64(i), rs[i].ID)
			assert.Equal(t, tt.code, rs[i].FaultCode)
			assert.Equal(t, tt.text, rs[i].FaultText)
			assert.Equal(t, tt.respData, string(rs[i].Data))
		})
	}
	for _, p := range pids {
		assert.Equal(t, pid, p, "the same process serves every request")
	}
}

func TestServeReturnsLoopFault(t *testing.T) {
	svc, _ := standAlone(t, requestWith(1, "a")+"0Q,4l5000,4l5000,0z\n", nil)
	n := 0
	err := svc.Serve(func(req *Request) ([]byte, error) { n++; return req.Data(), nil })
	var f *fault.Fault
	require.ErrorAs(t, err, &f)
	assert.Equal(t, fault.RequestDecodeFailed, f.Code)
	assert.Equal(t, 1, n)
	require.NoError(t, svc.Close())
}

func TestOnStopHooks(t *testing.T) {
	svc, _ := standAlone(t, requestWith(1, "a"), nil)
	var order []string
	svc.OnStop(func() { order = append(order, "first") })
	svc.OnStop(func() { order = append(order, "second") })
	err := svc.Serve(func(req *Request) ([]byte, error) {
		assert.Empty(t, order, "not before the loop ends")
		return req.Data(), nil
	})
	require.NoError(t, err)
	assert.Equal(t, []string{"first", "second"}, order, "run before Serve returns, in order")
	_, err = svc.Next()
	assert.ErrorIs(t, err, ErrStopped)
	require.NoError(t, svc.Close())
	assert.Len(t, order, 2, "once")

	// A loop the program leaves on its own: Close runs the hooks.
	svc, _ = standAlone(t, requestWith(1, "a"), nil)
	ran := 0
	svc.OnStop(func() { ran++ })
	_, err = svc.Next()
	require.NoError(t, err)
	require.NoError(t, svc.Close())
	require.NoError(t, svc.Close())
	assert.Equal(t, 1, ran)
}

func TestRemaining(t *testing.T) {
	in := string(protocol.AppendRequest(nil, &protocol.Request{ServiceKey: "a.b.0.raw", TimeoutMS: 300})) +
		string(protocol.AppendRequest(nil, &protocol.Request{ServiceKey: "a.b.0.raw"}))
	svc, _ := standAlone(t, in, nil)
	req, err := svc.Next()
	require.NoError(t, err)
	left := req.Remaining()
	assert.LessOrEqual(t, left, 300*time.Millisecond)
	assert.Greater(t, left, 100*time.Millisecond)
	time.Sleep(350 * time.Millisecond)
	assert.Negative(t, int64(req.Remaining()), "the client's deadline has passed")
	require.NoError(t, req.Respond(nil))
	req, err = svc.Next()
	require.NoError(t, err)
	assert.Zero(t, req.Remaining(), "no timeout: 0")
	require.NoError(t, svc.Close())
}

// TestStopSignalInProcess sends SIGTERM to the test process itself while
// the service waits in accept: Next returns ErrStopped within the accept
// timeout, the hooks run, and a SIGTERM handler the program registered
// itself still receives the signal.
func TestStopSignalInProcess(t *testing.T) {
	own := make(chan os.Signal, 1)
	signal.Notify(own, syscall.SIGTERM)
	defer signal.Stop(own)

	f := newManagerFixture(t, 1, 0, 0, stats.IdleTimeout)
	e := testEnv(inheritable(t, f.listen), inheritable(t, f.seg), inheritable(t, f.reportW),
		map[string]string{"plutonSlot": "0"})
	e.signals = true
	svc, err := newService("echo", e)
	require.NoError(t, err)
	hooked := make(chan struct{})
	svc.OnStop(func() { close(hooked) })
	done := make(chan error, 1)
	go func() {
		_, err := svc.Next()
		done <- err
	}()
	time.Sleep(100 * time.Millisecond) // blocked in accept
	sent := time.Now()
	require.NoError(t, syscall.Kill(os.Getpid(), syscall.SIGTERM))
	select {
	case err := <-done:
		assert.ErrorIs(t, err, ErrStopped)
		assert.Less(t, time.Since(sent), 2500*time.Millisecond, "within the 1 s accept timeout (plus scheduling on a loaded machine)")
	case <-time.After(10 * time.Second):
		t.Fatal("Next did not return after SIGTERM")
	}
	select {
	case <-hooked:
	default:
		t.Fatal("OnStop hook did not run before Next returned")
	}
	select {
	case <-own:
	case <-time.After(5 * time.Second):
		t.Fatal("the program's own SIGTERM handler did not receive the signal")
	}
	st := f.slotStats(t)
	assert.Equal(t, stats.StateStopping, st.State)
	assert.Equal(t, stats.IdleTimeout, st.ExitReason, "copied from shutdownRequest")
	require.NoError(t, svc.Close())
}
