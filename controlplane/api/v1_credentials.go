package api

import (
	"errors"
	"net/http"
	"time"

	"github.com/warrenhq/warren/acl"
	"github.com/warrenhq/warren/controlplane/secrets"
	"github.com/warrenhq/warren/controlplane/store"
)

// Credential is a stored credential's metadata. The API has no way to read
// a credential's secret: the engine hands it to agents only, sealed in the
// store until then.
type Credential struct {
	ID        string    `json:"id"`
	ScopeType string    `json:"scope_type"` // service or folder
	ScopeID   string    `json:"scope_id"`
	Name      string    `json:"name"`
	Username  string    `json:"username"`
	Kind      string    `json:"kind"` // password or private_key
	Version   int       `json:"version"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// CreateCredentialRequest stores a credential for one service of a device
// or for every device in a folder. Secret is write-only.
type CreateCredentialRequest struct {
	ScopeType string         `json:"scope_type"`
	ScopeID   string         `json:"scope_id"`
	Name      string         `json:"name"`
	Username  string         `json:"username,omitempty"`
	Kind      string         `json:"kind"`
	Secret    secrets.Secret `json:"secret"`
}

// maxSecretLen bounds a credential's secret (a private key fits easily).
const maxSecretLen = 64 << 10

func credential(cr store.Credential) Credential {
	return Credential{ID: cr.ID, ScopeType: cr.ScopeType, ScopeID: cr.ScopeID, Name: cr.Name, Username: cr.Username,
		Kind: cr.Kind, Version: cr.Version, CreatedAt: cr.CreatedAt, UpdatedAt: cr.UpdatedAt}
}

// serviceDevices maps the ids of the organization's services to their
// devices' ids.
func (v *V1) serviceDevices(c *call) (map[string]string, error) {
	ds, err := v.Store.ListOrgDevices(c.r.Context(), c.org.ID)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, d := range ds {
		ss, err := v.Store.ListServices(c.r.Context(), d.ID)
		if err != nil {
			return nil, err
		}
		for _, s := range ss {
			out[s.ID] = d.ID
		}
	}
	return out, nil
}

// scopeObject returns the object whose relations govern a credential of
// the organization: its folder, or its service's device.
func (v *V1) scopeObject(c *call, scopeType, scopeID string, services map[string]string) (typ, id string, err error) {
	switch scopeType {
	case store.ScopeFolder:
		f, err := v.Store.GetFolder(c.r.Context(), c.org.ID, scopeID)
		if err != nil {
			return "", "", notFoundAs(err, "folder")
		}
		return acl.TypeFolder, f.ID, nil
	case store.ScopeService:
		d, ok := services[scopeID]
		if !ok {
			return "", "", notFound("service")
		}
		return acl.TypeDevice, d, nil
	}
	return "", "", badRequest("invalid_field", "scope_type: must be service or folder")
}

func (v *V1) listCredentials(c *call) error {
	cs, err := v.Store.ListCredentials(c.r.Context(), c.org.ID)
	if err != nil {
		return err
	}
	services, err := v.serviceDevices(c)
	if err != nil {
		return err
	}
	out := []Credential{}
	for _, cr := range cs {
		typ, id, err := v.scopeObject(c, cr.ScopeType, cr.ScopeID, services)
		var apiErr *Error
		if errors.As(err, &apiErr) && apiErr.Status == http.StatusNotFound {
			continue // the scope went away meanwhile
		}
		if err != nil {
			return err
		}
		ok, err := c.can(acl.RelationView, typ, id)
		if err != nil {
			return err
		}
		if ok {
			out = append(out, credential(cr))
		}
	}
	return c.reply(out)
}

// pathCredential returns the path's credential of the organization if the
// caller holds action on its scope.
func (v *V1) pathCredential(c *call, action string) (store.Credential, error) {
	id := c.r.PathValue("credential")
	c.on("credential", id)
	cr, err := v.Store.GetCredential(c.r.Context(), c.org.ID, id)
	if err != nil {
		return store.Credential{}, notFoundAs(err, "credential")
	}
	services, err := v.serviceDevices(c)
	if err != nil {
		return store.Credential{}, err
	}
	typ, obj, err := v.scopeObject(c, cr.ScopeType, cr.ScopeID, services)
	if err != nil {
		return store.Credential{}, notFoundAs(err, "credential")
	}
	err = c.require(action, typ, obj)
	c.on("credential", cr.ID)
	var d *denial
	if errors.As(err, &d) && d.resp.Status == http.StatusNotFound {
		return store.Credential{}, c.hide("credential", d.reason)
	}
	return cr, err
}

func (v *V1) getCredential(c *call) error {
	cr, err := v.pathCredential(c, acl.RelationView)
	if err != nil {
		return err
	}
	return c.reply(credential(cr))
}

func (v *V1) createCredential(c *call) error {
	var req CreateCredentialRequest
	if err := c.decode(&req); err != nil {
		return err
	}
	defer req.Secret.Clear()
	services, err := v.serviceDevices(c)
	if err != nil {
		return err
	}
	typ, obj, err := v.scopeObject(c, req.ScopeType, req.ScopeID, services)
	if err != nil {
		return err
	}
	if err := c.require(acl.RelationManage, typ, obj); err != nil {
		return err
	}
	if len(req.Secret) == 0 || len(req.Secret) > maxSecretLen {
		return badRequest("invalid_field", "secret: must be 1 byte to 64 KiB")
	}
	cr, err := v.Vault.CreateCredential(c.r.Context(), store.Credential{OrgID: c.org.ID, ScopeType: req.ScopeType,
		ScopeID: req.ScopeID, Name: req.Name, Username: req.Username, Kind: req.Kind}, req.Secret)
	if err != nil {
		return notFoundAs(err, req.ScopeType)
	}
	c.on("credential", cr.ID)
	return c.reply(credential(cr))
}

func (v *V1) deleteCredential(c *call) error {
	cr, err := v.pathCredential(c, acl.RelationManage)
	if err != nil {
		return err
	}
	if err := v.Store.DeleteCredential(c.r.Context(), c.org.ID, cr.ID); err != nil {
		return notFoundAs(err, "credential")
	}
	return c.reply(nil)
}
