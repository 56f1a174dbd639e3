package store

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// Session is a browser login. The cookie holds a secret whose SHA-256 is
// TokenHash; the secret itself never reaches the store.
type Session struct {
	ID         string // "ses_..."; generated if empty on create
	TokenHash  []byte // SHA-256 of the cookie secret, unique
	UserID     string
	OrgID      string // the org the user works in now; "" if none (or it was deleted)
	CSRFToken  string
	CreatedAt  time.Time // now if zero on create
	ExpiresAt  time.Time
	RevokedAt  time.Time // zero while valid
	LastSeenAt time.Time
	SourceIP   string
	UserAgent  string // cut to 512 bytes
}

// LogValue keeps the token hash and CSRF token out of logs.
func (s Session) LogValue() slog.Value {
	return slog.GroupValue(slog.String("id", s.ID), slog.String("user_id", s.UserID),
		slog.String("org_id", s.OrgID), slog.String("csrf_token", "REDACTED"))
}

var _ slog.LogValuer = Session{}

const (
	maxUserAgentLen = 512
	maxSourceIPLen  = 64
)

const sessionSelect = `
	SELECT s.id, s.token_hash, s.user_id, s.org_id, s.csrf_token, s.created_at, s.expires_at, s.revoked_at,
		s.last_seen_at, s.source_ip, s.user_agent
	FROM sessions s`

func scanSession(r scanner) (Session, error) {
	var s Session
	err := r.Scan(&s.ID, &s.TokenHash, &s.UserID, scanText{&s.OrgID}, &s.CSRFToken, scanMillis{&s.CreatedAt},
		scanMillis{&s.ExpiresAt}, scanMillis{&s.RevokedAt}, scanMillis{&s.LastSeenAt}, &s.SourceIP, &s.UserAgent)
	return s, err
}

// CreateSession stores a new session. Errors: ErrInvalid, ErrNotFound (no
// such user or org), ErrConflict (token hash).
func (s *Store) CreateSession(ctx context.Context, ses Session) (Session, error) {
	switch {
	case len(ses.TokenHash) != sha256.Size:
		return Session{}, invalid("token_hash", "must be a SHA-256 digest")
	case ses.UserID == "":
		return Session{}, invalid("user_id", "must not be empty")
	case ses.CSRFToken == "":
		return Session{}, invalid("csrf_token", "must not be empty")
	case ses.ExpiresAt.IsZero():
		return Session{}, invalid("expires_at", "must be set")
	}
	ses.ID = orNewID(ses.ID, prefixSession)
	if ses.CreatedAt.IsZero() {
		ses.CreatedAt = now()
	}
	ses.CreatedAt = fromMillis(toMillis(ses.CreatedAt))
	ses.ExpiresAt = fromMillis(toMillis(ses.ExpiresAt))
	ses.LastSeenAt = ses.CreatedAt
	ses.RevokedAt = time.Time{}
	ses.SourceIP = truncate(ses.SourceIP, maxSourceIPLen)
	ses.UserAgent = truncate(ses.UserAgent, maxUserAgentLen)
	_, err := s.writer().exec(ctx, `
		INSERT INTO sessions (id, token_hash, user_id, org_id, csrf_token, created_at, expires_at,
			last_seen_at, source_ip, user_agent)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		ses.ID, ses.TokenHash, ses.UserID, nullText(ses.OrgID), ses.CSRFToken, toMillis(ses.CreatedAt),
		toMillis(ses.ExpiresAt), toMillis(ses.LastSeenAt), ses.SourceIP, ses.UserAgent)
	if errors.Is(err, errForeignKey) {
		return Session{}, fmt.Errorf("user %s or organization %s: %w", ses.UserID, ses.OrgID, ErrNotFound)
	}
	if err != nil {
		return Session{}, fmt.Errorf("creating session for user %s: %w", ses.UserID, err)
	}
	return ses, nil
}

// GetSessionByHash returns the session whose secret hashes to hash if it is
// usable at now: not revoked, not expired, and its user not disabled. Any
// other case is ErrNotFound, indistinguishably.
func (s *Store) GetSessionByHash(ctx context.Context, hash []byte, now time.Time) (Session, error) {
	ses, err := scanSession(s.reader().queryRow(ctx, sessionSelect+`
		JOIN users u ON u.id = s.user_id
		WHERE s.token_hash = ? AND s.revoked_at IS NULL AND s.expires_at > ? AND u.disabled = ?`,
		hash, toMillis(now), false))
	if err != nil {
		return Session{}, wrap(err, "session", "getting session")
	}
	return ses, nil
}

// TouchSession records that the session was used at now.
func (s *Store) TouchSession(ctx context.Context, id string, now time.Time) error {
	err := s.writer().execOne(ctx, `UPDATE sessions SET last_seen_at = ? WHERE id = ?`, toMillis(now), id)
	return wrap(err, "session "+id, "touching session "+id)
}

// SetSessionOrg switches the session's current organization ("" = none).
// Whether the user may work in that org is the caller's decision.
func (s *Store) SetSessionOrg(ctx context.Context, id, orgID string) error {
	err := s.writer().execOne(ctx, `UPDATE sessions SET org_id = ? WHERE id = ?`, nullText(orgID), id)
	if errors.Is(err, errForeignKey) {
		return fmt.Errorf("organization %s: %w", orgID, ErrNotFound)
	}
	return wrap(err, "session "+id, "setting organization of session "+id)
}

// RevokeSession revokes the session; it takes effect at the next
// GetSessionByHash. Revoking a revoked session keeps the first revocation
// time.
func (s *Store) RevokeSession(ctx context.Context, id string) error {
	err := s.writer().execOne(ctx, `UPDATE sessions SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?`,
		toMillis(now()), id)
	return wrap(err, "session "+id, "revoking session "+id)
}

// RevokeUserSessions revokes every live session of the user (log out
// everywhere) and returns how many it revoked.
func (s *Store) RevokeUserSessions(ctx context.Context, userID string) (int, error) {
	r, err := s.writer().exec(ctx, `UPDATE sessions SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL`,
		toMillis(now()), userID)
	if err != nil {
		return 0, fmt.Errorf("revoking sessions of user %s: %w", userID, err)
	}
	n, err := r.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("revoking sessions of user %s: %w", userID, err)
	}
	return int(n), nil
}
