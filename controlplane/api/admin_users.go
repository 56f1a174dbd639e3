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
