package pool

import (
	"errors"
	"fmt"
)

// InstanceState is where an instance is in its life, as the manager drives it.
// Whether a ready instance is idle, busy or holding an affinity is its own
// slot's state (stats.State), read at every sample; an InstanceState is what the
// manager has seen and done:
//
//	Starting ──▶ Ready ──▶ Retiring
//	   │           │  ◀──────┘ │        (the replacement failed to start)
//	   └───────────┴─────┬─────┘
//	                     ▼
//	                  Stopping ──▶ Killed
//
// and every state but Exited goes to Exited when the process is reaped.
type InstanceState int

// The states of an instance.
const (
	InstStarting InstanceState = iota // forked; its slot has not yet left "starting"
	InstReady                         // serving: its slot left "starting", or it has been starting for startingGrace
	InstRetiring                      // ready, and its replacement started ahead of its maximum-requests exit: no longer counted
	InstStopping                      // asked to stop: the reason is in its slot and SIGTERM was sent
	InstKilled                        // SIGKILL sent: its grace period passed
	InstExited                        // reaped
)

var stateNames = [...]string{"starting", "ready", "retiring", "stopping", "killed", "exited"}

func (s InstanceState) String() string {
	if s < 0 || int(s) >= len(stateNames) {
		return fmt.Sprintf("InstanceState(%d)", int(s))
	}
	return stateNames[s]
}

// transitions lists, for every state, the states it may move to and why.
var transitions = map[InstanceState]map[InstanceState]string{
	InstStarting: {InstReady: "its slot left starting", InstStopping: "stopped while starting", InstExited: "ended while starting"},
	InstReady:    {InstRetiring: "replacement started", InstStopping: "stopped", InstExited: "ended on its own"},
	InstRetiring: {InstReady: "replacement failed to start", InstStopping: "stopped", InstExited: "ended (maximum requests)"},
	InstStopping: {InstKilled: "grace period over: SIGKILL", InstExited: "ended after SIGTERM"},
	InstKilled:   {InstExited: "ended after SIGKILL"},
}

// ErrTransition is the error of a transition the state machine refuses.
var ErrTransition = errors.New("transition not allowed")

// canMove reports whether an instance in state from may move to state to,
// and the transition's meaning.
func canMove(from, to InstanceState) (why string, ok bool) {
	why, ok = transitions[from][to]
	return why, ok
}

// moveTo moves the instance to state next, or returns an error wrapping
// ErrTransition and leaves it where it is.
func (i *Instance) moveTo(next InstanceState) error {
	if _, ok := canMove(i.state, next); !ok {
		return fmt.Errorf("instance %s: %s → %s: %w", i.LogID, i.state, next, ErrTransition)
	}
	switch {
	case next == InstRetiring:
		i.replaced = true
	case i.state == InstRetiring && next == InstReady:
		i.replaced = false
	}
	i.state = next
	return nil
}

// State returns where the instance is in its life.
func (i *Instance) State() InstanceState { return i.state }

// exited reports whether the instance has been reaped.
func (i *Instance) exited() bool { return i.state == InstExited }

// serving reports whether the instance counts toward the pool's size.
func (i *Instance) serving() bool { return i.state == InstStarting || i.state == InstReady }

// move moves an instance to state next; a refused transition is a bug,
// logged, and leaves the instance where it is.
func (s *Service) move(in *Instance, next InstanceState) {
	if err := in.moveTo(next); err != nil {
		s.env.Log.Printf("Process Error: %v", err)
	}
}
