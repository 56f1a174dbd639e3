package store

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// APIToken is a personal access token for scripts and the CLI, scoped to
// one organization. It lives only as long as the user's membership of that
// organization. Only the SHA-256 of the secret is stored.
type APIToken struct {
	ID         string // "pat_..."; generated if empty on create
	TokenHash  []byte // SHA-256 of the secret, unique
	UserID     string
	OrgID      string
	Name       string
	CreatedAt  time.Time // now if zero on create
	ExpiresAt  time.Time // zero: never
	LastUsedAt time.Time
	RevokedAt  time.Time // zero while valid
}

// LogValue keeps the token hash out of logs.
func (t APIToken) LogValue() slog.Value {
	return slog.GroupValue(slog.String("id", t.ID), slog.String("user_id", t.UserID),
		slog.String("org_id", t.OrgID), slog.String("name", t.Name))
}

var _ slog.LogValuer = APIToken{}

const apiTokenSelect = `
	SELECT t.id, t.token_hash, t.user_id, t.org_id, t.name, t.created_at, t.expires_at, t.last_used_at, t.revoked_at
	FROM api_tokens t`

func scanAPIToken(r scanner) (APIToken, error) {
	var t APIToken
	err := r.Scan(&t.ID, &t.TokenHash, &t.UserID, &t.OrgID, &t.Name, scanMillis{&t.CreatedAt},
		scanMillis{&t.ExpiresAt}, scanMillis{&t.LastUsedAt}, scanMillis{&t.RevokedAt})
	return t, err
}

// CreateAPIToken stores a new API token. Errors: ErrInvalid, ErrNotFound
// (the user is not a member of the org), ErrConflict (token hash).
func (s *Store) CreateAPIToken(ctx context.Context, t APIToken) (APIToken, error) {
	if len(t.TokenHash) != sha256.Size {
		return APIToken{}, invalid("token_hash", "must be a SHA-256 digest")
	}
	if err := validateLabel("name", t.Name); err != nil {
		return APIToken{}, err
	}
	t.ID = orNewID(t.ID, prefixAPIToken)
	if t.CreatedAt.IsZero() {
		t.CreatedAt = now()
	}
	t.CreatedAt = fromMillis(toMillis(t.CreatedAt))
	t.ExpiresAt = fromMillis(toMillis(t.ExpiresAt))
	t.LastUsedAt, t.RevokedAt = time.Time{}, time.Time{}
	_, err := s.writer().exec(ctx, `
		INSERT INTO api_tokens (id, token_hash, user_id, org_id, name, created_at, expires_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)`,
		t.ID, t.TokenHash, t.UserID, t.OrgID, t.Name, toMillis(t.CreatedAt), toMillis(t.ExpiresAt))
	if errors.Is(err, errForeignKey) {
		return APIToken{}, fmt.Errorf("%s: %w", membershipName(t.OrgID, t.UserID), ErrNotFound)
	}
	if err != nil {
		return APIToken{}, fmt.Errorf("creating API token %s: %w", t.Name, err)
	}
	return t, nil
}

// GetAPITokenByHash returns the token whose secret hashes to hash if it is
// usable at now: not revoked, not expired, its user not disabled (and,
// by construction, still a member of its org). Any other case is
// ErrNotFound, indistinguishably.
func (s *Store) GetAPITokenByHash(ctx context.Context, hash []byte, now time.Time) (APIToken, error) {
	t, err := scanAPIToken(s.reader().queryRow(ctx, apiTokenSelect+`
		JOIN users u ON u.id = t.user_id
		WHERE t.token_hash = ? AND t.revoked_at IS NULL AND (t.expires_at = 0 OR t.expires_at > ?)
			AND u.disabled = ?`,
		hash, toMillis(now), false))
	if err != nil {
		return APIToken{}, wrap(err, "API token", "getting API token")
	}
	return t, nil
}

// ListAPITokens returns the organization's tokens, of one user if userID
// is not "", newest first. Revoked and expired tokens are included.
func (s *Store) ListAPITokens(ctx context.Context, orgID, userID string) ([]APIToken, error) {
	q, args := apiTokenSelect+` WHERE t.org_id = ?`, []any{orgID}
	if userID != "" {
		q, args = q+` AND t.user_id = ?`, append(args, userID)
	}
	ts, err := collect(ctx, s.reader(), scanAPIToken, q+` ORDER BY t.created_at DESC, t.id`, args...)
	if err != nil {
		return nil, fmt.Errorf("listing API tokens of organization %s: %w", orgID, err)
	}
	return ts, nil
}

// RevokeAPIToken revokes the organization's token; it takes effect at the
// next GetAPITokenByHash. Revoking twice keeps the first revocation time.
func (s *Store) RevokeAPIToken(ctx context.Context, orgID, id string) error {
	err := s.writer().execOne(ctx, `UPDATE api_tokens SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ? AND org_id = ?`,
		toMillis(now()), id, orgID)
	return wrap(err, "API token "+id, "revoking API token "+id)
}

// TouchAPIToken records that the token was used at now.
func (s *Store) TouchAPIToken(ctx context.Context, id string, now time.Time) error {
	err := s.writer().execOne(ctx, `UPDATE api_tokens SET last_used_at = ? WHERE id = ?`, toMillis(now), id)
	return wrap(err, "API token "+id, "touching API token "+id)
}
