package manager

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
