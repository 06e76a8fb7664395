// Command plVersion prints the versions of the Pluton components and of the
// formats they share.
//
//	plVersion [-h]
package main

import (
	"fmt"
	"io"
	"os"

	"github.com/pluton-go/pluton/go/version"
)

// DefaultLookupMap is where clients look for the lookup map by default.
const DefaultLookupMap = "/usr/local/var/pluton/lookup.map"

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	for _, a := range args {
		if a == "-h" {
			fmt.Fprintln(stdout, "Usage: plVersion [-h]")
			fmt.Fprintln(stdout, "Print the versions of the manager, the client and service APIs and the shared formats.")
			return 0
		}
		fmt.Fprintf(stderr, "plVersion: unknown argument %q\nUsage: plVersion [-h]\n", a)
		return 1
	}
	manager, client, service := version.Version, version.Version, version.Version
	fmt.Fprintf(stdout, "plutonManager: %s\n", manager)
	fmt.Fprintf(stdout, "clientAPI: %s\n", client)
	fmt.Fprintf(stdout, "serviceAPI: %s\n", service)
	fmt.Fprintf(stdout, "Lookup Map: %s\n", DefaultLookupMap)
	fmt.Fprintf(stdout, "shmLookupMapVersion: %d\n", version.LookupMapVersion)
	fmt.Fprintf(stdout, "shmServiceVersion: %d\n", version.StatsSegmentVersion)
	if manager != client || client != service {
		fmt.Fprintln(stderr, "Warning: the component versions differ")
	}
	return 0
}
