package jobs

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pluton-go/pluton/go/servicekey"
)

func TestCheckID(t *testing.T) {
	tests := []struct {
		id  string
		err string
	}{
		{"job-1", ""},
		{"A_b=c-9", ""},
		{"", "must be 1 to 200 characters"},
		{string(make([]byte, 201)), "must be 1 to 200 characters"},
		{"a.b", `character '.' not allowed`},
		{"a/b", `character '/' not allowed`},
		{"a b", `character ' ' not allowed`},
		{"a*", `character '*' not allowed`},
	}
	for _, tt := range tests {
		t.Run(tt.id, func(t *testing.T) {
			err := CheckID(tt.id)
			if tt.err == "" {
				assert.NoError(t, err)
				return
			}
			assert.ErrorContains(t, err, tt.err)
		})
	}
}

func TestNames(t *testing.T) {
	tests := []struct{ key, job, dead, consumer string }{
		{"system.echo.0.raw", "pluton.job.system.echo.0.raw", "pluton.dead.system.echo.0.raw", "pluton_system_echo_0_raw"},
		{"a b.f.1.JSON", "pluton.job.a%20b.f.1.JSON", "pluton.dead.a%20b.f.1.JSON", "pluton_a-2520b_f_1_JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			k, err := servicekey.Parse(tt.key)
			require.NoError(t, err)
			assert.Equal(t, tt.job, JobSubject(k))
			assert.Equal(t, tt.dead, DeadSubject(k))
			assert.Equal(t, tt.consumer, ConsumerName(k))
		})
	}
}

func TestRetryDelay(t *testing.T) {
	assert.Equal(t, 500*time.Millisecond, retryDelay(1))
	assert.Equal(t, 2*time.Second, retryDelay(4))
	assert.Equal(t, 5*time.Second, retryDelay(50))
}
