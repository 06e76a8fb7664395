// Command testFileLoop is a manager test service for ulimit-open-files
// (RLIMIT_NOFILE) and the file size limit (RLIMIT_FSIZE), like the
// original's fopenLoop.
//
// Usage:
//
//	testFileLoop [-write path]
//
// At start it opens /dev/null until open fails and logs
// "testFileLoop: opened N files: <error> (EMFILE)" on stderr. With -write it
// then writes path in 4 KiB blocks (at most 64 MiB) until a write fails and
// logs "testFileLoop: wrote N bytes to <path>: <error> (EFBIG)"; the file is
// removed. The Go runtime ignores SIGXFSZ, so the write fails with EFBIG
// instead of the signal ending the process.
//
// Exit status: 1 once a limit made the expected call fail (as the
// original's loop ends at the failure), 42 if it cannot initialize as a
// service; when no limit was reached it serves echo requests until stopped.
package main

import (
	"errors"
	"fmt"
	"os"
	"syscall"

	"github.com/pluton-go/pluton/go/service"
)

const (
	maxFiles = 100000
	block    = 4096
	maxBytes = 64 << 20
)

func main() {
	svc, err := service.New("testFileLoop")
	if err != nil {
		fmt.Fprintf(os.Stderr, "testFileLoop: %v\n", err)
		os.Exit(42)
	}
	hit := openLoop()
	if len(os.Args) == 3 && os.Args[1] == "-write" {
		hit = writeLoop(os.Args[2]) || hit
	}
	if hit {
		_ = svc.Close()
		os.Exit(1)
	}
	defer svc.Close()
	_ = svc.Serve(func(req *service.Request) ([]byte, error) { return req.Data(), nil })
}

// openLoop opens /dev/null until it fails and reports whether it did.
func openLoop() bool {
	var files []*os.File
	var openErr error
	for len(files) < maxFiles {
		f, err := os.Open(os.DevNull)
		if err != nil {
			openErr = err
			break
		}
		files = append(files, f)
	}
	fmt.Fprintf(os.Stderr, "testFileLoop: opened %d files: %v%s\n", len(files), openErr, errnoName(openErr))
	for _, f := range files {
		f.Close()
	}
	return openErr != nil
}

// writeLoop writes path until a write fails and reports whether one did.
func writeLoop(path string) bool {
	f, err := os.Create(path)
	if err != nil {
		fmt.Fprintf(os.Stderr, "testFileLoop: %v%s\n", err, errnoName(err))
		return true
	}
	defer os.Remove(path)
	defer f.Close()
	buf := make([]byte, block)
	n := 0
	var werr error
	for n < maxBytes {
		k, err := f.Write(buf)
		n += k
		if err != nil {
			werr = err
			break
		}
	}
	fmt.Fprintf(os.Stderr, "testFileLoop: wrote %d bytes to %s: %v%s\n", n, path, werr, errnoName(werr))
	return werr != nil
}

// errnoName returns " (NAME)" for the errno in err, the name a reader
// checks against the limit that was hit.
func errnoName(err error) string {
	var errno syscall.Errno
	if !errors.As(err, &errno) {
		return ""
	}
	for _, e := range []struct {
		errno syscall.Errno
		name  string
	}{{syscall.EMFILE, "EMFILE"}, {syscall.ENFILE, "ENFILE"}, {syscall.EFBIG, "EFBIG"}, {syscall.ENOSPC, "ENOSPC"}} {
		if errno == e.errno {
			return " (" + e.name + ")"
		}
	}
	return fmt.Sprintf(" (errno %d)", int(errno))
}
