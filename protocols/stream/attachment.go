package stream

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// attachment is the state of one Viewer connection: what its reader owes its
// writer (a Pong, an Ack) and the snapshot being joined.
type attachment struct {
	v    *Viewer
	conn Conn

	mu sync.Mutex
	// guarded by mu
	pong     *Pong  // a Pong to send
	ackTo    uint64 // an Ack to send, if > acked
	acked    uint64 // last offset acked (or dialed at)
	pingSent uint64 // nonce of the last Ping sent
	pongSeen uint64 // highest nonce answered

	// owned by the reader
	snapping  bool
	snapOff   uint64
	snap      []byte
	gotFrames bool
}

// attach runs one attachment until it fails, ctx ends or the session ends.
// healthy reports whether the peer sent at least one frame.
func (v *Viewer) attach(ctx context.Context, conn Conn) (healthy bool, err error) {
	a := &attachment{v: v, conn: conn, acked: v.Offset()}
	v.setConnected(true)
	defer v.setConnected(false)

	// The loops run on a ctx that ctx's end does not cancel, so that Run's
	// end closes the conn gracefully instead of tearing it down.
	lctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	var wg sync.WaitGroup
	errc := make(chan error, 2)
	wg.Add(2)
	go func() {
		defer wg.Done()
		errc <- a.readLoop(lctx)
	}()
	go func() {
		defer wg.Done()
		errc <- a.writeLoop(lctx)
	}()

	select {
	case err = <-errc:
	case <-ctx.Done():
		err = ctx.Err()
	}
	graceful := ctx.Err() != nil || errors.Is(err, ErrSessionEnded)
	if cn, ok := conn.(closeNower); ok && !graceful {
		cn.CloseNow()
	} else {
		conn.Close()
	}
	cancel()
	wg.Wait()
	return a.gotFrames, err
}

// readLoop reads and handles frames until an error.
func (a *attachment) readLoop(ctx context.Context) error {
	for {
		f, err := a.conn.ReadFrame(ctx)
		if err != nil {
			return fmt.Errorf("reading frame: %w", err)
		}
		a.gotFrames = true
		if err := a.handle(f); err != nil {
			return err
		}
	}
}

func (a *attachment) handle(f Frame) error {
	switch f := f.(type) {
	case Output:
		return a.output(f)
	case Gap:
		return a.gap(f)
	case Snapshot:
		return a.snapshot(f)
	case Ping:
		a.mu.Lock()
		a.pong = &Pong{Nonce: f.Nonce}
		a.mu.Unlock()
		a.v.wake()
	case Pong:
		a.mu.Lock()
		if f.Nonce <= a.pingSent && f.Nonce > a.pongSeen {
			a.pongSeen = f.Nonce
		}
		a.mu.Unlock()
	case Control:
		return a.control(f)
	}
	return nil // Ack, Input, Resize: nothing for a viewer
}

// output delivers the bytes of f beyond the Viewer's offset.
func (a *attachment) output(f Output) error {
	if a.snapping {
		return fmt.Errorf("%w: output inside a snapshot", ErrBadFrame)
	}
	off := a.v.Offset()
	if f.Offset > off {
		return fmt.Errorf("%w: output at %d, expected %d", ErrBadFrame, f.Offset, off)
	}
	end := f.Offset + uint64(len(f.Data))
	if end <= off {
		return nil // a resend we already have
	}
	if a.v.cfg.OnOutput != nil {
		a.v.cfg.OnOutput(f.Data[off-f.Offset:])
	}
	a.advance(end)
	return nil
}

// gap skips the Viewer's offset over lost bytes.
func (a *attachment) gap(f Gap) error {
	if a.snapping {
		return fmt.Errorf("%w: gap inside a snapshot", ErrBadFrame)
	}
	off := a.v.Offset()
	if f.To <= off {
		return nil
	}
	if f.From > off {
		return fmt.Errorf("%w: gap from %d, expected %d", ErrBadFrame, f.From, off)
	}
	if a.v.cfg.OnGap != nil {
		a.v.cfg.OnGap(off, f.To)
	}
	a.advance(f.To)
	return nil
}

// snapshot joins snapshot chunks and delivers the whole on the final one.
func (a *attachment) snapshot(f Snapshot) error {
	if a.snapping && f.Offset != a.snapOff {
		return fmt.Errorf("%w: snapshot chunk at %d inside a snapshot at %d", ErrBadFrame, f.Offset, a.snapOff)
	}
	if len(a.snap)+len(f.Data) > MaxSnapshot {
		return fmt.Errorf("%w: snapshot over %d bytes", ErrFrameTooLarge, MaxSnapshot)
	}
	a.snapping, a.snapOff = true, f.Offset
	a.snap = append(a.snap, f.Data...)
	if !f.Final {
		return nil
	}
	data := a.snap
	a.snapping, a.snap = false, nil
	if a.v.cfg.OnSnapshot != nil {
		a.v.cfg.OnSnapshot(data)
	}
	a.mu.Lock()
	a.acked = min(a.acked, f.Offset) // a snapshot may move the offset back
	a.mu.Unlock()
	a.advance(f.Offset)
	return nil
}

// advance moves the Viewer's offset to end and schedules an Ack every
// AckEvery bytes.
func (a *attachment) advance(end uint64) {
	a.v.mu.Lock()
	a.v.offset = end
	a.v.mu.Unlock()
	a.mu.Lock()
	due := end > a.acked && end-a.acked >= AckEvery
	if due {
		a.ackTo = end
	}
	a.mu.Unlock()
	if due {
		a.v.wake()
	}
}

func (a *attachment) control(c Control) error {
	if c.Type == ControlState && c.Role != "" {
		a.v.mu.Lock()
		a.v.role = c.Role
		a.v.mu.Unlock()
	}
	if a.v.cfg.OnControl != nil {
		a.v.cfg.OnControl(c)
	}
	if c.Type == ControlState && c.State == StateEnded {
		return ErrSessionEnded
	}
	return nil
}

// writeLoop sends what the reader owes (Pong, Ack), the queued frames, and a
// Ping every PingInterval, until an error.
func (a *attachment) writeLoop(ctx context.Context) error {
	ticker := time.NewTicker(a.v.cfg.PingInterval)
	defer ticker.Stop()
	for {
		if err := a.flush(ctx); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-a.v.kick:
		case <-ticker.C:
			if err := a.ping(ctx); err != nil {
				return err
			}
		}
	}
}

// flush writes the owed Pong and Ack, then the queue.
func (a *attachment) flush(ctx context.Context) error {
	a.mu.Lock()
	pong := a.pong
	a.pong = nil
	var ack *Ack
	if a.ackTo > a.acked {
		ack = &Ack{Offset: a.ackTo}
		a.acked = a.ackTo
	}
	a.mu.Unlock()
	if pong != nil {
		if err := a.conn.WriteFrame(ctx, *pong); err != nil {
			return fmt.Errorf("writing pong: %w", err)
		}
	}
	if ack != nil {
		if err := a.conn.WriteFrame(ctx, *ack); err != nil {
			return fmt.Errorf("writing ack: %w", err)
		}
	}
	for {
		q, ok := a.v.popQueued()
		if !ok {
			return nil
		}
		if err := a.conn.WriteFrame(ctx, q.f); err != nil {
			a.v.unpop(q)
			return fmt.Errorf("writing %T: %w", q.f, err)
		}
	}
}

// ping sends the next Ping, or fails when deadPongs pings went unanswered.
func (a *attachment) ping(ctx context.Context) error {
	a.mu.Lock()
	missed := a.pingSent - a.pongSeen
	a.pingSent++
	nonce := a.pingSent
	a.mu.Unlock()
	if missed >= deadPongs {
		return errDeadLink
	}
	if err := a.conn.WriteFrame(ctx, Ping{Nonce: nonce}); err != nil {
		return fmt.Errorf("writing ping: %w", err)
	}
	return nil
}
