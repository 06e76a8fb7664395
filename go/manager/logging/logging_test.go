package logging

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseCategory(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want Category
	}{
		{"processStart", ProcessStart}, {"PROCESSLOG", ProcessLog}, {"process", Process},
		{"service", Service}, {"all", All}, {"calibrate", Calibrate},
	} {
		c, err := ParseCategory(tt.in)
		require.NoError(t, err, tt.in)
		assert.Equal(t, tt.want, c, tt.in)
	}
	_, err := ParseCategory("bogus")
	assert.ErrorContains(t, err, "bogus")
}

func TestLogger(t *testing.T) {
	var b bytes.Buffer
	l := New(&b, ProcessStart)
	l.Printf("Manager ready: Version %s", "1")
	l.Logf(ProcessStart, "Process Start: %s", "x")
	l.Logf(Calibrate, "Calibrate Up: %s", "y")
	l.SetCategories(All)
	l.Logf(Calibrate, "Calibrate Down")
	assert.Equal(t, "Manager ready: Version 1\nProcess Start: x\nCalibrate Down\n", b.String())
	assert.Equal(t, "processStart processLog processExit processUsage serviceConfig serviceStart serviceExit calibrate", All.String())
}
