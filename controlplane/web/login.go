package web

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"

	"github.com/warrenhq/warren/controlplane/auth"
	"github.com/warrenhq/warren/controlplane/secrets"
	"github.com/warrenhq/warren/controlplane/store"
)

// loginTTL bounds the time from POST /login to the callback; the
// login-binding cookie lives as long as the pending login.
const loginTTL = auth.DefaultStateTTL

// loginCookie binds a pending login to the browser that started it: it
// holds the OAuth state, and the callback refuses a state the browser's
// cookie does not hold, so nobody can finish their own login in someone
// else's browser (login CSRF). It is only ever sent to the callback.
const loginCookie = "warren_login"

// idpSecretAAD is what an IdP's client secret is sealed to (the same
// binding controlplane/vault uses): its org, ID, kind and version, so a
// ciphertext moved to another IdP row, or an old one restored after a
// secret change, does not open.
func idpSecretAAD(p store.IdP) secrets.AAD {
	return secrets.AAD{OrgID: p.OrgID, RecordID: p.ID, Kind: "idp_client_secret", Version: p.Version}
}

// IdPSecretOpener opens an IdP's sealed client secret (*vault.Vault does,
// and follows KEK rotations at run time).
type IdPSecretOpener interface {
	OpenIdPSecret(p store.IdP) (secrets.Secret, error)
}

// keyringOpener opens IdP secrets with a fixed keyring.
type keyringOpener struct{ kr *secrets.Keyring }

func (o keyringOpener) OpenIdPSecret(p store.IdP) (secrets.Secret, error) {
	var s secrets.Sealed
	if err := s.UnmarshalBinary(p.ClientSecretSealed); err != nil {
		return nil, err
	}
	return o.kr.Open(idpSecretAAD(p), s)
}

// idpFinder adapts the store to auth.IdPFinder. An org's IdP that owns the
// domain wins; otherwise the built-in IdP (when enabled) takes the login,
// whether or not a local account with that email exists: its password form
// answers unknown and wrong credentials alike, so /login reveals nothing
// about which local accounts exist.
type idpFinder struct{ a *Authn }

func (f idpFinder) FindIdPByDomain(ctx context.Context, domain string) (auth.IdPConfig, error) {
	p, err := f.a.cfg.Store.FindIdPByDomain(ctx, domain)
	switch {
	case err == nil:
		return f.a.orgIdP(p)
	case !errors.Is(err, store.ErrNotFound):
		return auth.IdPConfig{}, err
	case f.a.idp == nil:
		return auth.IdPConfig{}, fmt.Errorf("domain %q: %w", domain, auth.ErrNoIdP)
	}
	c := f.a.builtin
	c.Domains = []string{domain}
	return c, nil
}

// orgIdP turns a stored IdP into the RP's config, unsealing its secret.
func (a *Authn) orgIdP(p store.IdP) (auth.IdPConfig, error) {
	if a.idp != nil && strings.TrimSuffix(p.Issuer, "/") == a.idp.Issuer() {
		// Only the engine itself is a client of the built-in IdP, and
		// local users' memberships come from the store, not from an org.
		return auth.IdPConfig{}, fmt.Errorf("identity provider %s of org %s names the built-in IdP's issuer", p.ID, p.OrgID)
	}
	c := auth.IdPConfig{
		OrgID:      p.OrgID,
		Issuer:     p.Issuer,
		ClientID:   p.ClientID,
		Domains:    p.Domains,
		GroupClaim: p.GroupClaim,
	}
	if len(p.ClientSecretSealed) == 0 {
		return c, nil
	}
	pt, err := a.cfg.IdPSecrets.OpenIdPSecret(p)
	if err != nil {
		return auth.IdPConfig{}, fmt.Errorf("client secret of identity provider %s: %w", p.ID, err)
	}
	c.ClientSecret = string(pt)
	pt.Clear()
	return c, nil
}

type loginRequest struct {
	Email string `json:"email"`
}

// LoginResponse is the answer to POST LoginPath: where to send the browser.
type LoginResponse struct {
	RedirectURL string `json:"redirect_url"`
}

func (a *Authn) serveLogin(w http.ResponseWriter, r *http.Request) error {
	var req loginRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	authURL, err := a.rp.Begin(r.Context(), req.Email, a.callbackURL)
	if err != nil {
		return err
	}
	u, err := url.Parse(authURL)
	if err != nil {
		return fmt.Errorf("parsing authorization URL: %w", err)
	}
	http.SetCookie(w, a.cookie(loginCookie, u.Query().Get("state"), CallbackPath, loginTTL))
	writeJSON(w, http.StatusOK, LoginResponse{RedirectURL: authURL})
	return nil
}

// serveCallback finishes a login: the state must be the one this browser's
// login-binding cookie holds, the IdP's code must redeem to a valid ID
// token, and the user must not be disabled. It then opens a session and
// sends the browser to the console.
func (a *Authn) serveCallback(w http.ResponseWriter, r *http.Request) error {
	ctx, q := r.Context(), r.URL.Query()
	http.SetCookie(w, a.expiredCookie(loginCookie, CallbackPath))
	c, err := r.Cookie(loginCookie)
	state := q.Get("state")
	if err != nil || state == "" || !constantEqual(c.Value, state) {
		return errLoginBinding
	}
	if e := q.Get("error"); e != "" {
		return &httpError{Status: http.StatusUnauthorized, Code: "idp_refused", Message: "the identity provider refused the sign-in",
			Err: fmt.Errorf("IdP error %q: %q", e, q.Get("error_description"))}
	}
	id, err := a.rp.Finish(ctx, state, q.Get("code"))
	if err != nil {
		a.auditLogin(r, "", "", "", store.AuditDenied, string(auth.ReasonOf(err)))
		return err
	}
	u, orgID, err := a.admit(ctx, id)
	if err != nil {
		a.auditLogin(r, u.ID, id.OrgID, "", store.AuditDenied, "not admitted")
		return err
	}
	tok, ses, err := a.newSession(ctx, r, u.ID, orgID)
	if err != nil {
		return err
	}
	a.auditLogin(r, u.ID, orgID, ses.ID, store.AuditAllowed, "")
	a.endPreviousSession(r)
	a.log.InfoContext(ctx, "login", slog.String("user_id", u.ID), slog.String("org_id", orgID),
		slog.String("session_id", ses.ID), slog.String("issuer", id.Issuer))
	http.SetCookie(w, a.cookie(SessionCookie, string(tok), "/", a.cfg.SessionTTL))
	http.Redirect(w, r, "/", http.StatusSeeOther)
	return nil
}

func (a *Authn) members() MemberAdder {
	if a.cfg.Members != nil {
		return a.cfg.Members
	}
	return a.cfg.Store
}

// auditLogin records a sign-in attempt: who (when known), into which org,
// the session it opened, or why it was refused.
func (a *Authn) auditLogin(r *http.Request, userID, orgID, sessionID, result, reason string) {
	ev := store.AuditEvent{OrgID: orgID, ActorID: userID, ActorType: "user", Action: "auth.login",
		ObjectType: "session", ObjectID: sessionID, Result: result, Reason: reason, SourceIP: remoteIP(r)}
	if _, err := a.cfg.Store.AppendAudit(context.WithoutCancel(r.Context()), ev); err != nil {
		a.log.Error("appending audit event", "action", ev.Action, "err", err)
	}
}

// admit records the identity's login and decides its current org. Users
// are keyed on (issuer, subject) only, never linked by email. A user who
// signs in through an organization's IdP becomes a member (role member) of
// that organization on first login: configuring an IdP for a domain is how
// an org admits its people; admins grant roles afterwards. Built-in IdP
// users get nothing from logging in: their memberships and platform admin
// role are whatever the store says, and their first membership (by org
// slug) becomes the current org.
func (a *Authn) admit(ctx context.Context, id auth.Identity) (store.User, string, error) {
	u, _, err := a.cfg.Store.UpsertUserIdentity(ctx, id.Issuer, id.Subject, id.Email, id.Name)
	if err != nil {
		return store.User{}, "", err
	}
	if u.Disabled {
		return store.User{}, "", &httpError{Status: http.StatusForbidden, Code: "user_disabled", Message: "this account is disabled"}
	}
	if id.OrgID == "" {
		ms, err := a.cfg.Store.ListMemberships(ctx, u.ID)
		if err != nil || len(ms) == 0 {
			return u, "", err
		}
		return u, ms[0].OrgID, nil
	}
	_, err = a.cfg.Store.GetMembership(ctx, id.OrgID, u.ID)
	if errors.Is(err, store.ErrNotFound) {
		_, err = a.members().AddMember(ctx, store.Membership{OrgID: id.OrgID, UserID: u.ID, Role: store.RoleMember})
		if errors.Is(err, store.ErrConflict) { // a concurrent first login added it
			err = nil
		}
		if err == nil {
			a.log.InfoContext(ctx, "member joined through the org's IdP", slog.String("user_id", u.ID), slog.String("org_id", id.OrgID))
		}
	}
	if err != nil {
		return store.User{}, "", err
	}
	return u, id.OrgID, nil
}

// endPreviousSession revokes the session the browser held before this login,
// so a session planted in it beforehand cannot outlive the login.
func (a *Authn) endPreviousSession(r *http.Request) {
	c, err := r.Cookie(SessionCookie)
	if err != nil || !validRandom(c.Value) {
		return
	}
	ctx := r.Context()
	ses, err := a.cfg.Store.GetSessionByHash(ctx, secret(c.Value).hash(), a.now())
	if err != nil {
		return
	}
	if err := a.cfg.Store.RevokeSession(ctx, ses.ID); err != nil {
		a.log.WarnContext(ctx, "revoking the previous session", slog.String("session_id", ses.ID), slog.Any("err", err))
	}
}

func (a *Authn) serveLogout(w http.ResponseWriter, r *http.Request) error {
	p, _ := PrincipalFrom(r.Context())
	if p.Via != ViaSession {
		return errNotSession
	}
	if err := a.cfg.Store.RevokeSession(r.Context(), p.SessionID); err != nil {
		return err
	}
	a.log.InfoContext(r.Context(), "logout", slog.String("user_id", p.UserID), slog.String("session_id", p.SessionID))
	http.SetCookie(w, a.expiredCookie(SessionCookie, "/"))
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNoContent)
	return nil
}
