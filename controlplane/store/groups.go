package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Group is a named set of users and other groups of one organization.
type Group struct {
	ID        string // generated ("grp_...") if empty on create
	OrgID     string
	Name      string // unique in the org
	CreatedAt time.Time
}

// GroupMember is one member of a group: a user who is a member of the
// group's organization, or another group of that organization. Exactly one
// of UserID and GroupID is set.
type GroupMember struct {
	UserID    string
	GroupID   string
	Name      string // filled when read: the user's email or the group's name
	CreatedAt time.Time
}

const groupColumns = `id, org_id, name, created_at`

func scanGroup(r scanner) (Group, error) {
	var g Group
	err := r.Scan(&g.ID, &g.OrgID, &g.Name, scanMillis{&g.CreatedAt})
	return g, err
}

// CreateGroup creates a group. Errors: ErrInvalid, ErrNotFound (no such
// org), ErrConflict (name taken in the org).
func (s *Store) CreateGroup(ctx context.Context, g Group) (Group, error) {
	if err := validateLabel("name", g.Name); err != nil {
		return Group{}, err
	}
	g.ID = orNewID(g.ID, prefixGroup)
	g.CreatedAt = fromMillis(toMillis(now()))
	_, err := s.writer().exec(ctx, `INSERT INTO groups (`+groupColumns+`) VALUES (?, ?, ?, ?)`,
		g.ID, g.OrgID, g.Name, toMillis(g.CreatedAt))
	if errors.Is(err, errForeignKey) {
		return Group{}, fmt.Errorf("organization %s: %w", g.OrgID, ErrNotFound)
	}
	if err != nil {
		return Group{}, fmt.Errorf("creating group %s: %w", g.Name, err)
	}
	return g, nil
}

// GetGroup returns the organization's group with the given ID or, failing
// that, name.
func (s *Store) GetGroup(ctx context.Context, orgID, idOrName string) (Group, error) {
	g, err := scanGroup(s.reader().queryRow(ctx, `
		SELECT `+groupColumns+` FROM groups
		WHERE org_id = ? AND (id = ? OR (name = ? AND NOT EXISTS (SELECT 1 FROM groups WHERE org_id = ? AND id = ?)))`,
		orgID, idOrName, idOrName, orgID, idOrName))
	if err != nil {
		return Group{}, wrap(err, "group "+idOrName, "getting group "+idOrName)
	}
	return g, nil
}

// ListGroups returns the organization's groups ordered by name.
func (s *Store) ListGroups(ctx context.Context, orgID string) ([]Group, error) {
	gs, err := collect(ctx, s.reader(), scanGroup,
		`SELECT `+groupColumns+` FROM groups WHERE org_id = ? ORDER BY name, id`, orgID)
	if err != nil {
		return nil, fmt.Errorf("listing groups of organization %s: %w", orgID, err)
	}
	return gs, nil
}

// DeleteGroup deletes the organization's group, its member rows, its
// membership in other groups and the grants it is the subject of.
func (s *Store) DeleteGroup(ctx context.Context, orgID, id string) error {
	err := s.writer().execOne(ctx, `DELETE FROM groups WHERE id = ? AND org_id = ?`, id, orgID)
	return wrap(err, "group "+id, "deleting group "+id)
}

func validateGroupMember(groupID string, m GroupMember) error {
	if (m.UserID == "") == (m.GroupID == "") {
		return invalid("member", "must be exactly one of a user and a group")
	}
	if m.GroupID == groupID {
		return invalid("group_id", "a group cannot contain itself")
	}
	return nil
}

// AddGroupMember adds a user or a group to the organization's group.
// Errors: ErrInvalid (a group containing itself, directly or through other
// groups), ErrNotFound (the group, the member group or the user's
// membership is not in the org), ErrConflict (already a member).
func (s *Store) AddGroupMember(ctx context.Context, orgID, groupID string, m GroupMember) error {
	if err := validateGroupMember(groupID, m); err != nil {
		return err
	}
	err := s.inTx(ctx, func(c conn) error {
		if m.GroupID != "" {
			if err := c.lock(ctx, lockGroups); err != nil {
				return err
			}
			if err := refuseGroupCycle(ctx, c, orgID, groupID, m.GroupID); err != nil {
				return err
			}
		}
		_, err := c.exec(ctx, `
			INSERT INTO group_members (org_id, group_id, user_id, subgroup_id, created_at)
			VALUES (?, ?, ?, ?, ?)`,
			orgID, groupID, nullText(m.UserID), nullText(m.GroupID), toMillis(now()))
		return err
	})
	member := "user " + m.UserID
	if m.GroupID != "" {
		member = "group " + m.GroupID
	}
	switch {
	case errors.Is(err, errForeignKey):
		return fmt.Errorf("group %s or %s in organization %s: %w", groupID, member, orgID, ErrNotFound)
	case errors.Is(err, ErrInvalid):
		return err
	case err != nil:
		return fmt.Errorf("adding %s to group %s: %w", member, groupID, err)
	}
	return nil
}

// refuseGroupCycle fails if group is reachable from member (member
// contains group, directly or not): adding member to group would close a
// cycle.
func refuseGroupCycle(ctx context.Context, c conn, orgID, group, member string) error {
	var n int
	err := c.queryRow(ctx, `
		WITH RECURSIVE reach (id) AS (
			SELECT id FROM groups WHERE id = ? AND org_id = ?
			UNION
			SELECT gm.subgroup_id FROM group_members gm JOIN reach r ON gm.group_id = r.id
			WHERE gm.subgroup_id IS NOT NULL
		)
		SELECT COUNT(*) FROM reach WHERE id = ?`,
		member, orgID, group).Scan(&n)
	if err != nil {
		return err
	}
	if n > 0 {
		return invalid("group_id", "group "+member+" contains group "+group+": nesting would make a cycle")
	}
	return nil
}

// RemoveGroupMember removes a user or a group from the organization's group.
func (s *Store) RemoveGroupMember(ctx context.Context, orgID, groupID string, m GroupMember) error {
	if (m.UserID == "") == (m.GroupID == "") {
		return invalid("member", "must be exactly one of a user and a group")
	}
	err := s.writer().execOne(ctx, `
		DELETE FROM group_members
		WHERE org_id = ? AND group_id = ? AND (user_id = ? OR subgroup_id = ?)`,
		orgID, groupID, m.UserID, m.GroupID)
	return wrap(err, "member of group "+groupID, "removing member of group "+groupID)
}

// ListGroupMembers returns the members of the organization's group, ordered
// by name (email or group name). ErrNotFound if the group is not in the org.
func (s *Store) ListGroupMembers(ctx context.Context, orgID, groupID string) ([]GroupMember, error) {
	var one int
	err := s.reader().queryRow(ctx, `SELECT 1 FROM groups WHERE id = ? AND org_id = ?`, groupID, orgID).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("group %s: %w", groupID, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("listing members of group %s: %w", groupID, err)
	}
	ms, err := collect(ctx, s.reader(), scanGroupMember, `
		SELECT COALESCE(gm.user_id, ''), COALESCE(gm.subgroup_id, ''), COALESCE(u.email, g.name, ''), gm.created_at
		FROM group_members gm
		LEFT JOIN users u ON u.id = gm.user_id
		LEFT JOIN groups g ON g.id = gm.subgroup_id
		WHERE gm.org_id = ? AND gm.group_id = ?
		ORDER BY 3, 1, 2`, orgID, groupID)
	if err != nil {
		return nil, fmt.Errorf("listing members of group %s: %w", groupID, err)
	}
	return ms, nil
}

func scanGroupMember(r scanner) (GroupMember, error) {
	var m GroupMember
	err := r.Scan(&m.UserID, &m.GroupID, &m.Name, scanMillis{&m.CreatedAt})
	return m, err
}
