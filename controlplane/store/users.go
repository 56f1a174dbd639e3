package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// User is a person as an OIDC provider identifies them. The identity is the
// (Issuer, Subject) pair alone: two logins with the same email through
// different issuers are two users, never linked.
type User struct {
	ID            string // "usr_..."
	Issuer        string
	Subject       string
	Email         string // as the IdP last reported it, lowercased; informational
	DisplayName   string
	PlatformAdmin bool // may manage every organization and the platform
	Disabled      bool // a disabled user's sessions and API tokens stop working
	CreatedAt     time.Time
	LastLoginAt   time.Time
}

const (
	maxEmailLen       = 320
	maxDisplayNameLen = 200
	maxIdentityLen    = 2048 // issuer URL, subject
)

// normalizeEmail is how emails are stored and looked up: trimmed and
// lowercased.
func normalizeEmail(email string) string { return strings.ToLower(strings.TrimSpace(email)) }

// truncate cuts s to at most n bytes without splitting a UTF-8 sequence.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

const userColumns = `id, issuer, subject, email, display_name, platform_admin, disabled, created_at, last_login_at`

func scanUser(r scanner) (User, error) {
	var u User
	err := r.Scan(&u.ID, &u.Issuer, &u.Subject, &u.Email, &u.DisplayName, &u.PlatformAdmin, &u.Disabled,
		scanMillis{&u.CreatedAt}, scanMillis{&u.LastLoginAt})
	return u, err
}

// UpsertUserIdentity records a login of the identity (issuer, subject):
// it creates the user on first sight (created is true) and otherwise
// updates the email, display name and last login time. It returns the user
// whatever its Disabled flag; refusing disabled users is the caller's job.
func (s *Store) UpsertUserIdentity(ctx context.Context, issuer, subject, email, displayName string) (u User, created bool, err error) {
	switch {
	case issuer == "" || len(issuer) > maxIdentityLen:
		return User{}, false, invalid("issuer", "must be 1 to 2048 bytes")
	case subject == "" || len(subject) > maxIdentityLen:
		return User{}, false, invalid("subject", "must be 1 to 2048 bytes")
	}
	email = normalizeEmail(email)
	if len(email) > maxEmailLen {
		return User{}, false, invalid("email", "must be at most 320 bytes")
	}
	displayName = truncate(strings.TrimSpace(displayName), maxDisplayNameLen)
	id := newID(prefixUser)
	t := toMillis(now())
	u, err = scanUser(s.writer().queryRow(ctx, `
		INSERT INTO users (id, issuer, subject, email, display_name, created_at, last_login_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (issuer, subject) DO UPDATE SET
			email         = excluded.email,
			display_name  = excluded.display_name,
			last_login_at = excluded.last_login_at
		RETURNING `+userColumns,
		id, issuer, subject, email, displayName, t, t))
	if err != nil {
		return User{}, false, fmt.Errorf("recording login of %s at %s: %w", subject, issuer, s.d.classify(err))
	}
	return u, u.ID == id, nil
}

// GetUser returns the user with the given ID.
func (s *Store) GetUser(ctx context.Context, id string) (User, error) {
	u, err := scanUser(s.reader().queryRow(ctx, `SELECT `+userColumns+` FROM users WHERE id = ?`, id))
	if err != nil {
		return User{}, wrap(err, "user "+id, "getting user "+id)
	}
	return u, nil
}

// ListUsers returns every user of the platform ordered by email, then ID.
// It is the platform admin's view; an org lists its users with ListMembers.
func (s *Store) ListUsers(ctx context.Context) ([]User, error) {
	us, err := collect(ctx, s.reader(), scanUser, `SELECT `+userColumns+` FROM users ORDER BY email, id`)
	if err != nil {
		return nil, fmt.Errorf("listing users: %w", err)
	}
	return us, nil
}

// FindUsersByEmail returns the users whose last known email is email
// (compared lowercased), oldest first. Several identities may share an
// email; this is for admin lookups, never for authentication.
func (s *Store) FindUsersByEmail(ctx context.Context, email string) ([]User, error) {
	us, err := collect(ctx, s.reader(), scanUser,
		`SELECT `+userColumns+` FROM users WHERE email = ? ORDER BY created_at, id`, normalizeEmail(email))
	if err != nil {
		return nil, fmt.Errorf("finding users by email: %w", err)
	}
	return us, nil
}

// errLastAdmin is why a change that would leave no platform admin fails.
var errLastAdmin = invalid("platform_admin", "the platform must keep at least one enabled platform admin")

// SetPlatformAdmin grants or takes away the platform admin role. Taking it
// from the last enabled platform admin is ErrInvalid.
func (s *Store) SetPlatformAdmin(ctx context.Context, id string, admin bool) error {
	return s.setUserFlag(ctx, id, "platform_admin", admin, !admin)
}

// SetUserDisabled disables or enables the user. A disabled user's sessions
// and API tokens are refused by GetSessionByHash and GetAPITokenByHash at
// once. Disabling the last enabled platform admin is ErrInvalid.
func (s *Store) SetUserDisabled(ctx context.Context, id string, disabled bool) error {
	return s.setUserFlag(ctx, id, "disabled", disabled, disabled)
}

func (s *Store) setUserFlag(ctx context.Context, id, column string, value, removesAdmin bool) error {
	err := s.inTx(ctx, func(c conn) error {
		if err := c.lock(ctx, lockAdmins); err != nil {
			return err
		}
		if removesAdmin {
			if err := keepLastAdmin(ctx, c, id); err != nil {
				return err
			}
		}
		return c.execOne(ctx, `UPDATE users SET `+column+` = ? WHERE id = ?`, value, id)
	})
	if errors.Is(err, ErrInvalid) {
		return err
	}
	return wrap(err, "user "+id, "setting "+column+" of user "+id)
}

// keepLastAdmin fails if id is the only enabled platform admin.
func keepLastAdmin(ctx context.Context, c conn, id string) error {
	var self, others int
	err := c.queryRow(ctx, `
		SELECT COALESCE(SUM(CASE WHEN id = ? THEN 1 ELSE 0 END), 0),
		       COALESCE(SUM(CASE WHEN id <> ? THEN 1 ELSE 0 END), 0)
		FROM users WHERE platform_admin = ? AND disabled = ?`,
		id, id, true, false).Scan(&self, &others)
	if err != nil {
		return err
	}
	if self > 0 && others == 0 {
		return errLastAdmin
	}
	return nil
}

// CountPlatformAdmins returns how many enabled platform admins there are;
// the engine offers the setup link while there are none.
func (s *Store) CountPlatformAdmins(ctx context.Context) (int, error) {
	var n int
	err := s.reader().queryRow(ctx, `SELECT COUNT(*) FROM users WHERE platform_admin = ? AND disabled = ?`,
		true, false).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("counting platform admins: %w", err)
	}
	return n, nil
}
