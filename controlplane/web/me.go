package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/warrenhq/warren/controlplane/store"
)

// Me is the answer to GET MePath and POST OrgPath.
type Me struct {
	User MeUser `json:"user"`
	// Org is the current organization; null when there is none.
	Org *MeOrg `json:"org"`
	// Memberships lists the user's organizations; an API token sees only
	// its own.
	Memberships []MeOrg `json:"memberships"`
	// CSRFToken is the value CSRFHeader must carry; empty for API tokens.
	CSRFToken string `json:"csrf_token,omitempty"`
	Via       string `json:"via"`
}

// MeUser is the signed-in user.
type MeUser struct {
	ID            string `json:"id"`
	Email         string `json:"email"`
	DisplayName   string `json:"display_name"`
	PlatformAdmin bool   `json:"platform_admin"`
}

// MeOrg is an organization the user is a member of.
type MeOrg struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	Slug string `json:"slug"`
	Role string `json:"role"`
}

func meOrg(m store.Membership) MeOrg {
	return MeOrg{ID: m.OrgID, Name: m.OrgName, Slug: m.OrgSlug, Role: m.Role}
}

// serveMeOptional answers GET MePath. A signed-out caller gets 401
// unauthenticated, or, with ?optional=1 (the console asking "am I signed
// in?" at start, which must not log an error in the browser), 204.
func (a *Authn) serveMeOptional(w http.ResponseWriter, r *http.Request) error {
	st, err := a.resolve(w, r)
	if errors.Is(err, errUnauthenticated) && r.URL.Query().Get("optional") == "1" {
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	if err != nil {
		return err
	}
	return a.serveMe(w, r.WithContext(context.WithValue(r.Context(), principalKey{}, st)))
}

func (a *Authn) serveMe(w http.ResponseWriter, r *http.Request) error {
	me, err := a.me(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, me)
	return nil
}

func (a *Authn) me(ctx context.Context) (Me, error) {
	st := stateFrom(ctx)
	p := st.p
	u, err := a.cfg.Store.GetUser(ctx, p.UserID)
	if err != nil {
		return Me{}, fmt.Errorf("getting user %s: %w", p.UserID, err)
	}
	ms, err := a.cfg.Store.ListMemberships(ctx, p.UserID)
	if err != nil {
		return Me{}, err
	}
	me := Me{
		User:        MeUser{ID: u.ID, Email: u.Email, DisplayName: u.DisplayName, PlatformAdmin: p.PlatformAdmin},
		Memberships: []MeOrg{},
		CSRFToken:   string(st.csrf),
		Via:         p.Via,
	}
	for _, m := range ms {
		if p.Via == ViaToken && m.OrgID != p.OrgID {
			continue
		}
		o := meOrg(m)
		me.Memberships = append(me.Memberships, o)
		if m.OrgID == p.OrgID {
			me.Org = &o
		}
	}
	return me, nil
}

type orgRequest struct {
	OrgID string `json:"org_id"`
}

// serveOrg switches the session's current organization to one the user is
// a member of. Another org, existing or not, is "org_not_found".
func (a *Authn) serveOrg(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	st := stateFrom(ctx)
	if st.p.Via != ViaSession {
		return errNotSession
	}
	var req orgRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	if req.OrgID == "" {
		return &httpError{Status: http.StatusBadRequest, Code: "invalid_field", Message: "org_id: must not be empty"}
	}
	_, err := a.cfg.Store.GetMembership(ctx, req.OrgID, st.p.UserID)
	if errors.Is(err, store.ErrNotFound) {
		return &httpError{Status: http.StatusNotFound, Code: "org_not_found", Message: "no such organization among yours"}
	}
	if err != nil {
		return err
	}
	if err := a.cfg.Store.SetSessionOrg(ctx, st.p.SessionID, req.OrgID); err != nil {
		return err
	}
	st.p.OrgID = req.OrgID
	me, err := a.me(ctx)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, me)
	return nil
}
