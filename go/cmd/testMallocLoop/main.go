// Command testMallocLoop is a manager test service that allocates memory in
// 1 MB steps until the allocation fails (ulimit-data-memory, RLIMIT_DATA),
// writing its progress to stderr every 16 MB. The Go runtime then aborts
// with "out of memory".
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
