package client

import (
	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pluton-go/pluton/go/protocol"
)

// echoServerEnv makes the test binary run as a plain echo service listening
// on the socket the variable names (used by the benchmarks, so that the
// service's allocations are not counted as the client's).
const echoServerEnv = "PLUTON_CLIENT_TEST_ECHO"

func TestMain(m *testing.M) {
	if path := os.Getenv(echoServerEnv); path != "" {
		runEchoServer(path)
		return
	}
	code := m.Run()
	if e2eDir != "" {
		os.RemoveAll(e2eDir) // the commands built for the end-to-end tests
	}
	os.Exit(code)
}

func runEchoServer(path string) {
	ln, err := net.Listen("unix", path)
	if err != nil {
		os.Exit(3)
	}
	name := "benchEcho:" + itoa(os.Getpid()) + "/0"
	go func() { // exit with the parent
		os.Stdin.Read(make([]byte, 1))
		os.Exit(0)
	}()
	for {
		c, err := ln.Accept()
		if err != nil {
			os.Exit(0)
		}
		go func() {
			defer c.Close()
			var req protocol.Request
			if protocol.NewRequestDecoder(c).ReadRequest(&req) != nil || req.NoWait {
				return
			}
			c.Write(protocol.AppendResponse(nil, &protocol.Response{
				ID: req.ID, ClientName: req.ClientName, ServiceName: name, Data: req.Data}))
		}()
	}
}

func itoa(n int) string { return string(protocolAppendInt(nil, n)) }

func protocolAppendInt(b []byte, n int) []byte {
	if n >= 10 {
		b = protocolAppendInt(b, n/10)
	}
	return append(b, byte('0'+n%10))
}

// startEchoProcess runs the test binary as an echo server on <dir>/<key>.socket.
func startEchoProcess(tb testing.TB, dir, key string) {
	tb.Helper()
	path := filepath.Join(dir, key+".socket")
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), echoServerEnv+"="+path)
	stdin, err := cmd.StdinPipe()
	require.NoError(tb, err)
	require.NoError(tb, cmd.Start())
	tb.Cleanup(func() {
		stdin.Close()
		cmd.Process.Kill()
		cmd.Wait()
	})
	waitUntil(tb, 5*time.Second, func() bool { return isSocket(path) })
}

// cpuTime returns the user plus system CPU time of this process.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU adds the metric cpu-ns/op: the CPU the client process used per
// operation (the service runs in another process), which a loaded machine
// disturbs much less than the wall time.
func reportCPU(b *testing.B, start time.Duration) {
	b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op")
}

func benchCalls(b *testing.B, c *Client, key string, size int) {
	benchCallsCtx(b, context.Background(), c, key, size)
}

func benchCallsCtx(b *testing.B, ctx context.Context, c *Client, key string, size int) {
	data := payload(size)
	b.SetBytes(int64(size))
	b.ReportAllocs()
	cpu0 := cpuTime()
	defer func() { reportCPU(b, cpu0) }()
	b.ResetTimer()
	for b.Loop() {
		resp, err := c.Call(ctx, key, data)
		if err != nil {
			b.Fatal(err)
		}
		if len(resp.Data) != size {
			b.Fatalf("got %d bytes, want %d", len(resp.Data), size)
		}
	}
}

func benchDo(b *testing.B, c *Client, key string, size int) {
	data := payload(size)
	ctx := context.Background()
	r := NewRequest(key, data)
	b.SetBytes(int64(size))
	b.ReportAllocs()
	cpu0 := cpuTime()
	defer func() { reportCPU(b, cpu0) }()
	b.ResetTimer()
	for b.Loop() {
		if err := c.Do(ctx, r); err != nil {
			b.Fatal(err)
		}
		if !bytes.Equal(r.Response().Data, data) {
			b.Fatal("bad echo")
		}
	}
}

var benchSizes = []struct {
	name string
	size int
}{{"0B", 0}, {"1KiB", 1024}}

// BenchmarkCall measures one Call against an echo service running in another
// process (the test binary itself), so only the client's allocations count.
func BenchmarkCall(b *testing.B) {
	dir := tempDir(b)
	startEchoProcess(b, dir, echoKey)
	c := newTestClient(b, dir)
	for _, s := range benchSizes {
		b.Run(s.name, func(b *testing.B) { benchCalls(b, c, echoKey, s.size) })
	}
}

// BenchmarkCallCancelable is BenchmarkCall/0B with a context that can be
// cancelled, which the client has to watch.
func BenchmarkCallCancelable(b *testing.B) {
	dir := tempDir(b)
	startEchoProcess(b, dir, echoKey)
	c := newTestClient(b, dir)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	benchCallsCtx(b, ctx, c, echoKey, 0)
}

// BenchmarkDo is BenchmarkCall with a reused Request (its response buffer
// is reused too).
func BenchmarkDo(b *testing.B) {
	dir := tempDir(b)
	startEchoProcess(b, dir, echoKey)
	c := newTestClient(b, dir)
	for _, s := range benchSizes {
		b.Run(s.name, func(b *testing.B) { benchDo(b, c, echoKey, s.size) })
	}
}

// BenchmarkCallParallel runs Calls from GOMAXPROCS goroutines at once.
func BenchmarkCallParallel(b *testing.B) {
	dir := tempDir(b)
	startEchoProcess(b, dir, echoKey)
	c := newTestClient(b, dir)
	data := payload(1024)
	b.ReportAllocs()
	cpu0 := cpuTime()
	defer func() { reportCPU(b, cpu0) }()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := c.Call(context.Background(), echoKey, data); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkBatch sends 16 requests at once through a Batch and waits for all.
func BenchmarkBatch(b *testing.B) {
	dir := tempDir(b)
	startEchoProcess(b, dir, echoKey)
	c := newTestClient(b, dir)
	batch := c.NewBatch()
	reqs := make([]*Request, 16)
	for i := range reqs {
		reqs[i] = NewRequest(echoKey, payload(1024))
	}
	ctx := context.Background()
	b.ReportAllocs()
	cpu0 := cpuTime()
	defer func() { reportCPU(b, cpu0) }()
	for b.Loop() {
		for _, r := range reqs {
			if err := batch.Add(ctx, r); err != nil {
				b.Fatal(err)
			}
		}
		batch.WaitAll()
		for _, r := range reqs {
			if r.Err() != nil {
				b.Fatal(r.Err())
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(reqs)), "ns/request")
}
