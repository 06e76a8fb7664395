// Package logging writes the manager's log through log/slog: one event per
// line, in one of three formats (Format): text with a timestamp (the
// default of plutonManager), plain text with no timestamp (the original's
// lines, for a supervisor that adds its own), or JSON, one object per line.
// The message of every line is the original's text, so its greppable
// fragments ("Child Exit:", "Config Error:", "Manager ready:", "FATAL:")
// stay; structured attributes (pid, service, uptime...) follow it.
//
// Some lines are always written; the others belong to a category that the
// -l option turns on. Independently, debug flags (-d) send detailed traces
// of the manager's code paths to a second writer (stderr), each line
// prefixed "sec.usec:  <flag>: " as the original's.
package logging

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"
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

	// Always marks a line that is written whatever -l says; the category it
	// is combined with still names the line (the JSON "category" field and
	// the -d flag that traces it). Process start and exit lines are
	// Always|ProcessStart and Always|ProcessExit.
	Always Category = 1 << 31
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

// Format is how log lines are written.
type Format int

// The log formats.
const (
	// Text is "<time> <message> key=value ...", the time in RFC 3339 with
	// milliseconds.
	Text Format = iota
	// Plain is Text without the time: the original's lines.
	Plain
	// JSON is one object per line: time, level, msg, category (for the
	// lines of a -l category) and the attributes.
	JSON
)

// ParseFormat returns the format named s: text, plain or json.
func ParseFormat(s string) (Format, error) {
	switch strings.ToLower(s) {
	case "text":
		return Text, nil
	case "plain":
		return Plain, nil
	case "json":
		return JSON, nil
	}
	return 0, fmt.Errorf("unknown log format %q (want text, plain or json)", s)
}

// String returns the format's name.
func (f Format) String() string {
	switch f {
	case Plain:
		return "plain"
	case JSON:
		return "json"
	}
	return "text"
}

// LevelFatal is the level of the FATAL lines, above slog.LevelError.
const LevelFatal = slog.LevelError + 4

// Options configure a Logger.
type Options struct {
	Format     Format
	Categories Category  // the -l categories on
	Debug      DebugFlag // the -d flags on
	DebugOut   io.Writer // where debug lines go; nil: nowhere
	// Now returns the time of each line; nil: time.Now.
	Now func() time.Time
}

// Logger writes whole lines to one writer; it is safe for concurrent use.
// Each line is written with a single Write, so lines never interleave.
type Logger struct {
	h      slog.Handler
	format Format
	cats   atomic.Uint32
	debug  atomic.Uint32
	now    func() time.Time

	dmu  sync.Mutex
	dout io.Writer
	dbuf []byte
}

// New returns a Logger writing plain lines (no timestamp) to w with the
// categories cats enabled.
func New(w io.Writer, cats Category) *Logger {
	return NewWith(w, Options{Format: Plain, Categories: cats})
}

// NewWith returns a Logger writing to w as o says.
func NewWith(w io.Writer, o Options) *Logger {
	l := &Logger{format: o.Format, now: o.Now, dout: o.DebugOut}
	if l.now == nil {
		l.now = time.Now
	}
	switch o.Format {
	case JSON:
		l.h = slog.NewJSONHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug, ReplaceAttr: fatalName})
	default:
		l.h = newTextHandler(w, o.Format == Text)
	}
	l.cats.Store(uint32(o.Categories))
	l.debug.Store(uint32(o.Debug))
	return l
}

// fatalName names LevelFatal "FATAL" in JSON output.
func fatalName(groups []string, a slog.Attr) slog.Attr {
	if a.Key == slog.LevelKey && len(groups) == 0 {
		if lv, ok := a.Value.Any().(slog.Level); ok && lv == LevelFatal {
			a.Value = slog.StringValue("FATAL")
		}
	}
	return a
}

// Format returns the Logger's format.
func (l *Logger) Format() Format { return l.format }

// Enabled reports whether any category of c is on; always true for c
// with Always.
func (l *Logger) Enabled(c Category) bool { return c&Always != 0 || Category(l.cats.Load())&c != 0 }

// Categories returns the enabled categories.
func (l *Logger) Categories() Category { return Category(l.cats.Load()) }

// SetCategories replaces the enabled categories.
func (l *Logger) SetCategories(c Category) { l.cats.Store(uint32(c)) }

// Printf writes one line, always. Its level is taken from the message: FATAL
// for "FATAL...", error for "<...> Error: ...", warning for "<...> Warning:
// ..." and "Child Exit: abnormal", else info.
func (l *Logger) Printf(format string, args ...any) {
	l.write(0, fmt.Sprintf(format, args...), nil)
}

// Logf writes one line if category c is enabled; when the debug flag that
// covers c is on (DebugFlagOf), the line also goes to the debug output.
func (l *Logger) Logf(c Category, format string, args ...any) {
	on, dbg := l.Enabled(c), l.Debugging(DebugFlagOf(c))
	if !on && !dbg {
		return
	}
	msg := fmt.Sprintf(format, args...)
	if on {
		l.write(c, msg, nil)
	}
	if dbg {
		l.debugLine(DebugFlagOf(c), msg)
	}
}

// Event writes msg followed by attributes, given as slog key-value pairs or
// slog.Attr values, if category c is enabled, or always when c is 0. Its
// level is taken from msg as Printf's.
func (l *Logger) Event(c Category, msg string, args ...any) {
	on := c == 0 || l.Enabled(c)
	dbg := c != 0 && l.Debugging(DebugFlagOf(c))
	if !on && !dbg {
		return
	}
	if on {
		l.write(c, msg, args)
	}
	if dbg {
		r := slog.NewRecord(time.Time{}, slog.LevelInfo, msg, 0)
		r.Add(args...)
		var b []byte
		b = appendMessage(b, &r, nil)
		l.debugLine(DebugFlagOf(c), string(b))
	}
}

func (l *Logger) write(c Category, msg string, args []any) {
	r := slog.NewRecord(l.now(), levelOf(msg), msg, 0)
	if c&^Always != 0 && l.format == JSON {
		r.AddAttrs(slog.String("category", c.String()))
	}
	if len(args) > 0 {
		r.Add(args...)
	}
	_ = l.h.Handle(context.Background(), r)
}

// levelOf infers a line's level from the original's wording.
func levelOf(msg string) slog.Level {
	if strings.HasPrefix(msg, "FATAL") {
		return LevelFatal
	}
	if strings.HasPrefix(msg, "Child Exit: abnormal") {
		return slog.LevelWarn
	}
	head := msg
	if i := strings.IndexByte(msg, ':'); i >= 0 {
		head = msg[:i]
	}
	switch {
	case strings.Contains(head, "Error"):
		return slog.LevelError
	case strings.Contains(head, "Warning"):
		return slog.LevelWarn
	}
	return slog.LevelInfo
}
