package service

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pluton-go/pluton/go/protocol"
	"github.com/pluton-go/pluton/go/stats"
	"github.com/pluton-go/pluton/go/testbin"
)

// instance is echoService started as a manager would start it.
type instance struct {
	cmd    *exec.Cmd
	stderr *bytes.Buffer
	done   chan error
}

func startInstance(t *testing.T, f *managerFixture) *instance {
	t.Helper()
	bin := testbin.Path(t, "echoService") // the first call builds the commands: not part of the 30 s
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	cmd := exec.CommandContext(ctx, bin)
	cmd.ExtraFiles = []*os.File{f.listen, f.seg, f.reportW}
	cmd.Env = append(os.Environ(), fmt.Sprintf("plutonSlot=%d", f.slot))
	in := &instance{cmd: cmd, stderr: &bytes.Buffer{}, done: make(chan error, 1)}
	cmd.Stderr = in.stderr
	require.NoError(t, cmd.Start())
	go func() { in.done <- cmd.Wait() }()
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	require.Eventually(t, func() bool {
		st := f.slotStats(t)
		return st.PID == uint32(cmd.Process.Pid) && st.State == stats.StateIdle
	}, 10*time.Second, 5*time.Millisecond, "instance ready")
	return in
}

// exit waits for the instance to exit and returns its status and how long
// that took.
func (in *instance) exit(t *testing.T) (int, time.Duration) {
	t.Helper()
	start := time.Now()
	select {
	case err := <-in.done:
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode(), time.Since(start)
		}
		require.NoError(t, err)
		return 0, time.Since(start)
	case <-time.After(20 * time.Second):
		t.Fatal("instance did not exit")
	}
	return -1, 0
}

func TestSIGTERMWhileIdle(t *testing.T) {
	for _, affinity := range []bool{false, true} {
		t.Run(fmt.Sprintf("affinity=%v", affinity), func(t *testing.T) {
			f := newManagerFixture(t, 2, 60, 0, 0)
			in := startInstance(t, f)
			r := echoReq("echo", "x")
			r.KeepAffinity = affinity
			c := dial(t, f.sock)
			c.send(t, r)
			c.recv(t)
			if affinity {
				require.Eventually(t, func() bool { return f.slotStats(t).State == stats.StateAffinity },
					5*time.Second, 5*time.Millisecond)
			} else {
				require.Eventually(t, func() bool { return f.slotStats(t).State == stats.StateIdle },
					5*time.Second, 5*time.Millisecond)
			}
			sent := time.Now()
			require.NoError(t, in.cmd.Process.Signal(syscall.SIGTERM))
			code, _ := in.exit(t)
			elapsed := time.Since(sent)
			assert.Equal(t, 0, code, in.stderr.String())
			assert.Less(t, elapsed, 2*time.Second, "exits within the 1 s accept timeout")
			t.Logf("exit %v after SIGTERM", elapsed)
			st := f.slotStats(t)
			assert.Equal(t, stats.StateStopping, st.State)
			assert.Equal(t, stats.ServiceShutdown, st.ExitReason)
			recs := f.records(t)
			require.Len(t, recs, 1, "the final record")
			assert.Equal(t, uint32(in.cmd.Process.Pid), recs[0].PID)
			require.Len(t, recs[0].Entries, 1)
			assert.Equal(t, stats.OK, recs[0].Entries[0].Outcome)
			assert.Contains(t, in.stderr.String(), "echo stats: Rq=1 MB=0", "the code after the loop ran")
			if affinity {
				var resp protocol.Response
				assert.ErrorIs(t, c.dec.ReadResponse(&resp), io.EOF, "the affinity connection is closed")
			}
		})
	}
}

func TestSIGTERMWhileBusy(t *testing.T) {
	f := newManagerFixture(t, 1, 0, 0, 0)
	in := startInstance(t, f)
	f.setShutdownRequest(t, stats.ExcessProcesses)
	r := echoReq("echo", "slow")
	r.Context = protocol.AppendContext(nil, "echo.sleepMS", "800")
	c := dial(t, f.sock)
	c.send(t, r)
	require.Eventually(t, func() bool { return f.slotStats(t).State == stats.StateBusy }, 5*time.Second, time.Millisecond)
	require.NoError(t, in.cmd.Process.Signal(syscall.SIGTERM))
	resp := c.recv(t)
	assert.Equal(t, "slow", string(resp.Data), "the request in progress finishes")
	code, _ := in.exit(t)
	assert.Equal(t, 0, code, in.stderr.String())
	st := f.slotStats(t)
	assert.Equal(t, stats.StateStopping, st.State)
	assert.Equal(t, stats.ExcessProcesses, st.ExitReason, "copied from shutdownRequest")
	assert.Equal(t, uint64(1), st.Responses)
	es := entries(f.records(t))
	require.Len(t, es, 1)
	assert.GreaterOrEqual(t, es[0].DurationMicros, uint32(700_000))
	assert.Contains(t, in.stderr.String(), "echo stats: Rq=1 MB=0")
}

func TestMaxRequestsProcess(t *testing.T) {
	f := newManagerFixture(t, 4, 0, 2, 0)
	in := startInstance(t, f)
	for range 2 {
		assert.Equal(t, "x", string(call(t, f.sock, echoReq("echo", "x")).Data))
	}
	code, _ := in.exit(t)
	assert.Equal(t, 0, code, in.stderr.String())
	assert.Equal(t, stats.MaxRequests, f.slotStats(t).ExitReason)
	assert.Len(t, entries(f.records(t)), 2)
}

// echoRun is the outcome of one stand-alone run of echoService.
type echoRun struct {
	out, stderr string // fd 4 and stderr
	code, pid   int
}

// runEcho runs echoService in stand-alone mode with input on fd 3.
func runEcho(t *testing.T, input string, env ...string) echoRun {
	t.Helper()
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "req"), []byte(input), 0o644))
	in, err := os.Open(filepath.Join(dir, "req"))
	require.NoError(t, err)
	defer in.Close()
	out, err := os.Create(filepath.Join(dir, "resp"))
	require.NoError(t, err)
	defer out.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, testbin.Path(t, "echoService"))
	cmd.ExtraFiles = []*os.File{in, out}
	cmd.Env = append(os.Environ(), env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err = cmd.Run()
	require.NoError(t, ctx.Err(), "echoService must not hang")
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else {
		require.NoError(t, err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "resp"))
	require.NoError(t, err)
	return echoRun{out: string(b), stderr: stderr.String(), code: code, pid: cmd.Process.Pid}
}

// TestEchoServiceStandAlone is the acceptance check of the issue:
// "echoService 3<req 4>resp" writes exactly the captured response, and
// every malformed packet of reference §3.4 is rejected.
func TestEchoServiceStandAlone(t *testing.T) {
	want := func(pid int) string {
		name := fmt.Sprintf("echo:%d/0", pid)
		return fmt.Sprintf("0A,3b100,12aplSend:26446,%ds%s,5qHello,0z\n", len(name), name)
	}
	r := runEcho(t, plainRequest)
	require.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, want(r.pid), r.out)
	assert.Empty(t, r.stderr, "stand-alone echo is quiet")

	r = runEcho(t, plainRequest+plainRequest)
	require.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, want(r.pid)+want(r.pid), r.out)

	for name, bad := range map[string]string{
		"badEnd": t80 + "X", "wrongFirst": "0G," + t80[3:] + "\n", "badLength": "0Q,3b1x00,0z\n",
		"duplicate": "0Q,4l5000,4l5000,0z\n", "twelveDigits": "0Q,123456789012b,0z\n", "tabType": "0Q,0\t,0z\n",
		"nonDigitStart": "xQ,0z\n", "truncated": "0Q,3b100",
	} {
		t.Run(name, func(t *testing.T) {
			r := runEcho(t, bad)
			assert.Equal(t, 41, r.code)
			assert.Empty(t, r.out)
			assert.Regexp(t, `echo: Warning: -5[78]:`, r.stderr)
		})
	}
}

func TestPacketTrace(t *testing.T) {
	r := runEcho(t, plainRequest, "plutonPacketTrace=1")
	require.Equal(t, 0, r.code)
	assert.Equal(t, "PktIn: "+plainRequest+"\n"+"PktOut: "+r.out, r.stderr)
}

func TestEchoInitFails(t *testing.T) {
	cmd := exec.Command(testbin.Path(t, "echoService"))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	require.True(t, errors.As(err, &ee), "got %v", err)
	assert.Equal(t, 42, ee.ExitCode())
	assert.Contains(t, stderr.String(), "-55")
}

func TestAcceptModeProcess(t *testing.T) {
	dir, err := os.MkdirTemp("", "plsvc")
	require.NoError(t, err)
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "a.socket")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, testbin.Path(t, "echoService"))
	cmd.Env = append(os.Environ(), "plutonAcceptSocket="+path)
	require.NoError(t, cmd.Start())
	require.Eventually(t, func() bool { _, err := os.Stat(path); return err == nil }, 10*time.Second, 5*time.Millisecond)
	assert.Equal(t, "hi", string(call(t, path, echoReq("echo", "hi")).Data))
	c := dial(t, path)
	c.conn.Close() // a client that sends nothing ends accept mode cleanly
	require.NoError(t, cmd.Wait())
}

// TestClientGone: a client that leaves before the response must not take the
// service down (SIGPIPE), and the response counts as sent.
func TestClientGone(t *testing.T) {
	f := newManagerFixture(t, 1, 0, 0, 0)
	in := startInstance(t, f)
	r := echoReq("echo", strings.Repeat("x", 1<<20)) // more than the socket buffers
	r.Context = protocol.AppendContext(nil, "echo.sleepMS", "300")
	c := dial(t, f.sock)
	c.send(t, r)
	require.Eventually(t, func() bool { return f.slotStats(t).State == stats.StateBusy }, 5*time.Second, time.Millisecond)
	c.conn.Close()
	assert.Equal(t, "still here", string(call(t, f.sock, echoReq("echo", "still here")).Data))
	require.Eventually(t, func() bool { return f.slotStats(t).Responses == 2 }, 5*time.Second, time.Millisecond)
	require.NoError(t, in.cmd.Process.Signal(syscall.SIGTERM))
	code, _ := in.exit(t)
	assert.Equal(t, 0, code, in.stderr.String())
	es := entries(f.records(t))
	require.Len(t, es, 2)
	assert.Equal(t, stats.OK, es[0].Outcome)
}

// TestEchoDie: the context echo.die (plPing -k) makes echoService exit
// without answering; the client sees the connection close.
func TestEchoDie(t *testing.T) {
	f := newManagerFixture(t, 1, 0, 0, 0)
	in := startInstance(t, f)
	r := echoReq("echo", "x")
	r.ID = 31
	r.Context = protocol.AppendContext(nil, "echo.die", "")
	c := dial(t, f.sock)
	c.send(t, r)
	var resp protocol.Response
	assert.ErrorIs(t, c.dec.ReadResponse(&resp), io.EOF)
	code, _ := in.exit(t)
	assert.Equal(t, 3, code)
	assert.Contains(t, in.stderr.String(), "echo.die")
	st := f.slotStats(t)
	assert.Equal(t, stats.StateBusy, st.State, "died busy")
	assert.Equal(t, int64(31), st.RequestID, "the slot names the request it died on")
}
