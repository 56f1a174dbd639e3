// Package idp is the engine's built-in OpenID Connect provider for local
// users (email + argon2id password). It serves discovery, JWKS, an
// authorization endpoint with a login form and a token endpoint under the
// path of its issuer URL, and is consumed by the engine's relying party
// (package auth) exactly like any external IdP.
//
// Storage stays behind the LocalUsers interface; the signing key is passed in
// by the caller, who persists it. Authorization codes and pending login forms
// live in this process's memory only. This package must never import
// controlplane/store, controlplane/auth or anything under agent/.
package idp

import (
	"context"
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/cryptosigner"
)

// Lifetimes.
const (
	CodeTTL    = 60 * time.Second
	IDTokenTTL = 5 * time.Minute
	// FormTTL bounds the time between showing the login form and posting it.
	FormTTL = 10 * time.Minute
)

// ErrNoUser is what LocalUsers returns (or wraps) for an unknown email. Any
// other error is an internal failure and answered with a 500, never with
// "wrong password".
var ErrNoUser = errors.New("no such local user")

// LocalUser is a user of the built-in IdP.
type LocalUser struct {
	ID           string // becomes the ID token's sub
	Email        string
	Name         string
	PasswordHash string // from HashPassword
	Disabled     bool
}

// LogValue keeps the password hash out of logs.
func (u LocalUser) LogValue() slog.Value {
	return slog.GroupValue(slog.String("user_id", u.ID), slog.String("email", u.Email))
}

// LocalUsers looks local users up by lowercased email.
type LocalUsers interface {
	LocalUserByEmail(ctx context.Context, email string) (LocalUser, error)
}

// Client is a relying party registered with the built-in IdP (normally just
// the engine itself).
type Client struct {
	ID           string
	Secret       string
	RedirectURIs []string // exact match, no wildcards
}

// LogValue keeps the secret out of logs.
func (c Client) LogValue() slog.Value {
	return slog.GroupValue(slog.String("client_id", c.ID), slog.String("secret", "REDACTED"))
}

// Config configures a Provider.
type Config struct {
	// Issuer is the provider's external URL, e.g.
	// "https://warren.example.com/idp". Its path is the prefix every route
	// is served under; mount the Provider at that prefix without stripping it.
	Issuer string
	// Disabled turns the provider off: every route answers 404 and nothing
	// else in Config is read.
	Disabled bool
	// Key signs ID tokens: ECDSA P-256 (ES256), RSA >= 2048 bits (RS256) or
	// Ed25519 (EdDSA). When nil, KeyPEM is parsed with ParseKey.
	Key    crypto.Signer
	KeyPEM []byte
	// Clients are the relying parties allowed to use this provider.
	Clients []Client
	Users   LocalUsers
	// MaxConcurrentLogins bounds password hashes computed at once (each
	// argon2id run holds ~19 MiB). 0 = GOMAXPROCS.
	MaxConcurrentLogins int
	Now                 func() time.Time // nil = time.Now
	Logger              *slog.Logger     // nil = discard
}

// Provider is the built-in OIDC provider, an http.Handler. It is safe for
// concurrent use and owns no goroutines.
type Provider struct {
	cfg      Config
	issuer   string // without trailing slash
	prefix   string // path of issuer, "" for the root
	secure   bool   // issuer is https: cookies get Secure
	clients  map[string]Client
	alg      jose.SignatureAlgorithm
	signer   jose.Signer
	jwks     []byte
	metadata []byte
	forms    cipher.AEAD // seals the authorization request into the login form
	codes    *codeStore
	hashSem  chan struct{}
	// dummyHash is checked for unknown emails so they cost what a wrong
	// password costs.
	dummyHash string
	mux       *http.ServeMux
}

var _ http.Handler = (*Provider)(nil)

// New returns a Provider. With cfg.Disabled it returns one that only 404s.
func New(cfg Config) (*Provider, error) {
	if cfg.Disabled {
		return &Provider{cfg: cfg}, nil
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.MaxConcurrentLogins <= 0 {
		cfg.MaxConcurrentLogins = runtime.GOMAXPROCS(0)
	}
	if cfg.Users == nil {
		return nil, errors.New("idp: Config.Users is nil")
	}
	p := &Provider{
		cfg:     cfg,
		codes:   newCodeStore(),
		hashSem: make(chan struct{}, cfg.MaxConcurrentLogins),
	}
	if err := p.initIssuer(cfg.Issuer); err != nil {
		return nil, err
	}
	if err := p.initClients(cfg.Clients); err != nil {
		return nil, err
	}
	if err := p.initKey(cfg.Key, cfg.KeyPEM); err != nil {
		return nil, err
	}
	if err := p.initSecrets(); err != nil {
		return nil, err
	}
	p.initRoutes()
	return p, nil
}

func (p *Provider) initIssuer(issuer string) error {
	u, err := url.Parse(issuer)
	if err != nil {
		return fmt.Errorf("idp: issuer: %w", err)
	}
	if (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return fmt.Errorf("idp: issuer %q must be an absolute http(s) URL without query, fragment or user info", issuer)
	}
	p.issuer = strings.TrimSuffix(issuer, "/")
	p.prefix = strings.TrimSuffix(u.EscapedPath(), "/")
	p.secure = u.Scheme == "https"
	return nil
}

func (p *Provider) initClients(clients []Client) error {
	p.clients = make(map[string]Client, len(clients))
	for _, c := range clients {
		if c.ID == "" || c.Secret == "" || len(c.RedirectURIs) == 0 {
			return fmt.Errorf("idp: client %q needs an id, a secret and at least one redirect URI", c.ID)
		}
		for _, r := range c.RedirectURIs {
			if u, err := url.Parse(r); err != nil || !u.IsAbs() || u.Fragment != "" {
				return fmt.Errorf("idp: client %q: redirect URI %q must be absolute, without fragment", c.ID, r)
			}
		}
		if _, dup := p.clients[c.ID]; dup {
			return fmt.Errorf("idp: client %q configured twice", c.ID)
		}
		p.clients[c.ID] = c
	}
	return nil
}

func (p *Provider) initKey(key crypto.Signer, keyPEM []byte) error {
	if key == nil {
		if len(keyPEM) == 0 {
			return errors.New("idp: no signing key (Config.Key or Config.KeyPEM)")
		}
		var err error
		if key, err = ParseKey(keyPEM); err != nil {
			return fmt.Errorf("idp: signing key: %w", err)
		}
	}
	alg, err := algorithmFor(key.Public())
	if err != nil {
		return fmt.Errorf("idp: signing key: %w", err)
	}
	kid, err := keyID(key.Public())
	if err != nil {
		return fmt.Errorf("idp: %w", err)
	}
	p.alg = alg
	p.signer, err = jose.NewSigner(
		jose.SigningKey{Algorithm: alg, Key: jose.JSONWebKey{Key: cryptosigner.Opaque(key), KeyID: kid}},
		(&jose.SignerOptions{}).WithType("JWT"),
	)
	if err != nil {
		return fmt.Errorf("idp: signer: %w", err)
	}
	set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: key.Public(), KeyID: kid, Algorithm: string(alg), Use: "sig"}}}
	if p.jwks, err = json.Marshal(set); err != nil {
		return fmt.Errorf("idp: JWKS: %w", err)
	}
	p.metadata, err = json.Marshal(p.discovery())
	return err
}

func (p *Provider) initSecrets() error {
	key := make([]byte, 32)
	rand.Read(key)
	block, err := aes.NewCipher(key)
	if err != nil {
		return fmt.Errorf("idp: form key: %w", err)
	}
	if p.forms, err = cipher.NewGCM(block); err != nil {
		return fmt.Errorf("idp: form key: %w", err)
	}
	// A throwaway password's hash, with the same parameters as real ones.
	p.dummyHash, err = HashPassword(randomToken())
	return err
}

func (p *Provider) initRoutes() {
	p.mux = http.NewServeMux()
	p.mux.HandleFunc("GET "+p.prefix+"/.well-known/openid-configuration", p.serveDiscovery)
	p.mux.HandleFunc("GET "+p.prefix+"/jwks", p.serveJWKS)
	p.mux.HandleFunc("GET "+p.prefix+"/authorize", p.serveAuthorize)
	p.mux.HandleFunc("POST "+p.prefix+"/authorize", p.serveLogin)
	p.mux.HandleFunc("POST "+p.prefix+"/token", p.serveToken)
}

// Issuer returns the issuer URL tokens carry (Config.Issuer without a
// trailing slash). It is "" for a disabled provider.
func (p *Provider) Issuer() string { return p.issuer }

// ServeHTTP serves the provider's routes under the issuer's path.
func (p *Provider) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if p.cfg.Disabled {
		http.NotFound(w, r)
		return
	}
	p.mux.ServeHTTP(w, r)
}

type discoveryDoc struct {
	Issuer                string   `json:"issuer"`
	AuthorizationEndpoint string   `json:"authorization_endpoint"`
	TokenEndpoint         string   `json:"token_endpoint"`
	JWKSURI               string   `json:"jwks_uri"`
	ResponseTypes         []string `json:"response_types_supported"`
	ResponseModes         []string `json:"response_modes_supported"`
	GrantTypes            []string `json:"grant_types_supported"`
	SubjectTypes          []string `json:"subject_types_supported"`
	SigningAlgs           []string `json:"id_token_signing_alg_values_supported"`
	Scopes                []string `json:"scopes_supported"`
	TokenEndpointAuth     []string `json:"token_endpoint_auth_methods_supported"`
	Claims                []string `json:"claims_supported"`
	CodeChallengeMethods  []string `json:"code_challenge_methods_supported"`
	ISSParameter          bool     `json:"authorization_response_iss_parameter_supported"`
}

func (p *Provider) discovery() discoveryDoc {
	return discoveryDoc{
		Issuer:                p.issuer,
		AuthorizationEndpoint: p.issuer + "/authorize",
		TokenEndpoint:         p.issuer + "/token",
		JWKSURI:               p.issuer + "/jwks",
		ResponseTypes:         []string{"code"},
		ResponseModes:         []string{"query"},
		GrantTypes:            []string{"authorization_code"},
		SubjectTypes:          []string{"public"},
		SigningAlgs:           []string{string(p.alg)},
		Scopes:                []string{"openid", "email", "profile"},
		TokenEndpointAuth:     []string{"client_secret_basic", "client_secret_post"},
		Claims:                []string{"iss", "sub", "aud", "azp", "exp", "iat", "auth_time", "nonce", "email", "email_verified", "name"},
		CodeChallengeMethods:  []string{"S256"},
		ISSParameter:          true,
	}
}

func (p *Provider) serveDiscovery(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, p.metadata, "public, max-age=300")
}

func (p *Provider) serveJWKS(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, p.jwks, "public, max-age=300")
}

func writeJSON(w http.ResponseWriter, status int, body []byte, cacheControl string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", cacheControl)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	w.Write(body)
}
