package coord_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/pluton-go/pluton/go/coord"
	coordserver "github.com/pluton-go/pluton/go/manager/coord"
)

// An instance limits its calls to a fragile backend to two at a time across
// the pool, and runs a clean-up in one instance only. Under plutonManager,
// coord.Dial(ctx) finds the socket and the service key in the environment;
// here a server is started in the example itself.
func Example() {
	dir, _ := os.MkdirTemp("", "coord")
	defer os.RemoveAll(dir)
	srv, err := coordserver.Listen(filepath.Join(dir, coordserver.SocketName), nil, coordserver.DefaultLimits())
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := coord.Dial(ctx, coord.WithSocket(srv.Path()), coord.WithService("shop.checkout.0.raw"))
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	// Protected: a slot taken by an instance that dies is given back.
	if _, err := c.Semaphores.Create(ctx, "backend", 2, true); err != nil {
		log.Fatal(err)
	}
	v, _ := c.Semaphores.Decrement(ctx, "backend", true)
	fmt.Println("slots left:", v)
	_, _ = c.Semaphores.Increment(ctx, "backend")

	l, err := c.Mutexes.Lock(ctx, "refresh")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("refreshing in one instance")
	_ = l.Unlock(ctx)

	ver, _ := c.Variables.Set(ctx, "price-list", []byte("v7"))
	val, ver, _ := c.Variables.WaitForChange(ctx, "price-list", ver-1)
	fmt.Printf("price list %s (version %d)\n", val, ver)
	// Output:
	// slots left: 1
	// refreshing in one instance
	// price list v7 (version 1)
}
