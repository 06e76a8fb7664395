package manager

import (
	"context"
	"fmt"
	"strings"

	"github.com/pluton-go/pluton/go/manager/logging"
	"github.com/pluton-go/pluton/go/manager/status"
)

// ChangeLogging applies the items of log to cats and those of debug to
// flags: "+name" or a bare name turns a category (or group) on, "-name"
// turns it off, "none" turns every one off; items may also be comma
// separated. An unknown name is an error wrapping status.ErrBadRequest
// that lists the valid ones.
func ChangeLogging(cats logging.Category, flags logging.DebugFlag, log, debug []string) (logging.Category, logging.DebugFlag, error) {
	for _, item := range splitItems(log) {
		on, name := parseItem(item)
		if strings.EqualFold(name, "none") {
			cats = 0
			continue
		}
		c, err := logging.ParseCategory(name)
		if err != nil {
			return 0, 0, fmt.Errorf("%w: unknown logging flag %q (want one of %s, or none)", status.ErrBadRequest,
				name, strings.Join(logging.CategoryNames(), " "))
		}
		if on {
			cats |= c
		} else {
			cats &^= c
		}
	}
	for _, item := range splitItems(debug) {
		on, name := parseItem(item)
		if strings.EqualFold(name, "none") {
			flags = 0
			continue
		}
		f, err := logging.ParseDebugFlag(name)
		if err != nil {
			return 0, 0, fmt.Errorf("%w: unknown debug flag %q (want one of %s, or none)", status.ErrBadRequest,
				name, strings.Join(logging.DebugFlagNames(), " "))
		}
		if on {
			flags |= f
		} else {
			flags &^= f
		}
	}
	return cats, flags, nil
}

func splitItems(items []string) []string {
	var out []string
	for _, it := range items {
		for _, p := range strings.Split(it, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}

func parseItem(item string) (on bool, name string) {
	switch item[0] {
	case '+':
		return true, item[1:]
	case '-':
		return false, item[1:]
	}
	return true, item
}

func logState(l *logging.Logger) status.LogState {
	words := func(s string) []string {
		if s == "" {
			return []string{}
		}
		return strings.Fields(s)
	}
	return status.LogState{Categories: words(l.Categories().String()), Debug: words(l.DebugFlags().String()),
		KnownCategories: logging.CategoryNames(), KnownDebug: logging.DebugFlagNames()}
}

// Logging implements status.LogController: the log categories and debug
// flags in force.
func (m *Manager) Logging(ctx context.Context) (status.LogState, error) {
	var st status.LogState
	err := m.do(ctx, func() { st = logState(m.log) })
	return st, err
}

// SetLogging implements status.LogController: it changes the log
// categories and debug flags of the running manager and logs
// "Manager Logging: categories=<…> debug=<…> (was …; by <by>)".
func (m *Manager) SetLogging(ctx context.Context, change status.LogChange, by string) (status.LogState, error) {
	var st status.LogState
	var cerr error
	err := m.do(ctx, func() {
		oldC, oldD := m.log.Categories(), m.log.DebugFlags()
		c, d, err := ChangeLogging(oldC, oldD, change.Log, change.Debug)
		if err != nil {
			cerr = err
			return
		}
		m.log.SetCategories(c)
		m.log.SetDebug(d)
		m.log.Printf("Manager Logging: categories=%s debug=%s (was categories=%s debug=%s; by %s)",
			orNone(c.String()), orNone(d.String()), orNone(oldC.String()), orNone(oldD.String()), by)
		st = logState(m.log)
	})
	if err == nil {
		err = cerr
	}
	return st, err
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return strings.ReplaceAll(s, " ", ",")
}
