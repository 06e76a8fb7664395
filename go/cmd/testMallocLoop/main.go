// Command testMallocLoop is a manager test service that allocates memory in
// 1 MB steps until the allocation fails (ulimit-data-memory, RLIMIT_DATA),
// writing its progress to stderr every 16 MB. The Go runtime then aborts
// with "fatal error: runtime: out of memory" and exit status 2.
//
// The Go runtime itself needs a data limit of about 64 MB to start (it
// reserves its heap arena map at start; below that it aborts with "out of
// memory allocating heap arena map" before main). For smaller limits, such
// as the original's 1 MB tests, use the C version in
// testdata/mallocLoop.c, which needs only libc: its malloc fails and it
// exits 1 with "testMallocLoop: malloc failed after N MB: Cannot allocate
// memory". The tests build it with cc.
package main

import (
	"fmt"
	"os"

	"github.com/pluton-go/pluton/go/service"
)

var keep [][]byte

func main() {
	svc, err := service.New("testMallocLoop")
	if err == nil {
		defer svc.Close()
	}
	for mb := 1; mb <= 1<<16; mb++ {
		b := make([]byte, 1<<20)
		for i := 0; i < len(b); i += 4096 {
			b[i] = 1
		}
		keep = append(keep, b)
		if mb%16 == 0 {
			fmt.Fprintf(os.Stderr, "testMallocLoop: %d MB\n", mb)
		}
	}
}
