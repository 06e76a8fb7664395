package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pluton-go/pluton/go/manager/logging"
	"github.com/pluton-go/pluton/go/manager/manager"
	"github.com/pluton-go/pluton/go/manager/sdnotify"
	"github.com/pluton-go/pluton/go/manager/status"
)

// opsUsage documents the long options of ops.go (docs/operations.md).
const opsUsage = `
Long options (docs/operations.md):
  --lookup-format both|text|binary
             both (default): the text lookup map at -L and the original's
             binary map (version 1001) at <-L>.bin; text: the text map only;
             binary: the binary map at -L, for unmodified original clients
  --clear-halt SK
             lift the hold or halt of service SK kept in
             <-R>/plutonManager.controls, and make a running manager reload
             (SIGHUP) so it resumes the service; then exit
  --log [+|-]category[,...]   --debug [+|-]flag[,...]   (with -c addr)
             change the log categories (-l names) or debug flags (-d names)
             of the manager running with status address addr: +name on,
             -name off, none all off; prints what is in force, then exits
  --pid-file path
             write the manager's pid to path once it is ready (after the
             first scan); removed at exit
Under systemd (Type=notify, $NOTIFY_SOCKET) the manager sends READY=1 after
the first scan, RELOADING=1/READY=1 around SIGHUP and SIGINT, STOPPING=1,
STATUS=<n> services, and WATCHDOG=1 every WatchdogSec/2 while its event loop
answers.
`

// opsSettings are the long options of ops.go.
type opsSettings struct {
	lookupFormat string
	pidFile      string
	clearHalt    string   // --clear-halt: the service key
	log, debug   []string // --log, --debug: changes sent to a running manager
}

// longOps lists the long options that take a value.
var longOps = []string{"lookup-format", "pid-file", "clear-halt", "log", "debug"}

// parseOps takes the long options of ops.go out of args ("--name value" or
// "--name=value") and returns the rest for parse.
func parseOps(args []string) ([]string, opsSettings, error) {
	var ops opsSettings
	rest := make([]string, 0, len(args))
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			rest = append(rest, args[i:]...)
			break
		}
		name, value, found := "", "", false
		for _, n := range longOps {
			if v, ok := strings.CutPrefix(a, "--"+n); ok && (v == "" || v[0] == '=') {
				name, found = n, true
				if v != "" {
					value = v[1:]
				} else {
					if i+1 >= len(args) {
						return nil, ops, fatalf(true, "Option --%s needs a value", n)
					}
					i++
					value = args[i]
				}
			}
		}
		if !found {
			rest = append(rest, a)
			continue
		}
		switch name {
		case "lookup-format":
			if err := manager.CheckLookupFormat(value); err != nil || value == "" {
				return nil, ops, fatalf(true, "--lookup-format %s: want %s", value, strings.Join(manager.LookupFormats, ", "))
			}
			ops.lookupFormat = value
		case "log", "debug":
			if value == "" {
				return nil, ops, fatalf(true, "--%s needs a value such as +processStart or -calibrate", name)
			}
			if name == "log" {
				ops.log = append(ops.log, value)
			} else {
				ops.debug = append(ops.debug, value)
			}
		case "clear-halt":
			if value == "" {
				return nil, ops, fatalf(true, "--clear-halt needs a service key")
			}
			ops.clearHalt = value
		case "pid-file":
			if value == "" {
				return nil, ops, fatalf(true, "--pid-file needs a path")
			}
			ops.pidFile = value
		}
	}
	return rest, ops, nil
}

// startOps applies the long options and systemd notification to the
// manager's options; the function it returns undoes what they set up
// (pid file, notification socket) and runs after the manager exits.
func startOps(st *settings, ops opsSettings, log *logging.Logger) (func(), error) {
	st.opts.LookupFormat = ops.lookupFormat
	notifier, err := sdnotify.FromEnv(true)
	if err != nil {
		return nil, err
	}
	watchdog, err := sdnotify.WatchdogInterval(true)
	if err != nil {
		return nil, err
	}
	pidFile := ops.pidFile
	if pidFile != "" {
		if pidFile, err = filepath.Abs(pidFile); err != nil {
			return nil, fmt.Errorf("--pid-file %s: %w", ops.pidFile, err)
		}
	}
	send := func(a ...string) {
		if err := notifier.Send(a...); err != nil {
			log.Printf("Warning: %v", err)
		}
	}
	statusLine := func(n int) string { return "STATUS=" + strconv.Itoa(n) + " services" }
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	prevReady := st.opts.Ready
	st.opts.Ready = func(m *manager.Manager) {
		if prevReady != nil {
			prevReady(m)
		}
		if pidFile != "" {
			if err := writePIDFile(pidFile); err != nil {
				log.Printf("Warning: %v", err)
			} else {
				log.Printf("Manager PID file: %s", pidFile)
			}
		}
		if notifier == nil {
			return
		}
		// Ready runs before the event loop: ask it for the count from a
		// goroutine, which the loop answers once it runs.
		wg.Add(1)
		go func() {
			defer wg.Done()
			n := serviceCount(ctx, m)
			send("READY=1", statusLine(n))
			if watchdog > 0 {
				log.Printf("Manager watchdog: WATCHDOG=1 every %s", watchdog)
				runWatchdog(ctx, m, watchdog, send, statusLine)
			}
		}()
	}
	stopped := false // Notify runs on the manager's event loop only
	st.opts.Notify = func(event string, services int) {
		switch {
		case stopped: // a reload that failed into a shutdown: no READY=1 after STOPPING=1
		case event == manager.EventReloading:
			send(append(sdnotify.Reloading(), "STATUS=reloading")...)
		case event == manager.EventReloaded:
			send("READY=1", statusLine(services))
		case event == manager.EventStopping:
			stopped = true
			send("STOPPING=1", "STATUS=stopping")
		}
	}
	return func() {
		cancel()
		wg.Wait()
		_ = notifier.Close()
		if pidFile != "" {
			removePIDFile(pidFile)
		}
	}, nil
}

// serviceCount asks the event loop for the number of services, -1 if it
// does not answer in time.
func serviceCount(ctx context.Context, m *manager.Manager) int {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	svcs, err := m.Services(ctx)
	if err != nil {
		return -1
	}
	return len(svcs)
}

// runWatchdog sends WATCHDOG=1 every interval while the event loop answers
// within the interval, so a wedged loop lets systemd restart the manager.
func runWatchdog(ctx context.Context, m *manager.Manager, interval time.Duration, send func(...string), status func(int) string) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		qctx, cancel := context.WithTimeout(ctx, interval)
		svcs, err := m.Services(qctx)
		cancel()
		if err != nil {
			continue // no ping: the loop is stuck (or the manager is leaving)
		}
		send("WATCHDOG=1", status(len(svcs)))
	}
}

// writePIDFile writes this process's pid to path atomically (a temporary
// file renamed into place), mode 0644.
func writePIDFile(path string) error {
	tmp := fmt.Sprintf("%s.%d.tmp", path, os.Getpid())
	err := os.WriteFile(tmp, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644)
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("--pid-file %s: %w", path, unwrap(err))
	}
	return nil
}

// removePIDFile removes path if it still holds this process's pid (a newer
// manager may have replaced it).
func removePIDFile(path string) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) || err != nil {
		return
	}
	if strings.TrimSpace(string(b)) == strconv.Itoa(os.Getpid()) {
		_ = os.Remove(path)
	}
}

// clearHalt runs --clear-halt: it removes key's hold or halt from the
// controls file of the rendezvous directory and has a running manager
// reload. Exit 0 when cleared, 1 when the key had none or on an error.
func clearHalt(st *settings, key string, stdout, stderr io.Writer) int {
	msg, err := manager.ClearControl(st.rendezvousDir, key)
	if err != nil {
		fmt.Fprintf(stderr, "plutonManager --clear-halt: %v\n", err)
		return 1
	}
	fmt.Fprintln(stdout, msg)
	return 0
}

// runOpsCommand runs the long options that are commands instead of a
// manager (--clear-halt, --log/--debug); done is false when there is none.
func runOpsCommand(st *settings, ops opsSettings, stdout, stderr io.Writer) (code int, done bool) {
	switch {
	case ops.clearHalt != "":
		return clearHalt(st, ops.clearHalt, stdout, stderr), true
	case len(ops.log) > 0 || len(ops.debug) > 0:
		return changeLogging(st.opts.StatusAddr, ops, stdout, stderr), true
	}
	return 0, false
}

// changeLogging sends --log and --debug to the status API of a running
// manager (POST /logging) and prints the categories and flags in force.
func changeLogging(addr string, ops opsSettings, stdout, stderr io.Writer) int {
	fail := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "plutonManager --log/--debug: "+format+"\n", a...)
		return 1
	}
	if addr == "" {
		return fail("give -c <status address> of the running manager")
	}
	hc, base, err := statusClient(addr)
	if err != nil {
		return fail("-c %s: %v", addr, err)
	}
	body, _ := json.Marshal(status.LogChange{Log: ops.log, Debug: ops.debug})
	resp, err := hc.Post(base+"/logging", status.ControlContentType, bytes.NewReader(body))
	if err != nil {
		return fail("%v (is the manager running with -c %s?)", err, addr)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(b, &e) == nil && e.Error != "" {
			return fail("%s", e.Error)
		}
		return fail("%s: %s", resp.Status, strings.TrimSpace(string(b)))
	}
	var ls status.LogState
	if err := json.Unmarshal(b, &ls); err != nil {
		return fail("reply: %v", err)
	}
	words := func(w []string) string {
		if len(w) == 0 {
			return "none"
		}
		return strings.Join(w, " ")
	}
	fmt.Fprintf(stdout, "log categories: %s\ndebug flags: %s\n", words(ls.Categories), words(ls.Debug))
	return 0
}

// statusClient returns an HTTP client and base URL for a status address: a
// Unix socket path (anything with '/') or a loopback host:port.
func statusClient(addr string) (*http.Client, string, error) {
	if strings.Contains(addr, "/") {
		return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				return (&net.Dialer{}).DialContext(ctx, "unix", addr)
			}}}, "http://localhost", nil
	}
	hostport, err := status.LoopbackAddress(addr)
	if err != nil {
		return nil, "", err
	}
	return &http.Client{Timeout: 10 * time.Second}, "http://" + hostport, nil
}
