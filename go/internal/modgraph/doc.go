// Package modgraph holds a test of the library's module graph: a program
// that imports only go/client must not pull in the benchmark tools'
// dependencies (plotting, FastCGI), which live in tools/bench/go.mod.
package modgraph
