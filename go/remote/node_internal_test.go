package remote

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/pluton-go/pluton/go/manager/config"
)

func TestJobWorkers(t *testing.T) {
	for _, tc := range []struct {
		name                     string
		maxWorkers, procs, thrds int
		want                     int
	}{
		{"explicit jobs-max-workers wins", 3, 8, 4, 3},
		{"default: maximum-processes", 0, 8, 1, 8},
		{"default counts every thread", 0, 8, 4, 32},
		{"unset threads read as 1", 0, 5, 0, 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &config.Service{JobsMaxWorkers: tc.maxWorkers, MaximumProcesses: tc.procs, MaximumThreads: tc.thrds}
			assert.Equal(t, tc.want, jobWorkers(c))
		})
	}
}
