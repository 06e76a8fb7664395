// Command testJobWorker is a Pluton service for the job and remote tests
// (go/remote): it answers "<payload>" with "done:<job id>:<payload>" (plus
// ":tag=<value>" when the context has "tag"), after the actions its payload
// asks for:
//
//	sleep:<ms>:<rest>   sleep that many milliseconds first
//	kill-once:<file>    if <file> does not exist: create it, then SIGKILL itself
//	                    (a worker killed mid-job); else answer normally
//	fault:<code>        answer with that fault code and the text "asked for fault <code>"
//
// With $testJobLog set, every delivery is first appended to that file as a
// line "<job id> <attempt>" (the side effects of at-least-once delivery).
package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/pluton-go/pluton/go/fault"
	"github.com/pluton-go/pluton/go/service"
)

func main() {
	svc, err := service.New("testJobWorker")
	if err != nil {
		fmt.Fprintf(os.Stderr, "testJobWorker: %v\n", err)
		os.Exit(42)
	}
	logPath := os.Getenv("testJobLog")
	err = svc.Serve(func(req *service.Request) ([]byte, error) { return handle(req, logPath) })
	_ = svc.Close()
	if err != nil {
		fmt.Fprintf(os.Stderr, "testJobWorker: %v\n", err)
		os.Exit(41)
	}
}

func handle(req *service.Request, logPath string) ([]byte, error) {
	id, _, _ := req.Context("plutonJob.id")
	attempt, _, _ := req.Context("plutonJob.attempt")
	if logPath != "" {
		f, err := os.OpenFile(logPath, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
		if err == nil {
			_, _ = fmt.Fprintf(f, "%s %s\n", id, attempt)
			_ = f.Close()
		}
	}
	payload := string(req.Data())
	rest := payload
	if s, ok := strings.CutPrefix(rest, "sleep:"); ok {
		ms, after, _ := strings.Cut(s, ":")
		n, _ := strconv.Atoi(ms)
		time.Sleep(time.Duration(n) * time.Millisecond)
		rest = after
	}
	if file, ok := strings.CutPrefix(rest, "kill-once:"); ok {
		if _, err := os.Stat(file); err != nil {
			_ = os.WriteFile(file, []byte(id), 0o644)
			_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
			time.Sleep(time.Hour)
		}
	}
	if c, ok := strings.CutPrefix(rest, "fault:"); ok {
		n, _ := strconv.Atoi(c)
		return nil, fault.New(fault.Code(n), "asked for fault "+c)
	}
	out := "done:" + id + ":" + payload
	if tag, ok, _ := req.Context("tag"); ok {
		out += ":tag=" + tag
	}
	return []byte(out), nil
}
