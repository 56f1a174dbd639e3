package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// EnrollRequest is one agent's enrollment: the token it presented and the
// device to create.
type EnrollRequest struct {
	TokenHash []byte    // SHA-256 of the presented secret
	Now       time.Time // the enrollment time (token expiry is checked against it); zero means now
	// Prefix is the overlay; the device gets its lowest free address.
	Prefix netip.Prefix
	// Reserved addresses are never handed out: the network address, the
	// engines' addresses, anything else the caller sets aside.
	Reserved []netip.Addr
	// Device carries ID (optional), Name, PublicKey, Hostname, OS and
	// AgentVersion; the other fields are set by Enroll (OrgID and FolderID
	// from the token).
	Device Device
	// NameExplicit makes Device.Name binding: if it is taken, Enroll fails
	// with a name ErrConflict. Otherwise the name is Device.Name, else
	// Device.Hostname, else "device", suffixed "-2", "-3", ... until free.
	NameExplicit bool
}

const (
	// enrollAttempts bounds the retries of an enrollment that lost a race
	// for an address or an automatic name.
	enrollAttempts = 5
	// maxNameSuffix bounds the search for a free automatic name.
	maxNameSuffix = 10000
	defaultName   = "device"
)

// Enroll consumes the token and creates the device with a freshly allocated
// overlay address, all in one transaction: either the device exists and the
// token is used, or neither changed.
//
// Errors: ErrTokenInvalid (this exact value, whether the token is unknown,
// expired or used), ErrConflict (public_key, or name if NameExplicit),
// ErrPoolExhausted, ErrInvalid.
func (s *Store) Enroll(ctx context.Context, req EnrollRequest) (Device, error) {
	if err := req.validate(); err != nil {
		return Device{}, err
	}
	if req.Now.IsZero() {
		req.Now = now()
	}
	d := req.Device
	d.ID = orNewID(d.ID, prefixDevice)
	d.CreatedAt = fromMillis(toMillis(req.Now))
	d.LastEndpoint, d.LastHandshake, d.Disabled = "", time.Time{}, false
	d.OrgID, d.FolderID = "", ""
	for attempt := 1; ; attempt++ {
		got, err := s.enrollOnce(ctx, req, d)
		if err == nil || err == ErrTokenInvalid {
			return got, err
		}
		if attempt < enrollAttempts && lostRace(err, req.NameExplicit) {
			continue
		}
		return Device{}, fmt.Errorf("enrolling device: %w", err)
	}
}

func (r *EnrollRequest) validate() error {
	switch {
	case len(r.TokenHash) == 0:
		return ErrTokenInvalid
	case !r.Prefix.IsValid() || r.Prefix.Addr().Is4In6():
		return invalid("prefix", "must be an IPv4 or IPv6 prefix")
	case r.Device.PublicKey == "":
		return invalid("public_key", "must not be empty")
	case r.NameExplicit && r.Device.Name == "":
		return invalid("name", "must not be empty")
	}
	return nil
}

// lostRace reports whether err is a unique violation that a concurrent
// enrollment caused and that a fresh attempt resolves.
func lostRace(err error, nameExplicit bool) bool {
	var c *ConflictError
	if !errors.As(err, &c) || c.Table != "devices" {
		return false
	}
	return c.Field == "overlay_ip" || (c.Field == "name" && !nameExplicit)
}

// testHookBeforeInsert, set only by tests, runs in the enrollment
// transaction right before the device insert: it can simulate the
// concurrent enrollment that makes the insert lose a race.
var testHookBeforeInsert func(ctx context.Context, c conn, d Device) error

func (s *Store) enrollOnce(ctx context.Context, req EnrollRequest, d Device) (Device, error) {
	err := s.inTx(ctx, func(c conn) error {
		// On PostgreSQL, enrollments serialize here: without the lock every
		// racer would pick the same lowest address and all but one would
		// retry, O(n²) attempts for n racers. The unique constraint and the
		// retry in Enroll stay as the safety net.
		if err := c.lock(ctx, lockEnroll); err != nil {
			return err
		}
		// The token goes first so that a caller with a bad token learns
		// nothing else (not even whether a name is taken).
		// The device goes where the token says (or nowhere in particular).
		t := toMillis(req.Now)
		err := c.queryRow(ctx, `
			UPDATE enroll_tokens SET used_at = ?, device_id = ?
			WHERE token_hash = ? AND used_at IS NULL AND expires_at > ?
			RETURNING org_id, folder_id`,
			t, d.ID, req.TokenHash, t).Scan(scanText{&d.OrgID}, scanText{&d.FolderID})
		if errors.Is(err, sql.ErrNoRows) {
			return ErrTokenInvalid
		}
		if err != nil {
			return err
		}
		if d.Name, err = pickName(ctx, c, req); err != nil {
			return err
		}
		if d.OverlayIP, err = allocateAddr(ctx, c, req.Prefix, req.Reserved); err != nil {
			return err
		}
		if testHookBeforeInsert != nil {
			if err := testHookBeforeInsert(ctx, c, d); err != nil {
				return err
			}
		}
		return insertDevice(ctx, c, d)
	})
	if err != nil {
		return Device{}, err
	}
	return d, nil
}

func insertDevice(ctx context.Context, c conn, d Device) error {
	_, err := c.exec(ctx, `
		INSERT INTO devices (`+deviceColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		d.ID, d.Name, d.PublicKey, addrText(d.OverlayIP), d.Hostname, d.OS, d.AgentVersion,
		toMillis(d.CreatedAt), d.LastEndpoint, toMillis(d.LastHandshake), d.Disabled,
		nullText(d.OrgID), nullText(d.FolderID))
	return err
}

// pickName returns the explicit name as is (the insert reports a conflict),
// or the first free automatic name.
func pickName(ctx context.Context, c conn, req EnrollRequest) (string, error) {
	if req.NameExplicit {
		return req.Device.Name, nil
	}
	base := req.Device.Name
	if base == "" {
		base = req.Device.Hostname
	}
	if base == "" {
		base = defaultName
	}
	// One query for base and every base-N; LIKE may match more (SQLite's is
	// case-insensitive), the exact test is done here.
	rows, err := c.query(ctx, `SELECT name FROM devices WHERE name = ? OR name LIKE ? ESCAPE '!'`,
		base, likeEscape(base)+"-%")
	if err != nil {
		return "", err
	}
	defer rows.Close()
	taken := map[string]bool{}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return "", err
		}
		taken[name] = true
	}
	if err := rows.Err(); err != nil {
		return "", err
	}
	for i := 1; i <= maxNameSuffix; i++ {
		name := base
		if i > 1 {
			name = fmt.Sprintf("%s-%d", base, i)
		}
		if !taken[name] {
			return name, nil
		}
	}
	return "", &ConflictError{Table: "devices", Field: "name"}
}

// likeEscape escapes s for a LIKE pattern with ESCAPE '!'.
func likeEscape(s string) string {
	return strings.NewReplacer("!", "!!", "%", "!%", "_", "!_").Replace(s)
}

// allocateAddr returns the lowest address of prefix that is neither reserved
// nor held by a device or an engine.
func allocateAddr(ctx context.Context, c conn, prefix netip.Prefix, reserved []netip.Addr) (netip.Addr, error) {
	taken := make(map[netip.Addr]bool, len(reserved))
	for _, a := range reserved {
		taken[a.Unmap()] = true
	}
	rows, err := c.query(ctx, `SELECT overlay_ip FROM devices UNION ALL SELECT overlay_ip FROM engines`)
	if err != nil {
		return netip.Addr{}, err
	}
	defer rows.Close()
	for rows.Next() {
		var a netip.Addr
		if err := rows.Scan(scanAddr{&a}); err != nil {
			return netip.Addr{}, err
		}
		taken[a] = true
	}
	if err := rows.Err(); err != nil {
		return netip.Addr{}, err
	}
	p := prefix.Masked()
	for a := p.Addr(); a.IsValid() && p.Contains(a); a = a.Next() {
		if !taken[a] {
			return a, nil
		}
	}
	return netip.Addr{}, ErrPoolExhausted
}
