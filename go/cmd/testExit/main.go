// Command testExit is a manager test service that exits at once with the
// status given as its first argument (default 1), after an optional delay in
// milliseconds (second argument). It initializes as a service first, so it
// fails as a real service would after start-up.
package main

import (
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/pluton-go/pluton/go/service"
)

func main() {
	code, delay := 1, 0
	if len(os.Args) > 1 {
		code, _ = strconv.Atoi(os.Args[1])
	}
	if len(os.Args) > 2 {
		delay, _ = strconv.Atoi(os.Args[2])
	}
	svc, err := service.New("testExit")
	if err == nil {
		defer svc.Close()
	}
	time.Sleep(time.Duration(delay) * time.Millisecond)
	fmt.Fprintf(os.Stderr, "testExit: exiting with status %d\n", code)
	if svc != nil {
		_ = svc.Close()
	}
	os.Exit(code)
}
