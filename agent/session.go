package agent

import (
	"cmp"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/warrenhq/warren/controlplane/wire"
	"github.com/warrenhq/warren/protocols/ssh"
	"github.com/warrenhq/warren/protocols/stream"
	"github.com/warrenhq/warren/protocols/term"
)

// reasonTakenOver is the Reason of the state change that tells a driver
// another viewer took the driver role.
const reasonTakenOver = "taken_over"

// Viewer caps per session. The session list travels in one netmap stream
// message (wire.MaxMessage): MaxAgentSessions*2 sessions of maxViewers
// listed viewers fit.
const (
	maxViewers       = 16 // listed viewers
	maxHiddenViewers = 4  // recorders
)

// session is one SSH session: the connection, its output buffer and
// screen model, its viewers and its timeouts. One goroutine (pump) reads the
// PTY into the buffer and then the screen; another (supervise) enforces the
// timeouts.
type session struct {
	m         *sessions
	id        string
	orgID     string
	ownerID   string
	service   string
	hostKey   string
	startedAt time.Time
	conn      *ssh.Session
	detachTO  time.Duration
	idleTO    time.Duration
	wake      chan struct{} // capacity 1: viewers changed, for supervise
	done      chan struct{} // closed when the session has ended

	lastActivity atomic.Int64 // unix nanoseconds of the last input or output

	mu sync.Mutex
	// guarded by mu
	buf           *stream.Buffer // nil once released
	screen        *term.Screen   // nil once released
	finalOffset   uint64         // the output's end, once ended
	viewers       []*viewer      // in attach order
	driver        *viewer
	cols, rows    uint16
	reason        string // why it ends; set once, by the first end
	ended         bool
	endedAtTime   time.Time
	detachedSince time.Time // when the last listed viewer left (or start)
}

func newSession(m *sessions, req wire.OpenSession, svc wire.Service, conn *ssh.Session) *session {
	now := time.Now()
	s := &session{
		m: m, id: req.ID, orgID: req.OrgID, ownerID: req.OwnerID, service: svc.Name,
		hostKey: conn.HostKey(), startedAt: now, conn: conn,
		detachTO: seconds(req.DetachedTimeoutSec, wire.DefaultDetachTimeout),
		idleTO:   seconds(req.IdleTimeoutSec, wire.DefaultIdleTimeout),
		wake:     make(chan struct{}, 1),
		done:     make(chan struct{}),
		cols:     cmp.Or(req.Cols, ssh.DefaultCols),
		rows:     cmp.Or(req.Rows, ssh.DefaultRows),
		buf:      newBuffer(req.BufferSize),
	}
	s.screen = newScreen(s.cols, s.rows)
	s.detachedSince = now
	s.lastActivity.Store(now.UnixNano())
	return s
}

func seconds(n int64, def time.Duration) time.Duration {
	if n <= 0 {
		return def
	}
	return time.Duration(n) * time.Second
}

// pump copies the PTY's output into the buffer, then the screen model (the
// same bytes, so the screen's offsets are the buffer's), until the session
// ends, and then records how it ended.
func (s *session) pump() {
	buf, screen := s.buf, s.screen // pump runs before any release
	p := make([]byte, 32<<10)
	for {
		n, err := s.conn.Read(p)
		if n > 0 {
			buf.Write(p[:n])
			screen.Write(p[:n])
			s.lastActivity.Store(time.Now().UnixNano())
		}
		if err != nil {
			break
		}
	}
	status, err := s.conn.Wait()
	reason := wire.EndExited
	if errors.Is(err, ssh.ErrConnectionLost) {
		reason = wire.EndConnection
	}
	s.conn.Close()
	s.mu.Lock()
	if s.reason == "" {
		s.reason = reason
	}
	s.ended = true
	s.endedAtTime = time.Now()
	s.finalOffset = buf.End()
	reason = s.reason
	s.mu.Unlock()
	// Viewers drain the buffer, then see the end.
	buf.Close()
	close(s.done)
	s.m.log.Info("session ended", keySession, s.id, "reason", reason, "exit_status", status)
	s.m.ended()
}

// supervise ends the session when no listed viewer was attached for the
// detached timeout, or nothing was typed or printed for the idle timeout.
func (s *session) supervise() {
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for {
		deadline, reason := s.nextDeadline()
		wait := time.Until(deadline)
		if wait <= 0 {
			s.end(reason)
			return
		}
		t.Reset(wait)
		select {
		case <-s.done:
			return
		case <-s.wake:
		case <-t.C:
		}
	}
}

// nextDeadline is the earliest timeout and its reason.
func (s *session) nextDeadline() (time.Time, string) {
	deadline := time.Unix(0, s.lastActivity.Load()).Add(s.idleTO)
	reason := wire.EndIdle
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.listedLocked() == 0 {
		if d := s.detachedSince.Add(s.detachTO); d.Before(deadline) {
			deadline, reason = d, wire.EndDetached
		}
	}
	return deadline, reason
}

// end ends the session for reason (the first reason given wins) by closing
// the connection; pump then winds it down.
func (s *session) end(reason string) {
	s.mu.Lock()
	if s.reason == "" {
		s.reason = reason
	}
	s.mu.Unlock()
	s.conn.Close()
}

func (s *session) isEnded() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ended
}

// endedAt is when the session ended (zero while it runs).
func (s *session) endedAt() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.endedAtTime
}

// release drops an ended session's output and screen unless a viewer is
// still attached.
func (s *session) release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended && len(s.viewers) == 0 {
		s.buf, s.screen = nil, nil
	}
}

// output returns the buffer and screen (nil after release) and whether the
// session ended, with the output's final end offset.
func (s *session) output() (*stream.Buffer, *term.Screen, bool, uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf, s.screen, s.ended, s.finalOffset
}

// endReason returns why the session ended ("" while it runs).
func (s *session) endReason() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.ended {
		return ""
	}
	return s.reason
}

// info is the session as the API lists it.
func (s *session) info() wire.SessionInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	in := wire.SessionInfo{
		ID: s.id, OrgID: s.orgID, OwnerID: s.ownerID, Service: s.service, Protocol: "ssh",
		State: wire.SessionRunning, StartedAt: s.startedAt.UTC(),
		LastActivity: time.Unix(0, s.lastActivity.Load()).UTC(),
		HostKey:      s.hostKey, Cols: s.cols, Rows: s.rows,
		Viewers: []wire.ViewerInfo{},
	}
	if s.ended {
		in.State, in.EndReason, in.EndedAt = wire.SessionEnded, s.reason, s.endedAtTime.UTC()
		in.Offset = s.finalOffset
	}
	if s.buf != nil {
		in.Offset, in.BufferStart = s.buf.End(), s.buf.Start()
	}
	for _, v := range s.viewers {
		if !v.hidden {
			in.Viewers = append(in.Viewers, wire.ViewerInfo{ID: v.id, Role: v.role, AttachedAt: v.attachedAt.UTC()})
		}
	}
	return in
}

// listedLocked counts the attached viewers that are not hidden.
func (s *session) listedLocked() int {
	n := 0
	for _, v := range s.viewers {
		if !v.hidden {
			n++
		}
	}
	return n
}

// errTooManyViewers refuses an attach beyond the caps.
var errTooManyViewers = errors.New("too many viewers on this session")

// addViewer attaches v and decides its role: a viewer that may drive gets
// the driver role if there is none or it takes over; otherwise it observes.
func (s *session) addViewer(v *viewer, takeover bool) error {
	s.mu.Lock()
	n, max := s.listedLocked(), maxViewers
	if v.hidden {
		n, max = len(s.viewers)-n, maxHiddenViewers
	}
	if n >= max {
		s.mu.Unlock()
		return errTooManyViewers
	}
	v.role = stream.RoleObserver
	if v.mayDrive && !s.ended && (s.driver == nil || takeover) {
		s.moveDriverLocked(v)
	}
	s.viewers = append(s.viewers, v)
	s.mu.Unlock()
	s.viewersChanged()
	return nil
}

// removeViewer detaches v.
func (s *session) removeViewer(v *viewer) {
	s.mu.Lock()
	s.viewers = slices.DeleteFunc(s.viewers, func(o *viewer) bool { return o == v })
	if s.driver == v {
		s.driver = nil
	}
	if !v.hidden && s.listedLocked() == 0 {
		s.detachedSince = time.Now()
	}
	s.mu.Unlock()
	s.viewersChanged()
}

func (s *session) viewersChanged() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
	s.m.changed()
}

// takeover moves the driver role to v. It reports false if v may not drive.
func (s *session) takeover(v *viewer) bool {
	s.mu.Lock()
	if !v.mayDrive || s.ended {
		s.mu.Unlock()
		return false
	}
	if s.driver != v {
		s.moveDriverLocked(v)
	}
	v.sendLocked(stream.Control{Type: stream.ControlState, State: stream.StateAttached,
		Role: stream.RoleDriver, Offset: s.endLocked()})
	s.mu.Unlock()
	s.viewersChanged()
	return true
}

// moveDriverLocked makes v the driver and tells the previous one.
func (s *session) moveDriverLocked(v *viewer) {
	prev := s.driver
	s.driver = v
	v.role = stream.RoleDriver
	if prev == nil {
		return
	}
	prev.role = stream.RoleObserver
	prev.sendLocked(stream.Control{Type: stream.ControlState, State: stream.StateAttached,
		Role: stream.RoleObserver, Offset: s.endLocked(), Reason: reasonTakenOver})
}

func (s *session) endLocked() uint64 {
	if s.buf == nil {
		return s.finalOffset
	}
	return s.buf.End()
}

// isDriver reports whether v holds the driver role.
func (s *session) isDriver(v *viewer) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.driver == v && !s.ended
}

// input writes the driver's keystrokes to the shell.
func (s *session) input(data []byte) error {
	s.lastActivity.Store(time.Now().UnixNano())
	_, err := s.conn.Write(data)
	return err
}

// resize applies the driver's terminal size to the PTY and the screen.
func (s *session) resize(cols, rows uint16) error {
	s.mu.Lock()
	s.cols, s.rows = cols, rows
	if s.screen != nil {
		s.screen.Resize(int(cols), int(rows))
	}
	s.mu.Unlock()
	return s.conn.WindowChange(cols, rows)
}

// kickViewers cuts every viewer's connection.
func (s *session) kickViewers() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, v := range s.viewers {
		v.kick()
	}
}
