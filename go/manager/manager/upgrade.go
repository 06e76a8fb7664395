package manager

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/pluton-go/pluton/go/manager/pool"
	"github.com/pluton-go/pluton/go/manager/process"
	"github.com/pluton-go/pluton/go/version"
)

// The upgrade in place (docs/operations.md, "Upgrading the manager"): on
// SIGUSR2 the manager writes a handover file in the rendezvous directory and
// execve's its executable, keeping its pid, so the instances stay its
// children. The new program finds the file through UpgradeEnv, inherits the
// descriptors it names (every service's listening socket, stats segment and
// report pipe, every instance's stderr pipe, the lock file), adopts the
// services and instances instead of starting any, and carries on. The
// coordination server's socket and the status listener are opened again. If
// execve fails the old program logs it and goes on as before.

// UpgradeEnv names the handover file in the environment of the replacing
// program; it is removed from the environment before any instance starts.
const UpgradeEnv = "plutonManagerUpgrade"

// UpgradeName is the handover file in the rendezvous directory.
const UpgradeName = "plutonManager.upgrade"

// handover is the content of the handover file.
type handover struct {
	PID      int                    `json:"pid"`
	Version  string                 `json:"version"`
	Time     time.Time              `json:"time"` // when it was written: files modified since are reloaded
	Started  time.Time              `json:"started"`
	LockFD   int                    `json:"lockFD"`
	Services []pool.ServiceHandover `json:"services"`
}

// ExecFunc replaces the program in place (process.MainThread.Exec); it
// returns only on failure.
type ExecFunc func(path string, argv, env []string, keep []int) error

// upgrade hands everything over to the manager's executable, re-executed in
// place. It returns only if that could not be done.
func (m *Manager) upgrade(now time.Time) {
	if m.shuttingDown {
		return
	}
	fail := func(format string, args ...any) {
		m.log.Printf("Manager Upgrade failed: %s; this manager goes on", fmt.Sprintf(format, args...))
	}
	m.log.Printf("Manager Signal: Upgrade (re-executing %s)", m.exe)
	if m.opts.Exec == nil {
		fail("this manager cannot re-execute itself (not started by plutonManager)")
		return
	}
	if m.exe == "" {
		fail("the manager's executable is unknown")
		return
	}
	if len(m.candidates) > 0 || len(m.zombies) > 0 {
		fail("rollouts in progress: %d, services stopping: %d; send SIGUSR2 again once they are done",
			len(m.candidates), len(m.zombies))
		return
	}
	if err := unix.Access(m.exe, unix.X_OK); err != nil {
		fail("%s: %v", m.exe, err)
		return
	}
	h := handover{PID: os.Getpid(), Version: version.Version, Time: now, Started: m.started, LockFD: -1}
	var keep []int
	if m.lockFile != nil {
		h.LockFD = int(m.lockFile.Fd())
		keep = append(keep, h.LockFD)
	}
	instances := 0
	for _, key := range sortedKeys(m.services) {
		sh, fds, err := m.services[key].Handover()
		if err != nil {
			fail("%v", err)
			return
		}
		h.Services = append(h.Services, sh)
		keep = append(keep, fds...)
		instances += len(sh.Instances)
	}
	path := filepath.Join(m.opts.RendezvousDir, UpgradeName)
	if err := writeHandover(path, &h); err != nil {
		fail("%v", err)
		return
	}
	env := m.opts.ExecEnv
	if env == nil {
		env = os.Environ()
	}
	env = append(envWithout(env, UpgradeEnv), UpgradeEnv+"="+path)
	m.log.Printf("Manager Upgrade: handing over %d services and %d instances to %s (pid %d stays)",
		len(h.Services), instances, m.exe, h.PID)
	err := m.opts.Exec(m.exe, os.Args, env, keep)
	_ = os.Remove(path)
	fail("%v", err)
}

// writeHandover writes the handover file atomically, readable by the
// manager's user only.
func writeHandover(path string, h *handover) error {
	b, err := json.Marshal(h)
	if err != nil {
		return fmt.Errorf("handover: %w", err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("handover: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("handover: %w", err)
	}
	return nil
}

// readHandover reads and removes the handover file named by UpgradeEnv, and
// removes the variable from the environment; nil if there is none.
func readHandover() (*handover, error) {
	path, ok := os.LookupEnv(UpgradeEnv)
	if !ok {
		return nil, nil
	}
	_ = os.Unsetenv(UpgradeEnv)
	b, err := os.ReadFile(path)
	_ = os.Remove(path)
	if err != nil {
		return nil, fmt.Errorf("upgrade handover: %w", err)
	}
	var h handover
	if err := json.Unmarshal(b, &h); err != nil {
		return nil, fmt.Errorf("upgrade handover %s: %w", path, err)
	}
	if h.PID != os.Getpid() {
		return nil, fmt.Errorf("upgrade handover %s: written by pid %d, this is pid %d", path, h.PID, os.Getpid())
	}
	return &h, nil
}

// adoptLock takes over the lock file the replaced program held.
func (m *Manager) adoptLock(fd int) error {
	if err := process.SetCloseOnExec(fd); err != nil {
		return fatalf("Upgrade: inherited lock fd %d: %v", fd, err)
	}
	f := os.NewFile(uintptr(fd), filepath.Join(m.opts.RendezvousDir, LockName))
	if err := unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		return fatalf("Upgrade: inherited lock fd %d: %v", fd, err)
	}
	_ = f.Truncate(0)
	_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	m.lockFile = f
	return nil
}

// adopt takes over the services of the handover; a service that cannot be
// adopted is logged, its instances are stopped, and the scan that follows
// starts it anew.
func (m *Manager) adopt(h *handover, now time.Time) {
	if !h.Started.IsZero() {
		m.started = h.Started
	}
	instances := 0
	for _, sh := range h.Services {
		svc, err := pool.Adopt(sh, m.env, now)
		if err != nil {
			m.log.Printf("Manager Upgrade: %s not adopted: %v; its instances are stopped", sh.Key, err)
			for _, ih := range sh.Instances {
				_ = unix.Kill(ih.PID, unix.SIGTERM)
				_ = unix.Close(ih.StderrFD)
			}
			for _, fd := range []int{sh.ListenFD, sh.SegmentFD, sh.ReportFD, sh.ReportWFD} {
				_ = unix.Close(fd)
			}
			continue
		}
		m.services[sh.Key] = svc
		instances += svc.Live()
	}
	m.log.Printf("Manager Upgrade: adopted %d services and %d instances from version %s",
		len(m.services), instances, h.Version)
}

// envWithout returns env without the variable name.
func envWithout(env []string, name string) []string {
	out := make([]string, 0, len(env)+1)
	for _, kv := range env {
		if !strings.HasPrefix(kv, name+"=") {
			out = append(out, kv)
		}
	}
	return out
}

var errNoExecutable = errors.New("no executable")

// executable returns the manager's executable as it was when it started:
// the path an upgrade re-executes (a new binary moved over it is run).
func executable() (string, error) {
	exe, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("%w: %w", errNoExecutable, err)
	}
	return strings.TrimSuffix(exe, " (deleted)"), nil
}
