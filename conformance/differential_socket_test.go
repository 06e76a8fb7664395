package conformance_test

// The differential test in manager mode: every testee runs once under the
// fake manager (fakemanager_test.go: a listening socket on fd 3, a stats
// segment on fd 4 with maximum-request-size fakeLimit), and every hostile
// input is sent on a connection of its own (written whole, then the write
// side closed). The response bytes must be the reference's: the connection's
// read path (the one-read fast path, the pending set) is not the stand-alone
// one, so it is compared separately.

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pluton-go/pluton/conformance/vectors"
	"github.com/pluton-go/pluton/go/protocol"
	"github.com/pluton-go/pluton/go/servicekey"
)

const (
	envDiffSocketPackets     = "PLUTON_DIFF_SOCKET_PACKETS" // generated inputs of the manager-mode test
	defaultDiffSocketPackets = 1000                         // one connection each: a few seconds
)

// socketPinned are manager-mode inputs every run sends, in this order, each
// a case the generator once found or that only a connection has:
// keepAffinity with the client ending the connection after the response,
// or sending more, also right after a connection refused for its size
// (nothing of one connection may leak into the next).
var socketPinned = []string{
	"0Q,3b100,22cconformance.echo.0.raw,999999999k",
	"0Q,3b100,3af:1,23cconformance.flags.0.raw,4l4000,0g,0h,0m,0z\n",
	"0Q,3b100,22cconformance.echo.0.raw,99999999k,0z\n",
	"0Q,3b100,3af:1,23cconformance.flags.0.raw,4l4000,0g,0h,0m,0z\n",
	"0Q,3b100,3af:1,23cconformance.flags.0.raw,4l4000,0g\n0h,0z\n",
	"0Q,3b100,25cconformance.context.0.raw,5j1ka,x,2ka\n,0h,0z\n",
	"0Q,3b100,22cconformance.echo.0.raw,0h,2kHi,0z\n0Q,3b101,22cconformance.echo.0.raw,2kHo,0z\n",
	"0Q,3b100,22cconformance.echo.0.raw,0h,2kHi,0z\n0Q,3b101,22cconformance.echo.0.raw,999999k",
	"0Q,3b100,22cconformance.echo.0.raw,0h,2kHi,0z\n0Q,3b101,22cconformance.echo.0.raw,2kHo",
	"0Q,3b100,22cconformance.echo.0.raw,0h,2kHi,0z\njunk",
	"0Q,3b100,22cconformance.echo.0.raw,0h,0e,2kHi,0z\n",
	"0Q,3b100,22cconformance.echo.0.raw,2kHi,0z\n0Q,3b101,22cconformance.echo.0.raw,2kHo,0z\n",
}

// referenceSocket is the reference verdict for one connection in manager
// mode (docs/protocol.md §1.3, §8): the first request is answered and the
// connection closed, or, under keepAffinity, the next request read from it;
// a noWait request closes it before it is served; a malformed packet, a bad
// key or the end of the input closes it without an answer; a length prefix
// over limit gets fault 3 and the connection is closed. ok is false when the
// model cannot answer a request (pid, exit, sleep).
func referenceSocket(in []byte, limit int, id readID) (out []byte, ok bool) {
	p := protocol.NewRequestParser()
	p.SetMaxLength(limit)
	out = []byte{}
	for rest := in; len(rest) > 0; {
		n, done, err := p.Feed(rest)
		rest = rest[n:]
		var le *protocol.LengthError
		switch {
		case errors.As(err, &le):
			return protocol.AppendResponse(out, &protocol.Response{
				ID: id(p.Field(protocol.TypeRequestID)), ClientName: string(p.Field(protocol.TypeClientName)),
				ServiceName: vectors.ServiceName, FaultCode: 3, FaultText: le.Error()}), true
		case err != nil:
			return out, true
		case !done:
			continue
		}
		var req protocol.Request
		p.Request(&req)
		req.ID = id(p.Field(protocol.TypeRequestID))
		if _, err := servicekey.Parse(req.ServiceKey); err != nil {
			return out, true
		}
		if req.NoWait {
			return out, true
		}
		resp, answerable := vectors.Respond(&req)
		if !answerable || (len(req.ServiceKey) > 0 && containsFunction(req.ServiceKey, "sleep")) {
			return nil, false
		}
		out = append(out, resp...)
		if !req.KeepAffinity {
			return out, true
		}
	}
	return out, true
}

func containsFunction(key, fn string) bool {
	k, err := servicekey.Parse(key)
	return err == nil && k.Function == fn
}

// exchangeRaw sends in on a new connection to sock, closes the write side
// and reads until the testee closes (a reset counts as a close: Linux
// resets a Unix socket closed with unread bytes).
// With chunks > 1 the input is written in that many pieces, a millisecond
// apart, so that the testee reads a packet in parts.
func exchangeRaw(sock string, in []byte, chunks int) ([]byte, error) {
	c, err := net.DialTimeout("unix", sock, 5*time.Second)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	size := max(len(in)/max(chunks, 1), 1)
	for rest := in; len(rest) > 0; {
		k := min(size, len(rest))
		if _, err := c.Write(rest[:k]); err != nil {
			break // the testee may close before it read everything
		}
		rest = rest[k:]
		if len(rest) > 0 {
			time.Sleep(time.Millisecond)
		}
	}
	_ = c.(*net.UnixConn).CloseWrite()
	out, err := io.ReadAll(c)
	if errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) {
		err = nil
	}
	return out, err
}

// TestDifferentialManagerMode holds every testee under the fake manager to
// the reference, one connection per hostile input.
func TestDifferentialManagerMode(t *testing.T) {
	start := time.Now()
	testees := diffTestees(t)
	root := diffInputs(t, envDiffSocketPackets, defaultDiffSocketPackets, 2)
	for i, p := range socketPinned {
		root = append(root, hostile{name: fmt.Sprintf("pinned-%d", i), origin: "socketPinned", in: []byte(p)})
	}
	var inputs []hostile
	answered := 0 // inputs the reference answers with at least one packet
	for _, h := range root {
		if out, ok := referenceSocket(h.in, fakeLimit, vectors.Strtol); ok {
			inputs = append(inputs, h)
			if len(out) > 0 {
				answered++
			}
		}
	}
	var mu sync.Mutex
	disagreements, excused := 0, 0
	t.Run("testees", func(t *testing.T) {
		for _, s := range testees {
			t.Run(s.name, func(t *testing.T) {
				t.Parallel()
				fm, err := startFakeManager(t, s)
				require.NoError(t, err, "%s under the fake manager", s.name)
				go func() { _, _ = io.Copy(io.Discard, fm.reportR) }() // fd 5 must not fill
				shown := 0
				for i, h := range inputs {
					want, _ := referenceSocket(h.in, fakeLimit, vectors.Strtol)
					chunks := 1
					if i%8 == 0 {
						chunks = 2 + i%13 // every eighth input arrives in parts
					}
					got, err := exchangeRaw(fm.sock, h.in, chunks)
					got = vectors.NormalizeServiceName(got)
					why := ""
					switch {
					case err != nil:
						why = err.Error()
					case fm.hasExited():
						why = "the testee exited: " + fm.stderr.String()
					default:
						why = diff(want, got)
					}
					if why != "" && socketDeviation(s, h.in, got) {
						mu.Lock()
						excused++
						mu.Unlock()
						continue
					}
					if why == "" {
						continue
					}
					mu.Lock()
					disagreements++
					mu.Unlock()
					if shown++; shown <= 10 {
						t.Errorf("%s, input %s (%s), %d bytes in %d writes: %.400q\nreference: %.200q\ngot:       %.200q\n%s",
							s.name, h.name, h.origin, len(h.in), chunks, h.in, want, got, why)
					}
					if fm.hasExited() {
						return // every later input would fail the same way
					}
				}
			})
		}
	})
	t.Logf("differential, manager mode: %d inputs (%d answered by the reference) x %d testees = %d connections, %d disagreements, %d excused by known failures, in %s",
		len(inputs), answered, len(testees), len(inputs)*len(testees), disagreements, excused, time.Since(start).Round(time.Millisecond))
}

// socketDeviation is knownDeviation for manager mode.
func socketDeviation(s sdk, in, got []byte) bool {
	for line, id := range knownDeviations {
		if s.known[line] {
			if want, ok := referenceSocket(in, fakeLimit, id); ok && diff(want, got) == "" {
				return true
			}
		}
	}
	return false
}

// hasExited reports whether the testee has exited.
func (fm *fakeManager) hasExited() bool {
	if fm.exited {
		return true
	}
	select {
	case err := <-fm.done:
		fm.exited, fm.exitErr = true, err
		return true
	default:
		return false
	}
}

// diffTestees returns the testees, filtered by PLUTON_DIFF_TESTEES.
func diffTestees(t *testing.T) []sdk {
	testees := sdks(t)
	if only := os.Getenv(envDiffTestees); only != "" {
		var keep []sdk
		for _, s := range testees {
			if strings.Contains(","+only+",", ","+s.name+",") {
				keep = append(keep, s)
			}
		}
		testees = keep
	}
	require.NotEmpty(t, testees, "no testee selected")
	return testees
}
