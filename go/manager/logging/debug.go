package logging

import (
	"fmt"
	"strconv"
	"strings"
)

// DebugFlag is a set of debug traces, the -d option's flags (the original's
// names). Debug lines go to the debug output (stderr), never to the log.
type DebugFlag uint32

// The debug flags.
const (
	// DebugChild traces how each instance is started: program, argv,
	// working directory, limits, credentials, descriptors.
	DebugChild DebugFlag = 1 << iota
	// DebugManager traces the manager's own events: signals received,
	// scans, lookup map writes, controls (hold, halt, resume).
	DebugManager
	// DebugService traces service events: the lines of -l serviceStart and
	// serviceExit, the socket watched while no instance runs, a pending
	// connection.
	DebugService
	// DebugProcess traces instance events: Process Start, Child Exit and
	// the lines of -l processExit and processUsage.
	DebugProcess
	// DebugThread traces the goroutine that waits for each instance:
	// started, and the instance reaped.
	DebugThread
	// DebugStio traces instance I/O: every stderr line (as -l processLog).
	DebugStio
	// DebugConfig traces configuration loading: the -l serviceConfig lines
	// and each service's parsed parameters.
	DebugConfig
	// DebugReportingChannel traces each fd 5 report record read: pid, slot
	// and entries.
	DebugReportingChannel
	// DebugCalibrate traces pool sizing: the -l calibrate lines, every
	// sample.
	DebugCalibrate
	// DebugOneShot traces one-time steps: the home and options as resolved,
	// plutonLookupMap exported, the lock taken.
	DebugOneShot

	// DebugAll is every debug flag.
	DebugAll = DebugChild | DebugManager | DebugService | DebugProcess | DebugThread | DebugStio |
		DebugConfig | DebugReportingChannel | DebugCalibrate | DebugOneShot
)

var debugNames = []struct {
	name string
	f    DebugFlag
}{
	{"child", DebugChild}, {"manager", DebugManager}, {"service", DebugService}, {"process", DebugProcess},
	{"thread", DebugThread}, {"stio", DebugStio}, {"config", DebugConfig},
	{"reportingChannel", DebugReportingChannel}, {"calibrate", DebugCalibrate}, {"oneShot", DebugOneShot},
	{"all", DebugAll},
}

// ParseDebugFlag returns the debug flag named s (case-insensitive).
func ParseDebugFlag(s string) (DebugFlag, error) {
	for _, n := range debugNames {
		if strings.EqualFold(n.name, s) {
			return n.f, nil
		}
	}
	return 0, fmt.Errorf("unknown debug flag %q", s)
}

// DebugFlagNames returns the names ParseDebugFlag accepts.
func DebugFlagNames() []string {
	out := make([]string, len(debugNames))
	for i, n := range debugNames {
		out[i] = n.name
	}
	return out
}

// String returns the names of the single flags in f, space separated.
func (f DebugFlag) String() string {
	var parts []string
	for _, n := range debugNames[:len(debugNames)-1] {
		if f&n.f != 0 {
			parts = append(parts, n.name)
		}
	}
	return strings.Join(parts, " ")
}

// DebugFlagOf returns the debug flag whose trace includes the lines of log
// category c: process for processStart/processExit/processUsage, stio for
// processLog, config for serviceConfig, service for serviceStart and
// serviceExit, calibrate for calibrate.
func DebugFlagOf(c Category) DebugFlag {
	var f DebugFlag
	if c&(ProcessStart|ProcessExit|ProcessUsage) != 0 {
		f |= DebugProcess
	}
	if c&ProcessLog != 0 {
		f |= DebugStio
	}
	if c&ServiceConfig != 0 {
		f |= DebugConfig
	}
	if c&(ServiceStart|ServiceExit) != 0 {
		f |= DebugService
	}
	if c&Calibrate != 0 {
		f |= DebugCalibrate
	}
	return f
}

// Debugging reports whether any flag of f is on.
func (l *Logger) Debugging(f DebugFlag) bool {
	return l != nil && f != 0 && DebugFlag(l.debug.Load())&f != 0 && l.dout != nil
}

// DebugFlags returns the debug flags on.
func (l *Logger) DebugFlags() DebugFlag { return DebugFlag(l.debug.Load()) }

// SetDebug replaces the debug flags on.
func (l *Logger) SetDebug(f DebugFlag) { l.debug.Store(uint32(f)) }

// Debugf writes one debug line if flag f is on:
// "<sec>.<usec>:  <flag>: <message>".
func (l *Logger) Debugf(f DebugFlag, format string, args ...any) {
	if !l.Debugging(f) {
		return
	}
	l.debugLine(f, fmt.Sprintf(format, args...))
}

func (l *Logger) debugLine(f DebugFlag, msg string) {
	now := l.now()
	name := f.String()
	if i := strings.IndexByte(name, ' '); i > 0 {
		name = name[:i]
	}
	l.dmu.Lock()
	defer l.dmu.Unlock()
	b := strconv.AppendInt(l.dbuf[:0], now.Unix(), 10)
	b = append(b, '.')
	us := strconv.Itoa(now.Nanosecond() / 1000)
	b = append(b, "000000"[len(us):]...)
	b = append(b, us...)
	b = append(b, ":  "...)
	b = append(b, name...)
	b = append(b, ": "...)
	b = append(b, msg...)
	b = append(b, '\n')
	_, _ = l.dout.Write(b)
	if cap(b) > maxBuffer {
		b = nil
	}
	l.dbuf = b
}
