package broker

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/warrenhq/warren/acl"
	"github.com/warrenhq/warren/controlplane/store"
)

// TicketPrefix starts every attach ticket's secret.
const TicketPrefix = "wrn_tkt_"

// ticketLen is the length of a ticket secret: the prefix and 32 random
// bytes in unpadded base64url.
var ticketLen = len(TicketPrefix) + base64.RawURLEncoding.EncodedLen(32)

// Ticket is a single-use permission to attach to one session in one role,
// for one user, until ExpiresAt. Secret is shown once; only its SHA-256 is
// stored.
type Ticket struct {
	Secret    string
	Role      string // store.TicketDriver or store.TicketObserver
	ExpiresAt time.Time
	OrgID     string
	SessionID string
}

// AttachPath is the path (with the secret) a viewer attaches with.
func (t Ticket) AttachPath() string {
	return "/api/v1/orgs/" + url.PathEscape(t.OrgID) + "/sessions/" + url.PathEscape(t.SessionID) +
		"/attach?ticket=" + url.QueryEscape(t.Secret)
}

// LogValue keeps the secret out of logs.
func (t Ticket) LogValue() slog.Value {
	return slog.GroupValue(slog.String("session_id", t.SessionID), slog.String("role", t.Role),
		slog.String("secret", "REDACTED"))
}

// String keeps the secret out of %v.
func (t Ticket) String() string {
	return fmt.Sprintf("Ticket{session=%s role=%s secret=REDACTED}", t.SessionID, t.Role)
}

var _ slog.LogValuer = Ticket{}

func hashTicket(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

// validTicketSyntax reports whether s could be a ticket secret.
func validTicketSyntax(s string) bool {
	rest, ok := strings.CutPrefix(s, TicketPrefix)
	if !ok || len(s) != ticketLen {
		return false
	}
	_, err := base64.RawURLEncoding.DecodeString(rest)
	return err == nil
}

// mintTicket stores a ticket for userID on rs.
func (b *Broker) mintTicket(ctx context.Context, rs store.RemoteSession, userID, role string) (Ticket, error) {
	var raw [32]byte
	rand.Read(raw[:]) // never fails
	t := Ticket{Secret: TicketPrefix + base64.RawURLEncoding.EncodeToString(raw[:]), Role: role,
		ExpiresAt: b.now().Add(b.cfg.TicketTTL).UTC().Truncate(time.Millisecond), OrgID: rs.OrgID, SessionID: rs.ID}
	err := b.cfg.Store.CreateAttachTicket(ctx, store.AttachTicket{Hash: hashTicket(t.Secret), SessionID: rs.ID,
		UserID: userID, Role: role, ExpiresAt: t.ExpiresAt}, b.now())
	if err != nil {
		return Ticket{}, fmt.Errorf("storing an attach ticket: %w", err)
	}
	return t, nil
}

// NewTicket mints a ticket for the caller to attach to session id: driver
// needs drive on the session (its owner), observer needs view (owner or
// observer). The session must be live.
func (b *Broker) NewTicket(ctx context.Context, c Caller, org store.Org, id, role string) (Ticket, error) {
	rel := acl.RelationDrive
	switch role {
	case store.TicketDriver:
	case store.TicketObserver:
		rel = acl.RelationView
	default:
		return Ticket{}, badRequest("invalid_field", `role: must be "driver" or "observer"`)
	}
	rs, err := b.visibleSession(ctx, c, org, id)
	if err != nil {
		return Ticket{}, err
	}
	ok, err := b.can(ctx, c, rel, acl.TypeSession, rs.ID)
	if err != nil {
		return Ticket{}, err
	}
	if !ok {
		return Ticket{}, forbidden(rel + " on " + acl.Object(acl.TypeSession, rs.ID) + " required for a " + role + " ticket")
	}
	if !rs.Live() {
		return Ticket{}, &Error{Status: http.StatusConflict, Code: "session_ended", Message: "the session has ended (" + rs.EndReason + ")"}
	}
	return b.mintTicket(ctx, rs, c.UserID, role)
}

// Attachment is a redeemed ticket: who attaches to which session, in which
// role.
type Attachment struct {
	Session  store.RemoteSession
	UserID   string
	Role     string // store.TicketDriver or store.TicketObserver
	SourceIP string
}

// errBadTicket is the answer to every ticket that cannot be used, whatever
// the reason, so that a caller learns nothing from it.
func errBadTicket(reason string) *Error {
	return &Error{Status: http.StatusForbidden, Code: "bad_ticket",
		Message: "the attach ticket is unknown, used, expired or not for this session", Reason: reason}
}

// Redeem consumes secret for an attach to session id of org. userID, when
// not "", is the user the request is otherwise authenticated as: the ticket
// must be theirs. It fails with 404 session_not_found when org has no such
// session, and 403 bad_ticket when the ticket is unknown, used, expired,
// for another session or another user, or its user no longer holds the
// relation the role needs (drive, view). The ticket is consumed whatever
// the outcome.
func (b *Broker) Redeem(ctx context.Context, org store.Org, id, secret, userID, sourceIP string) (Attachment, error) {
	rs, err := b.cfg.Store.GetRemoteSession(ctx, org.ID, id)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return Attachment{}, notFound("session")
		}
		return Attachment{}, err
	}
	a, err := b.redeem(ctx, rs, secret, userID)
	if err != nil {
		var e *Error
		if errors.As(err, &e) {
			b.audit(ctx, store.AuditEvent{OrgID: org.ID, ActorID: userID, Action: "session.attach", ObjectID: rs.ID,
				Result: store.AuditDenied, Reason: e.Reason, SourceIP: sourceIP}, nil)
		}
		return Attachment{}, err
	}
	a.SourceIP = sourceIP
	return a, nil
}

func (b *Broker) redeem(ctx context.Context, rs store.RemoteSession, secret, userID string) (Attachment, error) {
	if !validTicketSyntax(secret) {
		return Attachment{}, errBadTicket("malformed or missing ticket")
	}
	t, err := b.cfg.Store.RedeemAttachTicket(ctx, hashTicket(secret), b.now())
	if err == store.ErrTicketInvalid {
		return Attachment{}, errBadTicket("unknown, used or expired ticket")
	}
	if err != nil {
		return Attachment{}, err
	}
	switch {
	case t.SessionID != rs.ID:
		return Attachment{}, errBadTicket("ticket of another session")
	case userID != "" && t.UserID != userID:
		return Attachment{}, errBadTicket("ticket of another user")
	case !rs.Live():
		return Attachment{}, &Error{Status: http.StatusGone, Code: "session_ended", Message: "the session has ended (" + rs.EndReason + ")"}
	}
	rel := acl.RelationView
	if t.Role == store.TicketDriver {
		rel = acl.RelationDrive
	}
	ok, err := b.can(ctx, Caller{UserID: t.UserID}, rel, acl.TypeSession, rs.ID)
	if err != nil {
		return Attachment{}, err
	}
	if !ok {
		return Attachment{}, errBadTicket("the ticket's user no longer holds " + rel + " on the session")
	}
	return Attachment{Session: rs, UserID: t.UserID, Role: t.Role}, nil
}
