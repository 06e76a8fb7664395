// Command conformanceTestee is the Go SDK's testee for the conformance suite:
// a service named "testee" that answers by the function of the request's key,
// as conformance/README.md specifies.
package main

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/pluton-go/pluton/go/fault"
	"github.com/pluton-go/pluton/go/service"
)

func main() {
	svc, err := service.New("testee")
	if err != nil {
		fmt.Fprintln(os.Stderr, "testee:", err)
		os.Exit(1)
	}
	served := 0
	for {
		req, err := svc.Next()
		if err != nil {
			svc.Close()
			if errors.Is(err, service.ErrStopped) {
				os.Exit(0)
			}
			fmt.Fprintln(os.Stderr, "testee:", err)
			os.Exit(1)
		}
		served++
		answer(req, served)
	}
}

// context returns a context value, or faults the request with code 22 when
// the context is malformed.
func context(req *service.Request, key string) (string, bool, error) {
	v, ok, err := req.Context(key)
	var f *fault.Fault
	if errors.As(err, &f) {
		req.Fault(22, f.Text)
	}
	return v, ok, err
}

func answer(req *service.Request, served int) {
	key := req.Key()
	switch key.Function {
	case "echo":
		req.Respond(req.Data())
	case "sleep":
		ms, _, err := context(req, "sleep.ms")
		if err != nil {
			return
		}
		n, _ := strconv.Atoi(ms)
		time.Sleep(time.Duration(n) * time.Millisecond)
		req.Respond(req.Data())
	case "fault":
		code, _, err := context(req, "fault.code")
		if err != nil {
			return
		}
		text, _, _ := context(req, "fault.text")
		n, _ := strconv.Atoi(code)
		req.Fault(n, text)
	case "context":
		var b strings.Builder
		for _, k := range strings.Split(strings.TrimRight(string(req.Data()), "\n"), "\n") {
			v, ok, err := context(req, k)
			if err != nil {
				return
			}
			if ok {
				fmt.Fprintf(&b, "%s=%s\n", k, v)
			} else {
				fmt.Fprintf(&b, "%s!\n", k)
			}
		}
		req.Respond([]byte(b.String()))
	case "key":
		req.Respond([]byte(fmt.Sprintf("%s\n%s\n%d\n%s\n%s", key.Application, key.Function, key.Version,
			key.Serialization, key)))
	case "client":
		req.Respond([]byte(req.ClientName()))
	case "flags":
		req.Respond([]byte(fmt.Sprintf("noWait=%d keepAffinity=%d", b2i(req.NoWait()), b2i(req.KeepAffinity()))))
	case "pid":
		req.Respond([]byte(fmt.Sprintf("%d:%d", os.Getpid(), served)))
	case "exit":
		code, _, _ := context(req, "exit.code")
		n, _ := strconv.Atoi(code)
		os.Exit(n)
	default:
		req.Fault(2, "unknown function "+key.Function)
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
