// Package clienttest runs fake Pluton services inside tests: a goroutine
// accepting on <dir>/<key>.socket and answering each request packet with
// go/protocol, so client code and commands can be tested without a manager.
package clienttest

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/pluton-go/pluton/go/protocol"
)

// A Handler answers one request. It returns the bytes to write back (nil
// writes nothing and closes the connection).
type Handler func(req *protocol.Request) []byte

// Service is a running fake service.
type Service struct {
	// Name is the service name sent in responses, "<name>:<pid>/0".
	Name     string
	Path     string
	ln       *net.UnixListener
	requests atomic.Int64
	wg       sync.WaitGroup
	handler  Handler
}

// Dir returns a new temporary directory with a short path (socket paths
// must stay below about 100 bytes), removed when the test ends.
func Dir(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "pl")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// Start runs a service listening on <dir>/<key>.socket until the test ends.
// A nil handler echoes (Echo).
func Start(t testing.TB, dir, key, name string, h Handler) *Service {
	t.Helper()
	path := filepath.Join(dir, key+".socket")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	s := &Service{Name: name + ":" + strconv.Itoa(os.Getpid()) + "/0", Path: path, ln: ln, handler: h}
	if s.handler == nil {
		s.handler = s.Echo
	}
	s.wg.Add(1)
	go s.accept()
	t.Cleanup(func() { ln.Close(); s.wg.Wait() })
	return s
}

// Requests returns the number of requests read so far.
func (s *Service) Requests() int64 { return s.requests.Load() }

func (s *Service) accept() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer c.Close()
			dec := protocol.NewRequestDecoder(c)
			for {
				var req protocol.Request
				if dec.ReadRequest(&req) != nil {
					return
				}
				s.requests.Add(1)
				if req.NoWait {
					return
				}
				out := s.handler(&req)
				if out == nil {
					return
				}
				if _, err := c.Write(out); err != nil || !req.KeepAffinity {
					return
				}
			}
		}()
	}
}

// Response encodes a response to req from this service with data.
func (s *Service) Response(req *protocol.Request, data []byte) []byte {
	return protocol.AppendResponse(nil, &protocol.Response{ID: req.ID, ClientName: req.ClientName,
		ServiceName: s.Name, Data: data})
}

// Fault encodes a fault response to req.
func (s *Service) Fault(req *protocol.Request, code int64, text string) []byte {
	return protocol.AppendResponse(nil, &protocol.Response{ID: req.ID, ClientName: req.ClientName,
		ServiceName: s.Name, FaultCode: code, FaultText: text})
}

// Echo answers with the request data.
func (s *Service) Echo(req *protocol.Request) []byte { return s.Response(req, req.Data) }
