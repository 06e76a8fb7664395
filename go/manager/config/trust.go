package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// ErrUntrusted marks a configuration directory or file that the manager
// refuses because someone other than its own user or root could change it,
// and so choose the commands the manager runs. The error's text says why
// and gives the command that fixes it.
var ErrUntrusted = errors.New("untrusted configuration")

// TrustError is an untrusted directory or file (see CheckDir and Load).
type TrustError struct {
	Path string // the directory or file refused, as the message names it ("configuration directory /etc/pluton")
	Why  string // e.g. "is writable by group and others (mode 0777)"
	Fix  string // the command that fixes it, e.g. "chmod go-w /etc/pluton"
}

// Error returns "<path> <why>: refusing it; fix: <command>".
func (e *TrustError) Error() string {
	return fmt.Sprintf("%s %s: refusing it (anyone who can change it chooses what the manager runs); fix: %s",
		e.Path, e.Why, e.Fix)
}

// Is makes errors.Is(err, ErrUntrusted) true.
func (e *TrustError) Is(target error) bool { return target == ErrUntrusted }

// CheckDir checks that dir, a configuration directory (or the directory of a
// symbolic link's target), is trusted: neither group nor others may write it,
// and it is owned by the manager's effective user or by root. A symbolic link
// to a directory is followed and its target checked. The error is a
// *TrustError, or the stat's error.
func CheckDir(dir string) error {
	fi, err := os.Stat(dir)
	if err != nil {
		return err
	}
	what := "configuration directory " + dir
	if !fi.IsDir() {
		return fmt.Errorf("%s: %w", what, syscall.ENOTDIR)
	}
	return checkTrust(what, dir, fi)
}

// checkTrust applies the mode and owner rules to fi, the status of path.
// what names the object in the message.
func checkTrust(what, path string, fi fs.FileInfo) error {
	if perm := fi.Mode().Perm(); perm&0o022 != 0 {
		who, bits := "group and others", "go-w"
		switch perm & 0o022 {
		case 0o020:
			who, bits = "group", "g-w"
		case 0o002:
			who, bits = "others", "o-w"
		}
		return &TrustError{Path: what, Why: fmt.Sprintf("is writable by %s (mode %04o)", who, perm),
			Fix: "chmod " + bits + " " + shellQuote(path)}
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	euid := uint32(os.Geteuid())
	if st.Uid == euid || st.Uid == 0 {
		return nil
	}
	me := userName(euid)
	return &TrustError{Path: what,
		Why: fmt.Sprintf("is owned by %s, not by the manager's user (%s) or root", userName(st.Uid), me),
		Fix: "chown " + me + " " + shellQuote(path) + " (as root)"}
}

// checkLinkTarget checks the directory holding the final target of path, when
// path is a symbolic link: a link is trusted only if whoever can change its
// target is.
func checkLinkTarget(path string) error {
	fi, err := os.Lstat(path)
	if err != nil || fi.Mode()&fs.ModeSymlink == 0 {
		return nil
	}
	target, err := filepath.EvalSymlinks(path)
	if err != nil {
		return err
	}
	dir := filepath.Dir(target)
	di, err := os.Stat(dir)
	if err != nil {
		return err
	}
	return checkTrust("directory "+dir+" of the link target "+target, dir, di)
}

// userName is the user name of uid, or the number when it has none.
func userName(uid uint32) string {
	id := strconv.FormatUint(uint64(uid), 10)
	if u, err := user.LookupId(id); err == nil && u.Username != "" {
		return u.Username
	}
	return id
}

// shellQuote quotes s for a POSIX shell when it needs it, so that the fix
// can be pasted as is.
func shellQuote(s string) string {
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '/' || c == '.' ||
			c == '_' || c == '-' || c == '+' || c == ',' || c == ':' || c == '@' || c == '%') {
			return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
		}
	}
	return s
}
