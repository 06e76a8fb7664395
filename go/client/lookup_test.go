package client

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pluton-go/pluton/go/fault"
)

// isolateHome clears every variable of the default home rule and points HOME
// at a fresh directory, which it returns.
func isolateHome(t *testing.T) string {
	t.Helper()
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv(HomeEnv, "")
	t.Setenv(LookupEnv, "")
	t.Setenv("XDG_STATE_HOME", "")
	return home
}

func TestHome(t *testing.T) {
	root := os.Geteuid() == 0
	tests := []struct {
		name      string
		plHome    string
		xdg       string
		wantUnder string // relative to $HOME, or absolute when it starts with /
	}{
		{name: "default", wantUnder: ".local/state/pluton"},
		{name: "XDG_STATE_HOME", xdg: "/x/state", wantUnder: "/x/state/pluton"},
		{name: "relative XDG_STATE_HOME is ignored", xdg: "rel", wantUnder: ".local/state/pluton"},
		{name: "plutonHome wins", plHome: "/srv/pl", xdg: "/x/state", wantUnder: "/srv/pl"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			home := isolateHome(t)
			t.Setenv(HomeEnv, tt.plHome)
			t.Setenv("XDG_STATE_HOME", tt.xdg)
			want := tt.wantUnder
			if root && tt.plHome == "" {
				want = SystemHome // root ignores XDG_STATE_HOME and HOME
			} else if !filepath.IsAbs(want) {
				want = filepath.Join(home, want)
			}
			assert.Equal(t, want, Home())
			if want == SystemHome {
				assert.Equal(t, []string{DefaultLookupPath}, DefaultLookupPaths())
			} else {
				assert.Equal(t, []string{filepath.Join(want, LookupMapName), DefaultLookupPath}, DefaultLookupPaths())
			}
		})
	}
}

func TestLookupPathOrder(t *testing.T) {
	isolateHome(t)
	plHome := t.TempDir()
	t.Setenv(HomeEnv, plHome)
	homeMap := filepath.Join(plHome, LookupMapName)

	// Nothing exists: the first default, which ReadRendezvous reports.
	assert.Equal(t, homeMap, LookupPath(""))
	// The explicit path always wins, even when it does not exist.
	assert.Equal(t, "/nowhere/map", LookupPath("/nowhere/map"))

	require.NoError(t, os.WriteFile(homeMap, []byte(lookupMapHeader+"3001\nrendezvous "+plHome+"\n"), 0o444))
	assert.Equal(t, homeMap, LookupPath(""))
	dir, err := ReadRendezvous(LookupPath(""))
	require.NoError(t, err)
	assert.Equal(t, plHome, dir)

	t.Setenv(LookupEnv, "/from/env")
	assert.Equal(t, "/from/env", LookupPath(""))
	assert.Equal(t, "/explicit", LookupPath("/explicit"))
}

func TestMissingLookupNamesPathsAndRemedy(t *testing.T) {
	isolateHome(t)
	plHome := filepath.Join(t.TempDir(), "home")
	t.Setenv(HomeEnv, plHome)

	// Defaults: -32, every path tried, and what to do.
	_, err := New("x")
	require.Error(t, err)
	assert.Equal(t, fault.MapInitializationFailed, faultCode(t, err))
	msg := err.Error()
	assert.Contains(t, msg, "no lookup map at "+filepath.Join(plHome, LookupMapName)+" or "+DefaultLookupPath)
	assert.Contains(t, msg, "is plutonManager running? Start it, or set plutonLookupMap or pass -L")

	// An explicit location keeps the original's -33, with the same advice.
	missing := filepath.Join(t.TempDir(), "missing.map")
	_, err = New("x", WithLookup(missing))
	require.Error(t, err)
	assert.Equal(t, fault.OpenForMmapFailed, faultCode(t, err))
	assert.Contains(t, err.Error(), "no lookup map at "+missing+": is plutonManager running?")

	// So does $plutonLookupMap.
	t.Setenv(LookupEnv, missing)
	_, err = New("x")
	require.Error(t, err)
	assert.Equal(t, fault.OpenForMmapFailed, faultCode(t, err))
	assert.Contains(t, err.Error(), "no lookup map at "+missing)
}
