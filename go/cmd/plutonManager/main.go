// Command plutonManager runs Pluton services: it reads one configuration
// file per service from -C, creates each service's rendezvous socket and
// stats segment in -R, writes the lookup map -L, starts and stops service
// instances to match the load, and logs to stdout. With no option it uses
// the default home (docs/protocol.md §7.1). docs/manager.md describes it.
package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/pluton-go/pluton/go/client"
	"github.com/pluton-go/pluton/go/internal/cli"
	"github.com/pluton-go/pluton/go/manager/logging"
	"github.com/pluton-go/pluton/go/manager/manager"
	"github.com/pluton-go/pluton/go/manager/process"
	"github.com/pluton-go/pluton/go/version"
)

// optionSpec is the getopt string: the original's options, plus -F/-j (log
// format).
const optionSpec = "hnojC:L:N:R:c:d:e:F:l:p:s:"

// usage returns the help text, with the defaults this user gets.
func usage(home string) string {
	return `Usage: plutonManager [-hjno] [-C configDir] [-L lookupMap] [-R rendezvousDir]
        [-c statusAddress] [-d debugFlag]... [-e emergencyExitDelay]
        [-F text|plain|json] [-l logFlag]... [-N natsURL] [-p name]
        [-s statsInterval]

  -C dir     configuration directory, one file per service key
             (default <home>/configuration, created if missing)
  -L path    lookup map path (default <home>/lookup.map)
  -R dir     rendezvous directory for sockets and stats segments, created
             if missing (default <home>/rendezvous)
  -c addr    status and control API: loopback host:port, :port, port, or a
             Unix socket path (anything containing '/')
  -d flag    debug trace to stderr, "sec.usec:  flag: ..." lines (repeatable,
             or comma separated, case-insensitive): child manager service
             process thread stio config reportingChannel calibrate oneShot all
  -e secs    emergency exit delay once shutdown starts (default 30)
  -F format  log format: text (timestamped, the default), plain (no
             timestamp, the original's lines) or json (one object a line);
             also --log-format=format
  -h         print this help and exit
  -j         JSON log, the same as -F json
  -n         check the configuration and exit, starting nothing: every file
             loads, every exec is an executable file, every user/group
             exists; prints each problem; exit 0 if none, 1 otherwise
  -l flag    turn on a log category (repeatable, or comma separated):
             processStart processLog processExit processUsage serviceConfig
             serviceStart serviceExit calibrate, or the groups process,
             service, all
  -N url     export every service on NATS and run the job classes
             (docs/remote.md): nats://host:port[,nats://...], or
             "embedded" for a NATS server with JetStream inside the
             manager (store <home>/nats)
  -o         accepted for compatibility; does nothing
  -p name    print the path this command line gives name (home, configuration,
             rendezvous or lookupMap) and exit; nothing is created
  -s secs    periodic statistics interval (default 600)

<home> is $plutonHome if set, else /usr/local/var/pluton for root, else
$XDG_STATE_HOME/pluton (default ~/.local/state/pluton); here it is
` + home + `
Instances get plutonLookupMap=<the -L path, absolute> in their environment.
`
}

// init locks the main goroutine to the main thread: ServeOnMain makes that
// thread the parent of every instance, the one thread that survives the
// execve of an upgrade (docs/operations.md).
func init() { runtime.LockOSThread() }

func main() {
	process.RunLimitsWrapper() // returns unless started as an instance's limits wrapper
	process.ServeOnMain(func(mt *process.MainThread) int {
		return runOn(mt, os.Args[1:], os.Stdout, os.Stderr)
	})
}

// settings are the command line, parsed.
type settings struct {
	configDir, lookupMap, rendezvousDir string
	home                                string
	defaulted                           []string // "C", "L", "R": the options left to the home
	format                              logging.Format
	debug                               logging.DebugFlag
	checkOnly                           bool   // -n
	print                               string // -p: the path to print
	nats                                string // -N
	opts                                manager.Options
}

// fatal is a start-up failure, printed as "FATAL: <msg>".
type fatal struct {
	msg   string
	usage bool // print the usage text first
}

func (f *fatal) Error() string { return f.msg }

func fatalf(usage bool, format string, a ...any) error {
	return &fatal{msg: fmt.Sprintf(format, a...), usage: usage}
}

func run(args []string, stdout, stderr io.Writer) int { return runOn(nil, args, stdout, stderr) }

// runOn is run with the main thread forking the instances and able to
// re-execute the manager (nil: a forker thread of its own, no upgrade).
func runOn(mt *process.MainThread, args []string, stdout, stderr io.Writer) int {
	home := client.Home()
	args, ops, err := parseOps(args) // the long options of ops.go
	if err != nil {
		return fail(err, home, stdout, stderr)
	}
	st, err := parse(args, home)
	if err == nil && st == nil { // -h
		fmt.Fprint(stdout, usage(home))
		fmt.Fprint(stdout, opsUsage)
		fmt.Fprintf(stdout, "\nVersion %s\n", version.Version)
		return 0
	}
	if err != nil {
		return fail(err, home, stdout, stderr)
	}
	if st.print != "" {
		fmt.Fprintln(stdout, st.path(st.print))
		return 0
	}
	if code, done := runOpsCommand(st, ops, stdout, stderr); done { // ops.go: --clear-halt, --log, --debug
		return code
	}
	if st.checkOnly {
		return manager.Check(st.configDir, stdout)
	}
	// FATAL and emergency lines are repeated on stderr only when it is not
	// the log itself (a terminal showing both), so they show once.
	errOut := stderr
	if sameFile(stdout, stderr) {
		errOut = io.Discard
	}
	log := logging.NewWith(stdout, logging.Options{Format: st.format, Categories: st.opts.Logging,
		Debug: st.debug, DebugOut: stderr})
	if err := prepare(st, log); err != nil {
		log.Printf("FATAL: %s", err)
		fmt.Fprintf(errOut, "FATAL: %s\n", err)
		return 1
	}
	st.opts.Stdout, st.opts.Stderr, st.opts.Log = stdout, errOut, log
	if st.nats != "" {
		node := newRemote(st, log)
		st.opts.Remote = node
		defer node.Close()
	}
	stopOps, err := startOps(st, ops, log) // ops.go: lookup format, pid file, systemd
	if err != nil {
		log.Printf("FATAL: %s", err)
		fmt.Fprintf(errOut, "FATAL: %s\n", err)
		return 1
	}
	defer stopOps()
	if mt != nil {
		st.opts.Forker, st.opts.Exec, st.opts.ExecEnv = mt.Forker, mt.Exec, mt.Environ
	}
	return manager.Run(st.opts)
}

// fail prints a command-line error: the usage text to stderr, then the
// FATAL line to stdout (the log) and, when it is another file, to stderr.
func fail(err error, home string, stdout, stderr io.Writer) int {
	var f *fatal
	if !errors.As(err, &f) {
		f = &fatal{msg: err.Error()}
	}
	if f.usage {
		fmt.Fprint(stderr, usage(home))
	}
	fmt.Fprintf(stdout, "FATAL: %s\n", f.msg)
	if !sameFile(stdout, stderr) {
		fmt.Fprintf(stderr, "FATAL: %s\n", f.msg)
	}
	return 1
}

// parse reads the command line; it returns nil settings and no error for -h.
func parse(args []string, home string) (*settings, error) {
	st := &settings{home: home, format: logging.Text, opts: manager.DefaultOptions()}
	// --log-format is the one long option; the rest is getopt.
	var short []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			short = append(short, args[i:]...)
			break
		}
		if a == "--help" {
			return nil, nil
		}
		v, ok := strings.CutPrefix(a, "--log-format")
		if !ok || (v != "" && v[0] != '=') {
			short = append(short, a)
			continue
		}
		if v == "" {
			if i+1 >= len(args) {
				return nil, fatalf(true, "Option --log-format needs a value")
			}
			i++
			v = args[i]
		} else {
			v = v[1:]
		}
		short = append(short, "-F"+v)
	}
	opts, operands, err := cli.Getopt(short, optionSpec)
	if err != nil {
		var c byte
		for _, o := range opts {
			if o.Name == 'h' {
				return nil, nil
			}
		}
		msg := err.Error()
		if i := strings.LastIndexByte(msg, '\''); i > 0 {
			c = msg[i-1]
		}
		if strings.HasPrefix(msg, "option requires an argument") {
			return nil, fatalf(true, "Option -%c needs a value", c)
		}
		return nil, fatalf(true, "Invoked with bad parameter: -%c", c)
	}
	if len(operands) > 0 {
		return nil, fatalf(true, "Invoked with bad parameter: %s", operands[0])
	}
	seconds := func(v string) (time.Duration, bool) {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return 0, false
		}
		return time.Duration(n) * time.Second, true
	}
	var ok bool
	for _, o := range opts {
		v := o.Arg
		switch o.Name {
		case 'h':
			return nil, nil
		case 'o':
		case 'n':
			st.checkOnly = true
		case 'j':
			st.format = logging.JSON
		case 'F':
			if st.format, err = logging.ParseFormat(v); err != nil {
				return nil, fatalf(true, "-F %s: %v", v, err)
			}
		case 'C':
			st.configDir = v
		case 'L':
			st.lookupMap = v
		case 'R':
			st.rendezvousDir = v
		case 'c':
			st.opts.StatusAddr = v
		case 'e':
			if st.opts.EmergencyExit, ok = seconds(v); !ok {
				return nil, fatalf(true, "-e %s: want a whole number of seconds, at least 1", v)
			}
		case 's':
			if st.opts.StatsInterval, ok = seconds(v); !ok {
				return nil, fatalf(true, "-s %s: want a whole number of seconds, at least 1", v)
			}
		case 'l':
			for _, name := range strings.Split(v, ",") {
				c, err := logging.ParseCategory(strings.TrimSpace(name))
				if err != nil {
					return nil, fatalf(true, "Unknown logging flag: %s (want one of %s)", name,
						strings.Join(logging.CategoryNames(), " "))
				}
				st.opts.Logging |= c
			}
		case 'p':
			st.print = v
		case 'N':
			st.nats = v
		case 'd':
			for _, name := range strings.Split(v, ",") {
				f, err := logging.ParseDebugFlag(strings.TrimSpace(name))
				if err != nil {
					return nil, fatalf(true, "Unknown debug flag: %s (want one of %s)", name,
						strings.Join(logging.DebugFlagNames(), " "))
				}
				st.debug |= f
			}
		}
	}
	if st.configDir == "" {
		st.configDir = filepath.Join(home, "configuration")
		st.defaulted = append(st.defaulted, "C")
	}
	if st.lookupMap == "" {
		st.lookupMap = filepath.Join(home, client.LookupMapName)
		st.defaulted = append(st.defaulted, "L")
	}
	if st.rendezvousDir == "" {
		st.rendezvousDir = filepath.Join(home, "rendezvous")
		st.defaulted = append(st.defaulted, "R")
	}
	st.opts.ConfigDir, st.opts.LookupMap, st.opts.RendezvousDir = st.configDir, st.lookupMap, st.rendezvousDir
	if st.print != "" && st.path(st.print) == "" {
		return nil, fatalf(true, "-p %s: want home, configuration, rendezvous or lookupMap", st.print)
	}
	return st, nil
}

// path returns the path -p name prints, "" for an unknown name.
func (st *settings) path(name string) string {
	switch strings.ToLower(name) {
	case "home":
		return st.home
	case "configuration":
		return st.configDir
	case "rendezvous":
		return st.rendezvousDir
	case "lookupmap":
		return st.lookupMap
	}
	return ""
}

func (st *settings) isDefault(opt string) bool {
	for _, d := range st.defaulted {
		if d == opt {
			return true
		}
	}
	return false
}

// prepare creates the directories the manager may create (docs/protocol.md
// §7.1) and exports plutonLookupMap for the instances.
func prepare(st *settings, log *logging.Logger) error {
	log.Debugf(logging.DebugOneShot, "home %s; -C %s -L %s -R %s (from the home: %s); log format %s; debug %s",
		st.home, st.configDir, st.lookupMap, st.rendezvousDir, strings.Join(st.defaulted, " "), st.format, st.debug)
	mkdir := func(dir, what string, parents bool) error {
		if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
			return nil // present, or a problem the manager's own check reports
		}
		var err error
		if parents {
			err = os.MkdirAll(dir, 0o755)
		} else {
			err = os.Mkdir(dir, 0o755)
		}
		if err != nil {
			return fmt.Errorf("%s directory %s: cannot create it: %w", what, dir, unwrap(err))
		}
		log.Printf("Manager created %s directory %s", what, dir)
		return nil
	}
	// The rendezvous directory is always created when missing (its parent
	// must exist unless it is the home's); the configuration directory only
	// when it is the home's: a -C that names nothing is a mistake.
	if !st.isDefault("R") {
		if err := mkdir(st.rendezvousDir, "Rendezvous", false); err != nil {
			return err
		}
	}
	if len(st.defaulted) > 0 {
		if err := mkdir(st.home, "home", true); err != nil {
			return err
		}
	}
	if st.isDefault("R") {
		if err := mkdir(st.rendezvousDir, "Rendezvous", true); err != nil {
			return err
		}
	}
	if st.isDefault("C") {
		if err := mkdir(st.configDir, "Configuration", true); err != nil {
			return err
		}
	}
	abs, err := filepath.Abs(st.lookupMap)
	if err != nil {
		return fmt.Errorf("LookupMap %s: %w", st.lookupMap, err)
	}
	if err := os.Setenv(client.LookupEnv, abs); err != nil {
		return fmt.Errorf("cannot export %s: %w", client.LookupEnv, err)
	}
	log.Debugf(logging.DebugOneShot, "instances get %s=%s", client.LookupEnv, abs)
	return nil
}

func unwrap(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// sameFile reports whether a and b are the same open file (stdout and
// stderr both on one terminal or one log file).
func sameFile(a, b io.Writer) bool {
	fa, ok1 := a.(*os.File)
	fb, ok2 := b.(*os.File)
	if !ok1 || !ok2 {
		return false
	}
	if fa == fb {
		return true
	}
	var sa, sb syscall.Stat_t
	if syscall.Fstat(int(fa.Fd()), &sa) != nil || syscall.Fstat(int(fb.Fd()), &sb) != nil {
		return false
	}
	return sa.Dev == sb.Dev && sa.Ino == sb.Ino && sa.Rdev == sb.Rdev
}
