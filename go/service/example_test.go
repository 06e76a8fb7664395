package service_test

import (
	"errors"
	"fmt"
	"os"

	"github.com/pluton-go/pluton/go/service"
)

// An echo service: it answers every request with the request data, and
// faults a request whose context asks for it.
func Example() {
	svc, err := service.New("echo")
	if err != nil {
		fmt.Fprintln(os.Stderr, "echo:", err)
		os.Exit(42)
	}
	for {
		req, err := svc.Next()
		if errors.Is(err, service.ErrStop) {
			break
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "echo:", err)
			svc.Close()
			os.Exit(41)
		}
		if _, refuse, _ := req.Context("echo.refuse"); refuse {
			req.Fault(111, "refused")
			continue
		}
		req.Respond(req.Data())
	}
	svc.Close()
}
