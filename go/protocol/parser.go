package protocol

import (
	"fmt"
	"math"
	"math/bits"
	"unsafe"
)

// smallField is the largest payload kept in the parser's shared arena; larger
// payloads get a buffer of their own that is filled in place and doubles as
// data arrives (firstBig bytes at first), so copying stays linear.
const (
	smallField = 4096
	firstBig   = 1 << 20
)

type parseState uint8

const (
	stLength parseState = iota
	stType
	stPayload
	stTerminator
)

// field locates one netstring payload: in the arena (big == nil) or in big.
type field struct {
	off, n int
	big    []byte
	alias  bool // big is part of the caller's bytes (FeedOwned), not the pool's
}

// Parser is a push parser for one kind of packet ('Q' requests or 'A'
// responses). Feed it bytes in chunks of any size; it reports when a packet
// is complete and how many bytes of the chunk belonged to it.
//
// The zero Parser is not usable; create one with NewRequestParser or
// NewResponseParser.
type Parser struct {
	want    byte
	state   parseState
	length  int
	digits  int
	typ     byte
	offset  int64 // bytes consumed in this packet
	first   bool  // the packet-type netstring has been seen
	cur     field // payload being filled
	filled  int
	seen    [2]uint64 // type bytes < 128 seen in this packet
	fields  [123]field
	arena   []byte
	started bool
	limit   int        // largest payload accepted (SetMaxLength); 0 = MaxLength only
	pool    BufferPool // lends large payload buffers (SetPool); nil: one per packet
	owned   bool       // in FeedOwned
}

// A BufferPool lends a Parser the buffers of large payloads (over 4096
// bytes), so that a stream of large packets need not allocate one buffer
// per payload. A Parser calls it from Feed, Reset and the methods that fill
// a payload in place; it need not be safe for concurrent use unless it is
// shared by parsers used concurrently.
type BufferPool interface {
	// Get returns a buffer of capacity at least n, or nil when it has none
	// (the parser then allocates).
	Get(n int) []byte
	// Put takes back a buffer the parser no longer uses: a payload of the
	// previous packet, or one it outgrew. The pool may keep it or drop it.
	Put(b []byte)
}

// NewRequestParser returns a Parser for request packets.
func NewRequestParser() *Parser { return &Parser{want: TypeRequest} }

// NewResponseParser returns a Parser for response packets.
func NewResponseParser() *Parser { return &Parser{want: TypeResponse} }

// SetMaxLength makes Feed refuse, with a *LengthError, a netstring whose
// length prefix exceeds n bytes, as soon as the prefix is complete and before
// any byte of its payload is taken. n <= 0 removes the limit (MaxLength
// still applies). The fields completed before the refused netstring stay
// readable with Field until Reset.
func (p *Parser) SetMaxLength(n int) { p.limit = max(n, 0) }

// SetPool makes the parser take the buffers of large payloads (over 4096
// bytes) from pool, and give them back when the next packet starts or on
// Reset. Field's slices are then valid only until then, like small ones. A
// server that answers one request at a time uses it so that a stream of
// large requests allocates nothing. nil (the default) gives every large
// payload a buffer of its own that the caller may keep.
func (p *Parser) SetPool(pool BufferPool) { p.pool = pool }

// Reset discards any partial packet.
func (p *Parser) Reset() {
	p.state, p.length, p.digits, p.typ, p.offset = stLength, 0, 0, 0, 0
	p.first, p.filled, p.started = false, 0, false
	p.clearFields()
	p.cur = field{}
}

// clearFields forgets the fields of the last packet, touching only the
// entries it set.
func (p *Parser) clearFields() {
	for w, set := range p.seen {
		for set != 0 {
			f := &p.fields[w*64+bits.TrailingZeros64(set)]
			if !f.alias {
				p.giveBack(f.big)
			}
			*f = field{}
			set &= set - 1
		}
	}
	if !p.cur.alias {
		p.giveBack(p.cur.big) // a payload whose netstring did not complete
	}
	p.seen = [2]uint64{}
	p.arena = p.arena[:0]
}

// giveBack returns a large payload buffer to the pool.
func (p *Parser) giveBack(b []byte) {
	if p.pool != nil && b != nil {
		p.pool.Put(b[:cap(b)])
	}
}

// Started reports whether any byte of the current packet has been consumed.
// EOF when Started is false is a clean end of input.
func (p *Parser) Started() bool { return p.started }

// Feed consumes bytes from b. It returns the number of bytes used and done
// == true when they completed a packet, in which case the bytes after n
// belong to the next packet and Request or Response may be called. It returns
// a *SyntaxError or *DecodeError for malformed input; the parser must then be
// Reset before reuse.
func (p *Parser) Feed(b []byte) (n int, done bool, err error) {
	if p.state == stLength && p.digits == 0 && !p.started && len(b) > 0 {
		p.startPacket()
	}
	for n < len(b) {
		switch p.state {
		case stLength:
			c := b[n]
			if c < '0' || c > '9' {
				if p.digits == 0 {
					return n, false, p.syntax(msgLeadingNotDigit)
				}
				if p.limit > 0 && p.length > p.limit {
					return n, false, &LengthError{Length: p.length, Limit: p.limit}
				}
				p.state = stType
				continue
			}
			p.length = p.length*10 + int(c-'0')
			p.digits++
			if p.length > MaxLength {
				return n, false, p.syntax(msgTooLong)
			}
			n++
			p.offset++
		case stType:
			c := b[n]
			if c < 0x20 || c > 0x7e {
				return n, false, p.syntax(msgBadType)
			}
			p.typ = c
			n++
			p.offset++
			if p.owned && p.length > smallField && cap(b)-n >= p.length {
				// The payload fits in the caller's buffer: referenced, and
				// what has not arrived yet is read into its place there.
				p.cur = field{big: b[n : n+p.length : n+p.length], n: p.length, alias: true}
				k := min(p.length, len(b)-n)
				p.filled = k
				n += k
				p.offset += int64(k)
				p.state = stPayload
				if k == p.length {
					p.state = stTerminator
				}
				continue
			}
			p.beginPayload()
		case stPayload:
			if p.cur.alias && len(b) > n && unsafe.SliceData(b[n:]) == unsafe.SliceData(p.cur.big[p.filled:]) {
				// The caller read the next bytes into their place.
				k := min(p.length-p.filled, len(b)-n)
				p.filled += k
				n += k
				p.offset += int64(k)
			} else if p.cur.big != nil {
				k := copy(p.growBig(), b[n:])
				p.filled += k
				n += k
				p.offset += int64(k)
			} else {
				k := min(p.length-p.filled, len(b)-n)
				p.arena = append(p.arena, b[n:n+k]...)
				p.filled += k
				n += k
				p.offset += int64(k)
			}
			if p.filled == p.length {
				p.state = stTerminator
			}
		case stTerminator:
			c := b[n]
			if c != ',' && c != '\n' {
				return n, false, p.syntax(msgBadTerminator)
			}
			n++
			p.offset++
			if err := p.endNetstring(); err != nil {
				return n, false, err
			}
			if p.typ == TypeEnd {
				p.state = stLength
				p.started = false
				return n, true, nil
			}
		}
	}
	return n, false, nil
}

// FeedOwned is Feed for a caller that owns b up to its capacity and keeps
// it unchanged until the next packet starts or Reset: a large payload (over
// 4096 bytes) that fits in b's capacity is then referenced in place instead
// of copied. Its bytes that have not arrived yet belong right after b: the
// caller reads them there and feeds them with FeedOwned (Direct returns
// nil for such a payload), so a reader that reads a packet into one buffer
// large enough copies nothing.
func (p *Parser) FeedOwned(b []byte) (n int, done bool, err error) {
	p.owned = true
	n, done, err = p.Feed(b)
	p.owned = false
	return n, done, err
}

// References reports whether the packet being read (or just completed)
// references bytes given to FeedOwned: the caller must keep them unchanged
// until the next packet starts or Reset.
func (p *Parser) References() bool {
	if p.cur.alias {
		return true
	}
	for w, set := range p.seen {
		for set != 0 {
			if p.fields[w*64+bits.TrailingZeros64(set)].alias {
				return true
			}
			set &= set - 1
		}
	}
	return false
}

// Direct returns the unfilled part of the payload buffer when the parser is
// in the middle of a large payload, so a reader can fill it in place and then
// call Advance; otherwise it returns nil.
func (p *Parser) Direct() []byte {
	if p.state == stPayload && p.cur.big != nil && !p.cur.alias && p.filled < p.length {
		return p.growBig()
	}
	return nil
}

// growBig returns the free part of the large payload buffer, doubling the
// buffer (never past the declared length) when it is full. Memory therefore
// follows the bytes that really arrive, not a length a peer merely declares.
func (p *Parser) growBig() []byte {
	if p.filled == len(p.cur.big) {
		if p.pool != nil {
			if nb := p.pool.Get(p.length); nb != nil {
				nb = nb[:p.length]
				copy(nb, p.cur.big[:p.filled])
				p.giveBack(p.cur.big)
				p.cur.big = nb
				return nb[p.filled:]
			}
		}
		nb := make([]byte, min(2*len(p.cur.big), p.length))
		copy(nb, p.cur.big[:p.filled])
		p.giveBack(p.cur.big)
		p.cur.big = nb
	}
	return p.cur.big[p.filled:]
}

// PayloadRemaining returns how many bytes of the payload being read have not
// arrived yet: the length of a netstring whose payload has started, less the
// bytes fed (or advanced) so far; 0 when the parser is not in a payload.
// Its terminator, and the end netstring of the packet, are at least four
// bytes more.
func (p *Parser) PayloadRemaining() int {
	if p.state != stPayload {
		return 0
	}
	return p.length - p.filled
}

// Advance records that k bytes were written into the slice returned by Direct.
func (p *Parser) Advance(k int) {
	p.filled += k
	p.offset += int64(k)
	if p.filled == p.length {
		p.state = stTerminator
	}
}

func (p *Parser) startPacket() {
	p.started = true
	p.first = false
	p.offset = 0
	p.clearFields()
}

func (p *Parser) beginPayload() {
	p.filled = 0
	switch {
	case p.length <= smallField:
		p.cur = field{off: len(p.arena), n: p.length}
	default:
		// A buffer from the pool is filled in place, without clearing:
		// every byte is written before the payload is complete. Otherwise
		// memory follows the bytes that arrive: a declared length alone
		// gets at most firstBig bytes.
		var b []byte
		if p.pool != nil {
			b = p.pool.Get(p.length)
		}
		if b != nil {
			b = b[:p.length]
		} else {
			b = make([]byte, min(p.length, firstBig))
		}
		p.cur = field{big: b, n: p.length}
	}
	if p.length == 0 {
		p.state = stTerminator
	} else {
		p.state = stPayload
	}
}

func (p *Parser) endNetstring() error {
	t := p.typ
	p.state, p.length, p.digits = stLength, 0, 0
	if !p.first {
		if t != p.want {
			return &DecodeError{Msg: fmt.Sprintf("Unexpected netString type. Wanted: %s, but got: '%c' (%s)",
				TypeName(p.want), t, TypeName(t))}
		}
		p.first = true
		return nil
	}
	if t >= 123 {
		return &DecodeError{Msg: fmt.Sprintf("Out-of-range netString type: '%c'", t)}
	}
	word, bit := t/64, uint64(1)<<(t%64)
	if p.seen[word]&bit != 0 {
		return &DecodeError{Msg: fmt.Sprintf("Duplicate netString type of '%c'", t)}
	}
	p.seen[word] |= bit
	p.fields[t] = p.cur
	p.cur = field{} // the field owns the buffer now
	return nil
}

func (p *Parser) syntax(msg string) error {
	return &SyntaxError{Offset: p.offset, Msg: msg}
}

func (p *Parser) has(t byte) bool { return p.seen[t/64]&(uint64(1)<<(t%64)) != 0 }

func (p *Parser) bytes(t byte) []byte {
	if !p.has(t) {
		return nil
	}
	f := p.fields[t]
	if f.big != nil {
		return f.big
	}
	if f.n == 0 {
		return nil
	}
	return p.arena[f.off : f.off+f.n : f.off+f.n]
}

func (p *Parser) str(t byte) string { return string(p.bytes(t)) }

// Field returns the payload of netstring type t in the packet just completed
// by Feed, or nil if the packet had none. It does not allocate: a payload of
// up to 4096 bytes aliases the parser's shared buffer and is valid until the
// next packet starts; a larger payload has a buffer of its own, allocated for
// this packet, that the parser never touches again and the caller may keep.
func (p *Parser) Field(t byte) []byte {
	if t >= 123 {
		return nil
	}
	return p.bytes(t)
}

func (p *Parser) num(t byte) int64 { return ParseNumber(p.bytes(t)) }

// Request fills r from the packet just completed by Feed. Data and Context
// follow the ownership rule of Field.
func (p *Parser) Request(r *Request) {
	*r = Request{
		ID:             p.num(TypeRequestID),
		ClientName:     p.str(TypeClientName),
		ServiceKey:     p.str(TypeServiceKey),
		TimeoutMS:      p.num(TypeTimeout),
		NoWait:         p.has(TypeNoWait),
		NoRemote:       p.has(TypeNoRemote),
		NoRetry:        p.has(TypeNoRetry),
		KeepAffinity:   p.has(TypeKeepAffinity),
		NeedAffinity:   p.has(TypeNeedAffinity),
		FileDescriptor: p.has(TypeFileDescriptor),
		Context:        p.bytes(TypeContext),
		Data:           p.bytes(TypeRequestData),
	}
}

// RequestInto is Request for a server that reads many requests into the
// same r: when the packet's client name or service key has the bytes of
// r's current one, r keeps that string instead of a new one, so requests
// from the same clients allocate nothing for them.
func (p *Parser) RequestInto(r *Request) {
	name, key := r.ClientName, r.ServiceKey
	if b := p.bytes(TypeClientName); string(b) != name {
		name = string(b)
	}
	if b := p.bytes(TypeServiceKey); string(b) != key {
		key = string(b)
	}
	*r = Request{
		ID:             p.num(TypeRequestID),
		ClientName:     name,
		ServiceKey:     key,
		TimeoutMS:      p.num(TypeTimeout),
		NoWait:         p.has(TypeNoWait),
		NoRemote:       p.has(TypeNoRemote),
		NoRetry:        p.has(TypeNoRetry),
		KeepAffinity:   p.has(TypeKeepAffinity),
		NeedAffinity:   p.has(TypeNeedAffinity),
		FileDescriptor: p.has(TypeFileDescriptor),
		Context:        p.bytes(TypeContext),
		Data:           p.bytes(TypeRequestData),
	}
}

// Response fills r from the packet just completed by Feed.
func (p *Parser) Response(r *Response) {
	*r = Response{
		ID:          p.num(TypeRequestID),
		ClientName:  p.str(TypeClientName),
		ServiceName: p.str(TypeServiceName),
		FaultCode:   p.num(TypeFaultCode),
		FaultText:   p.str(TypeFaultText),
		Data:        p.bytes(TypeResponseData),
	}
}

// ParseNumber reads a decimal number as C's strtol does: leading blanks, an
// optional sign, then digits up to the first non-digit. It returns 0 when
// there are no digits and, like strtol, saturates at math.MaxInt64 or
// math.MinInt64 instead of overflowing.
func ParseNumber(b []byte) int64 {
	i := 0
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r' || b[i] == '\v' || b[i] == '\f') {
		i++
	}
	neg := false
	if i < len(b) && (b[i] == '+' || b[i] == '-') {
		neg = b[i] == '-'
		i++
	}
	limit := uint64(math.MaxInt64)
	if neg {
		limit++ // -2^63 is representable
	}
	var v uint64
	for ; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
		d := uint64(b[i] - '0')
		if v > (limit-d)/10 {
			v = limit
			continue
		}
		v = v*10 + d
	}
	if neg {
		return int64(-v) // -2^63 wraps to itself
	}
	return int64(v)
}
