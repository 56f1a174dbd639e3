package store

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"time"
)

// CreateSetupToken stores the hash of a one-time setup secret (the link
// that creates the first platform admin), valid until expiresAt.
func (s *Store) CreateSetupToken(ctx context.Context, hash []byte, expiresAt time.Time) error {
	if len(hash) != sha256.Size {
		return invalid("hash", "must be a SHA-256 digest")
	}
	if expiresAt.IsZero() {
		return invalid("expires_at", "must be set")
	}
	_, err := s.writer().exec(ctx, `INSERT INTO setup_tokens (token_hash, created_at, expires_at) VALUES (?, ?, ?)`,
		hash, toMillis(now()), toMillis(expiresAt))
	if err != nil {
		return fmt.Errorf("creating setup token: %w", err)
	}
	return nil
}

// errSetupToken is what ConsumeSetupToken returns for an unknown, expired
// or used token alike.
var errSetupToken = fmt.Errorf("setup token: %w", ErrNotFound)

// ConsumeSetupToken uses the setup token with the given hash at now. Of any
// number of concurrent calls with one token, exactly one succeeds; the
// others, and calls with an unknown or expired token, get the same
// ErrNotFound.
func (s *Store) ConsumeSetupToken(ctx context.Context, hash []byte, now time.Time) error {
	t := toMillis(now)
	err := s.writer().execOne(ctx, `
		UPDATE setup_tokens SET used_at = ?
		WHERE token_hash = ? AND used_at IS NULL AND expires_at > ?`, t, hash, t)
	if errors.Is(err, ErrNotFound) {
		return errSetupToken
	}
	if err != nil {
		return fmt.Errorf("consuming setup token: %w", err)
	}
	return nil
}
