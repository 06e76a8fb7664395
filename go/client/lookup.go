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

// DefaultLookupPath is the lookup location used when neither WithLookup nor
// the environment variable plutonLookupMap names one.
const DefaultLookupPath = "/usr/local/var/pluton/lookup.map"

// LookupEnv is the environment variable that names the lookup location.
const LookupEnv = "plutonLookupMap"

// lookupMapHeader starts the text lookup map written by the manager.
const lookupMapHeader = "# pluton lookup map "

// maxCachedKeys bounds the per-client cache of parsed keys and socket paths.
const maxCachedKeys = 4096

// LookupPath returns the lookup location a client uses for path: path itself
// if it is not empty, else $plutonLookupMap, else DefaultLookupPath.
func LookupPath(path string) string {
	if path != "" {
		return path
	}
	if env := os.Getenv(LookupEnv); env != "" {
		return env
	}
	return DefaultLookupPath
}

// ReadRendezvous returns the rendezvous directory named by a lookup location:
// the location itself if it is a directory, else the directory on the
// "rendezvous <dir>" line of the lookup map file. It fails with
// openForMmapFailed (-33) when the location cannot be opened and
// mapInitializationFailed (-32) when the file is not a lookup map.
func ReadRendezvous(location string) (string, error) {
	st, err := os.Stat(location)
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
