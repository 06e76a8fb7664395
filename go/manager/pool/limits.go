package pool

import "time"

// The defaults of the service loop limits (docs/protocol.md §8), used by
// the manager's own answers when the configuration gives none.
const (
	defaultMaxRequestSize     = 64 << 20
	defaultRequestReadTimeout = 5 * time.Second
	defaultMaxPending         = 64
)

func (s *Service) maxRequestSize() int64 { return defaultMaxRequestSize }

func (s *Service) requestReadTimeout() time.Duration { return defaultRequestReadTimeout }

func (s *Service) maxPending() int { return defaultMaxPending }
