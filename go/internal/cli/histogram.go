package cli

import (
	"math/bits"
	"time"
)

// subBits sets the histogram's precision: each power of two is split into
// 2^subBits buckets, so a recorded value is off by less than 1/128 (0.8 %).
const subBits = 7

// Histogram records durations in log-linear buckets: memory is fixed (a few
// kilobytes) however many values are recorded, percentiles are within 0.8 %,
// and Min, Max, Count and Mean are exact.
type Histogram struct {
	counts [64 << subBits]uint64
	n      uint64
	sum    time.Duration
	min    time.Duration
	max    time.Duration
}

func bucket(v uint64) int {
	if v < 1<<subBits {
		return int(v)
	}
	e := bits.Len64(v) - subBits - 1 // v >> e has subBits+1 bits
	return (e+1)<<subBits + int(v>>e) - 1<<subBits
}

// bucketLow is the smallest value of bucket i.
func bucketLow(i int) uint64 {
	if i < 1<<subBits {
		return uint64(i)
	}
	e := i>>subBits - 1
	return (uint64(i&(1<<subBits-1)) + 1<<subBits) << e
}

// Record adds one duration (negative values count as 0).
func (h *Histogram) Record(d time.Duration) {
	if d < 0 {
		d = 0
	}
	h.counts[bucket(uint64(d))]++
	if h.n == 0 || d < h.min {
		h.min = d
	}
	if d > h.max {
		h.max = d
	}
	h.n++
	h.sum += d
}

// Merge adds every value recorded in o.
func (h *Histogram) Merge(o *Histogram) {
	if o.n == 0 {
		return
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	if h.n == 0 || o.min < h.min {
		h.min = o.min
	}
	h.max = max(h.max, o.max)
	h.n += o.n
	h.sum += o.sum
}

// Count returns the number of values recorded.
func (h *Histogram) Count() uint64 { return h.n }

// Min returns the smallest value recorded (0 if none).
func (h *Histogram) Min() time.Duration { return h.min }

// Max returns the largest value recorded (0 if none).
func (h *Histogram) Max() time.Duration { return h.max }

// Mean returns the average value (0 if none).
func (h *Histogram) Mean() time.Duration {
	if h.n == 0 {
		return 0
	}
	return h.sum / time.Duration(h.n)
}

// Percentile returns the value below which p percent (0-100) of the values
// fall: the low edge of the bucket holding that rank, clamped to Min and
// Max, so Percentile(100) is Max exactly.
func (h *Histogram) Percentile(p float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	if p >= 100 {
		return h.max
	}
	rank := uint64(p / 100 * float64(h.n))
	if rank >= h.n {
		rank = h.n - 1
	}
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen > rank {
			v := time.Duration(bucketLow(i))
			return min(max(v, h.min), h.max)
		}
	}
	return h.max
}

// Seconds formats d as the original tools did: S.UUUUUU.
func Seconds(d time.Duration) string {
	us := d.Microseconds()
	neg := ""
	if us < 0 {
		neg, us = "-", -us
	}
	return neg + itoa(us/1e6) + "." + pad6(us%1e6)
}

func itoa(v int64) string {
	if v == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	for v > 0 {
		i--
		b[i] = byte('0' + v%10)
		v /= 10
	}
	return string(b[i:])
}

func pad6(v int64) string {
	b := []byte("000000")
	for i := 5; i >= 0 && v > 0; i-- {
		b[i] = byte('0' + v%10)
		v /= 10
	}
	return string(b)
}
