package auth_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/warrenhq/warren/controlplane/auth"
)

// forger is a tiny OIDC provider whose token endpoint returns whatever ID
// token the test crafted, so each check of Finish can be hit on its own
// through the real HTTP, go-oidc and verification path.
type forger struct {
	srv *httptest.Server
	key *rsa.PrivateKey

	mu sync.Mutex
	// guarded by mu
	token func(nonce string) string
	nonce string
}

const (
	forgerKID    = "forger-1"
	forgerClient = "warren-engine"
)

var (
	keyOnce   sync.Once
	rsaKeys   [2]*rsa.PrivateKey
	rsaKeyErr error
)

// testRSAKeys returns two RSA keys, generated once per test binary.
func testRSAKeys(t *testing.T) (*rsa.PrivateKey, *rsa.PrivateKey) {
	keyOnce.Do(func() {
		for i := range rsaKeys {
			if rsaKeys[i], rsaKeyErr = rsa.GenerateKey(rand.Reader, 2048); rsaKeyErr != nil {
				return
			}
		}
	})
	if rsaKeyErr != nil {
		t.Fatalf("rsa.GenerateKey() = %v", rsaKeyErr)
	}
	return rsaKeys[0], rsaKeys[1]
}

func startForger(t *testing.T) *forger {
	key, _ := testRSAKeys(t)
	f := &forger{key: key}
	mux := http.NewServeMux()
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, _ *http.Request) {
		json.NewEncoder(w).Encode(map[string]any{
			"issuer":                 f.srv.URL,
			"authorization_endpoint": f.srv.URL + "/authorize",
			"token_endpoint":         f.srv.URL + "/token",
			"jwks_uri":               f.srv.URL + "/jwks",
			// Advertising none and HS256 must not make the RP accept them.
			"id_token_signing_alg_values_supported": []string{"RS256", "none", "HS256"},
		})
	})
	mux.HandleFunc("GET /jwks", func(w http.ResponseWriter, _ *http.Request) {
		json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{
			{Key: &key.PublicKey, KeyID: forgerKID, Algorithm: "RS256", Use: "sig"},
		}})
	})
	mux.HandleFunc("POST /token", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		mint, nonce := f.token, f.nonce
		f.mu.Unlock()
		if mint == nil {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			w.Write([]byte(`{"error":"invalid_grant"}`))
			return
		}
		resp := map[string]any{"access_token": "at", "token_type": "Bearer", "expires_in": 300}
		if tok := mint(nonce); tok != "" {
			resp["id_token"] = tok
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(resp)
	})
	return f
}

func (f *forger) idp(domains ...string) auth.IdPConfig {
	return auth.IdPConfig{OrgID: "org-f", Issuer: f.srv.URL, ClientID: forgerClient, ClientSecret: "x", Domains: domains}
}

func (f *forger) set(nonce string, mint func(nonce string) string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.token, f.nonce = mint, nonce
}

// claims are valid ID-token claims for the login with nonce, at now.
func (f *forger) claims(nonce string, now time.Time) map[string]any {
	return map[string]any{
		"iss":            f.srv.URL,
		"sub":            "alice-sub",
		"aud":            forgerClient,
		"exp":            now.Add(5 * time.Minute).Unix(),
		"iat":            now.Unix(),
		"nonce":          nonce,
		"email":          "alice@forge.test",
		"email_verified": true,
		"name":           "Alice",
	}
}

func signJWT(t *testing.T, alg jose.SignatureAlgorithm, key any, kid string, claims map[string]any) string {
	t.Helper()
	opts := (&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", kid)
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, opts)
	if err != nil {
		t.Fatalf("jose.NewSigner(%s) = %v", alg, err)
	}
	payload, _ := json.Marshal(claims)
	jws, err := s.Sign(payload)
	if err != nil {
		t.Fatalf("signing: %v", err)
	}
	out, err := jws.CompactSerialize()
	if err != nil {
		t.Fatalf("serializing: %v", err)
	}
	return out
}

// unsignedJWT builds an alg=none token by hand (go-jose refuses to).
func unsignedJWT(claims map[string]any) string {
	enc := base64.RawURLEncoding
	h, _ := json.Marshal(map[string]string{"alg": "none", "typ": "JWT", "kid": forgerKID})
	p, _ := json.Marshal(claims)
	return enc.EncodeToString(h) + "." + enc.EncodeToString(p) + "."
}

func publicKeyPEM(t *testing.T, k *rsa.PrivateKey) []byte {
	der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		t.Fatalf("MarshalPKIXPublicKey() = %v", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// TestFinishRejects is the OIDC negative suite: each crafted token or
// callback is refused with its own reason, and the untouched token passes.
func TestFinishRejects(t *testing.T) {
	goodKey, otherKey := testRSAKeys(t)
	rs256 := func(t *testing.T, c map[string]any) string { return signJWT(t, jose.RS256, goodKey, forgerKID, c) }
	with := func(k string, v any) func(map[string]any) { return func(c map[string]any) { c[k] = v } }
	without := func(k string) func(map[string]any) { return func(c map[string]any) { delete(c, k) } }
	type tc struct {
		name   string
		mutate func(map[string]any)                    // applied to valid claims
		sign   func(*testing.T, map[string]any) string // nil = RS256 with the provider's key
		want   auth.Reason                             // "" = accepted
	}
	now := newClock().Now()
	cases := []tc{
		{name: "valid", want: ""},
		{name: "wrong aud", mutate: with("aud", "someone-else"), want: auth.ReasonWrongAudience},
		{name: "azp mismatch", mutate: with("azp", "someone-else"), want: auth.ReasonAZPMismatch},
		{name: "several aud without azp", mutate: with("aud", []string{forgerClient, "other"}), want: auth.ReasonAZPMismatch},
		{name: "several aud with our azp", mutate: func(c map[string]any) { c["aud"] = []string{forgerClient, "other"}; c["azp"] = forgerClient }, want: ""},
		{name: "wrong iss", mutate: with("iss", "https://evil.test"), want: auth.ReasonWrongIssuer},
		{name: "expired", mutate: with("exp", now.Add(-time.Second).Unix()), want: auth.ReasonExpired},
		{name: "no exp", mutate: without("exp"), want: auth.ReasonExpired},
		{name: "nbf inside leeway", mutate: with("nbf", now.Add(30*time.Second).Unix()), want: ""},
		{name: "nbf beyond leeway", mutate: with("nbf", now.Add(2*time.Minute).Unix()), want: auth.ReasonNotYetValid},
		{name: "nbf far beyond leeway", mutate: with("nbf", now.Add(time.Hour).Unix()), want: auth.ReasonNotYetValid},
		{name: "iat in the future", mutate: with("iat", now.Add(10*time.Minute).Unix()), want: auth.ReasonNotYetValid},
		{name: "alg none", sign: func(_ *testing.T, c map[string]any) string { return unsignedJWT(c) }, want: auth.ReasonUnsupportedAlg},
		{name: "HS256 keyed with the public key", sign: func(t *testing.T, c map[string]any) string {
			return signJWT(t, jose.HS256, publicKeyPEM(t, goodKey), forgerKID, c)
		}, want: auth.ReasonUnsupportedAlg},
		{name: "signed by another key", sign: func(t *testing.T, c map[string]any) string {
			return signJWT(t, jose.RS256, otherKey, forgerKID, c)
		}, want: auth.ReasonBadSignature},
		{name: "payload altered after signing", sign: func(t *testing.T, c map[string]any) string {
			parts := strings.Split(rs256(t, c), ".")
			c["sub"] = "admin"
			p, _ := json.Marshal(c)
			return parts[0] + "." + base64.RawURLEncoding.EncodeToString(p) + "." + parts[2]
		}, want: auth.ReasonBadSignature},
		{name: "garbage", sign: func(*testing.T, map[string]any) string { return "not.a.jwt" }, want: auth.ReasonMalformedToken},
		{name: "JWE shaped", sign: func(*testing.T, map[string]any) string { return "a.b.c.d.e" }, want: auth.ReasonMalformedToken},
		{name: "no id_token", sign: func(*testing.T, map[string]any) string { return "" }, want: auth.ReasonMissingIDToken},
		{name: "nonce mismatch", mutate: with("nonce", "stale-nonce-from-another-login"), want: auth.ReasonNonceMismatch},
		{name: "nonce missing", mutate: without("nonce"), want: auth.ReasonNonceMismatch},
		{name: "no sub", mutate: without("sub"), want: auth.ReasonMalformedToken},
		{name: "email_verified false", mutate: with("email_verified", false), want: auth.ReasonEmailNotVerified},
		{name: "email_verified missing", mutate: without("email_verified"), want: auth.ReasonEmailNotVerified},
		{name: "email_verified string false", mutate: with("email_verified", "false"), want: auth.ReasonEmailNotVerified},
		{name: "email_verified string true", mutate: with("email_verified", "true"), want: ""},
		{name: "email missing", mutate: without("email"), want: auth.ReasonInvalidEmail},
		{name: "email case folds", mutate: with("email", "Alice@FORGE.Test"), want: ""},
		{name: "email lookalike prefix", mutate: with("email", "alice@evil-forge.test"), want: auth.ReasonDomainNotAllowed},
		{name: "email lookalike suffix", mutate: with("email", "alice@forge.test.attacker.net"), want: auth.ReasonDomainNotAllowed},
		{name: "email subdomain", mutate: with("email", "alice@sub.forge.test"), want: auth.ReasonDomainNotAllowed},
		{name: "email trailing dot", mutate: with("email", "alice@forge.test."), want: auth.ReasonInvalidEmail},
		{name: "groups claim malformed", mutate: with("groups", map[string]any{"x": 1}), want: auth.ReasonMalformedToken},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			f := startForger(t)
			clk := &clock{t: now}
			cfg := f.idp("forge.test")
			cfg.GroupClaim = "groups"
			rp := auth.New(auth.Config{IdPs: idpTable{}.add(cfg), Now: clk.Now})
			authURL, err := rp.Begin(context.Background(), "alice@forge.test", callbackURL)
			if err != nil {
				t.Fatalf("Begin() = %v", err)
			}
			nonce := queryParam(t, authURL, "nonce")
			sign := c.sign
			if sign == nil {
				sign = rs256
			}
			f.set(nonce, func(nonce string) string {
				claims := f.claims(nonce, now)
				if c.mutate != nil {
					c.mutate(claims)
				}
				return sign(t, claims)
			})
			id, err := rp.Finish(context.Background(), stateOf(t, authURL), "any-code")
			if c.want == "" {
				if err != nil {
					t.Fatalf("Finish() = %v, want success", err)
				}
				if id.Subject != "alice-sub" || id.Email != "alice@forge.test" || id.OrgID != "org-f" {
					t.Errorf("Finish() = %+v, want alice-sub of org-f", id)
				}
				return
			}
			if err == nil {
				t.Fatalf("Finish() = %+v, nil; want reason %q", id, c.want)
			}
			t.Logf("refused: %v", err)
			wantReason(t, err, c.want)
		})
	}
}

func queryParam(t *testing.T, rawURL, key string) string {
	t.Helper()
	i := strings.IndexByte(rawURL, '?')
	if i < 0 {
		t.Fatalf("no query in %q", rawURL)
	}
	q, err := url.ParseQuery(rawURL[i+1:])
	if err != nil {
		t.Fatalf("query of %q: %v", rawURL, err)
	}
	return q.Get(key)
}

// TestFinishStateAndExchange covers the callback checks that come before
// any token: unknown, stale and reused state, and a refused code.
func TestFinishStateAndExchange(t *testing.T) {
	f := startForger(t)
	clk := newClock()
	rp := auth.New(auth.Config{IdPs: idpTable{}.add(f.idp("forge.test")), Now: clk.Now})
	ctx := context.Background()
	begin := func() string {
		authURL, err := rp.Begin(ctx, "alice@forge.test", callbackURL)
		if err != nil {
			t.Fatalf("Begin() = %v", err)
		}
		return authURL
	}
	goodKey, _ := testRSAKeys(t)
	validToken := func(nonce string) string {
		return signJWT(t, jose.RS256, goodKey, forgerKID, f.claims(nonce, clk.Now()))
	}

	t.Run("unknown state", func(t *testing.T) {
		_, err := rp.Finish(ctx, "never-issued", "code")
		wantReason(t, err, auth.ReasonUnknownState)
	})
	t.Run("stale state", func(t *testing.T) {
		authURL := begin()
		f.set(queryParam(t, authURL, "nonce"), validToken)
		clk.Advance(auth.DefaultStateTTL + time.Second)
		_, err := rp.Finish(ctx, stateOf(t, authURL), "code")
		wantReason(t, err, auth.ReasonUnknownState)
	})
	t.Run("reused state", func(t *testing.T) {
		authURL := begin()
		f.set(queryParam(t, authURL, "nonce"), validToken)
		if _, err := rp.Finish(ctx, stateOf(t, authURL), "code"); err != nil {
			t.Fatalf("first Finish() = %v", err)
		}
		_, err := rp.Finish(ctx, stateOf(t, authURL), "code")
		wantReason(t, err, auth.ReasonUnknownState)
	})
	t.Run("nonce of another login", func(t *testing.T) {
		first, second := begin(), begin()
		f.set(queryParam(t, first, "nonce"), validToken)
		_, err := rp.Finish(ctx, stateOf(t, second), "code")
		wantReason(t, err, auth.ReasonNonceMismatch)
	})
	t.Run("code refused", func(t *testing.T) {
		authURL := begin()
		f.set("", nil)
		_, err := rp.Finish(ctx, stateOf(t, authURL), "code")
		wantReason(t, err, auth.ReasonCodeExchangeFailed)
	})
	t.Run("state burnt by a failed attempt", func(t *testing.T) {
		authURL := begin()
		f.set("", nil)
		rp.Finish(ctx, stateOf(t, authURL), "bad-code")
		f.set(queryParam(t, authURL, "nonce"), validToken)
		_, err := rp.Finish(ctx, stateOf(t, authURL), "good-code")
		wantReason(t, err, auth.ReasonUnknownState)
	})
}

// TestBeginLookalikeDomains: discovery is by exact domain. Lookalikes never
// reach example.com's IdP, even through a finder that matches too loosely.
func TestBeginLookalikeDomains(t *testing.T) {
	f := startForger(t)
	cfg := f.idp("example.com")
	exact := idpTable{}.add(cfg)
	cases := []struct {
		email string
		want  auth.Reason
	}{
		{"bob@example.com", ""},
		{"BOB@EXAMPLE.COM", ""},
		{"bob@Example.Com", ""},
		{"bob@evil-example.com", auth.ReasonNoIdPForDomain},
		{"bob@example.com.attacker.net", auth.ReasonNoIdPForDomain},
		{"bob@sub.example.com", auth.ReasonNoIdPForDomain},
		{"bob@example.co", auth.ReasonNoIdPForDomain},
		{"bob@EXAMPLE.com.", auth.ReasonInvalidEmail},
		{"bob@example.com.", auth.ReasonInvalidEmail},
		{"bob@.example.com", auth.ReasonInvalidEmail},
		{"bob@example..com", auth.ReasonInvalidEmail},
		{"bob@example.com@attacker.net", auth.ReasonInvalidEmail},
		{"attacker.net@example.com@", auth.ReasonInvalidEmail},
		{"@example.com", auth.ReasonInvalidEmail},
		{"example.com", auth.ReasonInvalidEmail},
		{"bob@ｅｘａｍｐｌｅ.com", auth.ReasonInvalidEmail},       // fullwidth folds to ASCII under UTS #46
		{"bob@exam\u200bple.com", auth.ReasonInvalidEmail}, // zero-width space
		{"bob@exаmple.com", auth.ReasonNoIdPForDomain},     // Cyrillic а: a different (punycode) domain
		{"bob @example.com", auth.ReasonInvalidEmail},
		{"bob@example.com\n", auth.ReasonInvalidEmail},
	}
	for _, loose := range []bool{false, true} {
		var finder auth.IdPFinder = exact
		if loose {
			finder = anyDomain(cfg) // a buggy store adapter: the RP re-checks
		}
		rp := auth.New(auth.Config{IdPs: finder})
		for _, c := range cases {
			_, err := rp.Begin(context.Background(), c.email, callbackURL)
			if got := auth.ReasonOf(err); got != c.want || (c.want == "" && err != nil) {
				t.Errorf("loose=%v: Begin(%q) = %v (reason %q), want reason %q", loose, c.email, err, got, c.want)
			}
		}
	}
}

// anyDomain is a finder that wrongly returns its IdP for every domain.
type anyDomain auth.IdPConfig

func (a anyDomain) FindIdPByDomain(context.Context, string) (auth.IdPConfig, error) {
	return auth.IdPConfig(a), nil
}
