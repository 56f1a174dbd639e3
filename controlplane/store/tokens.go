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
	// OrgID, if set, is the organization the enrolled device joins, and
	// FolderID (which needs OrgID) its folder there. Deleting the org or the
	// folder deletes the token.
	OrgID    string
	FolderID string
}

const enrollTokenColumns = `id, token_hash, created_at, expires_at, used_at, COALESCE(device_id, ''), org_id, folder_id`

func scanEnrollToken(r scanner) (EnrollToken, error) {
	var t EnrollToken
	err := r.Scan(&t.ID, &t.Hash, scanMillis{&t.CreatedAt}, scanMillis{&t.ExpiresAt},
		scanMillis{&t.UsedAt}, &t.DeviceID, scanText{&t.OrgID}, scanText{&t.FolderID})
	return t, err
}

// CreateEnrollToken stores a new token. CreatedAt defaults to now; ExpiresAt
// is required. A token with the same hash or ID is an ErrConflict; an
// unknown OrgID, or a FolderID not in that org, is ErrNotFound.
func (s *Store) CreateEnrollToken(ctx context.Context, t EnrollToken) (EnrollToken, error) {
	if len(t.Hash) != sha256.Size {
		return EnrollToken{}, invalid("hash", "must be a SHA-256 digest")
	}
	if t.ExpiresAt.IsZero() {
		return EnrollToken{}, invalid("expires_at", "must be set")
	}
	if t.FolderID != "" && t.OrgID == "" {
		return EnrollToken{}, invalid("folder_id", "needs an organization")
	}
	t.ID = orNewID(t.ID, prefixToken)
	if t.CreatedAt.IsZero() {
		t.CreatedAt = now()
	}
	t.CreatedAt = fromMillis(toMillis(t.CreatedAt))
	t.ExpiresAt = fromMillis(toMillis(t.ExpiresAt))
	t.UsedAt, t.DeviceID = time.Time{}, ""
	err := s.inTx(ctx, func(c conn) error {
		if t.FolderID != "" {
			if err := folderInOrg(ctx, c, t.OrgID, t.FolderID); err != nil {
				return err
			}
		}
		_, err := c.exec(ctx, `
			INSERT INTO enroll_tokens (id, token_hash, created_at, expires_at, org_id, folder_id)
			VALUES (?, ?, ?, ?, ?, ?)`,
			t.ID, t.Hash, toMillis(t.CreatedAt), toMillis(t.ExpiresAt), nullText(t.OrgID), nullText(t.FolderID))
		if errors.Is(err, errForeignKey) {
			return fmt.Errorf("organization %s: %w", t.OrgID, ErrNotFound)
		}
		return err
	})
	if err != nil {
		return EnrollToken{}, fmt.Errorf("creating enrollment token: %w", err)
	}
	return t, nil
}

// ListEnrollTokens returns every token of every organization (and of
// none), newest first.
func (s *Store) ListEnrollTokens(ctx context.Context) ([]EnrollToken, error) {
	ts, err := collect(ctx, s.reader(), scanEnrollToken,
		`SELECT `+enrollTokenColumns+` FROM enroll_tokens ORDER BY created_at DESC, id`)
	if err != nil {
		return nil, fmt.Errorf("listing enrollment tokens: %w", err)
	}
	return ts, nil
}

// ListOrgEnrollTokens returns the organization's tokens, newest first.
func (s *Store) ListOrgEnrollTokens(ctx context.Context, orgID string) ([]EnrollToken, error) {
	ts, err := collect(ctx, s.reader(), scanEnrollToken,
		`SELECT `+enrollTokenColumns+` FROM enroll_tokens WHERE org_id = ? ORDER BY created_at DESC, id`, orgID)
	if err != nil {
		return nil, fmt.Errorf("listing enrollment tokens of organization %s: %w", orgID, err)
	}
	return ts, nil
}

// DeleteOrgEnrollToken revokes (or forgets) the organization's token with
// the given ID; another organization's token is ErrNotFound.
func (s *Store) DeleteOrgEnrollToken(ctx context.Context, orgID, id string) error {
	err := s.writer().execOne(ctx, `DELETE FROM enroll_tokens WHERE id = ? AND org_id = ?`, id, orgID)
	return wrap(err, "enrollment token "+id, "deleting enrollment token "+id)
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
