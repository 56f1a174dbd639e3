// Package stream implements the resumable session stream protocol spoken
// browser <-> engine and engine <-> agent: binary frames (output with absolute
// byte offsets, input, resize, ack, ping/pong, gap and JSON control), the
// agent's ring buffer of output indexed by absolute offset, and adapters that
// carry frames over any net.Conn.
//
// It imports only the standard library and github.com/coder/websocket (for
// WebSocketConn). It must never import the engine, the agent or the overlay:
// callers hand in a net.Conn, a *websocket.Conn or one message's bytes.
package stream

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"unicode/utf8"
)

// Size limits. The payload is everything after a frame's type byte.
const (
	MaxFrame        = 64 << 10     // largest payload of any frame
	MaxOutput       = 32 << 10     // largest Data of an Output frame
	MaxEncodedFrame = 1 + MaxFrame // largest frame including its type byte
)

// Errors returned by decoders. Decoding never panics and never allocates more
// than MaxEncodedFrame for one frame; both errors are wrapped with detail, so
// test them with errors.Is.
var (
	ErrFrameTooLarge = errors.New("stream: frame too large")
	ErrBadFrame      = errors.New("stream: bad frame")
)

// Kind is a frame's type byte on the wire.
type Kind byte

// Frame kinds. Values are part of the wire format and never change.
const (
	KindOutput   Kind = 1
	KindInput    Kind = 2
	KindResize   Kind = 3
	KindAck      Kind = 4
	KindPing     Kind = 5
	KindPong     Kind = 6
	KindGap      Kind = 7
	KindControl  Kind = 8
	KindSnapshot Kind = 9
)

// Frame is one of Output, Input, Resize, Ack, Ping, Pong, Gap, Control or
// Snapshot.
type Frame interface {
	Kind() Kind
}

// Output carries session output starting at absolute byte offset Offset.
type Output struct {
	Offset uint64
	Data   []byte // at most MaxOutput bytes
}

// Input carries keystrokes from the driver to the session.
type Input struct {
	Data []byte // at most MaxFrame bytes
}

// Resize changes the terminal size; both dimensions are non-zero.
type Resize struct {
	Cols, Rows uint16
}

// Ack tells the output's sender that every byte before Offset was received.
type Ack struct {
	Offset uint64
}

// Ping asks the peer to answer with a Pong carrying the same Nonce.
type Ping struct {
	Nonce uint64
}

// Pong answers a Ping.
type Pong struct {
	Nonce uint64
}

// Gap says the bytes [From, To) are lost (the buffer no longer holds them);
// the next Output starts at To. From < To.
type Gap struct {
	From, To uint64
}

func (Output) Kind() Kind   { return KindOutput }
func (Input) Kind() Kind    { return KindInput }
func (Resize) Kind() Kind   { return KindResize }
func (Ack) Kind() Kind      { return KindAck }
func (Ping) Kind() Kind     { return KindPing }
func (Pong) Kind() Kind     { return KindPong }
func (Gap) Kind() Kind      { return KindGap }
func (Control) Kind() Kind  { return KindControl }
func (Snapshot) Kind() Kind { return KindSnapshot }

// AppendFrame appends the encoding of f (type byte, fixed fields big-endian,
// then payload; no length prefix) to b. It returns ErrFrameTooLarge or
// ErrBadFrame for a frame a decoder would reject.
func AppendFrame(b []byte, f Frame) ([]byte, error) {
	switch f := f.(type) {
	case Output:
		if len(f.Data) > MaxOutput {
			return b, fmt.Errorf("%w: output of %d bytes", ErrFrameTooLarge, len(f.Data))
		}
		if f.Offset+uint64(len(f.Data)) < f.Offset {
			return b, fmt.Errorf("%w: output offset overflows", ErrBadFrame)
		}
		b = binary.BigEndian.AppendUint64(append(b, byte(KindOutput)), f.Offset)
		return append(b, f.Data...), nil
	case Input:
		if len(f.Data) > MaxFrame {
			return b, fmt.Errorf("%w: input of %d bytes", ErrFrameTooLarge, len(f.Data))
		}
		return append(append(b, byte(KindInput)), f.Data...), nil
	case Resize:
		if f.Cols == 0 || f.Rows == 0 {
			return b, fmt.Errorf("%w: resize to %dx%d", ErrBadFrame, f.Cols, f.Rows)
		}
		b = binary.BigEndian.AppendUint16(append(b, byte(KindResize)), f.Cols)
		return binary.BigEndian.AppendUint16(b, f.Rows), nil
	case Ack:
		return binary.BigEndian.AppendUint64(append(b, byte(KindAck)), f.Offset), nil
	case Ping:
		return binary.BigEndian.AppendUint64(append(b, byte(KindPing)), f.Nonce), nil
	case Pong:
		return binary.BigEndian.AppendUint64(append(b, byte(KindPong)), f.Nonce), nil
	case Gap:
		if f.From >= f.To {
			return b, fmt.Errorf("%w: gap [%d,%d)", ErrBadFrame, f.From, f.To)
		}
		b = binary.BigEndian.AppendUint64(append(b, byte(KindGap)), f.From)
		return binary.BigEndian.AppendUint64(b, f.To), nil
	case Control:
		return appendControl(b, f)
	case Snapshot:
		return appendSnapshot(b, f)
	}
	return b, fmt.Errorf("%w: unknown frame type %T", ErrBadFrame, f)
}

// DecodeFrame decodes one frame (as produced by AppendFrame, for example one
// WebSocket message). The returned frame does not alias b.
func DecodeFrame(b []byte) (Frame, error) {
	if len(b) == 0 {
		return nil, fmt.Errorf("%w: empty frame", ErrBadFrame)
	}
	if len(b) > MaxEncodedFrame {
		return nil, fmt.Errorf("%w: %d bytes", ErrFrameTooLarge, len(b))
	}
	k, p := Kind(b[0]), b[1:]
	switch k {
	case KindOutput:
		return decodeOutput(p)
	case KindInput:
		return Input{Data: clone(p)}, nil
	case KindResize:
		return decodeResize(p)
	case KindAck, KindPing, KindPong:
		return decodeUint64(k, p)
	case KindGap:
		return decodeGap(p)
	case KindControl:
		return decodeControl(p)
	case KindSnapshot:
		return decodeSnapshot(p)
	}
	return nil, fmt.Errorf("%w: unknown type %d", ErrBadFrame, k)
}

func decodeOutput(p []byte) (Frame, error) {
	if len(p) < 8 {
		return nil, fmt.Errorf("%w: output header of %d bytes", ErrBadFrame, len(p))
	}
	f := Output{Offset: binary.BigEndian.Uint64(p), Data: p[8:]}
	if len(f.Data) > MaxOutput {
		return nil, fmt.Errorf("%w: output of %d bytes", ErrFrameTooLarge, len(f.Data))
	}
	if f.Offset+uint64(len(f.Data)) < f.Offset {
		return nil, fmt.Errorf("%w: output offset overflows", ErrBadFrame)
	}
	f.Data = clone(f.Data)
	return f, nil
}

func decodeResize(p []byte) (Frame, error) {
	if len(p) != 4 {
		return nil, fmt.Errorf("%w: resize of %d bytes", ErrBadFrame, len(p))
	}
	f := Resize{Cols: binary.BigEndian.Uint16(p), Rows: binary.BigEndian.Uint16(p[2:])}
	if f.Cols == 0 || f.Rows == 0 {
		return nil, fmt.Errorf("%w: resize to %dx%d", ErrBadFrame, f.Cols, f.Rows)
	}
	return f, nil
}

func decodeUint64(k Kind, p []byte) (Frame, error) {
	if len(p) != 8 {
		return nil, fmt.Errorf("%w: frame type %d of %d bytes", ErrBadFrame, k, len(p))
	}
	v := binary.BigEndian.Uint64(p)
	switch k {
	case KindAck:
		return Ack{Offset: v}, nil
	case KindPing:
		return Ping{Nonce: v}, nil
	}
	return Pong{Nonce: v}, nil
}

func decodeGap(p []byte) (Frame, error) {
	if len(p) != 16 {
		return nil, fmt.Errorf("%w: gap of %d bytes", ErrBadFrame, len(p))
	}
	f := Gap{From: binary.BigEndian.Uint64(p), To: binary.BigEndian.Uint64(p[8:])}
	if f.From >= f.To {
		return nil, fmt.Errorf("%w: gap [%d,%d)", ErrBadFrame, f.From, f.To)
	}
	return f, nil
}

func decodeControl(p []byte) (Frame, error) {
	if len(p) == 0 || p[0] != '{' || !utf8.Valid(p) {
		return nil, fmt.Errorf("%w: control is not a UTF-8 JSON object", ErrBadFrame)
	}
	var c Control
	if err := json.Unmarshal(p, &c); err != nil {
		return nil, fmt.Errorf("%w: control: %v", ErrBadFrame, err)
	}
	if c.Type == "" {
		return nil, fmt.Errorf("%w: control without type", ErrBadFrame)
	}
	return c, nil
}

func appendControl(b []byte, c Control) ([]byte, error) {
	if c.Type == "" {
		return b, fmt.Errorf("%w: control without type", ErrBadFrame)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(c); err != nil {
		return b, fmt.Errorf("%w: control: %v", ErrBadFrame, err)
	}
	p := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	if len(p) > MaxFrame {
		return b, fmt.Errorf("%w: control of %d bytes", ErrFrameTooLarge, len(p))
	}
	return append(append(b, byte(KindControl)), p...), nil
}

// clone copies p, returning nil for an empty p so decoded frames compare
// equal to frames built without data.
func clone(p []byte) []byte {
	if len(p) == 0 {
		return nil
	}
	return bytes.Clone(p)
}
