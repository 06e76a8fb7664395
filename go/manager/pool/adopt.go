package pool

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/pluton-go/pluton/go/manager/config"
	"github.com/pluton-go/pluton/go/manager/logging"
	"github.com/pluton-go/pluton/go/manager/process"
	"github.com/pluton-go/pluton/go/manager/sockdiag"
	"github.com/pluton-go/pluton/go/servicekey"
	"github.com/pluton-go/pluton/go/stats"
)

// The handover of a running service to the manager program that replaces
// this one in place (an upgrade, docs/operations.md): the descriptors are
// inherited across execve, the instances stay children of the same process,
// and the new program adopts all of it instead of creating anything.

// ServiceHandover is one running service as the replacing program adopts it.
// The fields ending in FD are descriptors inherited across execve.
type ServiceHandover struct {
	Key       string             `json:"key"`
	Config    *config.Service    `json:"config"` // the configuration the service runs (its file identity included)
	Loaded    time.Time          `json:"loaded"`
	ListenFD  int                `json:"listenFD"`  // the listening socket, fd 3 of every instance
	SocketIno uint64             `json:"socketIno"` // the inode of the socket's file name
	MmapPath  string             `json:"mmapPath"`  // the stats segment
	SegmentFD int                `json:"segmentFD"` // the stats segment, open, fd 4 of every instance
	ReportFD  int                `json:"reportFD"`  // the report pipe's read end
	ReportWFD int                `json:"reportWFD"` // its write end, fd 5 of every instance
	Held      bool               `json:"held"`
	Halted    bool               `json:"halted"`
	Requests  uint64             `json:"requests"`
	Faults    uint64             `json:"faults"`
	Instances []InstanceHandover `json:"instances"`
}

// InstanceHandover is one instance of a handed-over service.
type InstanceHandover struct {
	PID         int           `json:"pid"`
	Slot        int           `json:"slot"`     // its first thread slot (plutonSlot)
	StderrFD    int           `json:"stderrFD"` // the read end of its stderr pipe
	Started     time.Time     `json:"started"`
	Ready       time.Time     `json:"ready"`
	State       InstanceState `json:"state"`
	MaxRequests uint32        `json:"maxRequests"`
}

// ErrNotHandable is returned by Handover for a service that is not simply
// running (a new version proving itself, or one shutting down).
var ErrNotHandable = errors.New("service cannot be handed over")

// Handover describes the running service for the program replacing this
// one and returns the descriptors it must inherit. The manager's own
// answerer is stopped (the listener is the instances' again); nothing else
// changes, so the service runs on if the replacement does not happen.
func (s *Service) Handover() (ServiceHandover, []int, error) {
	if s.phase != Running || s.staged {
		return ServiceHandover{}, nil, fmt.Errorf("%s (%s, staged %t): %w", s.Key, s.phase, s.staged, ErrNotHandable)
	}
	s.drainReports()
	s.stopRejector()
	s.stopTemplateForHandover() // preload.go: the new program starts its own
	h := ServiceHandover{Key: s.Key, Config: s.Cfg, Loaded: s.Loaded, ListenFD: s.lfd, SocketIno: s.pathIno,
		MmapPath: s.MmapPath, SegmentFD: int(s.segFile.Fd()), ReportFD: s.repFD, ReportWFD: int(s.repW.Fd()),
		Held: s.held, Halted: s.halted, Requests: s.requests, Faults: s.faults}
	fds := []int{h.ListenFD, h.SegmentFD, h.ReportFD, h.ReportWFD}
	for _, in := range s.inst {
		if in == nil || in.exited() {
			continue
		}
		fd, err := in.Proc.StderrFD()
		if err != nil {
			return ServiceHandover{}, nil, fmt.Errorf("%s: stderr: %w", in.LogID, err)
		}
		h.Instances = append(h.Instances, InstanceHandover{PID: in.Proc.Pid, Slot: in.Slot, StderrFD: fd,
			Started: in.Started, Ready: in.Ready, State: in.state, MaxRequests: in.MaxRequests})
		fds = append(fds, fd)
	}
	return h, fds, nil
}

// Adopt takes over a service handed over by the program this one replaced:
// its socket, segment and report pipe (the descriptors of h, inherited) and
// its instances, which are children of this process. Nothing is created or
// renamed and no instance is started. An instance that cannot be adopted
// (no longer a child) is logged and its slot freed.
func Adopt(h ServiceHandover, env *Env, now time.Time) (s *Service, err error) {
	cfg := h.Config
	if cfg == nil || len(cfg.Argv) == 0 {
		return nil, fmt.Errorf("%s: handover without a configuration", h.Key)
	}
	if cfg.Key, err = servicekey.ParseConfigName(h.Key); err != nil {
		return nil, fmt.Errorf("handover: %w", err)
	}
	s = &Service{Cfg: cfg, Key: h.Key, env: env, Loaded: h.Loaded, lastActivity: now, lfd: -1, repFD: -1,
		SocketPath: filepath.Join(env.RendezvousDir, h.Key+".socket"),
		MmapPath:   filepath.Join(env.RendezvousDir, h.Key+".mmap"),
		inst:       make([]*Instance, cfg.MaximumProcesses), argv: cfg.Argv,
		lines: newLineLimiter(env.Log), held: h.Held, halted: h.Halted, requests: h.Requests, faults: h.Faults}
	s.curSocket, s.curMmap = s.SocketPath, s.MmapPath
	created := s // every error return sets s to nil
	defer func() {
		if err != nil {
			created.closeFiles()
		}
	}()
	if h.MmapPath != s.MmapPath {
		return nil, fmt.Errorf("%s: stats segment %s is not %s (another rendezvous directory)", h.Key, h.MmapPath, s.MmapPath)
	}
	for _, fd := range []int{h.ListenFD, h.SegmentFD, h.ReportFD, h.ReportWFD} {
		if err := process.SetCloseOnExec(fd); err != nil {
			return nil, fmt.Errorf("%s: inherited fd %d: %w", h.Key, fd, err)
		}
	}
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

	s.repFD, s.repW = h.ReportFD, os.NewFile(uintptr(h.ReportWFD), "report pipe")
	size, err := unix.FcntlInt(uintptr(s.repFD), unix.F_GETPIPE_SZ, 0)
	if err != nil {
		return nil, fmt.Errorf("%s: report pipe fd %d: %w", h.Key, h.ReportFD, err)
	}
	s.repSize, s.repGrow = size, size < maxReportPipe

	s.segFile = os.NewFile(uintptr(h.SegmentFD), s.MmapPath)
	var st unix.Stat_t
	if err = unix.Fstat(h.SegmentFD, &st); err != nil {
		return nil, fmt.Errorf("%s: stats segment fd %d: %w", h.Key, h.SegmentFD, err)
	}
	s.segIno = st.Ino
	if st.Size < stats.HeaderSize || st.Size > int64(stats.SegmentSize(config.MaxSlots)) {
		return nil, fmt.Errorf("%s: stats segment fd %d: %d bytes", h.Key, h.SegmentFD, st.Size)
	}
	b, err := unix.Mmap(h.SegmentFD, 0, int(st.Size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("%s: stats segment: mmap: %w", h.Key, err)
	}
	s.seg = stats.Segment(b)
	// The instances run with the threads the segment was made for, which
	// may not be the configuration's (a manager from before maximum-threads
	// took effect made every segment with one thread per instance).
	s.threads = s.seg.ThreadsPerInstance()
	if size := stats.SegmentSize(cfg.MaximumProcesses * s.threads); s.seg.Validate() != nil ||
		s.seg.SlotCount() != cfg.MaximumProcesses*s.threads || st.Size != int64(size) {
		return nil, fmt.Errorf("%s: stats segment fd %d: %d bytes, %d slots, %d threads per instance, want %d bytes for maximum-processes %d",
			h.Key, h.SegmentFD, st.Size, s.seg.SlotCount(), s.threads, size, cfg.MaximumProcesses)
	}
	if s.threads != max(cfg.MaximumThreads, 1) {
		env.Log.Printf("Service Warning: %s: adopted with %d thread(s) per instance, as its stats segment was made; "+
			"maximum-threads %d takes effect when the service is replaced (its file changes, or the manager restarts)", h.Key, s.threads, cfg.MaximumThreads)
	}

	s.lfd = h.ListenFD
	s.listener = os.NewFile(uintptr(h.ListenFD), s.SocketPath)
	if s.sockIno, err = sockdiag.Inode(uintptr(h.ListenFD)); err != nil {
		return nil, fmt.Errorf("%s: listening socket fd %d: %w", h.Key, h.ListenFD, err)
	}
	s.pathIno = h.SocketIno
	if err := unix.Stat(s.SocketPath, &st); err != nil || st.Ino != h.SocketIno {
		env.Log.Printf("Service Warning: %s: %s is no longer this service's socket", h.Key, s.SocketPath)
	}
	s.metrics = env.Metrics.Service(h.Key)

	for _, ih := range h.Instances {
		if err := s.adoptInstance(ih, now); err != nil {
			env.Log.Printf("Process Warning: %s/%d-%d not adopted (ended during the upgrade?): %v", h.Key, ih.Slot, ih.PID, err)
			unix.Close(ih.StderrFD)
			if k := ih.Slot / s.perInstance(); ih.Slot >= 0 && ih.Slot%s.perInstance() == 0 && k < len(s.inst) && s.inst[k] == nil {
				s.resetSlots(ih.Slot) // free for a new instance
			}
		}
	}
	s.updateGauges()
	s.env.Log.Logf(logging.ServiceStart, "Service Adopted: %s (%d instances)", s.Key, s.live)
	s.arm()
	return s, nil
}

// adoptInstance takes over one handed-over instance.
func (s *Service) adoptInstance(ih InstanceHandover, now time.Time) error {
	if k := ih.Slot / s.perInstance(); ih.Slot < 0 || ih.Slot%s.perInstance() != 0 || k >= len(s.inst) || s.inst[k] != nil {
		return fmt.Errorf("slot %d out of range, not an instance's first slot, or taken", ih.Slot)
	}
	key, lines, slot := s.Key, s.lines, ih.Slot
	slotTag := key + "/" + strconv.Itoa(slot)
	tail := &logging.Tail{}
	p, err := s.env.Forker.AdoptHandedOver(ih.PID, ih.StderrFD, ih.Started, func(pid int, line string) {
		if !strings.HasPrefix(line, "previous message repeated ") {
			l := line
			s.lastStderr.Store(&l)
			tail.Add(line)
		}
		lines.lifeLogf(logging.ProcessLog, "Log: "+slotTag+" "+line, "Log: %s/%d-%d %s", key, slot, pid, line)
	})
	if err != nil {
		return err
	}
	in := &Instance{Slot: slot, Proc: p, Started: ih.Started, Ready: ih.Ready, MaxRequests: ih.MaxRequests,
		LogID: fmt.Sprintf("%s/%d-%d", s.Key, slot, p.Pid), stderr: tail, state: ih.State}
	if cur := s.seg.Slot(slot).Read(); cur.PID != uint32(p.Pid) && cur.PID != 0 {
		s.env.Log.Printf("Process Warning: %s: slot %d holds pid %d", in.LogID, slot, cur.PID)
	}
	switch ih.State {
	case InstRetiring:
		in.state = InstReady // its replacement was not handed over, if any: let the supervisor decide again
	case InstStopping, InstKilled:
		// Asked to stop by the replaced program: its grace starts again.
		in.state = InstStopping
		reason := s.seg.Slot(slot).Read().ExitReason
		if reason == stats.NoReason {
			reason = stats.ServiceShutdown
		}
		in.stop.request(now, reason, s.stopGrace())
		_ = p.Signal(syscall.SIGTERM)
	case InstStarting, InstReady:
	default:
		in.state = InstReady
	}
	s.inst[s.index(in)] = in
	s.live++
	s.env.Counters.Children++
	go func() {
		<-p.Done()
		if f := s.env.InstanceExited; f != nil {
			f(p.Pid)
		}
		s.env.Post(func() { s.onExit(in) })
	}()
	return nil
}
