package api

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/warrenhq/warren/controlplane/store"
	"github.com/warrenhq/warren/controlplane/web"
)

// Organization is an organization as the API shows it.
type Organization struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Slug      string    `json:"slug"`
	Role      string    `json:"role,omitempty"` // the caller's role; "" for a platform admin who is no member
	CreatedAt time.Time `json:"created_at,omitzero"`
}

// CreateOrgRequest creates an organization.
type CreateOrgRequest struct {
	Name string `json:"name"`
	Slug string `json:"slug"`
}

func organization(o store.Org, role string) Organization {
	return Organization{ID: o.ID, Name: o.Name, Slug: o.Slug, Role: role, CreatedAt: o.CreatedAt}
}

func (v *V1) listOrgs(c *call) error {
	ms, err := v.Store.ListMemberships(c.r.Context(), c.p.UserID)
	if err != nil {
		return err
	}
	roles := map[string]string{}
	out := []Organization{}
	for _, m := range ms {
		if c.p.Via == web.ViaToken && m.OrgID != c.p.OrgID {
			continue // an API token sees its own organization only
		}
		roles[m.OrgID] = m.Role
		out = append(out, Organization{ID: m.OrgID, Name: m.OrgName, Slug: m.OrgSlug, Role: m.Role})
	}
	if !c.p.PlatformAdmin {
		return c.reply(out)
	}
	orgs, err := v.Store.ListOrgs(c.r.Context())
	if err != nil {
		return err
	}
	out = out[:0]
	for _, o := range orgs {
		out = append(out, organization(o, roles[o.ID]))
	}
	return c.reply(out)
}

func (v *V1) createOrg(c *call) error {
	if !c.p.PlatformAdmin {
		return c.deny("platform admin role required")
	}
	var req CreateOrgRequest
	if err := c.decode(&req); err != nil {
		return err
	}
	o, err := v.Store.CreateOrg(c.r.Context(), store.Org{Name: req.Name, Slug: req.Slug})
	if err != nil {
		return err
	}
	c.org = o
	c.on("organization", o.ID)
	return c.reply(organization(o, ""))
}

func (v *V1) getOrg(c *call) error {
	return c.reply(organization(c.org, c.role))
}

func (v *V1) deleteOrg(c *call) error {
	if !c.p.PlatformAdmin {
		return c.deny("platform admin role required")
	}
	if err := v.Authz.DeleteOrg(c.r.Context(), c.org.ID); err != nil {
		return notFoundAs(err, "org")
	}
	return c.reply(nil)
}

// Member is a user's membership of the organization.
type Member struct {
	UserID      string    `json:"user_id"`
	Email       string    `json:"email"`
	DisplayName string    `json:"display_name"`
	Role        string    `json:"role"`
	CreatedAt   time.Time `json:"created_at"`
}

// AddMemberRequest adds a user, by id, to the organization. Role is admin
// or member (the default).
type AddMemberRequest struct {
	UserID string `json:"user_id"`
	Role   string `json:"role,omitempty"`
}

// SetRoleRequest changes a member's role.
type SetRoleRequest struct {
	Role string `json:"role"`
}

func member(m store.Membership) Member {
	return Member{UserID: m.UserID, Email: m.UserEmail, DisplayName: m.UserDisplayName, Role: m.Role, CreatedAt: m.CreatedAt}
}

func (v *V1) listMembers(c *call) error {
	ms, err := v.Store.ListMembers(c.r.Context(), c.org.ID)
	if err != nil {
		return err
	}
	out := make([]Member, 0, len(ms))
	for _, m := range ms {
		out = append(out, member(m))
	}
	return c.reply(out)
}

func (v *V1) addMember(c *call) error {
	var req AddMemberRequest
	if err := c.decode(&req); err != nil {
		return err
	}
	if req.Role == "" {
		req.Role = store.RoleMember
	}
	c.on("user", req.UserID)
	if req.UserID == "" {
		return badRequest("invalid_field", "user_id: must not be empty")
	}
	m, err := v.Authz.AddMember(c.r.Context(), store.Membership{OrgID: c.org.ID, UserID: req.UserID, Role: req.Role})
	if errors.Is(err, store.ErrConflict) {
		return &Error{http.StatusConflict, "already_member", "the user is already a member"}
	}
	if err != nil {
		return notFoundAs(err, "user")
	}
	return c.reply(member(m))
}

// keepAdmin refuses a change that would leave the organization without
// an admin member.
func (v *V1) keepAdmin(c *call, userID string) error {
	ms, err := v.Store.ListMembers(c.r.Context(), c.org.ID)
	if err != nil {
		return err
	}
	admins, target := 0, false
	for _, m := range ms {
		if m.Role == store.RoleAdmin {
			admins++
			target = target || m.UserID == userID
		}
	}
	if target && admins == 1 {
		return badRequest("last_admin", "the organization must keep at least one admin")
	}
	return nil
}

func (v *V1) setMemberRole(c *call) error {
	userID := c.r.PathValue("user")
	c.on("user", userID)
	var req SetRoleRequest
	if err := c.decode(&req); err != nil {
		return err
	}
	if _, err := v.Store.GetMembership(c.r.Context(), c.org.ID, userID); err != nil {
		return notFoundAs(err, "member")
	}
	if req.Role != store.RoleAdmin {
		if err := v.keepAdmin(c, userID); err != nil {
			return err
		}
	}
	if err := v.Authz.SetMemberRole(c.r.Context(), c.org.ID, userID, req.Role); err != nil {
		return notFoundAs(err, "member")
	}
	m, err := v.Store.GetMembership(c.r.Context(), c.org.ID, userID)
	if err != nil {
		return notFoundAs(err, "member")
	}
	return c.reply(member(m))
}

func (v *V1) removeMember(c *call) error {
	userID := c.r.PathValue("user")
	c.on("user", userID)
	if _, err := v.Store.GetMembership(c.r.Context(), c.org.ID, userID); err != nil {
		return notFoundAs(err, "member")
	}
	if err := v.keepAdmin(c, userID); err != nil {
		return err
	}
	if err := v.Authz.RemoveMember(c.r.Context(), c.org.ID, userID); err != nil {
		return notFoundAs(err, "member")
	}
	return c.reply(nil)
}

// Group is a group of users and other groups.
type Group struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
}

// CreateGroupRequest creates a group.
type CreateGroupRequest struct {
	Name string `json:"name"`
}

// GroupMember is a member of a group: a user or a group (one id is set).
type GroupMember struct {
	UserID    string    `json:"user_id,omitempty"`
	GroupID   string    `json:"group_id,omitempty"`
	Name      string    `json:"name"` // the user's email or the group's name
	CreatedAt time.Time `json:"created_at,omitzero"`
}

// AddGroupMemberRequest adds a member of the organization (user_id) or
// another group of it (group_id) to a group.
type AddGroupMemberRequest struct {
	UserID  string `json:"user_id,omitempty"`
	GroupID string `json:"group_id,omitempty"`
}

func group(g store.Group) Group { return Group{ID: g.ID, Name: g.Name, CreatedAt: g.CreatedAt} }

func (v *V1) listGroups(c *call) error {
	gs, err := v.Store.ListGroups(c.r.Context(), c.org.ID)
	if err != nil {
		return err
	}
	out := make([]Group, 0, len(gs))
	for _, g := range gs {
		out = append(out, group(g))
	}
	return c.reply(out)
}

func (v *V1) createGroup(c *call) error {
	var req CreateGroupRequest
	if err := c.decode(&req); err != nil {
		return err
	}
	g, err := v.Store.CreateGroup(c.r.Context(), store.Group{OrgID: c.org.ID, Name: req.Name})
	if err != nil {
		return err
	}
	c.on("group", g.ID)
	return c.reply(group(g))
}

// pathGroup returns the path's group of the organization.
func (v *V1) pathGroup(c *call) (store.Group, error) {
	id := c.r.PathValue("group")
	c.on("group", id)
	g, err := v.Store.GetGroup(c.r.Context(), c.org.ID, id)
	if err != nil {
		return store.Group{}, notFoundAs(err, "group")
	}
	c.on("group", g.ID)
	return g, nil
}

func (v *V1) getGroup(c *call) error {
	g, err := v.pathGroup(c)
	if err != nil {
		return err
	}
	return c.reply(group(g))
}

func (v *V1) deleteGroup(c *call) error {
	g, err := v.pathGroup(c)
	if err != nil {
		return err
	}
	if err := v.Authz.DeleteGroup(c.r.Context(), c.org.ID, g.ID); err != nil {
		return notFoundAs(err, "group")
	}
	return c.reply(nil)
}

func (v *V1) listGroupMembers(c *call) error {
	g, err := v.pathGroup(c)
	if err != nil {
		return err
	}
	ms, err := v.Store.ListGroupMembers(c.r.Context(), c.org.ID, g.ID)
	if err != nil {
		return notFoundAs(err, "group")
	}
	out := make([]GroupMember, 0, len(ms))
	for _, m := range ms {
		out = append(out, GroupMember{UserID: m.UserID, GroupID: m.GroupID, Name: m.Name, CreatedAt: m.CreatedAt})
	}
	return c.reply(out)
}

func (v *V1) addGroupMember(c *call) error {
	g, err := v.pathGroup(c)
	if err != nil {
		return err
	}
	var req AddGroupMemberRequest
	if err := c.decode(&req); err != nil {
		return err
	}
	m := store.GroupMember{UserID: req.UserID, GroupID: req.GroupID}
	if err := v.Authz.AddGroupMember(c.r.Context(), c.org.ID, g.ID, m); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return &Error{http.StatusConflict, "already_member", "already a member of the group"}
		}
		return notFoundAs(err, "member")
	}
	ms, err := v.Store.ListGroupMembers(c.r.Context(), c.org.ID, g.ID)
	if err != nil {
		return err
	}
	for _, x := range ms {
		if x.UserID == m.UserID && x.GroupID == m.GroupID {
			return c.reply(GroupMember{UserID: x.UserID, GroupID: x.GroupID, Name: x.Name, CreatedAt: x.CreatedAt})
		}
	}
	return notFound("member") // removed meanwhile
}

func (v *V1) removeGroupMember(c *call) error {
	g, err := v.pathGroup(c)
	if err != nil {
		return err
	}
	id := c.r.PathValue("member")
	m := store.GroupMember{UserID: id}
	if strings.HasPrefix(id, "grp_") {
		m = store.GroupMember{GroupID: id}
	}
	if err := v.Authz.RemoveGroupMember(c.r.Context(), c.org.ID, g.ID, m); err != nil {
		return notFoundAs(err, "member")
	}
	return c.reply(nil)
}
