package api

import (
	"errors"
	"time"

	"github.com/warrenhq/warren/controlplane/store"
)

// User is a user as platform admins see it.
type User struct {
	ID            string     `json:"id"`
	Email         string     `json:"email"`
	DisplayName   string     `json:"display_name"`
	Issuer        string     `json:"issuer"`
	PlatformAdmin bool       `json:"platform_admin"`
	Disabled      bool       `json:"disabled"`
	CreatedAt     time.Time  `json:"created_at"`
	LastLoginAt   *time.Time `json:"last_login_at,omitempty"`
}

// UpdateUserRequest disables or enables a user, or grants or takes the
// platform admin role. Absent fields stay as they are. Disabling signs the
// user out everywhere at once: sessions and API tokens stop working on the
// next request.
type UpdateUserRequest struct {
	Disabled      *bool `json:"disabled,omitempty"`
	PlatformAdmin *bool `json:"platform_admin,omitempty"`
}

func user(u store.User) User {
	out := User{ID: u.ID, Email: u.Email, DisplayName: u.DisplayName, Issuer: u.Issuer,
		PlatformAdmin: u.PlatformAdmin, Disabled: u.Disabled, CreatedAt: u.CreatedAt}
	if !u.LastLoginAt.IsZero() {
		t := u.LastLoginAt
		out.LastLoginAt = &t
	}
	return out
}

func (v *V1) listUsers(c *call) error {
	if !c.p.PlatformAdmin {
		return c.deny("platform admin role required")
	}
	us, err := v.Store.ListUsers(c.r.Context())
	if err != nil {
		return err
	}
	out := make([]User, 0, len(us))
	for _, u := range us {
		out = append(out, user(u))
	}
	return c.reply(out)
}

// platformUser resolves the {user} path parameter for a platform admin.
func (v *V1) platformUser(c *call) (store.User, error) {
	c.on("user", c.r.PathValue("user"))
	if !c.p.PlatformAdmin {
		return store.User{}, c.deny("platform admin role required")
	}
	u, err := v.Store.GetUser(c.r.Context(), c.r.PathValue("user"))
	if errors.Is(err, store.ErrNotFound) {
		return u, notFound("user")
	}
	return u, err
}

func (v *V1) updateUser(c *call) error {
	u, err := v.platformUser(c)
	if err != nil {
		return err
	}
	var req UpdateUserRequest
	if err := c.decode(&req); err != nil {
		return err
	}
	ctx := c.r.Context()
	if req.PlatformAdmin != nil {
		if err := v.Store.SetPlatformAdmin(ctx, u.ID, *req.PlatformAdmin); err != nil {
			return err
		}
	}
	if req.Disabled != nil {
		if err := v.Store.SetUserDisabled(ctx, u.ID, *req.Disabled); err != nil {
			return err
		}
		if *req.Disabled {
			if _, err := v.Authn.RevokeUserSessions(ctx, u.ID); err != nil {
				return err
			}
		}
	}
	if u, err = v.Store.GetUser(ctx, u.ID); err != nil {
		return err
	}
	return c.reply(user(u))
}

func (v *V1) revokeUserSessions(c *call) error {
	u, err := v.platformUser(c)
	if err != nil {
		return err
	}
	if _, err := v.Authn.RevokeUserSessions(c.r.Context(), u.ID); err != nil {
		return err
	}
	return c.reply(nil)
}
