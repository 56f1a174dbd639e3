package broker

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/warrenhq/warren/controlplane/store"
	"github.com/warrenhq/warren/protocols/stream"
)

// recorderViewer is the viewer id recorders attach with (hidden: agents
// neither list them nor count them as attached).
const recorderViewer = "recorder"

// recorder keeps a hidden viewer attached to a recorded session and writes
// what it sees to the session's asciicast file.
type recorder struct {
	b      *Broker
	rs     store.RemoteSession
	cancel context.CancelFunc
	done   chan struct{}

	mu sync.Mutex
	w  *castWriter // guarded by mu
	v  *stream.Viewer
}

// startRecorder starts the session's recorder unless it runs already.
func (b *Broker) startRecorder(rs store.RemoteSession) {
	b.mu.Lock()
	if _, ok := b.recorders[rs.ID]; ok || b.closed {
		b.mu.Unlock()
		return
	}
	ctx, cancel := context.WithCancel(b.ctx)
	r := &recorder{b: b, rs: rs, cancel: cancel, done: make(chan struct{})}
	b.recorders[rs.ID] = r
	b.wg.Add(1)
	b.mu.Unlock()
	go func() {
		defer b.wg.Done()
		defer close(r.done)
		defer func() {
			b.mu.Lock()
			if b.recorders[rs.ID] == r {
				delete(b.recorders, rs.ID)
			}
			b.mu.Unlock()
		}()
		r.run(ctx)
	}()
}

// stopRecorder stops a session's recorder (it flushes first) and waits.
func (b *Broker) stopRecorder(id string) {
	b.mu.Lock()
	r := b.recorders[id]
	b.mu.Unlock()
	if r != nil {
		r.cancel()
		<-r.done
	}
}

// run records until the session ends or ctx is done.
func (r *recorder) run(ctx context.Context) {
	b, rs := r.b, r.rs
	log := b.log.With("session_id", rs.ID)
	path := RecordingPath(b.cfg.DataDir, rs.OrgID, rs.ID)
	w, offset, err := openCast(path, castHeader{Version: 2, Width: rs.Cols, Height: rs.Rows, Timestamp: rs.StartedAt.Unix(),
		Env: map[string]string{"TERM": "xterm-256color"}, Title: rs.Service}, b.now)
	if err != nil {
		log.Error("opening the recording; the session is not recorded", "path", path, "err", err)
		return
	}
	r.w = w
	log.Info("recording", "path", path, "resume_offset", offset)
	r.v = stream.NewViewer(stream.ViewerConfig{
		Dial:   r.dial,
		Offset: offset, Resume: true,
		OnOutput: func(data []byte) {
			at := r.v.Offset() // the Viewer advances after the callback
			r.locked(func(w *castWriter) { w.output(at, data) })
		},
		OnSnapshot: func(data []byte) {
			log.Warn("recording has a hole: the agent sent a screen snapshot", "bytes", len(data))
			r.locked(func(w *castWriter) { w.snapshot(data) })
		},
		OnGap: func(from, to uint64) {
			log.Warn("recording has a hole: output lost", "from", from, "to", to)
			r.locked(func(w *castWriter) { w.gap(from, to) })
		},
		OnControl: func(c stream.Control) {
			if c.Type == stream.ControlState && c.State == stream.StateEnded {
				b.end(context.WithoutCancel(ctx), rs, reasonOr(c.Reason, "ended"), "")
			}
		},
		MinBackoff: 250 * time.Millisecond, MaxBackoff: 5 * time.Second,
		Logger: log,
	})
	flushDone := make(chan struct{})
	fctx, stopFlush := context.WithCancel(ctx)
	go func() {
		defer close(flushDone)
		r.flushLoop(fctx)
	}()
	err = r.v.Run(ctx)
	stopFlush()
	<-flushDone
	ended := errors.Is(err, stream.ErrSessionEnded)
	r.mu.Lock()
	ferr := r.w.finish(ended)
	r.mu.Unlock()
	if ferr != nil {
		log.Error("finishing the recording", "err", ferr)
	}
	if !ended && ctx.Err() == nil {
		log.Info("recorder stopped", "err", err)
	}
}

func (r *recorder) locked(fn func(w *castWriter)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	fn(r.w)
}

// flushLoop makes the recording durable every FlushEvery.
func (r *recorder) flushLoop(ctx context.Context) {
	t := time.NewTicker(r.b.cfg.FlushEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		r.mu.Lock()
		err := r.w.flush()
		r.mu.Unlock()
		if err != nil {
			r.b.log.Error("flushing a recording", "session_id", r.rs.ID, "err", err)
		}
	}
}

// dial attaches the recorder to the session on its agent, hidden.
func (r *recorder) dial(ctx context.Context, offset uint64, resume bool) (stream.Conn, error) {
	c, err := r.b.agents.attach(ctx, r.rs.DeviceID, r.rs.ID, attachParams{role: stream.RoleObserver,
		viewer: recorderViewer, offset: offset, resume: resume, hidden: true})
	if errors.Is(err, errSessionGone) {
		return nil, stream.Permanent(err)
	}
	return c, err
}
