package vectors

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/pluton-go/pluton/go/protocol"
)

// Respond models the testee of conformance/README.md: it returns the
// response packet a testee writes for a well-formed request (one whose key
// parses), with the service name ServiceName. It returns nil, true for a
// noWait request, which gets no response, and false for the functions whose
// answer is not a function of the request (pid, exit).
func Respond(req *protocol.Request) (packet []byte, ok bool) {
	resp := protocol.Response{ID: req.ID, ClientName: req.ClientName, ServiceName: ServiceName}
	parts := strings.Split(req.ServiceKey, ".")
	if len(parts) != 4 {
		return nil, false
	}
	ctx, ctxErr := protocol.ContextMap(req.Context)
	fault := func(code int64, text string) { resp.FaultCode, resp.FaultText = code, text }
	var de *protocol.DecodeError
	if ctxErr != nil && !errors.As(ctxErr, &de) {
		return nil, false
	}
	switch fn := parts[1]; {
	case fn == "pid" || fn == "exit":
		return nil, false
	case ctxErr != nil && (fn == "fault" || fn == "context" || fn == "sleep"):
		// The first context lookup fails; the other functions look nothing up.
		fault(22, de.Msg)
	case fn == "echo" || fn == "sleep":
		resp.Data = req.Data
	case fn == "fault":
		fault(atoi(ctx["fault.code"]), ctx["fault.text"])
	case fn == "context":
		var b bytes.Buffer
		for _, k := range strings.Split(strings.TrimRight(string(req.Data), "\n"), "\n") {
			if v, ok := ctx[k]; ok {
				fmt.Fprintf(&b, "%s=%s\n", k, v)
			} else {
				fmt.Fprintf(&b, "%s!\n", k)
			}
		}
		resp.Data = b.Bytes()
	case fn == "key":
		resp.Data = []byte(strings.Join(append(parts, req.ServiceKey), "\n"))
	case fn == "client":
		resp.Data = []byte(req.ClientName)
	case fn == "flags":
		resp.Data = fmt.Appendf(nil, "noWait=%d keepAffinity=%d", b2i(req.NoWait), b2i(req.KeepAffinity))
	default:
		fault(2, "unknown function "+fn)
	}
	if req.NoWait {
		return nil, true
	}
	return protocol.AppendResponse(nil, &resp), true
}

// atoi reads a fault code as every testee does (Go's strconv.Atoi with its
// error ignored): an optional sign and decimal digits, saturated at the
// 64-bit range; anything else 0.
func atoi(s string) int64 {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return 0
	}
	return n
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// Strtol reads a request id as the original does, with C's strtol(…, 10):
// leading blanks, an optional sign, then decimal digits up to the first
// non-digit (0 when there are none), saturating at LONG_MAX and LONG_MIN.
func Strtol(b []byte) int64 {
	i := 0
	for i < len(b) && (b[i] == ' ' || (b[i] >= '\t' && b[i] <= '\r')) {
		i++
	}
	neg := false
	if i < len(b) && (b[i] == '+' || b[i] == '-') {
		neg = b[i] == '-'
		i++
	}
	var u uint64 // the magnitude, capped at 1<<63
	for ; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
		if u > (1<<63)/10 {
			u = 1 << 63
			continue
		}
		u = min(u*10+uint64(b[i]-'0'), 1<<63)
	}
	switch {
	case neg && u == 1<<63:
		return math.MinInt64
	case neg:
		return -int64(u)
	case u >= 1<<63:
		return math.MaxInt64
	}
	return int64(u)
}
