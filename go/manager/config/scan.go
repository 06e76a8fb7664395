package config

import (
	"errors"
	"os"
	"path/filepath"

	"github.com/pluton-go/pluton/go/servicekey"
)

// ScanResult is what Scan found in a configuration directory, each list in
// file-name order.
type ScanResult struct {
	Services []*Service // the files that loaded
	Ignored  []Ignored  // the entries that are not configurations (a warning each)
	Errors   []error    // the configurations that did not load, each an *Error whose File is the path
}

// Ignored is a directory entry Scan skipped. Reason is the whole warning, one
// of:
//
//	Ignoring file '<name>' - <why the name is not a service key>
//	Ignoring non-regular files/links '<name>'
//	Cannot stat '<name>': <cause>
type Ignored struct {
	Name, Reason string
}

// Scan reads the configuration directory dir: every entry whose name is a
// service key (servicekey.ParseConfigName) and that is, or links to, a
// regular file is loaded with Load. Directories whose names are not keys are
// skipped silently. The error is non-nil only if dir cannot be read or is
// not trusted (CheckDir; errors.Is(err, ErrUntrusted)): then nothing in it
// is loaded.
func Scan(dir string) (*ScanResult, error) {
	if err := CheckDir(dir); err != nil {
		return nil, err
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	res := &ScanResult{}
	for _, de := range entries {
		name := de.Name()
		if _, err := servicekey.ParseConfigName(name); err != nil {
			if !de.IsDir() {
				res.Ignored = append(res.Ignored, Ignored{name, "Ignoring file '" + name + "' - " + keyReason(err)})
			}
			continue
		}
		path := filepath.Join(dir, name)
		fi, err := os.Stat(path) // follows a link
		if err != nil {
			res.Ignored = append(res.Ignored, Ignored{name, "Cannot stat '" + name + "': " + errText(err)})
			continue
		}
		if !fi.Mode().IsRegular() {
			res.Ignored = append(res.Ignored, Ignored{name, "Ignoring non-regular files/links '" + name + "'"})
			continue
		}
		s, err := Load(path)
		if err != nil {
			res.Errors = append(res.Errors, err)
			continue
		}
		res.Services = append(res.Services, s)
	}
	return res, nil
}

// keyReason is the rule a name breaks, as the original printed it.
func keyReason(err error) string {
	var ke *servicekey.Error
	if errors.As(err, &ke) {
		return ke.Reason
	}
	return err.Error()
}
