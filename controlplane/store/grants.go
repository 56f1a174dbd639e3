package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Subject and object types of a grant.
const (
	SubjectUser  = "user"
	SubjectGroup = "group"

	ObjectOrganization = "organization"
	ObjectFolder       = "folder"
	ObjectDevice       = "device"
)

// Grant gives a subject (a user who is a member of the org, or a group of
// the org) a relation on an object of the same org (the org itself, a
// folder or a device). Grants are the rows the OpenFGA tuples mirror, so
// the tuples can always be rebuilt from ListAllGrants. A grant disappears
// with its subject or object: removing the member, deleting the group,
// folder, device or org.
type Grant struct {
	ID          string // generated ("grt_...") if empty on create
	OrgID       string
	SubjectType string // SubjectUser or SubjectGroup
	SubjectID   string
	Relation    string // e.g. "connect"; a-z and '_', the OpenFGA model decides which exist
	ObjectType  string // ObjectOrganization, ObjectFolder or ObjectDevice
	ObjectID    string // for ObjectOrganization: OrgID ("" on create means OrgID)
	CreatedAt   time.Time
}

// GrantFilter selects grants; empty fields match anything.
type GrantFilter struct {
	SubjectType string
	SubjectID   string
	Relation    string
	ObjectType  string
	ObjectID    string
}

const maxRelationLen = 64

func validateGrant(g Grant) error {
	switch {
	case g.SubjectType != SubjectUser && g.SubjectType != SubjectGroup:
		return invalid("subject_type", "must be user or group")
	case g.SubjectID == "":
		return invalid("subject_id", "must not be empty")
	case g.ObjectType != ObjectOrganization && g.ObjectType != ObjectFolder && g.ObjectType != ObjectDevice:
		return invalid("object_type", "must be organization, folder or device")
	case g.ObjectID == "":
		return invalid("object_id", "must not be empty")
	case !validRelation(g.Relation):
		return invalid("relation", "must be 1 to 64 characters of a-z and '_', starting with a letter")
	}
	return nil
}

func validRelation(r string) bool {
	if r == "" || len(r) > maxRelationLen || r[0] < 'a' || r[0] > 'z' {
		return false
	}
	return !strings.ContainsFunc(r, func(c rune) bool { return !(c >= 'a' && c <= 'z' || c == '_') })
}

const grantColumns = `id, org_id, subject_type, subject_id, relation, object_type, object_id, created_at`

func scanGrant(r scanner) (Grant, error) {
	var g Grant
	err := r.Scan(&g.ID, &g.OrgID, &g.SubjectType, &g.SubjectID, &g.Relation, &g.ObjectType, &g.ObjectID,
		scanMillis{&g.CreatedAt})
	return g, err
}

// CreateGrant stores a grant. Errors: ErrInvalid, ErrNotFound (the subject
// or the object is not in the org; for the organization object, an ObjectID
// other than OrgID), ErrConflict (the same grant exists; Field "tuple").
func (s *Store) CreateGrant(ctx context.Context, g Grant) (Grant, error) {
	if g.ObjectType == ObjectOrganization && g.ObjectID == "" {
		g.ObjectID = g.OrgID
	}
	if err := validateGrant(g); err != nil {
		return Grant{}, err
	}
	if g.ObjectType == ObjectOrganization && g.ObjectID != g.OrgID {
		return Grant{}, fmt.Errorf("organization %s: %w", g.ObjectID, ErrNotFound)
	}
	g.ID = orNewID(g.ID, prefixGrant)
	g.CreatedAt = fromMillis(toMillis(now()))
	// Exactly one subject column and at most one object column repeat the
	// IDs, for the foreign key that checks them.
	ref := map[string]string{g.SubjectType: g.SubjectID, g.ObjectType: g.ObjectID}
	_, err := s.writer().exec(ctx, `
		INSERT INTO grants (`+grantColumns+`, user_id, group_id, folder_id, device_id)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		g.ID, g.OrgID, g.SubjectType, g.SubjectID, g.Relation, g.ObjectType, g.ObjectID, toMillis(g.CreatedAt),
		nullText(ref[SubjectUser]), nullText(ref[SubjectGroup]), nullText(ref[ObjectFolder]), nullText(ref[ObjectDevice]))
	var c *ConflictError
	switch {
	case errors.Is(err, errForeignKey):
		return Grant{}, fmt.Errorf("%s %s or %s %s in organization %s: %w",
			g.SubjectType, g.SubjectID, g.ObjectType, g.ObjectID, g.OrgID, ErrNotFound)
	case errors.As(err, &c) && c.Field != "id":
		err = &ConflictError{Table: "grants", Field: "tuple"}
	}
	if err != nil {
		return Grant{}, fmt.Errorf("creating grant: %w", err)
	}
	return g, nil
}

// GetGrant returns the organization's grant with the given ID.
func (s *Store) GetGrant(ctx context.Context, orgID, id string) (Grant, error) {
	g, err := scanGrant(s.reader().queryRow(ctx, `SELECT `+grantColumns+` FROM grants WHERE id = ? AND org_id = ?`,
		id, orgID))
	if err != nil {
		return Grant{}, wrap(err, "grant "+id, "getting grant "+id)
	}
	return g, nil
}

// DeleteGrant deletes the organization's grant.
func (s *Store) DeleteGrant(ctx context.Context, orgID, id string) error {
	err := s.writer().execOne(ctx, `DELETE FROM grants WHERE id = ? AND org_id = ?`, id, orgID)
	return wrap(err, "grant "+id, "deleting grant "+id)
}

// ListGrants returns the organization's grants that match f, ordered by
// object, subject and relation.
func (s *Store) ListGrants(ctx context.Context, orgID string, f GrantFilter) ([]Grant, error) {
	q, args := `SELECT `+grantColumns+` FROM grants WHERE org_id = ?`, []any{orgID}
	for _, c := range []struct{ column, value string }{
		{"subject_type", f.SubjectType}, {"subject_id", f.SubjectID}, {"relation", f.Relation},
		{"object_type", f.ObjectType}, {"object_id", f.ObjectID},
	} {
		if c.value != "" {
			q, args = q+` AND `+c.column+` = ?`, append(args, c.value)
		}
	}
	gs, err := collect(ctx, s.reader(), scanGrant, q+` ORDER BY `+grantOrder, args...)
	if err != nil {
		return nil, fmt.Errorf("listing grants of organization %s: %w", orgID, err)
	}
	return gs, nil
}

const grantOrder = `object_type, object_id, subject_type, subject_id, relation`

// ListAllGrants returns every grant of every organization, ordered by org
// and as ListGrants orders them, for rebuilding the OpenFGA tuples.
func (s *Store) ListAllGrants(ctx context.Context) ([]Grant, error) {
	gs, err := collect(ctx, s.reader(), scanGrant, `SELECT `+grantColumns+` FROM grants ORDER BY org_id, `+grantOrder)
	if err != nil {
		return nil, fmt.Errorf("listing grants: %w", err)
	}
	return gs, nil
}
