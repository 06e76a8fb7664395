package e2e

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pluton-go/pluton/go/testbin"
)

// serviceIDField matches the `s` field of a response (`<n>s<name>:<pid>/<thread>,`),
// the one field a replay cannot reproduce.
var serviceIDField = regexp.MustCompile(`\d+s[^,\n]*:\d+/\d+,`)

// TestRecorderEverySDK is issue 15's recorder check under a real manager:
// with recorder-prefix and recorder-cycle 3, after 20 requests each SDK's
// echo leaves exactly 3 in-files and 3 out-files named
// <prefix>{in,out}.<pid>.<NNNNN> with mode 0640, holding the last three
// requests (index = n mod 3), and each in-file replayed by fd redirection
// (`echo 3<in 4>out`) gives the recorded out-file, the `s` field aside.
func TestRecorderEverySDK(t *testing.T) {
	t.Parallel()
	root := testbin.RepoRoot(t)
	for _, sdk := range []struct{ name, interpreter, program string }{
		{"go", "", bin(t, "echoService")},
		{"python", "python3", filepath.Join(root, "sdk/python/examples/echo.py")},
		{"php", "php", filepath.Join(root, "sdk/php/examples/echo.php")},
		{"perl", "perl", filepath.Join(root, "sdk/perl/examples/echo.pl")},
	} {
		t.Run(sdk.name, func(t *testing.T) {
			t.Parallel()
			command := []string{sdk.program}
			if sdk.interpreter != "" {
				p, err := exec.LookPath(sdk.interpreter)
				if err != nil {
					t.Skipf("%s is not installed", sdk.interpreter)
				}
				command = []string{p, sdk.program}
			}
			dir := t.TempDir()
			prefix := dir + "/rec."
			key := "rec." + sdk.name + ".0.raw"
			m := startManager(t, map[string]string{key: fmt.Sprintf(
				"exec %s\nmaximum-processes 1\nprestart-processes true\nrecorder-prefix %s\nrecorder-cycle 3\n",
				join(command), prefix)})
			defer m.stop()
			const requests = 20
			for i := 1; i <= requests; i++ {
				got, err := m.call(key, "request-"+strconv.Itoa(i), 20*time.Second)
				require.NoError(t, err, "request %d", i)
				require.Equal(t, "request-"+strconv.Itoa(i), got)
			}
			pids := pidsOf(m.Grep("Process Start: " + key))
			require.Len(t, pids, 1, "one instance served every request")
			pid := strconv.Itoa(pids[0])

			names, err := filepath.Glob(prefix + "*")
			require.NoError(t, err)
			for i := range names {
				names[i] = filepath.Base(names[i])
			}
			sort.Strings(names)
			assert.Equal(t, []string{
				"rec.in." + pid + ".00000", "rec.in." + pid + ".00001", "rec.in." + pid + ".00002",
				"rec.out." + pid + ".00000", "rec.out." + pid + ".00001", "rec.out." + pid + ".00002",
			}, names)

			for index := 0; index < 3; index++ {
				suffix := fmt.Sprintf("%s.%05d", pid, index)
				in, out := prefix+"in."+suffix, prefix+"out."+suffix
				for _, f := range []string{in, out} {
					st, err := os.Stat(f)
					require.NoError(t, err)
					assert.Equal(t, os.FileMode(0o640), st.Mode().Perm(), f)
				}
				// Requests 18, 19 and 20 were the last to use indexes 0, 1 and 2.
				want := "request-" + strconv.Itoa(requests-2+index)
				inBytes, err := os.ReadFile(in)
				require.NoError(t, err)
				assert.Contains(t, string(inBytes), want, "in-file %d holds the request as read", index)
				recorded, err := os.ReadFile(out)
				require.NoError(t, err)
				assert.Contains(t, string(recorded), want)
				replayed := replay(t, command, in)
				assert.Equal(t, serviceIDField.ReplaceAllString(string(recorded), ""),
					serviceIDField.ReplaceAllString(string(replayed), ""),
					"%s replayed by fd redirection gives the recorded out-file", filepath.Base(in))
			}
		})
	}
}

// replay runs command with the recorded request file on fd 3 and returns
// what it wrote on fd 4, as `command 3<in 4>out` does.
func replay(t *testing.T, command []string, in string) []byte {
	t.Helper()
	inFile, err := os.Open(in)
	require.NoError(t, err)
	defer inFile.Close()
	outPath := filepath.Join(t.TempDir(), "out")
	outFile, err := os.Create(outPath)
	require.NoError(t, err)
	defer outFile.Close()
	cmd := exec.Command(command[0], command[1:]...)
	cmd.ExtraFiles = []*os.File{inFile, outFile} // fd 3 and fd 4
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	for _, kv := range os.Environ() { // stand-alone mode, whatever the test's environment
		if !strings.HasPrefix(kv, "plutonAcceptSocket=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	require.NoError(t, cmd.Run(), "replay: %s", stderr.String())
	b, err := os.ReadFile(outPath)
	require.NoError(t, err)
	return b
}

// join writes command as an exec line.
func join(command []string) string {
	s := command[0]
	for _, a := range command[1:] {
		s += " " + a
	}
	return s
}
