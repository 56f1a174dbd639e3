package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/netip"
	"time"
)

// Device is an enrolled agent machine and its /32 on the overlay.
type Device struct {
	ID           string // generated ("dev_...") if empty on enroll
	Name         string // unique; how users and the CLI refer to the device
	PublicKey    string // WireGuard public key, unique
	OverlayIP    netip.Addr
	Hostname     string
	OS           string
	AgentVersion string
	CreatedAt    time.Time
	// LastEndpoint is the device's last known WireGuard endpoint (host:port),
	// "" if none; LastHandshake is zero if none. The engine persists them so
	// that after a restart it can initiate handshakes itself.
	LastEndpoint  string
	LastHandshake time.Time
	Disabled      bool
	// OrgID is the organization the device belongs to and FolderID its
	// folder there ("" = top level). Both are "" for a device enrolled with
	// a token of no organization (and for every device from before
	// organizations existed) until AssignDeviceOrg places it.
	OrgID    string
	FolderID string
}

const deviceColumns = `id, name, public_key, overlay_ip, hostname, os, agent_version,
	created_at, last_endpoint, last_handshake, disabled, org_id, folder_id`

type scanner interface{ Scan(dest ...any) error }

func scanDevice(r scanner) (Device, error) {
	var d Device
	err := r.Scan(&d.ID, &d.Name, &d.PublicKey, scanAddr{&d.OverlayIP}, &d.Hostname, &d.OS,
		&d.AgentVersion, scanMillis{&d.CreatedAt}, &d.LastEndpoint, scanMillis{&d.LastHandshake},
		&d.Disabled, scanText{&d.OrgID}, scanText{&d.FolderID})
	return d, err
}

// byIDOrName matches the row whose id is the argument or, if there is none,
// whose name is. It takes the same argument three times.
const byIDOrName = `(id = ? OR (name = ? AND NOT EXISTS (SELECT 1 FROM devices WHERE id = ?)))`

// GetDevice returns the device with the given ID or, failing that, name.
func (s *Store) GetDevice(ctx context.Context, idOrName string) (Device, error) {
	row := s.reader().queryRow(ctx, `SELECT `+deviceColumns+` FROM devices WHERE `+byIDOrName,
		idOrName, idOrName, idOrName)
	d, err := scanDevice(row)
	if errors.Is(err, sql.ErrNoRows) {
		return Device{}, fmt.Errorf("device %s: %w", idOrName, ErrNotFound)
	}
	if err != nil {
		return Device{}, fmt.Errorf("getting device %s: %w", idOrName, err)
	}
	return d, nil
}

// ListDevices returns every device ordered by name.
func (s *Store) ListDevices(ctx context.Context) ([]Device, error) {
	rows, err := s.reader().query(ctx, `SELECT `+deviceColumns+` FROM devices ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("listing devices: %w", err)
	}
	defer rows.Close()
	var ds []Device
	for rows.Next() {
		d, err := scanDevice(rows)
		if err != nil {
			return nil, fmt.Errorf("listing devices: %w", err)
		}
		ds = append(ds, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("listing devices: %w", err)
	}
	return ds, nil
}

// UpdateDeviceEndpoint records the device's last WireGuard endpoint and
// handshake time.
func (s *Store) UpdateDeviceEndpoint(ctx context.Context, id, endpoint string, lastHandshake time.Time) error {
	return s.updateDevice(ctx, id, "updating endpoint of",
		`UPDATE devices SET last_endpoint = ?, last_handshake = ? WHERE id = ?`,
		endpoint, toMillis(lastHandshake), id)
}

// SetDeviceAgentVersion records the version the device's agent reports.
func (s *Store) SetDeviceAgentVersion(ctx context.Context, id, version string) error {
	return s.updateDevice(ctx, id, "setting agent version of",
		`UPDATE devices SET agent_version = ? WHERE id = ?`, version, id)
}

// SetDeviceDisabled enables or disables the device; a disabled device is
// left out of the engine's peer set.
func (s *Store) SetDeviceDisabled(ctx context.Context, id string, disabled bool) error {
	return s.updateDevice(ctx, id, "setting disabled flag of",
		`UPDATE devices SET disabled = ? WHERE id = ?`, disabled, id)
}

func (s *Store) updateDevice(ctx context.Context, id, what, query string, args ...any) error {
	err := s.writer().execOne(ctx, query, args...)
	if errors.Is(err, ErrNotFound) {
		return fmt.Errorf("device %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("%s device %s: %w", what, id, err)
	}
	return nil
}

// DeleteDevice deletes the device with the given ID or, failing that, name,
// together with its services and publishes. Its overlay address becomes
// free for the next enrollment.
func (s *Store) DeleteDevice(ctx context.Context, idOrName string) error {
	err := s.writer().execOne(ctx, `DELETE FROM devices WHERE `+byIDOrName, idOrName, idOrName, idOrName)
	if errors.Is(err, ErrNotFound) {
		return fmt.Errorf("device %s: %w", idOrName, ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("deleting device %s: %w", idOrName, err)
	}
	return nil
}
