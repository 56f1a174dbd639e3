package agent

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/warrenhq/warren/controlplane/wire"
	"github.com/warrenhq/warren/protocols/ssh"
	"github.com/warrenhq/warren/protocols/stream"
	"github.com/warrenhq/warren/protocols/term"
)

// keySession is the log attribute of a session id.
const keySession = "session_id"

// Session housekeeping.
const (
	// outputRetention is how long an ended session keeps its output and
	// screen for a viewer (a recorder after an engine restart) to fetch the
	// tail; afterwards attaching only says how it ended.
	outputRetention = 2 * time.Minute
	// janitorEvery is how often ended sessions are released and dropped.
	janitorEvery = 15 * time.Second
	// shutdownGrace is how long viewers get to receive the end of their
	// sessions when the agent stops, before their connections are cut.
	shutdownGrace = 5 * time.Second
	// terminateWait bounds how long DELETE waits for the session to wind
	// down before answering.
	terminateWait = 10 * time.Second
)

// sessionOpts are the knobs tests turn (zero: production values).
type sessionOpts struct {
	keepaliveInterval time.Duration
	keepaliveFailures int
}

// sessions holds the agent's SSH sessions for one Run. Safe for concurrent
// use; shutdown ends every session and waits for every goroutine it
// started, viewer handlers included.
type sessions struct {
	log     *slog.Logger
	dial    DialFunc
	service func(name string) (wire.Service, bool) // from the current netmap
	opts    sessionOpts
	changes chan struct{} // capacity 1: the list changed, for the reporter
	// ctx is cancelled by shutdown: it stops the janitor and opens in
	// progress.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup // pumps, supervisors, the janitor, API handlers

	mu sync.Mutex
	// guarded by mu
	byID    map[string]*session
	opening map[string]bool // ids reserved by opens in progress
	closed  bool
}

func newSessions(log *slog.Logger, dial DialFunc, service func(string) (wire.Service, bool), opts sessionOpts) *sessions {
	ctx, cancel := context.WithCancel(context.Background())
	m := &sessions{
		log: log, dial: dial, service: service, opts: opts,
		changes: make(chan struct{}, 1),
		ctx:     ctx, cancel: cancel,
		byID:    map[string]*session{},
		opening: map[string]bool{},
	}
	m.wg.Go(m.janitor)
	return m
}

// changed tells the reporter the list changed; a pending notice is enough.
func (m *sessions) changed() {
	select {
	case m.changes <- struct{}{}:
	default:
	}
}

// enter counts an API handler in unless shutting down; the handler calls
// m.wg.Done when it returns.
func (m *sessions) enter() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return false
	}
	m.wg.Add(1)
	return true
}

// openError is an open failure with the API status and code to answer.
type openError struct {
	status  int
	code    string
	message string
	err     error // the cause, for the log
}

func (e *openError) Error() string { return e.message }
func (e *openError) Unwrap() error { return e.err }

// open opens a session to the named service and starts serving it. The
// caller drops its copy of the credential afterwards.
func (m *sessions) open(ctx context.Context, req wire.OpenSession) (*session, error) {
	svc, ok := m.service(req.Service)
	if !ok {
		return nil, &openError{status: 400, code: wire.CodeBadRequest,
			message: fmt.Sprintf("no service %q on this device", req.Service)}
	}
	if svc.Protocol != "ssh" {
		return nil, &openError{status: 400, code: wire.CodeBadRequest,
			message: fmt.Sprintf("service %q is %s, not ssh", req.Service, svc.Protocol)}
	}
	if err := m.reserve(req.ID); err != nil {
		return nil, err
	}
	defer m.unreserve(req.ID)
	// Shutdown cancels an open in progress.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(m.ctx, cancel)()
	cfg := ssh.Config{
		Addr: svc.Target, User: req.Username, Password: req.Password, HostKey: req.HostKey,
		Term: req.Term, Cols: req.Cols, Rows: req.Rows, Dial: ssh.DialFunc(m.dial),
		KeepaliveInterval: m.opts.keepaliveInterval, KeepaliveFailures: m.opts.keepaliveFailures,
		Logger: m.log.With(keySession, req.ID),
	}
	if req.PrivateKey != "" {
		cfg.PrivateKey = []byte(req.PrivateKey)
	}
	conn, err := ssh.Open(ctx, cfg)
	clear(cfg.PrivateKey)
	cfg.Password = ""
	if err != nil {
		return nil, sshOpenError(err)
	}
	s := newSession(m, req, svc, conn)
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		conn.Close()
		return nil, &openError{status: 503, code: "unavailable", message: "agent is stopping"}
	}
	m.byID[s.id] = s
	m.wg.Add(2)
	m.mu.Unlock()
	go func() { defer m.wg.Done(); s.pump() }()
	go func() { defer m.wg.Done(); s.supervise() }()
	m.log.Info("session opened", keySession, s.id, keyService, s.service, keyTarget, svc.Target, "host_key", s.hostKey)
	m.changed()
	return s, nil
}

// reserve claims id for an open in progress, within the session cap.
func (m *sessions) reserve(id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	switch {
	case m.closed:
		return &openError{status: 503, code: "unavailable", message: "agent is stopping"}
	case m.byID[id] != nil || m.opening[id]:
		return &openError{status: 409, code: wire.CodeSessionExists, message: fmt.Sprintf("session %s already exists", id)}
	case m.liveLocked()+len(m.opening) >= wire.MaxAgentSessions:
		return &openError{status: 429, code: wire.CodeSessionLimit,
			message: fmt.Sprintf("this agent holds its maximum of %d sessions", wire.MaxAgentSessions)}
	}
	m.opening[id] = true
	return nil
}

func (m *sessions) unreserve(id string) {
	m.mu.Lock()
	delete(m.opening, id)
	m.mu.Unlock()
}

func (m *sessions) liveLocked() int {
	n := 0
	for _, s := range m.byID {
		if !s.isEnded() {
			n++
		}
	}
	return n
}

// sshOpenError maps an ssh.Open failure to the wire's codes. Messages name
// what happened, never a credential.
func sshOpenError(err error) *openError {
	var mm *ssh.HostKeyMismatchError
	switch {
	case errors.As(err, &mm):
		return &openError{status: 409, code: wire.CodeHostKeyMismatch, err: err,
			message: fmt.Sprintf("host key mismatch: the server offered %s, expected %s", mm.Got, mm.Want)}
	case errors.Is(err, ssh.ErrAuthFailed):
		return &openError{status: 502, code: wire.CodeSSHAuthFailed, err: err,
			message: "the SSH server refused the credential"}
	case errors.Is(err, ssh.ErrBadKey):
		return &openError{status: 400, code: wire.CodeBadRequest, err: err,
			message: "private_key: not an unencrypted PEM private key"}
	}
	return &openError{status: 502, code: wire.CodeDialFailed, err: err,
		message: "cannot open an SSH session to the service's target"}
}

// get returns the session with id, or nil.
func (m *sessions) get(id string) *session {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.byID[id]
}

// list returns every session, oldest first.
func (m *sessions) list() wire.SessionList {
	m.mu.Lock()
	all := make([]*session, 0, len(m.byID))
	for _, s := range m.byID {
		all = append(all, s)
	}
	m.mu.Unlock()
	l := wire.SessionList{Sessions: make([]wire.SessionInfo, 0, len(all))}
	for _, s := range all {
		l.Sessions = append(l.Sessions, s.info())
	}
	slices.SortFunc(l.Sessions, func(a, b wire.SessionInfo) int {
		return cmp.Or(a.StartedAt.Compare(b.StartedAt), cmp.Compare(a.ID, b.ID))
	})
	return l
}

// terminate ends a session with EndTerminated and waits (bounded) for it to
// wind down. It reports false if there is no such session.
func (m *sessions) terminate(ctx context.Context, id string) bool {
	s := m.get(id)
	if s == nil {
		return false
	}
	s.end(wire.EndTerminated)
	ctx, cancel := context.WithTimeout(ctx, terminateWait)
	defer cancel()
	select {
	case <-s.done:
	case <-ctx.Done():
	}
	return true
}

// ended is called once per session when it has ended: it keeps at most
// MaxAgentSessions ended sessions listed, dropping the oldest.
func (m *sessions) ended() {
	m.mu.Lock()
	var ended []*session
	for _, s := range m.byID {
		if s.isEnded() {
			ended = append(ended, s)
		}
	}
	if len(ended) > wire.MaxAgentSessions {
		slices.SortFunc(ended, func(a, b *session) int { return a.endedAt().Compare(b.endedAt()) })
		for _, s := range ended[:len(ended)-wire.MaxAgentSessions] {
			delete(m.byID, s.id)
		}
	}
	m.mu.Unlock()
	m.changed()
}

// janitor releases the output of sessions ended for outputRetention and
// drops those ended for wire.EndedRetention.
func (m *sessions) janitor() {
	t := time.NewTicker(janitorEvery)
	defer t.Stop()
	for {
		select {
		case <-m.ctx.Done():
			return
		case <-t.C:
		}
		m.sweep(time.Now())
	}
}

func (m *sessions) sweep(now time.Time) {
	m.mu.Lock()
	dropped := false
	var release []*session
	for id, s := range m.byID {
		at := s.endedAt()
		switch {
		case at.IsZero():
		case now.Sub(at) >= wire.EndedRetention:
			delete(m.byID, id)
			dropped = true
		case now.Sub(at) >= outputRetention:
			release = append(release, s)
		}
	}
	m.mu.Unlock()
	for _, s := range release {
		s.release()
	}
	if dropped {
		m.changed()
	}
}

// shutdown ends every session with EndAgentStop, gives viewers
// shutdownGrace to receive the end, then cuts them, and waits for every
// goroutine.
func (m *sessions) shutdown() {
	m.mu.Lock()
	m.closed = true
	all := make([]*session, 0, len(m.byID))
	for _, s := range m.byID {
		all = append(all, s)
	}
	m.mu.Unlock()
	m.cancel()
	for _, s := range all {
		s.end(wire.EndAgentStop)
	}
	cut := time.AfterFunc(shutdownGrace, func() {
		for _, s := range all {
			s.kickViewers()
		}
	})
	m.wg.Wait()
	cut.Stop()
}

// newScreen is the screen model of a new session.
func newScreen(cols, rows uint16) *term.Screen { return term.NewScreen(int(cols), int(rows)) }

// newBuffer is the output buffer of a new session.
func newBuffer(size int) *stream.Buffer {
	if size == 0 {
		size = wire.DefaultBufferSize
	}
	return stream.NewBuffer(size)
}
