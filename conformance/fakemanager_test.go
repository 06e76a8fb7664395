package conformance_test

// The fake-manager harness: the runner plays plutonManager itself. It
// creates a version 2 stats segment (fd 4) with a recorder prefix, a
// listening Unix socket (fd 3) and a report pipe (fd 5), starts a testee on
// them as the manager would (slot 1 of 2, plutonSlot=1), sends requests and
// checks the bytes every SDK must write: its slot (pid, state, counters,
// request identity), its fd 5 report records, its recorder files, the
// service loop limits and the stop (docs/protocol.md §3–§5, §8, §9).

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/pluton-go/pluton/go/protocol"
	"github.com/pluton-go/pluton/go/stats"
)

const (
	fakeSlot  = 1 // the testee's slot; slot 0 must stay untouched
	fakeSlots = 2
	fakeLimit = 100000 // maximum-request-size in the header
)

// fakeManager is one testee started on a fake manager's descriptors.
type fakeManager struct {
	dir, sock, segPath, prefix string
	cmd                        *exec.Cmd
	stderr                     bytes.Buffer
	reportR                    *os.File
	done                       chan error
	exitErr                    error
	exited                     bool
	sent                       map[string][]byte // request packets sent, by case
	received                   map[string][]byte // response packets received, by case
}

func startFakeManager(t *testing.T, s sdk) (*fakeManager, error) {
	dir, err := os.MkdirTemp("", "plfm") // short: sun_path is 108 bytes
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	fm := &fakeManager{dir: dir, sock: filepath.Join(dir, "s.socket"), segPath: filepath.Join(dir, "s.mmap"),
		prefix: filepath.Join(dir, "rec", "fm."), sent: map[string][]byte{}, received: map[string][]byte{}}
	if err := os.Mkdir(filepath.Join(dir, "rec"), 0o755); err != nil {
		return nil, err
	}
	b := make([]byte, stats.SegmentSize(fakeSlots))
	stats.InitSegment(b, stats.HeaderConfig{Slots: fakeSlots, AffinityTimeout: 60 * time.Second,
		MaximumRequestSize: fakeLimit, RequestReadTimeout: 1500 * time.Millisecond, MaximumPending: 8,
		RecorderPrefix: fm.prefix})
	if err := os.WriteFile(fm.segPath, b, 0o644); err != nil {
		return nil, err
	}
	seg, err := os.OpenFile(fm.segPath, os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	defer seg.Close()
	l, err := net.Listen("unix", fm.sock)
	if err != nil {
		return nil, err
	}
	l.(*net.UnixListener).SetUnlinkOnClose(false) // the testee keeps listening on the path
	defer l.Close()
	lf, err := l.(*net.UnixListener).File()
	if err != nil {
		return nil, err
	}
	defer lf.Close()
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer w.Close() // the testee holds the only write end: EOF once it exits
	fm.reportR = r
	t.Cleanup(func() { r.Close() })

	fm.cmd = exec.Command(s.testee[0], s.testee[1:]...)
	fm.cmd.ExtraFiles = []*os.File{lf, seg, w}
	fm.cmd.Env = append(os.Environ(), "plutonSlot="+strconv.Itoa(fakeSlot))
	fm.cmd.Stderr = &fm.stderr
	if err := fm.cmd.Start(); err != nil {
		return nil, err
	}
	fm.done = make(chan error, 1)
	go func() { fm.done <- fm.cmd.Wait() }()
	t.Cleanup(func() {
		if !fm.exited {
			_ = fm.cmd.Process.Kill()
			<-fm.done
		}
	})
	pid := uint32(fm.cmd.Process.Pid)
	err = fm.waitSlot(20*time.Second, "pid and state idle", func(st stats.SlotStats) bool {
		return st.PID == pid && st.State == stats.StateIdle
	})
	return fm, err
}

// segment reads the whole segment file.
func (fm *fakeManager) segment() (stats.Segment, error) {
	b, err := os.ReadFile(fm.segPath)
	return stats.Segment(b), err
}

func (fm *fakeManager) slot() (stats.SlotStats, error) {
	seg, err := fm.segment()
	if err != nil {
		return stats.SlotStats{}, err
	}
	return seg.Slot(fakeSlot).Read(), nil
}

// waitSlot waits until the slot satisfies ok.
func (fm *fakeManager) waitSlot(d time.Duration, what string, ok func(stats.SlotStats) bool) error {
	deadline := time.Now().Add(d)
	var st stats.SlotStats
	for time.Now().Before(deadline) {
		var err error
		if st, err = fm.slot(); err != nil {
			return err
		}
		if ok(st) {
			return nil
		}
		time.Sleep(5 * time.Millisecond)
	}
	return fmt.Errorf("slot %d never showed %s within %v: %+v; stderr:\n%s", fakeSlot, what, d, st, fm.stderr.String())
}

// call sends one packet on a new connection and returns the raw response.
func (fm *fakeManager) call(name string, req *protocol.Request) (protocol.Response, error) {
	var resp protocol.Response
	conn, err := net.DialTimeout("unix", fm.sock, 5*time.Second)
	if err != nil {
		return resp, err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	pkt := protocol.AppendRequest(nil, req)
	fm.sent[name] = pkt
	if _, err := conn.Write(pkt); err != nil {
		return resp, err
	}
	raw, err := io.ReadAll(conn)
	if err != nil {
		return resp, fmt.Errorf("reading the response: %w", err)
	}
	fm.received[name] = raw
	if err := protocol.NewResponseDecoder(bytes.NewReader(raw)).ReadResponse(&resp); err != nil {
		return resp, fmt.Errorf("response %q: %w", raw, err)
	}
	return resp, nil
}

// TestFakeManager runs every testee under the fake manager.
func TestFakeManager(t *testing.T) {
	inFiles := map[string][]byte{} // the recorder in-file of the echo request, by testee
	var goName string
	for _, s := range sdks(t) {
		fm, startErr := startFakeManager(t, s)
		notStarted := func() error {
			if fm == nil || startErr != nil {
				return fmt.Errorf("not started under the fake manager: %v", startErr)
			}
			return nil
		}
		check(t, s, "fakemanager", "start", func() error { return startErr })
		check(t, s, "fakemanager", "echo_slot", func() error {
			if err := notStarted(); err != nil {
				return err
			}
			return fmEcho(fm)
		})
		check(t, s, "fakemanager", "fault_slot", func() error {
			if err := notStarted(); err != nil {
				return err
			}
			return fmFault(fm)
		})
		check(t, s, "fakemanager", "request_too_large", func() error {
			if err := notStarted(); err != nil {
				return err
			}
			return fmTooLarge(fm)
		})
		check(t, s, "fakemanager", "request_too_large_counts", func() error {
			if err := notStarted(); err != nil {
				return err
			}
			// protocol.md §8.3: the refusal is a request answered with a fault.
			return fm.waitSlot(5*time.Second, "requests 3 and faults 2 after the refusal", func(st stats.SlotStats) bool {
				return st.Requests == 3 && st.Faults == 2 && st.Responses == 1
			})
		})
		check(t, s, "fakemanager", "silent_client", func() error {
			if err := notStarted(); err != nil {
				return err
			}
			return fmSilent(fm)
		})
		check(t, s, "fakemanager", "recorder", func() error {
			if err := notStarted(); err != nil {
				return err
			}
			in, err := fmRecorder(fm)
			if err == nil {
				inFiles[s.name] = in
			}
			return err
		})
		check(t, s, "fakemanager", "stop", func() error {
			if err := notStarted(); err != nil {
				return err
			}
			return fmStop(fm)
		})
		if s.name == "go" {
			goName = s.name
		}
		check(t, s, "fakemanager", "recorder_same_bytes_as_go", func() error {
			want, ok := inFiles[goName]
			got, ok2 := inFiles[s.name]
			switch {
			case !ok:
				return errors.New("the go testee recorded nothing to compare with")
			case !ok2:
				return errors.New("no recorder in-file")
			}
			if d := diff(want, got); d != "" {
				return fmt.Errorf("in-file differs from the go testee's:\n%s", d)
			}
			return nil
		})
	}
}

// The echo request every testee gets first: same bytes for every SDK.
func echoRequest() *protocol.Request {
	return &protocol.Request{ID: 4242, ClientName: "runner:77", ServiceKey: "conf.echo.0.raw", TimeoutMS: 4000,
		Context: protocol.AppendContext(nil, "k", "v"), Data: []byte("Hello")}
}

func fmEcho(fm *fakeManager) error {
	resp, err := fm.call("echo", echoRequest())
	if err != nil {
		return err
	}
	if resp.FaultCode != 0 || string(resp.Data) != "Hello" || resp.ID != 4242 || resp.ClientName != "runner:77" {
		return fmt.Errorf("echo response %+v", resp)
	}
	// The slot goes back to idle once the testee waits again.
	if err := fm.waitSlot(5*time.Second, "idle after the echo", func(st stats.SlotStats) bool {
		return st.State == stats.StateIdle && st.Responses == 1
	}); err != nil {
		return err
	}
	st, _ := fm.slot()
	want := stats.SlotStats{PID: uint32(fm.cmd.Process.Pid), State: stats.StateIdle, SinceMicros: st.SinceMicros,
		Requests: 1, Responses: 1, Faults: 0, BusyMicros: st.BusyMicros, RequestID: 4242, RecorderIndex: 1, ClientName: "runner:77"}
	if st != want {
		return fmt.Errorf("slot after one echo:\n got  %+v\n want %+v", st, want)
	}
	now := uint64(time.Now().UnixMicro())
	if st.SinceMicros == 0 || st.SinceMicros > now || now-st.SinceMicros > 60_000_000 {
		return fmt.Errorf("since %d is not a recent Unix time in µs (now %d)", st.SinceMicros, now)
	}
	return untouched(fm)
}

// untouched checks that the header and the other slot are as the manager wrote them.
func untouched(fm *fakeManager) error {
	seg, err := fm.segment()
	if err != nil {
		return err
	}
	if err := seg.Validate(); err != nil {
		return err
	}
	if !bytes.Equal(seg.Slot(0), make([]byte, stats.SlotSize)) {
		return fmt.Errorf("slot 0 was written: %x", []byte(seg.Slot(0)))
	}
	if h := seg.Header(); h.RecorderPrefix != fm.prefix || h.MaximumRequestSize != fakeLimit {
		return fmt.Errorf("header changed: %+v", h)
	}
	return nil
}

func fmFault(fm *fakeManager) error {
	resp, err := fm.call("fault", &protocol.Request{ID: 7, ClientName: "runner:78", ServiceKey: "conf.fault.0.raw", TimeoutMS: 4000,
		Context: protocol.AppendContext(protocol.AppendContext(nil, "fault.code", "111"), "fault.text", "sleep time negative")})
	if err != nil {
		return err
	}
	if resp.FaultCode != 111 || resp.FaultText != "sleep time negative" {
		return fmt.Errorf("fault response %+v", resp)
	}
	return fm.waitSlot(5*time.Second, "requests 2, faults 1, identity of request 7", func(st stats.SlotStats) bool {
		return st.State == stats.StateIdle && st.Requests == 2 && st.Responses == 1 && st.Faults == 1 &&
			st.RequestID == 7 && st.ClientName == "runner:78" && st.RecorderIndex == 2
	})
}

// fmTooLarge: a length prefix above the header's maximum-request-size is
// answered with fault 3 before the payload is sent (protocol.md §8.3).
func fmTooLarge(fm *fakeManager) error {
	conn, err := net.DialTimeout("unix", fm.sock, 5*time.Second)
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := conn.Write([]byte("0Q,2b77,9arunner:79,15cconf.echo.0.raw,4l4000,200000k")); err != nil {
		return err
	}
	var resp protocol.Response
	if err := protocol.NewResponseDecoder(conn).ReadResponse(&resp); err != nil {
		return fmt.Errorf("no fault before the payload: %w", err)
	}
	want := fmt.Sprintf("request data of 200000 bytes exceeds maximum-request-size %d", fakeLimit)
	if resp.FaultCode != 3 || resp.FaultText != want || resp.ID != 77 || resp.ClientName != "runner:79" {
		return fmt.Errorf("got %+v, want fault 3 %q for id 77, client runner:79", resp, want)
	}
	return nil
}

// fmSilent: a connection that sends nothing does not hold the instance, and
// is closed at request-read-timeout (1.5 s in the header).
func fmSilent(fm *fakeManager) error {
	silent, err := net.DialTimeout("unix", fm.sock, 5*time.Second)
	if err != nil {
		return err
	}
	defer silent.Close()
	time.Sleep(100 * time.Millisecond)
	start := time.Now()
	resp, err := fm.call("after_silent", &protocol.Request{ID: 8, ServiceKey: "conf.echo.0.raw", TimeoutMS: 4000, Data: []byte("x")})
	if err != nil {
		return fmt.Errorf("a request behind a silent connection: %w", err)
	}
	if string(resp.Data) != "x" {
		return fmt.Errorf("response %+v", resp)
	}
	if el := time.Since(start); el > 1200*time.Millisecond {
		return fmt.Errorf("the request waited %v behind a silent connection", el)
	}
	_ = silent.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := silent.Read(make([]byte, 1))
	if n != 0 || !errors.Is(err, io.EOF) {
		return fmt.Errorf("the silent connection was not closed at its deadline: read %d, %v", n, err)
	}
	return nil
}

// fmRecorder checks the recorder files of the echo request (index 1): the
// in-file holds the packet exactly as sent, the out-file the response
// exactly as received, both with mode 0640.
func fmRecorder(fm *fakeManager) ([]byte, error) {
	pid := fm.cmd.Process.Pid
	in := fmt.Sprintf("%sin.%d.00001", fm.prefix, pid)
	out := fmt.Sprintf("%sout.%d.00001", fm.prefix, pid)
	var got [2][]byte
	for i, p := range []string{in, out} {
		info, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		if info.Mode().Perm() != 0o640 {
			return nil, fmt.Errorf("%s: mode %v, want 0640", p, info.Mode().Perm())
		}
		if got[i], err = os.ReadFile(p); err != nil {
			return nil, err
		}
	}
	if d := diff(fm.sent["echo"], got[0]); d != "" {
		return nil, fmt.Errorf("in-file is not the request as sent:\n%s", d)
	}
	if d := diff(fm.received["echo"], got[1]); d != "" {
		return nil, fmt.Errorf("out-file is not the response as received:\n%s", d)
	}
	return got[0], nil
}

// fmStop: the manager writes shutdownRequest and sends SIGTERM; the idle
// testee exits 0 within 2 s, copies the reason to exitReason, marks the slot
// stopping and sends a final report; its records account for every request.
func fmStop(fm *fakeManager) error {
	seg, err := os.OpenFile(fm.segPath, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	var reason [4]byte
	reason[0] = byte(stats.IdleTimeout)
	_, err = seg.WriteAt(reason[:], int64(stats.HeaderSize+fakeSlot*stats.SlotSize+52))
	seg.Close()
	if err != nil {
		return err
	}
	sent := time.Now()
	if err := fm.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return err
	}
	select {
	case fm.exitErr = <-fm.done:
		fm.exited = true
	case <-time.After(10 * time.Second):
		return fmt.Errorf("no exit within 10 s of SIGTERM; stderr:\n%s", fm.stderr.String())
	}
	if el := time.Since(sent); el > 2*time.Second {
		return fmt.Errorf("exit took %v after SIGTERM, want at most 2 s", el)
	}
	if fm.exitErr != nil {
		return fmt.Errorf("exit: %v, want status 0; stderr:\n%s", fm.exitErr, fm.stderr.String())
	}
	st, err := fm.slot()
	if err != nil {
		return err
	}
	if st.State != stats.StateStopping || st.ExitReason != stats.IdleTimeout {
		return fmt.Errorf("slot after the stop: state %v, exit reason %v; want stopping, idleTimeout", st.State, st.ExitReason)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = fm.reportR.SetReadDeadline(time.Now().Add(5 * time.Second))
	raw, err := io.ReadAll(fm.reportR)
	if err != nil && ctx.Err() == nil {
		return fmt.Errorf("reading fd 5: %w", err)
	}
	if len(raw) == 0 || len(raw)%stats.RecordSize != 0 {
		return fmt.Errorf("fd 5 carried %d bytes, want whole %d-byte records", len(raw), stats.RecordSize)
	}
	var outcomes []stats.Outcome
	var echo *stats.Entry
	for b := raw; len(b) > 0; b = b[stats.RecordSize:] {
		rec, err := stats.ParseRecord(b[:stats.RecordSize])
		if err != nil {
			return err
		}
		if rec.PID != uint32(fm.cmd.Process.Pid) || rec.Slot != fakeSlot {
			return fmt.Errorf("record from pid %d slot %d, want %d slot %d", rec.PID, rec.Slot, fm.cmd.Process.Pid, fakeSlot)
		}
		for i := range rec.Entries {
			outcomes = append(outcomes, rec.Entries[i].Outcome)
			if echo == nil && rec.Entries[i].Outcome == stats.OK {
				echo = &rec.Entries[i]
			}
		}
	}
	count := map[stats.Outcome]int{}
	for _, o := range outcomes {
		count[o]++
	}
	// echo, after_silent: ok; fault and request_too_large: fault; the silent connection: readError.
	if count[stats.OK] != 2 || count[stats.Faulted] != 2 || count[stats.ReadError] != 1 {
		return fmt.Errorf("report outcomes %v, want 2 ok, 2 fault, 1 readError", outcomes)
	}
	if echo.RequestBytes != 5 || echo.ResponseBytes != 5 || echo.Function != "echo" {
		return fmt.Errorf("echo entry %+v, want 5 bytes in and out, function echo", *echo)
	}
	return nil
}
