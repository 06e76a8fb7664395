package coord

import (
	"context"
	"log/slog"
)

// EventHandler is a slog.Handler that hands each record at or above its
// level to emit as a message and key-value pairs (the manager's
// logging.Logger.Event), so the server's lines join the manager's log.
type EventHandler struct {
	Emit  func(msg string, args ...any)
	Level slog.Level
	attrs []any
}

// Enabled reports whether records of the level are emitted.
func (h *EventHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.Level }

// Handle emits one record.
func (h *EventHandler) Handle(_ context.Context, r slog.Record) error {
	args := append([]any(nil), h.attrs...)
	r.Attrs(func(a slog.Attr) bool {
		args = append(args, a.Key, a.Value.Any())
		return true
	})
	h.Emit(r.Message, args...)
	return nil
}

// WithAttrs returns a handler that adds attrs to every record.
func (h *EventHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	n := *h
	n.attrs = append([]any(nil), h.attrs...)
	for _, a := range attrs {
		n.attrs = append(n.attrs, a.Key, a.Value.Any())
	}
	return &n
}

// WithGroup returns the handler itself: the server uses no groups.
func (h *EventHandler) WithGroup(string) slog.Handler { return h }
