package store

import (
	"context"
	"fmt"
	"net/netip"
	"time"
)

// Engine is one engine replica: its WireGuard public key, its /32 on the
// overlay (chosen by the engine, not by IPAM) and its UDP endpoint.
type Engine struct {
	ID        string
	PublicKey string
	OverlayIP netip.Addr
	Endpoint  string // host:port agents dial; "" if unknown
	CreatedAt time.Time
	UpdatedAt time.Time
}

// UpsertEngine creates or updates the engine with e.ID, keeping its
// CreatedAt. Another engine with the same public key or overlay address is
// an ErrConflict. The address is not checked against devices: callers list
// engine addresses in EnrollRequest.Reserved.
func (s *Store) UpsertEngine(ctx context.Context, e Engine) error {
	switch {
	case e.ID == "":
		return invalid("id", "must not be empty")
	case e.PublicKey == "":
		return invalid("public_key", "must not be empty")
	case !e.OverlayIP.IsValid():
		return invalid("overlay_ip", "must be an IP address")
	}
	t := toMillis(now())
	_, err := s.writer().exec(ctx, `
		INSERT INTO engines (id, public_key, overlay_ip, endpoint, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET
			public_key = excluded.public_key,
			overlay_ip = excluded.overlay_ip,
			endpoint   = excluded.endpoint,
			updated_at = excluded.updated_at`,
		e.ID, e.PublicKey, addrText(e.OverlayIP), e.Endpoint, t, t)
	if err != nil {
		return fmt.Errorf("upserting engine %s: %w", e.ID, err)
	}
	return nil
}

// ListEngines returns every engine ordered by ID.
func (s *Store) ListEngines(ctx context.Context) ([]Engine, error) {
	rows, err := s.reader().query(ctx, `
		SELECT id, public_key, overlay_ip, endpoint, created_at, updated_at
		FROM engines ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("listing engines: %w", err)
	}
	defer rows.Close()
	var es []Engine
	for rows.Next() {
		var e Engine
		if err := rows.Scan(&e.ID, &e.PublicKey, scanAddr{&e.OverlayIP}, &e.Endpoint,
			scanMillis{&e.CreatedAt}, scanMillis{&e.UpdatedAt}); err != nil {
			return nil, fmt.Errorf("listing engines: %w", err)
		}
		es = append(es, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("listing engines: %w", err)
	}
	return es, nil
}
