// Command testCPULoop is a manager test service that burns CPU forever as
// soon as it starts, to exercise ulimit-cpu-milliseconds (RLIMIT_CPU): the
// kernel ends it with SIGXCPU and then SIGKILL.
package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/pluton-go/pluton/go/service"
)

var sink uint64

func main() {
	svc, err := service.New("testCPULoop")
	if err == nil {
		defer svc.Close()
	}
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGXCPU)
	go func() {
		<-c
		fmt.Fprintln(os.Stderr, "testCPULoop: SIGXCPU")
	}()
	for i := uint64(0); ; i++ {
		sink += i * i
	}
}
