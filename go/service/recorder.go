package service

import (
	"fmt"
	"io"
	"os"
	"sync"
)

// recorderMode is the mode of every recorder file (docs/protocol.md §9).
const recorderMode = 0o640

// recorder writes every request an instance reads and every response it
// writes to files named after the segment header's recorderPrefix
// (docs/protocol.md §9): <prefix>in.<pid>.<NNNNN> and
// <prefix>out.<pid>.<NNNNN>. The first failure is reported on stderr and
// ends recording for the instance; it never fails a request. The workers
// of an instance share its recorder: it is safe for concurrent use.
type recorder struct {
	prefix string
	cycle  uint32
	pid    int
	errOut io.Writer // where the one failure line goes; nil: os.Stderr

	mu    sync.Mutex
	count uint64 // requests recorded so far
	off   bool
}

func newRecorder(prefix string, cycle uint32, pid int) *recorder {
	return &recorder{prefix: prefix, cycle: cycle, pid: pid}
}

// index returns the file index of the n-th request (n ≥ 1): n reduced
// modulo the cycle when there is one, so that with cycle 3 the files are
// 00001, 00002, 00000, 00001, …
func (r *recorder) index(n uint64) uint32 {
	if r.cycle > 0 {
		n %= uint64(r.cycle)
	}
	return uint32(n)
}

// path returns the name of the in or out file of index i.
func (r *recorder) path(kind string, i uint32) string {
	return fmt.Sprintf("%s%s.%d.%05d", r.prefix, kind, r.pid, i)
}

// recordIn writes a request packet as read and returns its index, or
// NotRecording (0xFFFFFFFF) once recording has stopped.
func (r *recorder) recordIn(packet []byte) uint32 {
	r.mu.Lock()
	if r.off {
		r.mu.Unlock()
		return 0xFFFFFFFF
	}
	r.count++
	i := r.index(r.count)
	r.mu.Unlock()
	if !r.write(r.path("in", i), packet) {
		return 0xFFFFFFFF
	}
	return i
}

// recordOut writes the response packet of the request recorded with index i.
func (r *recorder) recordOut(i uint32, parts ...[]byte) {
	r.mu.Lock()
	off := r.off
	r.mu.Unlock()
	if off {
		return
	}
	r.write(r.path("out", i), parts...)
}

// write creates (or truncates) path with mode 0640 and writes parts to it.
func (r *recorder) write(path string, parts ...[]byte) bool {
	err := func() error {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, recorderMode)
		if err != nil {
			return err
		}
		// The umask must not change the documented mode.
		if err := f.Chmod(recorderMode); err != nil {
			f.Close()
			return err
		}
		for _, p := range parts {
			if _, err := f.Write(p); err != nil {
				f.Close()
				return err
			}
		}
		return f.Close()
	}()
	if err != nil {
		r.mu.Lock()
		defer r.mu.Unlock()
		if r.off {
			return false // another worker reported the failure
		}
		r.off = true
		out := r.errOut
		if out == nil {
			out = os.Stderr
		}
		fmt.Fprintf(out, "service: recorder stopped: %v\n", err)
		return false
	}
	return true
}
