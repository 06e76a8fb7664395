package status_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pluton-go/pluton/go/manager/pool"
	"github.com/pluton-go/pluton/go/manager/status"
	"github.com/pluton-go/pluton/go/manager/status/statustest"
	"github.com/pluton-go/pluton/go/testbin"
)

const (
	echoKey    = "system.echo.0.raw"
	crashKey   = "demo.crash.0.raw"
	threadsKey = "threads.echo.0.raw"
)

// demoServices returns the services of tools/demo.sh (the echo service in
// Go, Python, PHP and Perl, configured as the demo does) whose interpreter
// is installed, and their keys.
func demoServices(t *testing.T) (map[string]string, []string) {
	t.Helper()
	root := testbin.RepoRoot(t)
	demo := "minimum-processes 1\nmaximum-processes 4\nprestart-processes true\n"
	services := map[string]string{echoKey: "exec " + testbin.Path(t, "echoService") + "\n" + demo}
	keys := []string{echoKey}
	for _, sdk := range []struct{ key, interpreter, script string }{
		{"python.echo.0.raw", "python3", "sdk/python/examples/echo.py"},
		{"php.echo.0.raw", "php", "sdk/php/examples/echo.php"},
		{"perl.echo.0.raw", "perl", "sdk/perl/examples/echo.pl"},
	} {
		path, err := exec.LookPath(sdk.interpreter)
		if err != nil {
			t.Logf("%s: no %s on PATH, left out of the demo's services", sdk.key, sdk.interpreter)
			continue
		}
		services[sdk.key] = "exec " + path + " " + filepath.Join(root, sdk.script) + "\n" + demo
		keys = append(keys, sdk.key)
	}
	return services, keys
}

// chromium returns Debian's Chromium (or $PLUTON_CHROMIUM), or skips the
// test when there is none: tools/setup.sh installs it.
func chromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("PLUTON_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("no chromium on PATH (tools/setup.sh installs Debian's chromium; or set PLUTON_CHROMIUM): the browser test of the status page did not run")
	return ""
}

// browser starts a headless Chromium and returns a tab's context.
func browser(t *testing.T) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium(t)),
		chromedp.NoSandbox, // the tests run as root
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1500, 900),
		chromedp.Flag("disable-gpu", true),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(t.Context(), opts...)
	t.Cleanup(cancelAlloc)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(cancel)
	ctx, cancelTimeout := context.WithTimeout(ctx, 120*time.Second)
	t.Cleanup(cancelTimeout)
	return ctx
}

// pageRows reads the services table as the browser shows it.
func pageRows(ctx context.Context) (map[string]map[string]string, error) {
	rows, err := chromedp.Run(ctx, chromedp.Evaluate[[]map[string]string](`
		[...document.querySelectorAll("#services tr.svc")].map((tr) => Object.fromEntries(
			[...tr.querySelectorAll("td[data-field]")].map((td) => [td.dataset.field, td.textContent])))`))
	if err != nil {
		return nil, err
	}
	out := map[string]map[string]string{}
	for _, r := range rows {
		out[r["key"]] = r
	}
	return out, nil
}

// mismatch compares the page's rows with GET /services; "" when they agree.
func mismatch(rows map[string]map[string]string, services map[string]pool.ServiceStatus) string {
	var keys, want []string
	for k := range rows {
		keys = append(keys, k)
	}
	for k := range services {
		want = append(want, k)
	}
	sort.Strings(keys)
	sort.Strings(want)
	if strings.Join(keys, " ") != strings.Join(want, " ") {
		return fmt.Sprintf("page shows services %v, GET /services has %v", keys, want)
	}
	for k, s := range services {
		r := rows[k]
		state := "serving"
		switch {
		case s.Halted:
			state = "halted"
		case s.Held:
			state = "held"
		case s.Backoff != nil:
			state = "backoff"
		}
		for field, v := range map[string]string{
			"phase": s.Phase, "busy": strconv.Itoa(s.Busy), "idle": strconv.Itoa(s.Idle),
			"starting": strconv.Itoa(s.Starting), "instances": status.InstancesText(s),
			"backlog": strconv.Itoa(s.Backlog), "requests": strconv.FormatUint(s.Requests, 10),
			"faults": strconv.FormatUint(s.Faults, 10),
		} {
			if r[field] != v {
				return fmt.Sprintf("%s: page shows %s %q, GET /services has %q", k, field, r[field], v)
			}
		}
		if !strings.HasPrefix(r["state"], state) {
			return fmt.Sprintf("%s: page shows state %q, GET /services says %s", k, r["state"], state)
		}
	}
	return ""
}

func TestStatusPageInBrowser(t *testing.T) {
	t.Parallel()
	ctx := browser(t)
	// The demo's services, and one that crashes at start-up.
	services, demoKeys := demoServices(t)
	services[crashKey] = statustest.Exec(t, "testExit", []string{"3"}, "prestart-processes true", "exec-failure-backoff 60")
	// A Go echo serving 4 requests at once in each instance: the page
	// shows its instances as "1/2×4", rendered by its script as by Go.
	services[threadsKey] = "exec " + testbin.Path(t, "echoService") +
		"\nmaximum-threads 4\nminimum-processes 1\nmaximum-processes 2\nprestart-processes true\n"
	m := statustest.Start(t, services)
	// The Go echo must answer; a service of another SDK that fails is shown
	// as it is (the page's job), not this test's failure.
	require.Equal(t, 10, m.Load(echoKey, 10))
	for _, k := range demoKeys[1:] {
		if n := m.Load(k, 10); n != 10 {
			t.Logf("%s answered %d of 10 requests; the page shows its state", k, n)
		}
	}
	m.Eventually("the crashing service backs off", 20*time.Second, func() bool {
		return m.Services()[crashKey].Backoff != nil
	})
	m.Eventually("request counts reach the status API", 20*time.Second, func() bool {
		return m.Services()[echoKey].Requests >= 10
	})

	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(m.URL("/")),
		chromedp.WaitVisible(chromedp.CSS(`tr.svc[data-key="`+echoKey+`"]`))))
	title, err := chromedp.Run(ctx, chromedp.Title())
	require.NoError(t, err)
	assert.Contains(t, title, "Pluton manager")

	// The table agrees with GET /services (the page refreshes every 2 s:
	// wait for a refresh that shows what the API shows).
	var why string
	deadline := time.Now().Add(20 * time.Second)
	for {
		rows, err := pageRows(ctx)
		require.NoError(t, err)
		if why = mismatch(rows, m.Services()); why == "" || time.Now().After(deadline) {
			break
		}
		time.Sleep(300 * time.Millisecond)
	}
	require.Empty(t, why)
	inst, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`tr.svc[data-key="`+threadsKey+`"] td[data-field=instances]`)))
	require.NoError(t, err)
	assert.Equal(t, "1/2×4", inst, "the threads of each instance")

	// The instances table lists the live instances of GET /processes.
	var procs struct {
		Processes []pool.ProcessStatus `json:"processes"`
	}
	m.Get("/processes", &procs)
	pids, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](
		`[...document.querySelectorAll("#instances tr.proc td[data-field=pid]")].map((td) => td.textContent)`))
	require.NoError(t, err)
	for _, p := range procs.Processes {
		if p.Service != crashKey {
			assert.Contains(t, pids, strconv.Itoa(p.PID), "instance %s", p.LogID)
		}
	}
	restarts, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`tr.svc[data-key="`+crashKey+`"] td[data-field=restarts]`)))
	require.NoError(t, err)
	assert.Contains(t, restarts, "=1", "the crash is counted by reason")
	// The crash's note, rendered by the page's script from GET /overview:
	// the exit status and the stderr tail, and the fault clients get.
	m.Eventually("the crash's note", 10*time.Second, func() bool {
		n, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`tr.note[data-key="`+crashKey+`"]`)))
		return err == nil && strings.Contains(n, "exit(3)") && strings.Contains(n, "testExit: exiting with status 3")
	})
	note, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`tr.note[data-key="`+crashKey+`"] [data-note=exit]`)))
	require.NoError(t, err)
	assert.Contains(t, note, "last abnormal exit: "+crashKey+"/")

	// HOLD from the page is seen in GET /services, and the page shows it.
	require.False(t, m.Services()[echoKey].Held)
	require.NoError(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`tr.svc[data-key="`+echoKey+`"] button[data-action=hold]`))))
	m.Eventually("HOLD from the page holds the service", 5*time.Second, func() bool { return m.Services()[echoKey].Held })
	m.WaitFor("Service Control: "+echoKey+" held", 5*time.Second)
	m.Eventually("the page shows the hold", 10*time.Second, func() bool {
		s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`tr.svc[data-key="`+echoKey+`"] td[data-field=state]`)))
		return err == nil && strings.HasPrefix(s, "held")
	})
	msg, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("msg")))
	require.NoError(t, err)
	assert.Equal(t, "hold "+echoKey+": done", msg)

	// Some traffic for the rates and percentiles of the screenshot.
	stop := make(chan struct{})
	loaded := make(chan struct{})
	go func() {
		defer close(loaded)
		for i := 0; i < 2000; i++ {
			select {
			case <-stop:
				return
			default:
			}
			for _, k := range demoKeys {
				_, _ = m.Call(k, "load", 5*time.Second)
			}
			time.Sleep(2 * time.Millisecond)
		}
	}()
	m.Eventually("the page shows a request rate", 15*time.Second, func() bool {
		s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`tr.svc[data-key="`+echoKey+`"] td[data-field=p99]`)))
		return err == nil && s != "–"
	})
	close(stop)
	<-loaded
	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	require.NoError(t, err)
	dir := t.TempDir()
	if os.Getenv("PLUTON_UPDATE_SCREENSHOTS") != "" {
		dir = filepath.Join(testbin.RepoRoot(t), "docs", "img")
		require.NoError(t, os.MkdirAll(dir, 0o755))
	}
	require.NoError(t, os.WriteFile(filepath.Join(dir, "status-page.png"), shot, 0o644))
	t.Logf("screenshot: %s (%d bytes)", filepath.Join(dir, "status-page.png"), len(shot))
	assert.Equal(t, "\x89PNG", string(shot[:4]))

	require.NoError(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`tr.svc[data-key="`+echoKey+`"] button[data-action=resume]`))))
	m.Eventually("RESUME from the page", 5*time.Second, func() bool { return !m.Services()[echoKey].Held })
	got, err := m.Call(echoKey, "after resume", 10*time.Second)
	require.NoError(t, err)
	assert.Equal(t, "after resume", got)
}

// A page of another site cannot halt a service through the browser: not
// by a no-cors text/plain fetch, not by a form, not by a JSON fetch (its
// preflight is refused).
func TestCrossSitePageCannotControl(t *testing.T) {
	t.Parallel()
	ctx := browser(t)
	m := statustest.Start(t, map[string]string{
		echoKey: statustest.Exec(t, "echoService", nil, "prestart-processes true"),
	})
	target := m.URL("/services/" + echoKey + "/halt")
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprintf(w, `<!DOCTYPE html><html><body>
<iframe name="sink" id="sink"></iframe>
<form id="f" method="POST" action=%q target="sink"><input name="x" value="1"></form>
<script>
(async () => {
  const done = [];
  try { await fetch(%q, {method: "POST", mode: "no-cors", headers: {"Content-Type": "text/plain"}, body: "{}"}); done.push("text"); } catch (e) { done.push("text:" + e); }
  try { await fetch(%q, {method: "POST", headers: {"Content-Type": "application/json"}, body: "{}"}); done.push("json"); } catch (e) { done.push("json blocked"); }
  document.getElementById("sink").addEventListener("load", () => { done.push("form"); document.title = done.join(","); });
  document.getElementById("f").submit();
})();
</script></body></html>`, target, target, target)
	}))
	defer evil.Close()

	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(evil.URL)))
	m.Eventually("the attacking page ran", 20*time.Second, func() bool {
		title, err := chromedp.Run(ctx, chromedp.Title())
		return err == nil && strings.Contains(title, "form")
	})
	title, _ := chromedp.Run(ctx, chromedp.Title())
	assert.Contains(t, title, "json blocked", "the JSON fetch's preflight must fail")
	time.Sleep(500 * time.Millisecond)
	s := m.Services()[echoKey]
	assert.False(t, s.Halted, "a cross-site page halted the service")
	assert.False(t, s.Held)
	for _, l := range m.Lines() {
		assert.NotContains(t, l, "Service Control:")
	}
	got, err := m.Call(echoKey, "still serving", 10*time.Second)
	require.NoError(t, err)
	assert.Equal(t, "still serving", got)
}
