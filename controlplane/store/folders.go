package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Folder is a node of an organization's folder tree; devices live in
// folders (or at the top level of their org).
type Folder struct {
	ID        string // generated ("fld_...") if empty on create
	OrgID     string
	ParentID  string // "" at top level; always a folder of the same org
	Name      string // unique among the parent's subfolders
	CreatedAt time.Time
}

const folderColumns = `id, org_id, parent_id, name, created_at`

func scanFolder(r scanner) (Folder, error) {
	var f Folder
	err := r.Scan(&f.ID, &f.OrgID, scanText{&f.ParentID}, &f.Name, scanMillis{&f.CreatedAt})
	return f, err
}

func validateFolderName(name string) error {
	if err := validateLabel("name", name); err != nil {
		return err
	}
	if strings.Contains(name, "/") {
		return invalid("name", "must not hold '/'")
	}
	return nil
}

// folderInOrg returns ErrNotFound unless folderID is a folder of orgID.
func folderInOrg(ctx context.Context, c conn, orgID, folderID string) error {
	var one int
	err := c.queryRow(ctx, `SELECT 1 FROM folders WHERE id = ? AND org_id = ?`, folderID, orgID).Scan(&one)
	return wrap(err, "folder "+folderID, "looking up folder "+folderID)
}

// CreateFolder creates a folder. Errors: ErrInvalid, ErrNotFound (no such
// org, or the parent is not a folder of the org), ErrConflict (name taken
// in the parent).
func (s *Store) CreateFolder(ctx context.Context, f Folder) (Folder, error) {
	if err := validateFolderName(f.Name); err != nil {
		return Folder{}, err
	}
	f.ID = orNewID(f.ID, prefixFolder)
	f.CreatedAt = fromMillis(toMillis(now()))
	err := s.inTx(ctx, func(c conn) error {
		if f.ParentID != "" {
			if err := folderInOrg(ctx, c, f.OrgID, f.ParentID); err != nil {
				return err
			}
		}
		_, err := c.exec(ctx, `INSERT INTO folders (`+folderColumns+`) VALUES (?, ?, ?, ?, ?)`,
			f.ID, f.OrgID, nullText(f.ParentID), f.Name, toMillis(f.CreatedAt))
		if errors.Is(err, errForeignKey) {
			return fmt.Errorf("organization %s: %w", f.OrgID, ErrNotFound)
		}
		return err
	})
	if err != nil {
		return Folder{}, fmt.Errorf("creating folder %s: %w", f.Name, err)
	}
	return f, nil
}

// GetFolder returns the organization's folder with the given ID.
func (s *Store) GetFolder(ctx context.Context, orgID, id string) (Folder, error) {
	f, err := scanFolder(s.reader().queryRow(ctx,
		`SELECT `+folderColumns+` FROM folders WHERE id = ? AND org_id = ?`, id, orgID))
	if err != nil {
		return Folder{}, wrap(err, "folder "+id, "getting folder "+id)
	}
	return f, nil
}

// ListFolders returns every folder of the organization (the whole tree,
// flat), ordered by name, then ID.
func (s *Store) ListFolders(ctx context.Context, orgID string) ([]Folder, error) {
	fs, err := collect(ctx, s.reader(), scanFolder,
		`SELECT `+folderColumns+` FROM folders WHERE org_id = ? ORDER BY name, id`, orgID)
	if err != nil {
		return nil, fmt.Errorf("listing folders of organization %s: %w", orgID, err)
	}
	return fs, nil
}

// MoveFolder makes parentID ("" = top level) the parent of the
// organization's folder id. Errors: ErrNotFound (either folder not in the
// org), ErrInvalid (the new parent is the folder or one of its
// subfolders), ErrConflict (name taken in the new parent).
func (s *Store) MoveFolder(ctx context.Context, orgID, id, parentID string) error {
	err := s.inTx(ctx, func(c conn) error {
		if err := c.lock(ctx, lockFolders); err != nil {
			return err
		}
		if err := folderInOrg(ctx, c, orgID, id); err != nil {
			return err
		}
		if parentID != "" {
			if err := folderInOrg(ctx, c, orgID, parentID); err != nil {
				return err
			}
			if err := refuseFolderCycle(ctx, c, orgID, id, parentID); err != nil {
				return err
			}
		}
		return c.execOne(ctx, `UPDATE folders SET parent_id = ? WHERE id = ? AND org_id = ?`,
			nullText(parentID), id, orgID)
	})
	if errors.Is(err, ErrInvalid) || errors.Is(err, ErrNotFound) {
		return err
	}
	if err != nil {
		return fmt.Errorf("moving folder %s: %w", id, err)
	}
	return nil
}

// refuseFolderCycle fails if id is parent or one of parent's ancestors.
func refuseFolderCycle(ctx context.Context, c conn, orgID, id, parent string) error {
	var n int
	err := c.queryRow(ctx, `
		WITH RECURSIVE up (id, parent_id) AS (
			SELECT id, parent_id FROM folders WHERE id = ? AND org_id = ?
			UNION
			SELECT f.id, f.parent_id FROM folders f JOIN up ON f.id = up.parent_id
		)
		SELECT COUNT(*) FROM up WHERE id = ?`,
		parent, orgID, id).Scan(&n)
	if err != nil {
		return err
	}
	if n > 0 {
		return invalid("parent_id", "a folder cannot move into itself or one of its subfolders")
	}
	return nil
}

// errFolderNotEmpty is why DeleteFolder refuses.
var errFolderNotEmpty = invalid("folder", "folder not empty")

// DeleteFolder deletes the organization's folder, which must hold neither
// devices nor subfolders (ErrInvalid otherwise). Grants on it, credentials
// scoped to it and enrollment tokens into it go with it.
func (s *Store) DeleteFolder(ctx context.Context, orgID, id string) error {
	err := s.inTx(ctx, func(c conn) error {
		if err := folderInOrg(ctx, c, orgID, id); err != nil {
			return err
		}
		var n int
		err := c.queryRow(ctx, `
			SELECT (SELECT COUNT(*) FROM devices WHERE folder_id = ?) + (SELECT COUNT(*) FROM folders WHERE parent_id = ?)`,
			id, id).Scan(&n)
		if err != nil {
			return err
		}
		if n > 0 {
			return errFolderNotEmpty
		}
		return c.execOne(ctx, `DELETE FROM folders WHERE id = ? AND org_id = ?`, id, orgID)
	})
	switch {
	case errors.Is(err, errForeignKey): // something moved in meanwhile
		return errFolderNotEmpty
	case errors.Is(err, ErrInvalid), errors.Is(err, ErrNotFound):
		return err
	case err != nil:
		return fmt.Errorf("deleting folder %s: %w", id, err)
	}
	return nil
}
