package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pluton-go/pluton/go/manager/status/statustest"
	"github.com/pluton-go/pluton/go/testbin"
)

// tmux is a tmux server of its own (socket in a temporary directory)
// running one session.
type tmux struct {
	t      *testing.T
	socket string
}

func startTmux(t *testing.T, command ...string) *tmux {
	t.Helper()
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Skip("no tmux on PATH (tools/setup.sh installs it): plTop's terminal test did not run")
	}
	dir, err := os.MkdirTemp("", "pltm") // short: the socket path must fit in 108 bytes
	require.NoError(t, err)
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	x := &tmux{t: t, socket: filepath.Join(dir, "s")}
	args := append([]string{"new-session", "-d", "-s", "pltop", "-x", "160", "-y", "40"}, command...)
	x.run(args...)
	t.Cleanup(func() { _ = exec.Command("tmux", "-S", x.socket, "kill-server").Run() })
	return x
}

func (x *tmux) run(args ...string) string {
	x.t.Helper()
	cmd := exec.Command("tmux", append([]string{"-S", x.socket}, args...)...)
	cmd.Env = append(os.Environ(), "TERM=xterm-256color")
	out, err := cmd.CombinedOutput()
	require.NoError(x.t, err, "tmux %v: %s", args, out)
	return string(out)
}

// screen returns the pane's text.
func (x *tmux) screen() string { return x.run("capture-pane", "-p", "-t", "pltop") }

// waitScreen waits until the screen satisfies cond and returns it.
func (x *tmux) waitScreen(what string, timeout time.Duration, cond func(string) bool) string {
	x.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		s := x.screen()
		if cond(s) {
			return s
		}
		if time.Now().After(deadline) {
			x.t.Fatalf("%s: not on screen within %s:\n%s", what, timeout, s)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// rowOf returns the screen line of a service's row.
func rowOf(screen, key string) string {
	for _, l := range strings.Split(screen, "\n") {
		if f := strings.Fields(strings.TrimPrefix(l, ">")); len(f) > 1 && f[0] == key {
			return l
		}
	}
	return ""
}

func TestPlTopInTmux(t *testing.T) {
	const echo, mirror = "system.echo.0.raw", "app.mirror.1.raw"
	m := statustest.Start(t, map[string]string{
		echo:   statustest.Exec(t, "echoService", nil, "prestart-processes true", "minimum-processes 2"),
		mirror: statustest.Exec(t, "echoService", nil, "prestart-processes true"),
	})
	require.Equal(t, 20, m.Load(echo, 20))
	x := startTmux(t, testbin.Path(t, "plTop"), "-c", m.Addr)

	s := x.waitScreen("both services and the echo's instances", 20*time.Second, func(s string) bool {
		return rowOf(s, echo) != "" && rowOf(s, mirror) != ""
	})
	assert.Contains(t, s, "plTop "+m.Addr+"  manager pid")
	assert.Contains(t, s, "SERVICEv")
	assert.True(t, strings.HasPrefix(rowOf(s, mirror), "> "), "the first by key is selected:\n%s", s)
	assert.Contains(t, rowOf(s, echo), "serving")
	assert.Contains(t, rowOf(s, echo), "2/10", "instances/maximum")

	// It updates: the request count of the echo grows on screen.
	x.waitScreen("the echo's requests", 20*time.Second, func(s string) bool {
		f := strings.Fields(strings.TrimPrefix(rowOf(s, echo), ">"))
		if len(f) == 14 && f[11] != "0" { // SERVICE STATE BUSY IDLE START INST OCC BACKLOG REQ/S P50 P99 REQUESTS
			return true
		}
		m.Load(echo, 5)
		return false
	})

	// j selects the echo, h holds it: the API and the screen say so.
	x.run("send-keys", "-t", "pltop", "j")
	x.waitScreen("the echo selected", 10*time.Second, func(s string) bool { return strings.HasPrefix(rowOf(s, echo), "> ") })
	x.run("send-keys", "-t", "pltop", "h")
	m.Eventually("h holds the echo", 10*time.Second, func() bool { return m.Services()[echo].Held })
	assert.False(t, m.Services()[mirror].Held)
	s = x.waitScreen("the echo held", 10*time.Second, func(s string) bool { return strings.Contains(rowOf(s, echo), "held") })
	assert.Contains(t, s, "hold "+echo+": held")
	assert.NotContains(t, rowOf(s, mirror), "held")

	// s sorts by the next column (STATE): held before serving.
	x.run("send-keys", "-t", "pltop", "s")
	s = x.waitScreen("sorted by state", 10*time.Second, func(s string) bool { return strings.Contains(s, "STATEv") })
	assert.Less(t, strings.Index(s, rowOf(s, echo)), strings.Index(s, rowOf(s, mirror)), "held sorts before serving:\n%s", s)

	// r resumes.
	x.run("send-keys", "-t", "pltop", "r")
	m.Eventually("r resumes the echo", 10*time.Second, func() bool { return !m.Services()[echo].Held })
	x.waitScreen("the echo serving", 10*time.Second, func(s string) bool { return strings.Contains(rowOf(s, echo), "serving") })

	// q quits: the session ends with plTop.
	x.run("send-keys", "-t", "pltop", "q")
	deadline := time.Now().Add(10 * time.Second)
	for exec.Command("tmux", "-S", x.socket, "has-session", "-t", "pltop").Run() == nil {
		// The screen is captured only for the failure: once plTop quits,
		// the session and the tmux server end, and a capture would fail.
		if !time.Now().Before(deadline) {
			require.Fail(t, "plTop did not quit on q", x.screen())
		}
		time.Sleep(100 * time.Millisecond)
	}
}
