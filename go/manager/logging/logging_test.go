package logging

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var fixed = time.Date(2026, 12, 7, 21, 4, 5, 123456789, time.UTC)

func fixedNow() time.Time { return fixed }

func TestParseCategory(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want Category
	}{
		{"processStart", ProcessStart}, {"PROCESSLOG", ProcessLog}, {"process", Process},
		{"service", Service}, {"all", All}, {"calibrate", Calibrate},
	} {
		c, err := ParseCategory(tt.in)
		require.NoError(t, err, tt.in)
		assert.Equal(t, tt.want, c, tt.in)
	}
	_, err := ParseCategory("bogus")
	assert.ErrorContains(t, err, "bogus")
}

func TestLogger(t *testing.T) {
	var b bytes.Buffer
	l := New(&b, ProcessStart)
	l.Printf("Manager ready: Version %s", "1")
	l.Logf(ProcessStart, "Process Start: %s", "x")
	l.Logf(Calibrate, "Calibrate Up: %s", "y")
	l.SetCategories(All)
	l.Logf(Calibrate, "Calibrate Down")
	assert.Equal(t, "Manager ready: Version 1\nProcess Start: x\nCalibrate Down\n", b.String())
	assert.Equal(t, "processStart processLog processExit processUsage serviceConfig serviceStart serviceExit calibrate", All.String())
}

func TestFormats(t *testing.T) {
	emit := func(l *Logger) {
		l.Printf("Manager ready: Version %s", "1")
		l.Event(0, "Child Exit: abnormal system.echo.0.raw/0-42 exit(1)", "pid", 42, "service", "system.echo.0.raw",
			"uptime", 1500*time.Millisecond, "requests", 7, "status", "exit(1)")
		l.Event(Always|ProcessStart, "Process Start: system.echo.0.raw/0-43 (1 of 2)", "pid", 43)
		l.Event(Calibrate, "Calibrate Up: off") // category off: not written
		l.Printf("Config Error: x: %s", `say "hi"`)
	}
	t.Run("text", func(t *testing.T) {
		var b bytes.Buffer
		emit(NewWith(&b, Options{Format: Text, Now: fixedNow}))
		assert.Equal(t, "2026-12-07T21:04:05.123Z Manager ready: Version 1\n"+
			"2026-12-07T21:04:05.123Z Child Exit: abnormal system.echo.0.raw/0-42 exit(1) pid=42 service=system.echo.0.raw uptime=1.5s requests=7 status=exit(1)\n"+
			"2026-12-07T21:04:05.123Z Process Start: system.echo.0.raw/0-43 (1 of 2) pid=43\n"+
			`2026-12-07T21:04:05.123Z Config Error: x: say "hi"`+"\n", b.String())
	})
	t.Run("text has real timestamps by default", func(t *testing.T) {
		var b bytes.Buffer
		NewWith(&b, Options{}).Printf("Manager ready: Version 1")
		assert.Regexp(t, `^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}(Z|[+-]\d\d:\d\d) Manager ready: Version 1\n$`, b.String())
	})
	t.Run("plain", func(t *testing.T) {
		var b bytes.Buffer
		emit(NewWith(&b, Options{Format: Plain, Now: fixedNow}))
		lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
		require.Len(t, lines, 4)
		assert.Equal(t, "Manager ready: Version 1", lines[0])
		assert.Equal(t, "Process Start: system.echo.0.raw/0-43 (1 of 2) pid=43", lines[2])
	})
	t.Run("json", func(t *testing.T) {
		var b bytes.Buffer
		emit(NewWith(&b, Options{Format: JSON, Now: fixedNow}))
		lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
		require.Len(t, lines, 4)
		var recs []map[string]any
		for _, l := range lines {
			var m map[string]any
			require.NoError(t, json.Unmarshal([]byte(l), &m), l)
			recs = append(recs, m)
		}
		assert.Equal(t, "Manager ready: Version 1", recs[0]["msg"])
		assert.Equal(t, "INFO", recs[0]["level"])
		assert.Equal(t, "2026-12-07T21:04:05.123456789Z", recs[0]["time"])
		assert.Equal(t, "WARN", recs[1]["level"])
		assert.Equal(t, float64(42), recs[1]["pid"])
		assert.Equal(t, "exit(1)", recs[1]["status"])
		assert.Equal(t, "processStart", recs[2]["category"])
		assert.Equal(t, "ERROR", recs[3]["level"])
		assert.Equal(t, `Config Error: x: say "hi"`, recs[3]["msg"])
	})
}

func TestLevels(t *testing.T) {
	for msg, want := range map[string]string{
		"FATAL: Cannot continue":                 "FATAL",
		"Config Error: bad":                      "ERROR",
		"Service Error: k Start failed: x":       "ERROR",
		"Process Warning: k SIGKILL sent":        "WARN",
		"Warning: Cannot open Status Address: x": "WARN",
		"Child Exit: abnormal k exit(1)":         "WARN",
		"Child Exit: normal k exit(0)":           "INFO",
		"Log: k/0-1 Error: in the service's own": "INFO",
		"Manager ready: Version 1":               "INFO",
	} {
		var b bytes.Buffer
		NewWith(&b, Options{Format: JSON}).Printf("%s", msg)
		var m map[string]any
		require.NoError(t, json.Unmarshal(b.Bytes(), &m))
		assert.Equal(t, want, m["level"], msg)
	}
}

func TestConcurrentLinesDoNotInterleave(t *testing.T) {
	var b syncBuffer
	l := NewWith(&b, Options{Format: Text})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				l.Event(0, "Log: line", "g", g, "i", i, "pad", strings.Repeat("x", 100))
			}
		}()
	}
	wg.Wait()
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	require.Len(t, lines, 1600)
	re := regexp.MustCompile(`^\S+ Log: line g=\d i=\d+ pad=x{100}$`)
	for _, line := range lines {
		require.Regexp(t, re, line)
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestTextAttrValues(t *testing.T) {
	var b bytes.Buffer
	l := NewWith(&b, Options{Format: Plain})
	l.Event(0, "m", "empty", "", "space", "a b", "eq", "a=b", slog.Group("g", "x", 1), "t", fixed,
		"d", 90*time.Second, "ok", true)
	assert.Equal(t, `m empty="" space="a b" eq="a=b" g.x=1 t=2026-12-07T21:04:05.123Z d=1m30s ok=true`+"\n", b.String())
}

func TestOneEventOneLine(t *testing.T) {
	var b bytes.Buffer
	NewWith(&b, Options{Format: Plain}).Printf("Config Error: %s", "two\nlines\r")
	assert.Equal(t, `Config Error: two\nlines\r`+"\n", b.String())
}

func TestParseFormat(t *testing.T) {
	for in, want := range map[string]Format{"text": Text, "JSON": JSON, "plain": Plain} {
		f, err := ParseFormat(in)
		require.NoError(t, err)
		assert.Equal(t, want, f)
		assert.Equal(t, strings.ToLower(in), f.String())
	}
	_, err := ParseFormat("xml")
	assert.ErrorContains(t, err, `unknown log format "xml" (want text, plain or json)`)
}

// exclusiveWriter fails the test if two Writes overlap: handlers derived
// with WithAttrs and WithGroup must share their parent's lock.
type exclusiveWriter struct {
	t      *testing.T
	inside atomic.Bool
	lines  atomic.Int64
}

func (w *exclusiveWriter) Write(p []byte) (int, error) {
	if !w.inside.CompareAndSwap(false, true) {
		w.t.Error("two lines written at once")
	}
	time.Sleep(time.Microsecond)
	w.lines.Add(1)
	w.inside.Store(false)
	return len(p), nil
}

func TestDerivedHandlersShareTheLock(t *testing.T) {
	w := &exclusiveWriter{t: t}
	h := newTextHandler(w, true)
	var wg sync.WaitGroup
	for g := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var d slog.Handler = h
			switch g % 3 {
			case 1:
				d = h.WithAttrs([]slog.Attr{slog.Int("g", g)})
			case 2:
				d = h.WithGroup("grp").WithAttrs([]slog.Attr{slog.Int("g", g)})
			}
			for i := range 100 {
				r := slog.NewRecord(time.Now(), slog.LevelInfo, "line", 0)
				r.AddAttrs(slog.Int("i", i))
				require.NoError(t, d.Handle(context.Background(), r))
			}
		}()
	}
	wg.Wait()
	assert.EqualValues(t, 600, w.lines.Load())
}
