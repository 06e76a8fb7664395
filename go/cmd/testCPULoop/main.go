// Command testCPULoop is a manager test service for ulimit-cpu-milliseconds
// (RLIMIT_CPU), like the original's cpuLoop: it takes a request and then
// burns CPU forever without answering it. It does not catch SIGXCPU: the
// kernel's default action applies, so at the soft limit the instance dies
// of SIGXCPU (and of SIGKILL at the hard limit, should SIGXCPU be blocked).
//
// With the argument "start" it burns CPU at once, without waiting for a
// request (for a pool started with prestart-processes).
package main

import (
	"fmt"
	"os"
	"syscall"
	"unsafe"

	"github.com/pluton-go/pluton/go/service"
)

//lint:ignore U1000 written only, so that the CPU-burn loop is not optimized away
var sink uint64

func main() {
	// The Go runtime ignores SIGXCPU unless a program asks for it
	// (signal.Notify); put the kernel's default action back, as a C
	// program has it.
	if err := defaultAction(syscall.SIGXCPU); err != nil {
		fmt.Fprintf(os.Stderr, "testCPULoop: %v\n", err)
		os.Exit(1)
	}
	svc, err := service.New("testCPULoop")
	if err != nil {
		fmt.Fprintf(os.Stderr, "testCPULoop: %v\n", err)
		os.Exit(42)
	}
	defer svc.Close()
	if len(os.Args) < 2 || os.Args[1] != "start" {
		req, err := svc.Next()
		if err != nil {
			fmt.Fprintf(os.Stderr, "testCPULoop: %v\n", err)
			return
		}
		fmt.Fprintf(os.Stderr, "testCPULoop: looping on request %d\n", req.ID())
	}
	for i := uint64(0); ; i++ {
		sink += i * i
	}
}

// defaultAction sets sig's disposition to SIG_DFL with rt_sigaction(2). A
// zero struct sigaction is SIG_DFL with no flags and an empty mask on every
// architecture.
func defaultAction(sig syscall.Signal) error {
	var act [64]byte
	const sigsetSize = 8
	_, _, errno := syscall.RawSyscall6(syscall.SYS_RT_SIGACTION, uintptr(sig), uintptr(unsafe.Pointer(&act[0])), 0, sigsetSize, 0, 0)
	if errno != 0 {
		return fmt.Errorf("rt_sigaction(%v, SIG_DFL): %w", sig, errno)
	}
	return nil
}
