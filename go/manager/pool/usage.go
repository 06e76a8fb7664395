package pool

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/pluton-go/pluton/go/stats"
)

const slowest = 12

// usage is what the reports of one instance add up to, for its Usage line.
type usage struct {
	active                       time.Duration
	reqs, faults, readErrs, wErr int
	reqBytes, respBytes          uint64
	maxReq, maxResp              uint32
	slow                         []uint32 // the slowest durations, ascending, at most 12
}

func (u *usage) add(e stats.Entry) {
	u.active += time.Duration(e.DurationMicros) * time.Microsecond
	u.reqs++
	switch e.Outcome {
	case stats.Faulted:
		u.faults++
	case stats.ReadError:
		u.readErrs++
	case stats.WriteError:
		u.wErr++
	}
	u.reqBytes += uint64(e.RequestBytes)
	u.respBytes += uint64(e.ResponseBytes)
	u.maxReq = max(u.maxReq, e.RequestBytes)
	u.maxResp = max(u.maxResp, e.ResponseBytes)
	if len(u.slow) < slowest || e.DurationMicros > u.slow[0] {
		i, _ := slices.BinarySearch(u.slow, e.DurationMicros)
		u.slow = slices.Insert(u.slow, i, e.DurationMicros)
		if len(u.slow) > slowest {
			u.slow = u.slow[1:]
		}
	}
}

// line formats the Usage line after "Usage: ", e.g.
// "<logID> Active=50s Idle=2m36s Reqs=194/12/3/2 Sz=5.1K/100K 6.2K/103K mSecs=259 260/260/285 CPUms/rq=0.167/0.167 Mem=2".
func (u *usage) line(logID string, life time.Duration, st *os.ProcessState) string {
	n := max(u.reqs, 1)
	var b strings.Builder
	fmt.Fprintf(&b, "%s Active=%s Idle=%s Reqs=%d/%d/%d/%d", logID, Duration(u.active), Duration(max(life-u.active, 0)),
		u.reqs, u.faults, u.readErrs, u.wErr)
	fmt.Fprintf(&b, " Sz=%s/%s %s/%s", size(u.reqBytes/uint64(n)), size(uint64(u.maxReq)),
		size(u.respBytes/uint64(n)), size(uint64(u.maxResp)))
	fmt.Fprintf(&b, " mSecs=%d", u.active.Milliseconds()/int64(n))
	for i, d := range u.slow {
		if i == 0 {
			b.WriteByte(' ')
		} else {
			b.WriteByte('/')
		}
		b.WriteString(strconv.FormatUint(uint64(d)/1000, 10))
	}
	if ru, ok := st.SysUsage().(*syscall.Rusage); ok && ru != nil {
		us := float64(ru.Utime.Sec)*1e3 + float64(ru.Utime.Usec)/1e3
		ss := float64(ru.Stime.Sec)*1e3 + float64(ru.Stime.Usec)/1e3
		fmt.Fprintf(&b, " CPUms/rq=%.3f/%.3f Mem=%d", us/float64(n), ss/float64(n), ru.Maxrss/1024)
	}
	return b.String()
}

// size formats a byte count as the original: 1000 and above as K or M, one
// decimal below 10.
func size(v uint64) string {
	f := float64(v)
	unit := ""
	switch {
	case v >= 1000000:
		f, unit = f/1e6, "M"
	case v >= 1000:
		f, unit = f/1e3, "K"
	default:
		return strconv.FormatUint(v, 10)
	}
	if f < 10 {
		return strconv.FormatFloat(f, 'f', 1, 64) + unit
	}
	return strconv.FormatFloat(f, 'f', 0, 64) + unit
}

// Duration formats d as [nD][nh][nm][ns], "0s" when under a second.
func Duration(d time.Duration) string {
	s := int64(d / time.Second)
	if s <= 0 {
		return "0s"
	}
	var b strings.Builder
	for _, u := range []struct {
		n    int64
		name string
	}{{86400, "D"}, {3600, "h"}, {60, "m"}, {1, "s"}} {
		if s >= u.n {
			b.WriteString(strconv.FormatInt(s/u.n, 10))
			b.WriteString(u.name)
			s %= u.n
		}
	}
	return b.String()
}
