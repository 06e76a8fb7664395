package remote_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"

	"github.com/pluton-go/pluton/go/client"
	"github.com/pluton-go/pluton/go/remote"
	"github.com/pluton-go/pluton/go/servicekey"
)

// BenchmarkRemoteCall measures a Go client's call of a service on another
// host (client → NATS → exporter → Unix socket → echoService and back),
// 100-byte request and response; BenchmarkBareNATSRequest the bare NATS
// request/reply of the same size in the same setting, for the overhead
// ratio (docs/remote.md).
func BenchmarkRemoteCall(b *testing.B) {
	url := startNATS(b)
	h := startHost(b, "B", url, map[string]string{"system.echo.0.raw": echoConfig(b, "")})
	h.waitExported("system.echo.0.raw")
	empty := b.TempDir()
	c, err := client.New("bench", client.WithLookup(empty), client.WithNATS(url))
	require.NoError(b, err)
	defer c.Close()
	data := bytes.Repeat([]byte("x"), 100)
	ctx := context.Background()
	_, err = c.Call(ctx, "system.echo.0.raw", data) // connect, start the instance
	require.NoError(b, err)
	b.ResetTimer()
	for range b.N {
		if _, err := c.Call(ctx, "system.echo.0.raw", data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkBareNATSRequest(b *testing.B) {
	url := startNATS(b)
	srv, err := nats.Connect(url)
	require.NoError(b, err)
	defer srv.Close()
	_, err = srv.QueueSubscribe("bench.echo", "q", func(m *nats.Msg) { _ = m.Respond(m.Data) })
	require.NoError(b, err)
	require.NoError(b, srv.Flush())
	nc, err := nats.Connect(url)
	require.NoError(b, err)
	defer nc.Close()
	data := bytes.Repeat([]byte("x"), 100)
	b.ResetTimer()
	for range b.N {
		if _, err := nc.Request("bench.echo", data, 5*time.Second); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLocalCall is the same call to the same service over its local
// socket: the part of BenchmarkRemoteCall that is not NATS.
func BenchmarkLocalCall(b *testing.B) {
	url := startNATS(b)
	h := startHost(b, "B", url, map[string]string{"system.echo.0.raw": echoConfig(b, "")})
	c, err := client.New("bench", client.WithLookup(h.Map), client.WithNATS("off"))
	require.NoError(b, err)
	data := bytes.Repeat([]byte("x"), 100)
	ctx := context.Background()
	_, err = c.Call(ctx, "system.echo.0.raw", data)
	require.NoError(b, err)
	b.ResetTimer()
	for range b.N {
		if _, err := c.Call(ctx, "system.echo.0.raw", data); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRemoteCallInProcessExporter runs the exporter in the
// benchmark's process (the NATS server is there too), so that the figure
// leaves out the hop through the manager's process.
func BenchmarkRemoteCallInProcessExporter(b *testing.B) {
	url := startNATS(b)
	h := startHost(b, "B", url, map[string]string{"system.echo.0.raw": echoConfig(b, "")})
	h.waitExported("system.echo.0.raw")
	h.kill() // its instances die with it; start a plain manager instead
	h2 := startPlainHost(b, map[string]string{"system.echo.0.raw": echoConfig(b, "")})
	nc, err := nats.Connect(url)
	require.NoError(b, err)
	defer nc.Close()
	local, err := client.New("exporter", client.WithLookup(h2.Map), client.WithNATS("off"))
	require.NoError(b, err)
	e := remote.NewExporter(nc, local, "inproc", nil)
	defer e.Close(time.Second)
	k, _ := servicekey.Parse("system.echo.0.raw")
	require.NoError(b, e.Update([]servicekey.Key{k}))
	c, err := client.New("bench", client.WithLookup(b.TempDir()), client.WithNATS(url))
	require.NoError(b, err)
	defer c.Close()
	data := bytes.Repeat([]byte("x"), 100)
	ctx := context.Background()
	_, err = c.Call(ctx, "system.echo.0.raw", data)
	require.NoError(b, err)
	b.ResetTimer()
	for range b.N {
		if _, err := c.Call(ctx, "system.echo.0.raw", data); err != nil {
			b.Fatal(err)
		}
	}
}
