package main

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestPercentile(t *testing.T) {
	var lat []time.Duration
	for i := 1; i <= 100; i++ {
		lat = append(lat, time.Duration(i))
	}
	tests := []struct {
		p    float64
		want time.Duration
	}{{50, 50}, {99, 99}, {100, 100}, {1, 1}, {0.1, 1}, {99.9, 100}}
	for _, tc := range tests {
		assert.Equal(t, tc.want, percentile(lat, tc.p), "p%v", tc.p)
	}
	assert.Equal(t, time.Duration(0), percentile(nil, 50))
	assert.Equal(t, time.Duration(7), percentile([]time.Duration{7}, 99))
}

func TestSummarize(t *testing.T) {
	s := summarize([]time.Duration{5, 1, 3, 2, 4})
	assert.Equal(t, latStats{mean: 3, p50: 3, p90: 5, p99: 5, max: 5}, s)
	assert.Equal(t, latStats{}, summarize(nil))
}

func TestMedianAndMetric(t *testing.T) {
	assert.Equal(t, 2.0, median([]float64{3, 1, 2}))
	assert.Equal(t, 2.5, median([]float64{4, 1, 3, 2}))
	assert.Equal(t, 2.0, median([]float64{math.NaN(), 1, 3}))
	assert.True(t, math.IsNaN(median(nil)))

	m := newMetric([]float64{10, 30, 20, math.NaN()})
	assert.Equal(t, metric{med: 20, lo: 10, hi: 30, n: 3}, m)
	assert.False(t, newMetric(nil).valid())
	assert.Equal(t, []float64{2, 0.5}, ratios([]float64{4, 1, 5}, []float64{2, 2, 0}))
}

func TestFormatting(t *testing.T) {
	assert.Equal(t, "950", fmtRate(950))
	assert.Equal(t, "1.50k", fmtRate(1500))
	assert.Equal(t, "16.7k", fmtRate(16740))
	assert.Equal(t, "1.25M", fmtRate(1.25e6))
	assert.Equal(t, "–", fmtRate(math.NaN()))

	assert.Equal(t, "0.85 µs", fmtMicros(0.85))
	assert.Equal(t, "45.2 µs", fmtMicros(45.23))
	assert.Equal(t, "457 µs", fmtMicros(457.2))
	assert.Equal(t, "2.61 ms", fmtMicros(2610))
	assert.Equal(t, "12.0 ms", fmtMicros(12000))
	assert.Equal(t, "1.20 s", fmtMicros(1.2e6))

	assert.Equal(t, "0.93x", fmtRatio(0.9312))
	assert.Equal(t, "12.3x", fmtRatio(12.34))
	assert.Equal(t, "123x", fmtRatio(123.4))
	assert.Equal(t, "–", fmtRatio(math.Inf(1)))

	assert.Equal(t, "16.7k (15.0k–17.1k)", fmtMetric(metric{med: 16700, lo: 15000, hi: 17100, n: 3}, fmtRate))
	assert.Equal(t, "16.7k", fmtMetric(metric{med: 16700, lo: 16700, hi: 16700, n: 1}, fmtRate))
	assert.Equal(t, "–", fmtMetric(metric{}, fmtRate))

	assert.Equal(t, "0 B", fmtBytes(0))
	assert.Equal(t, "1 KiB", fmtBytes(1024))
	assert.Equal(t, "64 KiB", fmtBytes(65536))
	assert.Equal(t, "1 MiB", fmtBytes(1<<20))
	assert.Equal(t, "1000 B", fmtBytes(1000))
}

func TestSameInts(t *testing.T) {
	assert.True(t, sameInts([]int{1, 2, 3}, []int{3, 1, 2}))
	assert.True(t, sameInts(nil, nil))
	assert.False(t, sameInts([]int{1, 2}, []int{1, 3}))
	assert.False(t, sameInts([]int{1, 1}, []int{1, 2}))
	assert.False(t, sameInts([]int{1}, []int{1, 1}))
}
