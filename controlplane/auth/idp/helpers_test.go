package idp_test

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/warrenhq/warren/controlplane/auth/idp"
)

// localUsers stands in for controlplane/store (a colleague's package, not
// under test here): a map-backed idp.LocalUsers keyed by lowercase email.
type localUsers map[string]idp.LocalUser

func (u localUsers) LocalUserByEmail(_ context.Context, email string) (idp.LocalUser, error) {
	lu, ok := u[email]
	if !ok {
		return idp.LocalUser{}, idp.ErrNoUser
	}
	return lu, nil
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

const (
	redirectURI = "https://engine.test/auth/callback"
	clientID    = "warren-engine"
	// A secret with characters that client_secret_basic must URL-encode.
	clientSecret = "s3cret:with/odd&chars=+"
	password     = "correct horse battery staple"
)

type env struct {
	srv *httptest.Server
	p   *idp.Provider
	clk *clock
}

// start serves a built-in IdP under /idp with two clients and two users
// (alice, and bob who is disabled).
func start(t testing.TB, key crypto.Signer) *env {
	t.Helper()
	hash, err := idp.HashPassword(password)
	if err != nil {
		t.Fatalf("HashPassword() = %v", err)
	}
	users := localUsers{
		"alice@example.com": {ID: "u-alice", Email: "alice@example.com", Name: "Alice", PasswordHash: hash},
		"bob@example.com":   {ID: "u-bob", Email: "bob@example.com", Name: "Bob", PasswordHash: hash, Disabled: true},
	}
	cfg := idp.Config{
		Clients: []idp.Client{
			{ID: clientID, Secret: clientSecret, RedirectURIs: []string{redirectURI}},
			{ID: "other-client", Secret: "other-secret", RedirectURIs: []string{"https://other.test/cb"}},
		},
		Users: users,
	}
	if key != nil {
		cfg.Key = key
	} else {
		pemKey, err := idp.GenerateKey()
		if err != nil {
			t.Fatalf("GenerateKey() = %v", err)
		}
		cfg.KeyPEM = pemKey
	}
	e := &env{clk: &clock{t: time.Now().Truncate(time.Second)}}
	cfg.Now = e.clk.Now
	mux := http.NewServeMux()
	e.srv = httptest.NewServer(mux)
	t.Cleanup(e.srv.Close)
	cfg.Issuer = e.srv.URL + "/idp"
	if e.p, err = idp.New(cfg); err != nil {
		t.Fatalf("idp.New() = %v", err)
	}
	mux.Handle("/idp/", e.p)
	return e
}

type pkce struct{ verifier, challenge string }

func newPKCE() pkce {
	v := rand.Text() + rand.Text()
	sum := sha256.Sum256([]byte(v))
	return pkce{verifier: v, challenge: base64.RawURLEncoding.EncodeToString(sum[:])}
}

// authParams is a valid authorization request for clientID.
func authParams(pk pkce) url.Values {
	return url.Values{
		"response_type":         {"code"},
		"client_id":             {clientID},
		"redirect_uri":          {redirectURI},
		"scope":                 {"openid email profile"},
		"state":                 {"st-123"},
		"nonce":                 {"n-456"},
		"code_challenge":        {pk.challenge},
		"code_challenge_method": {"S256"},
	}
}

func newClient() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func do(t testing.TB, c *http.Client, req *http.Request) (*http.Response, string) {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func get(t testing.TB, c *http.Client, u string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	return do(t, c, req)
}

func postForm(t testing.TB, c *http.Client, u string, form url.Values) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return do(t, c, req)
}

var requestField = regexp.MustCompile(`name="request" value="([^"]+)"`)

// openForm GETs the authorize endpoint and returns the sealed request field.
func (e *env) openForm(t testing.TB, c *http.Client, params url.Values) string {
	t.Helper()
	resp, body := get(t, c, e.p.Issuer()+"/authorize?"+params.Encode())
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET authorize = %d, want 200: %s", resp.StatusCode, body)
	}
	m := requestField.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no request field in login page:\n%s", body)
	}
	return html.UnescapeString(m[1])
}

func (e *env) submit(t *testing.T, c *http.Client, sealed, email, pw string) (*http.Response, string) {
	t.Helper()
	return postForm(t, c, e.p.Issuer()+"/authorize", url.Values{"request": {sealed}, "email": {email}, "password": {pw}})
}

// code runs the browser side of a login for alice and returns the code.
func (e *env) code(t *testing.T, pk pkce) string {
	t.Helper()
	c := newClient()
	resp, body := e.submit(t, c, e.openForm(t, c, authParams(pk)), "alice@example.com", password)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("POST login = %d, want 303: %s", resp.StatusCode, body)
	}
	loc, _ := resp.Location()
	q := loc.Query()
	if got := loc.Scheme + "://" + loc.Host + loc.Path; got != redirectURI {
		t.Fatalf("redirected to %s, want %s", got, redirectURI)
	}
	if q.Get("state") != "st-123" || q.Get("iss") != e.p.Issuer() || q.Get("code") == "" {
		t.Fatalf("callback query = %v, want state, iss and code", q)
	}
	return q.Get("code")
}

// exchange posts to the token endpoint with client_secret_post.
func (e *env) exchange(t *testing.T, form url.Values) (int, map[string]any) {
	t.Helper()
	resp, body := postForm(t, http.DefaultClient, e.p.Issuer()+"/token", form)
	var out map[string]any
	if err := json.Unmarshal([]byte(body), &out); err != nil {
		t.Fatalf("token response %d %q: %v", resp.StatusCode, body, err)
	}
	return resp.StatusCode, out
}

func tokenForm(code string, pk pkce) url.Values {
	return url.Values{
		"grant_type":    {"authorization_code"},
		"code":          {code},
		"redirect_uri":  {redirectURI},
		"code_verifier": {pk.verifier},
		"client_id":     {clientID},
		"client_secret": {clientSecret},
	}
}

func newServer(t *testing.T, h http.Handler) string {
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}
