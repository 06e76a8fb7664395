// Command testCleanup is a manager test service for clean stops
// (docs/sdk.md rule 4): it echoes each request, and when its loop ends for
// any reason (the stop signal of a scale-down, reload, halt or manager
// stop; its maximum-requests) its OnStop hook and then its deferred cleanup
// each append a line to <markerDir>/<pid>: "onStop", then "defer".
//
//	testCleanup markerDir
//
// Exit 42 if it cannot initialize as a service, else 0.
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/pluton-go/pluton/go/service"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: testCleanup markerDir")
		os.Exit(2)
	}
	os.Exit(run(os.Args[1]))
}

// mark appends line to <dir>/<pid>.
func mark(dir, line string) {
	f, err := os.OpenFile(filepath.Join(dir, strconv.Itoa(os.Getpid())), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		fmt.Fprintf(os.Stderr, "testCleanup: %v\n", err)
		return
	}
	defer f.Close()
	fmt.Fprintln(f, line)
}

func run(dir string) int {
	svc, err := service.New("cleanup")
	if err != nil {
		fmt.Fprintf(os.Stderr, "testCleanup: %v\n", err)
		return 42
	}
	defer func() {
		mark(dir, "defer")
		_ = svc.Close()
	}()
	svc.OnStop(func() { mark(dir, "onStop") })
	if err := svc.Serve(func(r *service.Request) ([]byte, error) { return r.Data(), nil }); err != nil {
		fmt.Fprintf(os.Stderr, "testCleanup: %v\n", err)
	}
	return 0
}
