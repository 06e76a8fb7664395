// Command profecho is the reference echo loop (go/cmd/echoService without
// its context options) with a CPU profile: the benchmarks run it under the
// manager to profile the service side of the hot path.
//
// Usage:
//
//	profecho PROFILE-PREFIX SECONDS
//
// The profile starts with the first request and covers SECONDS of wall
// time; then it is written to PROFILE-PREFIX.<pid>.pprof and the service
// goes on serving without profiling. (The service library may exit at once
// on SIGTERM while idle, so the profile cannot wait for the stop.)
package main

import (
	"errors"
	"fmt"
	"os"
	"runtime/pprof"
	"strconv"
	"time"

	"github.com/pluton-go/pluton/go/service"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: profecho PROFILE-PREFIX SECONDS")
		os.Exit(2)
	}
	secs, err := strconv.ParseFloat(os.Args[2], 64)
	if err != nil {
		fmt.Fprintln(os.Stderr, "profecho: bad SECONDS")
		os.Exit(2)
	}
	window := time.Duration(secs * float64(time.Second))
	path := fmt.Sprintf("%s.%d.pprof", os.Args[1], os.Getpid())
	svc, err := service.New("echo")
	if err != nil {
		fmt.Fprintln(os.Stderr, "profecho:", err)
		os.Exit(42)
	}
	var f *os.File
	var start time.Time
	code := 0
	for {
		req, err := svc.Next()
		if errors.Is(err, service.ErrStopped) {
			break
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "profecho:", err)
			code = 41
			break
		}
		if start.IsZero() {
			start = time.Now()
			if f, err = os.Create(path + ".tmp"); err == nil {
				err = pprof.StartCPUProfile(f)
			}
			if err != nil {
				fmt.Fprintln(os.Stderr, "profecho:", err)
				f = nil
			}
		}
		if err := req.Respond(req.Data()); err != nil {
			fmt.Fprintln(os.Stderr, "profecho:", err)
			code = 41
			break
		}
		if f != nil && time.Since(start) >= window {
			stop(f, path)
			f = nil
		}
	}
	if f != nil {
		stop(f, path)
	}
	_ = svc.Close()
	os.Exit(code)
}

// stop ends the profile and renames it into place.
func stop(f *os.File, path string) {
	pprof.StopCPUProfile()
	if err := f.Close(); err == nil {
		_ = os.Rename(f.Name(), path)
	}
}
