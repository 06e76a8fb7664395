package protocol

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

// FuzzDecoder feeds arbitrary bytes, in arbitrary chunkings, to both parsers.
// It must never panic; each result must be a packet, a clean EOF, or one of
// the package's error types; and a decoded request must re-encode to bytes
// that decode to the same request.
func FuzzDecoder(f *testing.F) {
	for _, s := range []string{capturedRequest, capturedResponse, capturedFault, capturedAllAttrs,
		capturedNoWait, capturedPlTest, t80 + "\n", "0Q,4l5000,4l5000,0z\n", "0Q,123456789012b,0z\n", "xQ,"} {
		f.Add([]byte(s), uint8(3))
	}
	f.Fuzz(func(t *testing.T, data []byte, chunk uint8) {
		size := int(chunk%17) + 1
		for _, p := range []*Parser{NewRequestParser(), NewResponseParser()} {
			rest := data
			for len(rest) > 0 {
				k := min(size, len(rest))
				n, done, err := p.Feed(rest[:k])
				if n > k || n < 0 {
					t.Fatalf("Feed consumed %d of %d", n, k)
				}
				if err != nil {
					var se *SyntaxError
					var de *DecodeError
					if !errors.As(err, &se) && !errors.As(err, &de) {
						t.Fatalf("unexpected error type %T", err)
					}
					break
				}
				rest = rest[n:]
				if done && p.want == TypeRequest {
					var r Request
					p.Request(&r)
					_, _ = ParseContext(r.Context)
					again := AppendRequest(nil, &r)
					var r2 Request
					if err := NewRequestDecoder(bytes.NewReader(again)).ReadRequest(&r2); err != nil {
						t.Fatalf("re-encoded request does not decode: %v\n%q", err, again)
					}
					if !bytes.Equal(AppendRequest(nil, &r2), again) {
						t.Fatalf("round trip changed the packet")
					}
				}
			}
		}
		d := NewResponseDecoder(bytes.NewReader(data))
		for i := 0; i < 100; i++ {
			var r Response
			if err := d.ReadResponse(&r); err != nil {
				if errors.Is(err, io.EOF) {
					break
				}
				break
			}
		}
	})
}
