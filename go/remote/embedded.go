package remote

import (
	"fmt"
	"os"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Embedded is a NATS server run inside the manager's process, with
// JetStream on file storage: jobs then work on one machine with no other
// process (docs/remote.md).
type Embedded struct {
	srv *server.Server
}

// StartEmbedded starts a NATS server listening on host:port (port 0: a
// free port; host "": 127.0.0.1) with JetStream storing in storeDir
// (created, mode 0700). name is the server's name.
func StartEmbedded(name, host string, port int, storeDir string) (*Embedded, error) {
	if host == "" {
		host = "127.0.0.1"
	}
	if port == 0 {
		port = server.RANDOM_PORT
	}
	if err := os.MkdirAll(storeDir, 0o700); err != nil {
		return nil, fmt.Errorf("embedded NATS store: %w", err)
	}
	srv, err := server.NewServer(&server.Options{ServerName: name, Host: host, Port: port, JetStream: true,
		StoreDir: storeDir, NoSigs: true, NoLog: true, MaxPayload: 8 << 20})
	if err != nil {
		return nil, fmt.Errorf("embedded NATS: %w", err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		srv.Shutdown()
		return nil, fmt.Errorf("embedded NATS: not ready after 10 s (store %s)", storeDir)
	}
	return &Embedded{srv: srv}, nil
}

// URL returns the client URL, e.g. nats://127.0.0.1:41234.
func (e *Embedded) URL() string { return e.srv.ClientURL() }

// Close shuts the server down.
func (e *Embedded) Close() {
	e.srv.Shutdown()
	e.srv.WaitForShutdown()
}
