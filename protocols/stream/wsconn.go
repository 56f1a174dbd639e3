package stream

import (
	"context"
	"fmt"

	"github.com/coder/websocket"
)

// WebSocketConn returns a Conn carrying one frame per binary WebSocket
// message over c. It sets c's read limit to a little more than the largest
// frame (a larger message closes c with StatusMessageTooBig); a text message
// is an error wrapping ErrBadFrame. The Conn owns c: Close performs the
// WebSocket close handshake. As with coder/websocket, a ctx that ends during
// ReadFrame or WriteFrame closes the connection.
func WebSocketConn(c *websocket.Conn) Conn {
	c.SetReadLimit(MaxFrame + 1 + 8)
	return &wsConn{c: c}
}

type wsConn struct {
	c *websocket.Conn
}

func (w *wsConn) ReadFrame(ctx context.Context) (Frame, error) {
	typ, b, err := w.c.Read(ctx)
	if err != nil {
		return nil, err
	}
	if typ != websocket.MessageBinary {
		return nil, fmt.Errorf("%w: text message of %d bytes", ErrBadFrame, len(b))
	}
	return DecodeFrame(b)
}

func (w *wsConn) WriteFrame(ctx context.Context, f Frame) error {
	b, err := AppendFrame(nil, f)
	if err != nil {
		return err
	}
	return w.c.Write(ctx, websocket.MessageBinary, b)
}

func (w *wsConn) Close() error { return w.c.Close(websocket.StatusNormalClosure, "") }

// CloseNow closes the connection without the close handshake, for a peer
// that may be gone.
func (w *wsConn) CloseNow() error { return w.c.CloseNow() }
