// Command plKillOldServices stops every process that holds a stats segment
// (<rendezvousDir>/*.mmap) open or mapped: the service instances left over
// by a manager that died, to run before starting a manager. It sends SIGTERM
// to all of them, waits a second, then SIGKILL to those left.
//
//	plKillOldServices [-h] [rendezvousDir]
//
// The directory defaults to <home>/rendezvous (docs/protocol.md §7.1), the
// manager's default. Exit status 1 if it is not a directory, otherwise 0.
package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/pluton-go/pluton/go/client"
	"github.com/pluton-go/pluton/go/internal/cli"
)

const usage = `Usage: plKillOldServices [-h] [rendezvousDir]

Stop every process that holds a stats segment (<rendezvousDir>/*.mmap) open
or mapped: the instances left over by a manager that died. It sends SIGTERM,
waits a second, then sends SIGKILL to those left.

  -h             this help
  rendezvousDir  default <home>/rendezvous; <home> is $plutonHome, else
                 ~/.local/state/pluton, or /usr/local/var/pluton for root

Exit: 0 done (also when nothing was found), 1 not a directory or bad usage.
`

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr, time.Second)) }

func run(args []string, stdout, stderr io.Writer, pause time.Duration) int {
	cmd := &cli.Command{Name: "plKillOldServices", Spec: "h", Usage: usage, Stdout: stdout, Stderr: stderr}
	_, operands, err := cmd.Parse(args)
	if err != nil {
		return cli.Status(err)
	}
	dir := filepath.Join(client.Home(), "rendezvous")
	switch len(operands) {
	case 0:
	case 1:
		dir = operands[0]
	default:
		return cli.Status(cmd.BadUsage("unexpected argument %q", operands[1]))
	}
	fi, err := os.Stat(dir)
	if err != nil || !fi.IsDir() {
		fmt.Fprintf(stdout, "Error: %s is not a valid Rendezvous directory\n", dir)
		return 1
	}
	abs, err := filepath.Abs(dir)
	if err == nil {
		abs, err = filepath.EvalSymlinks(abs)
	}
	if err != nil {
		fmt.Fprintf(stdout, "Error: %s is not a valid Rendezvous directory\n", dir)
		return 1
	}
	pids := Holders(abs)
	fmt.Fprintf(stdout, "Process target count: %d\n", len(pids))
	if len(pids) == 0 {
		return 0
	}
	for i, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL} {
		if i > 0 {
			time.Sleep(pause)
		}
		for _, pid := range pids {
			_ = syscall.Kill(pid, sig)
		}
	}
	return 0
}

// Holders returns the processes (other than this one) that have a file
// <dir>/*.mmap open (/proc/<pid>/fd) or mapped (/proc/<pid>/maps), deleted
// files included.
func Holders(dir string) []int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	self := os.Getpid()
	match := func(p string) bool {
		p = strings.TrimSuffix(p, " (deleted)")
		return filepath.Dir(p) == dir && (strings.HasSuffix(p, ".mmap") || strings.HasSuffix(p, ".mmap.tmp"))
	}
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		if holds(pid, match) {
			pids = append(pids, pid)
		}
	}
	slices.Sort(pids)
	return pids
}

func holds(pid int, match func(string) bool) bool {
	fdDir := fmt.Sprintf("/proc/%d/fd", pid)
	if fds, err := os.ReadDir(fdDir); err == nil {
		for _, fd := range fds {
			if target, err := os.Readlink(filepath.Join(fdDir, fd.Name())); err == nil && match(target) {
				return true
			}
		}
	}
	maps, err := os.ReadFile(fmt.Sprintf("/proc/%d/maps", pid))
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(maps), "\n") {
		if i := strings.IndexByte(line, '/'); i >= 0 && match(line[i:]) {
			return true
		}
	}
	return false
}
