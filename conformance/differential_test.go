package conformance_test

// The differential test: hostile inputs (hostile_test.go) fed by fd
// redirection (testee 3<in 4>out) to every SDK's testee, each compared with
// the verdict of the Go protocol package (the reference) and so with each
// other: the same accept/reject, the same response bytes (the s field's pid
// aside) and, for a reject, the reference's message on stderr. See README.md.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pluton-go/pluton/conformance/vectors"
	"github.com/pluton-go/pluton/go/protocol"
	"github.com/pluton-go/pluton/go/servicekey"
	"github.com/pluton-go/pluton/go/testbin"
)

// Settings of the differential test, from the environment.
const (
	envDiffPackets   = "PLUTON_DIFF_PACKETS"   // generated inputs (default defaultDiffPackets, a quarter with -short)
	envDiffSeed      = "PLUTON_DIFF_SEED"      // seed of the generator (default 1)
	envDiffFuzzCache = "PLUTON_DIFF_FUZZCACHE" // "1": add the local fuzz cache of FuzzDecoder to the corpus
	envDiffTestees   = "PLUTON_DIFF_TESTEES"   // comma-separated testee names (default: all)
	envDiffKeep      = "PLUTON_DIFF_KEEP"      // a directory: write each input that disagrees there
	envDiffJobs      = "PLUTON_DIFF_JOBS"      // testee processes at once (default: CPUs + 1)

	defaultDiffPackets = 48
	// A testee that neither answers nor exits by then has hung: the
	// inputs are files, so every read ends.
	diffRunTimeout = 30 * time.Second
)

// Outcome classes of one run.
const (
	classAccept = "accept" // exit 0
	classReject = "reject" // exit 1, a fault's message on stderr
)

// outcome is what a testee (or the reference) did with one input.
type outcome struct {
	class  string // classAccept, classReject, or what went wrong: "exit 255", "signal: killed", "timeout"
	out    []byte // fd 4, with the s field's pid replaced
	stderr string
}

// readID reads a request id: vectors.Strtol, as the original, unless a
// known deviation says otherwise.
type readID func([]byte) int64

// knownDeviations are the deviations of a testee from the reference that a
// line of its known-failure list (conformance/known_failures/<name>.txt)
// excuses: the differential test then also accepts the outcome of the
// reference computed with the deviation. Each line names the vector that
// pins the deviation, so it is removed once the testee is fixed. (Go's
// ParseNumber once saturated at ±2^62: "fd/request_id_overflow" mapped to
// the old reading until go/protocol was fixed.) Today there are none.
var knownDeviations = map[string]readID{}

// reference is the verdict of the Go protocol package on an input read as a
// stand-alone testee reads it: requests back to back through a request
// Parser limited to the default maximum-request-size, each key checked with
// servicekey.Parse, each well-formed request answered by the testee model
// (vectors.Respond), ids read with vectors.Strtol. msg is the text a
// rejecting testee's stderr must hold. ok is false when the model cannot
// answer a request (pid, exit, sleep).
func reference(in []byte) (want outcome, msg string, ok bool) {
	return referenceWith(in, vectors.Strtol)
}

// referenceWith is reference with the request id read by id.
func referenceWith(in []byte, id readID) (want outcome, msg string, ok bool) {
	p := protocol.NewRequestParser()
	p.SetMaxLength(vectors.DefaultMaximumRequestSize)
	want.class = classAccept
	for rest := in; ; {
		if len(rest) == 0 {
			if p.Started() {
				want.class, msg = classReject, protocol.MsgUnexpectedEOF
			}
			return want, msg, true
		}
		n, done, err := p.Feed(rest)
		rest = rest[n:]
		var le *protocol.LengthError
		var se *protocol.SyntaxError
		var de *protocol.DecodeError
		switch {
		case errors.As(err, &le):
			// §8.3: fault 3 with the id and client name already read.
			want.out = protocol.AppendResponse(want.out, &protocol.Response{
				ID: id(p.Field(protocol.TypeRequestID)), ClientName: string(p.Field(protocol.TypeClientName)),
				ServiceName: vectors.ServiceName, FaultCode: 3, FaultText: le.Error()})
			want.class, msg = classReject, le.Error()
			return want, msg, true
		case errors.As(err, &se):
			want.class, msg = classReject, se.Msg
			return want, msg, true
		case errors.As(err, &de):
			want.class, msg = classReject, de.Msg
			return want, msg, true
		case err != nil:
			panic(fmt.Sprintf("reference: unexpected error %T %v", err, err))
		case !done && len(rest) > 0:
			panic(fmt.Sprintf("reference: Feed stopped at %d bytes before the end", len(rest)))
		case !done:
			continue
		}
		var req protocol.Request
		p.Request(&req)
		req.ID = id(p.Field(protocol.TypeRequestID))
		if _, err := servicekey.Parse(req.ServiceKey); err != nil {
			var ke *servicekey.Error
			if !errors.As(err, &ke) {
				panic(fmt.Sprintf("reference: servicekey error %T", err))
			}
			want.class, msg = classReject, "Invalid Service Key: "+ke.Reason
			return want, msg, true
		}
		if strings.Contains(req.ServiceKey, ".sleep.") {
			return want, "", false
		}
		resp, answerable := vectors.Respond(&req)
		if !answerable {
			return want, "", false
		}
		want.out = append(want.out, resp...)
	}
}

// runTestee runs one testee on in (a file) and returns what it did.
func runTestee(s sdk, in, outPath string) outcome {
	f, err := os.Open(in)
	if err != nil {
		return outcome{class: "runner: " + err.Error()}
	}
	defer f.Close()
	out, err := os.Create(outPath)
	if err != nil {
		return outcome{class: "runner: " + err.Error()}
	}
	defer out.Close()
	ctx, cancel := context.WithTimeout(context.Background(), diffRunTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, s.testee[0], s.testee[1:]...)
	cmd.ExtraFiles = []*os.File{f, out} // fd 3 and fd 4
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	runErr := cmd.Run()
	got, err := os.ReadFile(outPath)
	if err != nil {
		return outcome{class: "runner: " + err.Error()}
	}
	o := outcome{out: vectors.NormalizeServiceName(got), stderr: stderr.String()}
	var ee *exec.ExitError
	switch {
	case ctx.Err() != nil:
		o.class = "timeout"
	case runErr == nil:
		o.class = classAccept
	case errors.As(runErr, &ee) && ee.ExitCode() == 1:
		o.class = classReject
	case errors.As(runErr, &ee) && ee.ExitCode() > 1:
		o.class = fmt.Sprintf("exit %d", ee.ExitCode())
	default:
		o.class = runErr.Error()
	}
	return o
}

// crashMarks are stderr texts no testee may print, whatever the input: an
// interpreter's report of a bug rather than a fault's message.
var crashMarks = []string{"Traceback (most recent call last)", "PHP Fatal", "PHP Warning", "PHP Notice",
	"PHP Deprecated", "Warning: ", "Notice: ", "Deprecated: ", "Fatal error", "Use of uninitialized value",
	"panic: ", "goroutine "}

// disagreement says how got differs from the reference, or "".
func disagreement(want outcome, msg string, got outcome) string {
	var why []string
	if got.class != want.class {
		why = append(why, fmt.Sprintf("%s, want %s", got.class, want.class))
	}
	if d := diff(want.out, got.out); d != "" {
		why = append(why, "fd 4 differs:\n"+d)
	}
	if got.class == classReject && want.class == classReject && !strings.Contains(got.stderr, msg) {
		why = append(why, fmt.Sprintf("stderr does not name %q", msg))
	}
	for _, m := range crashMarks {
		if strings.Contains(got.stderr, m) {
			why = append(why, fmt.Sprintf("stderr holds %q", m))
			break
		}
	}
	if got.class == classAccept && strings.TrimSpace(got.stderr) != "" {
		why = append(why, "accepted with output on stderr")
	}
	return strings.Join(why, "; ")
}

// knownDeviation reports whether got is what the reference gives with a
// deviation that the testee's known-failure list names.
func knownDeviation(s sdk, in []byte, got outcome) bool {
	for line, id := range knownDeviations {
		if !s.known[line] {
			continue
		}
		if want, msg, ok := referenceWith(in, id); ok && disagreement(want, msg, got) == "" {
			return true
		}
	}
	return false
}

func envInt(t *testing.T, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	require.NoError(t, err, "%s", name)
	return n
}

// diffInputs returns the corpus of the fuzzer and the generated inputs the
// reference can answer: def of them (a quarter with -short, env overrides),
// from the seed PLUTON_DIFF_SEED + seedOffset.
func diffInputs(t *testing.T, env string, def int, seedOffset uint64) []hostile {
	root := testbin.RepoRoot(t)
	protoDir := filepath.Join(root, "go", "protocol")
	seeds, err := fuzzSeeds(protoDir)
	require.NoError(t, err)
	corpus := append([][]byte(nil), seeds...)
	files, err := fuzzCorpusDir(filepath.Join(protoDir, "testdata", "fuzz", "FuzzDecoder"))
	require.NoError(t, err)
	corpus = append(corpus, files...)
	if os.Getenv(envDiffFuzzCache) == "1" {
		cached, err := fuzzCorpusDir(fuzzCacheDir())
		require.NoError(t, err)
		corpus = append(corpus, cached...)
	}
	comparable := func(b []byte) bool {
		_, _, ok := reference(b)
		return ok
	}
	var inputs []hostile
	seen := map[string]bool{}
	for i, c := range corpus {
		if len(c) == 0 || seen[string(c)] || !comparable(c) {
			continue
		}
		seen[string(c)] = true
		inputs = append(inputs, hostile{name: fmt.Sprintf("corpus-%d", i), origin: "FuzzDecoder corpus", in: c})
	}
	dir, cases := loadCases(t)
	bases, names, err := basePackets(dir, cases, seeds)
	require.NoError(t, err)
	n := def
	if testing.Short() {
		n = def / 4
	}
	n = envInt(t, env, n)
	seed := uint64(envInt(t, envDiffSeed, 1)) + seedOffset
	for _, h := range generate(seed, n, bases, names, comparable) {
		if !seen[string(h.in)] {
			seen[string(h.in)] = true
			inputs = append(inputs, h)
		}
	}
	return inputs
}

// TestDifferential feeds the fuzzer's corpus and generated hostile inputs to
// every testee and requires each to do what the reference does.
func TestDifferential(t *testing.T) {
	start := time.Now()
	testees := diffTestees(t)
	inputs := diffInputs(t, envDiffPackets, defaultDiffPackets, 0)
	tmp := t.TempDir()
	for i, h := range inputs {
		require.NoError(t, os.WriteFile(filepath.Join(tmp, fmt.Sprintf("%d.in", i)), h.in, 0o600))
	}

	type job struct{ input, testee int }
	results := make([][]outcome, len(inputs))
	for i := range results {
		results[i] = make([]outcome, len(testees))
	}
	jobs := make(chan job)
	var wg sync.WaitGroup
	for range max(envInt(t, envDiffJobs, runtime.NumCPU()+1), 1) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				results[j.input][j.testee] = runTestee(testees[j.testee],
					filepath.Join(tmp, fmt.Sprintf("%d.in", j.input)),
					filepath.Join(tmp, fmt.Sprintf("%d.%d.out", j.input, j.testee)))
			}
		}()
	}
	for i := range inputs {
		for k := range testees {
			jobs <- job{i, k}
		}
	}
	close(jobs)
	wg.Wait()

	keep := os.Getenv(envDiffKeep)
	disagreements, badInputs, excused := 0, 0, 0
	perTestee := map[string]int{}
	for i, h := range inputs {
		want, msg, _ := reference(h.in)
		var report []string
		for k, s := range testees {
			why := disagreement(want, msg, results[i][k])
			if why != "" && knownDeviation(s, h.in, results[i][k]) {
				excused++
				continue
			}
			if why != "" {
				disagreements++
				perTestee[s.name]++
				report = append(report, fmt.Sprintf("  %s: %s\n    stderr: %.300q", s.name, why, results[i][k].stderr))
			}
		}
		if report == nil {
			continue
		}
		badInputs++
		if keep != "" {
			require.NoError(t, os.MkdirAll(keep, 0o755))
			require.NoError(t, os.WriteFile(filepath.Join(keep, h.name+".in"), h.in, 0o644))
		}
		t.Errorf("input %s (%s), %d bytes: %.400q\nreference: %s, fd 4 %.200q, message %q\n%s",
			h.name, h.origin, len(h.in), h.in, want.class, want.out, msg, strings.Join(report, "\n"))
	}
	rejected := 0
	for _, h := range inputs {
		if w, _, _ := reference(h.in); w.class == classReject {
			rejected++
		}
	}
	t.Logf("differential: %d inputs (%d rejected by the reference) x %d testees = %d runs, %d disagreements on %d inputs %v, %d excused by known failures, in %s",
		len(inputs), rejected, len(testees), len(inputs)*len(testees), disagreements, badInputs, perTestee,
		excused, time.Since(start).Round(time.Millisecond))
}
