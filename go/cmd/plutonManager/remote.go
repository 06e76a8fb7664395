package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/pluton-go/pluton/go/manager/logging"
	"github.com/pluton-go/pluton/go/remote"
)

// newRemote makes the manager's link to NATS for -N (docs/remote.md); the
// manager starts it once it holds the rendezvous directory. The embedded
// server keeps its JetStream store in <home>/nats; the host name in
// responses and discovery is "<hostname>:<pid>".
func newRemote(st *settings, log *logging.Logger) *remote.Node {
	hostname, _ := os.Hostname()
	return remote.New(remote.Options{URL: st.nats, StoreDir: filepath.Join(st.home, "nats"),
		RendezvousDir: st.rendezvousDir, Host: fmt.Sprintf("%s:%d", hostname, os.Getpid()), Logf: log.Printf})
}
