package store

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Roles of a member in an organization.
const (
	RoleAdmin  = "admin"
	RoleMember = "member"
)

// Membership makes a user a member of an organization. A user may be a
// member of several.
type Membership struct {
	OrgID     string
	UserID    string
	Role      string // RoleAdmin or RoleMember
	CreatedAt time.Time

	// Filled from the user and the org when read.
	UserEmail       string
	UserDisplayName string
	OrgName         string
	OrgSlug         string
}

func validateRole(role string) error {
	if role != RoleAdmin && role != RoleMember {
		return invalid("role", "must be admin or member")
	}
	return nil
}

const membershipSelect = `
	SELECT m.org_id, m.user_id, m.role, m.created_at, u.email, u.display_name, o.name, o.slug
	FROM memberships m
	JOIN users u ON u.id = m.user_id
	JOIN orgs o ON o.id = m.org_id`

func scanMembership(r scanner) (Membership, error) {
	var m Membership
	err := r.Scan(&m.OrgID, &m.UserID, &m.Role, scanMillis{&m.CreatedAt},
		&m.UserEmail, &m.UserDisplayName, &m.OrgName, &m.OrgSlug)
	return m, err
}

// AddMember makes m.UserID a member of m.OrgID with m.Role and returns the
// membership with its user and org fields filled. Errors: ErrInvalid,
// ErrNotFound (no such org or user), ErrConflict (already a member).
func (s *Store) AddMember(ctx context.Context, m Membership) (Membership, error) {
	if err := validateRole(m.Role); err != nil {
		return Membership{}, err
	}
	var out Membership
	err := s.inTx(ctx, func(c conn) error {
		_, err := c.exec(ctx, `INSERT INTO memberships (org_id, user_id, role, created_at) VALUES (?, ?, ?, ?)`,
			m.OrgID, m.UserID, m.Role, toMillis(now()))
		if err != nil {
			return err
		}
		out, err = scanMembership(c.queryRow(ctx, membershipSelect+` WHERE m.org_id = ? AND m.user_id = ?`,
			m.OrgID, m.UserID))
		return err
	})
	if errors.Is(err, errForeignKey) {
		return Membership{}, fmt.Errorf("organization %s or user %s: %w", m.OrgID, m.UserID, ErrNotFound)
	}
	if err != nil {
		return Membership{}, fmt.Errorf("adding user %s to organization %s: %w", m.UserID, m.OrgID, err)
	}
	return out, nil
}

// SetMemberRole changes the role of a member of the organization.
func (s *Store) SetMemberRole(ctx context.Context, orgID, userID, role string) error {
	if err := validateRole(role); err != nil {
		return err
	}
	err := s.writer().execOne(ctx, `UPDATE memberships SET role = ? WHERE org_id = ? AND user_id = ?`,
		role, orgID, userID)
	return wrap(err, membershipName(orgID, userID), "setting role of "+membershipName(orgID, userID))
}

// RemoveMember removes the user from the organization, and with the
// membership the user's group memberships, grants and API tokens in that
// organization (nothing in the org refers to a non-member). A caller that
// mirrors grants elsewhere lists the user's grants first.
func (s *Store) RemoveMember(ctx context.Context, orgID, userID string) error {
	err := s.writer().execOne(ctx, `DELETE FROM memberships WHERE org_id = ? AND user_id = ?`, orgID, userID)
	return wrap(err, membershipName(orgID, userID), "removing "+membershipName(orgID, userID))
}

// GetMembership returns the user's membership of the organization;
// ErrNotFound if the user is not a member.
func (s *Store) GetMembership(ctx context.Context, orgID, userID string) (Membership, error) {
	m, err := scanMembership(s.reader().queryRow(ctx, membershipSelect+` WHERE m.org_id = ? AND m.user_id = ?`,
		orgID, userID))
	if err != nil {
		return Membership{}, wrap(err, membershipName(orgID, userID), "getting "+membershipName(orgID, userID))
	}
	return m, nil
}

// ListMembers returns the organization's members ordered by email, then
// user ID.
func (s *Store) ListMembers(ctx context.Context, orgID string) ([]Membership, error) {
	ms, err := collect(ctx, s.reader(), scanMembership,
		membershipSelect+` WHERE m.org_id = ? ORDER BY u.email, u.id`, orgID)
	if err != nil {
		return nil, fmt.Errorf("listing members of organization %s: %w", orgID, err)
	}
	return ms, nil
}

// ListMemberships returns the organizations the user is a member of,
// ordered by slug.
func (s *Store) ListMemberships(ctx context.Context, userID string) ([]Membership, error) {
	ms, err := collect(ctx, s.reader(), scanMembership,
		membershipSelect+` WHERE m.user_id = ? ORDER BY o.slug`, userID)
	if err != nil {
		return nil, fmt.Errorf("listing memberships of user %s: %w", userID, err)
	}
	return ms, nil
}

func membershipName(orgID, userID string) string {
	return "membership of user " + userID + " in organization " + orgID
}
