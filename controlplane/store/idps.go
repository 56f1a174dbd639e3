package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"
)

// IdP is an organization's OpenID Connect provider. Login finds it by the
// domain of the user's email: each domain belongs to at most one IdP on the
// whole platform.
type IdP struct {
	ID       string // "idp_..."; generated if empty on create
	OrgID    string
	Name     string // unique in the org
	Issuer   string
	ClientID string
	// ClientSecretSealed is the sealed client secret (empty for a public
	// client); the sealing binds OrgID, ID and Version like a Credential's.
	ClientSecretSealed []byte
	KEKID              string
	Version            int      // 1 if zero on create; bumped by UpdateIdPSecretSealed
	Domains            []string // normalised (NormalizeDomain), sorted, unique platform-wide
	GroupClaim         string   // ID token claim that lists the user's groups; "" = none
	CreatedAt          time.Time
	UpdatedAt          time.Time
}

// LogValue keeps the sealed secret out of logs.
func (p IdP) LogValue() slog.Value {
	return slog.GroupValue(slog.String("id", p.ID), slog.String("org_id", p.OrgID),
		slog.String("issuer", p.Issuer), slog.String("client_secret", "REDACTED"))
}

var _ slog.LogValuer = IdP{}

// NewIdPID returns a fresh IdP ID, for callers that seal the client secret
// (binding the ID) before CreateIdP.
func NewIdPID() string { return newID(prefixIdP) }

// NormalizeDomain returns domain lowercased, as IdP domains are stored and
// looked up, or an *InvalidError if it is not a DNS name (labels of a-z,
// 0-9 and '-', no empty label: a trailing dot is refused, not stripped).
func NormalizeDomain(domain string) (string, error) {
	d := strings.ToLower(strings.TrimSpace(domain))
	if d == "" || len(d) > 253 {
		return "", invalid("domains", "a domain must be 1 to 253 characters")
	}
	for label := range strings.SplitSeq(d, ".") {
		if !validDNSLabel(label) {
			return "", invalid("domains", fmt.Sprintf("%q is not a domain name", domain))
		}
	}
	return d, nil
}

func validDNSLabel(l string) bool {
	if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
		return false
	}
	for _, r := range l {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
			return false
		}
	}
	return true
}

func normalizeDomains(in []string) ([]string, error) {
	var out []string
	for _, d := range in {
		n, err := NormalizeDomain(d)
		if err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

func validateIdP(p IdP) error {
	if err := validateLabel("name", p.Name); err != nil {
		return err
	}
	switch {
	case p.Issuer == "" || len(p.Issuer) > maxIdentityLen:
		return invalid("issuer", "must be 1 to 2048 bytes")
	case p.ClientID == "" || len(p.ClientID) > maxIdentityLen:
		return invalid("client_id", "must be 1 to 2048 bytes")
	case len(p.ClientSecretSealed) > 0 && p.KEKID == "":
		return invalid("kek_id", "must be set with a sealed client secret")
	case len(p.GroupClaim) > maxLabelLen:
		return invalid("group_claim", "must be at most 100 bytes")
	case p.Version < 0:
		return invalid("version", "must be positive")
	}
	return nil
}

const idpColumns = `id, org_id, name, issuer, client_id, client_secret_sealed, kek_id, version, group_claim, created_at, updated_at`

func scanIdP(r scanner) (IdP, error) {
	var p IdP
	err := r.Scan(&p.ID, &p.OrgID, &p.Name, &p.Issuer, &p.ClientID, &p.ClientSecretSealed, &p.KEKID, &p.Version,
		&p.GroupClaim, scanMillis{&p.CreatedAt}, scanMillis{&p.UpdatedAt})
	if len(p.ClientSecretSealed) == 0 {
		p.ClientSecretSealed = nil
	}
	return p, err
}

// CreateIdP stores an organization's IdP and its domains. Errors:
// ErrInvalid, ErrNotFound (no such org), ErrConflict (name taken in the
// org, or a domain — idp_domains.domain — taken by any IdP).
func (s *Store) CreateIdP(ctx context.Context, p IdP) (IdP, error) {
	if err := validateIdP(p); err != nil {
		return IdP{}, err
	}
	domains, err := normalizeDomains(p.Domains)
	if err != nil {
		return IdP{}, err
	}
	p.Domains = domains
	p.ID = orNewID(p.ID, prefixIdP)
	if p.Version == 0 {
		p.Version = 1
	}
	p.CreatedAt = fromMillis(toMillis(now()))
	p.UpdatedAt = p.CreatedAt
	err = s.inTx(ctx, func(c conn) error {
		_, err := c.exec(ctx, `INSERT INTO idps (`+idpColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			p.ID, p.OrgID, p.Name, p.Issuer, p.ClientID, notNilBytes(p.ClientSecretSealed), p.KEKID, p.Version,
			p.GroupClaim, toMillis(p.CreatedAt), toMillis(p.UpdatedAt))
		if errors.Is(err, errForeignKey) {
			return fmt.Errorf("organization %s: %w", p.OrgID, ErrNotFound)
		}
		if err != nil {
			return err
		}
		for _, d := range p.Domains {
			if _, err := c.exec(ctx, `INSERT INTO idp_domains (idp_id, domain) VALUES (?, ?)`, p.ID, d); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return IdP{}, fmt.Errorf("creating identity provider %s: %w", p.Name, err)
	}
	return p, nil
}

// GetIdP returns the organization's IdP with the given ID.
func (s *Store) GetIdP(ctx context.Context, orgID, id string) (IdP, error) {
	ps, err := s.listIdPs(ctx, `WHERE i.id = ? AND i.org_id = ?`, id, orgID)
	if err == nil && len(ps) == 0 {
		err = ErrNotFound
	}
	if err != nil {
		return IdP{}, wrap(err, "identity provider "+id, "getting identity provider "+id)
	}
	return ps[0], nil
}

// ListIdPs returns the organization's IdPs ordered by name.
func (s *Store) ListIdPs(ctx context.Context, orgID string) ([]IdP, error) {
	ps, err := s.listIdPs(ctx, `WHERE i.org_id = ?`, orgID)
	if err != nil {
		return nil, fmt.Errorf("listing identity providers of organization %s: %w", orgID, err)
	}
	return ps, nil
}

// ListAllIdPs returns every IdP of every organization, for re-wrapping
// client secrets under a new KEK.
func (s *Store) ListAllIdPs(ctx context.Context) ([]IdP, error) {
	ps, err := s.listIdPs(ctx, ``)
	if err != nil {
		return nil, fmt.Errorf("listing identity providers: %w", err)
	}
	return ps, nil
}

// FindIdPByDomain returns the IdP that owns domain (compared after
// NormalizeDomain; no suffix or subdomain matching), whatever its org.
func (s *Store) FindIdPByDomain(ctx context.Context, domain string) (IdP, error) {
	d, err := NormalizeDomain(domain)
	if err != nil {
		return IdP{}, fmt.Errorf("identity provider for domain %q: %w", domain, ErrNotFound)
	}
	ps, err := s.listIdPs(ctx, `WHERE i.id = (SELECT idp_id FROM idp_domains WHERE domain = ?)`, d)
	if err == nil && len(ps) == 0 {
		err = ErrNotFound
	}
	if err != nil {
		return IdP{}, wrap(err, "identity provider for domain "+d, "finding identity provider for domain "+d)
	}
	return ps[0], nil
}

// listIdPs returns the IdPs that where (on idps i) selects, ordered by
// name and ID, with their domains.
func (s *Store) listIdPs(ctx context.Context, where string, args ...any) ([]IdP, error) {
	c := s.reader()
	ps, err := collect(ctx, c, scanIdP, `SELECT `+idpColumns+` FROM idps i `+where+` ORDER BY i.name, i.id`, args...)
	if err != nil || len(ps) == 0 {
		return ps, err
	}
	type domain struct{ idp, name string }
	ds, err := collect(ctx, c, func(r scanner) (domain, error) {
		var d domain
		return d, r.Scan(&d.idp, &d.name)
	}, `SELECT idp_id, domain FROM idp_domains WHERE idp_id IN (SELECT i.id FROM idps i `+where+`) ORDER BY domain`, args...)
	if err != nil {
		return nil, err
	}
	byID := make(map[string]*IdP, len(ps))
	for i := range ps {
		byID[ps[i].ID] = &ps[i]
	}
	for _, d := range ds {
		if p := byID[d.idp]; p != nil {
			p.Domains = append(p.Domains, d.name)
		}
	}
	return ps, nil
}

// DeleteIdP deletes the organization's IdP and frees its domains.
func (s *Store) DeleteIdP(ctx context.Context, orgID, id string) error {
	err := s.writer().execOne(ctx, `DELETE FROM idps WHERE id = ? AND org_id = ?`, id, orgID)
	return wrap(err, "identity provider "+id, "deleting identity provider "+id)
}

// UpdateIdPSecretSealed replaces the sealed client secret of IdP id if its
// version is still expectVersion, like UpdateCredentialSealed.
func (s *Store) UpdateIdPSecretSealed(ctx context.Context, id string, sealed []byte, kekID string, expectVersion int) error {
	return s.updateSealed(ctx, "identity provider", "idps", "client_secret_sealed", id, sealed, kekID, expectVersion)
}
