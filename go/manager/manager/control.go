package manager

import (
	"log/slog"
	"path/filepath"
	"strings"

	"github.com/pluton-go/pluton/go/coord"
	coordserver "github.com/pluton-go/pluton/go/manager/coord"
)

// startControl opens the coordination server's control socket in the
// rendezvous directory (docs/coordination.md), tells every instance its path
// (plutonControl) and has the pools report each reaped instance's pid to it.
// A socket that cannot be opened (a path over 108 bytes) is only a warning.
func (m *Manager) startControl() error {
	path := filepath.Join(m.opts.RendezvousDir, coordserver.SocketName)
	h := &coordserver.EventHandler{Level: slog.LevelWarn, Emit: func(msg string, args ...any) {
		m.log.Event(0, "Control Warning: "+strings.TrimPrefix(msg, "coord: "), args...)
	}}
	srv, err := coordserver.Listen(path, slog.New(h), coordserver.DefaultLimits())
	if err != nil {
		// The services still run; only coordination is unavailable (the
		// instances get no plutonControl and their coordination calls say so).
		m.log.Printf("Warning: Cannot open control socket: %v; coordination between instances is off", err)
		return nil
	}
	m.control = srv
	m.env.BaseEnv = append(m.env.BaseEnv, coord.ControlEnv+"="+path)
	m.env.InstanceExited = srv.Exited
	m.log.Printf("Manager Control: listening on %s", path)
	return nil
}

// stopControl closes the control socket; waiting instances get "shutdown".
func (m *Manager) stopControl() {
	if m.control != nil {
		_ = m.control.Close()
	}
}
