// Command echoService is the reference echo service (reference §7.4): it
// answers every request with the request data.
//
// Usage:
//
//	echoService [loopCount]
//
// Context keys: echo.sleepMS sleeps that many milliseconds before replying
// (a negative value is the fault 111 "sleep time negative"); echo.sleepAfter
// sleeps that many seconds after replying; echo.log logs each step to
// stderr; echo.die (any value, as plPing -k sends it) makes the instance
// exit at once with status 3 without answering, as a crash would. The
// optional loopCount burns CPU with an empty loop per request.
//
// It runs the handler form (Serve), so that under maximum-threads an
// instance serves that many requests at once, each thread answering as
// "echo:<pid>/<t>"; the counts below are the instance's.
//
// At exit, including a stop by the manager, it logs
// "echo stats: Rq=<n> MB=<n>" to stderr in manager mode.
//
// Exit status: 42 if the service cannot initialize, 41 if the loop ended
// with a fault, 3 for echo.die, 0 otherwise.
package main

import (
	"fmt"
	"os"
	"sync/atomic"
	"time"

	"github.com/pluton-go/pluton/go/fault"
	"github.com/pluton-go/pluton/go/protocol"
	"github.com/pluton-go/pluton/go/service"
)

// exitDie is the exit status for the context echo.die.
const exitDie = 3

// sink keeps the CPU-burn loop from being optimized away.
var sink atomic.Int64

func main() {
	loopCount := 0
	if len(os.Args) > 1 {
		loopCount = int(protocol.ParseNumber([]byte(os.Args[1])))
	}
	svc, err := service.New("echo")
	if err != nil {
		fmt.Fprintf(os.Stderr, "echo: Cannot initialize as a service: %v\n", err)
		os.Exit(42)
	}
	requests, bytes, loopErr := serve(svc, loopCount)
	if svc.Mode() == service.Manager {
		fmt.Fprintf(os.Stderr, "echo stats: Rq=%d MB=%d\n", requests, bytes/1000000)
	}
	if loopErr != nil {
		fmt.Fprintf(os.Stderr, "echo: Warning: %v\n", loopErr)
	}
	_ = svc.Close()
	if loopErr != nil {
		os.Exit(41)
	}
}

// echo is the service's handler and its counts, which every thread of an
// instance updates (maximum-threads).
type echo struct {
	loopCount int
	requests  atomic.Int64 // requests answered with their data
	bytes     atomic.Int64 // bytes echoed
}

// serve runs the service loop in the handler form, so that an instance
// serves maximum-threads requests at once; it returns the requests
// answered, the bytes echoed, and the fault that ended the loop (nil for a
// clean stop).
func serve(svc *service.Service, loopCount int) (int64, int64, error) {
	e := &echo{loopCount: loopCount}
	err := svc.Serve(e.handle)
	return e.requests.Load(), e.bytes.Load(), err
}

// handle answers one request.
func (e *echo) handle(req *service.Request) ([]byte, error) {
	if _, die, _ := req.Context("echo.die"); die {
		fmt.Fprintf(os.Stderr, "echo: echo.die: exiting without a response to request %d\n", req.ID())
		os.Exit(exitDie)
	}
	_, logging, _ := req.Context("echo.log")
	sleepStr, _, _ := req.Context("echo.sleepMS")
	if logging {
		fmt.Fprintf(os.Stderr, "Context: echo.sleepMS=%s\n", sleepStr)
	}
	sleepMS := protocol.ParseNumber([]byte(sleepStr))
	if sleepMS < 0 {
		if logging {
			fmt.Fprintf(os.Stderr, "Sleep time: %s\n", sleepStr)
		}
		return nil, fault.New(111, "sleep time negative")
	}
	afterStr, _, _ := req.Context("echo.sleepAfter")
	sleepAfter := protocol.ParseNumber([]byte(afterStr))
	if logging {
		fmt.Fprintf(os.Stderr, "Context: echo.sleepAfter=%s\n", afterStr)
	}
	start := time.Now()
	if sleepMS > 0 {
		time.Sleep(time.Duration(sleepMS) * time.Millisecond)
	}
	n := 0
	for i := 0; i < e.loopCount; i++ {
		n += i
	}
	sink.Store(int64(n))
	if logging {
		fmt.Fprintf(os.Stderr, "sleep wanted=%s got=%d\n", sleepStr, time.Since(start).Milliseconds())
	}
	data := req.Data()
	if err := req.Respond(data); err != nil {
		// The loop ends with this fault: Serve returns it.
		return nil, err
	}
	if logging {
		fmt.Fprintln(os.Stderr, "Response sent")
	}
	requests := e.requests.Add(1)
	bytes := e.bytes.Add(int64(len(data)))
	if requests%10000 == 0 {
		fmt.Fprintf(os.Stderr, "%d echo stats: Rq=%d MB=%d\n", time.Now().Unix(), requests, bytes/1000000)
	}
	if sleepAfter > 0 {
		// Still busy: the slot stays busy until the next wait (accountability).
		time.Sleep(time.Duration(sleepAfter) * time.Second)
		if logging {
			fmt.Fprintf(os.Stderr, "sleepAfter=%d\n", sleepAfter)
		}
	}
	return nil, nil
}
