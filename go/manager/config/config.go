// Package config reads Pluton service configuration files: one file per
// service, named by its service key, holding one "name value" parameter per
// line. The grammar, names, defaults, limits and error texts are the
// original's; docs/config.md is the user-facing reference.
package config

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/pluton-go/pluton/go/servicekey"
)

// MaxFileSize is the largest configuration file Load reads, and the longest
// line Parse accepts.
const MaxFileSize = 1 << 20

// The defaults of the service loop limits (docs/protocol.md §8), written
// into every stats segment's header for the instances.
const (
	DefaultMaximumRequestSize = 64 << 20        // maximum-request-size, bytes
	DefaultRequestReadTimeout = 5 * time.Second // request-read-timeout
	DefaultMaximumPending     = 64              // maximum-pending
)

// MaxRecorderPrefix is how many bytes of recorder-prefix are kept (the size of
// the original's shared-memory field).
const MaxRecorderPrefix = 255

// MaxSlots bounds the stats segment of one service: maximum-processes ×
// maximum-threads (its slot count, docs/protocol.md §4.1) may not exceed it.
// The manager reads every slot at each sample, 10 times a second.
const MaxSlots = 100000

// Service is one parsed configuration file.
type Service struct {
	Key  servicekey.Key // from the file name
	Path string         // the file
	ID   FileID         // identity of the file when Load read it (zero after Parse)

	AffinityTimeout       time.Duration // affinity-timeout, s, default 60, 10..600
	Cd                    string        // cd: directory to chdir into before exec; empty: the manager's
	EnableLeakRamping     bool          // enable-leak-ramping, default true: see InstanceMaximumRequests
	Exec                  string        // exec: the raw command line (mandatory)
	Argv                  []string      // Exec tokenized by TokenizeExec; Load resolves Argv[0] (ResolveProgram)
	ExecFailureBackoff    time.Duration // exec-failure-backoff, s, default 60, min 0
	IdleTimeout           time.Duration // idle-timeout, s, default 120, min 10
	MaximumPending        int           // maximum-pending, default 64, 1..4096: incomplete connections an instance holds (protocol.md §8)
	MaximumProcesses      int           // maximum-processes, default 10, 1..10000
	MaximumRequestSize    int64         // maximum-request-size, bytes, default 64 MiB, 0 (no limit)..999999999
	MaximumRequests       int           // maximum-requests, default 10000, min 1
	MaximumRetries        int           // maximum-retries, default 1, 0..10: accepted, no effect (docs/config.md)
	MaximumThreads        int           // maximum-threads, default 1, 1..10000: requests an instance serves at once (protocol.md §8.7); MaximumProcesses × MaximumThreads ≤ MaxSlots
	MinimumProcesses      int           // minimum-processes, default 1, 0..maximum-processes
	OccupancyPercent      int           // occupancy-percent, default 70, 50..100
	PrestartProcesses     bool          // prestart-processes, default false
	Preload               bool          // preload, default false: fork instances from a warm template (docs/preload.md)
	RecorderCycle         int           // recorder-cycle, default 0 (never wrap), min 0
	RecorderPrefix        string        // recorder-prefix, default "" (off); at most 255 bytes kept
	RequestReadTimeout    time.Duration // request-read-timeout, s, default 5, 0 (no limit)..600
	UlimitCPUMilliseconds int64         // ulimit-cpu-milliseconds, default 0 (none), min 0
	UlimitDataMemoryMB    int64         // ulimit-data-memory, MB, default 0 (none), min 0
	UlimitOpenFiles       int64         // ulimit-open-files, default 0 (none), 0..1000
	UnresponsiveTimeout   time.Duration // unresponsive-timeout, s, default 10, 5..600
	StopGrace             time.Duration // stop-grace, s, default unresponsive-timeout, 1..600: SIGTERM to SIGKILL of a stopping instance
	User, Group           string        // user, group: run instances as these when the manager is root

	// Durable jobs on JetStream (docs/remote.md); they need a manager
	// started with a NATS URL.
	Jobs             bool          // jobs, default false: the key is also a job class
	JobsMaxWorkers   int           // jobs-max-workers, default 0 (= maximum-processes), 0..10000: jobs in progress on this host
	JobsOverdrive    bool          // jobs-overdrive, default false: a worker fetches jobs in batches and keeps taking them while the queue is not empty
	JobsMaxAttempts  int           // jobs-max-attempts, default 5, 1..1000: deliveries before the dead-letter subject
	JobsWorkerMaxTTL time.Duration // jobs-worker-max-ttl, s, default 60, 1..86400: the longest one attempt may take

	Warnings []string // problems that do not reject the file, for the log
}

// InstanceMaximumRequests returns the maximum-requests to give one new
// instance. With leak ramping on, it is maximum-requests reduced by a random
// 0-10% (at least 1), so that instances started together do not all retire
// together; with it off, it is exactly maximum-requests. A nil r uses the
// global source.
func (s *Service) InstanceMaximumRequests(r *rand.Rand) int {
	n := s.MaximumRequests
	if !s.EnableLeakRamping || n <= 1 {
		return max(n, 1)
	}
	limit := n/10 + 1
	var cut int
	if r != nil {
		cut = r.IntN(limit)
	} else {
		cut = rand.IntN(limit)
	}
	return max(n-cut, 1)
}

// Error is a configuration error naming the file, line and parameter. The
// manager logs it as one "Config Error: " line.
type Error struct {
	File  string // the configuration file
	Line  int    // 1-based; 0 when the error is not about one line
	Param string // the parameter, if the error is about one
	Msg   string // the original's wording, e.g. "affinity-timeout=601 but it must not be greater than upper limit 600"
	Err   error  // the underlying error, if any (a system call's, a key's)
}

// Error returns "<file>: Line N: <msg>", leaving out what is not known.
func (e *Error) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		b.WriteString(": ")
	}
	if e.Line > 0 {
		b.WriteString("Line ")
		b.WriteString(strconv.Itoa(e.Line))
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Unwrap returns the underlying error, if any.
func (e *Error) Unwrap() error { return e.Err }

// entry is one parameter as read from the file.
type entry struct {
	line    int
	value   string
	fetched bool
}

// parser converts entries to values. The first error sticks and every later
// call is a no-op, so Parse reads as a list of parameters.
type parser struct {
	path    string
	entries map[string]*entry
	err     *Error
}

func (p *parser) fail(e *entry, param, msg string) {
	if p.err == nil {
		line := 0
		if e != nil {
			line = e.line
		}
		p.err = &Error{File: p.path, Line: line, Param: param, Msg: msg}
	}
}

// fetch marks the parameter known and returns its entry, nil if absent.
func (p *parser) fetch(name string) *entry {
	e := p.entries[name]
	if e != nil {
		e.fetched = true
	}
	return e
}

func (p *parser) str(name, def string) string {
	e := p.fetch(name)
	if e == nil || p.err != nil {
		return def
	}
	return e.value
}

func (p *parser) boolean(name string, def bool) bool {
	e := p.fetch(name)
	if e == nil || p.err != nil {
		return def
	}
	switch {
	case strings.EqualFold(e.value, "true"):
		return true
	case strings.EqualFold(e.value, "false"):
		return false
	}
	p.fail(e, name, name+": Invalid boolean. Expect 'true' or 'false'")
	return def
}

// num converts and range-checks a number; max < 0 means no upper limit.
func (p *parser) num(name string, def, lo, hi int64) int64 {
	e := p.fetch(name)
	if e == nil || p.err != nil {
		return def
	}
	v, msg := parseNumber(e.value)
	switch {
	case msg != "":
		p.fail(e, name, name+": "+msg)
	case v < lo:
		p.fail(e, name, fmt.Sprintf("%s=%d but it must not be less than lower limit %d", name, v, lo))
	case hi >= 0 && v > hi:
		p.fail(e, name, fmt.Sprintf("%s=%d but it must not be greater than upper limit %d", name, v, hi))
	default:
		return v
	}
	return def
}

// maxSeconds is the most seconds a time.Duration holds: the upper limit of
// the timeouts the original left unbounded.
const maxSeconds = math.MaxInt64 / int64(time.Second)

func (p *parser) seconds(name string, def, lo, hi int64) time.Duration {
	if hi < 0 {
		hi = maxSeconds
	}
	return time.Duration(p.num(name, def, lo, hi)) * time.Second
}

func (p *parser) integer(name string, def, lo, hi int64) int {
	if hi < 0 {
		hi = math.MaxInt
	}
	return int(p.num(name, def, lo, hi))
}

// parseNumber converts a number the way the original did: strtol base 10
// (leading white space and a sign allowed, out-of-range values clamped),
// then any number of multipliers k/K (×1000), m/M (×1,000,000) and g/G
// (×1,000,000,000). On failure it returns the original's message.
func parseNumber(s string) (int64, string) {
	i := 0
	for i < len(s) && isSpace(s[i]) {
		i++
	}
	neg := false
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		neg = s[i] == '-'
		i++
	}
	start := i
	var n uint64 // magnitude, saturating just above MaxInt64
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		if n <= math.MaxInt64 {
			n = n*10 + uint64(s[i]-'0')
		}
		i++
	}
	if i == start {
		return 0, "Invalid number. Expect a digit"
	}
	var v int64
	switch {
	case neg && n > math.MaxInt64:
		v = math.MinInt64
	case neg:
		v = -int64(n)
	case n > math.MaxInt64:
		v = math.MaxInt64
	default:
		v = int64(n)
	}
	for ; i < len(s); i++ {
		var m int64
		switch s[i] {
		case 'k', 'K':
			m = 1000
		case 'm', 'M':
			m = 1000000
		case 'g', 'G':
			m = 1000000000
		default:
			return 0, "Invalid multiplier. Expect K, M, or G"
		}
		if v > math.MaxInt64/m || v < math.MinInt64/m {
			return 0, "Multiplier causes overflow"
		}
		v *= m
	}
	return v, ""
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'
}

// Parse reads one configuration from r. path names the file in errors and
// key is the service it configures. Any error is an *Error; the first one
// found is returned, in the original's order: duplicates while reading, then
// each parameter's conversion and range check, then an unknown name, then the
// cross-checks.
func Parse(r io.Reader, path string, key servicekey.Key) (*Service, error) {
	p := &parser{path: path, entries: map[string]*entry{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), MaxFileSize)
	lineNo := 0
	for sc.Scan() {
		lineNo++
		line := sc.Text()
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		line = strings.TrimLeft(line, " \t")
		if line == "" {
			continue
		}
		name, value := line, ""
		if i := strings.IndexAny(line, " \t"); i >= 0 {
			name, value = line[:i], strings.Trim(line[i:], " \t")
		}
		if prev, ok := p.entries[name]; ok {
			return nil, &Error{File: path, Line: lineNo, Param: name,
				Msg: fmt.Sprintf("Duplicate parameter '%s' at line %d", name, prev.line)}
		}
		p.entries[name] = &entry{line: lineNo, value: value}
	}
	if err := sc.Err(); err != nil {
		msg := "read failed: " + err.Error()
		if errors.Is(err, bufio.ErrTooLong) {
			msg = fmt.Sprintf("line is longer than %d bytes", MaxFileSize)
		}
		return nil, &Error{File: path, Line: lineNo + 1, Msg: msg, Err: err}
	}

	s := &Service{Key: key, Path: path}
	s.AffinityTimeout = p.seconds("affinity-timeout", 60, 10, 600)
	s.Cd = p.str("cd", "")
	s.EnableLeakRamping = p.boolean("enable-leak-ramping", true)
	s.Exec = p.str("exec", "")
	s.ExecFailureBackoff = p.seconds("exec-failure-backoff", 60, 0, -1)
	s.IdleTimeout = p.seconds("idle-timeout", 120, 10, -1)
	s.MaximumPending = p.integer("maximum-pending", DefaultMaximumPending, 1, 4096)
	s.MaximumProcesses = p.integer("maximum-processes", 10, 1, 10000)
	s.MaximumRequestSize = p.num("maximum-request-size", DefaultMaximumRequestSize, 0, 999999999)
	s.MaximumRequests = p.integer("maximum-requests", 10000, 1, -1)
	s.MaximumRetries = p.integer("maximum-retries", 1, 0, 10)
	s.MaximumThreads = p.integer("maximum-threads", 1, 1, 10000)
	s.MinimumProcesses = p.integer("minimum-processes", 1, 0, -1)
	s.OccupancyPercent = p.integer("occupancy-percent", 70, 50, 100)
	s.PrestartProcesses = p.boolean("prestart-processes", false)
	s.Preload = p.boolean("preload", false)
	s.RecorderCycle = p.integer("recorder-cycle", 0, 0, -1)
	s.RecorderPrefix = p.str("recorder-prefix", "")
	s.RequestReadTimeout = p.seconds("request-read-timeout", int64(DefaultRequestReadTimeout/time.Second), 0, 600)
	s.UlimitCPUMilliseconds = p.num("ulimit-cpu-milliseconds", 0, 0, -1)
	s.UlimitOpenFiles = p.num("ulimit-open-files", 0, 0, 1000)
	s.UlimitDataMemoryMB = p.num("ulimit-data-memory", 0, 0, -1)
	s.UnresponsiveTimeout = p.seconds("unresponsive-timeout", 10, 5, 600)
	s.StopGrace = p.seconds("stop-grace", int64(s.UnresponsiveTimeout/time.Second), 1, 600)
	s.User = p.str("user", "")
	s.Group = p.str("group", "")
	s.Jobs = p.boolean("jobs", false)
	s.JobsMaxWorkers = p.integer("jobs-max-workers", 0, 0, 10000)
	s.JobsOverdrive = p.boolean("jobs-overdrive", false)
	s.JobsMaxAttempts = p.integer("jobs-max-attempts", 5, 1, 1000)
	s.JobsWorkerMaxTTL = p.seconds("jobs-worker-max-ttl", 60, 1, 86400)
	p.fetch("exit") // a no-op, so that a configuration can be a shell script
	if p.err != nil {
		return nil, p.err
	}

	var unknown []string
	for name, e := range p.entries {
		if !e.fetched {
			unknown = append(unknown, name)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		e := p.entries[unknown[0]]
		return nil, &Error{File: path, Line: e.line, Param: unknown[0],
			Msg: "Unknown configuration parameter: " + unknown[0]}
	}

	if e := p.entries["minimum-processes"]; e != nil && s.MinimumProcesses > s.MaximumProcesses {
		return nil, &Error{File: path, Line: e.line, Param: "minimum-processes",
			Msg: "minimum-processes must not be greater than maximum-processes"}
	}
	if slots := s.MaximumProcesses * s.MaximumThreads; slots > MaxSlots {
		// Only maximum-threads above 10 can take the product over the
		// limit, so the parameter is in the file.
		return nil, &Error{File: path, Line: p.entries["maximum-threads"].line, Param: "maximum-threads",
			Msg: fmt.Sprintf("maximum-processes × maximum-threads = %d × %d = %d but it must not be greater than %d "+
				"(the stats segment's slots)", s.MaximumProcesses, s.MaximumThreads, slots, MaxSlots)}
	}
	if s.Exec == "" {
		return nil, &Error{File: path, Param: "exec", Msg: "Must include an 'exec' parameter"}
	}
	argv, err := TokenizeExec(s.Exec)
	if err == nil && len(argv) == 0 {
		err = errors.New("no command")
	}
	if err != nil {
		return nil, &Error{File: path, Line: p.entries["exec"].line, Param: "exec",
			Msg: "exec: " + err.Error(), Err: err}
	}
	s.Argv = argv

	if s.ExecFailureBackoff == 0 {
		s.Warnings = append(s.Warnings, "Zero exec-failure-backoff can be deleterious to your system")
	}
	if len(s.RecorderPrefix) > MaxRecorderPrefix {
		s.RecorderPrefix = s.RecorderPrefix[:MaxRecorderPrefix]
		s.Warnings = append(s.Warnings, fmt.Sprintf("recorder-prefix truncated to %d bytes", MaxRecorderPrefix))
	}
	return s, nil
}

// FileID identifies one version of a configuration file. The manager keeps a
// running service across a scan only if the ID is unchanged (and the file's
// modification time is before the reload started).
type FileID struct {
	Dev, Ino uint64
	Size     int64
	ModTime  time.Time
}

// Load reads the configuration file at path. The service key is the file's
// base name. Besides Parse's checks, the file must be a regular file of at
// most MaxFileSize bytes that neither group nor others may write, owned by
// the manager's effective user or root; a symbolic link is followed and its
// target must pass the same checks, and so must the directory holding the
// target (errors.Is(err, ErrUntrusted) for these). user and group, if given,
// must exist. Argv[0] is resolved as ResolveProgram says. Every error is an
// *Error.
func Load(path string) (*Service, error) {
	fail := func(msg string, err error) (*Service, error) {
		return nil, &Error{File: path, Msg: msg, Err: err}
	}
	key, err := servicekey.ParseConfigName(filepath.Base(path))
	if err != nil {
		return fail(err.Error(), err)
	}
	// O_NONBLOCK: a FIFO put in place of the file must not block the open.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return fail("cannot open: "+errText(err), err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fail("cannot stat: "+errText(err), err)
	}
	if !fi.Mode().IsRegular() {
		return fail("not a regular file", nil)
	}
	what, trustPath := "file", path
	if target, err := filepath.EvalSymlinks(path); err == nil && target != path {
		if lerr := checkLinkTarget(path); lerr != nil {
			return fail(lerr.Error(), lerr)
		}
		what, trustPath = "link target "+target, target
	}
	if err := checkTrust(what, trustPath, fi); err != nil {
		var te *TrustError
		if errors.As(err, &te) {
			return fail(te.Path+" "+te.Why+": refusing it; fix: "+te.Fix, err)
		}
		return fail(err.Error(), err)
	}
	if fi.Size() > MaxFileSize {
		return fail(fmt.Sprintf("file is larger than %d bytes", MaxFileSize), nil)
	}
	s, err := Parse(io.LimitReader(f, MaxFileSize+1), path, key)
	if err != nil {
		return nil, err
	}
	if err := s.checkAccounts(); err != nil {
		return nil, err
	}
	if prog, err := ResolveProgram(s.Argv[0], filepath.Dir(path), s.Cd); err != nil {
		s.Warnings = append(s.Warnings, err.Error())
	} else {
		s.Argv[0] = prog
	}
	s.ID = FileID{Size: fi.Size(), ModTime: fi.ModTime()}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		s.ID.Dev, s.ID.Ino = uint64(st.Dev), st.Ino
	}
	return s, nil
}

// checkAccounts verifies that user and group, names or numeric ids, exist.
func (s *Service) checkAccounts() error {
	if s.User != "" {
		if _, err := user.Lookup(s.User); err != nil {
			if _, err2 := user.LookupId(s.User); err2 != nil {
				return &Error{File: s.Path, Param: "user", Msg: "user: unknown user '" + s.User + "'", Err: err}
			}
		}
	}
	if s.Group != "" {
		if _, err := user.LookupGroup(s.Group); err != nil {
			if _, err2 := user.LookupGroupId(s.Group); err2 != nil {
				return &Error{File: s.Path, Param: "group", Msg: "group: unknown group '" + s.Group + "'", Err: err}
			}
		}
	}
	return nil
}

// errText is an os error's cause without the operation and path it repeats.
func errText(err error) string {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}
