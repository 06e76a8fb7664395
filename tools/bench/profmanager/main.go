// Command profmanager is plutonManager with a CPU profile, for the
// benchmarks: it runs the manager package with the configuration,
// rendezvous and lookup-map options only and writes the profile when the
// manager returns (after SIGTERM).
//
// Usage:
//
//	profmanager PROFILE -C configDir -R rendezvousDir -L lookupMap
package main

import (
	"fmt"
	"os"
	"runtime/pprof"

	"github.com/pluton-go/pluton/go/manager/manager"
)

func main() {
	args := os.Args[1:]
	if len(args) != 7 {
		fmt.Fprintln(os.Stderr, "usage: profmanager PROFILE -C configDir -R rendezvousDir -L lookupMap")
		os.Exit(2)
	}
	opts := manager.DefaultOptions()
	opts.Stdout, opts.Stderr = os.Stdout, os.Stderr
	for i := 1; i+1 < len(args); i += 2 {
		switch args[i] {
		case "-C":
			opts.ConfigDir = args[i+1]
		case "-R":
			opts.RendezvousDir = args[i+1]
		case "-L":
			opts.LookupMap = args[i+1]
		default:
			fmt.Fprintln(os.Stderr, "profmanager: unknown option", args[i])
			os.Exit(2)
		}
	}
	f, err := os.Create(args[0])
	if err == nil {
		err = pprof.StartCPUProfile(f)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "profmanager:", err)
		os.Exit(1)
	}
	code := manager.Run(opts)
	pprof.StopCPUProfile()
	_ = f.Close()
	os.Exit(code)
}
