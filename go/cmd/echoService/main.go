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
// At exit, including a stop by the manager, it logs
// "echo stats: Rq=<n> MB=<n>" to stderr in manager mode.
//
// Exit status: 42 if the service cannot initialize, 41 if the loop ended
// with a fault, 3 for echo.die, 0 otherwise.
package main

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/pluton-go/pluton/go/protocol"
	"github.com/pluton-go/pluton/go/service"
)

// exitDie is the exit status for the context echo.die.
const exitDie = 3

// sink keeps the CPU-burn loop from being optimized away.
//
//lint:ignore U1000 written only, so that the CPU-burn loop is not optimized away
var sink int

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

// serve runs the request loop; it returns the requests answered, the bytes
// echoed, and the fault that ended the loop (nil for a clean stop).
func serve(svc *service.Service, loopCount int) (int, int64, error) {
	requests, bytes := 0, int64(0)
	for {
		req, err := svc.Next()
		if errors.Is(err, service.ErrStopped) {
			return requests, bytes, nil
		}
		if err != nil {
			return requests, bytes, err
		}
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
			if err := req.Fault(111, "sleep time negative"); err != nil {
				return requests, bytes, err
			}
			continue
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
		for i := 0; i < loopCount; i++ {
			sink += i
		}
		if logging {
			fmt.Fprintf(os.Stderr, "sleep wanted=%s got=%d\n", sleepStr, time.Since(start).Milliseconds())
		}
		data := req.Data()
		if err := req.Respond(data); err != nil {
			return requests, bytes, err
		}
		if logging {
			fmt.Fprintln(os.Stderr, "Response sent")
		}
		requests++
		bytes += int64(len(data))
		if requests%10000 == 0 {
			fmt.Fprintf(os.Stderr, "%d echo stats: Rq=%d MB=%d\n", time.Now().Unix(), requests, bytes/1000000)
		}
		if sleepAfter > 0 {
			time.Sleep(time.Duration(sleepAfter) * time.Second)
			if logging {
				fmt.Fprintf(os.Stderr, "sleepAfter=%d\n", sleepAfter)
			}
		}
	}
}
