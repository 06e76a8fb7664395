package cli

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestHistogram(t *testing.T) {
	var h Histogram
	assert.Zero(t, h.Percentile(50))
	for i := 1; i <= 1000; i++ {
		h.Record(time.Duration(i) * time.Microsecond)
	}
	assert.Equal(t, uint64(1000), h.Count())
	assert.Equal(t, time.Microsecond, h.Min())
	assert.Equal(t, time.Millisecond, h.Max())
	assert.Equal(t, 500500*time.Nanosecond, h.Mean())
	for _, p := range []float64{50, 90, 99} {
		want := time.Duration(p*10) * time.Microsecond
		got := h.Percentile(p)
		assert.InEpsilon(t, float64(want), float64(got), 0.01, "p%v: %v", p, got)
	}
	assert.Equal(t, time.Millisecond, h.Percentile(100))

	var o Histogram
	o.Record(5 * time.Second)
	o.Record(-1)
	h.Merge(&o)
	assert.Equal(t, uint64(1002), h.Count())
	assert.Equal(t, time.Duration(0), h.Min())
	assert.Equal(t, 5*time.Second, h.Max())
}

func TestBuckets(t *testing.T) {
	for _, v := range []uint64{0, 1, 127, 128, 129, 255, 256, 257, 1000, 1 << 20, 123456789, 1 << 62} {
		i := bucket(v)
		lo := bucketLow(i)
		assert.LessOrEqual(t, lo, v, "%d", v)
		assert.Equal(t, i, bucket(lo), "%d", v)
		if v >= 128 {
			assert.Less(t, float64(v-lo)/float64(v), 1.0/128, "%d", v)
		} else {
			assert.Equal(t, v, lo)
		}
	}
}

func TestSeconds(t *testing.T) {
	assert.Equal(t, "0.000000", Seconds(0))
	assert.Equal(t, "1.000123", Seconds(time.Second+123*time.Microsecond))
	assert.Equal(t, "12.500000", Seconds(12500*time.Millisecond))
	assert.Equal(t, "-0.000001", Seconds(-time.Microsecond))
}
