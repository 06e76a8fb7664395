package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pluton-go/pluton/go/client"
	"github.com/pluton-go/pluton/go/testbin"
)

// startCopy starts a copy of plutonManager, at exe, in home: an upgrade
// re-executes that copy, which the tests replace or remove.
func startCopy(t *testing.T, home, exe string, env ...string) *running {
	t.Helper()
	copyFile(t, testbin.Path(t, "plutonManager"), exe)
	return startManagerBinary(t, home, exe, []string{"NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"}, env)
}

// upgradeNotifySocket listens like systemd on a datagram socket in dir and
// returns its path and the messages received so far.
func upgradeNotifySocket(t *testing.T, dir string) (string, func() []string) {
	t.Helper()
	path := filepath.Join(dir, "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	var mu sync.Mutex
	var msgs []string
	go func() {
		buf := make([]byte, 4096)
		for {
			n, _, err := conn.ReadFromUnix(buf)
			if err != nil {
				return
			}
			mu.Lock()
			msgs = append(msgs, string(buf[:n]))
			mu.Unlock()
		}
	}()
	return path, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), msgs...)
	}
}

// copyFile installs src at dst as an install tool does: a new file renamed
// over the old name (a running executable cannot be written in place).
func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	in, err := os.Open(src)
	require.NoError(t, err)
	defer in.Close()
	tmp := dst + ".new"
	out, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o755)
	require.NoError(t, err)
	_, err = io.Copy(out, in)
	require.NoError(t, err)
	require.NoError(t, out.Close())
	require.NoError(t, os.Rename(tmp, dst))
}

type procJSON struct {
	PID  int    `json:"pid"`
	Slot int    `json:"slot"`
	Svc  string `json:"service"`
}

// pids returns the status API's instances as "slot:pid", sorted.
func (r *running) pids() []string {
	r.t.Helper()
	var all struct {
		Processes []procJSON `json:"processes"`
	}
	r.get("/processes", &all)
	var out []string
	for _, p := range all.Processes {
		out = append(out, fmt.Sprintf("%d:%d", p.Slot, p.PID))
	}
	sort.Strings(out)
	return out
}

// parentOf returns the parent pid of pid, from /proc.
func parentOf(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	require.NoError(t, err)
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+2:]) // state ppid ...
	ppid, err := strconv.Atoi(fields[1])
	require.NoError(t, err)
	return ppid
}

// inheritable returns the manager's descriptors above 2 without
// close-on-exec (those it inherited itself included): an upgrade, failed or
// not, must leave no more, or every instance started later would inherit
// them.
func inheritable(t *testing.T, pid int) []string {
	t.Helper()
	dir := fmt.Sprintf("/proc/%d/fdinfo", pid)
	ents, err := os.ReadDir(dir)
	require.NoError(t, err)
	var out []string
	for _, e := range ents {
		if n, _ := strconv.Atoi(e.Name()); n <= 2 {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			continue // closed meanwhile
		}
		m := regexp.MustCompile(`(?m)^flags:\s+(\d+)`).FindStringSubmatch(string(b))
		if m == nil {
			continue
		}
		flags, _ := strconv.ParseUint(m[1], 8, 64)
		if flags&syscall.O_CLOEXEC == 0 {
			target, _ := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, e.Name()))
			out = append(out, e.Name()+" "+target)
		}
	}
	return out
}

func sockIno(t *testing.T, path string) uint64 {
	t.Helper()
	var st syscall.Stat_t
	require.NoError(t, syscall.Stat(path, &st))
	return st.Ino
}

// TestUpgradeUnderLoad: SIGUSR2 re-executes a new manager binary in place
// while 4 clients call the service: no request fails, every instance keeps
// its pid and its parent, nothing is started or renamed, the new manager's
// status API shows the same instances, and SIGTERM later stops everything.
func TestUpgradeUnderLoad(t *testing.T) {
	const key = "system.echo.0.raw"
	home := newHome(t, map[string]string{key: "exec echoService\nprestart-processes true\n" +
		"minimum-processes 3\nmaximum-processes 3\nmaximum-requests 1000000\n"})
	exe := filepath.Join(filepath.Dir(home), "plutonManager")
	notify, notes := upgradeNotifySocket(t, filepath.Dir(home))
	r := startCopy(t, home, exe, "NOTIFY_SOCKET="+notify)
	r.waitFor(ready, 1, 30*time.Second)
	r.waitFor(`Process Start: `+regexp.QuoteMeta(key)+`/2-`, 1, 10*time.Second)
	before := r.pids()
	require.Len(t, before, 3)
	sock := filepath.Join(home, "rendezvous", key+".socket")
	ino := sockIno(t, sock)
	mgr := r.cmd.Process.Pid
	inherited := inheritable(t, mgr)

	var ok, failed atomic.Int64
	var firstErr atomic.Pointer[string]
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := client.New(fmt.Sprintf("upgrade-%d", g), client.WithLookup(filepath.Join(home, "lookup.map")))
			if err != nil {
				s := err.Error()
				firstErr.CompareAndSwap(nil, &s)
				failed.Add(1)
				return
			}
			deadline := time.Now().Add(60 * time.Second)
			for i := 0; i < 20000 && time.Now().Before(deadline); i++ {
				select {
				case <-stop:
					return
				default:
				}
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				want := fmt.Sprintf("g%d-%d", g, i)
				got, err := c.Call(ctx, key, []byte(want))
				cancel()
				if err != nil || string(got.Data) != want {
					s := fmt.Sprintf("call %s: %q, %v", want, got.Data, err)
					firstErr.CompareAndSwap(nil, &s)
					failed.Add(1)
					continue
				}
				ok.Add(1)
			}
		}()
	}
	waitCalls := func(n int64) {
		deadline := time.Now().Add(30 * time.Second)
		for ok.Load() < n && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitCalls(200)
	starts := len(r.grep(`Process Start: `))
	require.NoError(t, r.cmd.Process.Signal(syscall.SIGUSR2))
	r.waitFor(`Manager Upgrade: adopted 1 services and 3 instances`, 1, 30*time.Second)
	r.waitFor(ready, 2, 30*time.Second)
	atUpgrade := ok.Load()
	waitCalls(atUpgrade + 200) // served after the upgrade too
	close(stop)
	wg.Wait()

	t.Logf("requests: %d served (%d before the upgrade was done), %d failed", ok.Load(), atUpgrade, failed.Load())
	if p := firstErr.Load(); p != nil {
		t.Errorf("first failure: %s", *p)
	}
	assert.Zero(t, failed.Load(), "failed requests")
	assert.Greater(t, ok.Load(), atUpgrade+100, "requests served after the upgrade")
	assert.Equal(t, before, r.pids(), "the new manager shows the same instances")
	for _, sp := range before {
		pid, _ := strconv.Atoi(sp[strings.IndexByte(sp, ':')+1:])
		assert.Equal(t, mgr, parentOf(t, pid), "pid %d is still the manager's child", pid)
	}
	assert.Equal(t, starts, len(r.grep(`Process Start: `)), "no instance started")
	assert.Equal(t, ino, sockIno(t, sock), "the socket was not replaced")
	assert.Equal(t, inherited, inheritable(t, mgr), "the new manager keeps no handed-over descriptor inheritable")
	readies := func() (n int) {
		for _, m := range notes() {
			if strings.Contains(m, "READY=1") {
				n++
			}
		}
		return n
	}
	for deadline := time.Now().Add(10 * time.Second); readies() < 2 && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
	}
	assert.Equal(t, 2, readies(), "the new manager tells systemd it is ready: %q", notes())
	_, err := os.Stat(filepath.Join(home, "rendezvous", "plutonManager.upgrade"))
	assert.ErrorIs(t, err, os.ErrNotExist, "the handover file is removed")

	require.NoError(t, r.cmd.Process.Signal(syscall.SIGTERM))
	select {
	case <-r.done:
	case <-time.After(30 * time.Second):
		t.Fatal("the upgraded manager did not stop")
	}
	final := r.grep(`Final Objects: `)
	require.Len(t, final, 1)
	assert.Contains(t, final[0], "Process=0 Children=0 Zombies=0")
	assert.Len(t, r.grep(`Child Exit: normal `+regexp.QuoteMeta(key)+`/`), 3, "every adopted instance reaped")
}

// TestUpgradeFailureKeepsManager: when the executable is missing, not
// executable or not a program, SIGUSR2 is logged as a failed upgrade and
// the manager goes on serving with the same instances, no descriptor left
// inheritable; once the binary is back an upgrade succeeds.
func TestUpgradeFailureKeepsManager(t *testing.T) {
	const key = "system.echo.0.raw"
	home := newHome(t, map[string]string{key: "exec echoService\nprestart-processes true\nminimum-processes 2\n"})
	exe := filepath.Join(filepath.Dir(home), "plutonManager")
	r := startCopy(t, home, exe)
	r.waitFor(ready, 1, 30*time.Second)
	r.waitFor(`Process Start: `+regexp.QuoteMeta(key)+`/1-`, 1, 10*time.Second)
	before := r.pids()
	c, err := client.New("upgrade-failure", client.WithLookup(filepath.Join(home, "lookup.map")))
	require.NoError(t, err)
	mgr := r.cmd.Process.Pid
	inherited := inheritable(t, mgr)

	for _, tc := range []struct {
		name  string
		spoil func()
		want  string
	}{
		{"missing", func() { require.NoError(t, os.Rename(exe, exe+".away")) }, "no such file or directory"},
		{"not executable", func() { require.NoError(t, os.Chmod(exe, 0o644)) }, "permission denied"},
		{"not a program", func() { require.NoError(t, os.WriteFile(exe, []byte("not a program\n"), 0o755)) }, "exec format error"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			copyFile(t, testbin.Path(t, "plutonManager"), exe)
			tc.spoil()
			require.NoError(t, r.cmd.Process.Signal(syscall.SIGUSR2))
			r.waitFor(`Manager Upgrade failed: .*`+tc.want+`; this manager goes on`, 1, 20*time.Second)
			got, err := c.Call(context.Background(), key, []byte(tc.name))
			require.NoError(t, err)
			assert.Equal(t, tc.name, string(got.Data))
			assert.Equal(t, before, r.pids())
			assert.Equal(t, inherited, inheritable(t, mgr), "close-on-exec set again")
			assert.Len(t, r.grep(ready), 1, "not re-executed")
			_ = os.Remove(exe + ".away")
		})
	}
	copyFile(t, testbin.Path(t, "plutonManager"), exe)
	require.NoError(t, r.cmd.Process.Signal(syscall.SIGUSR2))
	r.waitFor(ready, 2, 30*time.Second)
	assert.Equal(t, before, r.pids())
}
