package config

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// ResolveProgram returns the path an exec line's program is started from:
//
//   - an absolute path is used as is;
//   - a bare name (no '/') is searched for on the manager's $PATH, as a shell
//     would (the first executable regular file of that name);
//   - any other relative path (./svc, bin/svc) is taken relative to cd when
//     the configuration sets it (the instance starts there), else relative to
//     configDir, the directory of the configuration file.
//
// The result is absolute when configDir (or cd) is. A bare name not found on
// $PATH is an error naming the directories searched; the other forms are not
// checked here (the start reports a missing file).
func ResolveProgram(program, configDir, cd string) (string, error) {
	switch {
	case program == "":
		return "", errors.New("exec: no command")
	case filepath.IsAbs(program):
		return program, nil
	case strings.Contains(program, "/"):
		base := configDir
		if cd != "" {
			base = cd
		}
		if abs, err := filepath.Abs(filepath.Join(base, program)); err == nil {
			return abs, nil
		}
		return filepath.Join(base, program), nil
	}
	p, err := exec.LookPath(program)
	if err == nil && !filepath.IsAbs(p) {
		p, err = filepath.Abs(p)
	}
	if err != nil {
		return "", fmt.Errorf("exec: %q not found on PATH (%s); give its full path, or a path relative to the configuration directory such as ./%s",
			program, os.Getenv("PATH"), program)
	}
	return p, nil
}

// Summary describes the service's parsed configuration on one line, for
// the -d config trace: the key, the file, the program as resolved and every
// parameter's value.
func (s *Service) Summary() string {
	return fmt.Sprintf("%s from %s: argv=%q cd=%q minimum-processes=%d maximum-processes=%d prestart-processes=%t "+
		"occupancy-percent=%d idle-timeout=%s unresponsive-timeout=%s exec-failure-backoff=%s maximum-requests=%d "+
		"enable-leak-ramping=%t affinity-timeout=%s maximum-retries=%d maximum-threads=%d recorder-prefix=%q recorder-cycle=%d "+
		"maximum-request-size=%d request-read-timeout=%s maximum-pending=%d "+
		"ulimit-cpu-milliseconds=%d ulimit-data-memory=%d ulimit-open-files=%d user=%q group=%q warnings=%d",
		s.Key, s.Path, s.Argv, s.Cd, s.MinimumProcesses, s.MaximumProcesses, s.PrestartProcesses,
		s.OccupancyPercent, s.IdleTimeout, s.UnresponsiveTimeout, s.ExecFailureBackoff, s.MaximumRequests,
		s.EnableLeakRamping, s.AffinityTimeout, s.MaximumRetries, s.MaximumThreads, s.RecorderPrefix, s.RecorderCycle,
		s.MaximumRequestSize, s.RequestReadTimeout, s.MaximumPending,
		s.UlimitCPUMilliseconds, s.UlimitDataMemoryMB, s.UlimitOpenFiles, s.User, s.Group, len(s.Warnings))
}
