package coord

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// Packet kinds: the type byte of a packet's first netstring
// (docs/coordination.md, "Packets").
const (
	KindRequest  byte = 'R' // instance → manager
	KindResponse byte = 'S' // manager → instance, answers the request with the same id
	KindEvent    byte = 'E' // manager → instance, unsolicited (a message or a timer tick)
)

// Field types of the control protocol.
const (
	FieldID        byte = 'b' // request id, decimal
	FieldOp        byte = 'o' // operation (request) or event kind (event)
	FieldName      byte = 'n' // object name
	FieldGlobal    byte = 'g' // flag: the name is global, not scoped by service
	FieldProtected byte = 'P' // flag: protected semaphore
	FieldInt       byte = 'i' // integer argument or result, decimal
	FieldWait      byte = 'w' // flag: wait (decrement)
	FieldTimeout   byte = 't' // longest wait in ms, decimal; absent = no limit
	FieldValue     byte = 'v' // bytes: a variable's value, a message's arguments
	FieldVersion   byte = 'V' // a variable's version, decimal
	FieldPattern   byte = 'x' // broadcast pattern over service keys
	FieldPeriod    byte = 'e' // timer period in ms, decimal
	FieldService   byte = 's' // service key (hello, the sender of a message)
	FieldError     byte = 'p' // error code name (response)
	FieldText      byte = 'r' // error text (response)
)

// MaxPacket is the largest packet either side accepts, in bytes.
const MaxPacket = 1 << 20

// Packet is one control-protocol packet: a kind and its fields, each type at
// most once.
type Packet struct {
	Kind   byte
	Fields map[byte][]byte
}

// NewPacket returns an empty packet of the kind.
func NewPacket(kind byte) *Packet { return &Packet{Kind: kind, Fields: make(map[byte][]byte)} }

// Str returns a field as a string ("" when absent).
func (p *Packet) Str(t byte) string { return string(p.Fields[t]) }

// Has reports whether a field is present.
func (p *Packet) Has(t byte) bool { _, ok := p.Fields[t]; return ok }

// Int returns a decimal field; ok is false when it is absent, an error when
// it is not a decimal number.
func (p *Packet) Int(t byte) (v int64, ok bool, err error) {
	b, ok := p.Fields[t]
	if !ok {
		return 0, false, nil
	}
	v, err = strconv.ParseInt(string(b), 10, 64)
	if err != nil {
		return 0, true, fmt.Errorf("field '%c': %q is not a decimal number", t, b)
	}
	return v, true, nil
}

// SetStr sets a string field.
func (p *Packet) SetStr(t byte, s string) *Packet { p.Fields[t] = []byte(s); return p }

// SetInt sets a decimal field.
func (p *Packet) SetInt(t byte, v int64) *Packet {
	p.Fields[t] = strconv.AppendInt(nil, v, 10)
	return p
}

// SetFlag sets an empty (flag) field.
func (p *Packet) SetFlag(t byte) *Packet { p.Fields[t] = []byte{}; return p }

// fieldOrder is the order in which Append writes fields, so that encodings
// are deterministic (the conformance vectors depend on it).
const fieldOrder = "bospnxgPwiteVvr"

// Append appends the packet's encoding to dst: `0<kind>,`, the fields in a
// fixed order as `<len><type><payload>,`, then `0z\n`.
func (p *Packet) Append(dst []byte) []byte {
	dst = append(dst, '0', p.Kind, ',')
	for i := 0; i < len(fieldOrder); i++ {
		t := fieldOrder[i]
		if b, ok := p.Fields[t]; ok {
			dst = appendNetstring(dst, t, b)
		}
	}
	for t, b := range p.Fields { // types outside fieldOrder (none today)
		if !contains(fieldOrder, t) {
			dst = appendNetstring(dst, t, b)
		}
	}
	return append(dst, "0z\n"...)
}

func contains(s string, b byte) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == b {
			return true
		}
	}
	return false
}

func appendNetstring(dst []byte, t byte, b []byte) []byte {
	dst = strconv.AppendInt(dst, int64(len(b)), 10)
	dst = append(dst, t)
	dst = append(dst, b...)
	return append(dst, ',')
}

// ProtocolError is a malformed packet.
type ProtocolError struct{ Msg string }

func (e *ProtocolError) Error() string { return "control protocol: " + e.Msg }

// ErrPacketTooLarge is returned by ReadPacket for a packet over MaxPacket.
var ErrPacketTooLarge = errors.New("control protocol: packet exceeds 1 MiB")

// ReadPacket reads one packet. It returns io.EOF at a clean end of input
// (before the first byte of a packet), and a *ProtocolError or
// ErrPacketTooLarge for a malformed one.
func ReadPacket(r *bufio.Reader) (*Packet, error) {
	var p *Packet
	total := 0
	for {
		n, t, err := readHead(r, p == nil)
		if err != nil {
			if err == io.EOF && p != nil {
				return nil, &ProtocolError{"unexpected EOF in packet"}
			}
			return nil, err
		}
		total += n + 3
		if total > MaxPacket {
			return nil, ErrPacketTooLarge
		}
		payload := make([]byte, n)
		if _, err := io.ReadFull(r, payload); err != nil {
			return nil, &ProtocolError{"unexpected EOF in packet"}
		}
		term, err := r.ReadByte()
		if err != nil {
			return nil, &ProtocolError{"unexpected EOF in packet"}
		}
		if term != ',' && term != '\n' {
			return nil, &ProtocolError{`incorrect netString terminator - comma or \n expected`}
		}
		if p == nil {
			if n != 0 || (t != KindRequest && t != KindResponse && t != KindEvent) {
				return nil, &ProtocolError{fmt.Sprintf("packet must start with 0R, 0S, or 0E, not %d%c", n, t)}
			}
			p = NewPacket(t)
			continue
		}
		if t == 'z' {
			return p, nil
		}
		if _, dup := p.Fields[t]; dup {
			return nil, &ProtocolError{fmt.Sprintf("Duplicate netString type of '%c'", t)}
		}
		p.Fields[t] = payload
	}
}

// readHead reads `<decimal length><type>`.
func readHead(r *bufio.Reader, first bool) (n int, t byte, err error) {
	digits := 0
	for {
		c, err := r.ReadByte()
		if err != nil {
			if err == io.EOF && (digits > 0 || !first) {
				return 0, 0, &ProtocolError{"unexpected EOF in packet"}
			}
			return 0, 0, err
		}
		if c >= '0' && c <= '9' {
			n = n*10 + int(c-'0')
			digits++
			if n > MaxPacket {
				return 0, 0, ErrPacketTooLarge
			}
			continue
		}
		if digits == 0 {
			return 0, 0, &ProtocolError{"leading netString character not a digit"}
		}
		if c < 0x20 || c > 0x7e {
			return 0, 0, &ProtocolError{"invalid netString type (not isprint())"}
		}
		return n, c, nil
	}
}
