package process

import (
	"os"
	"strconv"
	"strings"
	"syscall"

	"github.com/pluton-go/pluton/go/stats"
)

// Exit describes how an instance ended, in the words of the Child Exit line.
type Exit struct {
	Normal  bool   // false: logged as abnormal
	Reasons string // comma-separated: exit(N), responded to kill(SIG) or signal SIG, then the reason
	Backoff string // non-empty: the service should back off restarts, for this reason
	Reason  stats.ExitReason
}

// SignalName returns the original's text for a signal.
func SignalName(sig syscall.Signal) string {
	switch sig {
	case syscall.SIGABRT:
		return "SIGABRT - may have exceeded Memory ulimits"
	case syscall.SIGXCPU:
		return "SIGXCPU - may have exceeded CPU ulimits"
	case syscall.SIGKILL:
		return "SIGKILL - someone did kill -9 or maybe you're out of swap!"
	case syscall.SIGSEGV:
		return "SIGSEGV"
	case syscall.SIGHUP:
		return "SIGHUP"
	case syscall.SIGINT:
		return "SIGINT"
	case syscall.SIGPIPE:
		return "SIGPIPE"
	case syscall.SIGTERM:
		return "SIGTERM"
	case syscall.SIGUSR1:
		return "SIGUSR1"
	case syscall.SIGUSR2:
		return "SIGUSR2"
	}
	return strconv.Itoa(int(sig))
}

// shortName is the signal's name alone, as in "responded to kill(SIGTERM)".
func shortName(sig syscall.Signal) string {
	n := SignalName(sig)
	if i := strings.IndexByte(n, ' '); i > 0 {
		return n[:i]
	}
	return n
}

// Describe classifies an ended instance. state is its wait status; lastSent
// the last signal the manager sent it (0 if none); reason the exit reason
// the instance wrote to its slot, or else the one the manager asked for.
// early says that the instance ended on its own before serving a request
// within its first second: a clean exit then still backs off, so that a
// service that cannot start does not fork in a loop.
func Describe(state *os.ProcessState, lastSent syscall.Signal, reason stats.ExitReason, early bool) Exit {
	e := Exit{Normal: true, Reason: reason}
	var parts []string
	ws, _ := state.Sys().(syscall.WaitStatus)
	switch {
	case ws.Signaled():
		sig := ws.Signal()
		if lastSent != 0 && sig == lastSent {
			parts = append(parts, "responded to kill("+shortName(sig)+")")
		} else {
			parts = append(parts, "signal "+SignalName(sig))
			if sig != syscall.SIGTERM { // SIGTERM from outside: an administrator
				e.Normal = false
				e.Backoff = "Died from signal"
			}
		}
	case ws.Exited() && ws.ExitStatus() != 0:
		parts = append(parts, "exit("+strconv.Itoa(ws.ExitStatus())+")")
		e.Normal = false
		e.Backoff = "Abnormal Exit Code"
	}
	switch reason {
	case stats.NoReason:
		if len(parts) == 0 {
			parts = append(parts, "exit(0)")
			if early {
				e.Normal = false
				e.Backoff = "Exited during startup"
				parts = append(parts, "exited during startup")
			}
		}
	case stats.AcceptFailed, stats.AbnormalExit, stats.RunawayChild:
		parts = append(parts, reason.String())
		e.Normal = false
		if e.Backoff == "" {
			e.Backoff = reason.String()
		}
	case stats.Unresponsive, stats.LostIO:
		parts = append(parts, reason.String())
		e.Normal = false
	default:
		parts = append(parts, reason.String())
	}
	e.Reasons = strings.Join(parts, ", ")
	return e
}
