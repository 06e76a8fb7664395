package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pluton-go/pluton/go/client"
	"github.com/pluton-go/pluton/go/manager/logging"
)

// isolate points the default home at a fresh directory.
func isolate(t *testing.T) string {
	t.Helper()
	home := filepath.Join(t.TempDir(), "home")
	t.Setenv(client.HomeEnv, home)
	t.Setenv(client.LookupEnv, "")
	return home
}

func TestOptions(t *testing.T) {
	isolate(t)
	for _, tt := range []struct {
		args []string
		code int
		out  string
	}{
		{[]string{"-h"}, 0, "Version "},
		{[]string{"--help"}, 0, "Version "},
		{[]string{"-x"}, 1, "FATAL: Invoked with bad parameter: -x\n"},
		{[]string{"-C"}, 1, "FATAL: Option -C needs a value\n"},
		{[]string{"-s", "0"}, 1, "FATAL: -s 0: want a whole number of seconds, at least 1\n"},
		{[]string{"-e", "x"}, 1, "FATAL: -e x: want a whole number of seconds, at least 1\n"},
		{[]string{"-lbogus"}, 1, "FATAL: Unknown logging flag: bogus"},
		{[]string{"-d", "manager,bogus"}, 1, "FATAL: Unknown debug flag: bogus (want one of child manager service process thread stio config reportingChannel calibrate oneShot all)"},
		{[]string{"-F", "xml"}, 1, `FATAL: -F xml: unknown log format "xml" (want text, plain or json)`},
		{[]string{"--log-format"}, 1, "FATAL: Option --log-format needs a value"},
		{[]string{"-o", "stray"}, 1, "FATAL: Invoked with bad parameter: stray\n"},
		{[]string{"--", "stray"}, 1, "FATAL: Invoked with bad parameter: stray\n"},
		{[]string{"-R/nonexistent/pluton/R", "-lprocessExit,calibrate"}, 1,
			"FATAL: Rendezvous directory /nonexistent/pluton/R: cannot create it: no such file or directory"},
	} {
		var out, errb bytes.Buffer
		code := run(tt.args, &out, &errb)
		assert.Equal(t, tt.code, code, tt.args)
		assert.Contains(t, out.String(), tt.out, tt.args)
		if code != 0 {
			assert.Equal(t, 1, strings.Count(out.String(), "FATAL"), "one FATAL line in the log: %q", out.String())
		}
	}
}

func TestParse(t *testing.T) {
	home := isolate(t)
	tests := []struct {
		name   string
		args   []string
		format logging.Format
		debug  logging.DebugFlag
		cats   logging.Category
		c, l   string
		r      string
		dflt   []string
	}{
		{name: "no options: the home", format: logging.Text,
			c: home + "/configuration", l: home + "/lookup.map", r: home + "/rendezvous", dflt: []string{"C", "L", "R"}},
		{name: "explicit directories", args: []string{"-C", "/c", "-L/l.map", "-R", "/r"}, format: logging.Text,
			c: "/c", l: "/l.map", r: "/r"},
		{name: "-j", args: []string{"-j", "-C", "/c"}, format: logging.JSON,
			c: "/c", l: home + "/lookup.map", r: home + "/rendezvous", dflt: []string{"L", "R"}},
		{name: "--log-format=plain", args: []string{"--log-format=plain"}, format: logging.Plain,
			c: home + "/configuration", l: home + "/lookup.map", r: home + "/rendezvous", dflt: []string{"C", "L", "R"}},
		{name: "--log-format json", args: []string{"--log-format", "json", "-F", "text"}, format: logging.Text,
			c: home + "/configuration", l: home + "/lookup.map", r: home + "/rendezvous", dflt: []string{"C", "L", "R"}},
		{name: "debug flags, any case, repeated and comma separated",
			args: []string{"-dMANAGER,calibrate", "-d", "oneshot", "-lall"}, format: logging.Text,
			debug: logging.DebugManager | logging.DebugCalibrate | logging.DebugOneShot, cats: logging.All,
			c: home + "/configuration", l: home + "/lookup.map", r: home + "/rendezvous", dflt: []string{"C", "L", "R"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, err := parse(tt.args, home)
			require.NoError(t, err)
			require.NotNil(t, st)
			assert.Equal(t, tt.format, st.format)
			assert.Equal(t, tt.debug, st.debug)
			assert.Equal(t, tt.cats, st.opts.Logging)
			assert.Equal(t, tt.c, st.opts.ConfigDir)
			assert.Equal(t, tt.l, st.opts.LookupMap)
			assert.Equal(t, tt.r, st.opts.RendezvousDir)
			assert.Equal(t, tt.dflt, st.defaulted)
		})
	}
}

func TestPrepareCreatesTheHome(t *testing.T) {
	home := isolate(t)
	var log, dbg bytes.Buffer
	st, err := parse([]string{"-d", "oneShot"}, home)
	require.NoError(t, err)
	l := logging.NewWith(&log, logging.Options{Format: logging.Plain, Debug: st.debug, DebugOut: &dbg})
	require.NoError(t, prepare(st, l))
	for _, d := range []string{home, home + "/rendezvous", home + "/configuration"} {
		fi, err := os.Stat(d)
		require.NoError(t, err, d)
		assert.True(t, fi.IsDir())
		assert.Equal(t, os.FileMode(0o755), fi.Mode().Perm(), d)
	}
	assert.Equal(t, home+"/lookup.map", os.Getenv(client.LookupEnv), "exported to the instances")
	assert.Contains(t, log.String(), "Manager created home directory "+home+"\n")
	assert.Contains(t, log.String(), "Manager created Rendezvous directory "+home+"/rendezvous\n")
	assert.Regexp(t, `^\d+\.\d{6}:  oneShot: home `+home, dbg.String())
	assert.Contains(t, dbg.String(), "oneShot: instances get plutonLookupMap="+home+"/lookup.map")

	// A second time: nothing to create.
	log.Reset()
	require.NoError(t, prepare(st, l))
	assert.Empty(t, log.String())
}

func TestPrepareExplicitDirectories(t *testing.T) {
	home := isolate(t)
	base := t.TempDir()
	wd, err := os.Getwd()
	require.NoError(t, err)
	t.Cleanup(func() { _ = os.Chdir(wd) })
	require.NoError(t, os.Chdir(base))

	// -R is created (one level); a missing -C is left for the manager to
	// refuse; a relative -L is exported absolute.
	st, err := parse([]string{"-C", "conf", "-R", "R", "-L", "my.map"}, home)
	require.NoError(t, err)
	var log bytes.Buffer
	require.NoError(t, prepare(st, logging.New(&log, 0)))
	_, err = os.Stat(filepath.Join(base, "R"))
	require.NoError(t, err)
	_, err = os.Stat(filepath.Join(base, "conf"))
	assert.True(t, os.IsNotExist(err))
	_, err = os.Stat(home)
	assert.True(t, os.IsNotExist(err), "the home is not touched when every location is given")
	assert.Equal(t, filepath.Join(base, "my.map"), os.Getenv(client.LookupEnv))
}

func TestPrintPaths(t *testing.T) {
	home := isolate(t)
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"-p", "home"}, home},
		{[]string{"-p", "configuration"}, home + "/configuration"},
		{[]string{"-pRendezvous"}, home + "/rendezvous"},
		{[]string{"-p", "lookupMap"}, home + "/lookup.map"},
		{[]string{"-C", "/etc/pl", "-p", "configuration"}, "/etc/pl"},
	} {
		var out, errb bytes.Buffer
		require.Equal(t, 0, run(tt.args, &out, &errb), tt.args)
		assert.Equal(t, tt.want+"\n", out.String(), tt.args)
	}
	_, err := os.Stat(home)
	assert.True(t, os.IsNotExist(err), "-p creates nothing")
	var out, errb bytes.Buffer
	assert.Equal(t, 1, run([]string{"-p", "sockets"}, &out, &errb))
	assert.Contains(t, out.String(), "FATAL: -p sockets: want home, configuration, rendezvous or lookupMap")
}

func TestFatalOnceOnOneFile(t *testing.T) {
	isolate(t)
	f, err := os.Create(filepath.Join(t.TempDir(), "log"))
	require.NoError(t, err)
	defer f.Close()
	assert.Equal(t, 1, run([]string{"-x"}, f, f))
	data, err := os.ReadFile(f.Name())
	require.NoError(t, err)
	assert.Equal(t, 1, strings.Count(string(data), "FATAL: Invoked with bad parameter: -x"), string(data))
	assert.True(t, sameFile(f, f))
	assert.False(t, sameFile(f, os.Stderr))
}
