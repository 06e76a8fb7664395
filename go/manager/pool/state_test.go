package pool

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var allStates = []InstanceState{InstStarting, InstReady, InstRetiring, InstStopping, InstKilled, InstExited}

// TestInstanceTransitions tries every pair of states: the allowed ones
// move the instance, every other is refused and leaves it where it was.
func TestInstanceTransitions(t *testing.T) {
	allowed := map[[2]InstanceState]bool{
		{InstStarting, InstReady}: true, {InstStarting, InstStopping}: true, {InstStarting, InstExited}: true,
		{InstReady, InstRetiring}: true, {InstReady, InstStopping}: true, {InstReady, InstExited}: true,
		{InstRetiring, InstReady}: true, {InstRetiring, InstStopping}: true, {InstRetiring, InstExited}: true,
		{InstStopping, InstKilled}: true, {InstStopping, InstExited}: true,
		{InstKilled, InstExited}: true,
	}
	for _, from := range allStates {
		for _, to := range allStates {
			t.Run(fmt.Sprintf("%s→%s", from, to), func(t *testing.T) {
				in := &Instance{LogID: "a.b.c/0-1", state: from}
				err := in.moveTo(to)
				why, ok := canMove(from, to)
				assert.Equal(t, allowed[[2]InstanceState{from, to}], ok)
				if allowed[[2]InstanceState{from, to}] {
					require.NoError(t, err)
					assert.Equal(t, to, in.State())
					assert.NotEmpty(t, why, "every transition says why")
					return
				}
				require.ErrorIs(t, err, ErrTransition)
				assert.Contains(t, err.Error(), "a.b.c/0-1: "+from.String()+" → "+to.String())
				assert.Equal(t, from, in.State(), "a refused transition leaves the state")
			})
		}
	}
}

// TestInstanceLife walks the lives an instance can have and checks what
// the pool reads of it at each step.
func TestInstanceLife(t *testing.T) {
	type step struct {
		to                       InstanceState
		serving, exited, replace bool
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"crash while starting", []step{{to: InstExited, exited: true}}},
		{"idle timeout", []step{{to: InstReady, serving: true}, {to: InstStopping}, {to: InstExited, exited: true}}},
		{"intransigent", []step{{to: InstReady, serving: true}, {to: InstStopping}, {to: InstKilled}, {to: InstExited, exited: true}}},
		{"recycled", []step{{to: InstReady, serving: true}, {to: InstRetiring, replace: true}, {to: InstExited, exited: true, replace: true}}},
		{"replacement failed", []step{{to: InstReady, serving: true}, {to: InstRetiring, replace: true}, {to: InstReady, serving: true}}},
		{"retiring, then stopped", []step{{to: InstReady, serving: true}, {to: InstRetiring, replace: true}, {to: InstStopping, replace: true}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := &Instance{}
			assert.True(t, in.serving(), "a new instance counts")
			for _, st := range tt.steps {
				require.NoError(t, in.moveTo(st.to))
				assert.Equal(t, st.serving, in.serving(), "serving in %s", st.to)
				assert.Equal(t, st.exited, in.exited(), "exited in %s", st.to)
				assert.Equal(t, st.replace, in.replaced, "replaced in %s", st.to)
			}
		})
	}
}

func TestInstanceStateString(t *testing.T) {
	for i, want := range []string{"starting", "ready", "retiring", "stopping", "killed", "exited"} {
		assert.Equal(t, want, InstanceState(i).String())
	}
	assert.Equal(t, "InstanceState(9)", InstanceState(9).String())
	assert.Equal(t, "InstanceState(-1)", InstanceState(-1).String())
}
