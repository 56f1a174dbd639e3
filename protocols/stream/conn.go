package stream

import (
	"context"
	"errors"
	"net"
	"time"
)

// Conn carries frames between two peers: one binary WebSocket message per
// frame (WebSocketConn) or length-prefixed frames on a byte stream
// (LengthPrefixedConn). ReadFrame must not be called concurrently with
// itself; WriteFrame is safe for concurrent use and may run alongside
// ReadFrame. Close is idempotent and unblocks pending calls.
type Conn interface {
	ReadFrame(ctx context.Context) (Frame, error)
	WriteFrame(ctx context.Context, f Frame) error
	Close() error
}

// closeNower is implemented by a Conn that can close without a graceful
// handshake (a WebSocket whose peer may be gone).
type closeNower interface {
	CloseNow() error
}

// LengthPrefixedConn returns a Conn carrying length-prefixed frames over c
// (see FrameConn). A ctx that ends during ReadFrame or WriteFrame interrupts
// the call through c's deadlines without breaking framing. The Conn owns c.
func LengthPrefixedConn(c net.Conn) Conn {
	return &lpConn{fc: NewFrameConn(c)}
}

type lpConn struct {
	fc *FrameConn
}

func (c *lpConn) ReadFrame(ctx context.Context) (Frame, error) {
	var f Frame
	err := withDeadline(ctx, c.fc.c.SetReadDeadline, func() (err error) {
		f, err = c.fc.ReadFrame()
		return err
	})
	return f, err
}

func (c *lpConn) WriteFrame(ctx context.Context, f Frame) error {
	return withDeadline(ctx, c.fc.c.SetWriteDeadline, func() error {
		return c.fc.WriteFrame(f)
	})
}

func (c *lpConn) Close() error { return c.fc.Close() }

// withDeadline runs op, moving the deadline set by setDeadline into the past
// when ctx ends so that op returns; it then reports ctx's error.
func withDeadline(ctx context.Context, setDeadline func(time.Time) error, op func() error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	fired := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		setDeadline(time.Unix(1, 0))
		close(fired)
	})
	err := op()
	if !stop() {
		<-fired
		setDeadline(time.Time{}) // clear it for the next call
		if err != nil {
			return errors.Join(ctx.Err(), err)
		}
	}
	return err
}
