package process

import (
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// limitsArg marks the manager binary started as the limits wrapper of an
// instance (see RunLimitsWrapper).
const limitsArg = "-pluton-exec-with-limits"

// ExitExecFailed is the exit status of an instance whose exec failed, as the
// original's child used (reference §5.5: 13 "execv failed").
const ExitExecFailed = 13

// wrap returns the program and argv that start s with its limits already in
// force: the manager's own binary as a wrapper that calls setrlimit and then
// execs s.Path. Resource limits are per process and there is no hook between
// fork and exec in os.StartProcess, so this is the only way to have them in
// force before the instance's first instruction.
func wrap(s *Spec) (path string, argv []string, err error) {
	if s.Limits == (Limits{}) {
		return s.Path, s.Argv, nil
	}
	self, err := os.Executable()
	if err != nil {
		return "", nil, fmt.Errorf("resource limits need the manager's own executable: %w", err)
	}
	l := s.Limits
	argv = append([]string{self, limitsArg, strconv.FormatUint(l.CPUSeconds, 10),
		strconv.FormatUint(l.DataBytes, 10), strconv.FormatUint(l.OpenFiles, 10), s.Path}, s.Argv...)
	return self, argv, nil
}

// RunLimitsWrapper must be the first call of the manager's main. When the
// process was started as an instance's limits wrapper it sets the limits and
// execs the instance, never returning; otherwise it returns at once.
func RunLimitsWrapper() {
	if len(os.Args) < 7 || os.Args[1] != limitsArg {
		return
	}
	a := os.Args[2:]
	for i, res := range []int{unix.RLIMIT_CPU, unix.RLIMIT_DATA, unix.RLIMIT_NOFILE} {
		v, err := strconv.ParseUint(a[i], 10, 64)
		if err != nil {
			fail("bad limit %q: %v", a[i], err)
		}
		if v == 0 {
			continue
		}
		if err := unix.Setrlimit(res, &unix.Rlimit{Cur: v, Max: v + 1}); err != nil {
			fail("setrlimit %d: %v", res, err)
		}
	}
	err := unix.Exec(a[3], a[4:], os.Environ())
	fail("execv %s: %v", a[3], err)
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "plutonManager: "+format+"\n", args...)
	os.Exit(ExitExecFailed)
}
