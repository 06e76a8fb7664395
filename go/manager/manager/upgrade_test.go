package manager

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func (r *running) pids() []int {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	procs, err := r.m.Processes(ctx)
	require.NoError(r.t, err)
	var out []int
	for _, p := range procs {
		out = append(out, p.PID)
	}
	sort.Ints(out)
	return out
}

// TestUpgradeHandover: on SIGUSR2 the manager writes the handover (every
// instance, every descriptor to inherit) and calls Exec with its executable
// and the handover's path in the environment; when Exec fails the manager
// removes the file and goes on with the same instances. Without Exec (a
// manager run by Run in another program) SIGUSR2 is refused, not a shutdown.
func TestUpgradeHandover(t *testing.T) {
	for _, withExec := range []bool{true, false} {
		t.Run(map[bool]string{true: "exec fails", false: "no exec"}[withExec], func(t *testing.T) {
			opts := newOptions(t)
			writeConfig(t, opts.ConfigDir, "test.a.0.raw", instanceConfig("minimum-processes 2\nprestart-processes true\n"))
			type call struct {
				path string
				argv []string
				env  []string
				keep []int
				h    handover
				err  error
			}
			calls := make(chan call, 1)
			if withExec {
				opts.ExecEnv = append(os.Environ(), "NOTIFY_SOCKET=/kept/from/the/start")
				opts.Exec = func(path string, argv, env []string, keep []int) error {
					c := call{path: path, argv: argv, env: env, keep: keep}
					b, err := os.ReadFile(filepath.Join(opts.RendezvousDir, UpgradeName))
					if c.err = err; err == nil {
						c.err = json.Unmarshal(b, &c.h)
					}
					calls <- c
					return errors.New("exec refused by the test")
				}
			}
			r := start(t, opts)
			r.eventually("2 instances", func() bool { return len(r.pids()) == 2 })
			before := r.pids()

			r.signals <- syscall.SIGUSR2
			want := "Manager Upgrade failed: this manager cannot re-execute itself"
			if withExec {
				want = "Manager Upgrade failed: exec refused by the test; this manager goes on"
			}
			r.eventually("the failure logged", func() bool { return strings.Contains(r.log.String(), want) })
			assert.NotContains(t, r.log.String(), "Manager shutdown")
			assert.Equal(t, before, r.pids(), "the same instances")
			_, err := os.Stat(filepath.Join(opts.RendezvousDir, UpgradeName))
			assert.ErrorIs(t, err, os.ErrNotExist, "no handover file left")
			if !withExec {
				return
			}
			c := <-calls
			require.NoError(t, c.err)
			exe, err := executable()
			require.NoError(t, err)
			assert.Equal(t, exe, c.path)
			assert.Equal(t, os.Args, c.argv)
			assert.Contains(t, c.env, UpgradeEnv+"="+filepath.Join(opts.RendezvousDir, UpgradeName))
			assert.Contains(t, c.env, "NOTIFY_SOCKET=/kept/from/the/start", "the environment the program started with")
			assert.Equal(t, os.Getpid(), c.h.PID)
			require.Len(t, c.h.Services, 1)
			sh := c.h.Services[0]
			assert.Equal(t, "test.a.0.raw", sh.Key)
			assert.Equal(t, filepath.Join(opts.RendezvousDir, "test.a.0.raw.mmap"), sh.MmapPath)
			want2 := []int{c.h.LockFD, sh.ListenFD, sh.SegmentFD, sh.ReportFD, sh.ReportWFD}
			var pids []int
			for _, ih := range sh.Instances {
				pids = append(pids, ih.PID)
				want2 = append(want2, ih.StderrFD)
			}
			sort.Ints(pids)
			assert.Equal(t, before, pids)
			slices.Sort(want2)
			keep := slices.Clone(c.keep)
			slices.Sort(keep)
			assert.Equal(t, want2, keep, "exactly the handed-over descriptors are inherited")
			for _, fd := range keep {
				assert.Greater(t, fd, 2)
			}

			// The manager still serves its instances and stops cleanly.
			assert.Equal(t, 0, r.stop(syscall.SIGTERM))
			assert.Contains(t, r.log.String(), "Zombies=0")
		})
	}
}

// TestUpgradeRefusedDuringRollout: while a new version of a service proves
// itself, SIGUSR2 is refused (nothing is executed) and the manager goes on.
func TestUpgradeRefusedDuringRollout(t *testing.T) {
	opts := newOptions(t)
	writeConfig(t, opts.ConfigDir, "test.a.0.raw", instanceConfig("prestart-processes true\n"))
	execs := 0
	opts.Exec = func(string, []string, []string, []int) error { execs++; return errors.New("not expected") }
	r := start(t, opts)
	r.eventually("1 instance", func() bool { return len(r.pids()) == 1 })
	// The new version never gets ready: its rollout stays in progress.
	writeConfig(t, opts.ConfigDir, "test.a.0.raw", "exec /bin/sleep 30\nunresponsive-timeout 30\n")
	r.signals <- syscall.SIGHUP
	r.eventually("the rollout", func() bool { return strings.Contains(r.log.String(), "Service Rollout: test.a.0.raw") })
	r.signals <- syscall.SIGUSR2
	r.eventually("the refusal", func() bool {
		return strings.Contains(r.log.String(), "Manager Upgrade failed: rollouts in progress: 1, services stopping: 0; send SIGUSR2 again once they are done; this manager goes on")
	})
	assert.NotContains(t, r.log.String(), "Manager shutdown")
	assert.Equal(t, 0, r.stop(syscall.SIGTERM))
	assert.Zero(t, execs)
}
