package logging

import (
	"context"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// TimeFormat is the timestamp of the Text format: RFC 3339 with milliseconds.
const TimeFormat = "2006-01-02T15:04:05.000Z07:00"

// maxBuffer is the largest line buffer kept between lines.
const maxBuffer = 64 << 10

// textHandler is the slog.Handler of the Text and Plain formats:
// "[<time> ]<message>[ key=value ...]\n", each line one Write.
type textHandler struct {
	mu    *sync.Mutex
	w     io.Writer
	stamp bool
	buf   *[]byte
	attrs []slog.Attr // from WithAttrs, already prefixed by their groups
	group string      // from WithGroup: "a.b."
}

// newTextHandler returns a handler writing to w; the mutex and the line
// buffer are shared by the handlers derived from it (WithAttrs, WithGroup).
func newTextHandler(w io.Writer, stamp bool) *textHandler {
	return &textHandler{mu: new(sync.Mutex), w: w, stamp: stamp, buf: new([]byte)}
}

// Enabled reports true: the Logger decides what is written.
func (h *textHandler) Enabled(context.Context, slog.Level) bool { return true }

// Handle writes one line.
func (h *textHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	b := (*h.buf)[:0]
	if h.stamp && !r.Time.IsZero() {
		b = r.Time.AppendFormat(b, TimeFormat)
		b = append(b, ' ')
	}
	b = appendMessage(b, &r, h)
	b = append(b, '\n')
	_, err := h.w.Write(b)
	if cap(b) > maxBuffer {
		b = nil
	}
	*h.buf = b
	return err
}

// appendMessage appends the record's message and attributes (those of h
// first, if h is not nil) as "msg k=v k=v".
func appendMessage(b []byte, r *slog.Record, h *textHandler) []byte {
	msg := r.Message
	if strings.ContainsAny(msg, "\n\r") { // one event, one line
		msg = strings.NewReplacer("\n", `\n`, "\r", `\r`).Replace(msg)
	}
	b = append(b, msg...)
	prefix := ""
	if h != nil {
		for _, a := range h.attrs {
			b = appendAttr(b, "", a)
		}
		prefix = h.group
	}
	r.Attrs(func(a slog.Attr) bool {
		b = appendAttr(b, prefix, a)
		return true
	})
	return b
}

func appendAttr(b []byte, prefix string, a slog.Attr) []byte {
	a.Value = a.Value.Resolve()
	if a.Equal(slog.Attr{}) {
		return b
	}
	if a.Value.Kind() == slog.KindGroup {
		p := prefix
		if a.Key != "" {
			p += a.Key + "."
		}
		for _, g := range a.Value.Group() {
			b = appendAttr(b, p, g)
		}
		return b
	}
	b = append(b, ' ')
	b = append(b, prefix...)
	b = append(b, a.Key...)
	b = append(b, '=')
	var s string
	switch a.Value.Kind() {
	case slog.KindString:
		s = a.Value.String()
	case slog.KindDuration:
		s = a.Value.Duration().Round(time.Millisecond).String()
	case slog.KindTime:
		s = a.Value.Time().Format(TimeFormat)
	default:
		s = a.Value.String()
	}
	if needsQuote(s) {
		return strconv.AppendQuote(b, s)
	}
	return append(b, s...)
}

func needsQuote(s string) bool {
	if s == "" {
		return true
	}
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c <= ' ' || c == '"' || c == '=' || c == '\\' || c == 0x7f {
				return true
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError {
			return true
		}
		i += n
	}
	return false
}

// WithAttrs returns a handler that writes attrs on every line.
func (h *textHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	h2 := *h
	h2.attrs = append([]slog.Attr(nil), h.attrs...)
	for _, a := range attrs {
		if h.group != "" {
			a = slog.Attr{Key: h.group[:len(h.group)-1], Value: slog.GroupValue(a)}
		}
		h2.attrs = append(h2.attrs, a)
	}
	return &h2
}

// WithGroup returns a handler that prefixes later attribute keys with name.
func (h *textHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	h2 := *h
	h2.group = h.group + name + "."
	return &h2
}
