package store

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"time"
)

// EnrollToken is a single-use enrollment token. Only the SHA-256 of the
// secret is stored; the secret itself never reaches the store.
type EnrollToken struct {
	ID        string // generated ("tok_...") if empty on create
	Hash      []byte // SHA-256 of the secret, 32 bytes
	CreatedAt time.Time
	ExpiresAt time.Time
	UsedAt    time.Time // zero while unused
	DeviceID  string    // the device it enrolled; "" while unused
}

// CreateEnrollToken stores a new token. CreatedAt defaults to now; ExpiresAt
// is required. A token with the same hash or ID is an ErrConflict.
func (s *Store) CreateEnrollToken(ctx context.Context, t EnrollToken) (EnrollToken, error) {
	if len(t.Hash) != sha256.Size {
		return EnrollToken{}, invalid("hash", "must be a SHA-256 digest")
	}
	if t.ExpiresAt.IsZero() {
		return EnrollToken{}, invalid("expires_at", "must be set")
	}
	t.ID = orNewID(t.ID, prefixToken)
	if t.CreatedAt.IsZero() {
		t.CreatedAt = now()
	}
	t.CreatedAt = fromMillis(toMillis(t.CreatedAt))
	t.ExpiresAt = fromMillis(toMillis(t.ExpiresAt))
	t.UsedAt, t.DeviceID = time.Time{}, ""
	_, err := s.writer().exec(ctx, `
		INSERT INTO enroll_tokens (id, token_hash, created_at, expires_at)
		VALUES (?, ?, ?, ?)`,
		t.ID, t.Hash, toMillis(t.CreatedAt), toMillis(t.ExpiresAt))
	if err != nil {
		return EnrollToken{}, fmt.Errorf("creating enrollment token: %w", err)
	}
	return t, nil
}

// ListEnrollTokens returns every token, newest first.
func (s *Store) ListEnrollTokens(ctx context.Context) ([]EnrollToken, error) {
	rows, err := s.reader().query(ctx, `
		SELECT id, token_hash, created_at, expires_at, used_at, COALESCE(device_id, '')
		FROM enroll_tokens ORDER BY created_at DESC, id`)
	if err != nil {
		return nil, fmt.Errorf("listing enrollment tokens: %w", err)
	}
	defer rows.Close()
	var ts []EnrollToken
	for rows.Next() {
		var t EnrollToken
		if err := rows.Scan(&t.ID, &t.Hash, scanMillis{&t.CreatedAt}, scanMillis{&t.ExpiresAt},
			scanMillis{&t.UsedAt}, &t.DeviceID); err != nil {
			return nil, fmt.Errorf("listing enrollment tokens: %w", err)
		}
		ts = append(ts, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("listing enrollment tokens: %w", err)
	}
	return ts, nil
}

// DeleteEnrollToken revokes (or forgets) the token with the given ID.
func (s *Store) DeleteEnrollToken(ctx context.Context, id string) error {
	err := s.writer().execOne(ctx, `DELETE FROM enroll_tokens WHERE id = ?`, id)
	if errors.Is(err, ErrNotFound) {
		return fmt.Errorf("enrollment token %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("deleting enrollment token %s: %w", id, err)
	}
	return nil
}
