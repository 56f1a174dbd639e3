package stream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"
)

// Viewer errors.
var (
	// ErrSessionEnded is returned by Viewer.Run when the session ended (a
	// Control state StateEnded).
	ErrSessionEnded = errors.New("stream: session ended")
	// ErrInputOverflow is returned by Viewer.Send when the frames waiting
	// for a connection would exceed MaxViewerQueue bytes.
	ErrInputOverflow = errors.New("stream: input queue full")
	// errDeadLink ends an attachment whose peer missed deadPongs pongs.
	errDeadLink = errors.New("stream: peer stopped answering pings")
)

// Viewer limits and defaults.
const (
	// MaxViewerQueue bounds the payload bytes of the frames a Viewer keeps
	// while it is not connected (or its connection is slow).
	MaxViewerQueue = 64 << 10
	// maxQueuedFrames bounds their number.
	maxQueuedFrames = 4096
	// deadPongs unanswered pings mark a link dead.
	deadPongs = 3

	defaultMinBackoff   = 100 * time.Millisecond
	defaultMaxBackoff   = 2 * time.Second
	defaultPingInterval = 10 * time.Second
)

// permanentError marks a Dial error after which a Viewer stops retrying.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// Permanent marks a Dial error after which a Viewer stops retrying (bad
// ticket, 403/404, session ended). Permanent(nil) is nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err: err}
}

// IsPermanent reports whether err (or an error it wraps) was marked by
// Permanent.
func IsPermanent(err error) bool {
	var p *permanentError
	return errors.As(err, &p)
}

// ViewerConfig configures a Viewer. Zero values are the documented defaults.
type ViewerConfig struct {
	// Dial opens a new attachment. resume=false means "new viewer, no
	// offset" (the first dial of a Viewer created with Resume=false);
	// afterwards every redial passes resume=true and the Viewer's offset.
	Dial   func(ctx context.Context, offset uint64, resume bool) (Conn, error)
	Offset uint64 // starting offset when Resume is true
	Resume bool
	// OnOutput receives every output byte exactly once, in order; data is
	// only valid during the call.
	OnOutput func(data []byte)
	// OnSnapshot receives one complete snapshot (its chunks joined); the
	// offset jumps to the snapshot's Offset.
	OnSnapshot func(data []byte)
	// OnGap reports lost bytes [from, to) (no snapshot was available).
	OnGap func(from, to uint64)
	// OnControl receives state changes and errors, after the Viewer's own
	// bookkeeping.
	OnControl func(c Control)
	// MinBackoff and MaxBackoff bound the wait between dials (defaults
	// 100ms and 2s).
	MinBackoff, MaxBackoff time.Duration
	// PingInterval is how often the Viewer pings (default 10s); 3 missed
	// pongs mark the link dead and the Viewer re-attaches.
	PingInterval time.Duration
	Logger       *slog.Logger // nil: discard
}

// Viewer is the client end of a session stream: it attaches through Dial and
// re-attaches after any cut, resuming at its offset, so its callbacks see
// every output byte once and in order (or an explicit gap or snapshot). It
// answers pings, pings the peer itself, and acks every AckEvery bytes.
//
// Its methods are safe for concurrent use. Callbacks run one at a time on a
// goroutine of Run and must not block for long (they hold up the stream).
type Viewer struct {
	cfg  ViewerConfig
	log  *slog.Logger
	kick chan struct{} // wakes the current attachment's writer

	mu sync.Mutex
	// guarded by mu
	offset    uint64 // output held up to here
	role      string
	connected bool
	queue     []queued // frames from Send not yet written
	queued    int      // their payload bytes
}

// queued is a frame waiting in a Viewer's queue and its payload size.
type queued struct {
	f    Frame
	cost int
}

// NewViewer returns a Viewer; call Run to attach.
func NewViewer(cfg ViewerConfig) *Viewer {
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = defaultMinBackoff
	}
	if cfg.MaxBackoff < cfg.MinBackoff {
		cfg.MaxBackoff = max(defaultMaxBackoff, cfg.MinBackoff)
	}
	if cfg.PingInterval <= 0 {
		cfg.PingInterval = defaultPingInterval
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	v := &Viewer{cfg: cfg, log: log, kick: make(chan struct{}, 1)}
	if cfg.Resume {
		v.offset = cfg.Offset
	}
	return v
}

// Offset returns the offset up to which the Viewer holds the output.
func (v *Viewer) Offset() uint64 {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.offset
}

// Role returns the last role the agent or engine announced (RoleDriver or
// RoleObserver; "" before any).
func (v *Viewer) Role() string {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.role
}

// Connected reports whether an attachment is up.
func (v *Viewer) Connected() bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.connected
}

func (v *Viewer) setConnected(c bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.connected = c
}

// Send queues Input, Resize or Control for the current attachment. Frames
// sent while reconnecting are kept and sent in order after re-attaching; when
// the waiting frames would exceed MaxViewerQueue bytes Send returns
// ErrInputOverflow and drops f. A queued Resize followed by another keeps only
// the newer one. Frames are written at most once per attachment: a frame
// whose write failed is sent again on the next one, but one that was written
// just before a cut may be lost (the protocol has no input acks).
func (v *Viewer) Send(f Frame) error {
	switch f.(type) {
	case Input, Resize, Control:
	default:
		return fmt.Errorf("%w: a viewer does not send %T", ErrBadFrame, f)
	}
	b, err := AppendFrame(nil, f)
	if err != nil {
		return err
	}
	cost := len(b) - 1
	v.mu.Lock()
	defer v.mu.Unlock()
	if n := len(v.queue); n > 0 {
		if _, ok := f.(Resize); ok {
			if _, ok := v.queue[n-1].f.(Resize); ok {
				v.queue[n-1].f = f
				v.wake()
				return nil
			}
		}
	}
	if v.queued+cost > MaxViewerQueue || len(v.queue) >= maxQueuedFrames {
		return ErrInputOverflow
	}
	v.queue = append(v.queue, queued{f: f, cost: cost})
	v.queued += cost
	v.wake()
	return nil
}

// wake nudges the writer without blocking.
func (v *Viewer) wake() {
	select {
	case v.kick <- struct{}{}:
	default:
	}
}

// popQueued removes and returns the oldest queued frame.
func (v *Viewer) popQueued() (queued, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if len(v.queue) == 0 {
		return queued{}, false
	}
	q := v.queue[0]
	v.queue[0] = queued{}
	v.queue = v.queue[1:]
	v.queued -= q.cost
	return q, true
}

// unpop puts back a frame whose write failed, ahead of the others.
func (v *Viewer) unpop(q queued) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.queue = append([]queued{q}, v.queue...)
	v.queued += q.cost
}

// Run attaches and re-attaches (resuming at Offset) until ctx ends (returns
// ctx.Err()), the session ends (a Control state StateEnded: returns
// ErrSessionEnded), or Dial returns a Permanent error (returned). Run must
// not be called concurrently with itself.
func (v *Viewer) Run(ctx context.Context) error {
	resume := v.cfg.Resume
	backoff := v.cfg.MinBackoff
	for {
		conn, err := v.cfg.Dial(ctx, v.Offset(), resume)
		if err == nil && conn == nil {
			err = errors.New("stream: Dial returned no conn")
		}
		switch {
		case err == nil:
			resume = true
			healthy, err := v.attach(ctx, conn)
			if errors.Is(err, ErrSessionEnded) {
				return err
			}
			if healthy {
				backoff = v.cfg.MinBackoff
			}
			if ctx.Err() == nil {
				v.log.Debug("stream: attachment lost", "offset", v.Offset(), "err", err)
			}
		case IsPermanent(err):
			return err
		case ctx.Err() == nil:
			v.log.Debug("stream: dial failed", "offset", v.Offset(), "err", err)
		}
		if !sleep(ctx, jitter(backoff)) {
			return ctx.Err()
		}
		backoff = min(2*backoff, v.cfg.MaxBackoff)
	}
}

// jitter spreads d over [d/2, d) so viewers cut together do not redial
// together.
func jitter(d time.Duration) time.Duration {
	return d/2 + rand.N(d/2+1)
}

// sleep waits d or until ctx ends, reporting whether it waited d.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
