package manager

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/pluton-go/pluton/go/manager/pool"
	"github.com/pluton-go/pluton/go/manager/status"
)

// ControlsName is the file in the rendezvous directory that keeps the
// services held or halted, so that a reload or a restart of the manager
// does not bring a halted service back (docs/manager.md, "Pool control").
const ControlsName = "plutonManager.controls"

// controlsVersion is the version of the controls file's format.
const controlsVersion = 1

// controlsFile is the controls file's JSON.
type controlsFile struct {
	Version  int                             `json:"version"`
	Controls map[string]status.ControlRecord `json:"controls"`
}

// ReadControls reads the controls file of rendezvousDir: an empty map if
// there is none.
func ReadControls(rendezvousDir string) (map[string]status.ControlRecord, error) {
	path := filepath.Join(rendezvousDir, ControlsName)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return map[string]status.ControlRecord{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("controls file: %w", err)
	}
	var f controlsFile
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("controls file %s: %w", path, err)
	}
	if f.Version != controlsVersion {
		return nil, fmt.Errorf("controls file %s: version %d, want %d", path, f.Version, controlsVersion)
	}
	recs := make(map[string]status.ControlRecord, len(f.Controls))
	for k, r := range f.Controls {
		if r.Action != "hold" && r.Action != "halt" {
			return nil, fmt.Errorf("controls file %s: %s: action %q, want hold or halt", path, k, r.Action)
		}
		recs[k] = r
	}
	return recs, nil
}

// WriteControls replaces the controls file of rendezvousDir atomically (a
// temporary file, synced, renamed into place); with no record it removes
// the file.
func WriteControls(rendezvousDir string, recs map[string]status.ControlRecord) error {
	path := filepath.Join(rendezvousDir, ControlsName)
	if len(recs) == 0 {
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("controls file: %w", err)
		}
		return nil
	}
	b, err := json.MarshalIndent(controlsFile{Version: controlsVersion, Controls: recs}, "", "  ")
	if err != nil {
		return fmt.Errorf("controls file: %w", err)
	}
	tmp := fmt.Sprintf("%s.%d.tmp", path, os.Getpid())
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err == nil {
		_, err = f.Write(append(b, '\n'))
		if err == nil {
			err = f.Sync()
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("controls file: %w", err)
	}
	return nil
}

// controlState is the manager's copy of the controls file.
type controlState struct {
	recs map[string]status.ControlRecord
}

// controlRecs returns the records, reading the file on first use.
func (m *Manager) controlRecs() map[string]status.ControlRecord {
	if m.controls == nil {
		recs, err := ReadControls(m.opts.RendezvousDir)
		if err != nil {
			m.log.Printf("Warning: %v: no hold or halt restored", err)
			recs = map[string]status.ControlRecord{}
		}
		m.controls = &controlState{recs: recs}
	}
	return m.controls.recs
}

// restoreControl applies the recorded hold or halt, if any, to a service
// just put in place (started by a scan, or a new version rolled out).
func (m *Manager) restoreControl(now time.Time, s *pool.Service) {
	rec, ok := m.controlRecs()[s.Key]
	if !ok {
		return
	}
	st := s.Status(now)
	switch {
	case rec.Action == "halt" && !st.Halted:
		s.Halt(now)
	case rec.Action == "hold" && !st.Held:
		s.Hold()
	default:
		return
	}
	m.log.Printf("Service Control: %s %s (kept from %s by %s)", s.Key, pastTense(rec.Action),
		rec.At.Format(time.RFC3339), rec.By)
}

// recordControl keeps a control applied through Control in the file.
func (m *Manager) recordControl(now time.Time, key, action, by string) {
	recs := m.controlRecs()
	switch action {
	case "hold", "halt":
		if action == "hold" && recs[key].Action == "halt" {
			return // still halted: the halt is what a restart must bring back
		}
		if by == "" {
			by = "unknown"
		}
		recs[key] = status.ControlRecord{Action: action, At: now.UTC().Truncate(time.Second), By: by}
	case "resume":
		if _, ok := recs[key]; !ok {
			return
		}
		delete(recs, key)
	default:
		return
	}
	if err := WriteControls(m.opts.RendezvousDir, recs); err != nil {
		m.log.Printf("Warning: %v: the %s of %s is not kept across a restart", err, action, key)
	}
}

// reconcileControls re-reads the controls file after a reload: a service
// whose record was removed (plutonManager --clear-halt) is resumed, a
// recorded one is held or halted.
func (m *Manager) reconcileControls(now time.Time) {
	old := m.controlRecs()
	recs, err := ReadControls(m.opts.RendezvousDir)
	if err != nil {
		m.log.Printf("Warning: %v: holds and halts kept as they are", err)
		return
	}
	m.controls.recs = recs
	for _, key := range sortedKeys(old) {
		s := m.services[key]
		if _, still := recs[key]; still || s == nil {
			continue
		}
		m.log.Printf("Service Control: %s resumed (its %s was cleared from %s)", key, old[key].Action, ControlsName)
		s.Resume(now)
	}
	for _, key := range sortedKeys(m.services) {
		m.restoreControl(now, m.services[key])
	}
	m.syncRemote()
}

// Controls implements status.ControlReporter: the recorded holds and halts.
func (m *Manager) Controls(ctx context.Context) (map[string]status.ControlRecord, error) {
	out := map[string]status.ControlRecord{}
	err := m.do(ctx, func() {
		for k, r := range m.controlRecs() {
			out[k] = r
		}
	})
	return out, err
}

func pastTense(action string) string {
	switch action {
	case "hold":
		return "held"
	case "halt":
		return "halted"
	}
	return action + "d"
}

// ClearControl removes key's hold or halt from the controls file of
// rendezvousDir (plutonManager --clear-halt). If a manager is running on the
// directory, it is sent SIGHUP, and its reload resumes the service. It
// returns what it did, for the command to print.
func ClearControl(rendezvousDir, key string) (string, error) {
	recs, err := ReadControls(rendezvousDir)
	if err != nil {
		return "", err
	}
	rec, ok := recs[key]
	if !ok {
		held := make([]string, 0, len(recs))
		for k := range recs {
			held = append(held, k)
		}
		sort.Strings(held)
		if len(held) == 0 {
			return "", fmt.Errorf("%s is neither held nor halted: no service is (%s)", key,
				filepath.Join(rendezvousDir, ControlsName))
		}
		return "", fmt.Errorf("%s is neither held nor halted; held or halted: %v", key, held)
	}
	delete(recs, key)
	if err := WriteControls(rendezvousDir, recs); err != nil {
		return "", err
	}
	msg := fmt.Sprintf("%s: %s of %s by %s cleared", key, rec.Action, rec.At.Format(time.RFC3339), rec.By)
	pid := runningManager(rendezvousDir)
	if pid <= 0 {
		return msg + "; no manager is running on " + rendezvousDir, nil
	}
	if err := syscall.Kill(pid, syscall.SIGHUP); err != nil {
		return "", fmt.Errorf("%s; telling the manager (pid %d) to reload: %w", msg, pid, err)
	}
	return fmt.Sprintf("%s; manager pid %d told to reload (SIGHUP)", msg, pid), nil
}

// runningManager returns the pid of the manager holding the lock of
// rendezvousDir, 0 if none holds it.
func runningManager(rendezvousDir string) int {
	f, err := os.Open(filepath.Join(rendezvousDir, LockName))
	if err != nil {
		return 0
	}
	defer f.Close()
	if unix.Flock(int(f.Fd()), unix.LOCK_SH|unix.LOCK_NB) == nil {
		_ = unix.Flock(int(f.Fd()), unix.LOCK_UN)
		return 0 // nobody holds it
	}
	var pid int
	if _, err := fmt.Fscan(f, &pid); err != nil {
		return 0
	}
	return pid
}
