// Package logging writes the manager's log: plain text lines, one event per
// line, with no timestamp (a supervisor such as daemontools' multilog adds
// one). Some lines are always written; the others belong to a category that
// the -l option turns on.
package logging

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
)

// Category is a set of optional log line kinds.
type Category uint32

// The log categories of the -l option (the original's names).
const (
	ProcessStart  Category = 1 << iota // Process Start: lines
	ProcessLog                         // Log: lines (each line a service writes to stderr)
	ProcessExit                        // Child Exit: normal lines, Process Exit: lines
	ProcessUsage                       // Usage: lines
	ServiceConfig                      // Config Loading/Removing/Scan lines and warnings
	ServiceStart                       // Service Ready: lines
	ServiceExit                        // Service Exit: lines
	Calibrate                          // Calibrate Up/Down/Idle lines

	// Process is the group of the four process categories.
	Process = ProcessStart | ProcessLog | ProcessExit | ProcessUsage
	// Service is the group of the three service categories.
	Service = ServiceConfig | ServiceStart | ServiceExit
	// All is every category.
	All = Process | Service | Calibrate
)

var names = []struct {
	name string
	c    Category
}{
	{"processStart", ProcessStart}, {"processLog", ProcessLog}, {"processExit", ProcessExit},
	{"processUsage", ProcessUsage}, {"serviceConfig", ServiceConfig}, {"serviceStart", ServiceStart},
	{"serviceExit", ServiceExit}, {"calibrate", Calibrate},
	{"process", Process}, {"service", Service}, {"all", All},
}

// ParseCategory returns the category or group named s (case-insensitive).
func ParseCategory(s string) (Category, error) {
	for _, n := range names {
		if strings.EqualFold(n.name, s) {
			return n.c, nil
		}
	}
	return 0, fmt.Errorf("unknown logging flag %q", s)
}

// CategoryNames returns the names ParseCategory accepts.
func CategoryNames() []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = n.name
	}
	return out
}

// String returns the names of the single categories in c, space separated.
func (c Category) String() string {
	var parts []string
	for _, n := range names[:8] {
		if c&n.c != 0 {
			parts = append(parts, n.name)
		}
	}
	return strings.Join(parts, " ")
}

// Logger writes whole lines to one writer; it is safe for concurrent use.
// Each line is written with a single Write, so lines never interleave.
type Logger struct {
	mu   sync.Mutex
	w    io.Writer
	buf  []byte
	cats atomic.Uint32
}

// New returns a Logger writing to w with the categories cats enabled.
func New(w io.Writer, cats Category) *Logger {
	l := &Logger{w: w}
	l.cats.Store(uint32(cats))
	return l
}

// Enabled reports whether any category of c is on.
func (l *Logger) Enabled(c Category) bool { return Category(l.cats.Load())&c != 0 }

// Categories returns the enabled categories.
func (l *Logger) Categories() Category { return Category(l.cats.Load()) }

// SetCategories replaces the enabled categories.
func (l *Logger) SetCategories(c Category) { l.cats.Store(uint32(c)) }

// Printf writes one line, always. A trailing newline is added.
func (l *Logger) Printf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = fmt.Appendf(l.buf[:0], format, args...)
	l.buf = append(l.buf, '\n')
	_, _ = l.w.Write(l.buf)
	if cap(l.buf) > 64<<10 {
		l.buf = nil
	}
}

// Logf writes one line if category c is enabled.
func (l *Logger) Logf(c Category, format string, args ...any) {
	if l.Enabled(c) {
		l.Printf(format, args...)
	}
}
