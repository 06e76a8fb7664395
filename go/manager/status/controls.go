package status

import (
	"context"
	"net"
	"net/http"
	"time"

	"github.com/pluton-go/pluton/go/manager/pool"
)

// ControlRecord says how a service came to be held or halted: the action,
// when, and by whom. The manager keeps these records across reloads and
// restarts (docs/manager.md, "Pool control").
type ControlRecord struct {
	Action string    `json:"action"` // "hold" or "halt"
	At     time.Time `json:"at"`
	By     string    `json:"by"` // "status API <remote address>", "plutonManager --clear-halt", …
}

// ControlReporter is implemented by a Controller that keeps ControlRecords;
// the services views then carry each service's record as "control".
type ControlReporter interface {
	Controls(ctx context.Context) (map[string]ControlRecord, error)
}

type actorKey struct{}

// WithActor returns ctx carrying who asks for a control, for the record.
func WithActor(ctx context.Context, by string) context.Context {
	return context.WithValue(ctx, actorKey{}, by)
}

// ActorFrom returns the actor WithActor put in ctx, "" if none.
func ActorFrom(ctx context.Context) string {
	by, _ := ctx.Value(actorKey{}).(string)
	return by
}

// requestActor describes the sender of r: "status API <address>" with the
// client's TCP address, or the Unix socket it came in on.
func requestActor(r *http.Request) string {
	if local, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		if _, unix := local.(*net.UnixAddr); unix {
			return "status API unix:" + local.String()
		}
	}
	return "status API " + r.RemoteAddr
}

// serviceView is a service's status with its control record, if any.
type serviceView struct {
	pool.ServiceStatus
	Control *ControlRecord `json:"control,omitempty"`
}

// withControls adds the control records of c, if it keeps them, to the
// services.
func withControls(ctx context.Context, c Controller, svcs []pool.ServiceStatus) []serviceView {
	var recs map[string]ControlRecord
	if cr, ok := c.(ControlReporter); ok {
		recs, _ = cr.Controls(ctx)
	}
	out := make([]serviceView, len(svcs))
	for i, s := range svcs {
		out[i].ServiceStatus = s
		if rec, ok := recs[s.Key]; ok {
			out[i].Control = &rec
		}
	}
	return out
}
