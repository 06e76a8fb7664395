package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/pluton-go/pluton/go/manager/logging"
	"github.com/pluton-go/pluton/go/remote"
)

// startRemote connects the manager to NATS for -N (docs/remote.md): the
// embedded server keeps its JetStream store in <home>/nats; the host name
// in responses and discovery is "<hostname>:<pid>".
func startRemote(st *settings, log *logging.Logger) (*remote.Node, error) {
	hostname, _ := os.Hostname()
	node, err := remote.Start(remote.Options{URL: st.nats, StoreDir: filepath.Join(st.home, "nats"),
		RendezvousDir: st.rendezvousDir, Host: fmt.Sprintf("%s:%d", hostname, os.Getpid()), Logf: log.Printf})
	if err != nil {
		return nil, fmt.Errorf("-N %s: %w", st.nats, err)
	}
	return node, nil
}
