package service

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/pluton-go/pluton/go/fault"
	"github.com/pluton-go/pluton/go/protocol"
	"github.com/pluton-go/pluton/go/servicekey"
	"github.com/pluton-go/pluton/go/stats"
)

// ErrStopped is returned by Next (and makes Serve return nil) when the
// service loop ends without a fault: the manager's stop signal (SIGTERM),
// the instance's maximum-requests limit, or the end of input in stand-alone
// mode. It is a normal return: deferred calls and the code after the loop
// run.
var ErrStopped = errors.New("service: stopped")

// ErrStop is the former name of ErrStopped.
//
// Deprecated: use ErrStopped.
var ErrStop = ErrStopped

// Mode is how the service gets its requests (see the package documentation).
type Mode int

// The modes.
const (
	StandAlone Mode = iota + 1 // requests on fd 3, responses on fd 4
	Accept                     // own listening socket at $plutonAcceptSocket
	Manager                    // started by plutonManager: fds 3, 4 and 5
)

func (m Mode) String() string {
	switch m {
	case StandAlone:
		return "stand-alone"
	case Accept:
		return "accept"
	case Manager:
		return "manager"
	}
	return "mode(" + strconv.Itoa(int(m)) + ")"
}

// The file descriptors a service inherits (docs/protocol.md §3).
const (
	fdListen = 3 // manager: listening socket; stand-alone: requests
	fdStats  = 4 // manager: stats segment; stand-alone: responses
	fdReport = 5 // manager: report pipe
)

// The limits of the service loop when the stats segment does not set them
// (docs/protocol.md §8): without a segment (accept and stand-alone modes, or
// a segment that fails its checks) the service uses these values.
const (
	// DefaultAffinityTimeout is how long a service waits for the next
	// request on an affinity connection.
	DefaultAffinityTimeout = 60 * time.Second
	// DefaultRequestReadTimeout is how long a connection may take to send
	// its complete request packet, counted from its accept.
	DefaultRequestReadTimeout = 5 * time.Second
	// DefaultMaximumRequestSize is the largest length prefix of any
	// netstring of a request; a larger one is refused with fault 3
	// requestTooLarge before its payload is read.
	DefaultMaximumRequestSize = 64 << 20
	// DefaultMaximumPending is how many accepted connections with an
	// incomplete request the service holds at once; the oldest is closed to
	// make room for a new one.
	DefaultMaximumPending = 64
)

// acceptTimeout is the SO_RCVTIMEO every SDK sets on fd 3 (docs/protocol.md
// §8.4): accept returns at least once a second, so an idle instance flushes
// its reports and notices a stop request.
const acceptTimeout = time.Second

// blockingWriteAt is the response data size from which a response is
// written on a blocking socket (respond).
const blockingWriteAt = 128 * 1024

// yieldEvery is how often the loop yields its processor (runtime.Gosched)
// as it waits for the next request: the Go runtime's monitor thread takes
// a goroutine that has run 10 ms without a yield for one that never
// blocks, and, when it finds it in a system call, hands its processor off
// and goes back to waking every 20 µs.
const yieldEvery = 5 * time.Millisecond

// reportAge is how old the oldest unsent report entry may get before the
// service sends a record ahead of blocking for the next request.
const reportAge = time.Second

// The message of the fault sent for a request the service's code left
// unanswered (docs/sdk.md, rule 3).
const msgNotAnswered = "request not answered by the service"

// Service is one service instance. Create it with New after the program's
// own initialization, then either call Next in a loop or hand a handler to
// Serve, and Close before exiting. A Service is not safe for concurrent use:
// it is meant for one loop. (Under maximum-threads, Serve itself runs the
// instance's workers concurrently, each on its own Request.)
//
// A Service is also the state of one worker, the loop of one thread slot:
// Serve with maximum-threads T > 1 makes T−1 more (newWorker), which share
// the instance's state (inst) and the descriptors of the Service.
type Service struct {
	key    servicekey.Key // of the packet just read
	keyRaw string         // its bytes, when keyOK
	keyOK  bool
	name   string // the response 's' field, <name>:<pid>/<thread>
	prefix string // <name>:<pid>
	mode   Mode
	pid    int
	trace  bool

	listen int   // listening socket (accept, manager), or -1
	out    int   // stand-alone response descriptor, or -1
	in     *conn // stand-alone request stream
	cur    *conn // connection of the request being served, or held for affinity
	keep   bool  // hold cur for the next request (keepAffinity)

	pendingConns []*conn // accepted connections whose packet is incomplete, oldest first
	free         []*conn // closed connections kept for reuse
	pool         bufPool // buffers of large payloads (loop.go)
	pollFDs      []unix.PollFd

	affinityTimeout time.Duration
	readTimeout     time.Duration // 0 = none
	maxRequestSize  int           // 0 = none
	maxPending      int

	req       Request
	pending   bool  // a request awaits Respond or Fault
	stopErr   error // once set, Next returns it
	closed    bool
	ended     bool // the loop's end was handled (hooks, final report)
	onStop    []func()
	readStart time.Time // when the current request's first byte was awaited (report duration)
	busyStart time.Time // when the current request was handed to the service's code
	yielded   time.Time // when the loop last yielded its processor (enterWait)

	inst   *instanceState // shared by the workers of the instance
	worker bool           // a worker of a threaded Serve: the instance ends when every worker has left

	// Manager mode.
	mem        []byte     // the mapped segment, or nil
	slot       stats.Slot // this worker's thread slot, or nil without stats
	first      stats.Slot // the instance's first slot (the per-instance fields), or nil
	slotState  stats.State
	reporter   *stats.Reporter // shared by the workers, guarded by inst.reportMu
	reportFD   int
	rec        *recorder // nil when not recording; shared by the workers
	recIndex   uint32    // recorder index of the current request
	sig        chan os.Signal
	exitReason stats.ExitReason
	exitDone   bool
	requests   uint64
	responses  uint64
	faults     uint64
	busyMicros uint64

	head    []byte
	trailer []byte
	bufs    [3][]byte
	iov     [3]unix.Iovec
}

// instanceState is what the workers of one instance share
// (docs/protocol.md §8.7). Without maximum-threads the Service is the only
// worker.
type instanceState struct {
	threads  int           // threadsPerInstance: workers Serve runs
	stopping atomic.Bool   // SIGTERM arrived, or a worker made every worker leave
	served   atomic.Uint64 // requests handed to the service's code, for maximum-requests
	inAccept atomic.Int32  // workers blocked in accept (the fast path), or about to be
	orphaned atomic.Int32  // len(orphans), read without the lock
	reportMu sync.Mutex    // guards the shared reporter
	slots    []stats.Slot  // the thread slots, slots[0] first; nil without stats

	orphanMu sync.Mutex
	orphans  []*conn // pending connections handed over by a worker that became busy (handOver)

	mu     sync.Mutex
	left   bool             // a worker has left: reason and err are set
	reason stats.ExitReason // the exit reason of the first worker that left
	err    error            // the first fault a worker ended with, else ErrStopped
}

// leave records that a worker left the loop with reason and err and makes
// every other worker leave too (docs/protocol.md §8.6, §8.7).
func (in *instanceState) leave(reason stats.ExitReason, err error) {
	in.mu.Lock()
	if !in.left {
		in.left, in.reason, in.err = true, reason, err
	} else if errors.Is(in.err, ErrStopped) && !errors.Is(err, ErrStopped) {
		in.err = err
	}
	in.mu.Unlock()
	in.stopping.Store(true)
}

// env is what New reads from the process, replaceable in tests.
type env struct {
	getenv  func(string) string
	signals bool // install the SIGTERM handler in manager mode
	listen  int  // fd 3
	stats   int  // fd 4
	report  int  // fd 5
}

func processEnv() env {
	return env{getenv: os.Getenv, signals: true, listen: fdListen, stats: fdStats, report: fdReport}
}

// New initializes the service and chooses its mode; there is no separate
// initialization step. The name becomes the service name in every
// response, "<name>:<pid>/0". New fails with a *fault.Fault carrying the
// original's code and a text that says what to do: OpenAcceptSocketFailed
// (-51) when the accept-mode socket cannot be set up,
// MmapInheritedShmFDFailed (-52) when the stats segment cannot be mapped,
// NoFauxSTDIN (-55) when no mode applies because fd 3 is not open.
func New(name string) (*Service, error) {
	return newService(name, processEnv())
}

func newService(name string, e env) (*Service, error) {
	s := &Service{
		pid:    os.Getpid(),
		trace:  e.getenv("plutonPacketTrace") != "",
		listen: -1, out: -1, reportFD: -1,
		affinityTimeout: DefaultAffinityTimeout,
		readTimeout:     DefaultRequestReadTimeout,
		maxRequestSize:  DefaultMaximumRequestSize,
		maxPending:      DefaultMaximumPending,
		inst:            &instanceState{threads: 1},
	}
	s.prefix = name + ":" + strconv.Itoa(s.pid)
	s.name = s.prefix + "/0"
	s.req.s = s
	switch {
	case isManagerFDs(e):
		if err := s.initManager(e); err != nil {
			return nil, err
		}
	case e.getenv("plutonAcceptSocket") != "":
		if err := s.initAccept(e.getenv("plutonAcceptSocket")); err != nil {
			return nil, err
		}
	default:
		if !inherited(e.listen) {
			return nil, fault.New(fault.NoFauxSTDIN, "no request source: fd "+strconv.Itoa(e.listen)+
				" is not open; run the service under plutonManager, with plTest, or as ./svc 3<request 4>response")
		}
		s.mode = StandAlone
		s.in = s.newConn(e.listen)
		if inherited(e.stats) {
			s.out = e.stats
		}
	}
	return s, nil
}

// inherited reports whether fd is open and came from the parent process.
// Descriptors that the process opened itself are close-on-exec (Go opens
// every file so, and the runtime may hold a cgroup file at fd 3 or 4 when
// the parent left them closed); an inherited descriptor never is, since exec
// closes those.
func inherited(fd int) bool {
	flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
	return err == nil && flags&unix.FD_CLOEXEC == 0
}

// isManagerFDs applies the exact type tests of docs/protocol.md §3.
func isManagerFDs(e env) bool {
	if !inherited(e.listen) || !inherited(e.stats) || !inherited(e.report) {
		return false
	}
	var st unix.Stat_t
	if unix.Fstat(e.listen, &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFSOCK {
		return false
	}
	if v, err := unix.GetsockoptInt(e.listen, unix.SOL_SOCKET, unix.SO_ACCEPTCONN); err != nil || v != 1 {
		return false
	}
	if unix.Fstat(e.stats, &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFREG {
		return false
	}
	return unix.Fstat(e.report, &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFIFO
}

func (s *Service) initAccept(path string) error {
	fail := func(step string, err error) error {
		return fault.Wrap(fault.OpenAcceptSocketFailed, step+" "+path+
			" (plutonAcceptSocket must name a socket path in an existing, writable directory)", err)
	}
	if len(path) >= len(unix.RawSockaddrUnix{}.Path) {
		return fail("socket path too long:", unix.ENAMETOOLONG)
	}
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fail("socket", err)
	}
	if err := unix.Unlink(path); err != nil && err != unix.ENOENT {
		closeFD(fd)
		return fail("unlink", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrUnix{Name: path}); err != nil {
		closeFD(fd)
		return fail("bind", err)
	}
	if err := unix.Listen(fd, 20); err != nil {
		closeFD(fd)
		return fail("listen", err)
	}
	_ = setReadTimeout(fd, acceptTimeout)
	s.mode, s.listen = Accept, fd
	return nil
}

func (s *Service) initManager(e env) error {
	var st unix.Stat_t
	if err := unix.Fstat(e.stats, &st); err != nil {
		return fault.Wrap(fault.MmapInheritedShmFDFailed, "fstat of fd 4 (the stats segment plutonManager passes)", err)
	}
	slotIndex := -1
	if v, err := strconv.Atoi(e.getenv("plutonSlot")); err == nil && v >= 0 {
		slotIndex = v
	}
	if st.Size > 0 {
		mem, err := unix.Mmap(e.stats, 0, int(st.Size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
		if err != nil {
			return fault.Wrap(fault.MmapInheritedShmFDFailed, "mmap of fd 4 (the stats segment plutonManager passes; is it opened read-write?)", err)
		}
		s.mem = mem
	}
	closeFD(e.stats)
	seg := stats.Segment(s.mem)
	switch err := seg.Validate(); {
	case err != nil:
		fmt.Fprintf(os.Stderr, "service: running without stats: %v\n", err)
	case slotIndex < 0:
		fmt.Fprintf(os.Stderr, "service: running without stats: plutonSlot %q is not a slot number\n", e.getenv("plutonSlot"))
	case slotIndex >= seg.SlotCount():
		fmt.Fprintf(os.Stderr, "service: running without stats: plutonSlot %d is not below the slot count %d\n", slotIndex, seg.SlotCount())
	case slotIndex+seg.ThreadsPerInstance() > seg.SlotCount():
		fmt.Fprintf(os.Stderr, "service: running without stats: plutonSlot %d and maximum-threads %d need more than the slot count %d\n",
			slotIndex, seg.ThreadsPerInstance(), seg.SlotCount())
	default:
		h := seg.Header()
		s.inst.threads = h.ThreadsPerInstance
		for t := range h.ThreadsPerInstance {
			s.inst.slots = append(s.inst.slots, seg.Slot(slotIndex+t))
		}
		s.slot, s.first = s.inst.slots[0], s.inst.slots[0]
		s.applyHeader(h)
	}
	if s.slot == nil && s.mem != nil {
		_ = unix.Munmap(s.mem)
		s.mem = nil
	}
	reportSlot := uint32(stats.NoSlot)
	if slotIndex >= 0 {
		reportSlot = uint32(slotIndex)
	}
	s.reporter = stats.NewReporter(fdWriter(e.report), uint32(s.pid), reportSlot)
	s.reportFD = e.report
	s.mode, s.listen = Manager, e.listen
	_ = unix.SetNonblock(s.listen, false)
	raiseBuffers(s.listen, 64*1024)
	_ = setReadTimeout(s.listen, acceptTimeout)
	if e.signals {
		// Notify adds a channel: a handler the program registered itself
		// keeps receiving SIGTERM.
		s.sig = make(chan os.Signal, 1)
		signal.Notify(s.sig, syscall.SIGTERM)
		go s.signalLoop(s.sig)
	}
	if s.slot != nil {
		// Idle is published only once the stop signal can be honoured.
		now := time.Now()
		for _, sl := range s.inst.slots {
			sl.SetPID(uint32(s.pid))
			sl.SetState(stats.StateIdle, micros(now))
		}
		s.slotState = stats.StateIdle
	}
	return nil
}

// applyHeader takes the limits and the recorder settings from the segment
// header (docs/protocol.md §4.1): with a segment, 0 means no limit, except
// for maximumPending where it means the default.
func (s *Service) applyHeader(h stats.HeaderConfig) {
	if h.AffinityTimeout > 0 {
		s.affinityTimeout = h.AffinityTimeout
	}
	s.readTimeout = h.RequestReadTimeout
	s.maxRequestSize = int(h.MaximumRequestSize)
	if h.MaximumPending > 0 {
		s.maxPending = int(h.MaximumPending)
	}
	if h.RecorderPrefix != "" {
		s.rec = newRecorder(h.RecorderPrefix, h.RecorderCycle, s.pid)
	}
}

// signalLoop records the manager's stop signal; the loop acts on it at its
// next wait, or within a second while it waits for connections.
func (s *Service) signalLoop(c <-chan os.Signal) {
	for range c {
		s.inst.stopping.Store(true)
		s.kickWaits()
	}
}

// kickWaits makes the workers blocked in accept notice the stop at once
// instead of at the end of the listening socket's 1 s receive timeout: a
// socket with SO_RCVTIMEO is never restarted after a signal handler
// (signal(7)), so accept returns EINTR. It sends SIGURG, the signal the Go
// runtime itself sends to preempt goroutines (so every part of a Go
// program already takes it), to every thread of the process, every 2 ms
// while a worker is counted in accept, for at most the receive timeout.
func (s *Service) kickWaits() {
	deadline, pid := time.Now().Add(acceptTimeout), unix.Getpid()
	for s.inst.inAccept.Load() > 0 && time.Now().Before(deadline) {
		tasks, err := os.ReadDir("/proc/self/task")
		if err != nil {
			return // the accept timeout ends the waits
		}
		for _, t := range tasks {
			if tid, err := strconv.Atoi(t.Name()); err == nil {
				_ = unix.Tgkill(pid, tid, unix.SIGURG)
			}
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// Mode returns the mode New chose.
func (s *Service) Mode() Mode { return s.mode }

// Name returns the service name sent in every response, "<name>:<pid>/0".
// Under maximum-threads, thread t sends "<name>:<pid>/<t>".
func (s *Service) Name() string { return s.name }

// Threads returns how many requests the instance serves at once: the
// segment's maximum-threads in manager mode, otherwise 1.
func (s *Service) Threads() int { return s.inst.threads }

// OnStop registers f to run once when the service loop ends, for any
// reason (the stop signal, maximum-requests, end of input, a fatal error),
// before Next returns that end (and so before Serve returns), or in Close
// if the loop never ended. Hooks run in the order they were registered.
func (s *Service) OnStop(f func()) { s.onStop = append(s.onStop, f) }

// Next waits for the next request and returns it. The Request and
// everything it returns stay valid until the next call of Next.
//
// Next returns ErrStopped when the loop must end cleanly (the stop signal,
// maximum-requests, end of stand-alone input) and a *fault.Fault when it
// must end because of an error (a client error outside manager mode, a
// failed accept or write). Once Next has returned an error it returns the
// same error on every call. A request that was not answered with Respond
// or Fault when Next is called again is answered with fault 6
// serviceException "request not answered by the service".
//
// Next serves one request at a time: with maximum-threads above 1 it fails
// with fault ShmThreadConfigNotService (-104); such a service must use
// Serve.
func (s *Service) Next() (*Request, error) {
	if s.inst.threads > 1 && !s.worker && !s.closed && s.stopErr == nil {
		s.stop(stats.NoReason, fault.New(fault.ShmThreadConfigNotService, fmt.Sprintf(
			"maximum-threads %d needs the handler form (Serve): the loop form serves one request at a time", s.inst.threads)))
		return nil, s.end()
	}
	return s.next()
}

// next is Next for the loop of one worker.
func (s *Service) next() (*Request, error) {
	switch {
	case s.closed:
		return nil, fault.New(fault.NotInitialized, "service closed")
	case s.stopErr != nil:
		return nil, s.end()
	}
	if s.pending {
		fmt.Fprintf(os.Stderr, "service: request %d of %q was not answered: sending fault 6 %q\n",
			s.req.pr.ID, s.req.pr.ClientName, msgNotAnswered)
		if err := s.respond(&s.req, fault.ServiceException, msgNotAnswered, nil); err != nil && s.stopErr != nil {
			return nil, s.end()
		}
	}
	var err error
	if s.mode == StandAlone {
		err = s.nextStandAlone()
	} else {
		err = s.nextSocket()
	}
	if err != nil {
		if s.stopErr == nil {
			s.stopErr = err
		}
		return nil, s.end()
	}
	s.handOff()
	return &s.req, nil
}

// handOff makes the complete packet of the current connection the request
// the service's code sees: busy from now until the next wait.
func (s *Service) handOff() {
	c := s.curConn()
	now := time.Now()
	s.pending = true
	s.inst.served.Add(1)
	s.requests++
	if s.worker && len(s.pendingConns) > 0 {
		s.handOver()
	}
	s.busyStart = now
	name, key := s.req.pr.ClientName, s.req.pr.ServiceKey
	s.req.reset(now)
	s.req.pr.ClientName, s.req.pr.ServiceKey = name, key
	c.parser.RequestInto(&s.req.pr) // keeps the strings of a client seen last time
	s.pool.note(max(len(s.req.pr.Data), len(s.req.pr.Context)))
	s.req.key, s.req.keyParsed = s.key, true
	if s.trace {
		s.tracePacket("PktIn: ", c.raw, []byte("\n"))
	}
	s.recIndex = stats.NotRecording
	if s.rec != nil {
		s.recIndex = s.rec.recordIn(c.raw)
	}
	c.raw = c.raw[:0]
	if s.slot != nil {
		s.slot.StartRequest(micros(now), s.requests)
		s.slot.SetRequestIdentity(s.req.pr.ID, s.recIndex, s.req.pr.ClientName)
		s.slotState = stats.StateBusy
	}
	if s.mode == StandAlone {
		return
	}
	if s.req.pr.NoWait {
		// The client takes the close as completion; the application still
		// answers, for the statistics.
		s.dropCur()
	} else {
		s.keep = s.req.pr.KeepAffinity
	}
}

func (s *Service) curConn() *conn {
	if s.mode == StandAlone {
		return s.in
	}
	return s.cur
}

func (s *Service) nextStandAlone() error {
	s.readStart = time.Now()
	done, err := s.fill(s.in, true)
	switch {
	case done:
		if err := s.checkKey(s.in); err != nil {
			return readFault(err)
		}
		return nil
	case err == nil:
		// fill with block never returns without a packet or an error.
		return fault.New(fault.SeriousInternalOSError, "stand-alone read returned no packet")
	}
	var le *protocol.LengthError
	if errors.As(err, &le) {
		s.refuseTooLarge(s.in, le)
		return fault.Wrap(fault.RequestTooLarge, le.Error(), err)
	}
	if errors.Is(err, errEOF) {
		return ErrStopped
	}
	return readFault(err)
}

// checkKey parses the service key of the packet just read with the client
// rules, as the original did: a packet whose key does not parse is a
// malformed packet.
func (s *Service) checkKey(c *conn) error {
	raw := c.parser.Field(protocol.TypeServiceKey)
	if s.keyOK && string(raw) == s.keyRaw {
		return nil // the key of the last request: s.key holds it
	}
	s.keyOK = false
	k, err := servicekey.Parse(string(raw))
	if err != nil {
		var ke *servicekey.Error
		errors.As(err, &ke)
		return &protocol.DecodeError{Msg: "Invalid Service Key: " + ke.Reason}
	}
	s.key, s.keyRaw, s.keyOK = k, string(raw), true
	return nil
}

// readFault turns a read or parse error into the fault Next returns.
func readFault(err error) error {
	var se *protocol.SyntaxError
	var de *protocol.DecodeError
	var le *protocol.LengthError
	switch {
	case errors.As(err, &se):
		return fault.Wrap(fault.RequestNetStringParseError, se.Msg, err)
	case errors.As(err, &de):
		return fault.Wrap(fault.RequestDecodeFailed, de.Msg, err)
	case errors.As(err, &le):
		return fault.Wrap(fault.RequestTooLarge, le.Error(), err)
	case errors.Is(err, errEOF):
		return fault.Wrap(fault.UnexpectedEOF, "client closed the connection before sending a request", err)
	case errors.Is(err, errTimeout):
		return fault.Wrap(fault.SocketReadFailed, "request-read-timeout expired while reading a request", err)
	}
	return fault.Wrap(fault.SocketReadFailed, "reading a request", err)
}

// respond sends the answer to the current request.
func (s *Service) respond(r *Request, code fault.Code, text string, data []byte) error {
	if !s.pending || r != &s.req {
		return fault.New(fault.SendResponseNotNext, "no request to answer")
	}
	s.pending = false
	outcome := stats.OK
	if code != fault.NoFault {
		outcome = stats.Faulted
		data = nil
	}
	resp := protocol.Response{ID: r.pr.ID, ClientName: r.pr.ClientName, ServiceName: s.name,
		FaultCode: int64(code), FaultText: text, Data: data}
	head, trailer := protocol.AppendResponseHead(s.head[:0], &resp)
	s.head = head
	s.trailer = append(s.trailer[:0], trailer...)
	if s.rec != nil && s.recIndex != stats.NotRecording {
		s.rec.recordOut(s.recIndex, head, data, s.trailer)
	}
	if r.pr.NoWait {
		// The connection was closed when the request was read (stand-alone
		// mode writes nothing): only the statistics remain.
		s.finishRequest(outcome, len(r.pr.Data), 0, r.key.Function)
		return nil
	}
	if s.trace {
		s.tracePacket("PktOut: ", head, data, s.trailer)
	}
	fd := s.out
	if s.mode != StandAlone {
		fd = s.cur.fd
	}
	if fd < 0 {
		err := fault.New(fault.SocketWriteFailed, "fd 4 is not open for stand-alone responses; run as ./svc 3<request 4>response")
		s.stop(stats.NoReason, err)
		return err
	}
	nonblocking := s.mode != StandAlone
	// A client may take none of the response for request-read-timeout at
	// most (docs/protocol.md §8.2): then it is dropped and the instance
	// goes on.
	stall := time.Duration(0)
	if nonblocking {
		stall = s.readTimeout
	}
	if nonblocking && s.cur.blocking {
		nonblocking = false // made blocking to read a large payload (waitAll)
	} else if nonblocking && !s.keep && len(data) >= blockingWriteAt {
		// A large response to a connection closed after it: written by a
		// blocking writev, which waits in the kernel for the client to
		// read, instead of a writev and a poll per socket buffer's worth.
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_SETFL, 0); err == nil {
			nonblocking = false
		}
	}
	if !nonblocking && stall > 0 && len(data) >= blockingWriteAt && setWriteTimeout(fd, stall) != nil {
		stall = 0
	}
	s.bufs = [3][]byte{head, data, s.trailer}
	err := writevFD(fd, s.bufs[:], s.iov[:], nonblocking, stall)
	s.bufs = [3][]byte{}
	switch {
	case err == nil:
	case errors.Is(err, unix.ETIMEDOUT) && s.mode != StandAlone:
		// The client took nothing for the stall time: it is dropped, as a
		// write error in the report, and the instance serves the next.
		s.dropCur()
		s.finishRequest(stats.WriteError, len(r.pr.Data), 0, r.key.Function)
		return nil
	case errors.Is(err, unix.EPIPE), errors.Is(err, unix.ECONNRESET) && s.mode != StandAlone:
		// The client has gone: as the original, the response counts as sent.
		s.keep = false
	default:
		s.dropCur()
		s.finishRequest(stats.WriteError, len(r.pr.Data), 0, r.key.Function)
		f := fault.Wrap(fault.SocketWriteFailed, "writing the response", err)
		s.stop(stats.LostIO, f)
		return f
	}
	if s.mode != StandAlone && !s.keep {
		s.dropCur()
	}
	s.finishRequest(outcome, len(r.pr.Data), len(data), r.key.Function)
	return nil
}

// finishRequest records an answered request in the slot and the reporter.
// The slot stays busy until the next wait (docs/protocol.md §4.2).
func (s *Service) finishRequest(outcome stats.Outcome, reqBytes, respBytes int, function string) {
	if s.mode != Manager {
		return
	}
	now := time.Now()
	switch outcome {
	case stats.OK:
		s.responses++
	case stats.Faulted:
		s.faults++
	}
	s.busyMicros += uint64(max(now.Sub(s.busyStart).Microseconds(), 0))
	if s.slot != nil {
		s.slot.FinishRequest(s.requests, s.responses, s.faults, s.busyMicros)
	}
	s.report(outcome, now.Sub(s.readStart), reqBytes, respBytes, function, now)
}

// report adds one entry to the fd 5 reporter.
func (s *Service) report(outcome stats.Outcome, d time.Duration, reqBytes, respBytes int, function string, now time.Time) {
	if s.reporter == nil {
		return
	}
	s.inst.reportMu.Lock()
	s.reporter.Add(stats.Entry{Outcome: outcome, DurationMicros: clamp32(d.Microseconds()),
		RequestBytes: clamp32(int64(reqBytes)), ResponseBytes: clamp32(int64(respBytes)), Function: function}, now)
	s.inst.reportMu.Unlock()
}

// stop ends the loop with err, remembering the exit reason. A worker of a
// threaded Serve makes every worker leave.
func (s *Service) stop(reason stats.ExitReason, err error) error {
	s.exitReason = reason
	s.stopErr = err
	if s.worker {
		s.inst.leave(reason, err)
	}
	return err
}

// end handles the end of the loop once: connections are closed, the stop
// hooks run and, in manager mode, the final report is sent and the slot
// says stopping. It returns the error that ended the loop.
func (s *Service) end() error {
	if s.ended {
		return s.stopErr
	}
	s.ended = true
	s.dropCur()
	s.dropPending()
	if s.worker {
		// The instance ends once every worker has left (Serve).
		s.setSlotState(stats.StateStopping, time.Now())
		return s.stopErr
	}
	s.runStopHooks()
	if s.mode == Manager {
		s.writeExit(s.exitReason)
	}
	return s.stopErr
}

// runStopHooks runs the OnStop hooks once.
func (s *Service) runStopHooks() {
	hooks := s.onStop
	s.onStop = nil
	for _, f := range hooks {
		f()
	}
}

// shutdownReason is the exit reason after the manager's stop signal.
func (s *Service) shutdownReason() stats.ExitReason {
	if s.first != nil {
		if r := s.first.ShutdownRequest(); r != stats.NoReason {
			return r
		}
	}
	return stats.ServiceShutdown
}

// setSlotState writes a new state and its start time, only when the state
// changes: since is the time of the last change (the last-active time).
func (s *Service) setSlotState(st stats.State, now time.Time) {
	if s.slot != nil && s.slotState != st {
		s.slot.SetState(st, micros(now))
		s.slotState = st
	}
}

// writeExit sends the final report and marks the thread slots stopping,
// with the exit reason in the first.
func (s *Service) writeExit(reason stats.ExitReason) {
	if s.exitDone {
		return
	}
	s.exitDone = true
	if s.reporter != nil {
		s.inst.reportMu.Lock()
		s.reporter.Flush()
		s.inst.reportMu.Unlock()
	}
	if s.slot != nil {
		now := time.Now()
		s.setSlotState(stats.StateStopping, now)
		for _, sl := range s.inst.slots[1:] {
			if sl.Read().State != stats.StateStopping {
				sl.SetState(stats.StateStopping, micros(now))
			}
		}
		s.first.SetExitReason(reason)
	}
}

// Close ends the service: it runs the OnStop hooks if the loop has not
// ended, and in manager mode sends the final report, marks the slot
// stopping with the exit reason, stops handling SIGTERM (a handler the
// program registered itself stays) and closes the inherited descriptors.
// Call it once the loop has ended, before exiting (typically with defer).
func (s *Service) Close() error {
	if s.closed {
		return nil
	}
	s.closed = true
	if !s.ended {
		s.ended = true
		s.dropCur()
		s.dropPending()
		s.runStopHooks()
	}
	if s.mode == Manager {
		s.writeExit(s.exitReason)
		closeFD(s.reportFD)
		s.reportFD = -1
		if s.sig != nil {
			signal.Stop(s.sig)
			close(s.sig)
			s.sig = nil
		}
	}
	if s.listen >= 0 {
		closeFD(s.listen)
		s.listen = -1
	}
	return nil
}

func (s *Service) tracePacket(prefix string, parts ...[]byte) {
	b := []byte(prefix)
	for _, p := range parts {
		b = append(b, p...)
	}
	_, _ = os.Stderr.Write(b)
}

func micros(t time.Time) uint64 { return uint64(t.UnixMicro()) }

func clamp32(v int64) uint32 {
	switch {
	case v < 0:
		return 0
	case v > 1<<32-1:
		return 1<<32 - 1
	}
	return uint32(v)
}
