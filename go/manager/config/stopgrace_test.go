package config

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestStopGrace(t *testing.T) {
	for _, tc := range []struct {
		name, text string
		want       time.Duration
		err        string
	}{
		{"default: unresponsive-timeout's default", "exec x\n", 10 * time.Second, ""},
		{"default follows unresponsive-timeout", "exec x\nunresponsive-timeout 30\n", 30 * time.Second, ""},
		{"order does not matter", "exec x\nstop-grace 2\nunresponsive-timeout 30\n", 2 * time.Second, ""},
		{"apart from unresponsive-timeout", "exec x\nunresponsive-timeout 5\nstop-grace 120\n", 120 * time.Second, ""},
		{"lowest", "exec x\nstop-grace 1\n", time.Second, ""},
		{"highest", "exec x\nstop-grace 600\n", 600 * time.Second, ""},
		{"zero", "exec x\nstop-grace 0\n", 0, "stop-grace=0 but it must not be less than lower limit 1"},
		{"too long", "exec x\nstop-grace 601\n", 0, "stop-grace=601 but it must not be greater than upper limit 600"},
		{"not a number", "exec x\nstop-grace soon\n", 0, "stop-grace"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := parseString(t, tc.text)
			if tc.err != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, s.StopGrace)
		})
	}
}
