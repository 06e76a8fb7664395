package manager

import "time"

// Manager events passed to Options.Notify (plutonManager turns them into
// systemd notifications, docs/operations.md).
const (
	EventReloading = "reloading" // a SIGHUP or SIGINT reload starts
	EventReloaded  = "reloaded"  // the reload is done
	EventStopping  = "stopping"  // the manager starts to shut down
)

// notify calls Options.Notify, if set, with event and the number of
// services; it runs on the event loop.
func (m *Manager) notify(event string) {
	if m.opts.Notify != nil {
		m.opts.Notify(event, len(m.services))
	}
}

// reloaded ends a reload: the holds and halts of the controls file are
// applied again (controls.go), then EventReloaded is sent.
func (m *Manager) reloaded(now time.Time) {
	if !m.shuttingDown {
		m.reconcileControls(now)
	}
	m.notify(EventReloaded)
}
