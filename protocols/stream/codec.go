package stream

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// prefixLen is the size of the big-endian uint32 length prefix that frames
// carry on a byte stream.
const prefixLen = 4

// Decoder reads length-prefixed frames from a byte stream. A Read that fails
// mid-frame (for example on a deadline) keeps the bytes already read, so the
// next Decode continues the same frame. A Decoder is not safe for concurrent
// use.
type Decoder struct {
	r   io.Reader
	buf []byte // the current frame read so far, prefix included
	err error  // sticky: the stream lost framing
}

// NewDecoder returns a Decoder reading from r.
func NewDecoder(r io.Reader) *Decoder {
	return &Decoder{r: r}
}

// Decode returns the next frame. An error wrapping ErrBadFrame for a frame
// whose length was valid leaves the stream in sync (the frame is skipped); a
// bad length prefix is returned on every later call, since framing is lost.
// Errors of the underlying reader are returned unwrapped.
func (d *Decoder) Decode() (Frame, error) {
	if d.err != nil {
		return nil, d.err
	}
	if err := d.fill(prefixLen); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(d.buf)
	if n > MaxEncodedFrame {
		d.err = fmt.Errorf("%w: length prefix %d", ErrFrameTooLarge, n)
		return nil, d.err
	}
	if err := d.fill(prefixLen + int(n)); err != nil {
		return nil, err
	}
	f, err := DecodeFrame(d.buf[prefixLen:])
	d.buf = d.buf[:0]
	return f, err
}

// fill reads until buf holds k bytes, never reading past them.
func (d *Decoder) fill(k int) error {
	if cap(d.buf) < k {
		nb := make([]byte, len(d.buf), k)
		copy(nb, d.buf)
		d.buf = nb
	}
	for len(d.buf) < k {
		m, err := d.r.Read(d.buf[len(d.buf):k])
		d.buf = d.buf[:len(d.buf)+m]
		if len(d.buf) == k {
			return nil
		}
		if errors.Is(err, io.EOF) && len(d.buf) > 0 {
			return fmt.Errorf("%w: truncated frame: %w", ErrBadFrame, io.ErrUnexpectedEOF)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// Encoder writes length-prefixed frames to a byte stream. When a Write fails
// after sending part of a frame (for example on a deadline), the rest of that
// frame is kept and sent first by the next Encode, so the stream never loses
// framing. An Encoder is not safe for concurrent use.
type Encoder struct {
	w       io.Writer
	buf     []byte
	pending []byte // the unsent tail of a partially written frame
}

// NewEncoder returns an Encoder writing to w.
func NewEncoder(w io.Writer) *Encoder {
	return &Encoder{w: w}
}

// Encode writes f. Errors of the underlying writer are returned unwrapped.
func (e *Encoder) Encode(f Frame) error {
	_, err := e.encode(f)
	return err
}

// encode writes f and reports whether f was committed: fully sent, or partly
// sent with its tail pending (it will reach the peer on the next Encode).
func (e *Encoder) encode(f Frame) (committed bool, err error) {
	if len(e.pending) > 0 {
		n, err := e.w.Write(e.pending)
		e.pending = e.pending[n:]
		if err != nil {
			return false, err
		}
	}
	b, err := AppendFrame(append(e.buf[:0], 0, 0, 0, 0), f)
	if err != nil {
		return false, err
	}
	binary.BigEndian.PutUint32(b, uint32(len(b)-prefixLen))
	e.buf = b
	n, err := e.w.Write(b)
	if err != nil && n == 0 {
		return false, err
	}
	if n < len(b) {
		e.pending = append([]byte(nil), b[n:]...)
	}
	return true, err
}
