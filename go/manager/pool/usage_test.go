package pool

import (
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pluton-go/pluton/go/stats"
)

func TestDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0: "0s", 999 * time.Millisecond: "0s", 50 * time.Second: "50s", 156 * time.Second: "2m36s",
		3*time.Hour + 5*time.Second: "3h5s", 49 * time.Hour: "2D1h",
	} {
		assert.Equal(t, want, Duration(d), d.String())
	}
}

func TestSize(t *testing.T) {
	for v, want := range map[uint64]string{0: "0", 999: "999", 1000: "1.0K", 5100: "5.1K", 100000: "100K", 2500000: "2.5M"} {
		assert.Equal(t, want, size(v))
	}
}

func TestUsageLine(t *testing.T) {
	var u usage
	for i := range 20 {
		u.add(stats.Entry{Outcome: stats.OK, DurationMicros: uint32(1000 * (i + 1)), RequestBytes: 100, ResponseBytes: 2000})
	}
	u.add(stats.Entry{Outcome: stats.Faulted, DurationMicros: 500})
	u.add(stats.Entry{Outcome: stats.ReadError})
	require.Len(t, u.slow, slowest)
	assert.Equal(t, uint32(9000), u.slow[0])
	assert.Equal(t, uint32(20000), u.slow[11])
	cmd := exec.Command("true")
	require.NoError(t, cmd.Run())
	var st *os.ProcessState = cmd.ProcessState
	line := u.line("a.b.0.raw/0-1", 10*time.Second, st)
	assert.Contains(t, line, "a.b.0.raw/0-1 Active=0s Idle=9s Reqs=22/1/1/0 Sz=90/100 1.8K/2.0K mSecs=9 9/10/11/12/13/14/15/16/17/18/19/20 CPUms/rq=")
}
