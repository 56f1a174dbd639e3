package agent

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/warrenhq/warren/protocols/stream"
	"github.com/warrenhq/warren/protocols/term"
)

// Viewer connection limits.
const (
	// viewerWriteTimeout drops a viewer that cannot take a frame for this
	// long (its link is stalled); it resumes by offset when it comes back.
	viewerWriteTimeout = 30 * time.Second
	// viewerQueue is how many control frames (pongs, errors, role changes)
	// may wait for a viewer's writer; a viewer that lets more pile up is
	// dropped.
	viewerQueue = 64
	// snapshotRetry is how long to wait for the screen model to catch up
	// with the buffer (the pump feeds the buffer first).
	snapshotRetry = 5 * time.Millisecond
)

// viewer is one attached WebSocket.
type viewer struct {
	id         string
	hidden     bool // a recorder: not listed, does not count as attached
	mayDrive   bool // attached with role=driver
	attachedAt time.Time
	ctx        context.Context // ends when the viewer is detached or cut
	cancel     context.CancelFunc
	ctl        chan stream.Frame // control frames for the writer
	acked      atomic.Uint64     // the viewer's last Ack

	role string // guarded by session.mu
}

func newViewer(id string, hidden, mayDrive bool) *viewer {
	ctx, cancel := context.WithCancel(context.Background())
	return &viewer{
		id: id, hidden: hidden, mayDrive: mayDrive, attachedAt: time.Now(),
		ctx: ctx, cancel: cancel, ctl: make(chan stream.Frame, viewerQueue),
	}
}

// sendLocked queues a control frame without blocking (it is called with
// the session's lock held); a viewer whose queue is full is cut.
func (v *viewer) sendLocked(f stream.Frame) {
	select {
	case v.ctl <- f:
	default:
		v.cancel()
	}
}

// send is sendLocked for callers that hold no lock.
func (v *viewer) send(f stream.Frame) { v.sendLocked(f) }

// kick cuts the viewer's connection.
func (v *viewer) kick() { v.cancel() }

// attachedControl is the first frame a viewer gets.
func (s *session) attachedControl(v *viewer) stream.Control {
	s.mu.Lock()
	defer s.mu.Unlock()
	return stream.Control{Type: stream.ControlState, State: stream.StateAttached, Role: v.role, Offset: s.endLocked()}
}

// serveViewer runs an attached viewer until it leaves, is cut, or the
// session ends (then it gets all output, the end, and a normal close). v
// was added with addViewer; serveViewer removes it.
func (s *session) serveViewer(conn stream.Conn, v *viewer, offset uint64, resume bool) {
	defer s.removeViewer(v)
	defer v.cancel()
	if err := writeFrame(v.ctx, conn, s.attachedControl(v)); err != nil {
		closeNow(conn)
		return
	}
	out := make(chan stream.Frame)
	var wg sync.WaitGroup
	wg.Go(func() {
		defer close(out)
		s.produce(v.ctx, offset, resume, out)
	})
	wg.Go(func() { s.writeLoop(conn, v, out) })
	s.readLoop(conn, v)
	v.cancel()
	wg.Wait()
	closeNow(conn)
}

func writeFrame(ctx context.Context, conn stream.Conn, f stream.Frame) error {
	ctx, cancel := context.WithTimeout(ctx, viewerWriteTimeout)
	defer cancel()
	return conn.WriteFrame(ctx, f)
}

// closeNow closes conn without a close handshake where it can.
func closeNow(conn stream.Conn) {
	if cn, ok := conn.(interface{ CloseNow() error }); ok {
		cn.CloseNow()
		return
	}
	conn.Close()
}

// writeLoop is the only writer of conn after the first frame: control
// frames and output, until the output ends (then it closes the connection
// normally) or the viewer is cut.
func (s *session) writeLoop(conn stream.Conn, v *viewer, out <-chan stream.Frame) {
	defer v.cancel()
	for {
		var f stream.Frame
		select {
		case <-v.ctx.Done():
			return
		case f = <-v.ctl:
		case g, ok := <-out:
			if !ok {
				if v.ctx.Err() == nil {
					conn.Close() // the session ended and the viewer has it all
				}
				return
			}
			f = g
		}
		if err := writeFrame(v.ctx, conn, f); err != nil {
			return
		}
	}
}

// readLoop handles the viewer's frames until its connection fails.
func (s *session) readLoop(conn stream.Conn, v *viewer) {
	for {
		f, err := conn.ReadFrame(v.ctx)
		if errors.Is(err, stream.ErrBadFrame) || errors.Is(err, stream.ErrFrameTooLarge) {
			v.send(stream.ErrorControl(err)) // one bad message; the stream is still in sync
			continue
		}
		if err != nil {
			return
		}
		s.handleFrame(v, f)
	}
}

var notDriver = stream.Control{Type: stream.ControlError, Code: stream.CodeNotDriver,
	Message: "only the driver may type or resize"}

func (s *session) handleFrame(v *viewer, f stream.Frame) {
	switch f := f.(type) {
	case stream.Input:
		if !s.isDriver(v) {
			v.send(notDriver)
			return
		}
		if len(f.Data) > 0 {
			s.input(f.Data) // fails only once the session is ending
		}
	case stream.Resize:
		if !s.isDriver(v) {
			v.send(notDriver)
			return
		}
		s.resize(f.Cols, f.Rows)
	case stream.Ping:
		v.send(stream.Pong{Nonce: f.Nonce})
	case stream.Ack:
		v.acked.Store(f.Offset)
	case stream.Pong:
	case stream.Control:
		if f.Type == stream.ControlTakeover && !s.takeover(v) {
			v.send(stream.Control{Type: stream.ControlError, Code: stream.CodeNotDriver,
				Message: "this viewer attached as an observer and cannot take over"})
		}
	default:
		v.send(stream.Control{Type: stream.ControlError, Code: stream.CodeBadFrame,
			Message: "unexpected frame from a viewer"})
	}
}

// produce sends the session's output to out from the viewer's offset, as
// raw output while the buffer holds it and as a snapshot of the screen
// otherwise, then the end of the session. It returns when the session has
// ended and everything was sent, or ctx ends.
func (s *session) produce(ctx context.Context, pos uint64, resume bool, out chan<- stream.Frame) {
	send := func(f stream.Frame) bool {
		select {
		case out <- f:
			return true
		case <-ctx.Done():
			return false
		}
	}
	buf, screen, _, final := s.output()
	if buf == nil { // an ended session whose output was released
		if pos < final {
			if !send(stream.Gap{From: pos, To: final}) {
				return
			}
			pos = final
		}
		send(s.endedControl(pos))
		return
	}
	snap := !resume && buf.Start() > 0 || resume && (pos < buf.Start() || pos > buf.End())
	if !resume {
		pos = 0
	}
	for {
		if snap {
			var ok bool
			if pos, ok = sendSnapshot(ctx, screen, buf, send); !ok {
				return
			}
			snap = false
		}
		data, _, gapTo, err := buf.ReadOffset(pos, stream.MaxOutput)
		if err != nil || gapTo > 0 { // fell behind the buffer
			snap = true
			continue
		}
		if len(data) > 0 {
			if !send(stream.Output{Offset: pos, Data: data}) {
				return
			}
			pos += uint64(len(data))
			continue
		}
		if err := buf.Wait(ctx, pos); errors.Is(err, stream.ErrBufferClosed) {
			send(s.endedControl(pos))
			return
		} else if err != nil {
			return
		}
	}
}

// sendSnapshot sends a snapshot of the screen and returns its offset. The
// screen's offset always sits on a sequence boundary; it may lag the buffer
// by the bytes being fed, so a snapshot older than the buffer's start is
// taken again.
func sendSnapshot(ctx context.Context, screen *term.Screen, buf *stream.Buffer, send func(stream.Frame) bool) (uint64, bool) {
	for {
		data, off := screen.Snapshot()
		if off >= buf.Start() {
			for _, f := range stream.SplitSnapshot(off, data) {
				if !send(f) {
					return 0, false
				}
			}
			return off, true
		}
		select {
		case <-ctx.Done():
			return 0, false
		case <-time.After(snapshotRetry):
		}
	}
}

func (s *session) endedControl(offset uint64) stream.Control {
	return stream.Control{Type: stream.ControlState, State: stream.StateEnded, Offset: offset, Reason: s.endReason()}
}
