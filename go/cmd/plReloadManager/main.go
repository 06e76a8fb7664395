// Command plReloadManager tells a running plutonManager to rescan its
// configuration directory: SIGHUP reloads the changed services, SIGINT (-a)
// all of them. The manager is found through the lock file it holds in its
// rendezvous directory.
//
//	plReloadManager [-ah] [-R rendezvousDir]
//
// Exit status: 0 when the signal was sent, 1 when no manager runs there, 2
// for bad usage.
package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/pluton-go/pluton/go/client"
	"github.com/pluton-go/pluton/go/internal/cli"
	"github.com/pluton-go/pluton/go/manager/manager"
)

const usage = `Usage: plReloadManager [-ah] [-R rendezvousDir]

Tell the plutonManager whose rendezvous directory is rendezvousDir to rescan
its configuration directory. The manager is found through the lock file it
holds there.

  -a      reload all services (SIGINT), not only the changed ones (SIGHUP)
  -h      this help
  -R dir  the manager's rendezvous directory (default <home>/rendezvous;
          <home> is $plutonHome, else ~/.local/state/pluton, or
          /usr/local/var/pluton for root)

Exit: 0 signal sent, 1 no manager runs there, 2 bad usage.
`

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	cmd := &cli.Command{Name: "plReloadManager", Spec: "ahR:", Usage: usage, UsageExit: 2,
		Stdout: stdout, Stderr: stderr}
	opts, operands, err := cmd.Parse(args)
	if err != nil {
		return cli.Status(err)
	}
	all, dir := false, filepath.Join(client.Home(), "rendezvous")
	for _, o := range opts {
		switch o.Name {
		case 'a':
			all = true
		case 'R':
			dir = o.Arg
		}
	}
	if len(operands) > 0 {
		return cli.Status(cmd.BadUsage("unexpected argument %q", operands[0]))
	}
	pid, err := managerPID(dir)
	if err != nil {
		return cli.Status(cmd.Fail(1, "%v", err))
	}
	sig, name := syscall.SIGHUP, "SIGHUP (reload changed services)"
	if all {
		sig, name = syscall.SIGINT, "SIGINT (reload all services)"
	}
	if err := syscall.Kill(pid, sig); err != nil {
		return cli.Status(cmd.Fail(1, "cannot signal plutonManager pid %d: %v", pid, err))
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
