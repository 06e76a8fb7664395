package sockdiag

import (
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestListenQueues(t *testing.T) {
	dir, err := os.MkdirTemp("", "pl")
	require.NoError(t, err)
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "s.socket")
	l, err := net.Listen("unix", path)
	require.NoError(t, err)
	defer l.Close()
	f, err := l.(*net.UnixListener).File()
	require.NoError(t, err)
	defer f.Close()
	ino, err := Inode(f.Fd())
	require.NoError(t, err)

	c, err := Open()
	if err != nil {
		t.Skipf("netlink unavailable: %v", err)
	}
	defer c.Close()
	q, err := c.ListenQueues(map[uint64]bool{ino: true})
	require.NoError(t, err)
	assert.Equal(t, map[uint64]uint32{ino: 0}, q)
	assert.False(t, Readable(f.Fd()))

	var conns []net.Conn
	for range 5 {
		cn, err := net.Dial("unix", path)
		require.NoError(t, err)
		conns = append(conns, cn)
	}
	defer func() {
		for _, cn := range conns {
			cn.Close()
		}
	}()
	deadline := time.Now().Add(2 * time.Second)
	for {
		q, err = c.ListenQueues(nil)
		require.NoError(t, err)
		if q[ino] == 5 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	assert.Equal(t, uint32(5), q[ino])
	assert.True(t, Readable(f.Fd()))
}
