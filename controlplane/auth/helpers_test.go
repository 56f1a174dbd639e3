package auth_test

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/warrenhq/warren/controlplane/auth"
	"github.com/warrenhq/warren/controlplane/auth/idp"
)

// The two map-backed types below stand in for controlplane/store, a
// colleague's package that is not under test here: they implement the small
// consumer interfaces this package declares, with the exact-match semantics
// the store must have. Everything else in these tests is real: HTTP over
// httptest, go-oidc, the built-in IdP and mockoidc.

// idpTable is an IdPFinder doing exact lookups by domain.
type idpTable map[string]auth.IdPConfig

func (t idpTable) FindIdPByDomain(_ context.Context, domain string) (auth.IdPConfig, error) {
	c, ok := t[domain]
	if !ok {
		return auth.IdPConfig{}, auth.ErrNoIdP
	}
	return c, nil
}

func (t idpTable) add(c auth.IdPConfig) idpTable {
	for _, d := range c.Domains {
		t[d] = c
	}
	return t
}

// localUsers is an idp.LocalUsers keyed by lowercase email.
type localUsers map[string]idp.LocalUser

func (u localUsers) LocalUserByEmail(_ context.Context, email string) (idp.LocalUser, error) {
	lu, ok := u[email]
	if !ok {
		return idp.LocalUser{}, idp.ErrNoUser
	}
	return lu, nil
}

func newLocalUser(t testing.TB, id, email, name, password string) idp.LocalUser {
	t.Helper()
	h, err := idp.HashPassword(password)
	if err != nil {
		t.Fatalf("HashPassword() = %v", err)
	}
	return idp.LocalUser{ID: id, Email: email, Name: name, PasswordHash: h}
}

// clock is an injected, manually advanced clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Now().Truncate(time.Second)} }

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

const callbackURL = "https://engine.test/auth/callback"

// builtin is the engine's built-in IdP served over httptest under /idp.
type builtin struct {
	srv *httptest.Server
	p   *idp.Provider
	idp auth.IdPConfig // as an organization would configure it
}

func startBuiltin(t *testing.T, orgID string, users localUsers, domains ...string) builtin {
	t.Helper()
	key, err := idp.GenerateKey()
	if err != nil {
		t.Fatalf("GenerateKey() = %v", err)
	}
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	client := idp.Client{ID: "warren-engine", Secret: "s3cret-" + orgID, RedirectURIs: []string{callbackURL}}
	p, err := idp.New(idp.Config{
		Issuer:  srv.URL + "/idp",
		KeyPEM:  key,
		Clients: []idp.Client{client},
		Users:   users,
	})
	if err != nil {
		t.Fatalf("idp.New() = %v", err)
	}
	mux.Handle("/idp/", p)
	return builtin{srv: srv, p: p, idp: auth.IdPConfig{
		OrgID:        orgID,
		Issuer:       p.Issuer(),
		ClientID:     client.ID,
		ClientSecret: client.Secret,
		Domains:      domains,
	}}
}

// browser is a cookie-keeping HTTP client that does not follow redirects, so
// the test sees every hop.
type browser struct {
	t *testing.T
	c *http.Client
}

func newBrowser(t *testing.T) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, c: &http.Client{
		Jar:           jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

func (b *browser) do(req *http.Request) (*http.Response, string) {
	b.t.Helper()
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

func (b *browser) get(u string) (*http.Response, string) {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	return b.do(req)
}

func (b *browser) post(u string, form url.Values) (*http.Response, string) {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req)
}

// signIn opens authURL on the built-in IdP, fills in the login form and
// returns where the IdP redirects the browser (the engine's callback).
func (b *browser) signIn(authURL, email, password string) *url.URL {
	b.t.Helper()
	resp, body := b.get(authURL)
	if resp.StatusCode != http.StatusOK {
		b.t.Fatalf("GET authorize = %d, want 200: %s", resp.StatusCode, body)
	}
	action, fields := parseForm(b.t, body)
	fields.Set("email", email)
	fields.Set("password", password)
	target := resp.Request.URL.ResolveReference(&url.URL{Path: action})
	resp, body = b.post(target.String(), fields)
	if resp.StatusCode != http.StatusSeeOther {
		b.t.Fatalf("POST login = %d, want 303: %s", resp.StatusCode, body)
	}
	loc, err := resp.Location()
	if err != nil {
		b.t.Fatalf("login redirect: %v", err)
	}
	return loc
}

// parseForm returns the action and the hidden fields of the page's form.
func parseForm(t *testing.T, page string) (string, url.Values) {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(page))
	if err != nil {
		t.Fatalf("parsing login page: %v", err)
	}
	var action string
	fields := url.Values{}
	for n := range doc.Descendants() {
		if n.Type != html.ElementNode {
			continue
		}
		switch n.Data {
		case "form":
			action = attr(n, "action")
		case "input":
			if attr(n, "type") == "hidden" {
				fields.Set(attr(n, "name"), attr(n, "value"))
			}
		}
	}
	if action == "" {
		t.Fatalf("no form on page:\n%s", page)
	}
	return action, fields
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

// callback checks that loc is our callback and returns its state and code.
func callback(t *testing.T, loc *url.URL) (state, code string) {
	t.Helper()
	if got := loc.Scheme + "://" + loc.Host + loc.Path; got != callbackURL {
		t.Fatalf("redirected to %s, want %s", got, callbackURL)
	}
	q := loc.Query()
	if q.Get("error") != "" {
		t.Fatalf("IdP returned error %q: %s", q.Get("error"), q.Get("error_description"))
	}
	return q.Get("state"), q.Get("code")
}

func wantReason(t *testing.T, err error, want auth.Reason) {
	t.Helper()
	if got := auth.ReasonOf(err); got != want {
		t.Fatalf("ReasonOf(%v) = %q, want %q", err, got, want)
	}
}
