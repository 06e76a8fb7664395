// Package manager is plutonManager: it scans the configuration directory,
// runs one pool.Service per service key, reloads on SIGHUP/SIGINT, writes
// the lookup map, logs, serves the status API and shuts everything down in
// order.
//
// All mutable state belongs to one event loop goroutine (Run). Other
// goroutines (instance waiters, the connection watcher, the status server)
// hand it work with post.
package manager

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/pluton-go/pluton/go/manager/config"
	coordserver "github.com/pluton-go/pluton/go/manager/coord"
	"github.com/pluton-go/pluton/go/manager/logging"
	"github.com/pluton-go/pluton/go/manager/metrics"
	"github.com/pluton-go/pluton/go/manager/pool"
	"github.com/pluton-go/pluton/go/manager/process"
	"github.com/pluton-go/pluton/go/manager/sockdiag"
	"github.com/pluton-go/pluton/go/manager/status"
	"github.com/pluton-go/pluton/go/servicekey"
	"github.com/pluton-go/pluton/go/stats"
	"github.com/pluton-go/pluton/go/version"
)

// LockName is the lock file in the rendezvous directory: an exclusive flock
// on it keeps a second manager off the same directory; it holds the pid.
const LockName = "plutonManager.lock"

// Options are the command-line settings.
type Options struct {
	ConfigDir     string           // -C
	RendezvousDir string           // -R
	LookupMap     string           // -L
	StatusAddr    string           // -c: loopback host:port or a Unix socket path; empty: none
	Logging       logging.Category // -l
	StatsInterval time.Duration    // -s
	EmergencyExit time.Duration    // -e
	Stdout        io.Writer        // the log
	Stderr        io.Writer        // FATAL and emergency lines are repeated here
	Signals       chan os.Signal   // nil: the process's signals
	Ready         func(*Manager)   // called once the manager is ready (tests)
	Log           *logging.Logger  // the log; nil: plain lines to Stdout with the categories of Logging
	Remote        Remote           // -N: services exported and job classes run on NATS (go/remote); nil: none
	LookupFormat  string           // --lookup-format: LookupBoth (""), LookupText or LookupBinary (lookupformat.go)
	// Notify, if set, is called on the event loop with an Event* (notify.go)
	// and the number of services.
	Notify func(event string, services int)
	// Forker forks the instances; nil: a new process.Forker. Exec, if set,
	// replaces the program in place on SIGUSR2 (upgrade.go); both come from
	// process.ServeOnMain.
	Forker  *process.Forker
	Exec    ExecFunc
	ExecEnv []string // the environment to re-execute with (the one the program started with); nil: the current one
}

// Remote takes the manager's services beyond one machine (go/remote,
// docs/remote.md). The manager calls Start once it holds the rendezvous
// directory's lock, Sync on its event loop after every scan, rollout and
// control, and Close when it starts to shut down; Sync must not block.
type Remote interface {
	Start() error // once the manager holds the rendezvous directory; an error is FATAL
	Sync(services []*config.Service, held, halted map[string]bool)
	Close()
	Status(ctx context.Context) any
}

// DefaultOptions returns the defaults of the command line.
func DefaultOptions() Options {
	return Options{ConfigDir: ".", RendezvousDir: ".", LookupMap: "./lookup.map",
		StatsInterval: 600 * time.Second, EmergencyExit: 30 * time.Second, Stdout: os.Stdout, Stderr: os.Stderr}
}

// Manager is one running plutonManager.
type Manager struct {
	opts     Options
	log      *logging.Logger
	env      *pool.Env
	metrics  *metrics.Metrics
	diag     *sockdiag.Conn
	posts    chan func()
	started  time.Time
	services map[string]*pool.Service
	// candidates are the new versions of changed services, proving that
	// they start before they replace the running ones (safe rollouts).
	candidates map[string]*pool.Service
	zombies    []*pool.Service
	counters   pool.Counters
	lockFile   *os.File
	statusSv   *status.Server
	control    *coordserver.Server // the coordination server (control.go)
	controls   *controlState       // holds and halts kept in ControlsName (controls.go)

	shuttingDown bool
	emergency    *time.Timer // the Emergency Exit Delay, once shutting down
	nextStats    time.Time
	maxServices  int
	exe          string    // the executable an upgrade re-executes (upgrade.go)
	handover     *handover // what the program this one replaced handed over, until adopted
}

type fatalError struct{ msg string }

func (e *fatalError) Error() string { return e.msg }

func fatalf(format string, args ...any) error { return &fatalError{fmt.Sprintf(format, args...)} }

// Run runs a manager until it is told to stop, and returns the exit code.
func Run(opts Options) int {
	if opts.Stdout == nil {
		opts.Stdout = os.Stdout
	}
	if opts.Stderr == nil {
		opts.Stderr = os.Stderr
	}
	if opts.Log == nil {
		opts.Log = logging.New(opts.Stdout, opts.Logging)
	}
	m := &Manager{opts: opts, log: opts.Log, posts: make(chan func(), 4096),
		services: make(map[string]*pool.Service), candidates: make(map[string]*pool.Service), started: time.Now()}
	if err := m.init(); err != nil {
		var fe *fatalError
		msg := err.Error()
		if !errors.As(err, &fe) {
			msg = "Cannot start: " + msg
		}
		m.log.Printf("FATAL: %s", msg)
		fmt.Fprintf(opts.Stderr, "FATAL: %s\n", msg)
		return 1
	}
	return m.loop()
}

func (m *Manager) init() error {
	o := &m.opts
	m.log.Printf("Option: Configuration Directory=%s", o.ConfigDir)
	m.log.Printf("Option: LookupMap Path=%s", o.LookupMap)
	m.log.Printf("Option: Rendezvous Directory=%s", o.RendezvousDir)
	if o.Logging != 0 {
		m.log.Printf("Option: logging=%s", o.Logging)
	}
	if o.StatusAddr != "" {
		m.log.Printf("Option: Status Address=%s", o.StatusAddr)
	}
	m.log.Printf("Option: Stats Interval=%ds", int(o.StatsInterval/time.Second))
	m.log.Printf("Option: Emergency Exit Delay=%ds", int(o.EmergencyExit/time.Second))

	if err := checkDir(o.RendezvousDir, "Rendezvous", unix.R_OK|unix.W_OK|unix.X_OK); err != nil {
		return err
	}
	abs, err := filepath.Abs(o.RendezvousDir)
	if err == nil {
		abs, err = filepath.EvalSymlinks(abs)
	}
	if err != nil {
		return fatalf("Rendezvous directory %s: %v", o.RendezvousDir, err)
	}
	if abs != o.RendezvousDir {
		m.log.Printf("Manager Rendezvous realpath: %s", abs)
	}
	o.RendezvousDir = abs
	if err := checkDir(o.ConfigDir, "Configuration", unix.R_OK|unix.X_OK); err != nil {
		return err
	}
	if err := checkDir(filepath.Dir(o.LookupMap), "LookupMap", unix.W_OK|unix.X_OK); err != nil {
		return err
	}
	if m.handover, err = readHandover(); err != nil { // upgrade.go
		m.log.Printf("Warning: %v; starting afresh", err)
	}
	if m.exe, err = executable(); err != nil {
		m.log.Printf("Warning: %v: upgrades (SIGUSR2) are off", err)
	}
	if m.handover != nil && m.handover.LockFD >= 0 {
		err = m.adoptLock(m.handover.LockFD)
	} else {
		err = m.lock()
	}
	if err != nil {
		return err
	}
	if o.Remote != nil {
		if err := o.Remote.Start(); err != nil {
			return fatalf("%v", err)
		}
	}
	if o.StatusAddr != "" && !strings.Contains(o.StatusAddr, "/") {
		if _, err := status.LoopbackAddress(o.StatusAddr); errors.Is(err, status.ErrNotLoopback) {
			return fatalf("Status address %s refused: %v", o.StatusAddr, err)
		}
	}

	signal.Ignore(syscall.SIGPIPE) // also inherited, ignored, by every instance
	if m.opts.Signals == nil {
		m.opts.Signals = make(chan os.Signal, 16)
		signal.Notify(m.opts.Signals, syscall.SIGHUP, syscall.SIGINT, syscall.SIGTERM, syscall.SIGUSR1, syscall.SIGUSR2)
	}

	m.metrics = metrics.New()
	if m.diag, err = sockdiag.Open(); err != nil {
		m.log.Printf("Warning: %v: backlog measured by poll (0 or 1)", err)
		m.diag = nil
	}
	watcher, err := pool.NewWatcher(m.post)
	if err != nil {
		return fatalf("epoll: %v", err)
	}
	forker := o.Forker
	if forker == nil {
		forker = process.NewForker()
	}
	m.env = &pool.Env{Log: m.log, Forker: forker, Metrics: m.metrics, Watcher: watcher, Post: m.post,
		Rand: rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), uint64(os.Getpid()))), RendezvousDir: o.RendezvousDir,
		Counters: &m.counters, BaseEnv: pool.BaseEnvironment()}
	if err := m.startControl(); err != nil {
		return err
	}

	if o.StatusAddr != "" {
		l, err := status.Listen(o.StatusAddr)
		if err != nil {
			m.log.Printf("Warning: Cannot open Status Address: %v", err)
		} else {
			m.statusSv = status.Serve(l, status.Handler(m, m.metrics.Registry))
			m.log.Printf("Manager Status: listening on %s", addrString(l.Addr()))
		}
	}

	reloadTime := time.Time{}
	if h := m.handover; h != nil {
		m.handover = nil
		m.adopt(h, time.Now())
		reloadTime = h.Time // a file changed since the handover is reloaded
	}
	if err := m.scan(time.Now(), reloadTime, true); err != nil {
		return fatalf("Cannot continue without a configuration")
	}
	m.log.Printf("Manager ready: Version %s", version.Version)
	return nil
}

func addrString(a net.Addr) string {
	if a.Network() == "unix" {
		return a.String()
	}
	return a.Network() + " " + a.String()
}

// checkDir checks that dir is a directory with the access bits mode.
func checkDir(dir, what string, mode uint32) error {
	fi, err := os.Stat(dir)
	if err != nil {
		return fatalf("%s directory %s: %v", what, dir, unwrapPath(err))
	}
	if !fi.IsDir() {
		return fatalf("%s directory %s: not a directory", what, dir)
	}
	if err := unix.Access(dir, mode); err != nil {
		return fatalf("%s directory %s: %v", what, dir, err)
	}
	return nil
}

func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// lock takes the rendezvous directory's lock file, or names the manager
// holding it.
func (m *Manager) lock() error {
	path := filepath.Join(m.opts.RendezvousDir, LockName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return fatalf("Cannot open lock file %s: %v", path, unwrapPath(err))
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		b, _ := io.ReadAll(io.LimitReader(f, 64))
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return fatalf("Another plutonManager (pid %s) is using Rendezvous directory %s",
				strings.TrimSpace(string(b)), m.opts.RendezvousDir)
		}
		return fatalf("Cannot lock %s: %v", path, err)
	}
	_ = f.Truncate(0)
	_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	m.lockFile = f
	m.log.Debugf(logging.DebugOneShot, "locked %s (pid %d)", path, os.Getpid())
	return nil
}

// post hands fn to the event loop.
func (m *Manager) post(fn func()) { m.posts <- fn }

// do runs fn on the event loop and waits for it.
func (m *Manager) do(ctx context.Context, fn func()) error {
	done := make(chan struct{})
	select {
	case m.posts <- func() { fn(); close(done) }:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (m *Manager) loop() int {
	if m.opts.Ready != nil {
		m.opts.Ready(m)
	}
	ticker := time.NewTicker(pool.SampleInterval)
	defer ticker.Stop()
	m.tick(time.Now())
	for {
		select {
		case sig := <-m.opts.Signals:
			m.signal(sig.(syscall.Signal))
		case fn := <-m.posts:
			fn()
		case now := <-ticker.C:
			m.tick(now)
		}
		if m.shuttingDown && len(m.zombies) == 0 && len(m.services) == 0 {
			return m.exit()
		}
	}
}

func (m *Manager) signal(sig syscall.Signal) {
	now := time.Now()
	m.log.Debugf(logging.DebugManager, "signal %s (shutting down: %t)", unix.SignalName(sig), m.shuttingDown)
	switch sig {
	case syscall.SIGHUP:
		if !m.shuttingDown {
			m.log.Printf("Manager Signal: Configuration Reload")
			m.notify(EventReloading)
			_ = m.scan(now, now, false)
			m.reloaded(now)
		}
	case syscall.SIGINT:
		if !m.shuttingDown {
			m.log.Printf("Manager Signal: Configuration Reload (all)")
			m.notify(EventReloading)
			_ = m.scan(now, time.Time{}, false)
			m.reloaded(now)
		}
	case syscall.SIGUSR2:
		m.upgrade(now) // upgrade.go
	default:
		if !m.shuttingDown {
			m.shutdown(now, "Caught "+sigName(sig))
		}
	}
}

func sigName(sig syscall.Signal) string {
	switch sig {
	case syscall.SIGTERM:
		return "SIGTERM"
	case syscall.SIGUSR1:
		return "SIGUSR1"
	case syscall.SIGUSR2:
		return "SIGUSR2"
	}
	return sig.String()
}

// drainFor bounds how long a stopping service waits for its backlog.
func (m *Manager) drainFor(cfg *config.Service) time.Duration {
	return min(cfg.UnresponsiveTimeout, m.opts.EmergencyExit/2)
}

// scan reads the configuration directory and applies it: new services are
// started, changed ones replaced, removed ones stopped. A service file is
// unchanged (retained) when its inode, size and mtime are those loaded and
// its mtime is before reloadTime (zero: reload everything).
func (m *Manager) scan(now, reloadTime time.Time, initial bool) error {
	dir := m.opts.ConfigDir
	m.log.Logf(logging.ServiceConfig, "Config Scan Start: %s", dir)
	m.log.Debugf(logging.DebugManager, "scan %s (initial: %t, retain files modified before %s)", dir, initial, reloadTime.Format(time.RFC3339Nano))
	res, err := config.Scan(dir)
	if err != nil {
		m.log.Printf("Config Error: Cannot open service directory %s: %v", dir, unwrapPath(err))
		if !initial && errors.Is(err, config.ErrUntrusted) {
			m.log.Printf("Config Error: Reload refused; the running services are kept")
			return err
		}
		if !initial {
			m.shutdown(now, "Configuration directory unreadable")
		}
		return err
	}
	for _, ig := range res.Ignored {
		if strings.HasPrefix(ig.Reason, "Ignoring file") {
			m.log.Logf(logging.ServiceConfig, "Config Warning: %s", ig.Reason)
		} else {
			m.log.Printf("Config Warning: %s", ig.Reason)
		}
	}
	broken := make(map[string]bool)
	for _, e := range res.Errors {
		m.log.Printf("Config Error: %v", e)
		var ce *config.Error
		if errors.As(e, &ce) && ce.File != "" {
			broken[filepath.Base(ce.File)] = true
		}
	}
	var nNew, nRetained, nReplaced, nRemoved int
	seen := make(map[string]bool)
	mapChanged := initial
	for _, cfg := range res.Services {
		key := cfg.Key.String()
		m.log.Debugf(logging.DebugConfig, "%s", cfg.Summary())
		seen[key] = true
		old, cand := m.services[key], m.candidates[key]
		unchanged := func(s *pool.Service) bool {
			return s != nil && sameFile(s.Cfg.ID, cfg.ID) && cfg.ID.ModTime.Before(reloadTime)
		}
		if unchanged(cand) {
			nRetained++ // its rollout goes on
			continue
		}
		if unchanged(old) {
			if cand != nil {
				m.abortRollout(now, cand, "the configuration was put back")
			}
			nRetained++
			continue
		}
		for _, w := range cfg.Warnings {
			m.log.Logf(logging.ServiceConfig, "Config Warning: %s: %s", key, w)
		}
		if cfg.Jobs && m.opts.Remote == nil {
			m.log.Printf("Config Warning: %s: jobs true has no effect: the manager was not started with -N (docs/remote.md)", key)
		}
		if old != nil {
			m.log.Logf(logging.ServiceConfig, "Config Loading changed: %s", key)
		} else {
			m.log.Logf(logging.ServiceConfig, "Config Loading new: %s", key)
		}
		if cand != nil {
			m.abortRollout(now, cand, "superseded by a newer configuration")
		}
		if old != nil {
			// Safe rollout: the new version starts beside the old one and
			// replaces it only once its instances accept (checkRollouts).
			svc, err := pool.NewStaged(cfg, m.env, now)
			if err != nil {
				m.log.Printf("Service Error: %s Initialize failed: %v", key, err)
				old.NoteRolloutFailed("initialize failed: " + err.Error())
				nRetained++
				continue
			}
			old.NoteRolloutStarted()
			m.candidates[key] = svc
			svc.StartRollout(now)
			nReplaced++
			continue
		}
		svc, err := pool.New(cfg, m.env, now)
		if err != nil {
			m.log.Printf("Service Error: %s Initialize failed: %v", key, err)
			continue
		}
		nNew++
		mapChanged = true
		m.services[key] = svc
		svc.Prestart(now)
		m.restoreControl(now, svc) // a hold or halt kept from before (controls.go)
	}
	for _, key := range sortedKeys(m.candidates) {
		if !seen[key] {
			reason := "its configuration was removed"
			if broken[key] {
				reason = "its configuration no longer loads"
			}
			m.abortRollout(now, m.candidates[key], reason)
		}
	}
	for _, key := range sortedKeys(m.services) {
		if seen[key] {
			continue
		}
		old := m.services[key]
		if broken[key] {
			m.log.Printf("Config Warning: %s: configuration no longer loads; the running service is kept", key)
			nRetained++
			continue
		}
		m.log.Logf(logging.ServiceConfig, "Config Removing: %s", key)
		old.Shutdown(now, "config deleted", true, m.drainFor(old.Cfg))
		m.zombies = append(m.zombies, old)
		delete(m.services, key)
		nRemoved++
		mapChanged = true
	}
	m.maxServices = max(m.maxServices, len(m.services))
	m.syncRemote()
	m.log.Logf(logging.ServiceConfig, "Config Scan Complete: New=%d Retained=%d Replaced=%d Removed=%d",
		nNew, nRetained, nReplaced, nRemoved)
	if mapChanged {
		keys := make([]servicekey.Key, 0, len(m.services))
		for _, s := range m.services {
			keys = append(keys, s.Cfg.Key)
		}
		m.log.Debugf(logging.DebugManager, "lookup map %s: %d services", m.opts.LookupMap, len(keys))
		if err := m.writeLookup(keys); err != nil {
			m.log.Printf("Config Error: Cannot rebuild LookupMap: %v", err)
			if !initial {
				m.shutdown(now, "Cannot rebuild LookupMap")
			}
			return err
		}
	}
	return nil
}

// checkRollouts puts in place the candidates whose instances all accept,
// retiring the versions they replace, and abandons those that failed: the
// running version keeps serving, the failure is logged and shown in its
// status, and the next reload tries again.
func (m *Manager) checkRollouts(now time.Time) {
	for _, key := range sortedKeys(m.candidates) {
		c := m.candidates[key]
		switch c.RolloutState(now) {
		case pool.RolloutReady:
			old := m.services[key]
			if err := c.Publish(now); err != nil {
				m.failRollout(now, c, err.Error())
				continue
			}
			delete(m.candidates, key)
			m.services[key] = c
			m.restoreControl(now, c)
			m.syncRemote()
			if old != nil {
				old.Shutdown(now, "config changed", false, m.drainFor(old.Cfg))
				m.zombies = append(m.zombies, old)
			}
		case pool.RolloutFailed:
			m.failRollout(now, c, c.RolloutError())
		}
	}
}

func (m *Manager) failRollout(now time.Time, c *pool.Service, why string) {
	m.log.Printf("Service Error: rollout of %s failed: %s; the running version keeps serving", c.Key, why)
	if old := m.services[c.Key]; old != nil {
		old.NoteRolloutFailed(why)
	}
	m.abortRollout(now, c, "rollout failed")
}

// abortRollout shuts a candidate down; the running version stays.
func (m *Manager) abortRollout(now time.Time, c *pool.Service, reason string) {
	if m.candidates[c.Key] == c {
		delete(m.candidates, c.Key)
	}
	c.Shutdown(now, "new version abandoned: "+reason, true, 0)
	m.zombies = append(m.zombies, c)
}

func sameFile(a, b config.FileID) bool {
	return a.Dev == b.Dev && a.Ino == b.Ino && a.Size == b.Size && a.ModTime.Equal(b.ModTime)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// tick samples every service's backlog and lets each act on it.
func (m *Manager) tick(now time.Time) {
	all := m.all()
	var queues map[uint64]uint32
	known := false
	if m.diag != nil && len(all) > 0 {
		want := make(map[uint64]bool, len(all))
		for _, s := range all {
			want[s.SocketInode()] = true
		}
		var err error
		if queues, err = m.diag.ListenQueues(want); err == nil {
			known = true
		}
	}
	for _, s := range all {
		q := 0
		if known {
			q = int(queues[s.SocketInode()])
		}
		s.Sample(now, q, known)
	}
	m.checkRollouts(now)
	m.reapZombies()
	procs := 0
	for _, s := range m.all() {
		procs += s.Live()
	}
	m.counters.MaxProcs = max(m.counters.MaxProcs, procs)
	m.metrics.Services.Set(float64(len(m.services)))
	m.metrics.Processes.Set(float64(procs))
	if !m.shuttingDown && !now.Before(m.nextStats) {
		m.nextStats = now.Add(m.opts.StatsInterval)
		m.periodic(now)
	}
}

func (m *Manager) all() []*pool.Service {
	out := make([]*pool.Service, 0, len(m.services)+len(m.candidates)+len(m.zombies))
	for _, k := range sortedKeys(m.services) {
		out = append(out, m.services[k])
	}
	for _, k := range sortedKeys(m.candidates) {
		out = append(out, m.candidates[k])
	}
	return append(out, m.zombies...)
}

func (m *Manager) reapZombies() {
	kept := m.zombies[:0]
	for _, z := range m.zombies {
		if !z.Finished() {
			kept = append(kept, z)
			continue
		}
		_, running := m.services[z.Key]
		_, staged := m.candidates[z.Key]
		if !running && !staged {
			m.metrics.Forget(z.Key)
		}
	}
	clear(m.zombies[len(kept):])
	m.zombies = kept
}

// shutdown stops every service; the loop exits once all are finished.
func (m *Manager) shutdown(now time.Time, reason string) {
	m.shuttingDown = true
	m.log.Printf("Manager shutdown: %s", reason)
	m.notify(EventStopping)
	if m.opts.Remote != nil {
		m.opts.Remote.Close() // stop taking remote requests and jobs while the services still run
	}
	for _, key := range sortedKeys(m.candidates) {
		m.abortRollout(now, m.candidates[key], reason)
	}
	for _, key := range sortedKeys(m.services) {
		s := m.services[key]
		s.Shutdown(now, reason, true, m.drainFor(s.Cfg))
		m.zombies = append(m.zombies, s)
		delete(m.services, key)
	}
	delay := m.opts.EmergencyExit
	m.log.Printf("Manager orderly shutdown limit: %d", int(delay/time.Second))
	stdout, stderr := m.opts.Stdout, m.opts.Stderr
	m.emergency = time.AfterFunc(delay, func() {
		const msg = "--\nEmergency Exit Delay limit reached\n"
		_, _ = io.WriteString(stdout, msg)
		_, _ = io.WriteString(stderr, msg)
		os.Exit(2) // every instance gets SIGKILL from Pdeathsig
	})
	m.reapZombies()
}

func (m *Manager) exit() int {
	if m.emergency != nil {
		m.emergency.Stop() // Run returns: its caller lives on
	}
	m.stopControl()
	if m.statusSv != nil {
		_ = m.statusSv.Close()
	}
	procs := 0
	for _, s := range m.all() {
		procs += s.Live()
	}
	m.log.Printf("Final Objects: Map=0 Services=%d Process=%d Children=%d Zombies=%d",
		len(m.services), procs, m.counters.Children, len(m.zombies))
	m.log.Printf("Manager exiting: Version %s", version.Version)
	return 0
}

// periodic writes the Uptime/Stats/Rates lines and resets the interval counts.
func (m *Manager) periodic(now time.Time) {
	up := now.Sub(m.started)
	var ru unix.Rusage
	_ = unix.Getrusage(unix.RUSAGE_SELF, &ru)
	cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	pctCPU := 0.0
	if up > 0 {
		pctCPU = float64(cpu) * 100 / float64(max(up, time.Second)) // no absurd figure at Uptime 0s
	}
	procs := 0
	for _, s := range m.all() {
		procs += s.Live()
	}
	m.log.Printf("Uptime: %s CPU=%.2f%% Mem=%dMB Objects: Services=%d Process=%d Max (%d/%d)",
		pool.Duration(up), pctCPU, ru.Maxrss/1024, len(m.services), procs, m.maxServices, m.counters.MaxProcs)
	if len(m.zombies) > 0 || m.counters.Children != procs {
		m.log.Printf("Zombies: Services=%d Children=%d", len(m.zombies), m.counters.Children-procs)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Stats: Processes=%d Children=%d", procs, m.counters.Children)
	for r := stats.ServiceShutdown; r <= stats.AcceptFailed; r++ {
		if n := m.counters.Exits[r]; n > 0 {
			fmt.Fprintf(&b, " %s=%d", r.Name(), n)
		}
	}
	m.log.Printf("%s", b.String())
	if m.counters.Started > 0 || m.counters.Requests > 0 {
		m.log.Printf("Rates: Processes=%d Requests=%d", m.counters.Started, m.counters.Requests)
	}
	m.counters.Started, m.counters.Requests = 0, 0
	clear(m.counters.Exits[:])
}

// Services implements status.Controller.
func (m *Manager) Services(ctx context.Context) ([]pool.ServiceStatus, error) {
	var out []pool.ServiceStatus
	err := m.do(ctx, func() {
		now := time.Now()
		for _, s := range m.all() {
			out = append(out, s.Status(now))
		}
	})
	return out, err
}

// Processes implements status.Controller.
func (m *Manager) Processes(ctx context.Context) ([]pool.ProcessStatus, error) {
	var out []pool.ProcessStatus
	err := m.do(ctx, func() {
		now := time.Now()
		for _, s := range m.all() {
			out = append(out, s.Processes(now)...)
		}
	})
	return out, err
}

// Stats implements status.Controller.
func (m *Manager) Stats(ctx context.Context) (status.Stats, error) {
	var st status.Stats
	err := m.do(ctx, func() {
		now := time.Now()
		var ru unix.Rusage
		_ = unix.Getrusage(unix.RUSAGE_SELF, &ru)
		up := now.Sub(m.started)
		procs := 0
		for _, s := range m.all() {
			procs += s.Live()
		}
		st = status.Stats{Version: version.Version, PID: os.Getpid(), UptimeSeconds: up.Seconds(),
			CPUPercent: float64(ru.Utime.Nano()+ru.Stime.Nano()) * 100 / float64(max(up, time.Second)), MaxRSSMB: ru.Maxrss / 1024,
			Services: len(m.services), Processes: procs, Children: m.counters.Children, ZombieServices: len(m.zombies),
			MaxProcesses: m.counters.MaxProcs, IntervalStarted: m.counters.Started, IntervalReqs: m.counters.Requests,
			IntervalExits: map[string]int{}, ShuttingDown: m.shuttingDown}
		for r := stats.ServiceShutdown; r <= stats.AcceptFailed; r++ {
			if n := m.counters.Exits[r]; n > 0 {
				st.IntervalExits[r.Name()] = n
			}
		}
	})
	return st, err
}

// Resume ends a service's hold, halt or backoff and starts an instance at
// once if none can accept (pool.Service.Resume); the status API's POST
// /services/<SK>/resume calls it.
func (m *Manager) Resume(ctx context.Context, key string) (pool.ServiceStatus, error) {
	return m.Control(ctx, key, "resume")
}

// Control implements status.Controller: hold, halt or resume a service.
func (m *Manager) Control(ctx context.Context, key, action string) (pool.ServiceStatus, error) {
	var st pool.ServiceStatus
	found := false
	err := m.do(ctx, func() {
		s := m.services[key]
		if s == nil {
			return
		}
		found = true
		now := time.Now()
		m.log.Debugf(logging.DebugManager, "control %s %s", key, action)
		switch action {
		case "hold":
			s.Hold()
			m.log.Printf("Service Control: %s held", key)
		case "halt":
			m.log.Printf("Service Control: %s halted", key)
			s.Halt(now)
		case "resume":
			m.log.Printf("Service Control: %s resumed", key)
			s.Resume(now)
		}
		m.recordControl(now, key, action, status.ActorFrom(ctx)) // controls.go
		st = s.Status(now)
		m.syncRemote()
	})
	if err == nil && !found {
		err = fmt.Errorf("%s: %w", key, status.ErrNotFound)
	}
	return st, err
}

// syncRemote tells the Remote the running services and their controls.
func (m *Manager) syncRemote() {
	if m.opts.Remote == nil || m.shuttingDown {
		return
	}
	cfgs := make([]*config.Service, 0, len(m.services))
	held, halted := map[string]bool{}, map[string]bool{}
	for _, k := range sortedKeys(m.services) {
		s := m.services[k]
		cfgs = append(cfgs, s.Cfg)
		st := s.Status(time.Now())
		held[k], halted[k] = st.Held, st.Halted
	}
	m.opts.Remote.Sync(cfgs, held, halted)
}

// RemoteStatus returns the Remote's status data (exported keys, job
// classes with their queued, running, done, failed and redelivered
// counts), or nil without one.
func (m *Manager) RemoteStatus(ctx context.Context) any {
	if m.opts.Remote == nil {
		return nil
	}
	return m.opts.Remote.Status(ctx)
}
