// Package broker is the engine's session broker. Sessions (SSH terminals)
// live on the agents; the broker opens them through each agent's API over
// the overlay, keeps their records in the store (remote_sessions), mints
// single-use attach tickets, relays viewers' streams to the agent frame by
// frame (it never buffers a session's output), rebuilds its view of live
// sessions from the agents' reports, enforces limits and roles, shares
// sessions through OpenFGA, audits, and records sessions whose service asks
// for it as asciicast v2 files that survive an engine restart without a hole.
//
// broker imports store, authz, acl, vault, overlay, wire and protocols/stream;
// it must never import the API, the engine or agent code.
package broker

import (
	"context"
	"encoding/base32"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"sync"
	"time"

	"github.com/warrenhq/warren/acl"
	"github.com/warrenhq/warren/controlplane/authz"
	"github.com/warrenhq/warren/controlplane/overlay"
	"github.com/warrenhq/warren/controlplane/store"
	"github.com/warrenhq/warren/controlplane/vault"
	"github.com/warrenhq/warren/controlplane/wire"
)

// Defaults and limits.
const (
	// MaxTicketTTL bounds Config.TicketTTL; it is also the default.
	MaxTicketTTL = 30 * time.Second
	// DefaultPingEvery is how often the engine pings a viewer and an agent
	// link; three periods without a Pong (or, from an agent, any frame)
	// drop it.
	DefaultPingEvery = 10 * time.Second
	// openGrace is how long a session the agent has never listed may stay
	// unlisted before reconciliation ends it (its open may still be in
	// flight on another replica).
	openGrace = time.Minute
	// MaxCols and MaxRows bound the terminal size of an open.
	MaxCols = 1000
	MaxRows = 1000
)

// Config configures a Broker. Store, Authz, Authorizer and Vault are
// required.
type Config struct {
	Store *store.Store
	// Authz answers the compiled port ACL (Allowed) and writes the session
	// tuples (owner, observer).
	Authz *authz.Service
	// Authorizer answers Check and ListObjects (the OpenFGA Authz writes).
	Authorizer acl.Authorizer
	Vault      *vault.Vault
	// Overlay reaches the agents (their API on wire.AgentAPIPort) and says
	// which are online. nil: no agent is reachable (every device offline).
	Overlay *overlay.Overlay
	// DataDir holds recordings in recordings/<org>/<session>.cast.
	DataDir string
	// TicketTTL is how long an attach ticket is valid (0 or more than
	// MaxTicketTTL: MaxTicketTTL).
	TicketTTL time.Duration
	// FlushEvery is how often a recorder makes its file durable (0: 250ms).
	FlushEvery time.Duration
	// PingEvery is how often viewers and agent links are pinged (0:
	// DefaultPingEvery); one silent for three periods is dropped.
	PingEvery time.Duration
	Now       func() time.Time // nil = time.Now
	Logger    *slog.Logger     // nil = discard
}

// Broker is the session broker. Its methods are safe for concurrent use.
// Run starts its background work (reconciliation, recorders); Close ends
// it and every relay, and waits for them.
type Broker struct {
	cfg    Config
	log    *slog.Logger
	agents *agentClient

	ctx    context.Context // the broker's lifetime; cancelled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup // reconciler, recorders, relays, background calls

	kick chan struct{} // buffered(1): a device's report awaits reconciliation

	mu sync.Mutex
	// reports holds each device's last session list, as received (guarded
	// by mu). Entries are trusted only after matching a row of the device's
	// organization.
	reports map[string]report
	// pending are the devices whose report awaits reconciliation (guarded
	// by mu).
	pending map[string]bool
	// opening are sessions being opened: reconciliation leaves them alone
	// (guarded by mu).
	opening map[string]bool
	// recorders by session ID (guarded by mu).
	recorders map[string]*recorder
	// relays by session ID (guarded by mu).
	relays map[string]map[*relay]struct{}
	closed bool // guarded by mu

	stopRevoked func()
}

// report is an agent's session list and when it arrived.
type report struct {
	at       time.Time
	sessions map[string]wire.SessionInfo
}

// New returns a Broker. Call Run to start its background work.
func New(cfg Config) (*Broker, error) {
	if cfg.Store == nil || cfg.Authz == nil || cfg.Authorizer == nil || cfg.Vault == nil {
		return nil, errors.New("broker: Store, Authz, Authorizer and Vault are required")
	}
	if cfg.TicketTTL <= 0 || cfg.TicketTTL > MaxTicketTTL {
		cfg.TicketTTL = MaxTicketTTL
	}
	if cfg.PingEvery <= 0 {
		cfg.PingEvery = DefaultPingEvery
	}
	if cfg.FlushEvery <= 0 {
		cfg.FlushEvery = 250 * time.Millisecond
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	b := &Broker{
		cfg: cfg, log: cfg.Logger, agents: newAgentClient(cfg.Overlay), ctx: ctx, cancel: cancel,
		kick: make(chan struct{}, 1), reports: map[string]report{}, pending: map[string]bool{},
		opening: map[string]bool{}, recorders: map[string]*recorder{}, relays: map[string]map[*relay]struct{}{},
	}
	b.stopRevoked = cfg.Authz.OnChange(b.revoked)
	return b, nil
}

// Run reconciles agents' reports until ctx ends or Close is called, then
// returns (Close still has to be called to end relays and recorders).
func (b *Broker) Run(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-b.ctx.Done():
			return nil
		case <-b.kick:
			b.reconcilePending(ctx)
		}
	}
}

// Close ends every relay and recorder (recorders flush first) and waits for
// the broker's goroutines. It is idempotent.
func (b *Broker) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	b.mu.Unlock()
	b.stopRevoked()
	b.cancel()
	b.wg.Wait()
	b.agents.close()
	return nil
}

// goBackground runs fn on a goroutine the broker waits for, unless it is
// closed.
func (b *Broker) goBackground(fn func(ctx context.Context)) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return false
	}
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		fn(b.ctx)
	}()
	return true
}

func (b *Broker) now() time.Time { return b.cfg.Now() }

// idEncoding is lowercase base32 without padding, for viewer IDs.
var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// online reports whether the device's agent stream is connected.
func (b *Broker) online(deviceID string) bool {
	return b.cfg.Overlay != nil && b.cfg.Overlay.State(deviceID).Online
}

// RecordingPath is where the recording of session id of org lives under
// dataDir.
func RecordingPath(dataDir, orgID, id string) string {
	return filepath.Join(dataDir, "recordings", orgID, id+".cast")
}

// Error is a refusal with an HTTP status and a stable code for clients.
// Reason, when set, is what the audit log records for a denial.
type Error struct {
	Status  int
	Code    string
	Message string
	Reason  string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

func notFound(what string) *Error {
	return &Error{Status: http.StatusNotFound, Code: what + "_not_found", Message: what + " not found"}
}

// hidden is the 404 of what, recorded as a denial for reason.
func hidden(what, reason string) *Error {
	e := notFound(what)
	e.Reason = reason
	return e
}

func forbidden(reason string) *Error {
	return &Error{Status: http.StatusForbidden, Code: "forbidden", Message: "you may not do this: " + reason, Reason: reason}
}

func badRequest(code, msg string) *Error {
	return &Error{Status: http.StatusBadRequest, Code: code, Message: msg}
}

// Caller is who asks: a user, and whether they administer the organization
// (organization#admin, or a platform admin).
type Caller struct {
	UserID   string
	OrgAdmin bool
	SourceIP string
}

// audit appends an event; a failure is logged for the operator.
func (b *Broker) audit(ctx context.Context, e store.AuditEvent, details map[string]any) {
	if details != nil {
		data, _ := json.Marshal(details)
		e.Details = string(data)
	}
	if e.ActorType == "" {
		e.ActorType = "user"
	}
	if e.ObjectType == "" {
		e.ObjectType = "session"
	}
	if _, err := b.cfg.Store.AppendAudit(context.WithoutCancel(ctx), e); err != nil {
		b.log.Error("appending audit event", "action", e.Action, "org_id", e.OrgID, "err", err)
	}
}

// can reports whether the caller holds relation on typ:id (organization
// admins hold every relation on folders and devices, not on sessions).
func (b *Broker) can(ctx context.Context, c Caller, relation, typ, id string) (bool, error) {
	if c.OrgAdmin && typ != acl.TypeSession {
		return true, nil
	}
	ok, err := b.cfg.Authorizer.Check(ctx, acl.Tuple{User: acl.User(c.UserID), Relation: relation, Object: acl.Object(typ, id)})
	if err != nil {
		return false, fmt.Errorf("checking %s on %s:%s: %w", relation, typ, id, err)
	}
	return ok, nil
}
