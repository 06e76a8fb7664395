package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/pluton-go/pluton/go/client"
	"github.com/pluton-go/pluton/go/protocol"
	"github.com/pluton-go/pluton/go/remote/jobs"
	"github.com/pluton-go/pluton/go/testbin"
)

// The remote benchmarks (docs/remote.md, "Cost"): two plutonManager
// processes as two hosts on one NATS server, the one of host A's
// `-N embedded`. Run them alone, e.g.
//
//	cd tools/bench && go test -run X -bench Remote -benchtime 3000x
//	cd tools/bench && go test -run X -bench Jobs -benchtime 1000x

const (
	// As go/remote's GatewaySocketName and ContextJobSubmit (go/remote
	// itself would bring the NATS server's module into this one).
	gatewaySocket    = "plutonRemote.socket"
	contextJobSubmit = "pluton.jobSubmit"

	remoteEchoKey = "bench.echo.0.raw"
	remoteJobKey  = "bench.job.0.raw"
	remoteSize    = 100 // request and response bytes, as in go/remote's benchmarks
)

// benchHost is one plutonManager started with -N over its own directory.
type benchHost struct {
	dir, r, lookup string
	p              *proc
}

func startBenchHost(b *testing.B, name, natsURL string, configs map[string]string) *benchHost {
	b.Helper()
	dir, err := os.MkdirTemp("", "plbr") // short: socket paths must fit in 108 bytes
	require.NoError(b, err)
	b.Cleanup(func() { os.RemoveAll(dir) })
	h := &benchHost{dir: dir, r: filepath.Join(dir, "r"), lookup: filepath.Join(dir, "lookup.map")}
	require.NoError(b, os.Mkdir(filepath.Join(dir, "c"), 0o755))
	for key, text := range configs {
		require.NoError(b, os.WriteFile(filepath.Join(dir, "c", key), []byte(text), 0o644))
	}
	h.p, err = startProc(name, []string{"plutonHome=" + dir}, dir, filepath.Join(testbin.Dir(b), "plutonManager"),
		"-C", filepath.Join(dir, "c"), "-R", h.r, "-L", h.lookup, "-N", natsURL)
	require.NoError(b, err)
	b.Cleanup(func() { h.p.stop(syscall.SIGTERM, 20*time.Second) })
	_, err = h.p.waitFor("Manager ready:", 30*time.Second)
	require.NoError(b, err)
	return h
}

// natsURL is the URL the host's manager wrote for local clients.
func (h *benchHost) natsURL(b *testing.B) string {
	b.Helper()
	u, err := os.ReadFile(filepath.Join(h.r, client.NATSURLFile))
	require.NoError(b, err)
	return strings.TrimSpace(string(u))
}

// remoteHosts starts host A (-N embedded, no services) and host B (on A's
// NATS, serving the Go echo and a job class of 4 workers).
func remoteHosts(b *testing.B) (a, bh *benchHost, url string) {
	b.Helper()
	a = startBenchHost(b, "hostA", "embedded", nil)
	url = a.natsURL(b)
	bin := testbin.Dir(b)
	bh = startBenchHost(b, "hostB", url, map[string]string{
		remoteEchoKey: fmt.Sprintf("exec %s\nminimum-processes 2\nmaximum-processes 2\nprestart-processes true\n",
			filepath.Join(bin, "echoService")),
		remoteJobKey: fmt.Sprintf("exec %s\nminimum-processes 4\nmaximum-processes 4\nprestart-processes true\n"+
			"jobs true\njobs-max-workers 4\n", filepath.Join(bin, "testJobWorker")),
	})
	_, err := bh.p.waitFor("Job Class: "+remoteJobKey, 30*time.Second)
	require.NoError(b, err)
	return a, bh, url
}

// gatewayCall sends one request packet to a host's gateway socket.
func gatewayCall(h *benchHost, req *protocol.Request) (protocol.Response, error) {
	var resp protocol.Response
	conn, err := net.DialTimeout("unix", filepath.Join(h.r, gatewaySocket), 5*time.Second)
	if err != nil {
		return resp, err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := conn.Write(protocol.AppendRequest(nil, req)); err != nil {
		return resp, err
	}
	if err := protocol.NewResponseDecoder(conn).ReadResponse(&resp); err != nil {
		return resp, err
	}
	if resp.FaultCode != 0 {
		return resp, fmt.Errorf("fault %d: %s", resp.FaultCode, resp.FaultText)
	}
	return resp, nil
}

// BenchmarkRemote measures, against one NATS server in one run: a bare
// NATS request/reply of 100 bytes (responder in this process), a Go
// client's remote call (client on host A → NATS → host B's exporter →
// echoService), the same through host A's gateway socket (the SDKs' path),
// and the local call on host B. "interleaved" alternates a bare request
// and a remote call in every iteration, so that the machine's load weighs
// on both alike, and reports both and their ratio.
func BenchmarkRemote(b *testing.B) {
	a, bh, url := remoteHosts(b)
	data := bytes.Repeat([]byte("x"), remoteSize)
	ctx := context.Background()

	srv, err := nats.Connect(url)
	require.NoError(b, err)
	defer srv.Close()
	_, err = srv.QueueSubscribe("bench.bare", "q", func(m *nats.Msg) { _ = m.Respond(m.Data) })
	require.NoError(b, err)
	require.NoError(b, srv.Flush())
	nc, err := nats.Connect(url)
	require.NoError(b, err)
	defer nc.Close()
	bare := func() error {
		m, err := nc.Request("bench.bare", data, 5*time.Second)
		if err == nil && len(m.Data) != remoteSize {
			err = fmt.Errorf("bare reply of %d bytes", len(m.Data))
		}
		return err
	}

	rc, err := client.New("bench", client.WithLookup(a.lookup)) // the URL from A's plutonManager.nats
	require.NoError(b, err)
	defer rc.Close()
	remoteCall := func() error {
		r, err := rc.Call(ctx, remoteEchoKey, data)
		if err == nil && len(r.Data) != remoteSize {
			err = fmt.Errorf("remote reply of %d bytes", len(r.Data))
		}
		return err
	}
	lc, err := client.New("bench", client.WithLookup(bh.lookup), client.WithNATS("off"))
	require.NoError(b, err)
	defer lc.Close()
	id := int64(100)
	gateway := func() error {
		id++
		r, err := gatewayCall(a, &protocol.Request{ID: id, ClientName: "bench:1", ServiceKey: remoteEchoKey,
			TimeoutMS: 5000, Data: data})
		if err == nil && len(r.Data) != remoteSize {
			err = fmt.Errorf("gateway reply of %d bytes", len(r.Data))
		}
		return err
	}
	// Warm up: connections made, instances started, B's keys exported.
	deadline := time.Now().Add(30 * time.Second)
	for remoteCall() != nil {
		require.True(b, time.Now().Before(deadline), "host B's echo not reachable from host A within 30 s")
		time.Sleep(50 * time.Millisecond)
	}
	for range 200 {
		require.NoError(b, bare())
		require.NoError(b, remoteCall())
		require.NoError(b, gateway())
	}

	loop := func(f func() error) func(*testing.B) {
		return func(b *testing.B) {
			for b.Loop() {
				if err := f(); err != nil {
					b.Fatal(err)
				}
			}
		}
	}
	b.Run("bare-nats", loop(bare))
	b.Run("remote-call", loop(remoteCall))
	b.Run("gateway-call", loop(gateway))
	b.Run("local-call", loop(func() error { _, err := lc.Call(ctx, remoteEchoKey, data); return err }))
	b.Run("interleaved", func(b *testing.B) {
		var tBare, tRemote time.Duration
		n := 0
		for b.Loop() {
			t0 := time.Now()
			if err := bare(); err != nil {
				b.Fatal(err)
			}
			t1 := time.Now()
			if err := remoteCall(); err != nil {
				b.Fatal(err)
			}
			tBare += t1.Sub(t0)
			tRemote += time.Since(t1)
			n++
		}
		b.ReportMetric(float64(tBare.Microseconds())/float64(n), "bare-µs/op")
		b.ReportMetric(float64(tRemote.Microseconds())/float64(n), "remote-µs/op")
		b.ReportMetric(float64(tRemote)/float64(tBare), "remote/bare")
	})
}

// BenchmarkJobs measures durable jobs end to end: b.N jobs submitted from
// this process (jobs.Submit) to a class served by 4 instances of
// testJobWorker on host B, and waited for until every one has its result
// stored (so acknowledged after); it reports jobs/s. "gateway-submit" is
// the submission alone through host A's gateway socket (the SDKs' path).
func BenchmarkJobs(b *testing.B) {
	a, _, url := remoteHosts(b)
	nc, err := nats.Connect(url)
	require.NoError(b, err)
	defer nc.Close()
	js, err := jetstream.New(nc)
	require.NoError(b, err)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	kv, err := jobs.Ensure(ctx, js, jetstream.FileStorage)
	require.NoError(b, err)
	run := 0

	b.Run("end-to-end", func(b *testing.B) {
		run++
		prefix := fmt.Sprintf("bench-%d-%d-", time.Now().UnixNano(), run)
		w, err := kv.WatchAll(ctx, jetstream.UpdatesOnly())
		require.NoError(b, err)
		defer func() { _ = w.Stop() }()
		var stored, failed atomic.Int64
		n := b.N
		all := make(chan struct{})
		go func() {
			for e := range w.Updates() {
				if e == nil || !strings.HasPrefix(e.Key(), prefix) || e.Operation() != jetstream.KeyValuePut {
					continue
				}
				if !bytes.Contains(e.Value(), []byte(`"ok":true`)) {
					failed.Add(1)
				}
				if stored.Add(1) == int64(n) {
					close(all)
					return
				}
			}
		}()
		b.ResetTimer()
		start := time.Now()
		for i := range n {
			if _, err := jobs.Submit(ctx, js, jobs.Job{ID: fmt.Sprintf("%s%d", prefix, i), Key: remoteJobKey,
				Payload: []byte("job")}); err != nil {
				b.Fatal(err)
			}
		}
		select {
		case <-all:
		case <-time.After(5 * time.Minute):
			b.Fatalf("%d of %d results within 5 min", stored.Load(), n)
		}
		took := time.Since(start)
		b.StopTimer()
		require.Zero(b, failed.Load(), "failed jobs")
		b.ReportMetric(float64(n)/took.Seconds(), "jobs/s")
	})
	b.Run("gateway-submit", func(b *testing.B) {
		run++
		i := 0
		for b.Loop() {
			i++
			if _, err := gatewayCall(a, &protocol.Request{ID: int64(i), ClientName: "bench:1", ServiceKey: remoteJobKey,
				TimeoutMS: 5000, Data: []byte("job"), Context: protocol.AppendContext(nil, contextJobSubmit,
					fmt.Sprintf("gw-%d-%d-%d", time.Now().UnixNano(), run, i))}); err != nil {
				b.Fatal(err)
			}
		}
	})
}
