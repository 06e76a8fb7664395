package main

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/pluton-go/pluton/go/coord"
	coordserver "github.com/pluton-go/pluton/go/manager/coord"
)

// The cost of the coordination services (docs/coordination.md): one round
// trip to the manager's coordination server over its Unix control socket.
//
//	cd tools/bench && go test -run '^$' -bench Coord -benchmem

func coordClient(b *testing.B) *coord.Client {
	b.Helper()
	srv, err := coordserver.Listen(filepath.Join(b.TempDir(), coordserver.SocketName), nil, coordserver.DefaultLimits())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { srv.Close() })
	c, err := coord.Dial(context.Background(), coord.WithSocket(srv.Path()), coord.WithService("bench.coord.0.raw"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	return c
}

// BenchmarkCoordMutexLockUnlock is a lock and an unlock: two round trips.
func BenchmarkCoordMutexLockUnlock(b *testing.B) {
	c := coordClient(b)
	ctx := context.Background()
	b.ResetTimer()
	for b.Loop() {
		l, err := c.Mutexes.Lock(ctx, "m")
		if err != nil {
			b.Fatal(err)
		}
		if err := l.Unlock(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCoordSemaphoreOp is one protected semaphore operation (a
// decrement or an increment, alternating): one round trip.
func BenchmarkCoordSemaphoreOp(b *testing.B) {
	c := coordClient(b)
	ctx := context.Background()
	if _, err := c.Semaphores.Create(ctx, "s", 1, true); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	i := 0
	for b.Loop() {
		var err error
		if i%2 == 0 {
			_, err = c.Semaphores.Decrement(ctx, "s", false)
		} else {
			_, err = c.Semaphores.Increment(ctx, "s")
		}
		if err != nil {
			b.Fatal(err)
		}
		i++
	}
}
