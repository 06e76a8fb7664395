// Command plReloadManager tells a running plutonManager to rescan its
// configuration directory: SIGHUP reloads the changed services, SIGINT (-a)
// all of them. The manager is found through the lock file it holds in its
// rendezvous directory.
//
//	plReloadManager [-a] [-R rendezvousDir]
//
// Exit status: 0 when the signal was sent, 1 when no manager runs there, 2
// for bad usage.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/pluton-go/pluton/go/manager/manager"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("plReloadManager", flag.ContinueOnError)
	fs.SetOutput(stderr)
	all := fs.Bool("a", false, "reload all services (SIGINT), not only the changed ones (SIGHUP)")
	dir := fs.String("R", ".", "the manager's rendezvous directory")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: plReloadManager [-a] [-R rendezvousDir]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return 2
	}
	pid, err := managerPID(*dir)
	if err != nil {
		fmt.Fprintf(stderr, "Error: %v\n", err)
		return 1
	}
	sig, name := syscall.SIGHUP, "SIGHUP (reload changed services)"
	if *all {
		sig, name = syscall.SIGINT, "SIGINT (reload all services)"
	}
	if err := syscall.Kill(pid, sig); err != nil {
		fmt.Fprintf(stderr, "Error: cannot signal plutonManager pid %d: %v\n", pid, err)
		return 1
	}
	fmt.Fprintf(stdout, "Sent %s to plutonManager pid %d\n", name, pid)
	return 0
}

// managerPID returns the pid in the lock file of dir, after checking that
// a manager still holds the lock.
func managerPID(dir string) (int, error) {
	path := filepath.Join(dir, manager.LockName)
	f, err := os.Open(path)
	if err != nil {
		return 0, fmt.Errorf("no plutonManager lock file in %s: %w", dir, err)
	}
	defer f.Close()
	if err := unix.Flock(int(f.Fd()), unix.LOCK_SH|unix.LOCK_NB); err == nil {
		_ = unix.Flock(int(f.Fd()), unix.LOCK_UN)
		return 0, fmt.Errorf("no plutonManager is running with Rendezvous directory %s", dir)
	}
	b, err := io.ReadAll(io.LimitReader(f, 64))
	if err != nil {
		return 0, err
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("bad pid %q in %s", strings.TrimSpace(string(b)), path)
	}
	return pid, nil
}
