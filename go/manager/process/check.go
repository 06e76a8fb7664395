package process

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// CheckExec checks, without starting anything, that an instance could be
// started from program (execv semantics: no PATH search; a relative path
// resolves against dir, or the manager's working directory when dir is
// empty) after changing to dir. The error reads like the one the start
// would give, e.g. "exec /usr/local/bin/svc: no such file or directory" or
// "cd /srv/x: not a directory".
func CheckExec(program, dir string) error {
	if dir != "" {
		fi, err := os.Stat(dir)
		switch {
		case err != nil:
			return fmt.Errorf("cd %s: %w", dir, pathCause(err))
		case !fi.IsDir():
			return fmt.Errorf("cd %s: %w", dir, unix.ENOTDIR)
		}
		if err := unix.Access(dir, unix.X_OK); err != nil {
			return fmt.Errorf("cd %s: %w", dir, err)
		}
	}
	p := program
	if !filepath.IsAbs(p) && dir != "" {
		p = filepath.Join(dir, p)
	}
	fi, err := os.Stat(p)
	if err != nil {
		return fmt.Errorf("exec %s: %w", program, pathCause(err))
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("exec %s: not a regular file", program)
	}
	if err := unix.Access(p, unix.X_OK); err != nil || fi.Mode().Perm()&0o111 == 0 {
		return fmt.Errorf("exec %s: not executable (mode %04o): %w", program, fi.Mode().Perm(), unix.EACCES)
	}
	return nil
}

// pathCause is an os error's cause without the operation and path.
func pathCause(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
