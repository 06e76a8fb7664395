package pool

import "time"

// The service loop limits (docs/protocol.md §8) of the service's
// configuration, which the manager writes into the segment's header for the
// instances and also applies to its own answers (rejector.go). 0 means no
// limit for the size and the time.

func (s *Service) maxRequestSize() int64 { return s.Cfg.MaximumRequestSize }

func (s *Service) requestReadTimeout() time.Duration { return s.Cfg.RequestReadTimeout }

func (s *Service) maxPending() int { return s.Cfg.MaximumPending }
