package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// nobody is a uid that is neither the test's user nor root.
const nobody = 65534

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("changing a file's owner needs root")
	}
}

func TestScanRefusesUntrustedDirectory(t *testing.T) {
	tests := []struct {
		name  string
		mode  os.FileMode
		owner int // -1: unchanged
		want  string
		root  bool
	}{
		{name: "group-writable", mode: 0o775, owner: -1, want: "is writable by group (mode 0775)", root: false},
		{name: "others-writable", mode: 0o757, owner: -1, want: "is writable by others (mode 0757)"},
		{name: "world-writable", mode: 0o777, owner: -1, want: "is writable by group and others (mode 0777)"},
		{name: "sticky world-writable", mode: 0o777 | os.ModeSticky, owner: -1, want: "is writable by group and others (mode 0777)"},
		{name: "owned by another user", mode: 0o755, owner: nobody, want: "is owned by ", root: true},
		{name: "trusted", mode: 0o755, owner: -1},
		{name: "trusted, read-only", mode: 0o500, owner: -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.root {
				requireRoot(t)
			}
			dir := filepath.Join(t.TempDir(), "conf")
			require.NoError(t, os.Mkdir(dir, 0o700))
			writeFile(t, filepath.Join(dir, "system.echo.0.raw"), "exec /bin/echo\n", 0o644)
			if tt.owner >= 0 {
				require.NoError(t, os.Chown(dir, tt.owner, -1))
			}
			require.NoError(t, os.Chmod(dir, tt.mode))
			t.Cleanup(func() { _ = os.Chmod(dir, 0o700) })

			res, err := Scan(dir)
			if tt.want == "" {
				require.NoError(t, err)
				assert.Len(t, res.Services, 1)
				return
			}
			require.Error(t, err)
			assert.Nil(t, res, "nothing in an untrusted directory is loaded")
			assert.ErrorIs(t, err, ErrUntrusted)
			msg := err.Error()
			assert.True(t, strings.HasPrefix(msg, "configuration directory "+dir+" "+tt.want), msg)
			if tt.owner >= 0 {
				assert.Contains(t, msg, "not by the manager's user (root) or root")
				assert.Contains(t, msg, "fix: chown root "+dir+" (as root)")
			} else {
				bits := map[os.FileMode]string{0o020: "g-w", 0o002: "o-w", 0o022: "go-w"}[tt.mode.Perm()&0o022]
				assert.Contains(t, msg, "fix: chmod "+bits+" "+dir)
			}
		})
	}
}

func TestLoadRefusesFileOwnedByAnotherUser(t *testing.T) {
	requireRoot(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "system.echo.0.raw")
	writeFile(t, path, "exec /bin/echo\n", 0o644)
	require.NoError(t, os.Chown(path, nobody, -1))
	_, err := Load(path)
	require.Error(t, err)
	assert.ErrorIs(t, err, ErrUntrusted)
	assert.Contains(t, err.Error(), path+": file is owned by ")
	assert.Contains(t, err.Error(), "fix: chown root "+path+" (as root)")

	// Root's own file is trusted whoever runs the manager; so is the user's.
	require.NoError(t, os.Chown(path, 0, -1))
	_, err = Load(path)
	require.NoError(t, err)
}

func TestLoadSymlinkedConfig(t *testing.T) {
	base := t.TempDir()
	conf := filepath.Join(base, "conf")
	good := filepath.Join(base, "good")
	open := filepath.Join(base, "open")
	for _, d := range []string{conf, good, open} {
		require.NoError(t, os.Mkdir(d, 0o755))
	}
	require.NoError(t, os.Chmod(open, 0o777))

	writeFile(t, filepath.Join(good, "echo.conf"), "exec /bin/echo\n", 0o644)
	writeFile(t, filepath.Join(good, "loose.conf"), "exec /bin/echo\n", 0o666)
	writeFile(t, filepath.Join(open, "echo.conf"), "exec /bin/echo\n", 0o644)

	tests := []struct {
		name, target, want string
	}{
		{"trusted target", filepath.Join(good, "echo.conf"), ""},
		{"writable target", filepath.Join(good, "loose.conf"),
			"link target " + filepath.Join(good, "loose.conf") + " is writable by group and others (mode 0666): refusing it; fix: chmod go-w " + filepath.Join(good, "loose.conf")},
		{"target in a writable directory", filepath.Join(open, "echo.conf"),
			"directory " + open + " of the link target " + filepath.Join(open, "echo.conf") + " is writable by group and others (mode 0777)"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			link := filepath.Join(conf, "system.l"+string(rune('a'+i))+".0.raw")
			require.NoError(t, os.Symlink(tt.target, link))
			s, err := Load(link)
			if tt.want == "" {
				require.NoError(t, err)
				assert.Equal(t, link, s.Path)
				return
			}
			require.Error(t, err)
			assert.ErrorIs(t, err, ErrUntrusted)
			assert.Contains(t, err.Error(), link+": "+tt.want)
		})
	}
}

func TestResolveProgram(t *testing.T) {
	bin := t.TempDir()
	prog := filepath.Join(bin, "mysvc")
	writeFile(t, prog, "#!/bin/sh\n", 0o755)
	writeFile(t, filepath.Join(bin, "notexec"), "", 0o644)
	t.Setenv("PATH", bin+":/usr/bin:/bin")

	tests := []struct {
		name, program, confDir, cd, want, err string
	}{
		{name: "absolute", program: "/opt/x/svc", confDir: "/etc/pl", want: "/opt/x/svc"},
		{name: "bare name on PATH", program: "mysvc", confDir: "/etc/pl", want: prog},
		{name: "dot-slash against the config directory", program: "./svc", confDir: "/etc/pl", want: "/etc/pl/svc"},
		{name: "subdirectory against the config directory", program: "bin/svc.py", confDir: "/etc/pl", want: "/etc/pl/bin/svc.py"},
		{name: "parent against the config directory", program: "../lib/svc", confDir: "/etc/pl", want: "/etc/lib/svc"},
		{name: "relative to cd when set", program: "./svc", confDir: "/etc/pl", cd: "/srv/app", want: "/srv/app/svc"},
		{name: "bare name ignores cd", program: "mysvc", confDir: "/etc/pl", cd: "/srv/app", want: prog},
		{name: "not on PATH", program: "no-such-program-pluton", confDir: "/etc/pl",
			err: `exec: "no-such-program-pluton" not found on PATH (` + bin + ":/usr/bin:/bin)"},
		{name: "not executable", program: "notexec", confDir: "/etc/pl", err: `exec: "notexec" not found on PATH`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ResolveProgram(tt.program, tt.confDir, tt.cd)
			if tt.err != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestLoadResolvesExec(t *testing.T) {
	bin := t.TempDir()
	writeFile(t, filepath.Join(bin, "mysvc"), "#!/bin/sh\n", 0o755)
	t.Setenv("PATH", bin)
	dir := t.TempDir()
	for _, tt := range []struct {
		exec     string
		argv     []string
		warnings int
	}{
		{"mysvc -x 'a b'", []string{filepath.Join(bin, "mysvc"), "-x", "a b"}, 0},
		{"./svc.py arg", []string{filepath.Join(dir, "svc.py"), "arg"}, 0},
		{"missing-program-pluton", []string{"missing-program-pluton"}, 1},
	} {
		path := filepath.Join(dir, "system.echo.0.raw")
		writeFile(t, path, "exec "+tt.exec+"\n", 0o644)
		s, err := Load(path)
		require.NoError(t, err, tt.exec)
		assert.Equal(t, tt.argv, s.Argv, tt.exec)
		assert.Equal(t, tt.exec, s.Exec, "the raw line is kept")
		assert.Len(t, s.Warnings, tt.warnings, tt.exec)
	}
}

func TestSummary(t *testing.T) {
	s, err := parseString(t, "exec /bin/echo 'a b'\nmaximum-processes 3\nuser nobody\n")
	require.NoError(t, err)
	sum := s.Summary()
	for _, want := range []string{testKey.String() + ` from test.conf: argv=["/bin/echo" "a b"]`,
		" maximum-processes=3 ", " idle-timeout=2m0s ", ` user="nobody" `, " maximum-request-size=67108864 "} {
		assert.Contains(t, sum, want)
	}
}
