// Command conformanceHandlerTestee is the Go SDK's handler-form testee for
// the conformance suite: the same service as conformanceTestee ("testee",
// answering by the function of the request's key, as conformance/README.md
// specifies), written with Service.Serve instead of a Next loop, so the
// suite checks both forms of the Go library.
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
	err = svc.Serve(func(req *service.Request) ([]byte, error) {
		served++
		return answer(req, served)
	})
	_ = svc.Close()
	if err != nil {
		fmt.Fprintln(os.Stderr, "testee:", err)
		os.Exit(1)
	}
}

// value returns a context value; a malformed context is fault 22 with the
// decoder's message, so that it travels in a response.
func value(req *service.Request, key string) (string, bool, error) {
	v, ok, err := req.Context(key)
	var f *fault.Fault
	if errors.As(err, &f) {
		return "", false, fault.New(22, f.Text)
	}
	return v, ok, err
}

func answer(req *service.Request, served int) ([]byte, error) {
	key := req.Key()
	switch key.Function {
	case "echo":
		return req.Data(), nil
	case "sleep":
		ms, _, err := value(req, "sleep.ms")
		if err != nil {
			return nil, err
		}
		n, _ := strconv.Atoi(ms)
		time.Sleep(time.Duration(n) * time.Millisecond)
		return req.Data(), nil
	case "fault":
		code, _, err := value(req, "fault.code")
		if err != nil {
			return nil, err
		}
		text, _, _ := value(req, "fault.text")
		n, _ := strconv.Atoi(code)
		if n == 0 {
			return nil, nil // a zero code sends an empty response, as Request.Fault does
		}
		return nil, fault.New(fault.Code(n), text)
	case "context":
		var b strings.Builder
		for _, k := range strings.Split(strings.TrimRight(string(req.Data()), "\n"), "\n") {
			v, ok, err := value(req, k)
			if err != nil {
				return nil, err
			}
			if ok {
				fmt.Fprintf(&b, "%s=%s\n", k, v)
			} else {
				fmt.Fprintf(&b, "%s!\n", k)
			}
		}
		return []byte(b.String()), nil
	case "key":
		return []byte(fmt.Sprintf("%s\n%s\n%d\n%s\n%s", key.Application, key.Function, key.Version,
			key.Serialization, key)), nil
	case "client":
		return []byte(req.ClientName()), nil
	case "flags":
		return []byte(fmt.Sprintf("noWait=%d keepAffinity=%d", b2i(req.NoWait()), b2i(req.KeepAffinity()))), nil
	case "pid":
		return []byte(fmt.Sprintf("%d:%d", os.Getpid(), served)), nil
	case "exit":
		code, _, _ := value(req, "exit.code")
		n, _ := strconv.Atoi(code)
		os.Exit(n)
	}
	return nil, fault.New(fault.UnknownFunction, "unknown function "+key.Function)
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
