// Command plVersion prints the versions of the Pluton components and of the
// formats they share, and warns when the running manager's differ from this
// client's.
//
//	plVersion [-h] [-L lookupMap]
//
// The manager's version and the lookup map's format version are read from
// the lookup map the manager wrote (its "# plutonManager <version>" and
// "# pluton lookup map <n>" lines); the client and service API versions are
// this build's.
package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/pluton-go/pluton/go/client"
	"github.com/pluton-go/pluton/go/internal/cli"
	"github.com/pluton-go/pluton/go/stats"
	"github.com/pluton-go/pluton/go/version"
)

const usage = `Usage: plVersion [-h] [-L lookupMap]

Print the versions of the running manager (read from its lookup map), of the
client and service APIs and of the shared formats. A warning goes to stderr
when the manager's version or the lookup map's format differs from this
client's.

  -h            this help
  -L lookupMap  the manager's lookup map (default ` + client.LookupHelp + `)
`

// Lines of the lookup map that plVersion reads (docs/protocol.md §7).
const (
	mapHeader  = "# pluton lookup map "
	mapManager = "# plutonManager "
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	cmd := &cli.Command{Name: "plVersion", Spec: "hL:", Usage: usage, Stdout: stdout, Stderr: stderr}
	opts, operands, err := cmd.Parse(args)
	if err != nil {
		return cli.Status(err)
	}
	if len(operands) > 0 {
		return cli.Status(cmd.BadUsage("unexpected argument %q", operands[0]))
	}
	var lookup string
	for _, o := range opts {
		if o.Name == 'L' {
			lookup = o.Arg
		}
	}
	path := client.LookupPath(lookup)
	m, err := readMap(path)

	managerVersion := m.manager
	if err != nil {
		managerVersion = "unknown (" + err.Error() + ")"
	}
	mapVersion := m.format
	if err != nil {
		mapVersion = version.LookupMapVersion // what this client reads
	}
	fmt.Fprintf(stdout, "plutonManager: %s\n", managerVersion)
	fmt.Fprintf(stdout, "clientAPI: %s\n", version.Version)
	fmt.Fprintf(stdout, "serviceAPI: %s\n", version.Version)
	fmt.Fprintf(stdout, "Lookup Map: %s\n", path)
	fmt.Fprintf(stdout, "shmLookupMapVersion: %d\n", mapVersion)
	fmt.Fprintf(stdout, "shmServiceVersion: %d\n", stats.SegmentVersion)
	if err != nil {
		return 0
	}
	if m.manager != version.Version {
		fmt.Fprintf(stderr, "Warning: the versions differ: plutonManager %s, clientAPI %s\n", m.manager, version.Version)
	}
	if m.format != version.LookupMapVersion {
		fmt.Fprintf(stderr, "Warning: the lookup map's format is %d, this client reads %d\n",
			m.format, version.LookupMapVersion)
	}
	return 0
}

// mapInfo is what a lookup map says about the manager that wrote it.
type mapInfo struct {
	format  int    // from "# pluton lookup map <n>"
	manager string // from "# plutonManager <version>"
}

// readMap reads the version lines at the top of the lookup map at path.
func readMap(path string) (mapInfo, error) {
	var m mapInfo
	st, err := os.Stat(path)
	switch {
	case err != nil:
		return m, fmt.Errorf("no lookup map at %s", path)
	case st.IsDir():
		return m, fmt.Errorf("%s is a rendezvous directory, not a lookup map", path)
	}
	f, err := os.Open(path)
	if err != nil {
		return m, fmt.Errorf("cannot read %s: %w", path, err)
	}
	defer f.Close()
	sc := bufio.NewScanner(io.LimitReader(f, 64<<10))
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "#") {
			break // the version lines come first
		}
		if v, ok := strings.CutPrefix(line, mapHeader); ok {
			if m.format, err = strconv.Atoi(strings.TrimSpace(v)); err != nil {
				return m, fmt.Errorf("%s: bad lookup map version %q", path, strings.TrimSpace(v))
			}
		}
		if v, ok := strings.CutPrefix(line, mapManager); ok {
			m.manager = strings.TrimSpace(v)
		}
	}
	switch {
	case m.format == 0:
		return m, fmt.Errorf("%s is not a lookup map", path)
	case m.manager == "":
		return m, fmt.Errorf("%s names no manager version (written by an older plutonManager)", path)
	}
	return m, nil
}
