package store

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"
)

// Publish exposes a service on a gateway port of the engine (raw TCP for
// native clients).
type Publish struct {
	ID        string // generated ("pub_...") if empty on create
	ServiceID string
	Listen    string // host:port the engine listens on, e.g. ":2201"; unique
	CreatedAt time.Time
	// CreatedBy is the user who published it; their access to the device
	// port is checked on every flow. "" = the admin socket (no check).
	CreatedBy string
	// AllowCIDRs limits the sources the port accepts connections from;
	// empty = any source.
	AllowCIDRs []netip.Prefix

	// Filled from the service and its device when read.
	DeviceID    string
	DeviceName  string
	ServiceName string
	ServicePort int
}

// ValidatePublish checks a publish as CreatePublish would.
func ValidatePublish(p Publish) error {
	if p.ServiceID == "" {
		return invalid("service_id", "must not be empty")
	}
	_, port, err := net.SplitHostPort(p.Listen)
	if err != nil || !validPort(port) {
		return invalid("listen", "must be [host]:port with a port between 1 and 65535")
	}
	for _, c := range p.AllowCIDRs {
		if !c.IsValid() {
			return invalid("allow_cidrs", "must be valid prefixes such as 10.0.0.0/8")
		}
	}
	return nil
}

// formatCIDRs encodes prefixes as the allow_cidrs column holds them.
func formatCIDRs(ps []netip.Prefix) string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.Masked().String()
	}
	return strings.Join(out, ",")
}

// parseCIDRs decodes the allow_cidrs column; "" = nil.
func parseCIDRs(s string) ([]netip.Prefix, error) {
	if s == "" {
		return nil, nil
	}
	parts := strings.Split(s, ",")
	out := make([]netip.Prefix, 0, len(parts))
	for _, part := range parts {
		p, err := netip.ParsePrefix(part)
		if err != nil {
			return nil, fmt.Errorf("allow_cidrs: %w", err)
		}
		out = append(out, p)
	}
	return out, nil
}

const publishSelect = `
	SELECT p.id, p.service_id, p.listen, p.created_at, p.created_by, p.allow_cidrs, s.device_id, d.name, s.name, s.port
	FROM publishes p
	JOIN services s ON s.id = p.service_id
	JOIN devices d ON d.id = s.device_id`

func scanPublish(r scanner) (Publish, error) {
	var p Publish
	var cidrs string
	err := r.Scan(&p.ID, &p.ServiceID, &p.Listen, scanMillis{&p.CreatedAt}, &p.CreatedBy, &cidrs,
		&p.DeviceID, &p.DeviceName, &p.ServiceName, &p.ServicePort)
	if err != nil {
		return p, err
	}
	p.AllowCIDRs, err = parseCIDRs(cidrs)
	return p, err
}

// CreatePublish publishes a service on p.Listen and returns the publish with
// its device and service fields filled. Errors: ErrInvalid, ErrNotFound (no
// such service), ErrConflict (listen already used).
func (s *Store) CreatePublish(ctx context.Context, p Publish) (Publish, error) {
	if err := ValidatePublish(p); err != nil {
		return Publish{}, err
	}
	p.ID = orNewID(p.ID, prefixPublish)
	var out Publish
	err := s.inTx(ctx, func(c conn) error {
		_, err := c.exec(ctx, `INSERT INTO publishes (id, service_id, listen, created_at, created_by, allow_cidrs) VALUES (?, ?, ?, ?, ?, ?)`,
			p.ID, p.ServiceID, p.Listen, toMillis(now()), p.CreatedBy, formatCIDRs(p.AllowCIDRs))
		if err != nil {
			return err
		}
		out, err = scanPublish(c.queryRow(ctx, publishSelect+` WHERE p.id = ?`, p.ID))
		return err
	})
	if errors.Is(err, errForeignKey) {
		return Publish{}, fmt.Errorf("service %s: %w", p.ServiceID, ErrNotFound)
	}
	if err != nil {
		return Publish{}, fmt.Errorf("publishing service %s on %s: %w", p.ServiceID, p.Listen, err)
	}
	return out, nil
}

// ListPublishes returns every publish ordered by listen address.
func (s *Store) ListPublishes(ctx context.Context) ([]Publish, error) {
	rows, err := s.reader().query(ctx, publishSelect+` ORDER BY p.listen`)
	if err != nil {
		return nil, fmt.Errorf("listing publishes: %w", err)
	}
	defer rows.Close()
	var ps []Publish
	for rows.Next() {
		p, err := scanPublish(rows)
		if err != nil {
			return nil, fmt.Errorf("listing publishes: %w", err)
		}
		ps = append(ps, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("listing publishes: %w", err)
	}
	return ps, nil
}

// DeletePublish deletes the publish with the given ID or, failing that,
// listen address.
func (s *Store) DeletePublish(ctx context.Context, idOrListen string) error {
	err := s.writer().execOne(ctx, `
		DELETE FROM publishes
		WHERE id = ? OR (listen = ? AND NOT EXISTS (SELECT 1 FROM publishes WHERE id = ?))`,
		idOrListen, idOrListen, idOrListen)
	if errors.Is(err, ErrNotFound) {
		return fmt.Errorf("publish %s: %w", idOrListen, ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("deleting publish %s: %w", idOrListen, err)
	}
	return nil
}
