package manager

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/pluton-go/pluton/go/manager/config"
	"github.com/pluton-go/pluton/go/manager/logging"
	"github.com/pluton-go/pluton/go/manager/pool"
	"github.com/pluton-go/pluton/go/manager/status"
	"github.com/pluton-go/pluton/go/stats"
)

// instanceEnv, set in the environment, makes the test binary a service
// instance: it marks its slot idle (its "first accept") and waits for
// SIGTERM. It never accepts: these tests drive the manager, not requests.
const instanceEnv = "PLUTON_MANAGER_TEST_INSTANCE"

func TestMain(m *testing.M) {
	if os.Getenv(instanceEnv) == "1" {
		fakeInstance()
		return
	}
	os.Exit(m.Run())
}

func fakeInstance() {
	var st unix.Stat_t
	if err := unix.Fstat(4, &st); err != nil {
		os.Exit(3)
	}
	b, err := unix.Mmap(4, 0, int(st.Size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		os.Exit(4)
	}
	slot, _ := strconv.Atoi(os.Getenv("plutonSlot"))
	stats.Segment(b).Slot(slot).SetState(stats.StateIdle, uint64(time.Now().UnixMicro()))
	time.Sleep(time.Minute) // SIGTERM ends it
}

// syncBuffer is a log several goroutines write.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// fakeRemote records what the manager tells its Remote.
type fakeRemote struct {
	mu      sync.Mutex
	started bool
	closed  bool
	syncs   [][]string // the keys of every Sync
	halted  map[string]bool
}

func (r *fakeRemote) Start() error { r.mu.Lock(); r.started = true; r.mu.Unlock(); return nil }
func (r *fakeRemote) Close()       { r.mu.Lock(); r.closed = true; r.mu.Unlock() }
func (r *fakeRemote) Status(context.Context) any {
	return "remote status"
}

func (r *fakeRemote) Sync(services []*config.Service, _, halted map[string]bool) {
	keys := make([]string, len(services))
	for i, s := range services {
		keys[i] = s.Key.String()
	}
	r.mu.Lock()
	r.syncs = append(r.syncs, keys)
	r.halted = halted
	r.mu.Unlock()
}

func (r *fakeRemote) lastSync() ([]string, map[string]bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.syncs) == 0 {
		return nil, nil
	}
	return r.syncs[len(r.syncs)-1], r.halted
}

// running is a manager run by Run on its own goroutine.
type running struct {
	t       *testing.T
	m       *Manager
	opts    Options
	log     *syncBuffer
	stderr  *syncBuffer
	signals chan os.Signal
	code    chan int
	mu      sync.Mutex
	events  []string
}

func writeConfig(t *testing.T, dir, key, text string) {
	t.Helper()
	require.NoError(t, os.WriteFile(filepath.Join(dir, key), []byte(text), 0o644))
}

// instanceConfig is a service whose instances are this test binary.
func instanceConfig(extra string) string {
	exe, err := os.Executable()
	if err != nil {
		exe = os.Args[0]
	}
	return "exec " + exe + "\n" + extra
}

func newOptions(t *testing.T) Options {
	base := t.TempDir()
	for _, d := range []string{"config", "rendezvous"} {
		require.NoError(t, os.Mkdir(filepath.Join(base, d), 0o755))
	}
	o := DefaultOptions()
	o.ConfigDir, o.RendezvousDir = filepath.Join(base, "config"), filepath.Join(base, "rendezvous")
	o.LookupMap = filepath.Join(base, "lookup.map")
	o.Logging = logging.All | logging.ServiceConfig
	o.EmergencyExit = 4 * time.Second
	return o
}

// start runs a manager with opts and waits until it is ready.
func start(t *testing.T, opts Options) *running {
	t.Helper()
	t.Setenv(instanceEnv, "1") // the instances' environment is the manager's
	r := &running{t: t, log: &syncBuffer{}, stderr: &syncBuffer{}, signals: make(chan os.Signal, 4), code: make(chan int, 1)}
	ready := make(chan *Manager, 1)
	opts.Stdout, opts.Stderr, opts.Signals = r.log, r.stderr, r.signals
	opts.Ready = func(m *Manager) { ready <- m }
	opts.Notify = func(event string, _ int) { r.mu.Lock(); r.events = append(r.events, event); r.mu.Unlock() }
	r.opts = opts
	go func() { r.code <- Run(opts) }()
	select {
	case r.m = <-ready:
	case code := <-r.code:
		t.Fatalf("Run returned %d before it was ready:\n%s", code, r.log.String())
	case <-time.After(20 * time.Second):
		t.Fatal("the manager is not ready after 20 s")
	}
	t.Cleanup(func() { r.stop(syscall.SIGTERM) })
	return r
}

// stop sends sig and returns Run's exit code (-1 if it was stopped before).
func (r *running) stop(sig syscall.Signal) int {
	if r.m == nil {
		return -1
	}
	r.m = nil
	r.signals <- sig
	select {
	case code := <-r.code:
		return code
	case <-time.After(20 * time.Second):
		r.t.Fatalf("the manager has not stopped 20 s after %s:\n%s", sig, r.log.String())
		return -1
	}
}

// services returns the status of every service, by key: the running
// version when a key also has a new one rolling out or an old one stopping.
func (r *running) services() map[string]pool.ServiceStatus {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	list, err := r.m.Services(ctx)
	require.NoError(r.t, err)
	out := map[string]pool.ServiceStatus{}
	for _, s := range list {
		if cur, ok := out[s.Key]; !ok || cur.Phase != "running" || s.Phase == "running" && s.Rollout == "" {
			out[s.Key] = s
		}
	}
	return out
}

// eventually waits (at most 20 s) for cond, then fails with the log.
func (r *running) eventually(what string, cond func() bool) {
	r.t.Helper()
	for range 400 {
		if cond() {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	r.t.Fatalf("%s: not after 20 s; log:\n%s", what, r.log.String())
}

func (r *running) notified() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.events...)
}

func TestManagerLifecycle(t *testing.T) {
	opts := newOptions(t)
	remote := &fakeRemote{}
	opts.Remote = remote
	writeConfig(t, opts.ConfigDir, "test.a.0.raw", instanceConfig("minimum-processes 2\nprestart-processes true\n"))
	writeConfig(t, opts.ConfigDir, "test.b.0.raw", instanceConfig(""))
	writeConfig(t, opts.ConfigDir, "not a service", "exec /bin/true\n")
	r := start(t, opts)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	assert.Contains(t, r.log.String(), "Manager ready: Version ")
	r.eventually("two ready instances of test.a", func() bool { return r.services()["test.a.0.raw"].Serving == 2 })
	svcs := r.services()
	require.Len(t, svcs, 2)
	assert.Equal(t, 0, svcs["test.b.0.raw"].Instances, "lazy: no instance before a connection")
	lookupMap, err := os.ReadFile(opts.LookupMap)
	require.NoError(t, err)
	assert.Contains(t, string(lookupMap), "test.a.0.raw")
	assert.Contains(t, string(lookupMap), "test.b.0.raw")
	_, err = os.Stat(opts.LookupMap + BinaryLookupSuffix)
	assert.NoError(t, err, "both formats by default")
	remote.mu.Lock()
	assert.True(t, remote.started)
	remote.mu.Unlock()
	keys, _ := remote.lastSync()
	assert.Equal(t, []string{"test.a.0.raw", "test.b.0.raw"}, keys)
	assert.Equal(t, "remote status", r.m.RemoteStatus(ctx))

	procs, err := r.m.Processes(ctx)
	require.NoError(t, err)
	assert.Len(t, procs, 2)
	st, err := r.m.Stats(ctx)
	require.NoError(t, err)
	assert.Equal(t, 2, st.Services)
	assert.Equal(t, 2, st.Processes)
	assert.Equal(t, os.Getpid(), st.PID)
	assert.False(t, st.ShuttingDown)

	// Controls: hold, halt, resume; an unknown key is ErrNotFound.
	sst, err := r.m.Control(ctx, "test.b.0.raw", "hold")
	require.NoError(t, err)
	assert.True(t, sst.Held)
	sst, err = r.m.Control(ctx, "test.a.0.raw", "halt")
	require.NoError(t, err)
	assert.True(t, sst.Halted)
	_, halted := remote.lastSync()
	assert.True(t, halted["test.a.0.raw"], "the remote hears of the halt")
	_, err = r.m.Control(ctx, "test.none.0.raw", "halt")
	require.ErrorIs(t, err, status.ErrNotFound)
	recs, err := r.m.Controls(ctx)
	require.NoError(t, err)
	assert.Equal(t, "halt", recs["test.a.0.raw"].Action)
	assert.Equal(t, "hold", recs["test.b.0.raw"].Action)
	onDisk, err := ReadControls(opts.RendezvousDir)
	require.NoError(t, err)
	assert.Equal(t, recs["test.a.0.raw"].Action, onDisk["test.a.0.raw"].Action, "kept in the controls file")
	r.eventually("the halted service has no instance", func() bool { return r.services()["test.a.0.raw"].Instances == 0 })

	// A reload keeps the halt; RESUME lifts it.
	r.signals <- syscall.SIGHUP
	r.eventually("the reload", func() bool { return strings.Contains(r.log.String(), "Manager Signal: Configuration Reload") })
	assert.True(t, r.services()["test.a.0.raw"].Halted, "a halt survives a reload")
	sst, err = r.m.Resume(ctx, "test.a.0.raw")
	require.NoError(t, err)
	assert.False(t, sst.Halted)
	r.eventually("test.a back to its minimum", func() bool { return r.services()["test.a.0.raw"].Serving == 2 })
	_, err = r.m.Control(ctx, "test.b.0.raw", "resume")
	require.NoError(t, err)
	onDisk, err = ReadControls(opts.RendezvousDir)
	require.NoError(t, err)
	assert.Empty(t, onDisk, "resumed: nothing kept")

	// Logging changed at run time.
	ls, err := r.m.SetLogging(ctx, status.LogChange{Log: []string{"-calibrate"}, Debug: []string{"+calibrate"}}, "test")
	require.NoError(t, err)
	assert.NotContains(t, ls.Categories, "calibrate")
	assert.Contains(t, ls.Debug, "calibrate")
	_, err = r.m.SetLogging(ctx, status.LogChange{Log: []string{"nonsense"}}, "test")
	require.ErrorIs(t, err, status.ErrBadRequest)
	ls2, err := r.m.Logging(ctx)
	require.NoError(t, err)
	assert.Equal(t, ls.Categories, ls2.Categories, "a refused change changes nothing")
	_, err = r.m.SetLogging(ctx, status.LogChange{Debug: []string{"none"}}, "test")
	require.NoError(t, err)

	// A changed service is rolled out: the new version's instances come up
	// beside the old ones, then replace them.
	oldLoaded := r.services()["test.a.0.raw"].Loaded
	time.Sleep(10 * time.Millisecond) // a later mtime
	writeConfig(t, opts.ConfigDir, "test.a.0.raw", instanceConfig("minimum-processes 1\nprestart-processes true\nmaximum-processes 3\n"))
	require.NoError(t, os.Remove(filepath.Join(opts.ConfigDir, "test.b.0.raw")))
	writeConfig(t, opts.ConfigDir, "test.c.0.raw", instanceConfig(""))
	r.signals <- syscall.SIGHUP
	r.eventually("the new version of test.a in place", func() bool {
		a := r.services()["test.a.0.raw"]
		return a.Phase == "running" && a.Rollout == "" && a.MaximumProcesses == 3 && a.Loaded.After(oldLoaded)
	})
	r.eventually("test.b removed", func() bool { _, ok := r.services()["test.b.0.raw"]; return !ok })
	assert.Contains(t, r.services(), "test.c.0.raw", "added")
	lookupMap, err = os.ReadFile(opts.LookupMap)
	require.NoError(t, err)
	assert.NotContains(t, string(lookupMap), "test.b.0.raw")
	assert.Contains(t, string(lookupMap), "test.c.0.raw")
	r.eventually("the old version gone", func() bool {
		st, err := r.m.Stats(ctx)
		return err == nil && st.ZombieServices == 0 && st.Processes == 1
	})

	assert.Equal(t, 0, r.stop(syscall.SIGTERM))
	out := r.log.String()
	assert.Contains(t, out, "Manager shutdown: Caught SIGTERM")
	assert.Contains(t, out, "Service Exit: test.a.0.raw")
	remote.mu.Lock()
	assert.True(t, remote.closed)
	remote.mu.Unlock()
	ev := r.notified()
	assert.Contains(t, ev, EventReloading)
	assert.Contains(t, ev, EventReloaded)
	assert.Equal(t, EventStopping, ev[len(ev)-1])
	_, err = os.Stat(filepath.Join(opts.RendezvousDir, "test.a.0.raw.socket"))
	assert.True(t, os.IsNotExist(err), "the sockets are removed")
}

// TestManagerRolloutFailure: a new version whose instances never reach
// their first accept is abandoned, and the old one keeps serving.
func TestManagerRolloutFailure(t *testing.T) {
	opts := newOptions(t)
	writeConfig(t, opts.ConfigDir, "test.r.0.raw", instanceConfig("minimum-processes 1\nprestart-processes true\n"))
	r := start(t, opts)
	r.eventually("one ready instance", func() bool { return r.services()["test.r.0.raw"].Serving == 1 })
	time.Sleep(10 * time.Millisecond)
	writeConfig(t, opts.ConfigDir, "test.r.0.raw", "exec /bin/sleep 60\nminimum-processes 1\nprestart-processes true\nunresponsive-timeout 5\n")
	r.signals <- syscall.SIGINT // reload everything
	r.eventually("the rollout failed", func() bool { return strings.Contains(r.log.String(), "rollout of") })
	assert.Contains(t, r.log.String(), "not ready (first accept) within")
	s := r.services()["test.r.0.raw"]
	assert.Equal(t, 1, s.Serving, "the old version serves on")
	assert.Equal(t, 0, r.stop(syscall.SIGUSR1))
	assert.Contains(t, r.log.String(), "Manager shutdown: Caught SIGUSR1")
}

func TestManagerRefusesToStart(t *testing.T) {
	tests := []struct {
		name string
		edit func(t *testing.T, o *Options)
		want string
	}{
		{"no rendezvous directory", func(t *testing.T, o *Options) { o.RendezvousDir = filepath.Join(t.TempDir(), "none") },
			"FATAL: Rendezvous directory "},
		{"rendezvous is a file", func(t *testing.T, o *Options) {
			o.RendezvousDir = filepath.Join(t.TempDir(), "file")
			require.NoError(t, os.WriteFile(o.RendezvousDir, nil, 0o644))
		}, "not a directory"},
		{"no configuration directory", func(t *testing.T, o *Options) { o.ConfigDir = filepath.Join(t.TempDir(), "none") },
			"FATAL: Configuration directory "},
		{"no lookup map directory", func(t *testing.T, o *Options) { o.LookupMap = filepath.Join(t.TempDir(), "none", "lookup.map") },
			"FATAL: LookupMap directory "},
		{"status address not loopback", func(_ *testing.T, o *Options) { o.StatusAddr = "192.0.2.1:80" },
			"FATAL: Status address 192.0.2.1:80 refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := newOptions(t)
			tt.edit(t, &o)
			var out, errOut bytes.Buffer
			o.Stdout, o.Stderr, o.Signals = &out, &errOut, make(chan os.Signal)
			assert.Equal(t, 1, Run(o))
			assert.Contains(t, errOut.String(), tt.want)
			assert.Contains(t, out.String(), tt.want)
		})
	}
}

// TestSecondManagerRefused: the rendezvous directory's lock keeps a second
// manager off it, named by the first one's pid.
func TestSecondManagerRefused(t *testing.T) {
	opts := newOptions(t)
	writeConfig(t, opts.ConfigDir, "test.l.0.raw", instanceConfig(""))
	start(t, opts)
	assert.Equal(t, os.Getpid(), runningManager(opts.RendezvousDir))
	var out, errOut bytes.Buffer
	second := opts
	second.Stdout, second.Stderr, second.Signals, second.Ready, second.Notify = &out, &errOut, make(chan os.Signal), nil, nil
	assert.Equal(t, 1, Run(second))
	assert.Contains(t, errOut.String(), "FATAL: Another plutonManager (pid "+strconv.Itoa(os.Getpid())+") is using Rendezvous directory")
}

func TestCheck(t *testing.T) {
	dir := t.TempDir()
	writeConfig(t, dir, "test.ok.0.raw", "exec /bin/true\n")
	var out bytes.Buffer
	assert.Equal(t, 0, Check(dir, &out))
	assert.Contains(t, out.String(), "1 service(s), configuration test is successful")

	writeConfig(t, dir, "test.gone.0.raw", "exec /nonexistent/program\n")
	writeConfig(t, dir, "test.bad.0.raw", "exec /bin/true\nno-such-parameter 1\n")
	out.Reset()
	assert.Equal(t, 1, Check(dir, &out))
	assert.Contains(t, out.String(), "Config Error: ")
	assert.Contains(t, out.String(), "/nonexistent/program")
	assert.Contains(t, out.String(), "1 service(s) ready, 2 problem(s): configuration test failed")

	out.Reset()
	assert.Equal(t, 1, Check(filepath.Join(dir, "none"), &out))
	assert.Contains(t, out.String(), "configuration test failed")
}

func TestChangeLogging(t *testing.T) {
	base := logging.ProcessStart | logging.Calibrate
	tests := []struct {
		name       string
		log, debug []string
		cats       logging.Category
		flags      logging.DebugFlag
		err        string
	}{
		{"nothing", nil, nil, base, 0, ""},
		{"off", []string{"-calibrate"}, nil, logging.ProcessStart, 0, ""},
		{"on, bare and comma separated", []string{"processExit, +processStart"}, nil, base | logging.ProcessExit, 0, ""},
		{"none then one", []string{"none", "calibrate"}, nil, logging.Calibrate, 0, ""},
		{"debug", nil, []string{"+calibrate", "oneShot"}, base, logging.DebugCalibrate | logging.DebugOneShot, ""},
		{"debug none", nil, []string{"calibrate", "none"}, base, 0, ""},
		{"unknown category", []string{"bogus"}, nil, 0, 0, `unknown logging flag "bogus"`},
		{"unknown debug flag", nil, []string{"-bogus"}, 0, 0, `unknown debug flag "bogus"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cats, flags, err := ChangeLogging(base, 0, tt.log, tt.debug)
			if tt.err != "" {
				require.ErrorIs(t, err, status.ErrBadRequest)
				assert.Contains(t, err.Error(), tt.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.cats, cats)
			assert.Equal(t, tt.flags, flags)
		})
	}
}

func TestCheckLookupFormat(t *testing.T) {
	for _, f := range []string{"", LookupBoth, LookupText, LookupBinary} {
		assert.NoError(t, CheckLookupFormat(f), f)
	}
	err := CheckLookupFormat("xml")
	require.Error(t, err)
	assert.Contains(t, err.Error(), `"xml": want both, text or binary`)
}

func TestControlsFile(t *testing.T) {
	dir := t.TempDir()
	recs, err := ReadControls(dir)
	require.NoError(t, err)
	assert.Empty(t, recs, "no file: no controls")
	_, err = ClearControl(dir, "a.b.0.raw")
	assert.ErrorContains(t, err, "a.b.0.raw is neither held nor halted: no service is")

	at := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	want := map[string]status.ControlRecord{
		"a.b.0.raw": {Action: "halt", At: at, By: "test"},
		"a.c.0.raw": {Action: "hold", At: at, By: "test"},
	}
	require.NoError(t, WriteControls(dir, want))
	recs, err = ReadControls(dir)
	require.NoError(t, err)
	assert.Equal(t, want, recs)

	_, err = ClearControl(dir, "a.x.0.raw")
	assert.ErrorContains(t, err, "held or halted: [a.b.0.raw a.c.0.raw]")
	msg, err := ClearControl(dir, "a.b.0.raw")
	require.NoError(t, err)
	assert.Equal(t, "a.b.0.raw: halt of 2026-12-07T12:00:00Z by test cleared; no manager is running on "+dir, msg)
	recs, err = ReadControls(dir)
	require.NoError(t, err)
	assert.Len(t, recs, 1)

	require.NoError(t, os.WriteFile(filepath.Join(dir, ControlsName), []byte("{not json"), 0o644))
	_, err = ReadControls(dir)
	assert.Error(t, err, "a damaged file is an error")
}

func TestSigName(t *testing.T) {
	for sig, want := range map[syscall.Signal]string{syscall.SIGTERM: "SIGTERM", syscall.SIGUSR1: "SIGUSR1",
		syscall.SIGUSR2: "SIGUSR2", syscall.SIGQUIT: syscall.SIGQUIT.String()} {
		assert.Equal(t, want, sigName(sig))
	}
}
