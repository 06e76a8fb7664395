package logging

import (
	"sync"
	"unicode/utf8"
)

// The bounds of a Tail: it keeps at least TailMinLines lines whatever their
// length, since a line is cut to TailLineBytes and TailMinLines of those fit
// in TailBytes.
const (
	TailMaxLines  = 40   // the most lines kept
	TailMinLines  = 20   // lines always kept (when written)
	TailBytes     = 8192 // the most bytes kept, all lines together
	TailLineBytes = 400  // a longer line is cut, and ends in "..."
)

// Tail keeps the last lines an instance wrote to its stderr, bounded in
// count and bytes, so that the manager can show why an instance died. It is
// safe for concurrent use; the zero value is empty and ready.
type Tail struct {
	mu    sync.Mutex
	lines []string
	size  int
}

// Add appends a line, dropping the oldest lines beyond the bounds.
func (t *Tail) Add(line string) {
	if len(line) > TailLineBytes {
		cut := TailLineBytes - 3
		for cut > 0 && !utf8.RuneStart(line[cut]) {
			cut--
		}
		line = line[:cut] + "..."
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.lines = append(t.lines, line)
	t.size += len(line)
	drop := 0
	for len(t.lines)-drop > TailMaxLines || t.size > TailBytes {
		t.size -= len(t.lines[drop])
		drop++
	}
	if drop > 0 {
		t.lines = append(t.lines[:0], t.lines[drop:]...)
	}
}

// Lines returns a copy of the lines kept, oldest first; nil if none.
func (t *Tail) Lines() []string {
	if t == nil {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.lines) == 0 {
		return nil
	}
	return append([]string(nil), t.lines...)
}

// Last returns the last line kept, "" if none.
func (t *Tail) Last() string {
	if t == nil {
		return ""
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.lines) == 0 {
		return ""
	}
	return t.lines[len(t.lines)-1]
}
