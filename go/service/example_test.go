package service_test

import (
	"errors"
	"fmt"
	"log"
	"os"

	"github.com/pluton-go/pluton/go/fault"
	"github.com/pluton-go/pluton/go/service"
)

// An echo service in the loop form: it answers every request with the
// request data, and faults a request whose context asks for it.
func Example() {
	svc, err := service.New("echo")
	if err != nil {
		fmt.Fprintln(os.Stderr, "echo:", err)
		os.Exit(42)
	}
	for {
		req, err := svc.Next()
		if errors.Is(err, service.ErrStopped) {
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

// The same service in the handler form (README.md, "A service in ten
// lines"): returning a *fault.Fault sends it; a stop by the manager makes
// Serve return nil, so the deferred Close and the stop hooks run.
func ExampleService_Serve() {
	svc, err := service.New("echo")
	if err != nil {
		log.Fatal(err)
	}
	defer svc.Close()
	svc.OnStop(func() { log.Print("echo: stopping") })
	err = svc.Serve(func(req *service.Request) ([]byte, error) {
		if _, refuse, _ := req.Context("echo.refuse"); refuse {
			return nil, fault.New(111, "refused")
		}
		return req.Data(), nil
	})
	if err != nil {
		log.Print(err)
	}
}
