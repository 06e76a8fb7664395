package client_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/pluton-go/pluton/go/client"
	"github.com/pluton-go/pluton/go/fault"
)

func Example() {
	c, err := client.New("myApp", client.WithLookup("/usr/local/var/pluton/lookup.map"))
	if err != nil {
		log.Fatal(err)
	}
	resp, err := c.Call(context.Background(), "system.echo.0.raw", []byte("hello"),
		client.Context("echo.sleepMS", "5"))
	var f *fault.Fault
	switch {
	case errors.As(err, &f) && !f.Code.IsSystem():
		fmt.Println("service fault:", f.Code, f.Text)
	case err != nil:
		fmt.Println(f.Message("", true)) // e.g. pluton::Fault=-30 (serviceNotFound:...) 'system.echo.0.raw'
	default:
		fmt.Printf("%s from %s\n", resp.Data, resp.ServiceName)
	}
}

func ExampleBatch() {
	c, err := client.New("myApp")
	if err != nil {
		log.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	b := c.NewBatch()
	for _, word := range []string{"one", "two", "three"} {
		r := client.NewRequest("system.echo.0.raw", []byte(word))
		if err := b.Add(ctx, r); err != nil {
			log.Println("rejected:", err)
		}
	}
	for r := b.WaitAny(); r != nil; r = b.WaitAny() {
		fmt.Printf("%s: %v (%v)\n", r.Response().Data, r.Err(), r.Elapsed())
	}
}

func ExampleRequest_affinity() {
	c, err := client.New("myApp")
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	// keepAffinity needs noRetry; the Request keeps the connection.
	r := client.NewRequest("session.step.0.raw", []byte("begin"), client.KeepAffinity(), client.NoRetry())
	defer r.Close()
	if err := c.Do(ctx, r); err != nil {
		log.Fatal(err)
	}
	r.SetData([]byte("continue"))
	r.SetAttributes(client.NeedAffinityAttr) // fail rather than reach another instance
	if err := c.Do(ctx, r); err != nil {
		log.Fatal(err)
	}
	fmt.Println(r.Response().ServiceName) // the same instance both times
}
