package status

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pluton-go/pluton/go/manager/metrics"
	"github.com/pluton-go/pluton/go/remote"
	"github.com/pluton-go/pluton/go/remote/jobs"
)

// remoteFake is a controller of a manager started with -N: RemoteStatus
// returns what the manager's does (a remote.RemoteStatus), or nil.
type remoteFake struct {
	*fakeController
	remote any
}

func (f *remoteFake) RemoteStatus(context.Context) any { return f.remote }

func getPage(t *testing.T, srv *httptest.Server, path string) string {
	t.Helper()
	resp, err := srv.Client().Get(srv.URL + path)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s", b)
	return string(b)
}

func TestPageJobClasses(t *testing.T) {
	t.Parallel()
	st := remote.RemoteStatus{URL: "nats://127.0.0.1:4222", Host: "hostB:4711", Status: "CONNECTED",
		Exported: []string{testKey, "system.job.0.raw"},
		Jobs: []jobs.ClassStats{
			{Key: "system.job.0.raw", State: "running", Workers: 4, Queued: 120, InFlight: 5, Running: 4, Done: 880,
				Failed: 1, Redelivered: 3, Duplicates: 2},
			{Key: "system.held.0.raw", State: "held", Workers: 1, Queued: 7, Error: "fetch: <timeout & more>"},
		}}
	tests := []struct {
		name   string
		remote any
		want   []string
		absent []string
	}{
		{name: "with -N", remote: st, want: []string{
			`<h2>Job classes</h2>`, `<table id="jobs">`,
			`<span data-field="url">nats://127.0.0.1:4222</span> (<span data-field="status">CONNECTED</span>) as host <span data-field="host">hostB:4711</span>, exporting <span data-field="exported">2</span> keys`,
			`<tr class="job" data-key="system.job.0.raw">`,
			`<td data-field="workers">4</td><td data-field="queued">120</td><td data-field="inFlight">5</td><td data-field="running">4</td><td data-field="done">880</td><td data-field="failed">1</td><td data-field="redelivered">3</td><td data-field="duplicates">2</td>`,
			`<tr class="job held" data-key="system.held.0.raw">`, `<td class="l" data-field="state">held</td>`,
			`<td class="l" data-field="error">fetch: &lt;timeout &amp; more&gt;</td>`,
			`fetch("/remote"`,
		}},
		{name: "with -N, no job class", remote: remote.RemoteStatus{URL: "nats://x:1", Status: "RECONNECTING"},
			want: []string{`<table id="jobs">`, `no job classes`, `(<span data-field="status">RECONNECTING</span>)`}},
		{name: "without -N", remote: nil, absent: []string{`<table id="jobs">`, `Job classes`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(Handler(&remoteFake{fakeController: newFake(), remote: tc.remote}, metrics.New().Registry))
			defer srv.Close()
			page := getPage(t, srv, "/")
			for _, w := range tc.want {
				assert.Contains(t, page, w)
			}
			for _, a := range tc.absent {
				assert.NotContains(t, page, a)
			}
			assert.Contains(t, page, `data-key="`+testKey+`"`, "the services are still there")

			// The page shows the same numbers as GET /remote.
			var v struct {
				Remote *pageRemote `json:"remote"`
			}
			require.NoError(t, json.Unmarshal([]byte(getPage(t, srv, "/remote")), &v))
			if tc.remote == nil {
				assert.Nil(t, v.Remote)
				return
			}
			require.NotNil(t, v.Remote)
			for _, j := range v.Remote.Jobs {
				row := page[strings.Index(page, `data-key="`+j.Key+`">`):]
				row = row[:strings.Index(row, "</tr>")]
				for field, n := range map[string]any{"queued": j.Queued, "running": j.Running, "done": j.Done,
					"failed": j.Failed, "redelivered": j.Redelivered} {
					b, _ := json.Marshal(n)
					assert.Contains(t, row, `<td data-field="`+field+`">`+string(b)+`</td>`, j.Key+" "+field)
				}
			}
		})
	}
	// A controller without RemoteStatus (the tests' plain fake) has no section either.
	srv := httptest.NewServer(Handler(newFake(), metrics.New().Registry))
	defer srv.Close()
	assert.NotContains(t, getPage(t, srv, "/"), `<table id="jobs">`)
}
