package idp_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/go-jose/go-jose/v4"

	"github.com/warrenhq/warren/controlplane/auth/idp"
)

func TestDiscoveryAndJWKS(t *testing.T) {
	e := start(t, nil)
	resp, body := get(t, http.DefaultClient, e.p.Issuer()+"/.well-known/openid-configuration")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET discovery = %d: %s", resp.StatusCode, body)
	}
	var doc map[string]any
	if err := json.Unmarshal([]byte(body), &doc); err != nil {
		t.Fatalf("discovery JSON: %v", err)
	}
	for k, want := range map[string]any{
		"issuer":                 e.p.Issuer(),
		"authorization_endpoint": e.p.Issuer() + "/authorize",
		"token_endpoint":         e.p.Issuer() + "/token",
		"jwks_uri":               e.p.Issuer() + "/jwks",
	} {
		if doc[k] != want {
			t.Errorf("discovery %s = %v, want %v", k, doc[k], want)
		}
	}
	if got := doc["id_token_signing_alg_values_supported"]; !sameJSON(got, []string{"ES256"}) {
		t.Errorf("discovery algs = %v, want [ES256]", got)
	}
	if got := doc["code_challenge_methods_supported"]; !sameJSON(got, []string{"S256"}) {
		t.Errorf("discovery PKCE methods = %v, want [S256]", got)
	}

	resp, body = get(t, http.DefaultClient, doc["jwks_uri"].(string))
	var set jose.JSONWebKeySet
	if err := json.Unmarshal([]byte(body), &set); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET jwks = %d %q: %v", resp.StatusCode, body, err)
	}
	if len(set.Keys) != 1 || !set.Keys[0].IsPublic() || set.Keys[0].KeyID == "" || set.Keys[0].Algorithm != "ES256" {
		t.Fatalf("JWKS = %+v, want one public ES256 key with a kid", set.Keys)
	}
	if strings.Contains(body, `"d"`) {
		t.Errorf("JWKS leaks private key material: %s", body)
	}
}

var emailField = regexp.MustCompile(`name="email" value="[^"]*"`)

func sameJSON(got any, want []string) bool {
	a, _ := json.Marshal(got)
	b, _ := json.Marshal(want)
	return string(a) == string(b)
}

// TestKeyTypes logs in with each supported key type and verifies the ID
// token with go-oidc against the served discovery and JWKS.
func TestKeyTypes(t *testing.T) {
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	rk, _ := rsa.GenerateKey(rand.Reader, 2048)
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	for _, k := range []struct {
		name string
		key  crypto.Signer
		alg  string
	}{{"ES256", ec, oidc.ES256}, {"RS256", rk, oidc.RS256}, {"EdDSA", ed, oidc.EdDSA}} {
		t.Run(k.name, func(t *testing.T) {
			e := start(t, k.key)
			pk := newPKCE()
			code := e.code(t, pk)
			status, out := e.exchange(t, tokenForm(code, pk))
			if status != http.StatusOK {
				t.Fatalf("token = %d %v, want 200", status, out)
			}
			raw, _ := out["id_token"].(string)
			p, err := oidc.NewProvider(context.Background(), e.p.Issuer())
			if err != nil {
				t.Fatalf("oidc.NewProvider() = %v", err)
			}
			v := p.Verifier(&oidc.Config{ClientID: clientID, SupportedSigningAlgs: []string{k.alg}, Now: e.clk.Now})
			tok, err := v.Verify(context.Background(), raw)
			if err != nil {
				t.Fatalf("Verify() = %v", err)
			}
			var c struct {
				AZP           string `json:"azp"`
				Email         string `json:"email"`
				EmailVerified bool   `json:"email_verified"`
				Name          string `json:"name"`
				AuthTime      int64  `json:"auth_time"`
			}
			if err := tok.Claims(&c); err != nil {
				t.Fatalf("Claims() = %v", err)
			}
			now := e.clk.Now()
			if tok.Subject != "u-alice" || tok.Nonce != "n-456" || c.AZP != clientID || c.Email != "alice@example.com" ||
				!c.EmailVerified || c.Name != "Alice" || !tok.IssuedAt.Equal(now) || !tok.Expiry.Equal(now.Add(idp.IDTokenTTL)) || c.AuthTime != now.Unix() {
				t.Errorf("ID token = %+v %+v, want alice's claims, nonce n-456, iat now, exp now+%v", tok, c, idp.IDTokenTTL)
			}
		})
	}
}

func TestNewRejectsWeakKeys(t *testing.T) {
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	rsa1024, _ := rsa.GenerateKey(rand.Reader, 1024)
	der, _ := x509.MarshalPKCS8PrivateKey(p384)
	for name, cfg := range map[string]idp.Config{
		"P-384":          {Key: p384},
		"P-384 PEM":      {KeyPEM: pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})},
		"RSA 1024":       {Key: rsa1024},
		"no key":         {},
		"garbage PEM":    {KeyPEM: []byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")},
		"public key PEM": {KeyPEM: pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: []byte{1}})},
	} {
		cfg.Issuer = "https://warren.test/idp"
		cfg.Users = localUsers{}
		if _, err := idp.New(cfg); err == nil {
			t.Errorf("idp.New(%s) = nil error, want refusal", name)
		}
	}
}

func TestDisabled(t *testing.T) {
	// Disabled needs nothing else: no key, no users, no issuer.
	p, err := idp.New(idp.Config{Disabled: true})
	if err != nil {
		t.Fatalf("idp.New(Disabled) = %v", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/idp/", p)
	srv := newServer(t, mux)
	for _, r := range []struct{ method, path string }{
		{"GET", "/idp/.well-known/openid-configuration"},
		{"GET", "/idp/jwks"},
		{"GET", "/idp/authorize?client_id=x"},
		{"POST", "/idp/authorize"},
		{"POST", "/idp/token"},
		{"GET", "/idp/anything"},
	} {
		req, _ := http.NewRequest(r.method, srv+r.path, nil)
		resp, _ := do(t, http.DefaultClient, req)
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("%s %s = %d, want 404", r.method, r.path, resp.StatusCode)
		}
	}
}

// TestAuthorizeRefusals: bad client or redirect URI get an error page and
// never a redirect; other bad requests go back to the client with an error.
func TestAuthorizeRefusals(t *testing.T) {
	e := start(t, nil)
	pk := newPKCE()
	page := []struct {
		name string
		set  map[string][]string
	}{
		{"unknown client", map[string][]string{"client_id": {"nobody"}}},
		{"no client", map[string][]string{"client_id": {""}}},
		{"redirect of another client", map[string][]string{"redirect_uri": {"https://other.test/cb"}}},
		{"redirect with extra path", map[string][]string{"redirect_uri": {redirectURI + "/x"}}},
		{"redirect with query", map[string][]string{"redirect_uri": {redirectURI + "?next=https://evil.test"}}},
		{"redirect with trailing slash", map[string][]string{"redirect_uri": {redirectURI + "/"}}},
		{"redirect over http", map[string][]string{"redirect_uri": {strings.Replace(redirectURI, "https", "http", 1)}}},
		{"redirect other case", map[string][]string{"redirect_uri": {strings.ToUpper(redirectURI)}}},
		{"repeated redirect", map[string][]string{"redirect_uri": {redirectURI, "https://evil.test/cb"}}},
	}
	for _, c := range page {
		params := authParams(pk)
		for k, v := range c.set {
			params[k] = v
		}
		resp, body := get(t, newClient(), e.p.Issuer()+"/authorize?"+params.Encode())
		if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" || strings.Contains(body, `name="request"`) {
			t.Errorf("%s: GET authorize = %d Location %q, want 400 error page without redirect or form", c.name, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
	back := []struct {
		name, key, value, wantErr string
	}{
		{"no PKCE", "code_challenge", "", "invalid_request"},
		{"plain PKCE", "code_challenge_method", "plain", "invalid_request"},
		{"short challenge", "code_challenge", "abc", "invalid_request"},
		{"implicit flow", "response_type", "id_token", "unsupported_response_type"},
		{"no openid scope", "scope", "email profile", "invalid_scope"},
		{"prompt none", "prompt", "none", "login_required"},
		{"request object", "request", "eyJ...", "request_not_supported"},
		{"huge state", "state", strings.Repeat("s", 600), "invalid_request"},
	}
	for _, c := range back {
		params := authParams(pk)
		params.Set(c.key, c.value)
		resp, body := get(t, newClient(), e.p.Issuer()+"/authorize?"+params.Encode())
		loc, err := resp.Location()
		if resp.StatusCode != http.StatusSeeOther || err != nil {
			t.Errorf("%s: GET authorize = %d %s, want 303 to the client", c.name, resp.StatusCode, body)
			continue
		}
		if got := loc.Query().Get("error"); got != c.wantErr || !strings.HasPrefix(loc.String(), redirectURI+"?") {
			t.Errorf("%s: redirected to %s, want %s with error=%s", c.name, loc, redirectURI, c.wantErr)
		}
	}
}

// TestLoginForm: failures look the same whatever the cause, and the form
// only works in the browser it was shown to, unaltered and in time.
func TestLoginForm(t *testing.T) {
	e := start(t, nil)
	pk := newPKCE()

	t.Run("bad credentials look alike", func(t *testing.T) {
		var bodies []string
		for _, cred := range [][2]string{
			{"alice@example.com", "wrong"},
			{"nobody@example.com", "wrong"},
			{"bob@example.com", password}, // disabled
			{"", ""},
		} {
			c := newClient()
			resp, body := e.submit(t, c, e.openForm(t, c, authParams(pk)), cred[0], cred[1])
			if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "Invalid email or password.") {
				t.Errorf("login(%q) = %d, want 401 with the generic message", cred[0], resp.StatusCode)
			}
			body = requestField.ReplaceAllString(body, "")
			bodies = append(bodies, emailField.ReplaceAllString(body, ""))
		}
		for i := 1; i < len(bodies); i++ {
			if bodies[i] != bodies[0] {
				t.Errorf("failure page %d differs from page 0:\n%s\n---\n%s", i, bodies[i], bodies[0])
			}
		}
	})
	t.Run("email is case-insensitive", func(t *testing.T) {
		c := newClient()
		resp, _ := e.submit(t, c, e.openForm(t, c, authParams(pk)), " Alice@Example.COM ", password)
		if resp.StatusCode != http.StatusSeeOther {
			t.Errorf("login = %d, want 303", resp.StatusCode)
		}
	})
	t.Run("form posted from another browser", func(t *testing.T) {
		sealed := e.openForm(t, newClient(), authParams(pk))
		resp, _ := e.submit(t, newClient(), sealed, "alice@example.com", password)
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("cross-browser login = %d, want 403", resp.StatusCode)
		}
	})
	t.Run("tampered request", func(t *testing.T) {
		c := newClient()
		sealed := []byte(e.openForm(t, c, authParams(pk)))
		sealed[len(sealed)/2] ^= 1
		resp, _ := e.submit(t, c, string(sealed), "alice@example.com", password)
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("tampered login = %d, want 400", resp.StatusCode)
		}
	})
	t.Run("request sealed by another provider", func(t *testing.T) {
		other := start(t, nil)
		c := newClient()
		sealed := other.openForm(t, c, authParams(pk))
		resp, _ := e.submit(t, c, sealed, "alice@example.com", password)
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("foreign form login = %d, want 400", resp.StatusCode)
		}
	})
	t.Run("expired form", func(t *testing.T) {
		c := newClient()
		sealed := e.openForm(t, c, authParams(pk))
		e.clk.Advance(idp.FormTTL + time.Second)
		resp, _ := e.submit(t, c, sealed, "alice@example.com", password)
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("expired login = %d, want 400", resp.StatusCode)
		}
	})
	t.Run("escaping", func(t *testing.T) {
		params := authParams(pk)
		params.Set("login_hint", `"><script>alert(1)</script>`)
		resp, body := get(t, newClient(), e.p.Issuer()+"/authorize?"+params.Encode())
		if resp.StatusCode != http.StatusOK || strings.Contains(body, "<script>") {
			t.Errorf("login page = %d, contains unescaped login_hint:\n%s", resp.StatusCode, body)
		}
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
			t.Errorf("Content-Security-Policy = %q, want default-src 'none'", csp)
		}
	})
}

func TestTokenEndpoint(t *testing.T) {
	e := start(t, nil)

	t.Run("code is single use", func(t *testing.T) {
		pk := newPKCE()
		code := e.code(t, pk)
		if status, out := e.exchange(t, tokenForm(code, pk)); status != http.StatusOK || out["id_token"] == nil {
			t.Fatalf("first exchange = %d %v, want 200 with id_token", status, out)
		}
		status, out := e.exchange(t, tokenForm(code, pk))
		if status != http.StatusBadRequest || out["error"] != "invalid_grant" {
			t.Errorf("replayed exchange = %d %v, want 400 invalid_grant", status, out)
		}
	})
	t.Run("50 racers, one winner", func(t *testing.T) {
		pk := newPKCE()
		code := e.code(t, pk)
		var wg sync.WaitGroup
		var mu sync.Mutex
		statuses := map[int]int{}
		for range 50 {
			wg.Go(func() {
				resp, err := http.PostForm(e.p.Issuer()+"/token", tokenForm(code, pk))
				if err != nil {
					t.Errorf("POST token: %v", err)
					return
				}
				resp.Body.Close()
				mu.Lock()
				statuses[resp.StatusCode]++
				mu.Unlock()
			})
		}
		wg.Wait()
		if statuses[http.StatusOK] != 1 || statuses[http.StatusBadRequest] != 49 {
			t.Errorf("statuses = %v, want exactly one 200 and 49 400", statuses)
		}
	})
	t.Run("client_secret_basic", func(t *testing.T) {
		pk := newPKCE()
		form := tokenForm(e.code(t, pk), pk)
		form.Del("client_id")
		form.Del("client_secret")
		req, _ := http.NewRequest(http.MethodPost, e.p.Issuer()+"/token", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(url.QueryEscape(clientID), url.QueryEscape(clientSecret))
		if resp, body := do(t, http.DefaultClient, req); resp.StatusCode != http.StatusOK {
			t.Errorf("basic-auth exchange = %d %s, want 200", resp.StatusCode, body)
		}
	})

	bad := []struct {
		name       string
		edit       func(url.Values)
		wantStatus int
		wantErr    string
	}{
		{"wrong secret", func(f url.Values) { f.Set("client_secret", clientSecret+"x") }, 401, "invalid_client"},
		{"secret prefix", func(f url.Values) { f.Set("client_secret", clientSecret[:5]) }, 401, "invalid_client"},
		{"no secret", func(f url.Values) { f.Del("client_secret") }, 401, "invalid_client"},
		{"unknown client", func(f url.Values) { f.Set("client_id", "nobody") }, 401, "invalid_client"},
		{"another client's credentials", func(f url.Values) {
			f.Set("client_id", "other-client")
			f.Set("client_secret", "other-secret")
		}, 400, "invalid_grant"},
		{"wrong redirect_uri", func(f url.Values) { f.Set("redirect_uri", "https://other.test/cb") }, 400, "invalid_grant"},
		{"no redirect_uri", func(f url.Values) { f.Del("redirect_uri") }, 400, "invalid_grant"},
		{"wrong verifier", func(f url.Values) { f.Set("code_verifier", newPKCE().verifier) }, 400, "invalid_grant"},
		{"challenge as verifier", func(f url.Values) { f.Set("code_verifier", f.Get("challenge")) }, 400, "invalid_grant"},
		{"no verifier", func(f url.Values) { f.Del("code_verifier") }, 400, "invalid_grant"},
		{"unknown code", func(f url.Values) { f.Set("code", "forged") }, 400, "invalid_grant"},
		{"other grant", func(f url.Values) { f.Set("grant_type", "password") }, 400, "unsupported_grant_type"},
	}
	for _, c := range bad {
		t.Run(c.name, func(t *testing.T) {
			pk := newPKCE()
			form := tokenForm(e.code(t, pk), pk)
			form.Set("challenge", pk.challenge)
			c.edit(form)
			form.Del("challenge")
			status, out := e.exchange(t, form)
			if status != c.wantStatus || out["error"] != c.wantErr || out["id_token"] != nil {
				t.Errorf("exchange = %d %v, want %d %s", status, out, c.wantStatus, c.wantErr)
			}
		})
	}

	t.Run("failed redemption burns the code", func(t *testing.T) {
		pk := newPKCE()
		form := tokenForm(e.code(t, pk), pk)
		form.Set("code_verifier", newPKCE().verifier)
		e.exchange(t, form)
		status, out := e.exchange(t, tokenForm(form.Get("code"), pk))
		if status != http.StatusBadRequest || out["error"] != "invalid_grant" {
			t.Errorf("exchange after a failed attempt = %d %v, want invalid_grant", status, out)
		}
	})
	t.Run("expired code", func(t *testing.T) {
		pk := newPKCE()
		code := e.code(t, pk)
		e.clk.Advance(idp.CodeTTL)
		status, out := e.exchange(t, tokenForm(code, pk))
		if status != http.StatusBadRequest || out["error"] != "invalid_grant" {
			t.Errorf("exchange after %v = %d %v, want invalid_grant", idp.CodeTTL, status, out)
		}
	})
}
