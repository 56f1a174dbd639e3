package store

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"
)

// LocalUser is an account of the engine's built-in IdP. Its ID is the
// subject of the ID tokens that IdP issues; the User it logs in as is found
// by (issuer, subject) like any other.
type LocalUser struct {
	ID           string // "lcl_..."; generated if empty on create
	Email        string // unique, stored lowercased
	PasswordHash string // argon2id or bcrypt, encoded by the caller
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// LogValue keeps the password hash out of logs.
func (u LocalUser) LogValue() slog.Value {
	return slog.GroupValue(slog.String("id", u.ID), slog.String("email", u.Email),
		slog.String("password_hash", "REDACTED"))
}

var _ slog.LogValuer = LocalUser{}

func validateLocalEmail(email string) error {
	local, domain, ok := strings.Cut(email, "@")
	if !ok || local == "" || strings.Contains(domain, "@") || len(email) > maxEmailLen {
		return invalid("email", "must be an email address")
	}
	if _, err := NormalizeDomain(domain); err != nil {
		return invalid("email", "must be an email address")
	}
	return nil
}

const localUserColumns = `id, email, password_hash, created_at, updated_at`

func scanLocalUser(r scanner) (LocalUser, error) {
	var u LocalUser
	err := r.Scan(&u.ID, &u.Email, &u.PasswordHash, scanMillis{&u.CreatedAt}, scanMillis{&u.UpdatedAt})
	return u, err
}

// CreateLocalUser creates an account of the built-in IdP. Errors:
// ErrInvalid, ErrConflict (email).
func (s *Store) CreateLocalUser(ctx context.Context, u LocalUser) (LocalUser, error) {
	u.Email = normalizeEmail(u.Email)
	if err := validateLocalEmail(u.Email); err != nil {
		return LocalUser{}, err
	}
	if u.PasswordHash == "" {
		return LocalUser{}, invalid("password_hash", "must not be empty")
	}
	u.ID = orNewID(u.ID, prefixLocalUser)
	u.CreatedAt = fromMillis(toMillis(now()))
	u.UpdatedAt = u.CreatedAt
	_, err := s.writer().exec(ctx, `INSERT INTO local_users (`+localUserColumns+`) VALUES (?, ?, ?, ?, ?)`,
		u.ID, u.Email, u.PasswordHash, toMillis(u.CreatedAt), toMillis(u.UpdatedAt))
	if err != nil {
		return LocalUser{}, fmt.Errorf("creating local user %s: %w", u.Email, err)
	}
	return u, nil
}

// GetLocalUser returns the local user with the given ID.
func (s *Store) GetLocalUser(ctx context.Context, id string) (LocalUser, error) {
	u, err := scanLocalUser(s.reader().queryRow(ctx, `SELECT `+localUserColumns+` FROM local_users WHERE id = ?`, id))
	if err != nil {
		return LocalUser{}, wrap(err, "local user "+id, "getting local user "+id)
	}
	return u, nil
}

// GetLocalUserByEmail returns the local user with the given email
// (compared lowercased).
func (s *Store) GetLocalUserByEmail(ctx context.Context, email string) (LocalUser, error) {
	email = normalizeEmail(email)
	u, err := scanLocalUser(s.reader().queryRow(ctx, `SELECT `+localUserColumns+` FROM local_users WHERE email = ?`, email))
	if err != nil {
		return LocalUser{}, wrap(err, "local user "+email, "getting local user "+email)
	}
	return u, nil
}

// SetLocalUserPassword replaces the local user's password hash.
func (s *Store) SetLocalUserPassword(ctx context.Context, id, passwordHash string) error {
	if passwordHash == "" {
		return invalid("password_hash", "must not be empty")
	}
	err := s.writer().execOne(ctx, `UPDATE local_users SET password_hash = ?, updated_at = ? WHERE id = ?`,
		passwordHash, toMillis(now()), id)
	return wrap(err, "local user "+id, "setting password of local user "+id)
}
