package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pluton-go/pluton/go/client/clienttest"
)

func lookup(args ...string) (out, errOut string, code int) {
	var o, e bytes.Buffer
	code = run(args, &o, &e)
	return o.String(), e.String(), code
}

func TestPlLookup(t *testing.T) {
	dir := clienttest.Dir(t)
	clienttest.Start(t, dir, "system.echo.0.raw", "echo", nil)
	clienttest.Start(t, dir, "AddressBook..0.JSON", "wild", nil)
	mapPath := filepath.Join(dir, "lookup.map")
	require.NoError(t, os.WriteFile(mapPath, []byte("# pluton lookup map 3001\nrendezvous "+dir+"\n"), 0o644))

	out, errOut, code := lookup("-L", mapPath, "system.echo.0.raw", "AddressBook.GetList.0.JSON")
	assert.Equal(t, 0, code, errOut)
	assert.Equal(t, "Lookup Path: "+mapPath+"\n"+
		"system.echo.0.raw=system.raw.0.echo="+dir+"/system.echo.0.raw.socket\n"+
		"AddressBook.GetList.0.JSON=AddressBook.JSON.0="+dir+"/AddressBook..0.JSON.socket\n", out)

	out, _, code = lookup("-L", dir, "nosuch.x.0.raw", "bad.key", "system.echo.0.raw")
	assert.Equal(t, 1, code)
	assert.Equal(t, "Lookup Path: "+dir+"\n"+
		"Bad Service Key: bad.key: need four dot-separated tokens\n"+
		"system.echo.0.raw=system.raw.0.echo="+dir+"/system.echo.0.raw.socket\n"+
		"Not Found: nosuch.x.0.raw\n", out)

	out, _, code = lookup("-q", "-L", dir, "nosuch.x.0.raw")
	assert.Equal(t, 1, code)
	assert.Empty(t, out)

	out, _, code = lookup("-L", dir)
	assert.Equal(t, 0, code, "no keys: success")
	assert.Equal(t, "Lookup Path: "+dir+"\n", out)

	t.Setenv("plutonLookupMap", mapPath)
	out, _, code = lookup("-q", "system.echo.0.raw")
	assert.Equal(t, 0, code)
	assert.Equal(t, "system.echo.0.raw=system.raw.0.echo="+dir+"/system.echo.0.raw.socket\n", out)

	_, errOut, code = lookup("-L", filepath.Join(dir, "missing.map"), "system.echo.0.raw")
	assert.Equal(t, 1, code)
	assert.Equal(t, "Error: map of "+filepath.Join(dir, "missing.map")+" failed: -33\n", errOut)

	for _, tt := range []struct {
		args []string
		err  string
	}{
		{[]string{"-x"}, "plLookup: invalid option -- 'x'\n\n" + usage},
		{[]string{"-L"}, "plLookup: option requires an argument -- 'L'\n\n" + usage},
		{[]string{"-t", "soon"}, "Error: Timeout (-t) must be a non-negative number of seconds, not \"soon\"\n"},
	} {
		out, errOut, code := lookup(tt.args...)
		assert.Equal(t, 1, code, "%q", tt.args)
		assert.Equal(t, tt.err, errOut, "%q", tt.args)
		assert.Empty(t, out)
	}
	out, errOut, code = lookup("-h")
	assert.Equal(t, 0, code)
	assert.Equal(t, usage, out)
	assert.Empty(t, errOut)
}

func TestPlLookupWaits(t *testing.T) {
	dir := clienttest.Dir(t)
	mapPath := filepath.Join(dir, "lookup.map")
	// The map and the service appear a little later, as when a manager starts.
	time.AfterFunc(300*time.Millisecond, func() {
		os.WriteFile(mapPath, []byte("rendezvous "+dir+"\n"), 0o644)
	})
	time.AfterFunc(600*time.Millisecond, func() { clienttest.Start(t, dir, "late.svc.0.raw", "late", nil) })
	start := time.Now()
	out, errOut, code := lookup("-q", "-t", "10", "-L", mapPath, "late.svc.0.raw")
	assert.Equal(t, 0, code, errOut)
	assert.Equal(t, "late.svc.0.raw=late.raw.0.svc="+dir+"/late.svc.0.raw.socket\n", out)
	assert.Less(t, time.Since(start), 5*time.Second)

	start = time.Now()
	_, _, code = lookup("-q", "-t", "0.3", "-L", dir, "never.svc.0.raw")
	assert.Equal(t, 1, code)
	assert.GreaterOrEqual(t, time.Since(start), 300*time.Millisecond)
}
