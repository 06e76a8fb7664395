package logging

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseDebugFlag(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want DebugFlag
	}{
		{"child", DebugChild}, {"MANAGER", DebugManager}, {"Service", DebugService}, {"process", DebugProcess},
		{"thread", DebugThread}, {"stio", DebugStio}, {"config", DebugConfig},
		{"reportingchannel", DebugReportingChannel}, {"reportingChannel", DebugReportingChannel},
		{"calibrate", DebugCalibrate}, {"ONESHOT", DebugOneShot}, {"all", DebugAll},
	} {
		f, err := ParseDebugFlag(tt.in)
		require.NoError(t, err, tt.in)
		assert.Equal(t, tt.want, f, tt.in)
	}
	_, err := ParseDebugFlag("verbose")
	assert.ErrorContains(t, err, `unknown debug flag "verbose"`)
	assert.Equal(t, "child manager service process thread stio config reportingChannel calibrate oneShot", DebugAll.String())
}

func TestDebugLines(t *testing.T) {
	var log, dbg bytes.Buffer
	l := NewWith(&log, Options{Format: Plain, Debug: DebugManager | DebugCalibrate | DebugStio, DebugOut: &dbg, Now: fixedNow})

	l.Debugf(DebugManager, "signal %s", "SIGHUP")
	l.Debugf(DebugChild, "not on")
	l.Logf(Calibrate, "Calibrate Up: %s", "k") // -l calibrate off, -d calibrate on: debug only
	l.Logf(ProcessLog, "Log: k/0-1 %s", "hello")
	l.Logf(ProcessStart, "Process Start: k")  // neither
	l.Event(ServiceStart, "Service Ready: k") // neither

	assert.Empty(t, log.String(), "debug traces never reach the log")
	assert.Equal(t, "1796677445.123456:  manager: signal SIGHUP\n"+
		"1796677445.123456:  calibrate: Calibrate Up: k\n"+
		"1796677445.123456:  stio: Log: k/0-1 hello\n", dbg.String())

	// A category both logged and traced goes to both.
	dbg.Reset()
	l.SetCategories(Calibrate)
	l.SetDebug(DebugCalibrate | DebugProcess)
	l.Logf(Calibrate, "Calibrate Down: k")
	l.Event(ProcessExit, "Child Exit: normal k/0-1 exit(0)", "pid", 1)
	assert.Equal(t, "Calibrate Down: k\n", log.String())
	assert.Equal(t, "1796677445.123456:  calibrate: Calibrate Down: k\n"+
		"1796677445.123456:  process: Child Exit: normal k/0-1 exit(0) pid=1\n", dbg.String())
	assert.True(t, l.Debugging(DebugProcess))
	assert.False(t, l.Debugging(DebugChild))

	// Always lines are written whatever -l says and traced by their flag.
	log.Reset()
	dbg.Reset()
	l.SetCategories(0)
	l.Event(Always|ProcessStart, "Process Start: k/0-2 (1 of 1)", "pid", 2)
	assert.Equal(t, "Process Start: k/0-2 (1 of 1) pid=2\n", log.String())
	assert.Equal(t, "1796677445.123456:  process: Process Start: k/0-2 (1 of 1) pid=2\n", dbg.String())
	assert.True(t, l.Enabled(Always|Calibrate))
	assert.False(t, l.Enabled(Calibrate))

	// No debug writer: nothing is traced.
	quiet := NewWith(&log, Options{Debug: DebugAll})
	assert.False(t, quiet.Debugging(DebugAll))
}

func TestDebugMicroseconds(t *testing.T) {
	var dbg bytes.Buffer
	at := fixed.Add(-fixed.Sub(fixed.Truncate(1e9))) // a whole second
	at = at.Add(4000)                                // +4 µs
	l := NewWith(&dbg, Options{Debug: DebugAll, DebugOut: &dbg, Now: func() time.Time { return at }})
	l.Debugf(DebugOneShot, "x")
	assert.True(t, strings.HasPrefix(dbg.String(), "1796677445.000004:  oneShot: x"), dbg.String())
}
