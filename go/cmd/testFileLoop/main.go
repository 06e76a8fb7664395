// Command testFileLoop is a manager test service that opens /dev/null until
// it runs out of descriptors (ulimit-open-files, RLIMIT_NOFILE), writes
// "testFileLoop: opened N files: <error>" to stderr, then serves echo.
package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/pluton-go/pluton/go/service"
)

func main() {
	svc, err := service.New("testFileLoop")
	if err != nil {
		fmt.Fprintf(os.Stderr, "testFileLoop: %v\n", err)
		os.Exit(42)
	}
	defer svc.Close()
	var files []*os.File
	var openErr error
	for len(files) < 100000 {
		f, err := os.Open(os.DevNull)
		if err != nil {
			openErr = err
			break
		}
		files = append(files, f)
	}
	fmt.Fprintf(os.Stderr, "testFileLoop: opened %d files: %v\n", len(files), openErr)
	for _, f := range files {
		f.Close()
	}
	for {
		req, err := svc.Next()
		if errors.Is(err, service.ErrStop) || err != nil {
			return
		}
		_ = req.Respond(req.Data())
	}
}
