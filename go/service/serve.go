package service

import (
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"strconv"
	"sync"
	"time"

	"github.com/pluton-go/pluton/go/fault"
	"github.com/pluton-go/pluton/go/stats"
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
//
// Under the manager with maximum-threads T above 1 (docs/protocol.md
// §8.7), Serve runs T workers, each the loop above with its own thread
// slot, connections and Request, so handler is called by up to T
// goroutines at once and must be safe for that. The workers share the
// stop signal and the maximum-requests count: the worker that takes the
// last allowed request, or that ends with a fault, makes every worker
// leave. Serve returns once every worker has left, with the first fault a
// worker ended with, and the OnStop hooks run once, after that.
func (s *Service) Serve(handler Handler) error {
	if s.inst.threads > 1 && !s.worker && !s.closed && s.stopErr == nil {
		return s.serveThreads(handler)
	}
	return s.serve(handler)
}

// serveThreads runs the workers of a threaded instance and ends the loop
// once they have all left.
func (s *Service) serveThreads(handler Handler) error {
	workers := make([]*Service, s.inst.threads)
	workers[0] = s
	s.worker = true
	for t := 1; t < len(workers); t++ {
		workers[t] = s.newWorker(t)
	}
	var wg sync.WaitGroup
	for _, w := range workers {
		wg.Go(func() { _ = w.serve(handler) })
	}
	wg.Wait()
	s.worker = false
	// Connections handed over by a worker that then ended with a fault,
	// after the others had left.
	for _, c := range s.inst.orphans {
		c.parser.SetPool(&s.pool)
		s.readError(c, time.Now())
	}
	s.inst.orphans = nil
	s.inst.mu.Lock()
	s.exitReason, s.stopErr = s.inst.reason, s.inst.err
	s.inst.mu.Unlock()
	s.runStopHooks()
	if s.mode == Manager {
		s.writeExit(s.exitReason)
	}
	if errors.Is(s.stopErr, ErrStopped) {
		return nil
	}
	return s.stopErr
}

// newWorker returns the worker of thread t (t ≥ 1) of a threaded
// instance: its own thread slot, connections, buffers and Request; the
// instance's listening socket, reporter, recorder and limits.
func (s *Service) newWorker(t int) *Service {
	w := &Service{
		name: s.prefix + "/" + strconv.Itoa(t), prefix: s.prefix,
		mode: s.mode, pid: s.pid, trace: s.trace,
		listen: s.listen, out: -1, reportFD: -1,
		affinityTimeout: s.affinityTimeout,
		readTimeout:     s.readTimeout,
		maxRequestSize:  s.maxRequestSize,
		maxPending:      s.maxPending,
		inst:            s.inst,
		worker:          true,
		first:           s.first,
		reporter:        s.reporter,
		rec:             s.rec,
	}
	w.req.s = w
	if s.inst.slots != nil {
		w.slot = s.inst.slots[t]
		// Idle since the start (initManager); the worker writes the next change.
		w.slotState = stats.StateIdle
	}
	return w
}

// serve is the handler loop of one worker.
func (s *Service) serve(handler Handler) error {
	for {
		req, err := s.next()
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
