package pool

import "time"

// stopGrace is how long a stopping instance (scale-down, idle, recycle,
// reload, halt, shutdown) gets between SIGTERM and SIGKILL: the service's
// stop-grace, which defaults to its unresponsive-timeout (a Service built
// without a parsed configuration, stop-grace 0, gets that too).
func (s *Service) stopGrace() time.Duration {
	if s.Cfg.StopGrace > 0 {
		return s.Cfg.StopGrace
	}
	return s.Cfg.UnresponsiveTimeout
}
