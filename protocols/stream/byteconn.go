package stream

import (
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// AckEvery is how many output bytes a ByteConn consumes between Acks.
const AckEvery = 64 << 10

// Role selects which frames a ByteConn writes and reads.
type Role int

const (
	// RoleViewer writes Input and reads Output (acking it): a browser or CLI.
	RoleViewer Role = iota
	// RoleAgent writes Output with increasing offsets and reads Input.
	RoleAgent
	// RolePeer writes and reads Output: two peers form a symmetric byte pipe.
	RolePeer
)

func (r Role) writesOutput() bool { return r != RoleViewer }
func (r Role) readsOutput() bool  { return r != RoleAgent }

// GapError is returned by ByteConn.Read when the peer reports lost bytes
// [From, To). The conn stays usable: the next Read continues at To.
type GapError struct {
	From, To uint64
}

func (e *GapError) Error() string {
	return fmt.Sprintf("stream: bytes [%d,%d) lost", e.From, e.To)
}

// ByteConn is a net.Conn over a FrameConn: Write sends Input or Output frames
// (by Role), Read yields the data of the frames the role reads, tracking
// offsets (duplicated bytes from a resend are dropped; a hole without a Gap
// frame is an error wrapping ErrBadFrame) and acking every AckEvery bytes.
// Pings are answered. A Control with State StateEnded reads as io.EOF. Other
// frames go to the handler given to NewByteConn, or are dropped.
//
// Read and Write are each safe for concurrent use; deadlines are those of the
// underlying conn. Acks and Pongs are sent from Read only when no Write is in
// progress (otherwise later), so Read never waits for a stalled writer.
type ByteConn struct {
	fc     *FrameConn
	role   Role
	handle func(Frame)
	acked  atomic.Uint64 // highest offset the peer acked

	rmu sync.Mutex
	// guarded by rmu
	rpending []byte // data read but not yet returned
	roff     uint64 // offset after rpending
	sentAck  uint64 // last offset acked to the peer
	pong     *Pong  // a Pong still to send
	rerr     error  // sticky read error (io.EOF after StateEnded)

	wmu  sync.Mutex
	woff uint64 // guarded by wmu: offset of the next Output written

	closeOnce sync.Once
	closeErr  error
}

var _ net.Conn = (*ByteConn)(nil)

// NewByteConn returns a ByteConn over fc, owning it (Close closes fc). handle,
// if not nil, receives the frames the role does not consume (Resize,
// Control, ...) from within Read.
func NewByteConn(fc *FrameConn, role Role, handle func(Frame)) *ByteConn {
	return &ByteConn{fc: fc, role: role, handle: handle}
}

// Acked returns the highest offset the peer acknowledged.
func (bc *ByteConn) Acked() uint64 { return bc.acked.Load() }

// Read implements net.Conn.
func (bc *ByteConn) Read(p []byte) (int, error) {
	bc.rmu.Lock()
	defer bc.rmu.Unlock()
	for len(bc.rpending) == 0 {
		if bc.rerr != nil {
			return 0, bc.rerr
		}
		bc.sendPendingLocked()
		f, err := bc.fc.ReadFrame()
		if err != nil {
			return 0, err
		}
		if err := bc.handleLocked(f); err != nil {
			return 0, err
		}
	}
	n := copy(p, bc.rpending)
	bc.rpending = bc.rpending[n:]
	bc.sendPendingLocked()
	return n, nil
}

// sendPendingLocked sends a due Ack or Pong if the write side is free.
func (bc *ByteConn) sendPendingLocked() {
	if bc.pong != nil {
		if sent, _ := bc.fc.tryWriteFrame(*bc.pong); sent {
			bc.pong = nil
		}
	}
	consumed := bc.roff - uint64(len(bc.rpending))
	if bc.role.readsOutput() && consumed-bc.sentAck >= AckEvery {
		if sent, _ := bc.fc.tryWriteFrame(Ack{Offset: consumed}); sent {
			bc.sentAck = consumed
		}
	}
}

func (bc *ByteConn) handleLocked(f Frame) error {
	switch f := f.(type) {
	case Output:
		if bc.role.readsOutput() {
			return bc.outputLocked(f)
		}
	case Input:
		if !bc.role.readsOutput() {
			bc.rpending = f.Data
			return nil
		}
	case Gap:
		if bc.role.readsOutput() && f.From <= bc.roff && bc.roff < f.To {
			from := bc.roff
			bc.roff = f.To
			return &GapError{From: from, To: f.To}
		}
	case Ack:
		if f.Offset > bc.acked.Load() {
			bc.acked.Store(f.Offset)
		}
		return nil
	case Ping:
		bc.pong = &Pong{Nonce: f.Nonce}
		return nil
	case Control:
		if f.Type == ControlState && f.State == StateEnded {
			bc.rerr = io.EOF
		}
	}
	if bc.handle != nil {
		bc.handle(f)
	}
	return nil
}

// outputLocked accepts data at exactly roff, dropping bytes already seen.
func (bc *ByteConn) outputLocked(f Output) error {
	end := f.Offset + uint64(len(f.Data))
	if f.Offset > bc.roff {
		return fmt.Errorf("%w: output at %d, expected %d", ErrBadFrame, f.Offset, bc.roff)
	}
	if end <= bc.roff {
		return nil
	}
	bc.rpending = f.Data[bc.roff-f.Offset:]
	bc.roff = end
	return nil
}

// Write implements net.Conn, splitting p into frames. Bytes of a frame cut by
// a deadline count as written: its tail goes out first on the next Write.
func (bc *ByteConn) Write(p []byte) (int, error) {
	bc.wmu.Lock()
	defer bc.wmu.Unlock()
	limit := MaxFrame
	if bc.role.writesOutput() {
		limit = MaxOutput
	}
	n := 0
	for len(p) > 0 {
		chunk := p[:min(len(p), limit)]
		var f Frame = Input{Data: chunk}
		if bc.role.writesOutput() {
			f = Output{Offset: bc.woff, Data: chunk}
		}
		committed, err := bc.fc.writeFrame(f)
		if committed {
			n += len(chunk)
			bc.woff += uint64(len(chunk))
			p = p[len(chunk):]
		}
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// LingerTimeout bounds how long Close waits for the peer to finish.
const LingerTimeout = 500 * time.Millisecond

// Close closes the underlying FrameConn. It is idempotent. If the conn can
// half-close (TCP), Close first sends FIN and discards what the peer still
// sends (Acks, Pongs) until the peer closes or LingerTimeout passes: closing
// TCP with unread data sends RST, which makes the peer drop output it has not
// read yet (net/http's lingering close, for the same reason).
func (bc *ByteConn) Close() error {
	bc.closeOnce.Do(func() { bc.closeErr = lingerClose(bc.fc.c) })
	return bc.closeErr
}

func lingerClose(c net.Conn) error {
	cw, ok := c.(interface{ CloseWrite() error })
	if !ok || cw.CloseWrite() != nil {
		return c.Close()
	}
	if c.SetReadDeadline(time.Now().Add(LingerTimeout)) == nil {
		io.Copy(io.Discard, c)
	}
	return c.Close()
}

// LocalAddr implements net.Conn.
func (bc *ByteConn) LocalAddr() net.Addr { return bc.fc.c.LocalAddr() }

// RemoteAddr implements net.Conn.
func (bc *ByteConn) RemoteAddr() net.Addr { return bc.fc.c.RemoteAddr() }

// SetDeadline implements net.Conn.
func (bc *ByteConn) SetDeadline(t time.Time) error { return bc.fc.c.SetDeadline(t) }

// SetReadDeadline implements net.Conn.
func (bc *ByteConn) SetReadDeadline(t time.Time) error { return bc.fc.c.SetReadDeadline(t) }

// SetWriteDeadline implements net.Conn.
func (bc *ByteConn) SetWriteDeadline(t time.Time) error { return bc.fc.c.SetWriteDeadline(t) }
