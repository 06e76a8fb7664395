package config

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// copyTestdata copies testdata/<name> into a temporary directory with mode
// 0644, whatever modes the checkout gave the files.
func copyTestdata(t *testing.T, name string) string {
	t.Helper()
	src := filepath.Join("testdata", name)
	dst := t.TempDir()
	entries, err := os.ReadDir(src)
	require.NoError(t, err)
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(src, e.Name()))
		require.NoError(t, err)
		writeFile(t, filepath.Join(dst, e.Name()), string(data), 0o644)
	}
	return dst
}

func TestScanAllNoErrors(t *testing.T) {
	dir := copyTestdata(t, "allNoErrorsConfig")
	res, err := Scan(dir)
	require.NoError(t, err)
	assert.Empty(t, res.Errors)
	assert.Empty(t, res.Ignored)
	require.Len(t, res.Services, 19)
	byFunc := map[string]*Service{}
	for _, s := range res.Services {
		assert.Equal(t, filepath.Join(dir, s.Key.String()), s.Path)
		assert.Equal(t, "/bin/echo", s.Argv[0])
		byFunc[s.Key.Function] = s
	}
	assert.Equal(t, "", byFunc["cd"].Cd)
	assert.Equal(t, 0, byFunc["minimumProcesses"].MinimumProcesses)
	assert.Equal(t, 50, byFunc["occupancyPercent"].OccupancyPercent)
	assert.Equal(t, int64(0), byFunc["ulimitDataMemory"].UlimitDataMemoryMB)
	assert.Equal(t, 2000*time.Second, byFunc["idleTimeout"].IdleTimeout)
	assert.Equal(t, 1000000, byFunc["maximumRequests"].MaximumRequests)
	assert.False(t, byFunc["enableLeakRamping"].EnableLeakRamping)
	assert.True(t, byFunc["prestartProcesses"].PrestartProcesses)
	assert.Equal(t, "/tmp/rec.", byFunc["recorderPrefix"].RecorderPrefix)
	assert.Len(t, byFunc["execFailureBackoff"].Warnings, 1)
}

func TestScanAllErrors(t *testing.T) {
	dir := copyTestdata(t, "allErrorsConfig")
	res, err := Scan(dir)
	require.NoError(t, err)
	assert.Empty(t, res.Services)
	assert.Equal(t, []Ignored{
		{"badtype.param.0.yoo", "Ignoring file 'badtype.param.0.yoo' - serialization type is unrecognized"},
		{"invalid.type", "Ignoring file 'invalid.type' - need four dot-separated tokens"},
	}, res.Ignored)

	want := map[string]string{ // function: the error after the file name
		"affinityTooHigh": "Line 2: affinity-timeout=601 but it must not be greater than upper limit 600",
		"affinityTooLow":  "Line 2: affinity-timeout=5 but it must not be less than lower limit 10",
		"badBoolean":      "Line 2: enable-leak-ramping: Invalid boolean. Expect 'true' or 'false'",
		"badMultiplier":   "Line 2: maximum-processes: Invalid multiplier. Expect K, M, or G",
		"badNumber":       "Line 2: idle-timeout: Invalid number. Expect a digit",
		"duplicateExec":   "Line 2: Duplicate parameter 'exec' at line 1",
		"empty":           "Must include an 'exec' parameter",
		"exex":            "Line 1: Unknown configuration parameter: exex",
		"minAboveMax":     "Line 2: minimum-processes must not be greater than maximum-processes",
		"overflow":        "Line 2: maximum-requests: Multiplier causes overflow",
		"unknown":         "Line 2: Unknown configuration parameter: maximum-occupancy",
	}
	require.Len(t, res.Errors, len(want))
	for _, err := range res.Errors {
		var cerr *Error
		require.True(t, errors.As(err, &cerr), "%T %v", err, err)
		name := filepath.Base(cerr.File)
		assert.Equal(t, dir, filepath.Dir(cerr.File))
		fn := name[len("allErrors.") : len(name)-len(".0.raw")]
		msg, ok := want[fn]
		require.True(t, ok, "unexpected error for %s: %v", name, err)
		assert.Equal(t, cerr.File+": "+msg, err.Error())
		delete(want, fn)
	}
	assert.Empty(t, want)
}

func TestScanEntries(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "real.svc.0.raw"), "exec /bin/echo\n", 0o644)
	writeFile(t, filepath.Join(dir, "README"), "not a config\n", 0o644)
	require.NoError(t, os.Symlink("real.svc.0.raw", filepath.Join(dir, "link.svc.0.raw")))
	require.NoError(t, os.Symlink("nowhere", filepath.Join(dir, "dangling.svc.0.raw")))
	require.NoError(t, os.Mkdir(filepath.Join(dir, "dir.svc.0.raw"), 0o755))
	require.NoError(t, os.Symlink("dir.svc.0.raw", filepath.Join(dir, "dirlink.svc.0.raw")))
	require.NoError(t, os.Mkdir(filepath.Join(dir, "old"), 0o755)) // not a key: silent
	require.NoError(t, syscall.Mkfifo(filepath.Join(dir, "fifo.svc.0.raw"), 0o644))
	writeFile(t, filepath.Join(dir, "open.svc.0.raw"), "exec /bin/echo\n", 0o666)

	res, err := Scan(dir)
	require.NoError(t, err)
	var names []string
	for _, s := range res.Services {
		names = append(names, s.Key.String())
	}
	assert.Equal(t, []string{"link.svc.0.raw", "real.svc.0.raw"}, names)
	assert.Equal(t, []Ignored{
		{"README", "Ignoring file 'README' - need four dot-separated tokens"},
		{"dangling.svc.0.raw", "Cannot stat 'dangling.svc.0.raw': no such file or directory"},
		{"dir.svc.0.raw", "Ignoring non-regular files/links 'dir.svc.0.raw'"},
		{"dirlink.svc.0.raw", "Ignoring non-regular files/links 'dirlink.svc.0.raw'"},
		{"fifo.svc.0.raw", "Ignoring non-regular files/links 'fifo.svc.0.raw'"},
	}, res.Ignored)
	require.Len(t, res.Errors, 1)
	open := filepath.Join(dir, "open.svc.0.raw")
	assert.EqualError(t, res.Errors[0], open+
		": file is writable by group and others (mode 0666): refusing it; fix: chmod go-w "+open)
	assert.ErrorIs(t, res.Errors[0], ErrUntrusted)

	_, err = Scan(filepath.Join(dir, "missing"))
	assert.ErrorIs(t, err, os.ErrNotExist)
}
