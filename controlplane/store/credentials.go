package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// Credential scopes and kinds.
const (
	ScopeService = "service" // the credential is for one service of a device
	ScopeFolder  = "folder"  // for the services of every device in a folder

	KindPassword   = "password"
	KindPrivateKey = "private_key"
)

// Credential is a secret the engine hands to an agent to log in to a
// service. The store holds it sealed and never sees the plaintext; the
// sealing binds OrgID, ID and Version, so callers choose the ID
// (NewCredentialID) and Version before sealing.
type Credential struct {
	ID        string // "cred_..."; generated if empty on create (then the caller cannot have bound it)
	OrgID     string
	ScopeType string // ScopeService or ScopeFolder
	ScopeID   string // the service's or the folder's ID, in OrgID
	Name      string // unique in the scope
	Username  string
	Kind      string // KindPassword or KindPrivateKey
	Sealed    []byte
	KEKID     string // which key-encryption key wrapped the data key
	Version   int    // 1 if zero on create; bumped by UpdateCredentialSealed
	CreatedAt time.Time
	UpdatedAt time.Time
}

// LogValue keeps the sealed secret out of logs.
func (c Credential) LogValue() slog.Value {
	return slog.GroupValue(slog.String("id", c.ID), slog.String("org_id", c.OrgID),
		slog.String("name", c.Name), slog.String("sealed", "REDACTED"))
}

var _ slog.LogValuer = Credential{}

// NewCredentialID returns a fresh credential ID, for callers that seal the
// secret (binding the ID) before CreateCredential.
func NewCredentialID() string { return newID(prefixCredential) }

const maxUsernameLen = 256

func validateCredential(c Credential) error {
	switch {
	case c.ScopeType != ScopeService && c.ScopeType != ScopeFolder:
		return invalid("scope_type", "must be service or folder")
	case c.ScopeID == "":
		return invalid("scope_id", "must not be empty")
	case c.Kind != KindPassword && c.Kind != KindPrivateKey:
		return invalid("kind", "must be password or private_key")
	case len(c.Username) > maxUsernameLen:
		return invalid("username", "must be at most 256 bytes")
	case len(c.Sealed) == 0:
		return invalid("sealed", "must not be empty")
	case c.KEKID == "":
		return invalid("kek_id", "must not be empty")
	case c.Version < 0:
		return invalid("version", "must be positive")
	}
	return validateLabel("name", c.Name)
}

const credentialColumns = `id, org_id, scope_type, scope_id, name, username, kind, sealed, kek_id, version, created_at, updated_at`

func scanCredential(r scanner) (Credential, error) {
	var c Credential
	err := r.Scan(&c.ID, &c.OrgID, &c.ScopeType, &c.ScopeID, &c.Name, &c.Username, &c.Kind, &c.Sealed,
		&c.KEKID, &c.Version, scanMillis{&c.CreatedAt}, scanMillis{&c.UpdatedAt})
	return c, err
}

// CreateCredential stores a sealed credential. Errors: ErrInvalid,
// ErrNotFound (the scope is not a service or folder of the org),
// ErrConflict (name taken in the scope, or ID taken).
func (s *Store) CreateCredential(ctx context.Context, c Credential) (Credential, error) {
	if err := validateCredential(c); err != nil {
		return Credential{}, err
	}
	c.ID = orNewID(c.ID, prefixCredential)
	if c.Version == 0 {
		c.Version = 1
	}
	c.CreatedAt = fromMillis(toMillis(now()))
	c.UpdatedAt = c.CreatedAt
	var serviceID, folderID string
	if c.ScopeType == ScopeService {
		serviceID = c.ScopeID
	} else {
		folderID = c.ScopeID
	}
	err := s.inTx(ctx, func(tx conn) error {
		if err := scopeInOrg(ctx, tx, c.OrgID, c.ScopeType, c.ScopeID); err != nil {
			return err
		}
		_, err := tx.exec(ctx, `
			INSERT INTO credentials (`+credentialColumns+`, service_id, folder_id)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			c.ID, c.OrgID, c.ScopeType, c.ScopeID, c.Name, c.Username, c.Kind, c.Sealed, c.KEKID, c.Version,
			toMillis(c.CreatedAt), toMillis(c.UpdatedAt), nullText(serviceID), nullText(folderID))
		if errors.Is(err, errForeignKey) { // the scope went away meanwhile
			return fmt.Errorf("%s %s: %w", c.ScopeType, c.ScopeID, ErrNotFound)
		}
		return err
	})
	if err != nil {
		return Credential{}, fmt.Errorf("creating credential %s: %w", c.Name, err)
	}
	return c, nil
}

// scopeInOrg returns ErrNotFound unless the service (of a device) or the
// folder belongs to orgID.
func scopeInOrg(ctx context.Context, c conn, orgID, scopeType, scopeID string) error {
	if scopeType == ScopeFolder {
		return folderInOrg(ctx, c, orgID, scopeID)
	}
	var one int
	err := c.queryRow(ctx, `
		SELECT 1 FROM services s JOIN devices d ON d.id = s.device_id
		WHERE s.id = ? AND d.org_id = ?`, scopeID, orgID).Scan(&one)
	return wrap(err, "service "+scopeID, "looking up service "+scopeID)
}

// GetCredential returns the organization's credential with the given ID.
func (s *Store) GetCredential(ctx context.Context, orgID, id string) (Credential, error) {
	c, err := scanCredential(s.reader().queryRow(ctx,
		`SELECT `+credentialColumns+` FROM credentials WHERE id = ? AND org_id = ?`, id, orgID))
	if err != nil {
		return Credential{}, wrap(err, "credential "+id, "getting credential "+id)
	}
	return c, nil
}

// ListCredentials returns the organization's credentials ordered by scope
// and name.
func (s *Store) ListCredentials(ctx context.Context, orgID string) ([]Credential, error) {
	cs, err := collect(ctx, s.reader(), scanCredential, `
		SELECT `+credentialColumns+` FROM credentials WHERE org_id = ?
		ORDER BY scope_type, scope_id, name`, orgID)
	if err != nil {
		return nil, fmt.Errorf("listing credentials of organization %s: %w", orgID, err)
	}
	return cs, nil
}

// ListAllCredentials returns every credential of every organization
// ordered by ID, for re-wrapping under a new KEK.
func (s *Store) ListAllCredentials(ctx context.Context) ([]Credential, error) {
	cs, err := collect(ctx, s.reader(), scanCredential, `SELECT `+credentialColumns+` FROM credentials ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("listing credentials: %w", err)
	}
	return cs, nil
}

// DeleteCredential deletes the organization's credential.
func (s *Store) DeleteCredential(ctx context.Context, orgID, id string) error {
	err := s.writer().execOne(ctx, `DELETE FROM credentials WHERE id = ? AND org_id = ?`, id, orgID)
	return wrap(err, "credential "+id, "deleting credential "+id)
}

// UpdateCredentialSealed replaces the sealed secret of credential id if its
// version is still expectVersion; the version becomes expectVersion+1
// (seal under that). Errors: ErrNotFound, ErrConflict (a *ConflictError on
// credentials.version: someone else updated it first; re-read and retry).
func (s *Store) UpdateCredentialSealed(ctx context.Context, id string, sealed []byte, kekID string, expectVersion int) error {
	return s.updateSealed(ctx, "credential", "credentials", "sealed", id, sealed, kekID, expectVersion)
}

// updateSealed is the optimistic update of a sealed column behind
// UpdateCredentialSealed and UpdateIdPSecretSealed.
func (s *Store) updateSealed(ctx context.Context, what, table, column, id string, sealed []byte, kekID string, expectVersion int) error {
	if len(sealed) == 0 {
		return invalid("sealed", "must not be empty")
	}
	if kekID == "" {
		return invalid("kek_id", "must not be empty")
	}
	err := s.inTx(ctx, func(c conn) error {
		r, err := c.exec(ctx, `UPDATE `+table+` SET `+column+` = ?, kek_id = ?, version = version + 1, updated_at = ?
			WHERE id = ? AND version = ?`,
			sealed, kekID, toMillis(now()), id, expectVersion)
		if err != nil {
			return err
		}
		if n, err := r.RowsAffected(); err != nil || n == 1 {
			return err
		}
		var one int
		if err := c.queryRow(ctx, `SELECT 1 FROM `+table+` WHERE id = ?`, id).Scan(&one); err != nil {
			return err // sql.ErrNoRows: no such record
		}
		return &ConflictError{Table: table, Field: "version"}
	})
	return wrap(err, what+" "+id, "updating "+what+" "+id)
}
