package coord_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pluton-go/pluton/go/coord"
	server "github.com/pluton-go/pluton/go/manager/coord"
)

// The test binary doubles as an instance (helperMain) when this is set.
const helperEnv = "COORD_TEST_HELPER"

func TestMain(m *testing.M) {
	if mode := os.Getenv(helperEnv); mode != "" {
		helperMain(mode)
		return
	}
	os.Exit(m.Run())
}

// helperMain is a separate process holding coordination state, so that a
// test can kill it with SIGKILL. It prints "ready" once it holds what mode
// asks, then blocks.
func helperMain(mode string) {
	ctx := context.Background()
	c, err := coord.Dial(ctx)
	if err != nil {
		fmt.Println("dial:", err)
		os.Exit(1)
	}
	switch mode {
	case "hold":
		if _, err := c.Semaphores.Decrement(ctx, "slots", false); err != nil {
			fmt.Println("decrement:", err)
			os.Exit(1)
		}
		if _, err := c.Mutexes.Lock(ctx, "m"); err != nil {
			fmt.Println("lock:", err)
			os.Exit(1)
		}
	case "timer":
		if _, err := c.Timers.Every(ctx, "tick", 300*time.Millisecond, func() {
			fmt.Println("tick", os.Getpid())
		}); err != nil {
			fmt.Println("every:", err)
			os.Exit(1)
		}
	}
	fmt.Println("ready")
	time.Sleep(time.Minute)
}

func startServer(t *testing.T, lim server.Limits) *server.Server {
	t.Helper()
	dir, err := os.MkdirTemp("", "coord")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	s, err := server.Listen(filepath.Join(dir, server.SocketName), nil, lim)
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	return s
}

func dial(t *testing.T, s *server.Server, service string) *coord.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := coord.Dial(ctx, coord.WithSocket(s.Path()), coord.WithService(service))
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

func ctx5(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// helper starts the test binary as an instance of service and waits for
// its "ready" line; lines after it go to the returned channel.
func helper(t *testing.T, s *server.Server, service, mode string) (*exec.Cmd, <-chan string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"="+mode, coord.ControlEnv+"="+s.Path(), coord.ServiceEnv+"="+service)
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	select {
	case l := <-lines:
		require.Equal(t, "ready", l)
	case <-time.After(10 * time.Second):
		t.Fatal("helper not ready")
	}
	return cmd, lines
}

func TestKilledInstanceReleasesProtectedSemaphoreAndMutex(t *testing.T) {
	s := startServer(t, server.DefaultLimits())
	c := dial(t, s, "app.f.0.raw")
	ctx := ctx5(t)
	created, err := c.Semaphores.Create(ctx, "slots", 1, true)
	require.NoError(t, err)
	require.True(t, created)

	cmd, _ := helper(t, s, "app.f.0.raw", "hold")
	v, err := c.Semaphores.Get(ctx, "slots")
	require.NoError(t, err)
	require.EqualValues(t, 0, v, "the helper took the only slot")
	lctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	_, err = c.Mutexes.Lock(lctx, "m")
	cancel()
	require.ErrorIs(t, err, coord.ErrTimeout, "the helper holds the mutex")

	// A waiter queued before the kill gets the mutex once the holder dies.
	got := make(chan error, 1)
	go func() {
		wctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, err := c.Mutexes.Lock(wctx, "m")
		got <- err
	}()
	time.Sleep(50 * time.Millisecond)
	killed := time.Now()
	require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
	select {
	case err := <-got:
		require.NoError(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("mutex not released")
	}
	dctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	v, err = c.Semaphores.Decrement(dctx, "slots", true)
	require.NoError(t, err)
	assert.EqualValues(t, 0, v, "the killed instance's decrement was reverted")
	assert.Less(t, time.Since(killed), time.Second, "released within 1 s of SIGKILL")
}

func TestUnprotectedSemaphoreKeepsOperations(t *testing.T) {
	s := startServer(t, server.DefaultLimits())
	ctx := ctx5(t)
	a := dial(t, s, "svc")
	_, err := a.Semaphores.Create(ctx, "plain", 2, false)
	require.NoError(t, err)
	b := dial(t, s, "svc")
	v, err := b.Semaphores.Decrement(ctx, "plain", false)
	require.NoError(t, err)
	require.EqualValues(t, 1, v)
	require.NoError(t, b.Close())
	require.Eventually(t, func() bool { return s.Stats().Connections == 1 }, 5*time.Second, 10*time.Millisecond)
	v, err = a.Semaphores.Get(ctx, "plain")
	require.NoError(t, err)
	assert.EqualValues(t, 1, v, "an unprotected decrement stays")
}

func TestSemaphoreSemantics(t *testing.T) {
	s := startServer(t, server.DefaultLimits())
	ctx := ctx5(t)
	c := dial(t, s, "svc")
	created, err := c.Semaphores.Create(ctx, "s", 1, false)
	require.NoError(t, err)
	require.True(t, created)
	created, err = c.Semaphores.Create(ctx, "s", 5, false)
	require.NoError(t, err)
	assert.False(t, created, "an existing semaphore is kept")
	v, err := c.Semaphores.Decrement(ctx, "s", false)
	require.NoError(t, err)
	assert.EqualValues(t, 0, v)
	v, err = c.Semaphores.Decrement(ctx, "s", false)
	require.NoError(t, err)
	assert.EqualValues(t, -1, v, "no wait on 0: -1")
	start := time.Now()
	wctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	v, err = c.Semaphores.Decrement(wctx, "s", true)
	cancel()
	require.NoError(t, err)
	assert.EqualValues(t, -1, v, "wait until the deadline: -1")
	assert.GreaterOrEqual(t, time.Since(start), 150*time.Millisecond)

	// A waiting decrement is woken by an increment of another instance.
	other := dial(t, s, "svc")
	res := make(chan int64, 1)
	go func() {
		wctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		v, _ := c.Semaphores.Decrement(wctx, "s", true)
		res <- v
	}()
	time.Sleep(50 * time.Millisecond)
	_, err = other.Semaphores.Increment(ctx, "s")
	require.NoError(t, err)
	select {
	case v := <-res:
		assert.EqualValues(t, 0, v)
	case <-time.After(5 * time.Second):
		t.Fatal("waiter not woken")
	}

	// Scopes: another service's "s" is another semaphore; Global is shared.
	third := dial(t, s, "other")
	_, err = third.Semaphores.Get(ctx, "s")
	require.ErrorIs(t, err, coord.ErrNotFound)
	_, err = third.Semaphores.Create(ctx, "g", 3, false, coord.Global())
	require.NoError(t, err)
	v, err = c.Semaphores.Get(ctx, "g", coord.Global())
	require.NoError(t, err)
	assert.EqualValues(t, 3, v)

	existed, err := c.Semaphores.Destroy(ctx, "s")
	require.NoError(t, err)
	assert.True(t, existed)
	_, err = c.Semaphores.Increment(ctx, "s")
	require.ErrorIs(t, err, coord.ErrNotFound)
}

func TestCancelledWaitIsNotGranted(t *testing.T) {
	s := startServer(t, server.DefaultLimits())
	ctx := ctx5(t)
	a, b := dial(t, s, "svc"), dial(t, s, "svc")
	_, err := a.Mutexes.Lock(ctx, "m")
	require.NoError(t, err)
	cctx, cancel := context.WithCancel(ctx)
	errc := make(chan error, 1)
	go func() { _, err := b.Mutexes.Lock(cctx, "m"); errc <- err }()
	time.Sleep(50 * time.Millisecond)
	cancel()
	err = <-errc
	require.ErrorIs(t, err, context.Canceled)
	require.NoError(t, a.Mutexes.Unlock(ctx, "m"))
	// b never got it: a can lock again at once.
	lctx, lcancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer lcancel()
	_, err = a.Mutexes.Lock(lctx, "m")
	require.NoError(t, err)
}

func TestWaitForChangeWakesOnSetFromAnotherInstance(t *testing.T) {
	s := startServer(t, server.DefaultLimits())
	ctx := ctx5(t)
	a, b := dial(t, s, "svc"), dial(t, s, "svc")
	val, ver, err := a.Variables.Get(ctx, "config")
	require.NoError(t, err)
	assert.Nil(t, val)
	assert.EqualValues(t, 0, ver)

	type res struct {
		val []byte
		ver int64
		err error
	}
	got := make(chan res, 1)
	go func() {
		v, ver, err := a.Variables.WaitForChange(ctx, "config", 0)
		got <- res{v, ver, err}
	}()
	time.Sleep(50 * time.Millisecond)
	ver, err = b.Variables.Set(ctx, "config", []byte("v1"))
	require.NoError(t, err)
	assert.EqualValues(t, 1, ver)
	select {
	case r := <-got:
		require.NoError(t, r.err)
		assert.Equal(t, "v1", string(r.val))
		assert.EqualValues(t, 1, r.ver)
	case <-time.After(5 * time.Second):
		t.Fatal("wait_for_change not woken")
	}
	// An outdated version returns at once; the current one waits to the deadline.
	v, ver, err := a.Variables.WaitForChange(ctx, "config", 7)
	require.NoError(t, err)
	assert.Equal(t, "v1", string(v))
	assert.EqualValues(t, 1, ver)
	wctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	_, _, err = a.Variables.WaitForChange(wctx, "config", 1)
	require.ErrorIs(t, err, coord.ErrTimeout)
	// An empty value is a value.
	_, err = b.Variables.Set(ctx, "config", nil)
	require.NoError(t, err)
	v, ver, err = a.Variables.Get(ctx, "config")
	require.NoError(t, err)
	assert.Equal(t, []byte{}, v)
	assert.EqualValues(t, 2, ver)
}

func TestBroadcastReachesEveryInstanceOfTheService(t *testing.T) {
	s := startServer(t, server.DefaultLimits())
	ctx := ctx5(t)
	var mu sync.Mutex
	got := map[int][]coord.Message{}
	clients := make([]*coord.Client, 4)
	for i := range clients {
		svc := "app.f.0.raw"
		if i == 3 {
			svc = "other.f.0.raw"
		}
		clients[i] = dial(t, s, svc)
		clients[i].Messages.On("*", func(m coord.Message) {
			mu.Lock()
			got[i] = append(got[i], m)
			mu.Unlock()
		})
	}
	n, err := clients[0].Messages.Broadcast(ctx, "", "reload", []byte("now"))
	require.NoError(t, err)
	assert.Equal(t, 3, n)
	require.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got[0]) == 1 && len(got[1]) == 1 && len(got[2]) == 1
	}, 5*time.Second, 10*time.Millisecond)
	mu.Lock()
	assert.Equal(t, coord.Message{Name: "reload", Args: []byte("now"), From: "app.f.0.raw"}, got[1][0])
	assert.Empty(t, got[3], "another service does not get it")
	mu.Unlock()

	n, err = clients[3].Messages.Broadcast(ctx, "*", "all", nil)
	require.NoError(t, err)
	assert.Equal(t, 4, n)
	_, err = clients[3].Messages.Broadcast(ctx, "[", "bad", nil)
	var ce *coord.Error
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, coord.CodeBadRequest, ce.Code)
	assert.Contains(t, ce.Text, `broadcast pattern "["`)
}

func TestSingletonTimerMovesWhenItsOwnerIsKilled(t *testing.T) {
	s := startServer(t, server.DefaultLimits())
	cmd, lines := helper(t, s, "svc", "timer") // registers first: the owner
	var ticks atomic.Int32
	c := dial(t, s, "svc")
	owner, err := c.Timers.Every(ctx5(t), "tick", 300*time.Millisecond, func() { ticks.Add(1) })
	require.NoError(t, err)
	assert.False(t, owner)
	for i := 0; i < 2; i++ {
		select {
		case l := <-lines:
			assert.Equal(t, fmt.Sprintf("tick %d", cmd.Process.Pid), l)
		case <-time.After(5 * time.Second):
			t.Fatal("the owner's timer did not run")
		}
	}
	assert.Zero(t, ticks.Load(), "only the owner runs the timer")
	killed := time.Now()
	require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
	require.Eventually(t, func() bool { return ticks.Load() > 0 }, 5*time.Second, 5*time.Millisecond)
	assert.Less(t, time.Since(killed), 300*time.Millisecond+700*time.Millisecond, "within one period (and slack)")

	_, err = c.Timers.Every(ctx5(t), "tick", time.Second, func() {})
	require.ErrorIs(t, err, coord.ErrConflict)
	require.NoError(t, c.Timers.Cancel(ctx5(t), "tick"))
	require.Eventually(t, func() bool { return s.Stats().Timers == 0 }, 5*time.Second, 10*time.Millisecond)
}

func TestLimitsGiveClearErrors(t *testing.T) {
	lim := server.DefaultLimits()
	lim.Semaphores, lim.Mutexes, lim.Variables, lim.Timers, lim.ValueSize, lim.NameSize = 2, 1, 1, 1, 16, 8
	s := startServer(t, lim)
	ctx := ctx5(t)
	c := dial(t, s, "svc")
	_, err := c.Semaphores.Create(ctx, "a", 0, false)
	require.NoError(t, err)
	_, err = c.Semaphores.Create(ctx, "b", 0, false)
	require.NoError(t, err)
	_, err = c.Mutexes.Lock(ctx, "m")
	require.NoError(t, err)
	_, err = c.Variables.Set(ctx, "v", nil)
	require.NoError(t, err)
	_, err = c.Timers.Every(ctx, "t", time.Minute, func() {})
	require.NoError(t, err)

	tests := []struct {
		name, code, text string
		call             func() error
	}{
		{"semaphore count", coord.CodeLimit, `semaphore "c": too many semaphores (limit 2)`,
			func() error { _, err := c.Semaphores.Create(ctx, "c", 0, false); return err }},
		{"global scope has its own count", "", "",
			func() error { _, err := c.Semaphores.Create(ctx, "c", 0, false, coord.Global()); return err }},
		{"mutex count", coord.CodeLimit, `mutex "n": too many mutexes held or waited for (limit 1)`,
			func() error { _, err := c.Mutexes.Lock(ctx, "n"); return err }},
		{"variable count", coord.CodeLimit, `variable "w": too many variables (limit 1)`,
			func() error { _, err := c.Variables.Set(ctx, "w", nil); return err }},
		{"timer count", coord.CodeLimit, `timer "u": too many timers (limit 1)`,
			func() error { _, err := c.Timers.Every(ctx, "u", time.Minute, func() {}); return err }},
		{"value size", coord.CodeTooLarge, `variable "v": value of 17 bytes exceeds the limit of 16 bytes`,
			func() error { _, err := c.Variables.Set(ctx, "v", make([]byte, 17)); return err }},
		{"message size", coord.CodeTooLarge, `message "m": arguments of 17 bytes exceed the limit of 16 bytes`,
			func() error { _, err := c.Messages.Broadcast(ctx, "", "m", make([]byte, 17)); return err }},
		{"name size", coord.CodeTooLarge, "name of 9 bytes exceeds the limit of 8 bytes",
			func() error { _, err := c.Semaphores.Get(ctx, "123456789"); return err }},
		{"empty name", coord.CodeBadRequest, "sem.get: a name (field 'n') is required",
			func() error { _, err := c.Semaphores.Get(ctx, ""); return err }},
		{"missing semaphore", coord.CodeNotFound, `no semaphore "zz" (create it first)`,
			func() error { _, err := c.Semaphores.Increment(ctx, "zz"); return err }},
		{"initial out of range", coord.CodeBadRequest, `semaphore "x": initial value -1 is out of range 0..2147483647`,
			func() error { _, err := c.Semaphores.Create(ctx, "x", -1, false); return err }},
		{"relock", coord.CodeDeadlock, `mutex "m" is already held by this instance`,
			func() error { _, err := c.Mutexes.Lock(ctx, "m"); return err }},
		{"unlock not held", coord.CodeNotOwner, `mutex "q" is not held by this instance`,
			func() error { return c.Mutexes.Unlock(ctx, "q") }},
		{"timer period", coord.CodeBadRequest, `timer "t": the period (field 'e') must be a number of milliseconds, at least 10`,
			func() error { _, err := c.Timers.Every(ctx, "t", time.Millisecond, func() {}); return err }},
		{"cancel unknown timer", coord.CodeNotFound, `no timer "nope"`,
			func() error { return c.Timers.Cancel(ctx, "nope") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			if tt.code == "" {
				require.NoError(t, err)
				return
			}
			var ce *coord.Error
			require.ErrorAs(t, err, &ce)
			assert.Equal(t, tt.code, ce.Code)
			assert.Equal(t, tt.text, ce.Text)
		})
	}
}

// raw opens a connection that speaks the protocol by hand.
func raw(t *testing.T, s *server.Server) (net.Conn, *bufio.Reader) {
	t.Helper()
	nc, err := net.Dial("unix", s.Path())
	require.NoError(t, err)
	t.Cleanup(func() { nc.Close() })
	require.NoError(t, nc.SetDeadline(time.Now().Add(5*time.Second)))
	return nc, bufio.NewReader(nc)
}

func TestHostileInputIsAnsweredAndHarmsNobodyElse(t *testing.T) {
	s := startServer(t, server.DefaultLimits())
	ctx := ctx5(t)
	good := dial(t, s, "svc")
	_, err := good.Semaphores.Create(ctx, "s", 1, true)
	require.NoError(t, err)

	tests := []struct {
		name, send, want string
		closes           bool
	}{
		{"not a netstring", "hello\n", "0S,1b0,11pbad_request,", true},
		{"wrong packet kind", "0Q,0z\n", "0S,1b0,11pbad_request,", true},
		{"before hello", "0R,1b1,7osem.get,1ns,0z\n", "0S,1b1,8pno_hello,", false},
		{"unknown op", "0R,1b1,5ohello,3sabc,0z\n0R,1b2,4ofrob,0z\n", "0S,1b1,", false},
		{"bad id", "0R,2bxx,5ohello,0z\n", "0S,2bxx,11pbad_request,", false},
		{"huge length", "99999999999R,", "0S,1b0,11pbad_request,", true},
		{"duplicate field", "0R,1b1,1b1,0z\n", "0S,1b0,11pbad_request,", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			nc, r := raw(t, s)
			_, err := nc.Write([]byte(tt.send))
			require.NoError(t, err)
			p, err := coord.ReadPacket(r)
			require.NoError(t, err)
			assert.True(t, strings.HasPrefix(string(p.Append(nil)), tt.want), string(p.Append(nil)))
			if tt.closes {
				_, err := coord.ReadPacket(r)
				assert.Error(t, err, "the connection is closed after a malformed packet")
			}
		})
	}
	t.Run("unknown op text", func(t *testing.T) {
		nc, r := raw(t, s)
		_, err := nc.Write([]byte("0R,1b1,5ohello,3sabc,0z\n0R,1b2,4ofrob,0z\n"))
		require.NoError(t, err)
		_, err = coord.ReadPacket(r)
		require.NoError(t, err)
		p, err := coord.ReadPacket(r)
		require.NoError(t, err)
		assert.Equal(t, `unknown operation "frob"`, p.Str(coord.FieldText))
	})
	t.Run("a silent client does not block others", func(t *testing.T) {
		nc, _ := raw(t, s)
		_, err := nc.Write([]byte("0R,1b1,5oh")) // and nothing more
		require.NoError(t, err)
		v, err := good.Semaphores.Decrement(ctx, "s", false)
		require.NoError(t, err)
		assert.EqualValues(t, 0, v)
		_, err = good.Semaphores.Increment(ctx, "s")
		require.NoError(t, err)
	})
}

func TestExitedDropsTheConnectionsOfAPid(t *testing.T) {
	s := startServer(t, server.DefaultLimits())
	ctx := ctx5(t)
	c := dial(t, s, "svc")
	_, err := c.Mutexes.Lock(ctx, "m")
	require.NoError(t, err)
	s.Exited(os.Getpid())
	assert.Equal(t, 0, s.Stats().Connections)
	assert.Equal(t, 0, s.Stats().Mutexes, "the mutex was released at once")
	_, err = c.Semaphores.Get(ctx, "x")
	require.Error(t, err)
	assert.True(t, errors.Is(err, coord.ErrClosed), "%v", err)
}

func TestCloseAnswersWaiters(t *testing.T) {
	s := startServer(t, server.DefaultLimits())
	ctx := ctx5(t)
	a, b := dial(t, s, "svc"), dial(t, s, "svc")
	_, err := a.Mutexes.Lock(ctx, "m")
	require.NoError(t, err)
	errc := make(chan error, 1)
	go func() { _, err := b.Mutexes.Lock(ctx, "m"); errc <- err }()
	time.Sleep(50 * time.Millisecond)
	require.NoError(t, s.Close())
	select {
	case err := <-errc:
		require.Error(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("waiter not answered on close")
	}
	_, err = os.Stat(s.Path())
	assert.True(t, os.IsNotExist(err), "the socket is removed")
}

func TestDialErrorsNameWhatIsMissing(t *testing.T) {
	t.Setenv(coord.ControlEnv, "")
	t.Setenv(coord.ServiceEnv, "")
	_, err := coord.Dial(context.Background())
	require.ErrorContains(t, err, "plutonControl is not set")
	_, err = coord.Dial(context.Background(), coord.WithSocket("/nonexistent/x.socket"))
	require.ErrorContains(t, err, "plutonService is not set")
	_, err = coord.Dial(context.Background(), coord.WithSocket("/nonexistent/x.socket"), coord.WithService("s"))
	require.ErrorContains(t, err, "connect to the manager's control socket")
}

func TestAnInstanceThatDoesNotReadHoldsNobodyUp(t *testing.T) {
	lim := server.DefaultLimits()
	lim.EventQueue = 8
	s := startServer(t, lim)
	ctx := ctx5(t)
	nc, _ := raw(t, s)
	_, err := nc.Write([]byte("0R,1b1,5ohello,3ssvc,0z\n")) // then never reads
	require.NoError(t, err)
	require.Eventually(t, func() bool { return s.Stats().Connections == 1 }, 5*time.Second, 5*time.Millisecond)
	sender := dial(t, s, "svc")
	args := make([]byte, 60<<10)
	start := time.Now()
	for i := 0; i < 200; i++ { // 12 MB for the silent one: far more than its socket buffer
		n, err := sender.Messages.Broadcast(ctx, "", "flood", args)
		require.NoError(t, err)
		require.Equal(t, 2, n)
	}
	assert.Less(t, time.Since(start), 5*time.Second, "the sender is never blocked by the silent instance")
	// The silent one still holds its place; closing it cleans up.
	nc.Close()
	require.Eventually(t, func() bool { return s.Stats().Connections == 1 }, 5*time.Second, 5*time.Millisecond)
}

func TestMutexExcludesAcrossClients(t *testing.T) {
	s := startServer(t, server.DefaultLimits())
	const clients, rounds = 4, 25
	var inside, maxInside atomic.Int32
	var wg sync.WaitGroup
	for i := 0; i < clients; i++ {
		c := dial(t, s, "svc")
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := 0; r < rounds; r++ {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				l, err := c.Mutexes.Lock(ctx, "m")
				if !assert.NoError(t, err) {
					cancel()
					return
				}
				n := inside.Add(1)
				for {
					m := maxInside.Load()
					if n <= m || maxInside.CompareAndSwap(m, n) {
						break
					}
				}
				time.Sleep(100 * time.Microsecond)
				inside.Add(-1)
				assert.NoError(t, l.Unlock(ctx))
				cancel()
			}
		}()
	}
	wg.Wait()
	assert.EqualValues(t, 1, maxInside.Load(), "never two holders at once")
	assert.Equal(t, 0, s.Stats().Mutexes, "a mutex nobody holds or waits for is forgotten")
}
