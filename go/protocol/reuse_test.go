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

// onePool keeps the largest buffer given back.
type onePool struct {
	b          []byte
	gets, puts int
}

func (o *onePool) Get(n int) []byte {
	o.gets++
	if cap(o.b) < n {
		return nil
	}
	b := o.b
	o.b = nil
	return b
}

func (o *onePool) Put(b []byte) {
	o.puts++
	if cap(b) > cap(o.b) {
		o.b = b
	}
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
			p.SetPool(&onePool{})
			var bufs []*byte
			for i, size := range tt.sizes {
				fill := byte('a' + i)
				feedAll(t, p, bigRequest(size, 0, fill), tt.chunk)
				var r Request
				p.Request(&r)
				require.Len(t, r.Data, size)
				assert.True(t, bytes.Equal(bytes.Repeat([]byte{fill}, size), r.Data), "packet %d", i)
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
	pool := &onePool{}
	p.SetPool(pool)
	for round := range 3 {
		feedAll(t, p, bigRequest(100<<10, 50<<10, 'x'), 8<<10)
		var r Request
		p.Request(&r)
		assert.True(t, bytes.Equal(bytes.Repeat([]byte{'x'}, 100<<10), r.Data), "round %d", round)
		assert.True(t, bytes.Equal(bytes.Repeat([]byte{'y'}, 50<<10), r.Context), "round %d", round)
		assert.NotEqual(t, unsafe.SliceData(r.Data), unsafe.SliceData(r.Context), "two payloads share a buffer")
	}
}

func TestPoolGetsEveryBufferBack(t *testing.T) {
	p := NewRequestParser()
	pool := &onePool{}
	p.SetPool(pool)
	feedAll(t, p, bigRequest(3<<20, 0, 'a'), 256<<10) // grown from 1 MiB: the outgrown buffers go back too
	var r Request
	p.Request(&r)
	assert.Equal(t, 2<<20, cap(pool.b), "the outgrown buffers went back")
	p.Reset()
	assert.Equal(t, 3<<20, cap(pool.b), "the payload's buffer is given back on Reset")
	assert.Equal(t, unsafe.SliceData(r.Data), unsafe.SliceData(pool.b))
	assert.True(t, bytes.Equal(bytes.Repeat([]byte{'a'}, 3<<20), r.Data), "the payload stays valid until the pool lends it again")

	// A packet abandoned in its payload gives its buffer back too.
	head, _ := AppendRequestHead(nil, &Request{ServiceKey: "system.echo.0.raw", Data: make([]byte, 8<<10)})
	_, _, err := p.Feed(append(head, "abc"...))
	require.NoError(t, err)
	assert.Nil(t, pool.b, "lent to the payload being read (8 KiB)")
	p.Reset()
	assert.Equal(t, 3<<20, cap(pool.b))

	// Without a pool nothing is given back.
	p.SetPool(nil)
	before := pool.puts
	feedAll(t, p, bigRequest(1<<20, 0, 'c'), 64<<10)
	p.Reset()
	assert.Equal(t, before, pool.puts)
}

func TestPoolDeclaredLengthStillBounded(t *testing.T) {
	// A parser whose pool has only a 64 KiB buffer reads a 60 MiB length
	// prefix: it allocates at most firstBig until the bytes arrive.
	p := NewRequestParser()
	p.SetPool(&onePool{})
	feedAll(t, p, bigRequest(64<<10, 0, 'a'), 16<<10)
	head, _ := AppendRequestHead(nil, &Request{ServiceKey: "system.echo.0.raw", Data: make([]byte, 60<<20)})
	_, done, err := p.Feed(head)
	require.NoError(t, err)
	require.False(t, done)
	assert.LessOrEqual(t, len(p.Direct()), firstBig)
}

func TestFeedOwnedReferencesAWholePayload(t *testing.T) {
	tests := []struct {
		name    string
		data    int
		chunk   int // bytes given per FeedOwned call
		inPlace bool
	}{
		{"whole packet at once", 64 << 10, 1 << 30, true},
		{"small payload is copied as always", 100, 1 << 30, false},
		{"payload split across reads, room after it", 64 << 10, 16 << 10, true},
		{"payload split across reads, no room after it", 64 << 10, -(16 << 10), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pkt := bigRequest(tt.data, 0, 'q')
			p := NewRequestParser()
			pool := &onePool{}
			p.SetPool(pool)
			rest := pkt
			done := false
			for !done {
				var chunk []byte
				if tt.chunk < 0 {
					k := min(-tt.chunk, len(rest))
					chunk = rest[:k:k] // the caller owns no bytes past the chunk
				} else {
					chunk = rest[:min(tt.chunk, len(rest))]
				}
				if dst := p.Direct(); dst != nil {
					k := copy(dst, chunk)
					p.Advance(k)
					rest = rest[k:]
					continue
				}
				n, d, err := p.FeedOwned(chunk)
				require.NoError(t, err)
				rest, done = rest[n:], d
			}
			var r Request
			p.Request(&r)
			require.True(t, bytes.Equal(bytes.Repeat([]byte{'q'}, tt.data), r.Data))
			inPkt := unsafe.SliceData(r.Data) == unsafe.SliceData(pkt[bytes.Index(pkt, r.Data):])
			assert.Equal(t, tt.inPlace, inPkt, "data references the caller's bytes")
			p.Reset()
			if tt.inPlace {
				assert.Zero(t, pool.puts, "the caller's bytes never go to the pool")
			}
		})
	}
}

func TestRequestIntoKeepsEqualStrings(t *testing.T) {
	p := NewRequestParser()
	var r Request
	packets := []struct {
		name, key string
		same      bool // the strings of the previous request are kept
	}{
		{"a:1", "system.echo.0.raw", false},
		{"a:1", "system.echo.0.raw", true},
		{"b:2", "system.echo.0.raw", false},
		{"b:2", "system.other.0.raw", false},
	}
	for i, pk := range packets {
		prevName, prevKey := r.ClientName, r.ServiceKey
		feedAll(t, p, AppendRequest(nil, &Request{ID: int64(i), ClientName: pk.name, ServiceKey: pk.key, NoRetry: i%2 == 0, Data: []byte("x")}), 7)
		p.RequestInto(&r)
		assert.Equal(t, Request{ID: int64(i), ClientName: pk.name, ServiceKey: pk.key, NoRetry: i%2 == 0, Data: []byte("x")}, r, "packet %d", i)
		if pk.same {
			assert.Equal(t, unsafe.StringData(prevName), unsafe.StringData(r.ClientName), "packet %d keeps the client name", i)
			assert.Equal(t, unsafe.StringData(prevKey), unsafe.StringData(r.ServiceKey), "packet %d keeps the key", i)
		}
	}
	pkt := []byte("0Q,1b5,3ab:2,18csystem.other.0.raw,0z\n")
	assert.Zero(t, testing.AllocsPerRun(100, func() {
		if _, done, err := p.Feed(pkt); !done || err != nil {
			t.Fatal("packet not complete", err)
		}
		p.RequestInto(&r)
	}), "a request from the same client and key allocates nothing")
}

// TestPayloadRemaining: the bytes of the payload being read that have not
// arrived yet, whether they are fed, read in place with Direct and Advance,
// or referenced in the caller's buffer; 0 outside a payload.
func TestPayloadRemaining(t *testing.T) {
	const size = 100 << 10
	pkt := AppendRequest(nil, &Request{ServiceKey: "system.echo.0.raw", Data: bytes.Repeat([]byte{'d'}, size)})
	head := len(pkt) - size - 4 // up to the first data byte
	tests := []struct {
		name           string
		owned, advance bool
	}{
		{"fed", false, false},
		{"read in place with Direct", false, true},
		{"referenced in the caller's buffer", true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := NewRequestParser()
			feed := p.Feed
			if tt.owned {
				feed = p.FeedOwned
			}
			assert.Zero(t, p.PayloadRemaining(), "before the packet")
			_, _, err := feed(pkt[:head-2])
			require.NoError(t, err)
			assert.Zero(t, p.PayloadRemaining(), "in the length prefix")
			n, _, err := feed(pkt[head-2 : head+1000])
			require.NoError(t, err)
			require.Equal(t, 1002, n)
			assert.Equal(t, size-1000, p.PayloadRemaining())
			if tt.advance {
				dst := p.Direct()
				require.NotNil(t, dst)
				k := copy(dst[:4000], pkt[head+1000:])
				p.Advance(k)
				assert.Equal(t, size-5000, p.PayloadRemaining(), "after Advance")
			}
			rest := pkt[head+size-p.PayloadRemaining():]
			_, done, err := feed(rest)
			require.NoError(t, err)
			require.True(t, done)
			assert.Zero(t, p.PayloadRemaining(), "after the packet")
		})
	}
}
