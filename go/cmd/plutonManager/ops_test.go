package main

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pluton-go/pluton/go/client"
	"github.com/pluton-go/pluton/go/lookupmap"
	"github.com/pluton-go/pluton/go/testbin"
)

const echoConfig = "exec echoService\n"

func TestParseOps(t *testing.T) {
	for _, tc := range []struct {
		args []string
		rest []string
		ops  opsSettings
		err  string
	}{
		{args: []string{"-C", "x", "--lookup-format", "binary"}, rest: []string{"-C", "x"}, ops: opsSettings{lookupFormat: "binary"}},
		{args: []string{"--lookup-format=text", "--pid-file=/p"}, rest: []string{}, ops: opsSettings{lookupFormat: "text", pidFile: "/p"}},
		{args: []string{"--pid-file", "/p", "--", "--lookup-format"}, rest: []string{"--", "--lookup-format"}, ops: opsSettings{pidFile: "/p"}},
		{args: []string{"--lookup-format", "xml"}, err: "--lookup-format xml: want both, text, binary"},
		{args: []string{"--lookup-format"}, err: "Option --lookup-format needs a value"},
		{args: []string{"--pid-file="}, err: "--pid-file needs a path"},
	} {
		rest, ops, err := parseOps(tc.args)
		if tc.err != "" {
			assert.ErrorContains(t, err, tc.err, tc.args)
			continue
		}
		require.NoError(t, err, tc.args)
		assert.Equal(t, tc.rest, rest, tc.args)
		assert.Equal(t, tc.ops, ops, tc.args)
	}
}

// TestLookupFormats: by default the text map and the binary map beside it;
// with --lookup-format binary the binary map at -L, which the Go client and
// plSend read like the text one.
func TestLookupFormats(t *testing.T) {
	t.Run("both", func(t *testing.T) {
		home := newHome(t, map[string]string{"system.echo.0.raw": echoConfig, "AddressBook..0.JSON": echoConfig})
		r := startIn(t, home)
		r.waitFor(ready, 1, 30*time.Second)
		text, err := os.ReadFile(filepath.Join(home, "lookup.map"))
		require.NoError(t, err)
		assert.True(t, strings.HasPrefix(string(text), "# pluton lookup map "))
		m, err := lookupmap.ReadFile(filepath.Join(home, "lookup.map.bin"))
		require.NoError(t, err)
		rv := filepath.Join(home, "rendezvous")
		v, _, ok := m.Find("system.raw.0.echo")
		require.True(t, ok)
		assert.Equal(t, rv+"/system.echo.0.raw.socket", v)
		v, matched, ok := m.Find("AddressBook.JSON.0.AddEntry")
		require.True(t, ok)
		assert.Equal(t, rv+"/AddressBook..0.JSON.socket", v)
		assert.Equal(t, "AddressBook.JSON.0", matched)
		fi, err := os.Stat(filepath.Join(home, "lookup.map.bin"))
		require.NoError(t, err)
		assert.Equal(t, os.FileMode(0o444), fi.Mode().Perm())

		// A client given the binary map finds the services.
		c, err := client.New("ops", client.WithLookup(filepath.Join(home, "lookup.map.bin")))
		require.NoError(t, err)
		got, err := c.Call(context.Background(), "system.echo.0.raw", []byte("via bin"))
		require.NoError(t, err)
		assert.Equal(t, "via bin", string(got.Data))

		// A reload that adds a service flags the old binary map stale.
		old, err := os.Open(filepath.Join(home, "lookup.map.bin"))
		require.NoError(t, err)
		defer old.Close()
		require.NoError(t, os.WriteFile(filepath.Join(home, "configuration", "system.other.0.raw"), []byte(echoConfig), 0o644))
		require.NoError(t, r.cmd.Process.Signal(syscall.SIGHUP))
		require.Eventually(t, func() bool {
			b := make([]byte, 1)
			_, err := old.ReadAt(b, lookupmap.RemapFlagOffset)
			return err == nil && b[0] == 'Y'
		}, 10*time.Second, 20*time.Millisecond)
		m, err = lookupmap.ReadFile(filepath.Join(home, "lookup.map.bin"))
		require.NoError(t, err)
		_, _, ok = m.Find("system.raw.0.other")
		assert.True(t, ok)
	})
	t.Run("binary", func(t *testing.T) {
		home := newHome(t, map[string]string{"system.echo.0.raw": echoConfig})
		r := startIn(t, home, "--lookup-format", "binary")
		r.waitFor(ready, 1, 30*time.Second)
		m, err := lookupmap.ReadFile(filepath.Join(home, "lookup.map"))
		require.NoError(t, err)
		_, _, ok := m.Find("system.raw.0.echo")
		assert.True(t, ok)
		_, err = os.Stat(filepath.Join(home, "lookup.map.bin"))
		assert.True(t, os.IsNotExist(err), "no second map")
		c, err := client.New("ops", client.WithLookup(filepath.Join(home, "lookup.map")))
		require.NoError(t, err)
		got, err := c.Call(context.Background(), "system.echo.0.raw", []byte("binary map"))
		require.NoError(t, err)
		assert.Equal(t, "binary map", string(got.Data))
		out, err := exec.Command(testbin.Path(t, "plSend"), "-L", filepath.Join(home, "lookup.map"),
			"system.echo.0.raw", "from plSend").CombinedOutput()
		require.NoError(t, err, string(out))
		assert.Contains(t, string(out), "from plSend")
	})
	t.Run("text", func(t *testing.T) {
		home := newHome(t, map[string]string{"system.echo.0.raw": echoConfig})
		r := startIn(t, home, "--lookup-format=text")
		r.waitFor(ready, 1, 30*time.Second)
		_, err := os.Stat(filepath.Join(home, "lookup.map.bin"))
		assert.True(t, os.IsNotExist(err))
		_, err = os.Stat(filepath.Join(home, "lookup.map"))
		assert.NoError(t, err)
	})
}

// notifySocket is a systemd-like NOTIFY_SOCKET receiver.
type notifySocket struct {
	t    *testing.T
	conn *net.UnixConn
	path string
}

func newNotifySocket(t *testing.T) *notifySocket {
	dir, err := os.MkdirTemp("", "sdn")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	path := filepath.Join(dir, "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	return &notifySocket{t: t, conn: conn, path: path}
}

// next returns the next datagram matching want (a substring), skipping the
// others, within timeout.
func (n *notifySocket) next(want string, timeout time.Duration) string {
	n.t.Helper()
	deadline := time.Now().Add(timeout)
	buf := make([]byte, 4096)
	for {
		require.NoError(n.t, n.conn.SetReadDeadline(deadline))
		k, err := n.conn.Read(buf)
		require.NoError(n.t, err, "waiting for %q", want)
		if msg := string(buf[:k]); strings.Contains(msg, want) {
			return msg
		}
	}
}

// TestSystemdNotify runs a real plutonManager under a NOTIFY_SOCKET with a
// watchdog: READY=1 with the service count after the first scan,
// WATCHDOG=1 repeatedly, RELOADING=1 then READY=1 around SIGHUP, STOPPING=1
// on SIGTERM; the pid file holds the pid while it runs and is removed at
// exit. Not parallel: it sets the environment the manager inherits.
func TestSystemdNotify(t *testing.T) {
	ns := newNotifySocket(t)
	t.Setenv("NOTIFY_SOCKET", ns.path)
	t.Setenv("WATCHDOG_USEC", "400000") // a ping every 200ms
	home := newHome(t, map[string]string{"system.echo.0.raw": echoConfig, "system.env.0.raw": "exec bin/env.sh\nprestart-processes true\n"})
	conf := filepath.Join(home, "configuration")
	require.NoError(t, os.MkdirAll(filepath.Join(conf, "bin"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(conf, "bin", "env.sh"),
		[]byte("#!/bin/sh\necho \"notify=[$NOTIFY_SOCKET] watchdog=[$WATCHDOG_USEC]\" >&2\nexit 3\n"), 0o755))
	pidFile := filepath.Join(filepath.Dir(home), "run", "plutonManager.pid")
	require.NoError(t, os.MkdirAll(filepath.Dir(pidFile), 0o755))
	r := startIn(t, home, "--pid-file", pidFile)

	msg := ns.next("READY=1", 30*time.Second)
	assert.Contains(t, msg, "STATUS=2 services")
	b, err := os.ReadFile(pidFile)
	require.NoError(t, err, "the pid file exists once READY=1 is sent")
	assert.Equal(t, strconv.Itoa(r.cmd.Process.Pid)+"\n", string(b))
	for range 2 {
		assert.Contains(t, ns.next("WATCHDOG=1", 10*time.Second), "STATUS=2 services")
	}
	r.waitFor(`Manager watchdog: WATCHDOG=1 every 200ms`, 1, 5*time.Second)

	// The instances do not inherit the notification variables.
	r.waitFor(`Child Stderr: system\.env\.0\.raw/\S+ notify=`, 1, 20*time.Second)
	assert.NotEmpty(t, r.grep(`notify=\[\] watchdog=\[\]$`))

	require.NoError(t, os.Remove(filepath.Join(conf, "system.env.0.raw")))
	require.NoError(t, r.cmd.Process.Signal(syscall.SIGHUP))
	msg = ns.next("RELOADING=1", 10*time.Second)
	assert.Contains(t, msg, "MONOTONIC_USEC=")
	assert.Contains(t, ns.next("READY=1", 10*time.Second), "STATUS=1 services")

	require.NoError(t, r.cmd.Process.Signal(syscall.SIGTERM))
	ns.next("STOPPING=1", 10*time.Second)
	select {
	case <-r.done:
	case <-time.After(30 * time.Second):
		t.Fatal("manager did not exit")
	}
	_, err = os.Stat(pidFile)
	assert.True(t, os.IsNotExist(err), "the pid file is removed at exit")
}

// TestPIDFileUnwritable: a pid file that cannot be written is a warning,
// not a failure: the manager serves on.
func TestPIDFileUnwritable(t *testing.T) {
	home := newHome(t, map[string]string{"system.echo.0.raw": echoConfig})
	r := startIn(t, home, "--pid-file", filepath.Join(filepath.Dir(home), "missing", "dir", "pid"))
	r.waitFor(ready, 1, 30*time.Second)
	r.waitFor(`Warning: --pid-file .*missing/dir/pid: no such file or directory`, 1, 10*time.Second)
	got, err := callEcho(t, home)
	require.NoError(t, err)
	assert.Equal(t, "still serving", got)
}

func callEcho(t *testing.T, home string) (string, error) {
	c, err := client.New("ops", client.WithLookup(filepath.Join(home, "lookup.map")))
	if err != nil {
		return "", err
	}
	got, err := c.Call(context.Background(), "system.echo.0.raw", []byte("still serving"))
	if err != nil {
		return "", err
	}
	return string(got.Data), nil
}

// TestSystemdUnitFile: the shipped unit's command line is one this
// plutonManager accepts, and its paths are the root home's.
func TestSystemdUnitFile(t *testing.T) {
	b, err := os.ReadFile("../../../tools/systemd/plutonManager.service")
	require.NoError(t, err)
	unit := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
			unit[k] = v
		}
	}
	assert.Equal(t, "notify", unit["Type"])
	fields := strings.Fields(unit["ExecStart"])
	require.NotEmpty(t, fields)
	assert.Equal(t, "plutonManager", filepath.Base(fields[0]))
	rest, ops, err := parseOps(fields[1:])
	require.NoError(t, err)
	st, err := parse(rest, client.SystemHome)
	require.NoError(t, err)
	assert.Equal(t, unit["PIDFile"], ops.pidFile)
	assert.Equal(t, client.SystemHome+"/rendezvous", st.rendezvousDir)
	assert.Contains(t, unit["ExecStartPre"], st.rendezvousDir)

	tmp, err := os.ReadFile("../../../tools/systemd/pluton.tmpfiles.conf")
	require.NoError(t, err)
	for _, dir := range []string{client.SystemHome, st.rendezvousDir, st.configDir, filepath.Dir(ops.pidFile)} {
		assert.Regexp(t, `(?m)^d `+dir+` `, string(tmp), dir)
	}
}
