package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Results of an audited action.
const (
	AuditAllowed = "allowed"
	AuditDenied  = "denied"
	AuditError   = "error"
)

// Limits of audit events and listings.
const (
	MaxAuditDetails   = 8 << 10 // bytes of Details
	DefaultAuditLimit = 100
	MaxAuditLimit     = 1000
	maxAuditField     = 1024 // bytes of Reason and of the other free-text fields
)

// AuditEvent records who did what to which object, and with what result.
// Events are append-only: the store has no method to change or delete
// one, and they outlive the org, actor and object they name.
type AuditEvent struct {
	ID         int64  // assigned by AppendAudit; increases with every append
	OrgID      string // "" for platform events
	ActorID    string // a user, API token, device or "system"
	ActorType  string
	Action     string // e.g. "grant.create", "session.open"
	ObjectType string
	ObjectID   string
	Result     string // AuditAllowed, AuditDenied or AuditError
	Reason     string
	SourceIP   string
	Details    string    // a JSON value, at most MaxAuditDetails bytes; "" = none
	CreatedAt  time.Time // now if zero on append
}

// AuditFilter selects audit events for ListAudit; empty fields match
// anything.
type AuditFilter struct {
	// OrgID restricts the listing to one organization. It is required
	// unless Platform is set; a platform listing with no OrgID spans every
	// organization and the platform's own events.
	OrgID    string
	Platform bool
	ActorID  string
	Action   string
	ObjectID string
	Result   string
	Since    time.Time // CreatedAt >= Since
	Until    time.Time // CreatedAt < Until
	// Limit is the page size: DefaultAuditLimit if zero or less, at most
	// MaxAuditLimit.
	Limit int
	// Cursor continues a listing: the nextCursor of the previous page,
	// used with the same filter.
	Cursor string
}

func validateAudit(e AuditEvent) error {
	switch {
	case e.Action == "" || len(e.Action) > maxLabelLen:
		return invalid("action", "must be 1 to 100 bytes")
	case e.Result != AuditAllowed && e.Result != AuditDenied && e.Result != AuditError:
		return invalid("result", "must be allowed, denied or error")
	case len(e.Details) > MaxAuditDetails:
		return invalid("details", fmt.Sprintf("must be at most %d bytes", MaxAuditDetails))
	case e.Details != "" && !json.Valid([]byte(e.Details)):
		return invalid("details", "must be JSON")
	}
	return nil
}

const auditColumns = `org_id, actor_id, actor_type, action, object_type, object_id, result, reason, source_ip, details, created_at`

func scanAudit(r scanner) (AuditEvent, error) {
	var e AuditEvent
	err := r.Scan(&e.ID, &e.OrgID, &e.ActorID, &e.ActorType, &e.Action, &e.ObjectType, &e.ObjectID, &e.Result,
		&e.Reason, &e.SourceIP, &e.Details, scanMillis{&e.CreatedAt})
	return e, err
}

// AppendAudit appends an event and returns it with its ID. Free-text
// fields are cut to 1 KiB; Details must be valid JSON (ErrInvalid).
func (s *Store) AppendAudit(ctx context.Context, e AuditEvent) (AuditEvent, error) {
	if err := validateAudit(e); err != nil {
		return AuditEvent{}, err
	}
	if e.CreatedAt.IsZero() {
		e.CreatedAt = now()
	}
	e.CreatedAt = fromMillis(toMillis(e.CreatedAt))
	for _, f := range []*string{&e.OrgID, &e.ActorID, &e.ActorType, &e.ObjectType, &e.ObjectID, &e.Reason, &e.SourceIP} {
		*f = truncate(*f, maxAuditField)
	}
	err := s.writer().queryRow(ctx, `INSERT INTO audit_events (`+auditColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		e.OrgID, e.ActorID, e.ActorType, e.Action, e.ObjectType, e.ObjectID, e.Result, e.Reason, e.SourceIP,
		e.Details, toMillis(e.CreatedAt)).Scan(&e.ID)
	if err != nil {
		return AuditEvent{}, fmt.Errorf("appending audit event %s: %w", e.Action, err)
	}
	return e, nil
}

// ListAudit returns one page of the events that match f, newest first, and
// the cursor of the next page ("" after the last). Pages are keyed on the
// event ID, so paging through a listing neither repeats nor skips an event
// that existed when it began; events appended meanwhile show up in a fresh
// listing.
func (s *Store) ListAudit(ctx context.Context, f AuditFilter) ([]AuditEvent, string, error) {
	if !f.Platform && f.OrgID == "" {
		return nil, "", invalid("org_id", "must be set for an organization's audit log")
	}
	limit := f.Limit
	if limit <= 0 {
		limit = DefaultAuditLimit
	}
	limit = min(limit, MaxAuditLimit)
	var where []string
	var args []any
	add := func(cond string, arg any) {
		where = append(where, cond)
		args = append(args, arg)
	}
	for _, c := range []struct{ column, value string }{
		{"org_id", f.OrgID}, {"actor_id", f.ActorID}, {"action", f.Action}, {"object_id", f.ObjectID}, {"result", f.Result},
	} {
		if c.value != "" {
			add(c.column+" = ?", c.value)
		}
	}
	if !f.Since.IsZero() {
		add("created_at >= ?", toMillis(f.Since))
	}
	if !f.Until.IsZero() {
		add("created_at < ?", toMillis(f.Until))
	}
	if f.Cursor != "" {
		before, err := strconv.ParseInt(f.Cursor, 10, 64)
		if err != nil || before <= 0 {
			return nil, "", invalid("cursor", "is not a cursor ListAudit returned")
		}
		add("id < ?", before)
	}
	q := `SELECT id, ` + auditColumns + ` FROM audit_events`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	events, err := collect(ctx, s.reader(), scanAudit, q+` ORDER BY id DESC LIMIT ?`, append(args, limit+1)...)
	if err != nil {
		return nil, "", fmt.Errorf("listing audit events: %w", err)
	}
	if len(events) <= limit {
		return events, "", nil
	}
	events = events[:limit]
	return events, strconv.FormatInt(events[limit-1].ID, 10), nil
}
