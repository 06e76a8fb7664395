// Command testStall is a manager test service: it echoes every request,
// except that a request whose data is "stall" never completes, and one whose
// data is "stallAfter" is answered and then the instance hangs before asking
// for the next request. Either way the instance stays busy in its slot and
// hangs until the manager kills it as unresponsive.
package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/pluton-go/pluton/go/service"
)

func main() {
	svc, err := service.New("testStall")
	if err != nil {
		fmt.Fprintf(os.Stderr, "testStall: %v\n", err)
		os.Exit(42)
	}
	defer svc.Close()
	for {
		req, err := svc.Next()
		if errors.Is(err, service.ErrStopped) {
			return
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "testStall: %v\n", err)
			_ = svc.Close()
			os.Exit(41)
		}
		if string(req.Data()) == "stall" {
			fmt.Fprintf(os.Stderr, "testStall: stalling\n")
			select {} // never answer
		}
		_ = req.Respond(req.Data())
		if string(req.Data()) == "stallAfter" {
			fmt.Fprintf(os.Stderr, "testStall: stalling after the response\n")
			select {} // wedged after responding
		}
	}
}
