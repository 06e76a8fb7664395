package protocol

import "fmt"

// SyntaxError reports input that is not a well-formed netstring (the
// original's "parse error"). Offset counts bytes from the start of the packet.
type SyntaxError struct {
	Offset int64
	Msg    string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("netstring parse error at byte %d: %s", e.Offset, e.Msg)
}

// DecodeError reports well-formed netstrings that do not make a valid packet
// (wrong first type, duplicate or out-of-range type, truncated packet,
// malformed context).
type DecodeError struct {
	Msg string
	Err error // io.ErrUnexpectedEOF for a packet cut short; nil otherwise
}

func (e *DecodeError) Error() string { return "packet decode error: " + e.Msg }

// Unwrap returns io.ErrUnexpectedEOF for a truncated packet, so that
// errors.Is(err, io.ErrUnexpectedEOF) tells truncation from other errors.
func (e *DecodeError) Unwrap() error { return e.Err }

// LengthError reports a netstring whose length prefix exceeds the limit set
// with Parser.SetMaxLength (a service's maximum-request-size).
type LengthError struct {
	Length int // the declared payload length
	Limit  int // the limit it exceeds
}

func (e *LengthError) Error() string {
	return fmt.Sprintf("request data of %d bytes exceeds maximum-request-size %d", e.Length, e.Limit)
}

// MsgUnexpectedEOF is the message of the DecodeError for input that ends
// inside a packet.
const MsgUnexpectedEOF = msgUnexpectedEOF

// The messages of the original, used verbatim in faults.
const (
	msgLeadingNotDigit = "leading netString character not a digit"
	msgTooLong         = "netString length value greater than 999999999"
	msgBadType         = "invalid netString type (not isprint())"
	msgBadTerminator   = "incorrect netString terminator - comma or \\n expected"
	msgUnexpectedEOF   = "unexpected EOF in packet"
)
