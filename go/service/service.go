package service

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/pluton-go/pluton/go/fault"
	"github.com/pluton-go/pluton/go/protocol"
	"github.com/pluton-go/pluton/go/servicekey"
	"github.com/pluton-go/pluton/go/stats"
)

// ErrStop is returned by Next when the service loop must end without a
// fault: end of input in stand-alone mode, the maximum-requests limit, or
// the manager's stop signal.
var ErrStop = errors.New("service: stop")

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

// DefaultAffinityTimeout is how long a service waits for the next request on
// an affinity connection when the stats segment does not say otherwise.
const DefaultAffinityTimeout = 60 * time.Second

// reportAge is how old the oldest unsent report entry may get before the
// service sends a record ahead of blocking for the next request.
const reportAge = time.Second

// Loop states shared between the service loop and the SIGTERM goroutine.
// The loop owns the connection, the slot and the reporter while it is busy;
// the signal goroutine may take them over only by winning idle -> exiting.
const (
	loopBusy          int32 = iota // serving, or running application code
	loopIdle                       // blocked in accept or in an affinity wait
	loopStopRequested              // SIGTERM arrived while busy
	loopExiting                    // the signal goroutine is ending the process
	loopClosed                     // Close has run
)

// Service is one service instance. Create it with New after the program's
// own initialization, call Next in a loop, and Close before exiting. A
// Service is not safe for concurrent use: it is meant for one loop.
type Service struct {
	key   servicekey.Key // of the packet just read
	name  string         // the response 's' field, <name>:<pid>/0
	mode  Mode
	pid   int
	exit  func(int)
	trace bool

	listen  int // listening socket (accept, manager), or -1
	in, out int // stand-alone request and response descriptors
	conn    int // current connection (accept, manager), or -1
	timed   bool
	keep    bool // hold conn for the next request (keepAffinity)

	affinityTimeout time.Duration

	parser     *protocol.Parser
	buf        []byte
	start, end int
	traceIn    []byte

	req     Request
	pending bool  // a request awaits Respond or Fault
	stopErr error // once set, Next returns it
	closed  bool

	// Manager mode.
	mem        []byte     // the mapped segment, or nil
	slot       stats.Slot // this instance's slot, or nil without stats
	reporter   *stats.Reporter
	reportFD   int
	state      atomic.Int32
	sig        chan os.Signal
	exitReason stats.ExitReason
	requests   uint64
	responses  uint64
	faults     uint64
	busyMicros uint64
	served     uint64 // requests read completely, for maximum-requests
	reqStart   time.Time

	head    []byte
	trailer []byte
	bufs    [3][]byte
	iov     [3]unix.Iovec
}

// env is what New reads from the process, replaceable in tests.
type env struct {
	getenv  func(string) string
	exit    func(int)
	signals bool // install the SIGTERM handler in manager mode
	listen  int  // fd 3
	stats   int  // fd 4
	report  int  // fd 5
}

func processEnv() env {
	return env{getenv: os.Getenv, exit: os.Exit, signals: true, listen: fdListen, stats: fdStats, report: fdReport}
}

// New initializes the service and chooses its mode. The name becomes the
// service name in every response, "<name>:<pid>/0". New fails with a
// *fault.Fault carrying the original's code: OpenAcceptSocketFailed (-51)
// when the accept-mode socket cannot be set up, MmapInheritedShmFDFailed
// (-52) when the stats segment cannot be mapped, NoFauxSTDIN (-55) when no
// mode applies because fd 3 is not open.
func New(name string) (*Service, error) {
	return newService(name, processEnv())
}

func newService(name string, e env) (*Service, error) {
	s := &Service{
		pid:    os.Getpid(),
		exit:   e.exit,
		trace:  e.getenv("plutonPacketTrace") != "",
		listen: -1, in: -1, out: -1, conn: -1, reportFD: -1,
		parser:          protocol.NewRequestParser(),
		buf:             make([]byte, 16*1024),
		affinityTimeout: DefaultAffinityTimeout,
	}
	s.name = name + ":" + strconv.Itoa(s.pid) + "/0"
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
			return nil, fault.New(fault.NoFauxSTDIN, "fd "+strconv.Itoa(e.listen)+" is not open for stand-alone requests")
		}
		s.mode, s.in = StandAlone, e.listen
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
		return fault.Wrap(fault.OpenAcceptSocketFailed, step+" "+path, err)
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
	s.mode, s.listen = Accept, fd
	return nil
}

func (s *Service) initManager(e env) error {
	var st unix.Stat_t
	if err := unix.Fstat(e.stats, &st); err != nil {
		return fault.Wrap(fault.MmapInheritedShmFDFailed, "fstat of fd 4", err)
	}
	slotIndex := -1
	if v, err := strconv.Atoi(e.getenv("plutonSlot")); err == nil && v >= 0 {
		slotIndex = v
	}
	if st.Size > 0 {
		mem, err := unix.Mmap(e.stats, 0, int(st.Size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
		if err != nil {
			return fault.Wrap(fault.MmapInheritedShmFDFailed, "mmap of fd 4", err)
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
	default:
		s.slot = seg.Slot(slotIndex)
		if t := seg.AffinityTimeout(); t > 0 {
			s.affinityTimeout = time.Duration(t) * time.Second
		}
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
	if e.signals {
		s.sig = make(chan os.Signal, 1)
		notifyStop(s.sig)
		go s.signalLoop()
	}
	if s.slot != nil {
		// Idle is published only once the stop signal can be honoured.
		s.slot.SetPID(uint32(s.pid))
		s.slot.SetState(stats.StateIdle, micros(time.Now()))
	}
	return nil
}

// Mode returns the mode New chose.
func (s *Service) Mode() Mode { return s.mode }

// Name returns the service name sent in every response, "<name>:<pid>/0".
func (s *Service) Name() string { return s.name }

// Next waits for the next request and returns it. The Request and
// everything it returns stay valid until the next call of Next.
//
// Next returns ErrStop when the loop must end cleanly, and a *fault.Fault
// when it must end because of an error (a client error outside manager
// mode, a failed accept or write). Once Next has returned an error it
// returns the same error on every call. Calling Next before the previous
// request was answered with Respond or Fault is the fault
// GetRequestNotNext (-53), which does not end the loop.
func (s *Service) Next() (*Request, error) {
	switch {
	case s.closed:
		return nil, fault.New(fault.NotInitialized, "service closed")
	case s.stopErr != nil:
		return nil, s.stopErr
	case s.pending:
		return nil, fault.New(fault.GetRequestNotNext, "Next called before the previous request was answered")
	}
	var err error
	if s.mode == StandAlone {
		err = s.nextStandAlone()
	} else {
		err = s.nextSocket()
	}
	if err != nil {
		s.stopErr = err
		return nil, err
	}
	s.pending = true
	s.served++
	s.req.reset()
	s.parser.Request(&s.req.pr)
	s.req.key, s.req.keyParsed = s.key, true
	if s.trace {
		s.tracePacket("PktIn: ", s.traceIn, []byte("\n"))
	}
	if s.req.pr.NoWait && s.conn >= 0 {
		// The client takes the close as completion; the application still
		// answers, for the statistics.
		s.dropConn()
	} else {
		s.keep = s.req.pr.KeepAffinity
	}
	return &s.req, nil
}

func (s *Service) nextStandAlone() error {
	s.reqStart = time.Now()
	s.traceIn = s.traceIn[:0]
	err := s.readPacket(s.in)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, io.EOF):
		return ErrStop
	}
	return readFault(err)
}

// nextSocket gets the next request in accept or manager mode.
func (s *Service) nextSocket() error {
	for {
		if s.mode == Manager {
			if s.state.Load() == loopStopRequested {
				return s.stop(s.shutdownReason(), ErrStop)
			}
			if s.slot != nil && s.conn < 0 {
				if max := s.slot.MaximumRequests(); max > 0 && s.served >= uint64(max) {
					return s.stop(stats.MaxRequests, ErrStop)
				}
			}
		}
		fresh := s.conn < 0
		if fresh {
			if s.reporter != nil {
				s.reporter.FlushIfOlder(time.Now(), reportAge)
			}
			if !s.enterIdle() {
				return s.stop(s.shutdownReason(), ErrStop)
			}
			fd, err := accept(s.listen)
			s.leaveIdle()
			if err != nil {
				return s.stop(stats.AcceptFailed, fault.Wrap(fault.AcceptFailed, "accept on the service socket", err))
			}
			s.conn, s.timed, s.keep = fd, false, false
			s.start, s.end = 0, 0
			s.parser.Reset()
		} else if s.start == s.end {
			// Affinity: wait for the next request on the held connection.
			ok, err := s.affinityWait()
			if err != nil {
				return err
			}
			if !ok {
				continue
			}
		}
		s.beginRequest()
		err := s.readPacket(s.conn)
		if err == nil {
			return nil
		}
		s.dropConn()
		if s.mode == Manager {
			s.finishRequest(stats.ReadError, 0, 0, "")
			continue
		}
		if errors.Is(err, io.EOF) && fresh {
			return ErrStop // as the original: a client that sends nothing ends accept mode
		}
		return readFault(err)
	}
}

// affinityWait waits up to the affinity timeout for the first bytes of the
// next request on the held connection. It returns false when the wait ended
// without a request (timeout, client close), after closing the connection.
func (s *Service) affinityWait() (bool, error) {
	if s.reporter != nil {
		s.reporter.FlushIfOlder(time.Now(), reportAge)
	}
	if !s.timed {
		if err := setReadTimeout(s.conn, s.affinityTimeout); err != nil {
			s.dropConn()
			return false, nil
		}
		s.timed = true
	}
	if !s.enterIdle() {
		s.dropConn()
		return false, s.stop(s.shutdownReason(), ErrStop)
	}
	n, err := readFD(s.conn, s.buf, true)
	s.leaveIdle()
	if n == 0 || err != nil {
		s.dropConn()
		if s.slot != nil {
			s.slot.SetState(stats.StateIdle, micros(time.Now()))
		}
		return false, nil
	}
	s.start, s.end = 0, n
	s.parser.Reset()
	return true, nil
}

// readPacket reads one request packet from fd into the parser, using bytes
// left over from the previous packet first.
func (s *Service) readPacket(fd int) error {
	s.traceIn = s.traceIn[:0]
	for {
		if s.start < s.end {
			chunk := s.buf[s.start:s.end]
			n, done, err := s.parser.Feed(chunk)
			if s.trace {
				s.traceIn = append(s.traceIn, chunk[:n]...)
			}
			s.start += n
			if err != nil {
				s.parser.Reset()
				return err
			}
			if done {
				return s.checkKey()
			}
		}
		// Feed took every buffered byte. A large payload is read in place.
		direct := s.parser.Direct()
		dst := direct
		if dst == nil {
			s.start, s.end = 0, 0
			dst = s.buf
		}
		n, err := readFD(fd, dst, s.timed)
		if err != nil {
			s.parser.Reset()
			return err
		}
		if n == 0 {
			started := s.parser.Started()
			s.parser.Reset()
			if !started {
				return io.EOF
			}
			return &protocol.DecodeError{Msg: "unexpected EOF in packet"}
		}
		if direct == nil {
			s.end = n
			continue
		}
		if s.trace {
			s.traceIn = append(s.traceIn, dst[:n]...)
		}
		s.parser.Advance(n)
	}
}

// checkKey parses the service key of the packet just read with the client
// rules, as the original did: a packet whose key does not parse is a
// malformed packet.
func (s *Service) checkKey() error {
	k, err := servicekey.Parse(string(s.parser.Field(protocol.TypeServiceKey)))
	if err != nil {
		var ke *servicekey.Error
		errors.As(err, &ke)
		return &protocol.DecodeError{Msg: "Invalid Service Key: " + ke.Reason}
	}
	s.key = k
	return nil
}

// readFault turns a read or parse error into the fault Next returns.
func readFault(err error) error {
	var se *protocol.SyntaxError
	var de *protocol.DecodeError
	switch {
	case errors.As(err, &se):
		return fault.Wrap(fault.RequestNetStringParseError, se.Msg, err)
	case errors.As(err, &de):
		return fault.Wrap(fault.RequestDecodeFailed, de.Msg, err)
	case errors.Is(err, io.EOF):
		return fault.Wrap(fault.UnexpectedEOF, "client closed the connection before sending a request", err)
	case errors.Is(err, errTimeout):
		return fault.Wrap(fault.SocketReadFailed, "affinity timeout while reading a request", err)
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
	if r.pr.NoWait {
		// The connection was closed when the request was read (stand-alone
		// mode writes nothing): only the statistics remain.
		s.finishRequest(outcome, len(r.pr.Data), 0, r.key.Function)
		return nil
	}
	resp := protocol.Response{ID: r.pr.ID, ClientName: r.pr.ClientName, ServiceName: s.name,
		FaultCode: int64(code), FaultText: text, Data: data}
	head, trailer := protocol.AppendResponseHead(s.head[:0], &resp)
	s.head = head
	s.trailer = append(s.trailer[:0], trailer...)
	if s.trace {
		s.tracePacket("PktOut: ", head, data, s.trailer)
	}
	fd := s.out
	if s.mode != StandAlone {
		fd = s.conn
	}
	if fd < 0 {
		err := fault.New(fault.SocketWriteFailed, "fd 4 is not open for stand-alone responses")
		s.stop(stats.NoReason, err)
		return err
	}
	s.bufs = [3][]byte{head, data, s.trailer}
	err := writevFD(fd, s.bufs[:], s.iov[:])
	s.bufs = [3][]byte{}
	switch {
	case err == nil:
	case errors.Is(err, unix.EPIPE):
		// The client has gone: as the original, the response counts as sent.
		s.keep = false
	default:
		s.dropConn()
		s.finishRequest(stats.WriteError, len(r.pr.Data), 0, r.key.Function)
		f := fault.Wrap(fault.SocketWriteFailed, "writing the response", err)
		s.stop(stats.LostIO, f)
		return f
	}
	if s.mode != StandAlone && !s.keep {
		s.dropConn()
	}
	s.finishRequest(outcome, len(r.pr.Data), len(data), r.key.Function)
	return nil
}

// beginRequest marks the start of a request: busy in the slot, timer started.
func (s *Service) beginRequest() {
	now := time.Now()
	s.reqStart = now
	s.requests++
	if s.slot != nil {
		s.slot.StartRequest(micros(now), s.requests)
	}
}

// finishRequest records a finished request in the slot and the reporter.
func (s *Service) finishRequest(outcome stats.Outcome, reqBytes, respBytes int, function string) {
	if s.mode != Manager {
		return
	}
	now := time.Now()
	d := now.Sub(s.reqStart)
	switch outcome {
	case stats.OK:
		s.responses++
	case stats.Faulted:
		s.faults++
	}
	s.busyMicros += uint64(max(d.Microseconds(), 0))
	if s.slot != nil {
		st := stats.StateIdle
		if s.conn >= 0 {
			st = stats.StateAffinity
		}
		s.slot.FinishRequest(s.requests, s.responses, s.faults, s.busyMicros)
		s.slot.SetState(st, micros(now))
	}
	s.reporter.Add(stats.Entry{Outcome: outcome, DurationMicros: clamp32(d.Microseconds()),
		RequestBytes: clamp32(int64(reqBytes)), ResponseBytes: clamp32(int64(respBytes)), Function: function}, now)
}

// stop ends the loop with err, remembering the exit reason for Close.
func (s *Service) stop(reason stats.ExitReason, err error) error {
	s.exitReason = reason
	s.stopErr = err
	return err
}

// shutdownReason is the exit reason after the manager's stop signal.
func (s *Service) shutdownReason() stats.ExitReason {
	if s.slot != nil {
		if r := s.slot.ShutdownRequest(); r != stats.NoReason {
			return r
		}
	}
	return stats.ServiceShutdown
}

func (s *Service) dropConn() {
	if s.conn >= 0 {
		closeFD(s.conn)
		s.conn = -1
	}
	s.keep, s.timed = false, false
	s.start, s.end = 0, 0
}

// enterIdle hands the process to the signal goroutine before the loop
// blocks. It returns false when a stop was requested while busy.
func (s *Service) enterIdle() bool {
	if s.mode != Manager {
		return true
	}
	return s.state.CompareAndSwap(loopBusy, loopIdle)
}

// leaveIdle takes the process back after blocking. If the signal goroutine
// won the race it is ending the process: wait for that.
func (s *Service) leaveIdle() {
	if s.mode != Manager || s.state.CompareAndSwap(loopIdle, loopBusy) {
		return
	}
	for {
		time.Sleep(time.Hour)
	}
}

// signalLoop reacts to the manager's SIGTERM (docs/protocol.md §3.1).
func (s *Service) signalLoop() {
	for range s.sig {
		s.onStopSignal()
	}
}

// onStopSignal ends the process at once when the loop is blocked waiting
// for a request, and otherwise asks the loop to stop after the current one.
func (s *Service) onStopSignal() {
	for {
		switch s.state.Load() {
		case loopIdle:
			if s.state.CompareAndSwap(loopIdle, loopExiting) {
				// The loop is blocked and owns nothing until it wins the
				// state back, which it never will.
				s.writeExit(s.shutdownReason())
				s.exit(0)
				return
			}
		case loopBusy:
			if s.state.CompareAndSwap(loopBusy, loopStopRequested) {
				return
			}
		case loopClosed:
			s.exit(0)
			return
		default:
			return
		}
	}
}

// notifyStop routes the manager's stop signal to c.
func notifyStop(c chan<- os.Signal) { signal.Notify(c, syscall.SIGTERM) }

// writeExit sends the final report and marks the slot stopping.
func (s *Service) writeExit(reason stats.ExitReason) {
	if s.reporter != nil {
		s.reporter.Flush()
	}
	if s.slot != nil {
		s.slot.SetState(stats.StateStopping, micros(time.Now()))
		s.slot.SetExitReason(reason)
	}
}

// Close ends the service: in manager mode it sends the final report, marks
// the slot stopping with the exit reason, and closes the inherited
// descriptors. Call it once the loop has ended, before exiting. A SIGTERM
// that arrives after Close exits the process at once with status 0.
func (s *Service) Close() error {
	if s.closed {
		return nil
	}
	s.closed = true
	s.dropConn()
	if s.mode == Manager {
		// The loop is not blocked, so the state is busy or stop-requested.
		for st := s.state.Load(); !s.state.CompareAndSwap(st, loopClosed); st = s.state.Load() {
		}
		s.writeExit(s.exitReason)
		closeFD(s.reportFD)
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
