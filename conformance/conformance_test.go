package conformance_test

// The conformance runner: drives every SDK's testee with the shared vectors
// through three harnesses (fd redirection, plTest, a real plutonManager) and
// runs every SDK's client against every SDK's testee. See README.md.

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pluton-go/pluton/conformance/vectors"
	"github.com/pluton-go/pluton/go/protocol"
	"github.com/pluton-go/pluton/go/testbin"
)

// sdk is one testee under test: how to run it and, for the primary testee
// of each language, its client driver.
type sdk struct {
	name   string
	lang   string          // the language: go, python, php, perl
	role   string          // roleNative, roleHandler or roleCompat
	testee []string        // command line of the testee
	client []string        // command line of the client driver; nil but for the native testee
	known  map[string]bool // known failures, "harness/case"
}

// The roles of a testee: every language has a native testee (the loop or
// iterator form) with its client driver; Go also has a handler-form testee
// (go-handler); a language with a compatibility layer for the original API
// has a testee written against it (<lang>-compat, conformance/testees/<lang>/compat.<ext>).
const (
	roleNative  = "native"
	roleHandler = "handler"
	roleCompat  = "compat"
)

// sdks returns every testee; the fd, pltest and fake-manager harnesses run
// them all, the manager harness and the client matrix the native ones.
func sdks(t *testing.T) []sdk {
	t.Helper()
	root := testbin.RepoRoot(t)
	testees := filepath.Join(root, "conformance", "testees")
	interp := func(name string) string {
		p, err := exec.LookPath(name)
		if err != nil {
			t.Fatalf("conformance: %s is not installed (tools/setup.sh installs it): %v", name, err)
		}
		return p
	}
	list := []sdk{
		{name: "go", lang: "go", role: roleNative, testee: []string{testbin.Path(t, "conformanceTestee")},
			client: []string{testbin.Path(t, "conformanceClient")}},
		{name: "go-handler", lang: "go", role: roleHandler, testee: []string{testbin.Path(t, "conformanceHandlerTestee")}},
	}
	for _, l := range []struct{ lang, interp, ext string }{{"python", "python3", "py"}, {"php", "php", "php"}, {"perl", "perl", "pl"}} {
		bin := interp(l.interp)
		dir := filepath.Join(testees, l.lang)
		list = append(list, sdk{name: l.lang, lang: l.lang, role: roleNative,
			testee: []string{bin, filepath.Join(dir, "testee."+l.ext)}, client: []string{bin, filepath.Join(dir, "client."+l.ext)}})
		if compat := filepath.Join(dir, "compat."+l.ext); fileExists(compat) {
			list = append(list, sdk{name: l.lang + "-compat", lang: l.lang, role: roleCompat, testee: []string{bin, compat}})
		}
	}
	for i := range list {
		paths := []string{list[i].testee[len(list[i].testee)-1]}
		if list[i].client != nil {
			paths = append(paths, list[i].client[len(list[i].client)-1])
		}
		for _, p := range paths {
			if _, err := os.Stat(p); err != nil {
				t.Fatalf("conformance: %s: %v", list[i].name, err)
			}
		}
		list[i].known = knownFailures(t, filepath.Join(root, "conformance", "known_failures", list[i].name+".txt"))
	}
	return list
}

// native returns the native testee of each language.
func native(list []sdk) []sdk {
	var out []sdk
	for _, s := range list {
		if s.role == roleNative {
			out = append(out, s)
		}
	}
	return out
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func knownFailures(t *testing.T, path string) map[string]bool {
	known := map[string]bool{}
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return known
	}
	require.NoError(t, err)
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if line := strings.TrimSpace(s.Text()); line != "" && !strings.HasPrefix(line, "#") {
			known[line] = true
		}
	}
	return known
}

func loadCases(t *testing.T) (string, []vectors.Case) {
	dir := filepath.Join(testbin.RepoRoot(t), "conformance", "vectors")
	cases, err := vectors.Load(dir)
	require.NoError(t, err)
	require.NotEmpty(t, cases)
	return dir, cases
}

// check runs one case of one SDK in one harness, honouring the known-failure
// list: a known failure that fails is skipped, one that passes is an error.
func check(t *testing.T, s sdk, harness, name string, f func() error) {
	t.Run(s.name+"/"+name, func(t *testing.T) {
		err := f()
		id := harness + "/" + name
		switch {
		case s.known[id] && err != nil:
			t.Skipf("known failure of %s: %v", s.name, err)
		case s.known[id]:
			t.Fatalf("%s passes now: remove %q from conformance/known_failures/%s.txt", s.name, id, s.name)
		case err != nil:
			t.Fatalf("case %s, SDK %s, harness %s:\n%v", name, s.name, harness, err)
		}
	})
}

// TestFD runs every case with the request packets on fd 3 and compares fd 4.
func TestFD(t *testing.T) {
	dir, cases := loadCases(t)
	for _, s := range sdks(t) {
		for _, c := range cases {
			check(t, s, "fd", c.Name, func() error { return runFD(t, s, dir, c) })
		}
	}
}

func runFD(t *testing.T, s sdk, dir string, c vectors.Case) error {
	in, err := os.Open(filepath.Join(dir, c.In))
	if err != nil {
		return err
	}
	defer in.Close()
	want, err := os.ReadFile(filepath.Join(dir, c.Out))
	if err != nil {
		return err
	}
	outPath := filepath.Join(t.TempDir(), "out")
	out, err := os.Create(outPath)
	if err != nil {
		return err
	}
	defer out.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, s.testee[0], s.testee[1:]...)
	cmd.ExtraFiles = []*os.File{in, out} // fd 3 and fd 4
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	runErr := cmd.Run()
	if ctx.Err() != nil {
		return fmt.Errorf("testee hung (killed after 60 s); stderr:\n%s", stderr.String())
	}
	got, err := os.ReadFile(outPath)
	if err != nil {
		return err
	}
	if d := diff(want, vectors.NormalizeServiceName(got)); d != "" {
		return fmt.Errorf("fd 4 differs from %s:\n%s\nstderr:\n%s", c.Out, d, stderr.String())
	}
	switch c.Expect {
	case vectors.ExpectOK:
		if runErr != nil {
			return fmt.Errorf("testee exited with %v, want 0; stderr:\n%s", runErr, stderr.String())
		}
	case vectors.ExpectError:
		var ee *exec.ExitError
		if !errors.As(runErr, &ee) || ee.ExitCode() <= 0 {
			return fmt.Errorf("testee exited with %v, want a non-zero exit; stderr:\n%s", runErr, stderr.String())
		}
		if !strings.Contains(stderr.String(), c.Stderr) {
			return fmt.Errorf("stderr does not contain %q:\n%s", c.Stderr, stderr.String())
		}
	}
	return nil
}

// TestPlTest runs every one-packet case through plTest.
func TestPlTest(t *testing.T) {
	dir, cases := loadCases(t)
	plTest := testbin.Path(t, "plTest")
	for _, s := range sdks(t) {
		for _, c := range cases {
			if !c.PlTest {
				continue
			}
			check(t, s, "pltest", c.Name, func() error { return runPlTest(plTest, s, dir, c) })
		}
	}
}

// firstExchange decodes the first request of a case and its expected response.
func firstExchange(dir string, c vectors.Case) (protocol.Request, protocol.Response, error) {
	var req protocol.Request
	var resp protocol.Response
	in, err := os.ReadFile(filepath.Join(dir, c.In))
	if err != nil {
		return req, resp, err
	}
	out, err := os.ReadFile(filepath.Join(dir, c.Out))
	if err != nil {
		return req, resp, err
	}
	if err := protocol.NewRequestDecoder(bytes.NewReader(in)).ReadRequest(&req); err != nil {
		return req, resp, err
	}
	err = protocol.NewResponseDecoder(bytes.NewReader(out)).ReadResponse(&resp)
	return req, resp, err
}

func contextArgs(req protocol.Request, flag string) ([]string, error) {
	pairs, err := protocol.ParseContext(req.Context)
	if err != nil {
		return nil, err
	}
	var args []string
	for _, p := range pairs {
		args = append(args, flag, p.Key+"="+p.Value)
	}
	return args, nil
}

func runPlTest(plTest string, s sdk, dir string, c vectors.Case) error {
	req, resp, err := firstExchange(dir, c)
	if err != nil {
		return err
	}
	args, err := contextArgs(req, "-C")
	if err != nil {
		return err
	}
	args = append(append([]string{"-K", req.ServiceKey}, args...), "--")
	args = append(args, s.testee...)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, plTest, args...)
	cmd.Stdin = bytes.NewReader(req.Data)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()
	if resp.FaultCode != 0 {
		var ee *exec.ExitError
		if !errors.As(runErr, &ee) || ee.ExitCode() != 1 {
			return fmt.Errorf("plTest exited with %v, want 1 for a fault; stderr:\n%s", runErr, stderr.String())
		}
		want := fmt.Sprintf("plTest: Fault %d:%s", resp.FaultCode, resp.FaultText)
		if !strings.Contains(stderr.String(), want) {
			return fmt.Errorf("stderr does not contain %q:\n%s", want, stderr.String())
		}
		return nil
	}
	if runErr != nil {
		return fmt.Errorf("plTest exited with %v; stderr:\n%s", runErr, stderr.String())
	}
	if d := diff(resp.Data, stdout.Bytes()); d != "" {
		return fmt.Errorf("plTest stdout differs:\n%s", d)
	}
	return nil
}

// diff returns "" when a and b are equal, else a readable report: lengths,
// the first differing offset, and escaped context around it.
func diff(want, got []byte) string {
	if bytes.Equal(want, got) {
		return ""
	}
	i := 0
	for i < len(want) && i < len(got) && want[i] == got[i] {
		i++
	}
	from := max(i-40, 0)
	show := func(b []byte) string {
		end := min(i+40, len(b))
		if from > len(b) {
			return ""
		}
		return fmt.Sprintf("%q", b[from:end])
	}
	return fmt.Sprintf("  lengths: want %d, got %d; first difference at byte %d\n  want[%d:]: %s\n  got[%d:]:  %s",
		len(want), len(got), i, from, show(want), from, show(got))
}
