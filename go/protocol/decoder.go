package protocol

import (
	"errors"
	"io"
)

// Decoder reads packets from an io.Reader, any number back to back.
type Decoder struct {
	r     io.Reader
	p     *Parser
	buf   []byte
	start int
	end   int
}

// NewRequestDecoder returns a Decoder that reads request packets from r.
func NewRequestDecoder(r io.Reader) *Decoder {
	return &Decoder{r: r, p: NewRequestParser(), buf: make([]byte, 16*1024)}
}

// NewResponseDecoder returns a Decoder that reads response packets from r.
func NewResponseDecoder(r io.Reader) *Decoder {
	return &Decoder{r: r, p: NewResponseParser(), buf: make([]byte, 16*1024)}
}

// ReadRequest reads the next request packet into req. It returns io.EOF when
// the input ends cleanly between packets, a *DecodeError when it ends inside
// one, and the parser's or reader's error otherwise.
func (d *Decoder) ReadRequest(req *Request) error {
	if err := d.next(); err != nil {
		return err
	}
	d.p.Request(req)
	return nil
}

// ReadResponse reads the next response packet into resp, with the same
// errors as ReadRequest.
func (d *Decoder) ReadResponse(resp *Response) error {
	if err := d.next(); err != nil {
		return err
	}
	d.p.Response(resp)
	return nil
}

// Reset discards any buffered input and partial packet and makes the
// Decoder read from r.
func (d *Decoder) Reset(r io.Reader) {
	d.r = r
	d.start, d.end = 0, 0
	d.p.Reset()
}

// Buffered returns the bytes read from the reader but not yet consumed.
func (d *Decoder) Buffered() []byte { return d.buf[d.start:d.end] }

func (d *Decoder) next() error {
	for {
		if d.start < d.end {
			n, done, err := d.p.Feed(d.buf[d.start:d.end])
			d.start += n
			if err != nil {
				d.p.Reset()
				return err
			}
			if done {
				return nil
			}
		}
		// Fill a large payload in place; otherwise refill the buffer.
		if dst := d.p.Direct(); dst != nil {
			n, err := d.r.Read(dst)
			d.p.Advance(n)
			if err != nil && n == 0 {
				return d.eof(err)
			}
			continue
		}
		d.start, d.end = 0, 0
		n, err := d.r.Read(d.buf)
		d.end = n
		if n == 0 && err != nil {
			return d.eof(err)
		}
	}
}

func (d *Decoder) eof(err error) error {
	if errors.Is(err, io.EOF) {
		if !d.p.Started() {
			return io.EOF
		}
		d.p.Reset()
		return &DecodeError{Msg: msgUnexpectedEOF, Err: io.ErrUnexpectedEOF}
	}
	return err
}
