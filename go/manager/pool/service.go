// Package pool runs the instances of one service: it owns the service's
// rendezvous socket, stats segment and report pipe, starts and stops
// instances, and sizes the pool from the accept-queue backlog, the busy
// share (occupancy) and idleness.
//
// A Service is not safe for concurrent use: the manager calls every method
// from its one event loop goroutine, and goroutines that wait for something
// (an exit, a pending connection) hand the event to that loop with Env.Post.
// The report pipe has no goroutine: the loop reads it at every sample.
package pool

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/pluton-go/pluton/go/manager/config"
	"github.com/pluton-go/pluton/go/manager/logging"
	"github.com/pluton-go/pluton/go/manager/metrics"
	"github.com/pluton-go/pluton/go/manager/process"
	"github.com/pluton-go/pluton/go/manager/sockdiag"
	"github.com/pluton-go/pluton/go/stats"
)

// Env is what the services of one manager share.
type Env struct {
	Log           *logging.Logger
	Forker        *process.Forker
	Metrics       *metrics.Metrics
	Watcher       *Watcher
	Post          func(func()) // runs a function on the manager's loop
	Rand          *rand.Rand
	RendezvousDir string
	Counters      *Counters
	BaseEnv       []string // the environment of every instance, plutonSlot added
	// InstanceExited is told the pid of every reaped instance, from its
	// waiter goroutine (the coordination server, docs/coordination.md); nil: none.
	InstanceExited func(pid int)

	reportBuf      []byte    // the report pipe reads of every service
	subreaper      bool      // the manager is a child subreaper (preload.go): orphans are swept
	subreaperKnown bool      // subreaper was read from the kernel (set before an upgrade in place)
	orphanSweep    time.Time // the last sweep
}

// Counters are the manager-wide numbers of the periodic Stats lines.
type Counters struct {
	Children int                         // instances forked and not yet reaped
	Started  int                         // instances started in this interval
	Requests int                         // requests reported in this interval
	Exits    [stats.AcceptFailed + 1]int // instances ended in this interval, by reason
	MaxProcs int                         // the most instances alive at once
}

// Phase is where a service is in its life.
type Phase int

// The phases of a service.
const (
	Running  Phase = iota // serving
	Draining              // shutting down: waiting for the backlog to be served
	Stopping              // shutting down: waiting for the instances to exit
	Finished              // every file closed
)

func (p Phase) String() string {
	return [...]string{"running", "draining", "stopping", "finished"}[p]
}

// Tuning of the pool control; docs/manager.md explains each.
const (
	SampleInterval    = 100 * time.Millisecond // how often the manager samples every service
	backlogSamples    = 2                      // consecutive samples with a backlog before scaling up
	maxBurst          = 8                      // most instances started for one sample
	startingGrace     = 2 * time.Second        // an instance still "starting" after this counts as ready
	occupancyFastTau  = 3 * time.Second
	occupancySlowTau  = 10 * time.Second
	upCooldown        = time.Second            // between two occupancy-driven scale-ups
	downAfterUp       = 5 * time.Second        // no scale-down this soon after a scale-up
	downAfterBacklog  = 3 * time.Second        // no scale-down this soon after a backlog was seen
	downCooldown      = 2 * time.Second        // between two scale-downs
	floorInterval     = time.Second            // between two restarts to reach minimum-processes
	unresponsiveGrace = time.Second            // SIGTERM to SIGKILL for an unresponsive instance
	killWait          = 5 * time.Second        // after SIGKILL, before "One child left behind"
	earlyExit         = time.Second            // a clean exit this soon, with no request, backs off
	maxRetireLead     = time.Second            // the longest lead of a make-before-break replacement
	restartThrottle   = 250 * time.Millisecond // no start this soon after a failure, even with no backoff
	exitLogInterval   = 5 * time.Second
	healthyAfter      = 5 * time.Second // an instance serving this long ends a crash streak
)

// Service is one loaded service configuration and its instances.
type Service struct {
	Cfg        *config.Service
	Key        string
	SocketPath string
	MmapPath   string
	Loaded     time.Time

	env        *Env
	listener   *os.File
	lfd        int
	sockIno    uint64 // the socket's own inode (sock_diag key)
	pathIno    uint64 // the inode of the socket's file name
	segFile    *os.File
	seg        stats.Segment
	segIno     uint64
	repFD      int      // the report pipe's read end (non-blocking), -1 once closed
	repW       *os.File // its write end, fd 5 of every instance
	repTail    []byte   // the bytes of an incomplete record, read ahead
	repSize    int      // the pipe's capacity in bytes
	repGrow    bool     // the capacity may still grow
	metrics    *metrics.Service
	credential *syscall.Credential
	limits     process.Limits
	argv       []string

	inst    []*Instance // by instance index (slot / threads, threads.go); nil = free
	threads int         // thread slots per instance (maximum-threads; the segment header's when adopted)
	tmpl    *template   // the preload template (preload.go), nil: none running
	live    int
	phase   Phase

	// A staged service is the new version of a changed service proving that
	// it starts: its socket and segment stay at their .tmp names, where no
	// client looks, until Publish (see rollout.go).
	staged        bool
	curSocket     string // the socket's file name now (.tmp while staged)
	curMmap       string // the segment's file name now
	rolloutStart  time.Time
	rolloutUntil  time.Time
	rolloutErr    string // why the staged version failed
	rolloutFailed string // on a running service: its last failed rollout, for the status API

	lastStderr atomic.Pointer[string] // the last line any instance wrote to stderr
	crashes    int                    // abnormal exits and failed starts since the last sign of health
	lastCause  string                 // the last of them, for the fault answered while unavailable
	lastCrash  *CrashStatus           // the last instance that died while busy (crash forensics)
	rej        *rejector              // answers clients while no instance can (fault 7)
	lines      *lineLimiter           // summarizes repeated log lines
	book       exitBook               // what the status API shows of exited instances

	shutdownReason string
	drainUntil     time.Time
	lastExitLog    time.Time

	tmplUnready int       // templates in a row that ended before they were ready
	tmplOff     bool      // preload given up: every instance is exec'd
	tmplRetry   time.Time // no template start before

	held, halted  bool
	backoffUntil  time.Time
	backoffReason string
	throttleUntil time.Time // no start before (exec-failure-backoff 0 after a failure)
	used          bool      // a connection has come (lazy start): keep minimum-processes from now on
	lastFloor     time.Time

	// sampling and calibration
	backlog, prevBacklog int
	backlogKnown         bool
	backlogRun           int
	lastBacklog          time.Time
	lastSample           time.Time
	occFast, occSlow     float64
	lastUp, lastDown     time.Time
	lastActivity         time.Time
	startupAvg           time.Duration
	busy, idle, starting int // instances, at the last sample
	busyThreads          int // busy thread slots, at the last sample
	armed                bool
	requests, faults     uint64 // reported, all instances ever
}

// New initializes a service from its configuration: the socket is built at
// <SK>.socket.tmp and renamed over <SK>.socket (atomic: a reload never
// leaves a moment without a socket), the stats segment likewise, and the
// report pipe is created. It starts no instance (see Prestart).
func New(cfg *config.Service, env *Env, now time.Time) (*Service, error) {
	return newService(cfg, env, now, false)
}

// NewStaged initializes the new version of a changed service without
// putting it in place: its socket and segment keep their .tmp names, so the
// running version keeps every client. StartRollout then starts its
// instances, RolloutState says when they are ready, and Publish renames the
// files over the old ones. A staged service that fails is shut down.
func NewStaged(cfg *config.Service, env *Env, now time.Time) (*Service, error) {
	return newService(cfg, env, now, true)
}

func newService(cfg *config.Service, env *Env, now time.Time, staged bool) (s *Service, err error) {
	key := cfg.Key.String()
	if len(cfg.Argv) == 0 {
		return nil, errors.New("no exec command")
	}
	s = &Service{Cfg: cfg, Key: key, env: env, Loaded: now, lastActivity: now, lfd: -1, repFD: -1,
		SocketPath: filepath.Join(env.RendezvousDir, key+".socket"),
		MmapPath:   filepath.Join(env.RendezvousDir, key+".mmap"),
		inst:       make([]*Instance, cfg.MaximumProcesses), argv: cfg.Argv, staged: staged,
		threads: max(cfg.MaximumThreads, 1), lines: newLineLimiter(env.Log)}
	s.curSocket, s.curMmap = s.SocketPath+".tmp", s.MmapPath+".tmp"
	created := s // every error return sets s to nil
	defer func() {
		if err != nil {
			created.closeFiles()
			_ = os.Remove(created.MmapPath + ".tmp")
			_ = os.Remove(created.SocketPath + ".tmp")
		}
	}()
	if err = s.resolveCredential(); err != nil {
		return nil, err
	}
	if cfg.UlimitCPUMilliseconds > 0 && cfg.MaximumRequests > 0 {
		s.limits.CPUSeconds = uint64(max(1, cfg.UlimitCPUMilliseconds*int64(cfg.MaximumRequests)/1000))
	}
	if cfg.UlimitDataMemoryMB > 0 {
		s.limits.DataBytes = uint64(cfg.UlimitDataMemoryMB) * 1024 * 1024
	}
	if cfg.UlimitOpenFiles > 0 {
		s.limits.OpenFiles = uint64(cfg.UlimitOpenFiles)
	}
	if err = s.openReports(); err != nil {
		return nil, err
	}
	if err = s.createSegment(); err != nil {
		return nil, err
	}
	if err = s.createSocket(); err != nil {
		return nil, err
	}
	if !staged {
		if err = s.putInPlace(); err != nil {
			return nil, err
		}
	}
	s.metrics = env.Metrics.Service(key)
	s.updateGauges()
	return s, nil
}

// putInPlace renames the complete segment and socket over their final
// names, the socket last.
func (s *Service) putInPlace() error {
	if err := os.Rename(s.MmapPath+".tmp", s.MmapPath); err != nil {
		return fmt.Errorf("stats segment: %w", err)
	}
	s.curMmap = s.MmapPath
	if err := os.Rename(s.SocketPath+".tmp", s.SocketPath); err != nil {
		return fmt.Errorf("socket: %w", err)
	}
	s.curSocket = s.SocketPath
	return nil
}

func (s *Service) resolveCredential() error {
	if s.Cfg.User == "" && s.Cfg.Group == "" {
		return nil
	}
	if os.Geteuid() != 0 {
		s.env.Log.Printf("Service Warning: %s: user/group ignored: the manager is not running as root", s.Key)
		return nil
	}
	cred := &syscall.Credential{Uid: uint32(os.Getuid()), Gid: uint32(os.Getgid()), Groups: []uint32{}}
	if s.Cfg.User != "" {
		u, err := user.Lookup(s.Cfg.User)
		if err != nil {
			return fmt.Errorf("user %s: %w", s.Cfg.User, err)
		}
		uid, _ := strconv.ParseUint(u.Uid, 10, 32)
		gid, _ := strconv.ParseUint(u.Gid, 10, 32)
		cred.Uid, cred.Gid = uint32(uid), uint32(gid)
	}
	if s.Cfg.Group != "" {
		g, err := user.LookupGroup(s.Cfg.Group)
		if err != nil {
			return fmt.Errorf("group %s: %w", s.Cfg.Group, err)
		}
		gid, _ := strconv.ParseUint(g.Gid, 10, 32)
		cred.Gid = uint32(gid)
	}
	s.credential = cred
	return nil
}

func (s *Service) createSegment() error {
	tmp := s.MmapPath + ".tmp"
	_ = os.Remove(tmp)
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return fmt.Errorf("stats segment: %w", err)
	}
	s.segFile = f
	slots := s.Cfg.MaximumProcesses * s.perInstance()
	size := stats.SegmentSize(slots)
	if err := f.Truncate(int64(size)); err != nil {
		return fmt.Errorf("stats segment: %w", err)
	}
	b, err := unix.Mmap(int(f.Fd()), 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return fmt.Errorf("stats segment: mmap: %w", err)
	}
	s.seg = stats.InitSegment(b, stats.HeaderConfig{
		Slots:              slots,
		ThreadsPerInstance: s.perInstance(),
		AffinityTimeout:    s.Cfg.AffinityTimeout,
		RecorderCycle:      uint32(s.Cfg.RecorderCycle),
		RecorderPrefix:     s.Cfg.RecorderPrefix,
		// The service loop limits (docs/protocol.md §8).
		MaximumRequestSize: uint32(s.Cfg.MaximumRequestSize),
		RequestReadTimeout: s.Cfg.RequestReadTimeout,
		MaximumPending:     uint32(s.Cfg.MaximumPending),
	})
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err == nil {
		s.segIno = st.Ino
	}
	return nil
}

func (s *Service) createSocket() error {
	tmp := s.SocketPath + ".tmp"
	if len(tmp) >= len(unix.RawSockaddrUnix{}.Path) {
		return fmt.Errorf("socket path %s: %w (the rendezvous path is too long)", tmp, unix.ENAMETOOLONG)
	}
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("socket: %w", err)
	}
	s.lfd = fd
	s.listener = os.NewFile(uintptr(fd), s.SocketPath) // blocking: the instances share it as fd 3
	_ = unix.Unlink(tmp)
	if err := unix.Bind(fd, &unix.SockaddrUnix{Name: tmp}); err != nil {
		return fmt.Errorf("bind %s: %w", tmp, err)
	}
	fail := func(what string, err error) error {
		_ = unix.Unlink(tmp)
		return fmt.Errorf("%s %s: %w", what, tmp, err)
	}
	// The backlog grows with the requests the instances serve at once
	// (the kernel caps it at net.core.somaxconn).
	if err := unix.Listen(fd, 128+3*s.Cfg.MaximumProcesses*s.perInstance()); err != nil {
		return fail("listen", err)
	}
	// accept on the shared blocking socket returns EAGAIN at least once a
	// second (docs/protocol.md §8.4), so neither an instance nor the
	// manager's own answerer (rejector.go) can block in accept for long
	// after losing a race for a connection.
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Sec: 1}); err != nil {
		return fail("setsockopt SO_RCVTIMEO", err)
	}
	if err := os.Chmod(tmp, 0o666); err != nil {
		return fail("chmod", err)
	}
	var st unix.Stat_t
	if err := unix.Stat(tmp, &st); err != nil {
		return fail("stat", err)
	}
	s.pathIno = st.Ino
	if s.sockIno, err = sockdiag.Inode(uintptr(fd)); err != nil {
		return fail("fstat", err)
	}
	return nil
}

// SocketInode returns the listening socket's inode, the sock_diag key.
func (s *Service) SocketInode() uint64 { return s.sockIno }

// ListenFD returns the listening socket's descriptor, -1 once closed.
func (s *Service) ListenFD() int { return s.lfd }

// Phase returns where the service is in its life.
func (s *Service) Phase() Phase { return s.phase }

// Live returns the number of instances alive (stopping ones included).
func (s *Service) Live() int { return s.live }

// Prestart starts minimum-processes instances when prestart-processes is
// set, then logs Service Ready.
func (s *Service) Prestart(now time.Time) {
	s.ensureTemplate(now)
	if s.Cfg.PrestartProcesses {
		started := 0
		for range s.Cfg.MinimumProcesses {
			if s.start(now) != nil {
				break
			}
			started++
		}
		if started < s.Cfg.MinimumProcesses {
			s.env.Log.Printf("Service Warning: %s: Could not start minimumProcesses of %d only started %d",
				s.Key, s.Cfg.MinimumProcesses, started)
		}
		s.lastFloor = now
	}
	s.env.Log.Logf(logging.ServiceStart, "Service Ready: %s", s.Key)
	s.arm()
}

// Shutdown begins stopping the service: reason is logged ("config changed",
// "config deleted", or the manager's quit message). With unlink, the socket
// name is removed at once (if still ours), so that new clients fail fast
// while the instances serve what is already queued. drain bounds that wait.
func (s *Service) Shutdown(now time.Time, reason string, unlink bool, drain time.Duration) {
	if s.phase != Running {
		return
	}
	s.env.Log.Printf("Service Shutdown: %s %s", s.Key, reason)
	s.shutdownReason = reason
	s.phase = Draining
	s.drainUntil = now.Add(drain)
	s.lastExitLog = now
	if unlink || s.staged {
		s.unlinkIfOurs(s.curSocket, s.pathIno)
	}
	s.disarm()
	s.stopRejector()
	s.stopTemplate()
	s.step(now)
}

// Finished reports whether the service has stopped and closed its files.
func (s *Service) Finished() bool { return s.phase == Finished }

func (s *Service) finish() {
	s.phase = Finished
	s.disarm()
	s.stopTemplate()
	s.stopRejector()
	s.lines.flushAll()
	s.unlinkIfOurs(s.curSocket, s.pathIno)
	s.unlinkIfOurs(s.curMmap, s.segIno)
	s.closeFiles()
	s.env.Log.Logf(logging.ServiceExit, "Service Exit: %s", s.Key)
}

func (s *Service) closeFiles() {
	s.stopRejector()
	if s.listener != nil {
		s.listener.Close()
		s.listener, s.lfd = nil, -1
	}
	if s.seg != nil {
		_ = unix.Munmap(s.seg)
		s.seg = nil
	}
	if s.segFile != nil {
		s.segFile.Close()
		s.segFile = nil
	}
	if s.repW != nil {
		s.repW.Close()
		s.repW = nil
	}
	s.closeReports()
}

// unlinkIfOurs removes path if it is still the file this service created
// (a newer service of the same key may have renamed its own over it).
func (s *Service) unlinkIfOurs(path string, ino uint64) {
	var st unix.Stat_t
	if ino != 0 && unix.Lstat(path, &st) == nil && st.Ino == ino {
		_ = unix.Unlink(path)
	}
}

func (s *Service) instanceEnv(slot int) []string {
	env := make([]string, 0, len(s.env.BaseEnv)+1)
	env = append(env, s.env.BaseEnv...)
	return append(env, "plutonSlot="+strconv.Itoa(slot), "plutonService="+s.Key)
}

// BaseEnvironment returns the manager's environment without the variables
// the manager sets for each instance.
func BaseEnvironment() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "plutonSlot=") || strings.HasPrefix(kv, "plutonService=") || strings.HasPrefix(kv, "plutonControl=") {
			continue
		}
		env = append(env, kv)
	}
	return env
}
