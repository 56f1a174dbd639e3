package broker

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/warrenhq/warren/controlplane/store"
	"github.com/warrenhq/warren/protocols/stream"
)

// AttachOptions are a viewer's attach parameters.
type AttachOptions struct {
	// Offset is what the viewer already holds when Resume is set; without
	// Resume the viewer is new (the agent decides where it starts).
	Offset   uint64
	Resume   bool
	Takeover bool // take the driver role at once (driver tickets only)
}

// Accept upgrades the viewer's request and returns its stream; the broker
// calls it once it has reached the agent (or found it offline), so that a
// refusal can still be an HTTP answer.
type Accept func() (stream.Conn, error)

// Relay backoff between agent dials.
const (
	minRedial = 250 * time.Millisecond
	maxRedial = 5 * time.Second
)

// relay is one viewer's attachment.
type relay struct {
	b        *Broker
	a        Attachment
	viewerID string
	viewer   stream.Conn
	cancel   context.CancelCauseFunc

	// offset is the end of the output relayed to the viewer (have: any);
	// written by the agent pump only.
	offset uint64
	have   bool

	role      atomic.Value  // string: the role the agent last announced
	lastPong  atomic.Int64  // unix nanos of the viewer's last Pong
	agentSeen atomic.Int64  // unix nanos of the agent link's last frame
	roleKnown chan struct{} // closed once the agent announced a role or is offline
	knownOnce sync.Once

	mu    sync.Mutex
	agent stream.Conn // the current agent link; nil while offline (guarded by mu)
}

// Errors that end a relay.
var (
	errViewerGone = errors.New("viewer gone")
	errEnded      = errors.New("session ended")
	errCut        = errors.New("relay cut")
)

// Attach relays a viewer holding the redeemed attachment a to the session
// on its agent, frame by frame both ways, until the viewer leaves, the
// session ends, the viewer's access is revoked or the broker closes. The
// agent is dialled first: a session the agent no longer has is refused
// before accept is called. If the agent is offline, the viewer is accepted
// and told (Control state agent_offline) and the broker re-dials; so it
// does when the agent link breaks, resuming at the end of what it relayed.
func (b *Broker) Attach(ctx context.Context, a Attachment, opts AttachOptions, accept Accept) error {
	if a.Role != store.TicketDriver {
		opts.Takeover = false
	}
	r := &relay{b: b, a: a, viewerID: "v_" + randomID(), roleKnown: make(chan struct{}), offset: opts.Offset, have: opts.Resume}
	r.role.Store("")
	agent, err := r.dial(ctx, opts.Takeover)
	var ae *agentError
	switch {
	case errors.Is(err, errSessionGone):
		return &Error{Status: http.StatusGone, Code: "session_ended", Message: "the session has ended"}
	case errors.As(err, &ae):
		b.log.Warn("the agent refused an attach", "session_id", a.Session.ID, "err", err)
		return &Error{Status: http.StatusBadGateway, Code: "agent_error", Message: "the agent refused the attach (" + sanitize(ae.Code) + ")"}
	case err != nil && !errors.Is(err, errAgentOffline):
		return err
	}
	viewer, err := accept()
	if err != nil {
		if agent != nil {
			agent.Close()
		}
		return err
	}
	r.viewer = viewer
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	r.cancel = cancel // before the relay is listed: cutRelays reads it
	if !b.addRelay(r) {
		viewer.Close()
		if agent != nil {
			agent.Close()
		}
		return errors.New("broker closed")
	}
	defer b.wg.Done()
	defer b.removeRelay(r)
	stop := context.AfterFunc(b.ctx, func() { cancel(errCut) })
	defer stop()

	b.audit(ctx, store.AuditEvent{OrgID: a.Session.OrgID, ActorID: a.UserID, Action: "session.attach", ObjectID: a.Session.ID,
		Result: store.AuditAllowed, SourceIP: a.SourceIP}, map[string]any{"role": a.Role, "viewer_id": r.viewerID,
		"offset": opts.Offset, "resume": opts.Resume})
	if opts.Takeover {
		r.auditTakeover(ctx)
	}
	now := time.Now().UnixNano()
	r.lastPong.Store(now)
	r.agentSeen.Store(now)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); r.fromViewer(ctx) }()
	go func() { defer wg.Done(); r.ping(ctx) }()
	err = r.run(ctx, agent)
	cancel(err)
	wg.Wait()
	r.setAgent(nil)
	if errors.Is(context.Cause(ctx), errViewerGone) {
		closeNow(viewer)
	} else {
		viewer.Close()
	}
	b.log.Info("viewer detached", "session_id", a.Session.ID, "viewer_id", r.viewerID, "user_id", a.UserID,
		"cause", context.Cause(ctx))
	return nil
}

func (b *Broker) addRelay(r *relay) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return false
	}
	b.wg.Add(1)
	set := b.relays[r.a.Session.ID]
	if set == nil {
		set = map[*relay]struct{}{}
		b.relays[r.a.Session.ID] = set
	}
	set[r] = struct{}{}
	return true
}

func (b *Broker) removeRelay(r *relay) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.relays[r.a.Session.ID], r)
	if len(b.relays[r.a.Session.ID]) == 0 {
		delete(b.relays, r.a.Session.ID)
	}
}

// cutRelays ends the relays of session id that match.
func (b *Broker) cutRelays(id string, match func(*relay) bool) {
	b.mu.Lock()
	var cut []*relay
	for r := range b.relays[id] {
		cut = append(cut, r)
	}
	b.mu.Unlock()
	for _, r := range cut {
		if match(r) {
			r.cancel(errCut)
		}
	}
}

// dial opens an agent link resuming at the relayed offset.
func (r *relay) dial(ctx context.Context, takeover bool) (stream.Conn, error) {
	role := stream.RoleObserver
	if r.a.Role == store.TicketDriver {
		role = stream.RoleDriver
	}
	return r.b.agents.attach(ctx, r.a.Session.DeviceID, r.a.Session.ID, attachParams{
		role: role, viewer: r.viewerID, offset: r.offset, resume: r.have, takeover: takeover,
	})
}

// run pumps agent frames to the viewer, re-dialling the agent after any
// break, until the session ends or ctx is done.
func (r *relay) run(ctx context.Context, agent stream.Conn) error {
	backoff := minRedial
	for {
		if agent != nil {
			r.setAgent(agent)
			err := r.fromAgent(ctx, agent)
			r.setAgent(nil)
			if ctx.Err() != nil || errors.Is(err, errEnded) {
				agent.Close()
			} else {
				closeNow(agent)
			}
			agent = nil
			if errors.Is(err, errEnded) || errors.Is(err, errViewerGone) || ctx.Err() != nil {
				return errors.Join(err, context.Cause(ctx))
			}
			r.b.log.Info("agent link lost; re-dialling", "session_id", r.a.Session.ID, "viewer_id", r.viewerID, "err", err)
			backoff = minRedial
		}
		r.knownOnce.Do(func() { close(r.roleKnown) })
		if err := r.toViewer(ctx, stream.Control{Type: stream.ControlState, State: stream.StateAgentOffline, Offset: r.offset}); err != nil {
			return err
		}
		for agent == nil {
			select {
			case <-ctx.Done():
				return context.Cause(ctx)
			case <-time.After(backoff):
			}
			backoff = min(backoff*2, maxRedial)
			a, err := r.dial(ctx, false)
			switch {
			case errors.Is(err, errSessionGone):
				return r.sessionGone(ctx)
			case err != nil:
				r.b.log.Debug("re-dialling the agent", "session_id", r.a.Session.ID, "err", err)
				if rs, gerr := r.b.cfg.Store.GetRemoteSession(ctx, r.a.Session.OrgID, r.a.Session.ID); gerr == nil && !rs.Live() {
					return r.sessionGone(ctx) // ended while the agent was away
				}
			default:
				agent = a
				r.agentSeen.Store(time.Now().UnixNano())
			}
		}
	}
}

// sessionGone tells the viewer the session ended (with the record's reason
// when the engine knows it) and ends the relay.
func (r *relay) sessionGone(ctx context.Context) error {
	reason := EndAgentLost
	if rs, err := r.b.cfg.Store.GetRemoteSession(ctx, r.a.Session.OrgID, r.a.Session.ID); err == nil && !rs.Live() {
		reason = rs.EndReason
	}
	if err := r.toViewer(ctx, stream.Control{Type: stream.ControlState, State: stream.StateEnded, Reason: reason, Offset: r.offset}); err != nil {
		return err
	}
	return errEnded
}

// fromAgent relays agent frames to the viewer until either side fails.
func (r *relay) fromAgent(ctx context.Context, agent stream.Conn) error {
	for {
		f, err := agent.ReadFrame(ctx)
		if err != nil {
			return err
		}
		r.agentSeen.Store(time.Now().UnixNano())
		switch f := f.(type) {
		case stream.Output:
			r.advance(f.Offset + uint64(len(f.Data)))
		case stream.Snapshot:
			if f.Final {
				r.offset, r.have = f.Offset, true
			}
		case stream.Gap:
			r.advance(f.To)
		case stream.Ping:
			if err := agent.WriteFrame(ctx, stream.Pong{Nonce: f.Nonce}); err != nil {
				return err
			}
			continue
		case stream.Pong:
			continue
		case stream.Control:
			if f.Type == stream.ControlState && f.Role != "" {
				r.role.Store(f.Role)
				r.knownOnce.Do(func() { close(r.roleKnown) })
			}
			if f.Type == stream.ControlState && f.State == stream.StateEnded {
				// The agent is the source of truth: record the end now
				// rather than at its next report.
				r.b.end(context.WithoutCancel(ctx), r.a.Session, reasonOr(f.Reason, "ended"), "")
				if err := r.toViewer(ctx, f); err != nil {
					return err
				}
				return errEnded
			}
		}
		if err := r.toViewer(ctx, f); err != nil {
			return err
		}
	}
}

func (r *relay) advance(end uint64) {
	if !r.have || end > r.offset {
		r.offset, r.have = end, true
	}
}

// toViewer writes one frame to the viewer; a failure means it is gone.
func (r *relay) toViewer(ctx context.Context, f stream.Frame) error {
	if err := r.viewer.WriteFrame(ctx, f); err != nil {
		r.cancel(errViewerGone)
		return errViewerGone
	}
	return nil
}

// fromViewer relays the viewer's frames to the agent, enforcing roles:
// Input and Resize only from the current driver, takeover only with a
// driver ticket; anything else a viewer may not send is refused. Pongs
// keep the viewer alive; the engine answers its Pings itself.
func (r *relay) fromViewer(ctx context.Context) {
	select {
	case <-r.roleKnown:
	case <-ctx.Done():
		return
	}
	for {
		f, err := r.viewer.ReadFrame(ctx)
		if err != nil {
			r.cancel(errViewerGone)
			return
		}
		switch f := f.(type) {
		case stream.Pong:
			r.lastPong.Store(time.Now().UnixNano())
			continue
		case stream.Ping:
			r.toViewer(ctx, stream.Pong{Nonce: f.Nonce})
			continue
		case stream.Input, stream.Resize:
			if r.a.Role != store.TicketDriver || r.role.Load() != stream.RoleDriver {
				r.toViewer(ctx, stream.Control{Type: stream.ControlError, Code: stream.CodeNotDriver,
					Message: "only the driver may type or resize"})
				continue
			}
		case stream.Control:
			if f.Type != stream.ControlTakeover {
				continue
			}
			if r.a.Role != store.TicketDriver {
				r.toViewer(ctx, stream.Control{Type: stream.ControlError, Code: stream.CodeNotDriver,
					Message: "an observer cannot take over"})
				continue
			}
			r.auditTakeover(ctx)
		case stream.Ack:
		default:
			r.toViewer(ctx, stream.Control{Type: stream.ControlError, Code: stream.CodeBadFrame,
				Message: "a viewer may not send this frame"})
			continue
		}
		if agent := r.currentAgent(); agent != nil {
			agent.WriteFrame(ctx, f) // a failure shows in the agent pump
		}
	}
}

// ping pings the viewer and the agent link every PingEvery; a viewer
// without a Pong for three periods is dropped, an agent link silent for
// three periods is closed (and re-dialled).
func (r *relay) ping(ctx context.Context) {
	every := r.b.cfg.PingEvery
	dead := 3 * every
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := time.Now()
		if now.Sub(time.Unix(0, r.lastPong.Load())) > dead {
			r.b.log.Info("dropping a viewer that stopped answering pings", "session_id", r.a.Session.ID, "viewer_id", r.viewerID)
			r.cancel(errViewerGone)
			return
		}
		r.toViewer(ctx, stream.Ping{Nonce: nonce()})
		if agent := r.currentAgent(); agent != nil {
			if now.Sub(time.Unix(0, r.agentSeen.Load())) > dead {
				agent.Close()
				continue
			}
			agent.WriteFrame(ctx, stream.Ping{Nonce: nonce()})
		}
	}
}

func (r *relay) setAgent(c stream.Conn) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.agent = c
}

func (r *relay) currentAgent() stream.Conn {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.agent
}

func (r *relay) auditTakeover(ctx context.Context) {
	r.b.audit(ctx, store.AuditEvent{OrgID: r.a.Session.OrgID, ActorID: r.a.UserID, Action: "session.takeover",
		ObjectID: r.a.Session.ID, Result: store.AuditAllowed, SourceIP: r.a.SourceIP}, map[string]any{"viewer_id": r.viewerID})
}

// closeNow closes c without a close handshake where it can (a peer that
// may be gone would make the handshake wait).
func closeNow(c stream.Conn) {
	if cn, ok := c.(interface{ CloseNow() error }); ok {
		cn.CloseNow()
		return
	}
	c.Close()
}

func nonce() uint64 {
	var b [8]byte
	rand.Read(b[:])
	return binary.BigEndian.Uint64(b[:])
}

func randomID() string {
	var b [12]byte
	rand.Read(b[:])
	return idEncoding.EncodeToString(b[:])
}
