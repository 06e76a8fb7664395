package pool

import (
	"fmt"
	"time"

	"github.com/pluton-go/pluton/go/manager/logging"
	"github.com/pluton-go/pluton/go/stats"
)

// RolloutState is where the rollout of a staged service stands.
type RolloutState int

// The states of a rollout.
const (
	RolloutPending RolloutState = iota // instances still starting
	RolloutReady                       // every instance reached its first accept: Publish may proceed
	RolloutFailed                      // see RolloutError; the staged service must be shut down
)

// Staged reports whether the service is a new version not yet in place.
func (s *Service) Staged() bool { return s.staged }

// rolloutInstances is how many instances a staged service starts and waits
// for: minimum-processes, at least one.
func (s *Service) rolloutInstances() int { return min(max(1, s.Cfg.MinimumProcesses), len(s.inst)) }

// rolloutBound is how long a staged service's instances have to reach their
// first accept: the service's unresponsive-timeout.
func (s *Service) rolloutBound() time.Duration { return s.Cfg.UnresponsiveTimeout }

// StartRollout starts the staged service's instances (minimum-processes, at
// least one). Their readiness is checked by RolloutState.
func (s *Service) StartRollout(now time.Time) {
	s.rolloutStart = now
	s.ensureTemplate(now)
	s.rolloutUntil = now.Add(s.rolloutBound())
	n := s.rolloutInstances()
	s.env.Log.Logf(logging.ServiceConfig, "Service Rollout: %s starting %d instance(s) of the new version; the running version serves until they are ready",
		s.Key, n)
	for range n {
		if err := s.start(now); err != nil {
			return // start has set rolloutErr
		}
	}
}

// RolloutState says whether every instance of the staged service has
// reached its first accept (slot state idle), or why the rollout failed:
// a start that failed, an instance that ended, or instances still not
// ready after the service's unresponsive-timeout.
func (s *Service) RolloutState(now time.Time) RolloutState {
	if s.rolloutErr != "" {
		return RolloutFailed
	}
	ready := 0
	for _, in := range s.inst {
		if in == nil || in.exited() {
			continue
		}
		if st := s.readInstance(in); st.State == stats.StateIdle || st.State == stats.StateBusy {
			ready++
		}
	}
	if ready >= s.rolloutInstances() && ready == s.live {
		return RolloutReady
	}
	if !now.Before(s.rolloutUntil) {
		s.rolloutErr = fmt.Sprintf("%d of %d instance(s) not ready (first accept) within %s",
			s.rolloutInstances()-ready, s.rolloutInstances(), s.rolloutBound())
		return RolloutFailed
	}
	return RolloutPending
}

// RolloutError is why the rollout failed, e.g.
// "exec /usr/local/bin/svc: no such file or directory".
func (s *Service) RolloutError() string { return s.rolloutErr }

// failRollout records the first reason a staged service cannot replace the
// running one.
func (s *Service) failRollout(why string) {
	if s.rolloutErr == "" {
		s.rolloutErr = why
	}
}

// Publish puts a ready staged service in place: its segment and socket are
// renamed over the old ones (atomic: clients never see a missing socket),
// and from now on it is an ordinary running service.
func (s *Service) Publish(now time.Time) error {
	if err := s.putInPlace(); err != nil {
		return err
	}
	s.staged = false
	s.Loaded = now
	s.used = true // keep the minimum started for the rollout
	s.lastFloor = now
	s.env.Log.Logf(logging.ServiceConfig, "Service Rollout: %s new version ready after %s", s.Key,
		now.Sub(s.rolloutStart).Round(time.Millisecond))
	s.env.Log.Logf(logging.ServiceStart, "Service Ready: %s", s.Key)
	s.step(now)
	return nil
}

// NoteRolloutFailed records on the running service that a rollout of its
// new version failed; the status API shows it until a rollout succeeds.
func (s *Service) NoteRolloutFailed(why string) {
	s.rolloutFailed = fmt.Sprintf("rollout of %s failed: %s", s.Key, why)
}

// NoteRolloutStarted clears an earlier failure: a new attempt is running.
func (s *Service) NoteRolloutStarted() { s.rolloutFailed = "" }
