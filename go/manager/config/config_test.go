package config

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pluton-go/pluton/go/servicekey"
)

var testKey = servicekey.Key{Application: "system", Function: "echo", Serialization: servicekey.Raw}

func parseString(t *testing.T, text string) (*Service, error) {
	t.Helper()
	return Parse(strings.NewReader(text), "test.conf", testKey)
}

func TestParseNumber(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		msg  string
	}{
		{"0", 0, ""},
		{"13", 13, ""},
		{"+7", 7, ""},
		{"-7", -7, ""},
		{"\v 42", 42, ""},
		{"1k", 1000, ""},
		{"1K", 1000, ""},
		{"2m", 2000000, ""},
		{"3G", 3000000000, ""},
		{"1KK", 1000000, ""},
		{"1kM", 1000000000, ""},
		{"0M", 0, ""},
		{"-2K", -2000, ""},
		{"9223372036854775807", math.MaxInt64, ""},
		{"99999999999999999999", math.MaxInt64, ""}, // strtol clamps
		{"-99999999999999999999", math.MinInt64, ""},
		{"9G", 9000000000, ""},
		{"9223372036854775807K", 0, "Multiplier causes overflow"},
		{"9999999MMM", 0, "Multiplier causes overflow"},
		{"9GGG", 0, "Multiplier causes overflow"},
		{"13X", 0, "Invalid multiplier. Expect K, M, or G"},
		{"1 K", 0, "Invalid multiplier. Expect K, M, or G"},
		{"0x10", 0, "Invalid multiplier. Expect K, M, or G"},
		{"1.5", 0, "Invalid multiplier. Expect K, M, or G"},
		{"xxx", 0, "Invalid number. Expect a digit"},
		{"", 0, "Invalid number. Expect a digit"},
		{"-", 0, "Invalid number. Expect a digit"},
		{"K", 0, "Invalid number. Expect a digit"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			v, msg := parseNumber(tt.in)
			assert.Equal(t, tt.msg, msg)
			if tt.msg == "" {
				assert.Equal(t, tt.want, v)
			}
		})
	}
}

func TestParseDefaults(t *testing.T) {
	s, err := parseString(t, "exec /bin/echo\n")
	require.NoError(t, err)
	assert.Equal(t, &Service{
		Key:                 testKey,
		Path:                "test.conf",
		AffinityTimeout:     60 * time.Second,
		EnableLeakRamping:   true,
		Exec:                "/bin/echo",
		Argv:                []string{"/bin/echo"},
		ExecFailureBackoff:  60 * time.Second,
		IdleTimeout:         120 * time.Second,
		MaximumPending:      64,
		MaximumProcesses:    10,
		MaximumRequestSize:  64 << 20,
		MaximumRequests:     10000,
		MaximumRetries:      1,
		MaximumThreads:      1,
		MinimumProcesses:    1,
		OccupancyPercent:    70,
		RequestReadTimeout:  5 * time.Second,
		UnresponsiveTimeout: 10 * time.Second,
		StopGrace:           10 * time.Second, // stop-grace defaults to unresponsive-timeout
		JobsMaxAttempts:     5,
		JobsWorkerMaxTTL:    60 * time.Second,
	}, s)
}

func TestParseAll(t *testing.T) {
	text := `#! /bin/sh
# A configuration that is also a shell script.
	cd /var/tmp   # trailing comment
exec "/usr/local/bin/my service" -x 'a b' c\ d   # comment
exit 13
affinity-timeout 600
enable-leak-ramping FaLsE
exec-failure-backoff 2k
idle-timeout 10
maximum-processes 10K
maximum-requests 1M
maximum-retries 10
maximum-threads 4
minimum-processes 10000
occupancy-percent 100
prestart-processes TRUE
recorder-cycle 5
recorder-prefix /tmp/rec#not part of it
ulimit-cpu-milliseconds 1G
ulimit-data-memory 512
ulimit-open-files 0
unresponsive-timeout 600
user someone
group somegroup`
	s, err := parseString(t, text)
	require.NoError(t, err)
	assert.Equal(t, "/var/tmp", s.Cd)
	assert.Equal(t, `"/usr/local/bin/my service" -x 'a b' c\ d`, s.Exec)
	assert.Equal(t, []string{"/usr/local/bin/my service", "-x", "a b", "c d"}, s.Argv)
	assert.Equal(t, 600*time.Second, s.AffinityTimeout)
	assert.False(t, s.EnableLeakRamping)
	assert.Equal(t, 2000*time.Second, s.ExecFailureBackoff)
	assert.Equal(t, 10*time.Second, s.IdleTimeout)
	assert.Equal(t, 10000, s.MaximumProcesses)
	assert.Equal(t, 1000000, s.MaximumRequests)
	assert.Equal(t, 10, s.MaximumRetries)
	assert.Equal(t, 4, s.MaximumThreads)
	assert.Equal(t, 10000, s.MinimumProcesses)
	assert.Equal(t, 100, s.OccupancyPercent)
	assert.True(t, s.PrestartProcesses)
	assert.Equal(t, 5, s.RecorderCycle)
	assert.Equal(t, "/tmp/rec", s.RecorderPrefix)
	assert.Equal(t, int64(1000000000), s.UlimitCPUMilliseconds)
	assert.Equal(t, int64(512), s.UlimitDataMemoryMB)
	assert.Equal(t, int64(0), s.UlimitOpenFiles)
	assert.Equal(t, 600*time.Second, s.UnresponsiveTimeout)
	assert.Equal(t, "someone", s.User) // Parse does not look accounts up; Load does
	assert.Equal(t, "somegroup", s.Group)
	assert.Empty(t, s.Warnings, "maximum-threads has an effect: no warning")
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name  string
		text  string
		line  int
		param string
		msg   string
	}{
		{"bool", "exec x\nenable-leak-ramping truU\n", 2, "enable-leak-ramping",
			"enable-leak-ramping: Invalid boolean. Expect 'true' or 'false'"},
		{"bool empty", "exec x\nprestart-processes\n", 2, "prestart-processes",
			"prestart-processes: Invalid boolean. Expect 'true' or 'false'"},
		{"multiplier", "exec x\nmaximum-processes 13X\n", 2, "maximum-processes",
			"maximum-processes: Invalid multiplier. Expect K, M, or G"},
		{"number", "exec x\nidle-timeout xxx\n", 2, "idle-timeout",
			"idle-timeout: Invalid number. Expect a digit"},
		{"overflow", "exec x\nmaximum-requests 9999999MMM\n", 2, "maximum-requests",
			"maximum-requests: Multiplier causes overflow"},
		{"duplicate", "exec x\n\n# c\nexec y\n", 4, "exec", "Duplicate parameter 'exec' at line 1"},
		{"duplicate beats conversion", "idle-timeout xxx\nexec x\nexec y\n", 3, "exec",
			"Duplicate parameter 'exec' at line 2"},
		{"affinity high", "exec x\naffinity-timeout 601\n", 2, "affinity-timeout",
			"affinity-timeout=601 but it must not be greater than upper limit 600"},
		{"affinity low", "exec x\naffinity-timeout 5\n", 2, "affinity-timeout",
			"affinity-timeout=5 but it must not be less than lower limit 10"},
		{"backoff negative", "exec x\nexec-failure-backoff -1\n", 2, "exec-failure-backoff",
			"exec-failure-backoff=-1 but it must not be less than lower limit 0"},
		{"idle low", "exec x\nidle-timeout 9\n", 2, "idle-timeout",
			"idle-timeout=9 but it must not be less than lower limit 10"},
		{"idle too big for a duration", "exec x\nidle-timeout 10G\n", 2, "idle-timeout",
			"idle-timeout=10000000000 but it must not be greater than upper limit 9223372036"},
		{"max processes 0", "exec x\nmaximum-processes 0\n", 2, "maximum-processes",
			"maximum-processes=0 but it must not be less than lower limit 1"},
		{"max processes high", "exec x\nmaximum-processes 10001\n", 2, "maximum-processes",
			"maximum-processes=10001 but it must not be greater than upper limit 10000"},
		{"max requests 0", "exec x\nmaximum-requests 0\n", 2, "maximum-requests",
			"maximum-requests=0 but it must not be less than lower limit 1"},
		{"max retries high", "exec x\nmaximum-retries 11\n", 2, "maximum-retries",
			"maximum-retries=11 but it must not be greater than upper limit 10"},
		{"max threads high", "exec x\nmaximum-threads 1K1\n", 2, "maximum-threads",
			"maximum-threads: Invalid multiplier. Expect K, M, or G"},
		{"max threads 0", "exec x\nmaximum-threads 0\n", 2, "maximum-threads",
			"maximum-threads=0 but it must not be less than lower limit 1"},
		{"max threads above 10000", "exec x\nmaximum-threads 10001\n", 2, "maximum-threads",
			"maximum-threads=10001 but it must not be greater than upper limit 10000"},
		{"slots above the limit", "exec x\nmaximum-processes 1001\nmaximum-threads 100\n", 3, "maximum-threads",
			"maximum-processes × maximum-threads = 1001 × 100 = 100100 but it must not be greater than 100000 (the stats segment's slots)"},
		{"slots above the limit, threads first", "exec x\nmaximum-threads 11\nmaximum-processes 10000\n", 2, "maximum-threads",
			"maximum-processes × maximum-threads = 10000 × 11 = 110000 but it must not be greater than 100000 (the stats segment's slots)"},
		{"min processes negative", "exec x\nminimum-processes -1\n", 2, "minimum-processes",
			"minimum-processes=-1 but it must not be less than lower limit 0"},
		{"occupancy low", "exec x\noccupancy-percent 49\n", 2, "occupancy-percent",
			"occupancy-percent=49 but it must not be less than lower limit 50"},
		{"occupancy high", "exec x\noccupancy-percent 101\n", 2, "occupancy-percent",
			"occupancy-percent=101 but it must not be greater than upper limit 100"},
		{"recorder cycle", "exec x\nrecorder-cycle -5\n", 2, "recorder-cycle",
			"recorder-cycle=-5 but it must not be less than lower limit 0"},
		{"max pending 0", "exec x\nmaximum-pending 0\n", 2, "maximum-pending",
			"maximum-pending=0 but it must not be less than lower limit 1"},
		{"max pending high", "exec x\nmaximum-pending 5K\n", 2, "maximum-pending",
			"maximum-pending=5000 but it must not be greater than upper limit 4096"},
		{"max request size negative", "exec x\nmaximum-request-size -1\n", 2, "maximum-request-size",
			"maximum-request-size=-1 but it must not be less than lower limit 0"},
		{"max request size high", "exec x\nmaximum-request-size 1G\n", 2, "maximum-request-size",
			"maximum-request-size=1000000000 but it must not be greater than upper limit 999999999"},
		{"request read timeout high", "exec x\nrequest-read-timeout 601\n", 2, "request-read-timeout",
			"request-read-timeout=601 but it must not be greater than upper limit 600"},
		{"request read timeout negative", "exec x\nrequest-read-timeout -1\n", 2, "request-read-timeout",
			"request-read-timeout=-1 but it must not be less than lower limit 0"},
		{"open files", "exec x\nulimit-open-files 1001\n", 2, "ulimit-open-files",
			"ulimit-open-files=1001 but it must not be greater than upper limit 1000"},
		{"unresponsive low", "exec x\nunresponsive-timeout 4\n", 2, "unresponsive-timeout",
			"unresponsive-timeout=4 but it must not be less than lower limit 5"},
		{"unresponsive high", "exec x\nunresponsive-timeout 601\n", 2, "unresponsive-timeout",
			"unresponsive-timeout=601 but it must not be greater than upper limit 600"},
		{"parameters in the original's order", "exec x\nunresponsive-timeout 1\naffinity-timeout 1\n", 3,
			"affinity-timeout", "affinity-timeout=1 but it must not be less than lower limit 10"},
		{"min above max", "exec x\nminimum-processes 200\nmaximum-processes 100\n", 2, "minimum-processes",
			"minimum-processes must not be greater than maximum-processes"},
		{"min above default max", "exec x\nminimum-processes 11\n", 2, "minimum-processes",
			"minimum-processes must not be greater than maximum-processes"},
		{"empty file", "", 0, "exec", "Must include an 'exec' parameter"},
		{"empty exec", "exec\n", 0, "exec", "Must include an 'exec' parameter"},
		{"exec only a comment", "exec # /bin/echo\n", 0, "exec", "Must include an 'exec' parameter"},
		{"unknown", "exec x\nmaximum-occupancy 80\n", 2, "maximum-occupancy",
			"Unknown configuration parameter: maximum-occupancy"},
		{"exex", "exex /bin/echo\n", 1, "exex", "Unknown configuration parameter: exex"},
		{"first unknown in sorted order", "exec x\nzzz 1\nbbb 2\nccc 3\n", 3, "bbb",
			"Unknown configuration parameter: bbb"},
		{"unknown beats missing exec", "prestart-services true\n", 1, "prestart-services",
			"Unknown configuration parameter: prestart-services"},
		{"conversion beats unknown", "exec x\naaa 1\nidle-timeout x\n", 3, "idle-timeout",
			"idle-timeout: Invalid number. Expect a digit"},
		{"names are case-sensitive", "EXEC x\n", 1, "EXEC", "Unknown configuration parameter: EXEC"},
		{"unterminated quote", "\nexec /bin/echo 'a b\n", 2, "exec", "exec: Unterminated quote at column 14"},
		{"hash inside a quoted value", "exec /bin/echo '#1'\n", 1, "exec", // '#' always starts a comment
			"exec: Unterminated quote at column 11"},
		{"unterminated escape", "exec /bin/echo a\\\n", 1, "exec",
			"exec: Unterminated escape character at column 12"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := parseString(t, tt.text)
			require.Error(t, err)
			assert.Nil(t, s)
			var cerr *Error
			require.True(t, errors.As(err, &cerr), "%T %v", err, err)
			assert.Equal(t, "test.conf", cerr.File)
			assert.Equal(t, tt.line, cerr.Line)
			assert.Equal(t, tt.param, cerr.Param)
			assert.Equal(t, tt.msg, cerr.Msg)
			if tt.line > 0 {
				assert.Equal(t, "test.conf: Line "+strconv.Itoa(tt.line)+": "+tt.msg, err.Error())
			} else {
				assert.Equal(t, "test.conf: "+tt.msg, err.Error())
			}
		})
	}
}

func TestParseSyntax(t *testing.T) {
	tests := []struct {
		name string
		text string
		exec string
		cd   string
	}{
		{"no trailing newline", "exec /bin/echo", "/bin/echo", ""},
		{"no trailing newline after others", "cd /tmp\nexec /bin/echo", "/bin/echo", "/tmp"},
		{"tabs", "\t exec\t\t/bin/echo  a \t\n", "/bin/echo  a", ""},
		{"CRLF", "exec /bin/echo\r\ncd /tmp\r\n", "/bin/echo", "/tmp"},
		{"blank lines and comments", "\n\n   \n#exec nothing\n   # x\nexec /bin/echo\n\n", "/bin/echo", ""},
		{"cd with an empty value", "cd\nexec /bin/echo\n", "/bin/echo", ""},
		{"exit is a no-op", "exec /bin/echo\nexit not-a-number\n", "/bin/echo", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := parseString(t, tt.text)
			require.NoError(t, err)
			assert.Equal(t, tt.exec, s.Exec)
			assert.Equal(t, tt.cd, s.Cd)
		})
	}
}

func TestParseWarnings(t *testing.T) {
	s, err := parseString(t, "exec x\nexec-failure-backoff 0\n")
	require.NoError(t, err)
	assert.Equal(t, []string{"Zero exec-failure-backoff can be deleterious to your system"}, s.Warnings)
	assert.Zero(t, s.ExecFailureBackoff)

	long := strings.Repeat("p", 300)
	s, err = parseString(t, "exec x\nrecorder-prefix "+long+"\n")
	require.NoError(t, err)
	assert.Equal(t, long[:MaxRecorderPrefix], s.RecorderPrefix)
	assert.Equal(t, []string{"recorder-prefix truncated to 255 bytes"}, s.Warnings)
}

// TestParseThreadSlots: maximum-processes × maximum-threads may reach
// MaxSlots, not more (the error cases are in TestParseErrors).
func TestParseThreadSlots(t *testing.T) {
	for _, tt := range []struct {
		text           string
		procs, threads int
	}{
		{"exec x\n", 10, 1},
		{"exec x\nmaximum-threads 10000\n", 10, 10000},
		{"exec x\nmaximum-processes 10000\nmaximum-threads 10\n", 10000, 10},
		{"exec x\nmaximum-processes 1\nmaximum-threads 10000\n", 1, 10000},
	} {
		s, err := parseString(t, tt.text)
		require.NoError(t, err, tt.text)
		assert.Equal(t, tt.procs, s.MaximumProcesses)
		assert.Equal(t, tt.threads, s.MaximumThreads)
		assert.LessOrEqual(t, s.MaximumProcesses*s.MaximumThreads, MaxSlots)
		assert.Empty(t, s.Warnings)
	}
}

func TestParseLongLine(t *testing.T) {
	_, err := parseString(t, "exec x\ncd "+strings.Repeat("d", MaxFileSize)+"\n")
	var cerr *Error
	require.True(t, errors.As(err, &cerr), "%v", err)
	assert.Equal(t, 2, cerr.Line)
	assert.Contains(t, cerr.Msg, "line is longer than")
}

func TestInstanceMaximumRequests(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, max := range []int{1, 2, 9, 10, 11, 100, 10000, 1000000} {
		s := &Service{MaximumRequests: max, EnableLeakRamping: true}
		low, seen := max, map[int]bool{}
		for range 2000 {
			n := s.InstanceMaximumRequests(r)
			require.LessOrEqual(t, n, max)
			require.GreaterOrEqual(t, n, 1)
			require.GreaterOrEqual(t, n, max-max/10, "at most 10%% less")
			low = min(low, n)
			seen[n] = true
		}
		if max >= 100 {
			assert.Less(t, low, max-max/20, "max %d: ramping spreads the values", max)
			assert.Greater(t, len(seen), 5)
		}
		n := s.InstanceMaximumRequests(nil)
		assert.True(t, n >= max-max/10 && n <= max, "nil source: %d", n)

		s.EnableLeakRamping = false
		for range 10 {
			assert.Equal(t, max, s.InstanceMaximumRequests(r))
		}
	}
}

// writeFile writes a file with exactly the given mode, whatever the umask.
func writeFile(t *testing.T, path, text string, mode os.FileMode) {
	t.Helper()
	require.NoError(t, os.WriteFile(path, []byte(text), mode))
	require.NoError(t, os.Chmod(path, mode))
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "system.echo.0.raw")
	writeFile(t, path, "exec /bin/echo", 0o644)
	s, err := Load(path)
	require.NoError(t, err)
	assert.Equal(t, "system.echo.0.raw", s.Key.String())
	assert.Equal(t, path, s.Path)
	assert.Equal(t, []string{"/bin/echo"}, s.Argv)

	fi, err := os.Stat(path)
	require.NoError(t, err)
	st := fi.Sys().(*syscall.Stat_t)
	assert.Equal(t, FileID{Dev: uint64(st.Dev), Ino: st.Ino, Size: fi.Size(), ModTime: fi.ModTime()}, s.ID)

	// A wildcard configuration.
	wpath := filepath.Join(dir, "system..0.raw")
	writeFile(t, wpath, "exec /bin/echo\n", 0o600)
	s, err = Load(wpath)
	require.NoError(t, err)
	assert.True(t, s.Key.IsWildcard())

	// A rewrite changes the ID.
	writeFile(t, path, "exec /bin/echo two\n", 0o644)
	s2, err := Load(path)
	require.NoError(t, err)
	assert.NotEqual(t, s.ID, s2.ID)
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name  string
		setup func(path string)
		msg   string
	}{
		{"group-writable", func(p string) { writeFile(t, p, "exec /bin/echo\n", 0o664) },
			"file is writable by group (mode 0664): refusing it; fix: chmod g-w %s"},
		{"others-writable", func(p string) { writeFile(t, p, "exec /bin/echo\n", 0o646) },
			"file is writable by others (mode 0646): refusing it; fix: chmod o-w %s"},
		{"world-writable", func(p string) { writeFile(t, p, "exec /bin/echo\n", 0o666) },
			"file is writable by group and others (mode 0666): refusing it; fix: chmod go-w %s"},
		{"missing", func(string) {}, "cannot open: no such file or directory"},
		{"directory", func(p string) { require.NoError(t, os.Mkdir(p, 0o755)) }, "not a regular file"},
		{"fifo", func(p string) { require.NoError(t, syscall.Mkfifo(p, 0o644)) }, "not a regular file"},
		{"too large", func(p string) {
			writeFile(t, p, "exec /bin/echo\n"+strings.Repeat("#\n", MaxFileSize), 0o644)
		}, "file is larger than 1048576 bytes"},
		{"parse error", func(p string) { writeFile(t, p, "exec /bin/echo\naffinity-timeout 5\n", 0o644) },
			"affinity-timeout=5 but it must not be less than lower limit 10"},
		{"unknown user", func(p string) { writeFile(t, p, "exec /bin/echo\nuser no-such-user-pluton\n", 0o644) },
			"user: unknown user 'no-such-user-pluton'"},
		{"unknown group", func(p string) { writeFile(t, p, "exec /bin/echo\ngroup no-such-group-pluton\n", 0o644) },
			"group: unknown group 'no-such-group-pluton'"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, "system.e"+string(rune('a'+i))+".0.raw")
			tt.setup(path)
			done := make(chan struct{})
			var err error
			go func() { _, err = Load(path); close(done) }()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("Load blocked")
			}
			var cerr *Error
			require.True(t, errors.As(err, &cerr), "%T %v", err, err)
			assert.Equal(t, path, cerr.File)
			msg := tt.msg
			if strings.Contains(msg, "%s") {
				msg = fmt.Sprintf(msg, path)
			}
			assert.Equal(t, msg, cerr.Msg)
			assert.True(t, strings.HasPrefix(err.Error(), path+": "), err.Error())
		})
	}

	_, err := Load(filepath.Join(dir, "not-a-key"))
	var cerr *Error
	require.True(t, errors.As(err, &cerr), "%v", err)
	var kerr *servicekey.Error
	assert.True(t, errors.As(err, &kerr))
}

func TestLoadUserGroup(t *testing.T) {
	u, err := user.Current()
	if err != nil {
		t.Skipf("no current user: %v", err)
	}
	g, err := user.LookupGroupId(u.Gid)
	if err != nil {
		t.Skipf("no group for gid %s: %v", u.Gid, err)
	}
	dir := t.TempDir()
	for i, ug := range [][2]string{{u.Username, g.Name}, {u.Uid, g.Gid}} {
		path := filepath.Join(dir, "system.u"+string(rune('a'+i))+".0.raw")
		writeFile(t, path, "exec /bin/echo\nuser "+ug[0]+"\ngroup "+ug[1]+"\n", 0o644)
		s, err := Load(path)
		require.NoError(t, err)
		assert.Equal(t, ug[0], s.User)
		assert.Equal(t, ug[1], s.Group)
	}
}
