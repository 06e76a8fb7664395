package service

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pluton-go/pluton/go/testbin"
)

// TestSyscallsPerRequest counts the system calls of a manager-mode
// echoService serving small requests from concurrent clients: accept4, read,
// writev and close once each per request, and little else beyond the calls
// of an idle run (start-up and exit). It uses perf stat's system call
// tracepoints when perf works (no slowdown), else strace -f -c (which slows
// every call down and so makes the Go runtime's own futex and nanosleep
// calls more frequent), and skips without either.
func TestSyscallsPerRequest(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	tool := syscallCounter(t)
	const n = 1000
	idle := tool(t, 0)
	busy := tool(t, n)
	t.Logf("idle run: %v", idle)
	t.Logf("%d requests: %v", n, busy)
	path := 0
	for _, name := range []string{"accept4", "writev", "close"} {
		assert.InDelta(t, n, busy[name]-idle[name], 2, name)
		path += busy[name] - idle[name]
	}
	// A connection is accepted non-blocking: when the client's bytes have
	// not arrived yet at the first read (the client writes after its
	// connect), that read fails with EAGAIN and the instance polls before
	// reading again. Every read beyond one per request follows such a poll.
	reads, polls := busy["read"]-idle["read"], busy["poll"]+busy["ppoll"]-idle["poll"]-idle["ppoll"]
	assert.GreaterOrEqual(t, reads, n-2, "one read per request at least")
	assert.LessOrEqual(t, reads-n, polls+2, "a read beyond the first follows a poll: the instance never spins on EAGAIN")
	path += reads + polls
	t.Logf("requests whose bytes arrived after the accept: %.1f%%", 100*float64(reads-n)/n)
	reports := busy["write"] - idle["write"]
	assert.InDelta(t, n/16, reports, 2, "one report record per 16 requests")
	extra := busy["total"] - idle["total"] - path - reports
	t.Logf("system calls per request: accept4+read+writev+close (+poll+read for late bytes) = %.2f, report writes = %.3f, other (Go runtime: futex, nanosleep) = %.3f",
		float64(path)/n, float64(reports)/n, float64(extra)/n)
}

// syscallCounter returns a function that runs echoService in manager mode
// under perf or strace, serves n requests from four concurrent clients,
// stops it with SIGTERM and returns the system call counts by name, with
// "total" for all of them.
func syscallCounter(t *testing.T) func(t *testing.T, n int) map[string]int {
	names := []string{"accept4", "read", "writev", "close", "futex", "nanosleep", "write", "poll", "ppoll"}
	if perf, err := exec.LookPath("perf"); err == nil &&
		exec.Command(perf, "stat", "-e", "raw_syscalls:sys_enter", "-o", os.DevNull, "true").Run() == nil {
		return func(t *testing.T, n int) map[string]int {
			events := []string{"-e", "raw_syscalls:sys_enter"}
			for _, name := range names {
				events = append(events, "-e", "syscalls:sys_enter_"+name)
			}
			out := filepath.Join(t.TempDir(), "perf.out")
			runCounted(t, n, append(append([]string{perf, "stat", "-x", ",", "-o", out}, events...), "--"))
			counts := map[string]int{}
			for _, line := range readLines(t, out) {
				fields := strings.Split(line, ",")
				if len(fields) < 3 {
					continue
				}
				c, err := strconv.Atoi(fields[0])
				if err != nil {
					continue
				}
				// Inside a sandbox perf may name the events with a ":u" modifier.
				event := strings.TrimSuffix(fields[2], ":u")
				name := strings.TrimPrefix(strings.TrimPrefix(event, "syscalls:sys_enter_"), "raw_syscalls:sys_enter")
				if name == "" {
					name = "total"
				}
				counts[name] = c
			}
			return counts
		}
	}
	if strace, err := exec.LookPath("strace"); err == nil && exec.Command(strace, "-o", os.DevNull, "true").Run() == nil {
		return func(t *testing.T, n int) map[string]int {
			out := filepath.Join(t.TempDir(), "strace.out")
			runCounted(t, n, []string{strace, "-f", "-c", "-o", out})
			counts := map[string]int{}
			for _, line := range readLines(t, out) {
				// % time, seconds, usecs/call, calls, [errors], syscall
				fields := strings.Fields(line)
				if len(fields) < 5 {
					continue
				}
				if c, err := strconv.Atoi(fields[3]); err == nil {
					counts[fields[len(fields)-1]] = c
				}
			}
			return counts
		}
	}
	t.Skip("neither perf nor strace works here")
	return nil
}

// runCounted runs echoService under the counting command prefix, serves n
// requests and stops it.
func runCounted(t *testing.T, n int, prefix []string) {
	f := newManagerFixture(t, 1, 0, 0, 0)
	cmd := exec.Command(prefix[0], append(prefix[1:], testbin.Path(t, "echoService"))...)
	cmd.ExtraFiles = []*os.File{f.listen, f.seg, f.reportW}
	cmd.Env = append(os.Environ(), "plutonSlot=0")
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	require.Eventually(t, func() bool { return f.slotStats(t).PID != 0 }, 20*time.Second, 10*time.Millisecond)
	go func() { _, _ = io.Copy(io.Discard, f.reportR) }() // as the manager does: a full pipe blocks reports

	const clients = 4
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			for range n / clients {
				call(t, f.sock, echoReq("echo", "Hello"))
			}
		})
	}
	wg.Wait()
	require.NoError(t, syscall.Kill(int(f.slotStats(t).PID), syscall.SIGTERM))
	require.NoError(t, cmd.Wait())
}

func readLines(t *testing.T, path string) []string {
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return strings.Split(string(b), "\n")
}
