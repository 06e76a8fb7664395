package status

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestLoopbackAddress(t *testing.T) {
	for in, want := range map[string]string{
		"9990": "127.0.0.1:9990", ":9990": "127.0.0.1:9990", "127.0.0.1:5": "127.0.0.1:5",
		"[::1]:7": "[::1]:7", "127.0.0.1": "127.0.0.1:0", "127.0.0.1:": "127.0.0.1:0",
	} {
		got, err := LoopbackAddress(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
	for _, in := range []string{"0.0.0.0:9990", "8.8.8.8:1", "[::]:5"} {
		_, err := LoopbackAddress(in)
		assert.True(t, errors.Is(err, ErrNotLoopback), "%s: %v", in, err)
	}
}
