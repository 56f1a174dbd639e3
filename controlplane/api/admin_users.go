package api

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/warrenhq/warren/controlplane/store"
)

// userStore is what minting a user's API token needs beyond AdminStore;
// *store.Store has it.
type userStore interface {
	GetOrg(ctx context.Context, idOrSlug string) (store.Org, error)
	GetUser(ctx context.Context, id string) (store.User, error)
	FindUsersByEmail(ctx context.Context, email string) ([]store.User, error)
	GetMembership(ctx context.Context, orgID, userID string) (store.Membership, error)
}

var _ userStore = (*store.Store)(nil)

// UserTokenRequest asks the admin API for an API token of a user in an
// organization. Org is an id or a slug; User an email or a user id; TTL a
// Go duration ("" = until revoked).
type UserTokenRequest struct {
	Org  string `json:"org"`
	User string `json:"user"`
	TTL  string `json:"ttl,omitempty"`
	Name string `json:"name,omitempty"` // "" = "cli"
}

// UserTokenResponse carries the new API token, shown this once.
type UserTokenResponse struct {
	Token     string     `json:"token"`
	ID        string     `json:"id"`
	OrgID     string     `json:"org_id"`
	UserID    string     `json:"user_id"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
}

func (a *Admin) createUserToken(w http.ResponseWriter, r *http.Request) error {
	st, ok := a.Store.(userStore)
	if a.Authn == nil || !ok {
		return &Error{http.StatusServiceUnavailable, "not_configured", "this engine cannot mint API tokens over the admin socket"}
	}
	var req UserTokenRequest
	if err := decodeBody(w, r, &req); err != nil {
		return err
	}
	ttl, err := parseTTL(req.TTL)
	if err != nil {
		return err
	}
	if req.Org == "" || req.User == "" {
		return badRequest("invalid_field", "org and user are required")
	}
	org, err := st.GetOrg(r.Context(), req.Org)
	if err != nil {
		return notFoundAs(err, "org")
	}
	u, err := a.findMember(r.Context(), st, org.ID, req.User)
	if err != nil {
		return err
	}
	name := req.Name
	if name == "" {
		name = "cli"
	}
	tok, t, err := a.Authn.CreateAPIToken(r.Context(), org.ID, u.ID, name, ttl)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, UserTokenResponse{Token: tok, ID: t.ID, OrgID: org.ID, UserID: u.ID, ExpiresAt: timePtr(t.ExpiresAt)})
	return nil
}

// findMember resolves ref (an email or a user id) to the one user of that
// name who is a member of orgID.
func (a *Admin) findMember(ctx context.Context, st userStore, orgID, ref string) (store.User, error) {
	var candidates []store.User
	if strings.Contains(ref, "@") {
		us, err := st.FindUsersByEmail(ctx, ref)
		if err != nil {
			return store.User{}, err
		}
		candidates = us
	} else {
		u, err := st.GetUser(ctx, ref)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return store.User{}, err
		}
		if err == nil {
			candidates = []store.User{u}
		}
	}
	var members []store.User
	for _, u := range candidates {
		_, err := st.GetMembership(ctx, orgID, u.ID)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return store.User{}, err
		}
		members = append(members, u)
	}
	switch len(members) {
	case 0:
		return store.User{}, &Error{http.StatusNotFound, "user_not_found", "no member of the organization is " + ref}
	case 1:
		return members[0], nil
	}
	return store.User{}, &Error{http.StatusConflict, "user_ambiguous", "several members of the organization have the email " + ref + "; pass the user id"}
}

// platformUserStore is what the socket's user administration needs.
type platformUserStore interface {
	userStore
	ListUsers(ctx context.Context) ([]store.User, error)
	SetUserDisabled(ctx context.Context, id string, disabled bool) error
}

func (a *Admin) platformUsers() (platformUserStore, error) {
	st, ok := a.Store.(platformUserStore)
	if a.Authn == nil || !ok {
		return nil, &Error{http.StatusServiceUnavailable, "not_configured", "this engine cannot administer users over the admin socket"}
	}
	return st, nil
}

func (a *Admin) listUsers(w http.ResponseWriter, r *http.Request) error {
	st, err := a.platformUsers()
	if err != nil {
		return err
	}
	us, err := st.ListUsers(r.Context())
	if err != nil {
		return err
	}
	out := make([]User, 0, len(us))
	for _, u := range us {
		out = append(out, user(u))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// setUserDisabled disables (signing the user out everywhere at once: their
// sessions and API tokens stop on the next request) or enables a user, named
// by email or id.
func (a *Admin) setUserDisabled(disabled bool) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		st, err := a.platformUsers()
		if err != nil {
			return err
		}
		u, err := a.findUser(r.Context(), st, r.PathValue("user"))
		if err != nil {
			return err
		}
		if err := st.SetUserDisabled(r.Context(), u.ID, disabled); err != nil {
			return err
		}
		if disabled {
			if _, err := a.Authn.RevokeUserSessions(r.Context(), u.ID); err != nil {
				return err
			}
		}
		if u, err = st.GetUser(r.Context(), u.ID); err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, user(u))
		return nil
	}
}

// findUser resolves an email (which must name one user) or a user id.
func (a *Admin) findUser(ctx context.Context, st userStore, ref string) (store.User, error) {
	if !strings.Contains(ref, "@") {
		u, err := st.GetUser(ctx, ref)
		return u, notFoundAs(err, "user")
	}
	us, err := st.FindUsersByEmail(ctx, ref)
	switch {
	case err != nil:
		return store.User{}, err
	case len(us) == 0:
		return store.User{}, notFound("user")
	case len(us) > 1:
		return store.User{}, &Error{http.StatusConflict, "ambiguous_user", "several users have this email; name the user by id"}
	}
	return us[0], nil
}
