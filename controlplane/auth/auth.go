// Package auth signs users in through OpenID Connect: it finds an
// organization's identity provider from the domain of the user's email,
// runs the authorization-code flow with PKCE, state and nonce through
// go-oidc, and turns a verified ID token into an Identity. Every provider,
// including the engine's built-in one (package auth/idp), goes through the
// same code path.
//
// Persistence stays behind the small IdPFinder interface; pending logins are
// engine-local, short-lived and kept in memory. This package must never import
// controlplane/store (the caller adapts it) or anything under agent/.
package auth

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// Defaults for Config's zero values.
const (
	DefaultStateTTL         = 10 * time.Minute
	DefaultMaxPendingLogins = 10000
	DefaultHTTPTimeout      = 15 * time.Second
	// Leeway is the clock skew tolerated on nbf and iat.
	Leeway = 60 * time.Second
)

// ErrNoIdP is what an IdPFinder returns (or wraps) when no IdP is configured
// for a domain. Any other error from the finder is treated as an internal
// failure, never as "no IdP".
var ErrNoIdP = errors.New("no identity provider for domain")

// IdPConfig is one organization's identity provider as the store holds it.
type IdPConfig struct {
	OrgID        string
	Issuer       string   // exact issuer URL; discovery is fetched from it
	ClientID     string   //
	ClientSecret string   // plaintext, unsealed by the caller
	Domains      []string // allowed email domains, as DomainOf returns them
	GroupClaim   string   // ID-token claim holding group names; "" = no groups
	Scopes       []string // extra scopes beyond openid, email, profile (e.g. "groups")
}

// LogValue keeps the client secret out of logs.
func (c IdPConfig) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("org_id", c.OrgID),
		slog.String("issuer", c.Issuer),
		slog.String("client_id", c.ClientID),
		slog.String("client_secret", "REDACTED"),
	)
}

// IdPFinder finds the IdP whose allowed domains contain domain, by exact
// match. It returns ErrNoIdP (or an error wrapping it) when there is none.
type IdPFinder interface {
	FindIdPByDomain(ctx context.Context, domain string) (IdPConfig, error)
}

// Identity is a user the IdP vouched for. Users are keyed on Issuer+Subject;
// Email is informational and never links accounts on its own.
type Identity struct {
	Issuer  string
	Subject string
	Email   string // lowercased, domain in A-label form
	Name    string
	Groups  []string
	OrgID   string
}

// Config configures a RelyingParty.
type Config struct {
	IdPs IdPFinder
	// HTTPClient talks to the IdPs (discovery, JWKS, token endpoint).
	// nil = a client with DefaultHTTPTimeout.
	HTTPClient *http.Client
	// StateTTL bounds the time between Begin and Finish. 0 = DefaultStateTTL.
	StateTTL time.Duration
	// MaxPendingLogins bounds memory used by logins that were begun but not
	// finished. 0 = DefaultMaxPendingLogins.
	MaxPendingLogins int
	Now              func() time.Time // nil = time.Now
	Logger           *slog.Logger     // nil = discard
}

// RelyingParty runs OIDC logins against the organizations' IdPs. It is safe
// for concurrent use and owns no goroutines.
type RelyingParty struct {
	cfg       Config
	states    *loginStates
	providers *providerCache
}

// New returns a RelyingParty.
func New(cfg Config) *RelyingParty {
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: DefaultHTTPTimeout}
	}
	if cfg.StateTTL <= 0 {
		cfg.StateTTL = DefaultStateTTL
	}
	if cfg.MaxPendingLogins <= 0 {
		cfg.MaxPendingLogins = DefaultMaxPendingLogins
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &RelyingParty{
		cfg:       cfg,
		states:    newLoginStates(cfg.MaxPendingLogins),
		providers: newProviderCache(cfg.HTTPClient, cfg.Now),
	}
}

// Begin starts a login for email: it finds the IdP of the email's domain and
// returns the URL to send the browser to. redirectURL is the engine's callback
// and must be registered with the IdP. The returned URL's "state" query
// parameter identifies the pending login; the caller should bind it to the
// browser (a cookie) and check it in the callback before calling Finish, to
// stop login CSRF.
func (rp *RelyingParty) Begin(ctx context.Context, email, redirectURL string) (string, error) {
	hint, err := normalizeEmail(email)
	if err != nil {
		return "", refuseErr(ReasonInvalidEmail, err)
	}
	idp, err := rp.findIdP(ctx, hint)
	if err != nil {
		return "", err
	}
	p, err := rp.providers.get(ctx, idp.Issuer)
	if err != nil {
		return "", refuseErr(ReasonProviderUnavailable, err)
	}
	now := rp.cfg.Now()
	state, nonce := randomToken(), randomToken()
	pl := pendingLogin{
		nonce:       nonce,
		verifier:    oauth2.GenerateVerifier(),
		redirectURL: redirectURL,
		emailHint:   hint,
		idp:         idp,
		expires:     now.Add(rp.cfg.StateTTL),
	}
	if !rp.states.put(state, pl, now) {
		return "", refuse(ReasonTooManyLogins, "%d logins pending", rp.cfg.MaxPendingLogins)
	}
	oc := oauth2Config(p, idp, redirectURL)
	return oc.AuthCodeURL(state,
		oidc.Nonce(nonce),
		oauth2.S256ChallengeOption(pl.verifier),
		oauth2.SetAuthURLParam("login_hint", hint),
	), nil
}

func (rp *RelyingParty) findIdP(ctx context.Context, email string) (IdPConfig, error) {
	domain, err := DomainOf(email)
	if err != nil {
		return IdPConfig{}, refuseErr(ReasonInvalidEmail, err)
	}
	idp, err := rp.cfg.IdPs.FindIdPByDomain(ctx, domain)
	if errors.Is(err, ErrNoIdP) {
		return IdPConfig{}, refuseErr(ReasonNoIdPForDomain, err)
	}
	if err != nil {
		return IdPConfig{}, fmt.Errorf("finding IdP for domain %q: %w", domain, err)
	}
	// Defence in depth: whatever the finder matched, the domain itself must
	// be one of the IdP's domains, exactly.
	if !idp.allows(domain) {
		return IdPConfig{}, refuse(ReasonNoIdPForDomain, "IdP %s of org %s does not list domain %q", idp.Issuer, idp.OrgID, domain)
	}
	return idp, nil
}

// allows reports whether domain (already canonical) is one of c's domains.
func (c IdPConfig) allows(domain string) bool {
	return slices.ContainsFunc(c.Domains, func(d string) bool {
		cd, err := canonicalDomain(d)
		return err == nil && cd == domain
	})
}

// Finish completes the login identified by state with the authorization code
// the IdP sent to the callback. The state is consumed whatever the outcome.
// The token's email need not equal the address given to Begin, but its domain
// must be one of the IdP's domains. Refusals are *Error values (see
// ReasonOf); other errors are internal failures.
func (rp *RelyingParty) Finish(ctx context.Context, state, code string) (Identity, error) {
	pl, ok := rp.states.take(state, rp.cfg.Now())
	if !ok {
		return Identity{}, refuse(ReasonUnknownState, "no pending login for this state")
	}
	p, err := rp.providers.get(ctx, pl.idp.Issuer)
	if err != nil {
		return Identity{}, refuseErr(ReasonProviderUnavailable, err)
	}
	oc := oauth2Config(p, pl.idp, pl.redirectURL)
	tok, err := oc.Exchange(oidc.ClientContext(ctx, rp.cfg.HTTPClient), code, oauth2.VerifierOption(pl.verifier))
	if err != nil {
		return Identity{}, refuseErr(ReasonCodeExchangeFailed, err)
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return Identity{}, refuse(ReasonMissingIDToken, "token response from %s has no id_token", pl.idp.Issuer)
	}
	id, err := rp.verify(ctx, p, pl, raw)
	if err != nil {
		return Identity{}, err
	}
	rp.cfg.Logger.InfoContext(ctx, "oidc login", slog.String("org_id", id.OrgID), slog.String("issuer", id.Issuer), slog.String("subject", id.Subject))
	return id, nil
}

func oauth2Config(p *oidc.Provider, idp IdPConfig, redirectURL string) *oauth2.Config {
	scopes := []string{oidc.ScopeOpenID, "email", "profile"}
	for _, s := range idp.Scopes {
		if !slices.Contains(scopes, s) {
			scopes = append(scopes, s)
		}
	}
	return &oauth2.Config{
		ClientID:     idp.ClientID,
		ClientSecret: idp.ClientSecret,
		Endpoint:     p.Endpoint(),
		RedirectURL:  redirectURL,
		Scopes:       scopes,
	}
}

// randomToken returns 256 random bits, base64url encoded.
func randomToken() string {
	b := make([]byte, 32)
	rand.Read(b) // never fails (crypto/rand documents it)
	return base64.RawURLEncoding.EncodeToString(b)
}
