package store

import (
	"cmp"
	"context"
	"errors"
	"fmt"
)

// GetOrgDevice returns the organization's device with the given ID or,
// failing that, name. A device of another organization (or of none) is
// ErrNotFound.
func (s *Store) GetOrgDevice(ctx context.Context, orgID, idOrName string) (Device, error) {
	d, err := scanDevice(s.reader().queryRow(ctx, `
		SELECT `+deviceColumns+` FROM devices
		WHERE org_id = ? AND (id = ? OR (name = ? AND NOT EXISTS (SELECT 1 FROM devices WHERE org_id = ? AND id = ?)))`,
		orgID, idOrName, idOrName, orgID, idOrName))
	if err != nil {
		return Device{}, wrap(err, "device "+idOrName, "getting device "+idOrName)
	}
	return d, nil
}

// ListOrgDevices returns the organization's devices ordered by name.
func (s *Store) ListOrgDevices(ctx context.Context, orgID string) ([]Device, error) {
	ds, err := collect(ctx, s.reader(), scanDevice,
		`SELECT `+deviceColumns+` FROM devices WHERE org_id = ? ORDER BY name`, orgID)
	if err != nil {
		return nil, fmt.Errorf("listing devices of organization %s: %w", orgID, err)
	}
	return ds, nil
}

// SetDeviceFolder moves the organization's device into folderID, a folder
// of the same organization, or to the top level if folderID is "".
func (s *Store) SetDeviceFolder(ctx context.Context, orgID, deviceID, folderID string) error {
	err := s.inTx(ctx, func(c conn) error {
		var one int
		err := c.queryRow(ctx, `SELECT 1 FROM devices WHERE id = ? AND org_id = ?`, deviceID, orgID).Scan(&one)
		if err != nil {
			return wrap(err, "device "+deviceID, "looking up device "+deviceID)
		}
		if folderID != "" {
			if err := folderInOrg(ctx, c, orgID, folderID); err != nil {
				return err
			}
		}
		_, err = c.exec(ctx, `UPDATE devices SET folder_id = ? WHERE id = ? AND org_id = ?`,
			nullText(folderID), deviceID, orgID)
		if errors.Is(err, errForeignKey) { // the folder went away meanwhile
			return fmt.Errorf("folder %s: %w", folderID, ErrNotFound)
		}
		return err
	})
	if errors.Is(err, ErrNotFound) {
		return err
	}
	if err != nil {
		return fmt.Errorf("moving device %s: %w", deviceID, err)
	}
	return nil
}

var errAssigned = invalid("org_id", "the device already belongs to an organization")

// AssignDeviceOrg places a device that belongs to no organization (one
// enrolled before organizations existed, or with a token of none) into
// orgID, in folderID ("" = top level). A device that already belongs to an
// organization is ErrInvalid: devices never move between tenants, whose
// grants and sessions refer to them.
func (s *Store) AssignDeviceOrg(ctx context.Context, deviceID, orgID, folderID string) error {
	if orgID == "" {
		return invalid("org_id", "must not be empty")
	}
	err := s.inTx(ctx, func(c conn) error {
		var current string
		err := c.queryRow(ctx, `SELECT org_id FROM devices WHERE id = ?`, deviceID).Scan(scanText{&current})
		if err != nil {
			return wrap(err, "device "+deviceID, "looking up device "+deviceID)
		}
		if current != "" {
			return errAssigned
		}
		if folderID != "" {
			if err := folderInOrg(ctx, c, orgID, folderID); err != nil {
				return err
			}
		}
		r, err := c.exec(ctx, `UPDATE devices SET org_id = ?, folder_id = ? WHERE id = ? AND org_id IS NULL`,
			orgID, nullText(folderID), deviceID)
		if errors.Is(err, errForeignKey) {
			return fmt.Errorf("organization %s: %w", orgID, ErrNotFound)
		}
		if err != nil {
			return err
		}
		if n, err := r.RowsAffected(); err != nil || n == 0 { // assigned meanwhile
			return cmp.Or(err, errAssigned)
		}
		return nil
	})
	if errors.Is(err, ErrNotFound) || errors.Is(err, ErrInvalid) {
		return err
	}
	if err != nil {
		return fmt.Errorf("assigning device %s to organization %s: %w", deviceID, orgID, err)
	}
	return nil
}
