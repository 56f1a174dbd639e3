package web_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oauth2-proxy/mockoidc"
	"golang.org/x/net/html"

	"github.com/warrenhq/warren/controlplane/auth/idp"
	"github.com/warrenhq/warren/controlplane/secrets"
	"github.com/warrenhq/warren/controlplane/store"
	"github.com/warrenhq/warren/controlplane/store/storetest"
	"github.com/warrenhq/warren/controlplane/web"
)

// Everything in these tests is real: the store on SQLite and PostgreSQL,
// HTTP over httptest with a cookie jar, the built-in IdP, and mockoidc as an
// independent OIDC provider.

func TestMain(m *testing.M) { storetest.Main(m) }

// eachBackend runs fn as a subtest on a fresh database of every backend.
func eachBackend(t *testing.T, fn func(t *testing.T, dbURL string)) {
	for _, b := range storetest.Backends {
		t.Run(b.Name, func(t *testing.T) { fn(t, b.URL(t)) })
	}
}

// clock is an injected, manually advanced clock.
type clock struct {
	mu sync.Mutex
	t  time.Time // guarded by mu
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

// logBuffer collects the engine's log lines.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer // guarded by mu
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

type options struct {
	tls            bool
	disableBuiltin bool
	keyring        *secrets.Keyring // nil = a fresh one
	dataDir        string           // "" = a temp dir
}

// env is an Authn serving its routes over httptest on a real store.
type env struct {
	t       *testing.T
	dbURL   string
	s       *store.Store
	a       *web.Authn
	kr      *secrets.Keyring
	srv     *httptest.Server
	url     string // the public URL
	clock   *clock
	logs    *logBuffer
	dataDir string
}

func newEnv(t *testing.T, dbURL string, opts options) *env {
	t.Helper()
	e := &env{t: t, dbURL: dbURL, s: storetest.Open(t, dbURL), kr: opts.keyring, dataDir: opts.dataDir,
		clock: &clock{t: time.Now().Truncate(time.Second)}, logs: &logBuffer{}}
	if e.kr == nil {
		e.kr = newKeyring(t)
	}
	if e.dataDir == "" {
		e.dataDir = t.TempDir()
	}
	mux := http.NewServeMux()
	e.srv = httptest.NewUnstartedServer(mux)
	if opts.tls {
		e.srv.StartTLS()
	} else {
		e.srv.Start()
	}
	t.Cleanup(e.srv.Close)
	e.url = e.srv.URL
	a, err := web.New(web.Config{
		Store:             e.s,
		Keyring:           e.kr,
		PublicURL:         e.url,
		DataDir:           e.dataDir,
		DisableBuiltinIdP: opts.disableBuiltin,
		Now:               e.clock.Now,
		Logger:            slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		t.Fatalf("web.New() = %v", err)
	}
	e.a = a
	a.Register(mux)
	mux.Handle("/test/echo", a.Authenticate(http.HandlerFunc(echoPrincipal)))
	return e
}

func newKeyring(t testing.TB) *secrets.Keyring {
	t.Helper()
	kek, err := secrets.GenerateKEK()
	if err != nil {
		t.Fatalf("GenerateKEK() = %v", err)
	}
	kr, err := secrets.NewKeyring(kek)
	if err != nil {
		t.Fatalf("NewKeyring() = %v", err)
	}
	return kr
}

// echoPrincipal answers with the request's principal, for tests of the
// middleware on a route of every method.
func echoPrincipal(w http.ResponseWriter, r *http.Request) {
	p, ok := web.PrincipalFrom(r.Context())
	if !ok {
		http.Error(w, "no principal", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(p)
}

// org creates an organization.
func (e *env) org(slug string) store.Org {
	e.t.Helper()
	o, err := e.s.CreateOrg(context.Background(), store.Org{Name: "Org " + slug, Slug: slug})
	if err != nil {
		e.t.Fatalf("CreateOrg(%s) = %v", slug, err)
	}
	return o
}

// localUser creates an account of the built-in IdP and its user, as setup
// would, and makes it a member of the given orgs.
func (e *env) localUser(email, password string, orgs ...store.Org) store.User {
	e.t.Helper()
	ctx := context.Background()
	h, err := idp.HashPassword(password)
	if err != nil {
		e.t.Fatalf("HashPassword() = %v", err)
	}
	lu, err := e.s.CreateLocalUser(ctx, store.LocalUser{Email: email, PasswordHash: h})
	if err != nil {
		e.t.Fatalf("CreateLocalUser(%s) = %v", email, err)
	}
	u, _, err := e.s.UpsertUserIdentity(ctx, e.a.BuiltinIssuer(), lu.ID, email, "")
	if err != nil {
		e.t.Fatalf("UpsertUserIdentity(%s) = %v", email, err)
	}
	for _, o := range orgs {
		if _, err := e.s.AddMember(ctx, store.Membership{OrgID: o.ID, UserID: u.ID, Role: store.RoleAdmin}); err != nil {
			e.t.Fatalf("AddMember(%s, %s) = %v", o.Slug, email, err)
		}
	}
	return u
}

// mockIdP runs mockoidc and configures it as org's IdP for domain, with
// its client secret sealed under the env's keyring.
func (e *env) mockIdP(org store.Org, domain string) *mockoidc.MockOIDC {
	e.t.Helper()
	m, err := mockoidc.Run()
	if err != nil {
		e.t.Fatalf("mockoidc.Run() = %v", err)
	}
	e.t.Cleanup(func() { m.Shutdown() })
	p := store.IdP{ID: store.NewIdPID(), OrgID: org.ID, Name: "corp", Issuer: m.Issuer(), ClientID: m.ClientID,
		Domains: []string{domain}, Version: 1}
	// The binding controlplane/vault seals IdP client secrets with.
	aad := secrets.AAD{OrgID: p.OrgID, RecordID: p.ID, Kind: "idp_client_secret", Version: p.Version}
	sealed, err := e.kr.Seal(aad, []byte(m.ClientSecret))
	if err != nil {
		e.t.Fatalf("Seal() = %v", err)
	}
	p.KEKID = sealed.KEKID.String()
	if p.ClientSecretSealed, err = sealed.MarshalBinary(); err != nil {
		e.t.Fatalf("MarshalBinary() = %v", err)
	}
	if _, err := e.s.CreateIdP(context.Background(), p); err != nil {
		e.t.Fatalf("CreateIdP() = %v", err)
	}
	return m
}

// browser is a cookie-keeping HTTP client that does not follow redirects,
// so the test sees every hop. Like a browser, it sends the page's Origin on
// POSTs; like the console, it sends the CSRF token once it knows it.
type browser struct {
	t    *testing.T
	e    *env
	c    *http.Client
	csrf string
}

func (e *env) browser() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: e.t, e: e, c: &http.Client{
		Jar:           jar,
		Transport:     e.srv.Client().Transport,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

type header map[string]string

// do sends the request; path may be relative to the public URL.
func (b *browser) do(method, path string, body io.Reader, h header) (*http.Response, string) {
	b.t.Helper()
	if strings.HasPrefix(path, "/") {
		path = b.e.url + path
	}
	req, err := http.NewRequest(method, path, body)
	if err != nil {
		b.t.Fatalf("NewRequest(%s %s) = %v", method, path, err)
	}
	if method != http.MethodGet && strings.HasPrefix(path, b.e.url) {
		req.Header.Set("Origin", b.e.url)
		if b.csrf != "" {
			req.Header.Set(web.CSRFHeader, b.csrf)
		}
	}
	for k, v := range h {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp, string(data)
}

func (b *browser) get(path string) (*http.Response, string) {
	b.t.Helper()
	return b.do(http.MethodGet, path, nil, nil)
}

func (b *browser) postJSON(path string, v any, h header) (*http.Response, string) {
	b.t.Helper()
	data, _ := json.Marshal(v)
	if h == nil {
		h = header{}
	}
	h["Content-Type"] = "application/json"
	return b.do(http.MethodPost, path, bytes.NewReader(data), h)
}

func (b *browser) postForm(path string, form url.Values) (*http.Response, string) {
	b.t.Helper()
	return b.do(http.MethodPost, path, strings.NewReader(form.Encode()), header{"Content-Type": "application/x-www-form-urlencoded"})
}

// startLogin posts the email to the login route and returns where the
// engine sends the browser.
func (b *browser) startLogin(email string) string {
	b.t.Helper()
	resp, body := b.postJSON(web.LoginPath, map[string]string{"email": email}, nil)
	if resp.StatusCode != http.StatusOK {
		b.t.Fatalf("POST login(%s) = %d %s, want 200", email, resp.StatusCode, body)
	}
	var lr web.LoginResponse
	if err := json.Unmarshal([]byte(body), &lr); err != nil || lr.RedirectURL == "" {
		b.t.Fatalf("login response %s: %v", body, err)
	}
	return lr.RedirectURL
}

// idpSignIn fills in the built-in IdP's form at authURL and returns the
// callback URL the IdP redirects to.
func (b *browser) idpSignIn(authURL, email, password string) string {
	b.t.Helper()
	resp, body := b.get(authURL)
	if resp.StatusCode != http.StatusOK {
		b.t.Fatalf("GET authorize = %d, want 200: %s", resp.StatusCode, body)
	}
	action, fields := parseForm(b.t, body)
	fields.Set("email", email)
	fields.Set("password", password)
	resp, body = b.postForm(resp.Request.URL.ResolveReference(&url.URL{Path: action}).String(), fields)
	if resp.StatusCode != http.StatusSeeOther {
		b.t.Fatalf("POST IdP login = %d, want 303: %s", resp.StatusCode, body)
	}
	return resp.Header.Get("Location")
}

// callback follows the IdP's redirect to the engine and returns the
// response.
func (b *browser) callback(loc string) (*http.Response, string) {
	b.t.Helper()
	if !strings.HasPrefix(loc, b.e.url+web.CallbackPath+"?") {
		b.t.Fatalf("IdP redirected to %s, want the engine's callback", loc)
	}
	return b.get(loc)
}

// loginBuiltin signs in through the built-in IdP and fetches /me.
func (b *browser) loginBuiltin(email, password string) web.Me {
	b.t.Helper()
	return b.finish(b.callback(b.idpSignIn(b.startLogin(email), email, password)))
}

// loginMock signs in through mockoidc, which authenticates the queued
// user, and fetches /me.
func (b *browser) loginMock(m *mockoidc.MockOIDC, u *mockoidc.MockUser) web.Me {
	b.t.Helper()
	m.QueueUser(u)
	authURL := b.startLogin(u.Email)
	if !strings.HasPrefix(authURL, m.AuthorizationEndpoint()) {
		b.t.Fatalf("login of %s went to %s, want mockoidc", u.Email, authURL)
	}
	resp, body := b.get(authURL)
	if resp.StatusCode != http.StatusFound {
		b.t.Fatalf("mockoidc authorize = %d %s, want 302", resp.StatusCode, body)
	}
	return b.finish(b.callback(resp.Header.Get("Location")))
}

func (b *browser) finish(resp *http.Response, body string) web.Me {
	b.t.Helper()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" {
		b.t.Fatalf("callback = %d (Location %q) %s, want 303 to /", resp.StatusCode, resp.Header.Get("Location"), body)
	}
	return b.me()
}

// me fetches /me, which must succeed, and remembers the CSRF token.
func (b *browser) me() web.Me {
	b.t.Helper()
	resp, body := b.get(web.MePath)
	if resp.StatusCode != http.StatusOK {
		b.t.Fatalf("GET me = %d %s, want 200", resp.StatusCode, body)
	}
	var me web.Me
	if err := json.Unmarshal([]byte(body), &me); err != nil {
		b.t.Fatalf("me %s: %v", body, err)
	}
	b.csrf = me.CSRFToken
	return me
}

// sessionCookie returns the browser's session cookie value.
func (b *browser) sessionCookie() string {
	u, _ := url.Parse(b.e.url)
	for _, c := range b.c.Jar.Cookies(u) {
		if c.Name == web.SessionCookie {
			return c.Value
		}
	}
	return ""
}

// parseForm returns the action and the hidden fields of the page's form.
func parseForm(t *testing.T, page string) (string, url.Values) {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(page))
	if err != nil {
		t.Fatalf("parsing page: %v", err)
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

// wantError checks an error envelope's status and code.
func wantError(t *testing.T, what string, resp *http.Response, body string, status int, code string) {
	t.Helper()
	var env struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
			TraceID string `json:"trace_id"`
		} `json:"error"`
	}
	if err := json.Unmarshal([]byte(body), &env); err != nil {
		t.Errorf("%s: body %q is not an error envelope: %v", what, body, err)
		return
	}
	if resp.StatusCode != status || env.Error.Code != code || env.Error.TraceID == "" {
		t.Errorf("%s = %d %+v, want %d %q with a trace id", what, resp.StatusCode, env.Error, status, code)
	}
}

// dumpDB returns every row of every table of the test's database as text,
// byte columns included raw.
func (e *env) dumpDB() string {
	e.t.Helper()
	driver, dsn, list := "pgx", e.dbURL, `SELECT tablename FROM pg_tables WHERE schemaname = 'public'`
	if strings.HasPrefix(e.dbURL, "sqlite://") {
		driver, dsn, list = "sqlite", strings.TrimPrefix(e.dbURL, "sqlite://"), `SELECT name FROM sqlite_master WHERE type = 'table'`
	}
	db, err := sql.Open(driver, dsn)
	if err != nil {
		e.t.Fatalf("opening %s: %v", driver, err)
	}
	defer db.Close()
	tables := queryStrings(e.t, db, list)
	var out strings.Builder
	for _, tbl := range tables {
		rows, err := db.Query(`SELECT * FROM "` + tbl + `"`)
		if err != nil {
			e.t.Fatalf("dumping %s: %v", tbl, err)
		}
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				e.t.Fatalf("dumping %s: %v", tbl, err)
			}
			for _, v := range vals {
				if b, ok := v.([]byte); ok {
					out.Write(b)
				} else {
					fmt.Fprint(&out, v)
				}
				out.WriteByte('|')
			}
			out.WriteByte('\n')
		}
		rows.Close()
	}
	return out.String()
}

func queryStrings(t *testing.T, db *sql.DB, q string) []string {
	t.Helper()
	rows, err := db.Query(q)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		out = append(out, s)
	}
	return out
}
