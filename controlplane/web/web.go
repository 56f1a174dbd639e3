// Package web authenticates the browser console and API clients of the
// engine: it runs the OIDC login (package auth) against the organization's
// IdP found by email domain or against the engine's built-in IdP (package
// auth/idp, which it mounts at /idp/), keeps server-side browser sessions
// behind an HttpOnly cookie, checks CSRF tokens and origins on
// state-changing requests, resolves API tokens, and creates the first
// platform admin through a one-time setup link.
//
// Handlers put a Principal in the request context (Authenticate,
// PrincipalFrom); deciding what that principal may do is the caller's job.
// Persistence goes through the small interfaces in store.go, which
// *store.Store implements. This package must never import controlplane/api
// (api builds on it) or anything under agent/.
package web

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/warrenhq/warren/controlplane/auth"
	"github.com/warrenhq/warren/controlplane/auth/idp"
	"github.com/warrenhq/warren/controlplane/secrets"
	"github.com/warrenhq/warren/controlplane/store"
)

// Defaults for Config's zero values.
const (
	DefaultSessionTTL = 12 * time.Hour
)

// Routes served by Handler and Register.
const (
	LoginPath    = "/api/v1/auth/login"
	CallbackPath = "/api/v1/auth/callback"
	LogoutPath   = "/api/v1/auth/logout"
	MePath       = "/api/v1/auth/me"
	OrgPath      = "/api/v1/auth/org"
	SetupPath    = "/setup"
	// IdPPath is where the built-in IdP is mounted; its issuer is the
	// public URL followed by IdPPath without the trailing slash.
	IdPPath = "/idp/"
)

// Config configures an Authn. Store, Keyring and PublicURL are required.
type Config struct {
	Store Store
	// Keyring seals the built-in IdP's signing key and, unless IdPSecrets
	// is set, opens the IdP client secrets.
	Keyring *secrets.Keyring
	// IdPSecrets opens organizations' IdP client secrets. nil = Keyring.
	// Pass the engine's *vault.Vault so a KEK rotation at run time is
	// followed.
	IdPSecrets IdPSecretOpener
	// PublicURL is the origin browsers use, e.g. "https://warren.example.com"
	// (no path). Cookies are Secure unless it is http:// on a loopback host;
	// CSRF and WebSocket origin checks compare against it; the OIDC
	// callback is PublicURL + CallbackPath.
	PublicURL string
	// DataDir holds the built-in IdP's sealed signing key (KeyFile). "" =
	// a fresh key in memory on every start.
	DataDir string
	// DisableBuiltinIdP turns the built-in IdP off: /idp/ and /setup are not
	// served and only organizations' IdPs can sign users in.
	DisableBuiltinIdP bool
	// Members adds the membership an org IdP's first login gives. nil =
	// Store; the engine passes its authz service so OpenFGA learns of it.
	Members MemberAdder
	// FirstAdmin, if set, runs once the first platform admin was created
	// through the setup link (the engine gives them a first organization).
	// An error is logged; the admin stands.
	FirstAdmin func(ctx context.Context, u store.User) error
	// SessionTTL is how long a browser session lasts. 0 = DefaultSessionTTL.
	SessionTTL time.Duration
	// Transport carries requests to external IdPs. nil = http.DefaultTransport.
	// Requests to PublicURL's origin never use it: they are served in process.
	Transport http.RoundTripper
	Now       func() time.Time // nil = time.Now
	Logger    *slog.Logger     // nil = discard
}

// Authn is the engine's authentication layer. It is safe for concurrent use
// and owns no goroutines.
type Authn struct {
	cfg         Config
	log         *slog.Logger
	origin      string // PublicURL's origin, normalised (see originOf)
	secure      bool   // cookies get Secure
	callbackURL string
	rp          *auth.RelyingParty
	idp         *idp.Provider  // nil when the built-in IdP is disabled
	builtin     auth.IdPConfig // the built-in IdP as the RP sees it; Domains set per login
}

// New returns an Authn. With the built-in IdP enabled it loads (or creates
// on first start) the IdP's signing key in cfg.DataDir.
func New(cfg Config) (*Authn, error) {
	if cfg.Store == nil || cfg.Keyring == nil {
		return nil, errors.New("web: Config.Store and Config.Keyring are required")
	}
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = DefaultSessionTTL
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Transport == nil {
		cfg.Transport = http.DefaultTransport
	}
	if cfg.IdPSecrets == nil {
		cfg.IdPSecrets = keyringOpener{cfg.Keyring}
	}
	a := &Authn{cfg: cfg, log: cfg.Logger}
	if err := a.initPublicURL(cfg.PublicURL); err != nil {
		return nil, err
	}
	if !cfg.DisableBuiltinIdP {
		if err := a.initBuiltin(); err != nil {
			return nil, err
		}
	}
	a.rp = auth.New(auth.Config{
		IdPs:       idpFinder{a},
		HTTPClient: a.idpClient(),
		StateTTL:   loginTTL,
		Now:        cfg.Now,
		Logger:     cfg.Logger,
	})
	return a, nil
}

func (a *Authn) initPublicURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("web: public URL: %w", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil ||
		u.RawQuery != "" || u.Fragment != "" || (u.Path != "" && u.Path != "/") {
		return fmt.Errorf("web: public URL %q must be an http(s) origin without path, query or user info", raw)
	}
	a.origin = originOf(u)
	a.secure = u.Scheme == "https" || !isLoopback(u.Hostname())
	a.callbackURL = a.origin + CallbackPath
	if u.Scheme == "http" && a.secure {
		a.log.Warn("public URL is plain http on a non-loopback host: browsers drop the Secure session cookie, so browser login will fail; use https",
			slog.String("public_url", a.origin))
	}
	return nil
}

// originOf returns scheme://host[:port] of u, lowercased, without the
// scheme's default port: the form browsers send in the Origin header.
func originOf(u *url.URL) string {
	scheme, host := strings.ToLower(u.Scheme), strings.ToLower(u.Host)
	if h, port, err := net.SplitHostPort(host); err == nil &&
		(scheme == "http" && port == "80" || scheme == "https" && port == "443") {
		host = h
		if strings.Contains(h, ":") {
			host = "[" + h + "]"
		}
	}
	return scheme + "://" + host
}

func isLoopback(host string) bool {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Handler returns a handler serving every route of the package (see
// Register) and nothing else.
func (a *Authn) Handler() http.Handler {
	mux := http.NewServeMux()
	a.Register(mux)
	return mux
}

// Register adds the package's routes to mux:
//
//	POST /api/v1/auth/login     {email} -> {redirect_url}
//	GET  /api/v1/auth/callback  the OIDC redirect URI
//	POST /api/v1/auth/logout    (authenticated)
//	GET  /api/v1/auth/me        (authenticated; ?optional=1: 204 when signed out)
//	POST /api/v1/auth/org       {org_id} (authenticated, session only)
//	     /idp/                  the built-in IdP, unless disabled
//	GET  /setup, POST /setup    first platform admin, unless the built-in IdP is disabled
//
// Any other method or path under /api/v1/auth/ gets an error envelope.
func (a *Authn) Register(mux *http.ServeMux) {
	mux.Handle("POST "+LoginPath, a.handle(a.serveLogin))
	mux.Handle("GET "+CallbackPath, a.handle(a.serveCallback))
	mux.Handle("POST "+LogoutPath, a.Authenticate(a.handle(a.serveLogout)))
	mux.Handle("GET "+MePath, a.handle(a.serveMeOptional))
	mux.Handle("POST "+OrgPath, a.Authenticate(a.handle(a.serveOrg)))
	mux.Handle("/api/v1/auth/", a.handle(serveNoRoute))
	if a.idp != nil {
		mux.Handle(IdPPath, a.idp)
		mux.HandleFunc("GET "+SetupPath, a.serveSetupForm)
		mux.HandleFunc("POST "+SetupPath, a.serveSetup)
	}
}

var knownRoutes = map[string]bool{LoginPath: true, CallbackPath: true, LogoutPath: true, MePath: true, OrgPath: true}

func serveNoRoute(_ http.ResponseWriter, r *http.Request) error {
	if knownRoutes[r.URL.Path] {
		return &httpError{Status: http.StatusMethodNotAllowed, Code: "method_not_allowed", Message: r.Method + " is not allowed here"}
	}
	return &httpError{Status: http.StatusNotFound, Code: "route_not_found", Message: "no such route"}
}

// BuiltinIssuer returns the issuer of the built-in IdP, the issuer of every
// local user's identity, or "" when it is disabled.
func (a *Authn) BuiltinIssuer() string {
	if a.idp == nil {
		return ""
	}
	return a.idp.Issuer()
}

func (a *Authn) now() time.Time { return a.cfg.Now() }
