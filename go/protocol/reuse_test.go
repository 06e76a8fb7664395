package protocol

import (
	"bytes"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// feedAll feeds pkt to p in chunks of at most chunk bytes, filling a large
// payload in place through Direct as a reader does, and requires a
// complete packet.
func feedAll(t *testing.T, p *Parser, pkt []byte, chunk int) {
	t.Helper()
	for len(pkt) > 0 {
		if dst := p.Direct(); dst != nil {
			k := copy(dst, pkt[:min(chunk, len(pkt))])
			p.Advance(k)
			pkt = pkt[k:]
			continue
		}
		n, done, err := p.Feed(pkt[:min(chunk, len(pkt))])
		require.NoError(t, err)
		pkt = pkt[n:]
		if done {
			require.Empty(t, pkt, "bytes after the packet")
			return
		}
	}
	t.Fatal("packet incomplete")
}

func bigRequest(data, ctx int, fill byte) []byte {
	return AppendRequest(nil, &Request{ID: 7, ServiceKey: "system.echo.0.raw",
		Data: bytes.Repeat([]byte{fill}, data), Context: bytes.Repeat([]byte{fill + 1}, ctx)})
}

func TestReuseKeepsTheLargePayloadBuffer(t *testing.T) {
	tests := []struct {
		name       string
		sizes      []int // data size of each packet, in order
		chunk      int
		sameBuffer []bool // packet i (from the second) fills the buffer of an earlier one
	}{
		{"steady 64 KiB", []int{64 << 10, 64 << 10, 64 << 10}, 16 << 10, []bool{true, true}},
		{"steady 3 MiB, grown the first time", []int{3 << 20, 3 << 20}, 256 << 10, []bool{true}},
		{"smaller after larger", []int{1 << 20, 8 << 10}, 4 << 10, []bool{true}},
		{"larger after smaller allocates", []int{8 << 10, 1 << 20}, 64 << 10, []bool{false}},
		{"small packets leave the buffer alone", []int{64 << 10, 10, 64 << 10}, 4 << 10, []bool{false, true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := NewRequestParser()
			p.SetReuse(true)
			var bufs []*byte
			for i, size := range tt.sizes {
				fill := byte('a' + i)
				feedAll(t, p, bigRequest(size, 0, fill), tt.chunk)
				var r Request
				p.Request(&r)
				require.Len(t, r.Data, size)
				assert.Equal(t, bytes.Repeat([]byte{fill}, size), r.Data, "packet %d", i)
				bufs = append(bufs, unsafe.SliceData(r.Data))
				if i > 0 && size > smallField {
					reused := false
					for _, b := range bufs[:i] {
						reused = reused || b == bufs[i]
					}
					assert.Equal(t, tt.sameBuffer[i-1], reused, "packet %d reuses a buffer", i)
				}
			}
		})
	}
}

func TestReuseTwoLargePayloadsInOnePacket(t *testing.T) {
	p := NewRequestParser()
	p.SetReuse(true)
	for round := range 3 {
		feedAll(t, p, bigRequest(100<<10, 50<<10, 'x'), 8<<10)
		var r Request
		p.Request(&r)
		assert.Equal(t, bytes.Repeat([]byte{'x'}, 100<<10), r.Data, "round %d", round)
		assert.Equal(t, bytes.Repeat([]byte{'y'}, 50<<10), r.Context, "round %d", round)
		assert.NotEqual(t, unsafe.SliceData(r.Data), unsafe.SliceData(r.Context), "two payloads share a buffer")
	}
}

func TestReleaseSpare(t *testing.T) {
	p := NewRequestParser()
	p.SetReuse(true)
	feedAll(t, p, bigRequest(1<<20, 0, 'a'), 64<<10)
	var r Request
	p.Request(&r)
	assert.Zero(t, p.SpareCap(), "the buffer holds the packet's payload")
	p.Reset()
	assert.GreaterOrEqual(t, p.SpareCap(), 1<<20, "kept after the packet")
	p.ReleaseSpare()
	assert.Zero(t, p.SpareCap())
	assert.Equal(t, bytes.Repeat([]byte{'a'}, 1<<20), r.Data, "the last payload stays valid")
	feedAll(t, p, bigRequest(1<<20, 0, 'b'), 64<<10)
	var r2 Request
	p.Request(&r2)
	assert.NotEqual(t, unsafe.SliceData(r.Data), unsafe.SliceData(r2.Data), "a released buffer is not reused")

	p.SetReuse(false)
	feedAll(t, p, bigRequest(1<<20, 0, 'c'), 64<<10)
	p.Reset()
	assert.Zero(t, p.SpareCap(), "no buffer is kept without reuse")
}

func TestReuseDeclaredLengthStillBounded(t *testing.T) {
	// A parser holding a 64 KiB buffer that reads a 60 MiB length prefix
	// allocates at most firstBig until the bytes arrive.
	p := NewRequestParser()
	p.SetReuse(true)
	feedAll(t, p, bigRequest(64<<10, 0, 'a'), 16<<10)
	head, _ := AppendRequestHead(nil, &Request{ServiceKey: "system.echo.0.raw", Data: make([]byte, 60<<20)})
	_, done, err := p.Feed(head)
	require.NoError(t, err)
	require.False(t, done)
	assert.LessOrEqual(t, len(p.Direct()), firstBig)
}
