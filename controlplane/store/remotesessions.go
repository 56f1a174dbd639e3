package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// RemoteSession is the engine's record of a session that lives on an agent
// (an SSH terminal, for now). It is not a browser login (that is Session).
// Only what the engine decided is stored: who opened what and when, and how
// it ended. The live state (viewers, offsets, activity) comes from the
// agent's reports and is never stored.
type RemoteSession struct {
	ID        string // "rs_..."; generated if empty on create
	OrgID     string
	DeviceID  string // a device of OrgID
	Service   string // the service's name on the device
	Protocol  string // "ssh"
	OwnerID   string // the user who opened it
	StartedAt time.Time
	EndedAt   time.Time // zero while live
	EndReason string
	Recorded  bool
	// LastSeen is when the agent last listed the session; zero if never.
	LastSeen time.Time
	// Cols and Rows are the terminal size it was opened with.
	Cols, Rows int
}

// Live reports whether the session has not ended.
func (r RemoteSession) Live() bool { return r.EndedAt.IsZero() }

// NewRemoteSessionID returns a fresh remote session ID ("rs_" and 26
// lowercase base32 characters: valid as an agent session ID).
func NewRemoteSessionID() string { return newID(prefixRemote) }

// SessionLimits bounds the live remote sessions CreateRemoteSession lets
// exist in an organization; zero fields do not limit.
type SessionLimits struct {
	PerUser   int // live sessions of the owner
	PerDevice int // live sessions on the device
}

// LimitError is why CreateRemoteSession refused: a limit was reached. It
// matches ErrLimit with errors.Is.
type LimitError struct {
	Limit string // "per_user" or "per_device"
	Max   int
}

func (e *LimitError) Error() string {
	return fmt.Sprintf("session limit reached: at most %d live sessions %s", e.Max, strings.ReplaceAll(e.Limit, "_", " "))
}

// Is reports whether target is ErrLimit.
func (e *LimitError) Is(target error) bool { return target == ErrLimit }

// ErrLimit: a configured limit forbids the operation; errors.As to
// *LimitError tells which one.
var ErrLimit = errors.New("limit reached")

// Limits of remote session fields.
const (
	maxEndReasonLen = 64
	maxSessionList  = 1000
)

const remoteColumns = `id, org_id, device_id, service, protocol, owner_id, started_at, ended_at, end_reason,
	recorded, last_seen, cols, rows`

func scanRemote(r scanner) (RemoteSession, error) {
	var s RemoteSession
	err := r.Scan(&s.ID, &s.OrgID, &s.DeviceID, &s.Service, &s.Protocol, &s.OwnerID, scanMillis{&s.StartedAt},
		scanMillis{&s.EndedAt}, &s.EndReason, &s.Recorded, scanMillis{&s.LastSeen}, &s.Cols, &s.Rows)
	return s, err
}

func validateRemote(s RemoteSession) error {
	switch {
	case s.OrgID == "":
		return invalid("org_id", "must not be empty")
	case s.DeviceID == "":
		return invalid("device_id", "must not be empty")
	case s.OwnerID == "":
		return invalid("owner_id", "must not be empty")
	case s.Protocol == "" || len(s.Protocol) > 16:
		return invalid("protocol", "must be 1 to 16 bytes")
	case s.Cols < 0 || s.Cols > 65535 || s.Rows < 0 || s.Rows > 65535:
		return invalid("cols", "terminal size out of range")
	}
	return validateName(s.Service)
}

// CreateRemoteSession records a new live session, counting it against
// limits in the same transaction, so that concurrent opens cannot exceed
// them. Errors: ErrInvalid, ErrNotFound (the device is not in the org),
// ErrLimit (*LimitError), ErrConflict (ID taken).
func (s *Store) CreateRemoteSession(ctx context.Context, rs RemoteSession, limits SessionLimits) (RemoteSession, error) {
	if err := validateRemote(rs); err != nil {
		return RemoteSession{}, err
	}
	rs.ID = orNewID(rs.ID, prefixRemote)
	if rs.StartedAt.IsZero() {
		rs.StartedAt = now()
	}
	rs.StartedAt = fromMillis(toMillis(rs.StartedAt))
	rs.EndedAt, rs.EndReason, rs.LastSeen = time.Time{}, "", time.Time{}
	if rs.Cols == 0 {
		rs.Cols = 80
	}
	if rs.Rows == 0 {
		rs.Rows = 24
	}
	err := s.inTx(ctx, func(c conn) error {
		if err := c.lock(ctx, lockSessions); err != nil {
			return err
		}
		if err := checkLimit(ctx, c, "per_user", limits.PerUser,
			`SELECT COUNT(*) FROM remote_sessions WHERE org_id = ? AND owner_id = ? AND ended_at IS NULL`, rs.OrgID, rs.OwnerID); err != nil {
			return err
		}
		if err := checkLimit(ctx, c, "per_device", limits.PerDevice,
			`SELECT COUNT(*) FROM remote_sessions WHERE device_id = ? AND ended_at IS NULL`, rs.DeviceID); err != nil {
			return err
		}
		_, err := c.exec(ctx, `INSERT INTO remote_sessions (`+remoteColumns+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, NULL, '', ?, 0, ?, ?)`,
			rs.ID, rs.OrgID, rs.DeviceID, rs.Service, rs.Protocol, rs.OwnerID, toMillis(rs.StartedAt), rs.Recorded,
			rs.Cols, rs.Rows)
		if errors.Is(err, errForeignKey) {
			return fmt.Errorf("device %s: %w", rs.DeviceID, ErrNotFound)
		}
		return err
	})
	if errors.Is(err, ErrLimit) || errors.Is(err, ErrNotFound) {
		return RemoteSession{}, err
	}
	if err != nil {
		return RemoteSession{}, fmt.Errorf("creating remote session: %w", err)
	}
	return rs, nil
}

func checkLimit(ctx context.Context, c conn, name string, max int, query string, args ...any) error {
	if max <= 0 {
		return nil
	}
	var n int
	if err := c.queryRow(ctx, query, args...).Scan(&n); err != nil {
		return err
	}
	if n >= max {
		return &LimitError{Limit: name, Max: max}
	}
	return nil
}

// GetRemoteSession returns the organization's remote session id; another
// organization's is ErrNotFound.
func (s *Store) GetRemoteSession(ctx context.Context, orgID, id string) (RemoteSession, error) {
	rs, err := scanRemote(s.reader().queryRow(ctx,
		`SELECT `+remoteColumns+` FROM remote_sessions WHERE id = ? AND org_id = ?`, id, orgID))
	if err != nil {
		return RemoteSession{}, wrap(err, "remote session "+id, "getting remote session "+id)
	}
	return rs, nil
}

// RemoteSessionFilter selects remote sessions; empty fields match anything.
type RemoteSessionFilter struct {
	OwnerID  string
	DeviceID string
	IDs      []string // only these (for "shared with me"); nil = any
	// State is "live", "ended" or "" (both).
	State    string
	Recorded bool // only recorded sessions
	// Limit caps the answer (newest first); 0 or more than 1000 = 1000.
	Limit int
}

// ListRemoteSessions returns the organization's remote sessions that match
// f, newest first.
func (s *Store) ListRemoteSessions(ctx context.Context, orgID string, f RemoteSessionFilter) ([]RemoteSession, error) {
	where := []string{"org_id = ?"}
	args := []any{orgID}
	if f.OwnerID != "" {
		where, args = append(where, "owner_id = ?"), append(args, f.OwnerID)
	}
	if f.DeviceID != "" {
		where, args = append(where, "device_id = ?"), append(args, f.DeviceID)
	}
	if f.IDs != nil {
		if len(f.IDs) == 0 {
			return nil, nil
		}
		where = append(where, "id IN (?"+strings.Repeat(", ?", len(f.IDs)-1)+")")
		for _, id := range f.IDs {
			args = append(args, id)
		}
	}
	switch f.State {
	case "live":
		where = append(where, "ended_at IS NULL")
	case "ended":
		where = append(where, "ended_at IS NOT NULL")
	case "":
	default:
		return nil, invalid("state", "must be live, ended or empty")
	}
	if f.Recorded {
		where, args = append(where, "recorded = ?"), append(args, true)
	}
	limit := f.Limit
	if limit <= 0 || limit > maxSessionList {
		limit = maxSessionList
	}
	out, err := collect(ctx, s.reader(), scanRemote, `SELECT `+remoteColumns+` FROM remote_sessions WHERE `+
		strings.Join(where, " AND ")+` ORDER BY started_at DESC, id LIMIT ?`, append(args, limit)...)
	if err != nil {
		return nil, fmt.Errorf("listing remote sessions of organization %s: %w", orgID, err)
	}
	return out, nil
}

// ListDeviceRemoteSessions returns the device's remote sessions of any
// organization that match state ("live", "ended" or ""), newest first: what
// the engine reconciles an agent's report with.
func (s *Store) ListDeviceRemoteSessions(ctx context.Context, deviceID, state string) ([]RemoteSession, error) {
	q := `SELECT ` + remoteColumns + ` FROM remote_sessions WHERE device_id = ?`
	switch state {
	case "live":
		q += ` AND ended_at IS NULL`
	case "ended":
		q += ` AND ended_at IS NOT NULL`
	case "":
	default:
		return nil, invalid("state", "must be live, ended or empty")
	}
	out, err := collect(ctx, s.reader(), scanRemote, q+` ORDER BY started_at DESC, id LIMIT ?`, deviceID, maxSessionList)
	if err != nil {
		return nil, fmt.Errorf("listing remote sessions of device %s: %w", deviceID, err)
	}
	return out, nil
}

// ListLiveRemoteSessions returns every live remote session of every
// organization, oldest first (for the engine's start).
func (s *Store) ListLiveRemoteSessions(ctx context.Context) ([]RemoteSession, error) {
	out, err := collect(ctx, s.reader(), scanRemote,
		`SELECT `+remoteColumns+` FROM remote_sessions WHERE ended_at IS NULL ORDER BY started_at, id`)
	if err != nil {
		return nil, fmt.Errorf("listing live remote sessions: %w", err)
	}
	return out, nil
}

// EndRemoteSession marks a live session ended at at with reason. It
// reports whether this call ended it (false: it had ended already).
// Unknown IDs are ErrNotFound.
func (s *Store) EndRemoteSession(ctx context.Context, id, reason string, at time.Time) (bool, error) {
	if at.IsZero() {
		at = now()
	}
	r, err := s.writer().exec(ctx, `UPDATE remote_sessions SET ended_at = ?, end_reason = ?
		WHERE id = ? AND ended_at IS NULL`, toMillis(at), truncate(reason, maxEndReasonLen), id)
	if err != nil {
		return false, fmt.Errorf("ending remote session %s: %w", id, err)
	}
	n, err := r.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("ending remote session %s: %w", id, err)
	}
	if n == 1 {
		return true, nil
	}
	var one int
	err = s.reader().queryRow(ctx, `SELECT 1 FROM remote_sessions WHERE id = ?`, id).Scan(&one)
	return false, wrap(err, "remote session "+id, "ending remote session "+id)
}

// TouchRemoteSessions sets LastSeen of the live sessions ids to at.
func (s *Store) TouchRemoteSessions(ctx context.Context, ids []string, at time.Time) error {
	if len(ids) == 0 {
		return nil
	}
	args := []any{toMillis(at)}
	for _, id := range ids {
		args = append(args, id)
	}
	_, err := s.writer().exec(ctx, `UPDATE remote_sessions SET last_seen = ?
		WHERE ended_at IS NULL AND id IN (?`+strings.Repeat(", ?", len(ids)-1)+`)`, args...)
	if err != nil {
		return fmt.Errorf("touching remote sessions: %w", err)
	}
	return nil
}

// DeleteRemoteSession forgets a session (one that never opened on the
// agent) and its tickets.
func (s *Store) DeleteRemoteSession(ctx context.Context, orgID, id string) error {
	err := s.writer().execOne(ctx, `DELETE FROM remote_sessions WHERE id = ? AND org_id = ?`, id, orgID)
	return wrap(err, "remote session "+id, "deleting remote session "+id)
}
