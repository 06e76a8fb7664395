package coord_test

import (
	"bufio"
	"encoding/json"
	"flag"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pluton-go/pluton/go/coord"
	server "github.com/pluton-go/pluton/go/manager/coord"
)

var update = flag.Bool("update", false, "rewrite the expected bytes of conformance/coord/vectors.json")

// Vectors are the control protocol's conformance vectors
// (conformance/coord/README.md).
type Vectors struct {
	Comment  []string  `json:"comment"`
	Encode   []Encode  `json:"encode"`
	Sessions []Session `json:"sessions"`
}

// Encode is one packet and its bytes.
type Encode struct {
	Kind   string            `json:"kind"`
	Fields map[string]string `json:"fields"`
	Bytes  string            `json:"bytes"`
}

// Session is one connection: each step sends bytes and expects the packets
// the server answers ({pid} stands for the netstring of the connection's pid).
type Session struct {
	Name  string `json:"name"`
	Steps []Step `json:"steps"`
}

// Step is one exchange.
type Step struct {
	Send   string   `json:"send"`
	Expect []string `json:"expect"`
}

func vectorsPath(t *testing.T) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..", "conformance", "coord", "vectors.json")
}

func TestConformanceVectors(t *testing.T) {
	path := vectorsPath(t)
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	var v Vectors
	require.NoError(t, json.Unmarshal(b, &v))

	for i, e := range v.Encode {
		p := coord.NewPacket(e.Kind[0])
		for k, val := range e.Fields {
			p.Fields[k[0]] = []byte(val)
		}
		got := string(p.Append(nil))
		if *update {
			v.Encode[i].Bytes = got
			continue
		}
		assert.Equal(t, e.Bytes, got, "encode %v", e.Fields)
		back, err := coord.ReadPacket(bufio.NewReader(strings.NewReader(e.Bytes)))
		require.NoError(t, err)
		assert.Equal(t, p, back, "decode %q", e.Bytes)
	}

	s := startServer(t, server.DefaultLimits())
	pid := strconv.Itoa(os.Getpid())
	pidField := strconv.Itoa(len(pid)) + "i" + pid + "," // hello's answer: the pid seen
	for si, sess := range v.Sessions {
		t.Run(sess.Name, func(t *testing.T) {
			nc, err := net.Dial("unix", s.Path())
			require.NoError(t, err)
			defer nc.Close()
			r := bufio.NewReader(nc)
			for k, st := range sess.Steps {
				_, err := nc.Write([]byte(st.Send))
				require.NoError(t, err)
				// Every request is answered by one response; events
				// (a broadcast to the sender's own service) come before it.
				var got []string
				for want := requests(st.Send); want > 0; {
					require.NoError(t, nc.SetReadDeadline(time.Now().Add(5*time.Second)))
					p, err := coord.ReadPacket(r)
					require.NoError(t, err, "step %d: %q", k, st.Send)
					got = append(got, strings.ReplaceAll(string(p.Append(nil)), pidField, "{pid}"))
					if p.Kind == coord.KindResponse {
						want--
					}
				}
				if *update {
					v.Sessions[si].Steps[k].Expect = got
					continue
				}
				assert.Equal(t, st.Expect, got, "step %d: %q", k, st.Send)
			}
		})
	}
	if *update {
		out, err := json.MarshalIndent(v, "", "  ")
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(path, append(out, '\n'), 0o644))
	}
}

// requests is the number of responses a step's bytes produce: one per
// request, or one error for bytes that are not a packet.
func requests(send string) int {
	return max(strings.Count(send, "0R,"), 1)
}
