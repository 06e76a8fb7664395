package status

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/pluton-go/pluton/go/manager/pool"
)

// Format writes the numbers of an [Overview] as text. The status page and
// plTop show the same values and differ only in the marks chosen here, so
// that both read the overview alike.
type Format struct {
	// Missing is written for a value with no measure yet (a rate or a
	// percentile of a service that served nothing lately).
	Missing string
	// UnitSep stands between a number and its unit: " " writes "2.50 ms",
	// "" writes "2.50ms".
	UnitSep string
	// NoRestarts is written for a service none of whose instances was
	// restarted.
	NoRestarts string
}

// Seconds writes a duration in µs, ms or s (as 250µs, 12.50ms, 2.50s with
// UnitSep "", below a millisecond rounded to a microsecond); f.Missing for
// nil.
func (f Format) Seconds(v *float64) string {
	switch {
	case v == nil:
		return f.Missing
	case *v < 0.001:
		return fmt.Sprintf("%.0f%sµs", *v*1e6, f.UnitSep)
	case *v < 1:
		return fmt.Sprintf("%.2f%sms", *v*1e3, f.UnitSep)
	}
	return fmt.Sprintf("%.2f%ss", *v, f.UnitSep)
}

// Rate writes a per-second rate with one decimal; f.Missing for nil.
func (f Format) Rate(v *float64) string {
	if v == nil {
		return f.Missing
	}
	return fmt.Sprintf("%.1f", *v)
}

// Restarts writes a service's restarts as reason=count pairs sorted by
// reason and separated by spaces; f.NoRestarts for none.
func (f Format) Restarts(m map[string]uint64) string {
	if len(m) == 0 {
		return f.NoRestarts
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%d", k, m[k])
	}
	return strings.Join(parts, " ")
}

// FormatUptime writes a number of seconds, rounded down, as 45s, 3m05s,
// 2h03m or 1d02h.
func FormatUptime(s float64) string {
	n := int64(math.Floor(s))
	switch {
	case n < 60:
		return fmt.Sprintf("%ds", n)
	case n < 3600:
		return fmt.Sprintf("%dm%02ds", n/60, n%60)
	case n < 86400:
		return fmt.Sprintf("%dh%02dm", n/3600, n%3600/60)
	}
	return fmt.Sprintf("%dd%02dh", n/86400, n%86400/3600)
}

// ProcessState writes an instance's state with why it is stopping, as
// "busy (stopping: halt)" or "idle (retiring)"; an instance of several
// threads (maximum-threads) adds its busy threads, as "busy 2/4 threads".
func ProcessState(p pool.ProcessStatus) string {
	state := p.State
	if p.Threads > 1 {
		state += fmt.Sprintf(" %d/%d threads", p.BusyThreads, p.Threads)
	}
	switch {
	case p.Stopping != "":
		return state + " (stopping: " + p.Stopping + ")"
	case p.Retiring:
		return state + " (retiring)"
	}
	return state
}

// AbnormalExitText writes a service's last abnormal exit as one line: the
// instance, how it ended, after how long and how many requests, when
// (local time), and the reasons the manager gave, if any.
func AbnormalExitText(x *pool.ExitStatus) string {
	t := fmt.Sprintf("last abnormal exit: %s (pid %d) %s after %s, %d requests, at %s", x.LogID, x.PID, x.Status,
		FormatUptime(x.UptimeSeconds), x.Requests, x.Time.Local().Format("15:04:05"))
	if x.Reasons != "" {
		t += "; " + x.Reasons
	}
	return t
}

// CrashText writes the request the last instance that died while busy was
// serving (or had just answered), from which client and when (local
// time); for an instance of several threads, in which thread, and how many
// other threads were busy. It does not name the recorder file.
func CrashText(c *pool.CrashStatus) string {
	what, client := "while serving", c.ClientName
	if c.Answered {
		what = "after answering"
	}
	if client == "" {
		client = "an unnamed client"
	}
	thread := ""
	if c.Threads > 1 {
		thread = fmt.Sprintf(" in thread %d", c.Thread)
	}
	t := fmt.Sprintf("last death while busy: %s (pid %d) %s request %d from %s%s at %s", c.LogID, c.PID, what,
		c.RequestID, client, thread, c.Time.Local().Format("15:04:05"))
	switch n := len(c.OtherThreads); n {
	case 0:
	case 1:
		t += " (and 1 other busy thread)"
	default:
		t += fmt.Sprintf(" (and %d other busy threads)", n)
	}
	return t
}

// InstancesText writes a service's live instances over maximum-processes,
// "3/10", with the threads of each when there are several: "3/10×4".
func InstancesText(s pool.ServiceStatus) string {
	t := fmt.Sprintf("%d/%d", s.Instances, s.MaximumProcesses)
	if s.MaximumThreads > 1 {
		t += fmt.Sprintf("×%d", s.MaximumThreads)
	}
	return t
}
