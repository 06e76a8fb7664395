// Package protocol implements Pluton's wire protocol: the netstring variant
// and the request and response packets built from it, byte-compatible with
// the original Pluton.
//
// A netstring is <decimal length><type byte><payload><terminator>, where the
// terminator is ',' or '\n'. A packet is a run of netstrings that starts with
// a packet-type netstring ("0Q," for a request, "0A," for a response) and
// ends with "0z\n". See docs/protocol.md for every field.
//
// Parser is a push parser that accepts input in chunks of any size and
// reports where one packet ends, so packets can arrive back to back.
// Decoder wraps a Parser around an io.Reader. AppendRequest and
// AppendResponse encode packets in the original's emission order.
package protocol
