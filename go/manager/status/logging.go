package status

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
)

// LogState is the manager's log categories and debug flags, and the names
// it accepts (GET and POST /logging).
type LogState struct {
	Categories      []string `json:"categories"`
	Debug           []string `json:"debug"`
	KnownCategories []string `json:"knownCategories"`
	KnownDebug      []string `json:"knownDebug"`
}

// LogChange is the body of POST /logging: each item is "+name" (turn on),
// "-name" (turn off), a bare name (turn on) or "none" (turn every one off),
// applied in order. Names are those of -l and -d, case-insensitive,
// groups included.
type LogChange struct {
	Log   []string `json:"log"`
	Debug []string `json:"debug"`
}

// ErrBadRequest marks an error that is the request's fault (400).
var ErrBadRequest = errors.New("bad request")

// LogController is implemented by a Controller whose log can be changed
// while it runs; without it /logging answers 404.
type LogController interface {
	Logging(ctx context.Context) (LogState, error)
	// SetLogging applies change; by names who asks, for the log line.
	SetLogging(ctx context.Context, change LogChange, by string) (LogState, error)
}

// maxLogChange bounds the body of POST /logging.
const maxLogChange = 64 << 10

// handleLogging serves GET and POST /logging.
func handleLogging(c Controller, mux *http.ServeMux) {
	lc, ok := c.(LogController)
	notHere := func(w http.ResponseWriter) {
		replyCode(w, http.StatusNotFound, map[string]string{"error": "this manager's log cannot be changed while it runs"})
	}
	mux.HandleFunc("GET /logging", func(w http.ResponseWriter, r *http.Request) {
		if !ok {
			notHere(w)
			return
		}
		st, err := lc.Logging(r.Context())
		reply(w, st, err)
	})
	mux.HandleFunc("POST /logging", func(w http.ResponseWriter, r *http.Request) {
		if !ok {
			notHere(w)
			return
		}
		var ch LogChange
		body, err := io.ReadAll(io.LimitReader(r.Body, maxLogChange+1))
		switch {
		case err != nil:
			err = fmt.Errorf("%w: reading the body: %v", ErrBadRequest, err)
		case len(body) > maxLogChange:
			err = fmt.Errorf("%w: body larger than %d bytes", ErrBadRequest, maxLogChange)
		default:
			dec := json.NewDecoder(bytes.NewReader(body))
			dec.DisallowUnknownFields()
			if derr := dec.Decode(&ch); derr != nil {
				err = fmt.Errorf("%w: body: %v (want {\"log\": [\"+processStart\", \"-calibrate\"], \"debug\": [\"+child\"]})",
					ErrBadRequest, derr)
			}
		}
		if err == nil && len(ch.Log) == 0 && len(ch.Debug) == 0 {
			err = fmt.Errorf("%w: nothing to change: give \"log\" or \"debug\"", ErrBadRequest)
		}
		if err != nil {
			replyCode(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		st, err := lc.SetLogging(r.Context(), ch, requestActor(r))
		if errors.Is(err, ErrBadRequest) {
			replyCode(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		reply(w, st, err)
	})
}
