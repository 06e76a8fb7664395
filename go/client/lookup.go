package client

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/pluton-go/pluton/go/fault"
	"github.com/pluton-go/pluton/go/servicekey"
	"github.com/pluton-go/pluton/go/version"
)

// DefaultLookupPath is the system-wide lookup map, the last default a client
// tries (docs/protocol.md §7.1): the home of a manager run by root.
const DefaultLookupPath = SystemHome + "/" + LookupMapName

// LookupEnv is the environment variable that names the lookup location.
const LookupEnv = "plutonLookupMap"

// HomeEnv is the environment variable that names the Pluton home directory.
const HomeEnv = "plutonHome"

// SystemHome is the home of a manager run by root.
const SystemHome = "/usr/local/var/pluton"

// LookupMapName is the lookup map's file name in a home directory.
const LookupMapName = "lookup.map"

// LookupHelp says in one line how a lookup location is chosen, for the usage
// texts of the commands.
const LookupHelp = "$" + LookupEnv + ", else <home>/" + LookupMapName + " or " + DefaultLookupPath +
	"; <home> is $" + HomeEnv + ", else ~/.local/state/pluton (" + SystemHome + " for root)"

// lookupMapHeader starts the text lookup map written by the manager.
const lookupMapHeader = "# pluton lookup map "

// maxCachedKeys bounds the per-client cache of parsed keys and socket paths.
const maxCachedKeys = 4096

// Home returns the Pluton home directory (docs/protocol.md §7.1): $plutonHome
// if set; else SystemHome when running as root; else $XDG_STATE_HOME/pluton,
// by default ~/.local/state/pluton. The path is absolute when the variables
// it comes from are; Home never creates it.
func Home() string {
	if h := os.Getenv(HomeEnv); h != "" {
		return h
	}
	if os.Geteuid() == 0 {
		return SystemHome
	}
	if x := os.Getenv("XDG_STATE_HOME"); x != "" && filepath.IsAbs(x) {
		return filepath.Join(x, "pluton")
	}
	home, err := os.UserHomeDir()
	if err != nil || home == "" {
		// No $HOME: fall back to the system home, which then says so in
		// the fault of a failed lookup.
		return SystemHome
	}
	return filepath.Join(home, ".local", "state", "pluton")
}

// DefaultLookupPaths returns the lookup maps a client tries, in order, when
// neither an explicit location nor $plutonLookupMap names one:
// <Home()>/lookup.map, then DefaultLookupPath (once, if they are the same).
func DefaultLookupPaths() []string {
	first := filepath.Join(Home(), LookupMapName)
	if first == DefaultLookupPath {
		return []string{first}
	}
	return []string{first, DefaultLookupPath}
}

// LookupPath returns the lookup location a client uses for path: path itself
// if it is not empty, else $plutonLookupMap, else the first of
// DefaultLookupPaths that exists, else the first of them (which
// ReadRendezvous then reports as missing, naming every path tried).
func LookupPath(path string) string {
	if path != "" {
		return path
	}
	if env := os.Getenv(LookupEnv); env != "" {
		return env
	}
	paths := DefaultLookupPaths()
	for _, p := range paths {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return paths[0]
}

// missingLookup is the fault for a lookup location that does not exist. A
// location that is the first default (no option, no $plutonLookupMap) is
// reported as mapInitializationFailed (-32) naming every default tried; an
// explicit one keeps the original's openForMmapFailed (-33). Both say what
// to do.
func missingLookup(location string, err error) error {
	const hint = ": is plutonManager running? Start it, or set " + LookupEnv + " or pass -L"
	if os.Getenv(LookupEnv) == "" {
		if paths := DefaultLookupPaths(); paths[0] == location {
			return fault.Wrap(fault.MapInitializationFailed,
				"no lookup map at "+strings.Join(paths, " or ")+hint, err)
		}
	}
	return fault.Wrap(fault.OpenForMmapFailed, "no lookup map at "+location+hint, err)
}

// ReadRendezvous returns the rendezvous directory named by a lookup location:
// the location itself if it is a directory, else the directory on the
// "rendezvous <dir>" line of the lookup map file. A location that does not
// exist fails with a fault naming the paths tried and what to do:
// mapInitializationFailed (-32) for the defaults, openForMmapFailed (-33) for
// an explicit location. A location that cannot be opened is
// openForMmapFailed, and a file that is not a lookup map
// mapInitializationFailed.
func ReadRendezvous(location string) (string, error) {
	st, err := os.Stat(location)
	if errors.Is(err, fs.ErrNotExist) {
		return "", missingLookup(location, bare(err))
	}
	if err != nil {
		return "", fault.Wrap(fault.OpenForMmapFailed, location, bare(err))
	}
	if st.IsDir() {
		abs, err := filepath.Abs(location)
		if err != nil {
			return "", fault.Wrap(fault.OpenForMmapFailed, location, err)
		}
		return abs, nil
	}
	if dir, ok, err := binaryRendezvous(location); ok { // the original's binary map (lookupbin.go)
		return dir, err
	}
	f, err := os.Open(location)
	if err != nil {
		return "", fault.Wrap(fault.OpenForMmapFailed, location, bare(err))
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if v, ok := strings.CutPrefix(line, lookupMapHeader); ok {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil || n != version.LookupMapVersion {
				return "", fault.New(fault.ShmVersionMisMatch,
					fmt.Sprintf("%s: lookup map version %q, want %d", location, strings.TrimSpace(v), version.LookupMapVersion))
			}
			continue
		}
		if dir, ok := strings.CutPrefix(line, "rendezvous "); ok {
			dir = strings.TrimSpace(dir)
			if dir == "" {
				break
			}
			if !filepath.IsAbs(dir) {
				dir = filepath.Join(filepath.Dir(location), dir)
			}
			return dir, nil
		}
	}
	if err := sc.Err(); err != nil {
		return "", fault.Wrap(fault.MapInitializationFailed, location, err)
	}
	return "", fault.New(fault.MapInitializationFailed, location+": no 'rendezvous <dir>' line")
}

// Location is the result of a lookup: where a key's requests go.
type Location struct {
	// SearchKey is the original lookup-map key of the entry found,
	// App.Ser.Ver.Func for an exact match or App.Ser.Ver for the wildcard.
	SearchKey string
	// SocketPath is the service's rendezvous socket.
	SocketPath string
	// Wildcard is true when the key resolved to its App..Ver.Ser service.
	Wildcard bool
}

// target is what a key string resolves to before any file-system access: the
// parsed key and its two candidate socket paths. It is cached per client and
// per rendezvous directory; the file system is consulted on every request.
type target struct {
	err      error // serviceKeyBad fault, or a too-long path
	exact    string
	wildcard string
	key      servicekey.Key
}

// resolver maps keys to targets below one rendezvous directory.
type resolver struct {
	dir   string
	cache sync.Map // key string -> *target
	size  atomic.Int32
}

func (rv *resolver) target(key string) *target {
	if t, ok := rv.cache.Load(key); ok {
		return t.(*target)
	}
	t := &target{}
	k, err := servicekey.Parse(key)
	if err != nil {
		// The reason alone is the text, as the original's; the key is the
		// caller's own.
		var ke *servicekey.Error
		text := err.Error()
		if errors.As(err, &ke) {
			text = ke.Reason
		}
		t.err = fault.New(fault.ServiceKeyBad, text)
	} else {
		t.key = k
		t.exact = filepath.Join(rv.dir, key+".socket")
		t.wildcard = filepath.Join(rv.dir, k.Wildcard().String()+".socket")
		if len(t.exact) >= len(syscall.RawSockaddrUnix{}.Path) {
			t.err = fault.Wrap(fault.ConnectFailed, t.exact, syscall.ENAMETOOLONG)
		}
	}
	if rv.size.Load() < maxCachedKeys {
		if _, loaded := rv.cache.LoadOrStore(key, t); !loaded {
			rv.size.Add(1)
		}
	}
	return t
}

// lookup resolves key with a stat of each candidate socket (no connection).
func (rv *resolver) lookup(key string) (Location, error) {
	t := rv.target(key)
	if t.err != nil {
		return Location{}, t.err
	}
	if isSocket(t.exact) {
		return Location{SearchKey: t.key.SearchKey(), SocketPath: t.exact}, nil
	}
	if isSocket(t.wildcard) {
		return Location{SearchKey: t.key.Wildcard().SearchKey(), SocketPath: t.wildcard, Wildcard: true}, nil
	}
	return Location{}, fault.New(fault.ServiceNotFound, key)
}

func isSocket(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.Mode().Type() == fs.ModeSocket
}

// bare strips the *os.PathError around a system call error: the fault
// already names the path.
func bare(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
