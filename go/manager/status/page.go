package status

import (
	"bytes"
	"context"
	"crypto/rand"
	_ "embed"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html/template"
	"math"
	"net/http"
	"strings"
)

//go:embed page.html
var pageSource string

// pageFormat writes numbers as the page's script does: an en dash for none.
var pageFormat = Format{Missing: "–", UnitSep: " ", NoRestarts: "–"}

// pageTemplate is the status page. Its functions format as the page's
// script does, so a refresh changes only what changed.
var pageTemplate = template.Must(template.New("page").Funcs(template.FuncMap{
	"uptime":     FormatUptime,
	"seconds":    pageFormat.Seconds,
	"rate":       pageFormat.Rate,
	"percent":    func(v float64) string { return fmt.Sprintf("%d%%", int(math.Round(v*100))) },
	"restarts":   pageFormat.Restarts,
	"stateClass": stateClass,
	"stateText":  stateText,
	"procState":  ProcessState,
	"instances":  func(s ServiceView) string { return InstancesText(s.ServiceStatus) },
	"notes":      notes,
	"lines":      func(l []string) string { return strings.Join(l, "\n") },
}).Parse(pageSource))

// pageData is what the template renders.
type pageData struct {
	Overview
	Remote *pageRemote // nil: the manager runs without -N
	Nonce  string
}

// pageRemote is the part of GET /remote (docs/remote.md) the page shows:
// the NATS connection and, per job class, its counts.
type pageRemote struct {
	URL      string    `json:"url"`
	Host     string    `json:"host"`
	Status   string    `json:"status"`
	Exported []string  `json:"exported"`
	Jobs     []pageJob `json:"jobs"`
}

// pageJob is one job class's counts, as GET /remote has them.
type pageJob struct {
	Key         string `json:"key"`
	State       string `json:"state"`
	Workers     int    `json:"workers"`
	Queued      uint64 `json:"queued"`
	InFlight    int    `json:"inFlight"`
	Running     int64  `json:"running"`
	Done        int64  `json:"done"`
	Failed      int64  `json:"failed"`
	Redelivered int64  `json:"redelivered"`
	Duplicates  int64  `json:"duplicates"`
	Error       string `json:"error,omitempty"`
}

// remoteForPage returns what GET /remote returns, read for the page; nil
// when the controller has no remote status (no -N) or it cannot be read.
func remoteForPage(ctx context.Context, c Controller) *pageRemote {
	rc, ok := c.(interface{ RemoteStatus(context.Context) any })
	if !ok {
		return nil
	}
	v := rc.RemoteStatus(ctx)
	if v == nil {
		return nil
	}
	b, err := json.Marshal(v)
	if err != nil || string(b) == "null" {
		return nil
	}
	var r pageRemote
	if err := json.Unmarshal(b, &r); err != nil {
		return nil
	}
	return &r
}

// servePage writes the status page: the overview (and, with -N, the job
// classes of GET /remote) rendered on the server, with a script (allowed by
// a per-response nonce) that refreshes it from GET /overview and GET
// /remote and sends the controls.
func servePage(w http.ResponseWriter, ov Overview, remote *pageRemote) {
	var nonce [16]byte
	_, _ = rand.Read(nonce[:])
	d := pageData{Overview: ov, Remote: remote, Nonce: base64.StdEncoding.EncodeToString(nonce[:])}
	var b bytes.Buffer
	if err := pageTemplate.Execute(&b, d); err != nil {
		replyCode(w, http.StatusInternalServerError, map[string]string{"error": "status page: " + err.Error()})
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	// Nothing from elsewhere, no framing (the buttons cannot be clickjacked),
	// requests only to this server.
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'nonce-"+d.Nonce+"'; style-src 'nonce-"+d.Nonce+
		"'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	_, _ = w.Write(b.Bytes())
}

// stateClass is the row class that colours a service's state.
func stateClass(s ServiceView) string {
	switch {
	case s.Halted:
		return "halted"
	case s.Held:
		return "held"
	case s.Backoff != nil:
		return "backoff"
	case strings.Contains(s.Rollout, "failed"):
		return "failed"
	}
	return ""
}

// stateText says whether a service is serving, held, halted or backed off.
func stateText(s ServiceView) string {
	var parts []string
	if s.Halted {
		parts = append(parts, "halted")
	}
	if s.Held {
		parts = append(parts, "held")
	}
	if s.Backoff != nil {
		parts = append(parts, fmt.Sprintf("backoff %.1f s: %s", s.Backoff.RemainingSeconds, s.Backoff.Reason))
	}
	if s.Rollout != "" {
		if strings.Contains(s.Rollout, "failed") {
			parts = append(parts, "rollout failed")
		} else {
			parts = append(parts, "rollout")
		}
	}
	if len(parts) == 0 {
		return "serving"
	}
	return strings.Join(parts, ", ")
}

// note is one line under a service's row, with the stderr lines it quotes.
type note struct {
	Kind  string // rollout, unavailable, exit, crash
	Class string // bad, warn or ""
	Text  string
	Lines []string
}

// notes says what a person should know of a service beyond its row: a
// rollout in progress or failed, the fault its clients get while it cannot
// serve, its last abnormal exit with the stderr tail, the request its last
// instance died on.
func notes(s ServiceView) []note {
	var n []note
	if s.Rollout != "" {
		class := "warn"
		if strings.Contains(s.Rollout, "failed") {
			class = "bad"
		}
		n = append(n, note{Kind: "rollout", Class: class, Text: s.Rollout})
	}
	if s.Unavailable != "" {
		n = append(n, note{Kind: "unavailable", Class: "warn", Text: "clients are answered: " + s.Unavailable})
	}
	if x := s.LastAbnormalExit; x != nil {
		n = append(n, note{Kind: "exit", Text: AbnormalExitText(x), Lines: x.StderrTail})
	}
	if c := s.LastCrash; c != nil {
		t := CrashText(c)
		if c.RecorderFile != "" {
			t += " (recorded in " + c.RecorderFile + ")"
		}
		n = append(n, note{Kind: "crash", Text: t})
	}
	return n
}
