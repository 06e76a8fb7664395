package pool

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseForkReply(t *testing.T) {
	tests := []struct {
		name, reply string
		pid         int
		err         string
	}{
		{"pid", "P 1234", 1234, ""},
		{"error", "E fork: Resource temporarily unavailable", 0, "fork failed: fork: Resource temporarily unavailable"},
		{"not a number", "P x", 0, `bad fork answer "P x"`},
		{"init", "P 1", 0, `bad fork answer "P 1"`},
		{"negative", "P -5", 0, `bad fork answer "P -5"`},
		{"empty", "", 0, `bad fork answer ""`},
		{"unknown", "R", 0, `bad fork answer "R"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pid, err := parseForkReply(tt.reply)
			if tt.err != "" {
				require.EqualError(t, err, tt.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.pid, pid)
		})
	}
}
