package service

import (
	"errors"
	"fmt"
	"os"
	"runtime/debug"

	"github.com/pluton-go/pluton/go/fault"
)

// Handler answers one request: it returns the response data, or an error.
type Handler func(*Request) ([]byte, error)

// Serve runs the service loop with handler, the handler form of the loop
// (docs/sdk.md, rule 2):
//
//   - the data handler returns is sent as the response (nil sends an empty
//     response);
//   - a returned *fault.Fault (also when wrapped) is sent as that fault, its
//     code and text;
//   - any other returned error is sent as fault 6 serviceException with the
//     error's text, and logged on stderr;
//   - a panic is recovered: fault 6 with the text "panic: <value>", the
//     stack on stderr, and the same process goes on serving;
//   - a handler that answered the request itself (Respond or Fault) has
//     answered: what it returns is then ignored.
//
// Serve returns nil when the loop ends cleanly (ErrStopped: the stop
// signal, maximum-requests, end of stand-alone input), after the OnStop
// hooks ran, and otherwise the *fault.Fault that ended it.
func (s *Service) Serve(handler Handler) error {
	for {
		req, err := s.Next()
		if errors.Is(err, ErrStopped) {
			return nil
		}
		if err != nil {
			return err
		}
		data, recovered, panicked, herr := callHandler(handler, req)
		if !s.pending || req != &s.req {
			continue // the handler answered itself
		}
		var f *fault.Fault
		switch {
		case panicked:
			fmt.Fprintf(os.Stderr, "service: handler panic on request %d: %v\n%s", req.ID(), recovered, debug.Stack())
			_ = req.Fault(int(fault.ServiceException), fmt.Sprintf("panic: %v", recovered))
		case errors.As(herr, &f):
			_ = req.Fault(int(f.Code), f.Text)
		case herr != nil:
			fmt.Fprintf(os.Stderr, "service: handler error on request %d: %v\n", req.ID(), herr)
			_ = req.Fault(int(fault.ServiceException), herr.Error())
		default:
			_ = req.Respond(data)
		}
		// A failed write ends the loop: the next Next returns the fault.
	}
}

// callHandler runs handler, recovering a panic.
func callHandler(handler Handler, req *Request) (data []byte, recovered any, panicked bool, err error) {
	defer func() {
		if v := recover(); v != nil {
			recovered, panicked = v, true
		}
	}()
	data, err = handler(req)
	return data, nil, false, err
}
