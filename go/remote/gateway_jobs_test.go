package remote_test

import (
	"encoding/json"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pluton-go/pluton/go/fault"
	"github.com/pluton-go/pluton/go/protocol"
	"github.com/pluton-go/pluton/go/remote"
	"github.com/pluton-go/pluton/go/remote/jobs"
)

// gatewayCall sends one request packet to a host's gateway socket.
func gatewayCall(t *testing.T, h *host, req protocol.Request) protocol.Response {
	t.Helper()
	conn, err := net.DialTimeout("unix", filepath.Join(h.R, remote.GatewaySocketName), 5*time.Second)
	require.NoError(t, err)
	defer conn.Close()
	require.NoError(t, conn.SetDeadline(time.Now().Add(20*time.Second)))
	_, err = conn.Write(protocol.AppendRequest(nil, &req))
	require.NoError(t, err)
	var resp protocol.Response
	require.NoError(t, protocol.NewResponseDecoder(conn).ReadResponse(&resp))
	return resp
}

// TestGatewayJobs submits jobs and waits for their results through the
// gateway socket of a host that does not serve the class itself.
func TestGatewayJobs(t *testing.T) {
	url := startNATS(t)
	const key = "system.gwjob.0.raw"
	b := startHost(t, "B", url, map[string]string{key: workerConfig(t, "")})
	b.waitFor("Job Class: "+key, 30*time.Second)
	a := startHost(t, "A", url, nil)

	submit := func(id string, ctx []byte, data string) protocol.Response {
		return gatewayCall(t, a, protocol.Request{ID: 5, ClientName: "sdk:1", ServiceKey: key, TimeoutMS: 10000,
			Data: []byte(data), Context: protocol.AppendContext(ctx, remote.ContextJobSubmit, id)})
	}
	result := func(id string, timeoutMS int64) protocol.Response {
		return gatewayCall(t, a, protocol.Request{ID: 6, ClientName: "sdk:1", ServiceKey: key, TimeoutMS: timeoutMS,
			Context: protocol.AppendContext(nil, remote.ContextJobResult, id)})
	}

	tests := []struct {
		name, id, data, want string
		ctx                  []byte
	}{
		{name: "given id", id: "gw-job-1", data: "one", want: "done:gw-job-1:one"},
		{name: "context reaches the service", id: "gw-job-2", data: "two", ctx: protocol.AppendContext(nil, "tag", "blue"),
			want: "done:gw-job-2:two:tag=blue"},
		{name: "made id", data: "three"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp := submit(tc.id, tc.ctx, tc.data)
			require.Zero(t, resp.FaultCode, resp.FaultText)
			assert.Equal(t, int64(5), resp.ID)
			var s remote.GatewaySubmitted
			require.NoError(t, json.Unmarshal(resp.Data, &s), "%s", resp.Data)
			assert.False(t, s.Duplicate)
			assert.NotZero(t, s.Sequence)
			if tc.id != "" {
				assert.Equal(t, tc.id, s.ID)
			} else {
				require.NoError(t, jobs.CheckID(s.ID))
			}
			resp = result(s.ID, 20000)
			require.Zero(t, resp.FaultCode, resp.FaultText)
			var r jobs.Result
			require.NoError(t, json.Unmarshal(resp.Data, &r), "%s", resp.Data)
			assert.True(t, r.OK)
			assert.Equal(t, s.ID, r.ID)
			assert.Equal(t, key, r.Key)
			want := tc.want
			if want == "" {
				want = "done:" + s.ID + ":" + tc.data
			}
			assert.Equal(t, want, string(r.Data))
		})
	}

	// A second submit of an id is a duplicate, not enqueued again.
	resp := submit("gw-job-1", nil, "again")
	require.Zero(t, resp.FaultCode, resp.FaultText)
	var s remote.GatewaySubmitted
	require.NoError(t, json.Unmarshal(resp.Data, &s))
	assert.True(t, s.Duplicate)

	// A failing job's result says so.
	resp = submit("gw-fail", nil, "fault:12")
	require.Zero(t, resp.FaultCode, resp.FaultText)

	faults := []struct {
		name string
		resp func() protocol.Response
		code fault.Code
		text string
	}{
		{name: "bad job id", resp: func() protocol.Response { return submit("no spaces", nil, "x") },
			code: fault.ContextFormatError, text: `job id "no spaces": character ' ' not allowed`},
		{name: "too long id", resp: func() protocol.Response { return result(string(make([]byte, 300)), 1000) },
			code: fault.ContextFormatError, text: "must be 1 to 200 characters"},
		{name: "empty result id", resp: func() protocol.Response { return result("", 1000) },
			code: fault.ContextFormatError, text: "must be 1 to 200 characters"},
		{name: "no result yet", resp: func() protocol.Response { return result("never-submitted", 300) },
			code: fault.ServiceTimeout, text: "job never-submitted: no result within 300ms"},
		{name: "bad class", resp: func() protocol.Response {
			return gatewayCall(t, a, protocol.Request{ID: 5, ServiceKey: "nodots", TimeoutMS: 2000,
				Context: protocol.AppendContext(nil, remote.ContextJobSubmit, "")})
		}, code: fault.ServiceKeyBad, text: "job class:"},
		{name: "both operations", resp: func() protocol.Response {
			return gatewayCall(t, a, protocol.Request{ID: 5, ServiceKey: key, TimeoutMS: 2000,
				Context: protocol.AppendContext(protocol.AppendContext(nil, remote.ContextJobSubmit, ""), remote.ContextJobResult, "x")})
		}, code: fault.ContextFormatError, text: "both pluton.jobSubmit and pluton.jobResult"},
	}
	for _, tc := range faults {
		t.Run(tc.name, func(t *testing.T) {
			resp := tc.resp()
			assert.Equal(t, int64(tc.code), resp.FaultCode, resp.FaultText)
			assert.Contains(t, resp.FaultText, tc.text)
			assert.Empty(t, resp.Data)
		})
	}

	resp = result("gw-fail", 30000)
	require.Zero(t, resp.FaultCode, resp.FaultText)
	var r jobs.Result
	require.NoError(t, json.Unmarshal(resp.Data, &r))
	assert.False(t, r.OK)
	assert.Equal(t, int64(12), r.FaultCode)
	assert.Equal(t, "asked for fault 12", r.FaultText)

	// Plain calls still go through the gateway alongside.
	resp = gatewayCall(t, a, protocol.Request{ID: 9, ServiceKey: key, TimeoutMS: 5000, Data: []byte("call")})
	require.Zero(t, resp.FaultCode, resp.FaultText)
	assert.Equal(t, "done::call", string(resp.Data))
}
