package stream

import (
	"net"
	"sync"
)

// FrameConn carries length-prefixed frames over a net.Conn (TCP, an overlay
// connection, or a WebSocket wrapped by websocket.NetConn). ReadFrame and
// WriteFrame are each safe for concurrent use; deadlines are those of the
// underlying conn, and a deadline that interrupts a frame never breaks framing
// (see Decoder and Encoder). The FrameConn owns the conn: Close closes it.
type FrameConn struct {
	c net.Conn

	rmu sync.Mutex
	dec *Decoder // guarded by rmu

	wmu sync.Mutex
	enc *Encoder // guarded by wmu
}

// NewFrameConn returns a FrameConn over c.
func NewFrameConn(c net.Conn) *FrameConn {
	return &FrameConn{c: c, dec: NewDecoder(c), enc: NewEncoder(c)}
}

// ReadFrame returns the next frame from the peer.
func (fc *FrameConn) ReadFrame() (Frame, error) {
	fc.rmu.Lock()
	defer fc.rmu.Unlock()
	return fc.dec.Decode()
}

// WriteFrame sends f to the peer.
func (fc *FrameConn) WriteFrame(f Frame) error {
	_, err := fc.writeFrame(f)
	return err
}

func (fc *FrameConn) writeFrame(f Frame) (committed bool, err error) {
	fc.wmu.Lock()
	defer fc.wmu.Unlock()
	return fc.enc.encode(f)
}

// tryWriteFrame sends f unless another write is in progress, so a reader
// sending an Ack or Pong never blocks behind a stalled writer.
func (fc *FrameConn) tryWriteFrame(f Frame) (sent bool, err error) {
	if !fc.wmu.TryLock() {
		return false, nil
	}
	defer fc.wmu.Unlock()
	return fc.enc.encode(f)
}

// Conn returns the underlying conn, for deadlines and addresses.
func (fc *FrameConn) Conn() net.Conn { return fc.c }

// Close closes the underlying conn.
func (fc *FrameConn) Close() error { return fc.c.Close() }
