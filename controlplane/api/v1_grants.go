package api

import (
	"errors"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/warrenhq/warren/acl"
	"github.com/warrenhq/warren/controlplane/store"
)

// Grant gives a user or a group's members an action on a folder (and
// everything under it) or a device, or admin/member on the organization.
type Grant struct {
	ID          string    `json:"id"`
	SubjectType string    `json:"subject_type"` // user or group
	SubjectID   string    `json:"subject_id"`
	Relation    string    `json:"relation"`    // an action (view, connect, ...) or, on the organization, admin or member
	ObjectType  string    `json:"object_type"` // organization, folder or device
	ObjectID    string    `json:"object_id"`
	CreatedAt   time.Time `json:"created_at"`
}

// CreateGrantRequest creates a grant. ObjectID may be omitted for the
// organization itself.
type CreateGrantRequest struct {
	SubjectType string `json:"subject_type"`
	SubjectID   string `json:"subject_id"`
	Relation    string `json:"relation"`
	ObjectType  string `json:"object_type"`
	ObjectID    string `json:"object_id,omitempty"`
}

func grant(g store.Grant) Grant {
	return Grant{ID: g.ID, SubjectType: g.SubjectType, SubjectID: g.SubjectID, Relation: g.Relation,
		ObjectType: g.ObjectType, ObjectID: g.ObjectID, CreatedAt: g.CreatedAt}
}

func (v *V1) listGrants(c *call) error {
	gs, err := v.Store.ListGrants(c.r.Context(), c.org.ID, store.GrantFilter{
		SubjectType: c.query("subject_type"), SubjectID: c.query("subject_id"), Relation: c.query("relation"),
		ObjectType: c.query("object_type"), ObjectID: c.query("object_id"),
	})
	if err != nil {
		return err
	}
	admin, err := c.isAdmin()
	if err != nil {
		return err
	}
	manages := map[string]bool{}
	out := []Grant{}
	for _, g := range gs {
		if !admin && g.ObjectType == store.ObjectOrganization {
			continue
		}
		if !admin {
			key := g.ObjectType + ":" + g.ObjectID
			ok, seen := manages[key]
			if !seen {
				if ok, err = c.can(acl.RelationManage, g.ObjectType, g.ObjectID); err != nil {
					return err
				}
				manages[key] = ok
			}
			if !ok {
				continue
			}
		}
		out = append(out, grant(g))
	}
	return c.reply(out)
}

// grantObject resolves a grant's object in the organization to its id.
func (v *V1) grantObject(c *call, typ, id string) (string, error) {
	switch typ {
	case store.ObjectOrganization:
		if id != "" && id != c.org.ID {
			return "", notFound("org")
		}
		return c.org.ID, nil
	case store.ObjectFolder:
		f, err := v.Store.GetFolder(c.r.Context(), c.org.ID, id)
		return f.ID, notFoundAs(err, "folder")
	case store.ObjectDevice:
		d, err := v.Store.GetOrgDevice(c.r.Context(), c.org.ID, id)
		return d.ID, notFoundAs(err, "device")
	}
	return "", badRequest("invalid_field", "object_type: must be organization, folder or device")
}

// mayChangeGrant fails unless the caller may create (or revoke) a grant of
// relation on typ:id: organization admin for the organization itself,
// else manage on the object, and for a new grant the granted action
// itself (nobody hands out what they do not hold, view_secrets above all).
func (v *V1) mayChangeGrant(c *call, typ, id, relation string, creating bool) error {
	c.on(typ, id)
	if typ == store.ObjectOrganization {
		return c.requireAdmin()
	}
	if creating && !slices.Contains(acl.Actions, relation) {
		return badRequest("invalid_field", "relation: a grant on a "+typ+" gives one of view, connect, edit, delete, manage, view_secrets")
	}
	if err := c.require(acl.RelationManage, typ, id); err != nil || !creating {
		return err
	}
	ok, err := c.can(relation, typ, id)
	if err != nil || ok {
		return err
	}
	return c.deny("granting " + relation + " on " + acl.Object(typ, id) + " requires holding it")
}

func (v *V1) createGrant(c *call) error {
	var req CreateGrantRequest
	if err := c.decode(&req); err != nil {
		return err
	}
	obj, err := v.grantObject(c, req.ObjectType, req.ObjectID)
	if err != nil {
		return err
	}
	if err := v.mayChangeGrant(c, req.ObjectType, obj, req.Relation, true); err != nil {
		return err
	}
	g, err := v.Authz.Grant(c.r.Context(), store.Grant{OrgID: c.org.ID, SubjectType: req.SubjectType, SubjectID: req.SubjectID,
		Relation: req.Relation, ObjectType: req.ObjectType, ObjectID: obj})
	if errors.Is(err, store.ErrConflict) {
		return &Error{http.StatusConflict, "grant_exists", "the same grant exists"}
	}
	if err != nil {
		return notFoundAs(err, "subject")
	}
	c.on("grant", g.ID)
	return c.reply(grant(g))
}

func (v *V1) deleteGrant(c *call) error {
	id := c.r.PathValue("grant")
	c.on("grant", id)
	g, err := v.Store.GetGrant(c.r.Context(), c.org.ID, id)
	if err != nil {
		return notFoundAs(err, "grant")
	}
	err = v.mayChangeGrant(c, g.ObjectType, g.ObjectID, g.Relation, false)
	c.on("grant", g.ID)
	var d *denial
	if errors.As(err, &d) && d.resp.Status == http.StatusNotFound {
		return c.hide("grant", d.reason)
	}
	if err != nil {
		return err
	}
	if err := v.Authz.Revoke(c.r.Context(), c.org.ID, g.ID); err != nil {
		return notFoundAs(err, "grant")
	}
	return c.reply(nil)
}

// Explanation says why a user may or may not reach a port of a device.
type Explanation struct {
	UserID   string `json:"user_id"`
	DeviceID string `json:"device_id"`
	Port     int    `json:"port"`
	// Allowed is OpenFGA's answer now; Compiled the compiled port ACLs'
	// (they differ only while a recompile is pending).
	Allowed  bool   `json:"allowed"`
	Compiled bool   `json:"compiled"`
	Service  string `json:"service,omitempty"` // the service on the port, if any
	// Relation is the action the service requires.
	Relation string `json:"relation,omitempty"`
	// Chain is the device, its folders nearest first, then the organization.
	Chain     []string `json:"chain"`
	GrantedOn string   `json:"granted_on,omitempty"`
	Holds     []string `json:"holds"` // the actions the user holds on the device
	Reason    string   `json:"reason"`
}

func (v *V1) explain(c *call) error {
	userID, ref := c.query("user"), c.query("device")
	if userID == "" {
		userID = c.p.UserID
	}
	port, err := strconv.ParseUint(c.query("port"), 10, 16)
	if err != nil || port == 0 {
		return badRequest("invalid_field", "port: must be 1 to 65535")
	}
	if ref == "" {
		return badRequest("invalid_field", "device: must not be empty")
	}
	c.on("user", userID)
	if userID != c.p.UserID {
		if err := c.requireAdmin(); err != nil {
			return err
		}
	}
	if _, err := v.Store.GetMembership(c.r.Context(), c.org.ID, userID); err != nil {
		return notFoundAs(err, "user")
	}
	d, err := v.Store.GetOrgDevice(c.r.Context(), c.org.ID, ref)
	if err != nil {
		return notFoundAs(err, "device")
	}
	if err := c.require(acl.RelationView, acl.TypeDevice, d.ID); err != nil {
		return err
	}
	x, err := v.Compiler.Explain(c.r.Context(), userID, d.ID, uint16(port))
	if err != nil {
		return err
	}
	out := Explanation{UserID: userID, DeviceID: d.ID, Port: int(port), Allowed: x.Allowed, Compiled: x.Compiled,
		Relation: x.Relation, Chain: orEmpty(x.Chain), GrantedOn: x.GrantedOn, Holds: orEmpty(x.Holds), Reason: x.Reason}
	if x.Service != nil {
		out.Service = x.Service.Name
	}
	return c.reply(out)
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
