// Package vault seals the secrets the engine stores (target credentials and
// IdP client secrets) with the secrets package and rotates the key-encryption
// key over every sealed record. The store only ever sees sealed bytes; the
// AAD of each record binds its org, id, kind and version, so a ciphertext
// copied onto another record does not open.
//
// Plaintext leaves this package only as secrets.Secret, which never prints.
package vault

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"

	"github.com/warrenhq/warren/controlplane/secrets"
	"github.com/warrenhq/warren/controlplane/store"
)

// Record kinds bound into the AAD.
const (
	KindCredential = "credential"
	KindIdPSecret  = "idp_client_secret"
)

// Store is what the vault needs from persistence.
type Store interface {
	CreateCredential(ctx context.Context, c store.Credential) (store.Credential, error)
	GetCredential(ctx context.Context, orgID, id string) (store.Credential, error)
	ListAllCredentials(ctx context.Context) ([]store.Credential, error)
	UpdateCredentialSealed(ctx context.Context, id string, sealed []byte, kekID string, expectVersion int) error
	ListAllIdPs(ctx context.Context) ([]store.IdP, error)
	UpdateIdPSecretSealed(ctx context.Context, id string, sealed []byte, kekID string, expectVersion int) error
}

// Vault seals and opens secrets. It is safe for concurrent use.
type Vault struct {
	store Store
	keys  atomic.Pointer[secrets.Keyring]
}

// New returns a vault over st using keys (current KEK plus any previous
// ones still needed to open records during a rotation).
func New(st Store, keys *secrets.Keyring) *Vault {
	v := &Vault{store: st}
	v.keys.Store(keys)
	return v
}

// Keys returns the keyring in use.
func (v *Vault) Keys() *secrets.Keyring { return v.keys.Load() }

func credentialAAD(c store.Credential) secrets.AAD {
	return secrets.AAD{OrgID: c.OrgID, RecordID: c.ID, Kind: KindCredential, Version: c.Version}
}

// IdPAAD is the AAD of an IdP's client secret.
func IdPAAD(p store.IdP) secrets.AAD {
	return secrets.AAD{OrgID: p.OrgID, RecordID: p.ID, Kind: KindIdPSecret, Version: p.Version}
}

// CreateCredential seals secret for c (c.Sealed and c.KEKID are set here)
// and stores it.
func (v *Vault) CreateCredential(ctx context.Context, c store.Credential, secret secrets.Secret) (store.Credential, error) {
	if c.ID == "" {
		c.ID = store.NewCredentialID()
	}
	if c.Version == 0 {
		c.Version = 1
	}
	sealed, kekID, err := v.seal(credentialAAD(c), secret)
	if err != nil {
		return store.Credential{}, err
	}
	c.Sealed, c.KEKID = sealed, kekID
	return v.store.CreateCredential(ctx, c)
}

// OpenCredential returns a credential of org orgID with its plaintext.
func (v *Vault) OpenCredential(ctx context.Context, orgID, id string) (store.Credential, secrets.Secret, error) {
	c, err := v.store.GetCredential(ctx, orgID, id)
	if err != nil {
		return store.Credential{}, nil, err
	}
	pt, err := v.open(credentialAAD(c), c.Sealed)
	if err != nil {
		return store.Credential{}, nil, fmt.Errorf("opening credential %s: %w", id, err)
	}
	return c, pt, nil
}

// SealIdPSecret seals an IdP client secret for p (whose ID, OrgID and
// Version must be final) and returns the sealed bytes and KEK id to store.
func (v *Vault) SealIdPSecret(p store.IdP, secret secrets.Secret) (sealed []byte, kekID string, err error) {
	return v.seal(IdPAAD(p), secret)
}

// OpenIdPSecret opens an IdP's client secret.
func (v *Vault) OpenIdPSecret(p store.IdP) (secrets.Secret, error) {
	return v.open(IdPAAD(p), p.ClientSecretSealed)
}

func (v *Vault) seal(aad secrets.AAD, secret secrets.Secret) ([]byte, string, error) {
	keys := v.keys.Load()
	s, err := keys.Seal(aad, secret)
	if err != nil {
		return nil, "", err
	}
	data, err := s.MarshalBinary()
	if err != nil {
		return nil, "", err
	}
	return data, keys.Current().ID().String(), nil
}

func (v *Vault) open(aad secrets.AAD, data []byte) (secrets.Secret, error) {
	var s secrets.Sealed
	if err := s.UnmarshalBinary(data); err != nil {
		return nil, err
	}
	return v.keys.Load().Open(aad, s)
}

// RotateReport says what a rotation did.
type RotateReport struct {
	Credentials int `json:"credentials"` // records re-sealed under the new KEK
	IdPSecrets  int `json:"idp_secrets"`
	Unchanged   int `json:"unchanged"` // already under the new KEK
}

// Rotate re-seals every credential and IdP secret under newKEK. Records are
// opened with the vault's keyring (old KEK and any previous ones), so a
// rotation interrupted half-way can simply be run again with the new KEK
// added as current and the old one kept as previous. Each record is updated
// with optimistic versioning: a concurrent change makes Rotate fail for
// that record rather than overwrite it. After Rotate the vault uses a
// keyring whose current KEK is newKEK.
func (v *Vault) Rotate(ctx context.Context, newKEK *secrets.KEK, log *slog.Logger) (RotateReport, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	old := v.keys.Load()
	keys, err := secrets.NewKeyring(newKEK, append([]*secrets.KEK{old.Current()}, old.Previous()...)...)
	if err != nil {
		return RotateReport{}, err
	}
	v.keys.Store(keys)
	var rep RotateReport
	creds, err := v.store.ListAllCredentials(ctx)
	if err != nil {
		return rep, err
	}
	var errs []error
	for _, c := range creds {
		done, err := v.reseal(credentialAAD(c), c.Sealed, func(sealed []byte, kekID string) error {
			return v.store.UpdateCredentialSealed(ctx, c.ID, sealed, kekID, c.Version)
		})
		errs = append(errs, recordErr("credential", c.ID, err))
		rep.count(done, &rep.Credentials)
	}
	idps, err := v.store.ListAllIdPs(ctx)
	if err != nil {
		return rep, errors.Join(append(errs, err)...)
	}
	for _, p := range idps {
		if len(p.ClientSecretSealed) == 0 {
			continue
		}
		done, err := v.reseal(IdPAAD(p), p.ClientSecretSealed, func(sealed []byte, kekID string) error {
			return v.store.UpdateIdPSecretSealed(ctx, p.ID, sealed, kekID, p.Version)
		})
		errs = append(errs, recordErr("identity provider", p.ID, err))
		rep.count(done, &rep.IdPSecrets)
	}
	log.Info("KEK rotation finished", "kek_id", newKEK.ID().String(), "credentials", rep.Credentials,
		"idp_secrets", rep.IdPSecrets, "unchanged", rep.Unchanged)
	return rep, errors.Join(errs...)
}

func (r *RotateReport) count(resealed bool, n *int) {
	if resealed {
		*n++
	} else {
		r.Unchanged++
	}
}

func recordErr(what, id string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s %s: %w", what, id, err)
}

// reseal opens data with the record's AAD and, unless it is already under
// the current KEK, seals it again under the current KEK with the version
// the store will give the row once updated (version + 1).
func (v *Vault) reseal(aad secrets.AAD, data []byte, update func(sealed []byte, kekID string) error) (bool, error) {
	keys := v.keys.Load()
	var s secrets.Sealed
	if err := s.UnmarshalBinary(data); err != nil {
		return false, err
	}
	if s.KEKID == keys.Current().ID() {
		return false, nil
	}
	pt, err := keys.Open(aad, s)
	if err != nil {
		return false, err
	}
	defer pt.Clear()
	next := aad
	next.Version++
	sealed, kekID, err := v.seal(next, pt)
	if err != nil {
		return false, err
	}
	return true, update(sealed, kekID)
}
