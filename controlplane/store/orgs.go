package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Org is an organization: the unit of tenancy. Every org-scoped method of
// Store takes the org's ID and treats a row of another org as nonexistent
// (ErrNotFound, or absent from a list), so a caller that resolved the
// org from the request's credentials cannot reach another tenant's rows by
// naming their IDs.
type Org struct {
	ID        string // generated ("org_...") if empty on create
	Name      string // display name
	Slug      string // unique; [a-z0-9-], how URLs and the CLI name the org
	CreatedAt time.Time
}

const (
	maxLabelLen = 100
	maxSlugLen  = 63
)

// ValidateSlug checks an organization slug: 1 to 63 characters of a-z, 0-9
// and '-', neither first nor last a '-'. A slug can never look like an ID
// (generated IDs hold '_'), so GetOrg can take either.
func ValidateSlug(slug string) error {
	if slug == "" || len(slug) > maxSlugLen {
		return invalid("slug", fmt.Sprintf("must be 1 to %d characters", maxSlugLen))
	}
	for _, r := range slug {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
			return invalid("slug", "may hold only a-z, 0-9 and '-'")
		}
	}
	if slug[0] == '-' || slug[len(slug)-1] == '-' {
		return invalid("slug", "must not begin or end with '-'")
	}
	return nil
}

// validateLabel checks a human-chosen name (of an org, group, folder,
// credential, IdP or token): 1 to 100 bytes of UTF-8 without control
// characters or surrounding spaces.
func validateLabel(field, s string) error {
	if s == "" || len(s) > maxLabelLen {
		return invalid(field, fmt.Sprintf("must be 1 to %d bytes", maxLabelLen))
	}
	if !utf8.ValidString(s) || strings.TrimSpace(s) != s {
		return invalid(field, "must be UTF-8 without leading or trailing spaces")
	}
	if strings.ContainsFunc(s, unicode.IsControl) {
		return invalid(field, "must not hold control characters")
	}
	return nil
}

const orgColumns = `id, name, slug, created_at`

func scanOrg(r scanner) (Org, error) {
	var o Org
	err := r.Scan(&o.ID, &o.Name, &o.Slug, scanMillis{&o.CreatedAt})
	return o, err
}

// CreateOrg creates an organization. Errors: ErrInvalid, ErrConflict (slug).
func (s *Store) CreateOrg(ctx context.Context, o Org) (Org, error) {
	if err := validateLabel("name", o.Name); err != nil {
		return Org{}, err
	}
	if err := ValidateSlug(o.Slug); err != nil {
		return Org{}, err
	}
	o.ID = orNewID(o.ID, prefixOrg)
	o.CreatedAt = fromMillis(toMillis(now()))
	_, err := s.writer().exec(ctx, `INSERT INTO orgs (`+orgColumns+`) VALUES (?, ?, ?, ?)`,
		o.ID, o.Name, o.Slug, toMillis(o.CreatedAt))
	if err != nil {
		return Org{}, fmt.Errorf("creating organization %s: %w", o.Slug, err)
	}
	return o, nil
}

// GetOrg returns the organization with the given ID or, failing that, slug.
func (s *Store) GetOrg(ctx context.Context, idOrSlug string) (Org, error) {
	o, err := scanOrg(s.reader().queryRow(ctx, `
		SELECT `+orgColumns+` FROM orgs
		WHERE id = ? OR (slug = ? AND NOT EXISTS (SELECT 1 FROM orgs WHERE id = ?))`,
		idOrSlug, idOrSlug, idOrSlug))
	if err != nil {
		return Org{}, wrap(err, "organization "+idOrSlug, "getting organization "+idOrSlug)
	}
	return o, nil
}

// ListOrgs returns every organization ordered by slug (the platform view).
func (s *Store) ListOrgs(ctx context.Context) ([]Org, error) {
	orgs, err := collect(ctx, s.reader(), scanOrg, `SELECT `+orgColumns+` FROM orgs ORDER BY slug`)
	if err != nil {
		return nil, fmt.Errorf("listing organizations: %w", err)
	}
	return orgs, nil
}

// errOrgHasDevices is why DeleteOrg refuses.
var errOrgHasDevices = invalid("org", "organization still has devices; delete them first")

// DeleteOrg deletes the organization and everything it owns: memberships
// (and with them the members' API tokens), groups, folders, grants,
// credentials, IdPs and enrollment tokens; sessions that had it as their
// current org lose it. Audit events stay. It refuses with ErrInvalid while
// the org has devices: they hold overlay addresses and live connections,
// which the caller must tear down first.
func (s *Store) DeleteOrg(ctx context.Context, id string) error {
	err := s.inTx(ctx, func(c conn) error {
		var n int
		if err := c.queryRow(ctx, `SELECT COUNT(*) FROM devices WHERE org_id = ?`, id).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return errOrgHasDevices
		}
		return c.execOne(ctx, `DELETE FROM orgs WHERE id = ?`, id)
	})
	if errors.Is(err, errForeignKey) { // a device enrolled meanwhile
		return errOrgHasDevices
	}
	if errors.Is(err, ErrInvalid) {
		return err
	}
	return wrap(err, "organization "+id, "deleting organization "+id)
}
