// Command gen writes the tables generated from spec/pluton.json (see package
// spec). It runs from go generate ./go/internal/spec, or from anywhere in the
// repository:
//
//	go run ./go/internal/spec/gen [-check]
//
// With -check it writes nothing and exits 1 if a generated file is stale.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/pluton-go/pluton/go/internal/spec"
)

func main() {
	check := flag.Bool("check", false, "report stale files instead of writing them")
	flag.Parse()
	if err := run(*check); err != nil {
		fmt.Fprintf(os.Stderr, "spec gen: %v\n", err)
		os.Exit(1)
	}
}

func run(check bool) error {
	root, err := spec.FindRoot(".")
	if err != nil {
		return err
	}
	s, err := spec.Load(filepath.Join(root, spec.File))
	if err != nil {
		return err
	}
	files, err := s.Render()
	if err != nil {
		return err
	}
	paths := make([]string, 0, len(files))
	for p := range files {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	var stale []string
	for _, p := range paths {
		full := filepath.Join(root, p)
		old, _ := os.ReadFile(full)
		if bytes.Equal(old, files[p]) {
			continue
		}
		if check {
			stale = append(stale, p)
			continue
		}
		if err := os.WriteFile(full, files[p], 0o644); err != nil {
			return err
		}
		fmt.Println("wrote", p)
	}
	if len(stale) > 0 {
		return fmt.Errorf("stale (run go generate ./go/internal/spec): %v", stale)
	}
	return nil
}
