package pool

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pluton-go/pluton/go/manager/logging"
)

// Repeated log lines are summarized so that a crash loop, a flood of
// refused starts or a service writing the same stderr line in every
// instance cannot make the log grow without bound: a line whose template
// (the line with its numbers taken out, see numbersOut) has been written
// repeatFree times within
// repeatWindow is held back, and every repeatWindow the last one held back
// is written once with " ... repeated N times" appended. A template quiet
// for a whole window starts afresh.
const (
	repeatFree   = 5
	repeatWindow = 30 * time.Second
	maxTemplates = 256 // the most templates tracked per service
)

type repeatEntry struct {
	cat       logging.Category
	windowEnd time.Time
	written   int    // lines written in this window
	held      int    // lines held back since the last summary
	last      string // the last line held back
}

// lineLimiter applies the rule above to one service's lines. It is safe for
// concurrent use: stderr lines arrive from reader goroutines.
type lineLimiter struct {
	log    *logging.Logger
	streak atomic.Bool // the service is in a crash streak: its instances' lines are summarized too
	mu     sync.Mutex
	m      map[string]*repeatEntry
	now    func() time.Time
}

func newLineLimiter(log *logging.Logger) *lineLimiter {
	return &lineLimiter{log: log, m: make(map[string]*repeatEntry), now: time.Now}
}

// logf writes the line (formatted) in category cat (0: always) unless its
// template has been written too often lately.
func (l *lineLimiter) logf(cat logging.Category, template, format string, args ...any) {
	if cat != 0 && !l.log.Enabled(cat) {
		if l.log.Debugging(logging.DebugFlagOf(cat)) {
			l.log.Event(cat, fmt.Sprintf(format, args...)) // the -d trace only
		}
		return
	}
	l.event(cat, template, fmt.Sprintf(format, args...))
}

// lifeLogf is logf for the lines of an instance's life (Process Start,
// Child Exit, Usage, Process Exit and its stderr lines): they are
// summarized only while the service is in a crash streak, so that every
// start and exit of a healthy service (a scale-up, recycles) is logged.
func (l *lineLimiter) lifeLogf(cat logging.Category, template, format string, args ...any) {
	if l.streak.Load() {
		l.logf(cat, template, format, args...)
		return
	}
	if cat != 0 && !l.log.Enabled(cat) {
		if l.log.Debugging(logging.DebugFlagOf(cat)) {
			l.log.Event(cat, fmt.Sprintf(format, args...)) // the -d trace only
		}
		return
	}
	l.log.Event(cat, fmt.Sprintf(format, args...))
}

// lifeEvent is event for the lines of an instance's life (see lifeLogf).
func (l *lineLimiter) lifeEvent(cat logging.Category, template, line string, attrs ...any) bool {
	if l.streak.Load() {
		return l.event(cat, template, line, attrs...)
	}
	l.log.Event(cat, line, attrs...)
	return cat == 0 || l.log.Enabled(cat)
}

// event is logf with the line already formatted and structured attributes
// (slog key-value pairs) after it. It reports whether the line was written
// (not held back).
func (l *lineLimiter) event(cat logging.Category, template, line string, attrs ...any) bool {
	if cat != 0 && !l.log.Enabled(cat) {
		l.log.Event(cat, line, attrs...) // the -d trace, if on
		return false
	}
	template = numbersOut(template)
	now := l.now()
	l.mu.Lock()
	e := l.m[template]
	switch {
	case e != nil && !now.Before(e.windowEnd) && e.held > 0:
		l.writeSummary(e) // still repeating: keep holding back
		e.windowEnd = now.Add(repeatWindow)
	case e == nil || !now.Before(e.windowEnd):
		if e == nil && len(l.m) >= maxTemplates {
			l.flushLocked(now, true)
		}
		e = &repeatEntry{cat: cat, windowEnd: now.Add(repeatWindow)}
		l.m[template] = e
	}
	if e.written < repeatFree {
		e.written++
		l.mu.Unlock()
		l.log.Event(cat, line, attrs...)
		return true
	}
	e.held++
	e.last = line
	l.mu.Unlock()
	return false
}

func (l *lineLimiter) writeSummary(e *repeatEntry) {
	l.log.Printf("%s ... repeated %d times", e.last, e.held)
	e.held, e.last = 0, ""
}

// flush writes the summaries of the windows that have ended and forgets
// the templates that were quiet for a whole window. The manager's loop
// calls it at every sample.
func (l *lineLimiter) flush(now time.Time) {
	l.mu.Lock()
	l.flushLocked(now, false)
	l.mu.Unlock()
}

func (l *lineLimiter) flushLocked(now time.Time, all bool) {
	for k, e := range l.m {
		if !all && now.Before(e.windowEnd) {
			continue
		}
		if e.held > 0 {
			// The window ended with lines held back: summarize, and keep
			// holding back in the next window (the loop is still going).
			l.writeSummary(e)
			e.windowEnd = now.Add(repeatWindow)
			if !all {
				continue
			}
		}
		delete(l.m, k)
	}
}

// flushAll writes every pending summary (the service is ending).
func (l *lineLimiter) flushAll() {
	l.mu.Lock()
	l.flushLocked(l.now(), true)
	l.mu.Unlock()
}

// numbersOut replaces every run of digits by '#', so that lines that differ
// only in their numbers (a request id, a pid, a duration) are repeats of one
// template.
func numbersOut(s string) string {
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			b = append(b, c)
			continue
		}
		if len(b) == 0 || b[len(b)-1] != '#' {
			b = append(b, '#')
		}
	}
	return string(b)
}
