package config

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestParseJobs covers the job-class parameters (docs/remote.md).
func TestParseJobs(t *testing.T) {
	s, err := parseString(t, "exec /bin/echo\njobs true\njobs-max-workers 4\njobs-overdrive true\njobs-max-attempts 3\njobs-worker-max-ttl 7\n")
	require.NoError(t, err)
	assert.True(t, s.Jobs)
	assert.Equal(t, 4, s.JobsMaxWorkers)
	assert.True(t, s.JobsOverdrive)
	assert.Equal(t, 3, s.JobsMaxAttempts)
	assert.Equal(t, 7*time.Second, s.JobsWorkerMaxTTL)

	tests := []struct{ text, msg string }{
		{"jobs yes", "jobs: Invalid boolean. Expect 'true' or 'false'"},
		{"jobs-max-attempts 0", "jobs-max-attempts=0 but it must not be less than lower limit 1"},
		{"jobs-max-workers 10001", "jobs-max-workers=10001 but it must not be greater than upper limit 10000"},
		{"jobs-worker-max-ttl 0", "jobs-worker-max-ttl=0 but it must not be less than lower limit 1"},
		{"jobs-overdrive maybe", "jobs-overdrive: Invalid boolean. Expect 'true' or 'false'"},
	}
	for _, tt := range tests {
		t.Run(tt.text, func(t *testing.T) {
			_, err := parseString(t, "exec /bin/echo\n"+tt.text+"\n")
			var ce *Error
			require.ErrorAs(t, err, &ce)
			assert.Contains(t, ce.Msg, tt.msg)
			assert.Equal(t, 2, ce.Line)
		})
	}
}
