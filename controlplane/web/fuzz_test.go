package web_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/warrenhq/warren/controlplane/store/storetest"
	"github.com/warrenhq/warren/controlplane/web"
)

// fuzzAuthn is an Authn on a real SQLite store, served without a network.
func fuzzAuthn(f *testing.F) http.Handler {
	s := storetest.SQLite(f)
	a, err := web.New(web.Config{Store: s, Keyring: newKeyring(f), PublicURL: "https://warren.example.com", DataDir: f.TempDir()})
	if err != nil {
		f.Fatalf("New() = %v", err)
	}
	mux := http.NewServeMux()
	a.Register(mux)
	mux.Handle("/test/echo", a.Authenticate(http.HandlerFunc(echoPrincipal)))
	return mux
}

// FuzzCredentials: no Authorization header or session cookie value
// authenticates against an empty store, crashes, or gets a 5xx.
func FuzzCredentials(f *testing.F) {
	h := fuzzAuthn(f)
	for _, seed := range [][2]string{
		{"Bearer " + web.APITokenPrefix + strings.Repeat("A", 43), ""},
		{"bearer  " + web.APITokenPrefix + strings.Repeat("_", 43), ""},
		{"Bearer " + web.APITokenPrefix, ""},
		{"Basic dXNlcjpwYXNz", ""},
		{"", strings.Repeat("A", 43)},
		{"", strings.Repeat("-", 42) + "=="},
		{"", "\x00\xff"},
	} {
		f.Add(seed[0], seed[1])
	}
	f.Fuzz(func(t *testing.T, authz, cookie string) {
		req := httptest.NewRequest(http.MethodPost, "https://warren.example.com/test/echo", nil)
		req.Header.Set("Origin", "https://warren.example.com")
		if authz != "" {
			req.Header["Authorization"] = []string{authz}
		}
		if cookie != "" {
			req.Header["Cookie"] = []string{web.SessionCookie + "=" + cookie}
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusUnauthorized {
			t.Errorf("Authorization %q, cookie %q: status %d, want 401", authz, cookie, rec.Code)
		}
	})
}

// FuzzLoginBody: any body posted to the login route gets a 2xx or 4xx
// (or 503 when too many logins are pending), never a crash or a 500.
func FuzzLoginBody(f *testing.F) {
	h := fuzzAuthn(f)
	for _, seed := range []string{
		`{"email":"alice@example.com"}`,
		`{"email":"alice@example.com."}`,
		`{"email":"a@b@example.com"}`,
		`{"email":"ALICE@EXAMPLE.COM","x":1}`,
		`{"email":null}`,
		`[]`,
		`{"email":"alice@xn--80ak6aa92e.com"}`,
		"{\"email\":\"alice@exa\u200bmple.com\"}",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, body string) {
		req := httptest.NewRequest(http.MethodPost, "https://warren.example.com"+web.LoginPath, strings.NewReader(body))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		// 503 is the bound on pending logins, which valid emails fill.
		if rec.Code >= 500 && rec.Code != http.StatusServiceUnavailable {
			t.Errorf("body %q: status %d, want < 500: %s", body, rec.Code, rec.Body)
		}
	})
}

// FuzzCheckOrigin: only the public origin itself passes.
func FuzzCheckOrigin(f *testing.F) {
	a, err := web.New(web.Config{Store: storetest.SQLite(f), Keyring: newKeyring(f), PublicURL: "https://warren.example.com", DisableBuiltinIdP: true})
	if err != nil {
		f.Fatalf("New() = %v", err)
	}
	for _, seed := range []string{"https://warren.example.com", "https://WARREN.example.com:443", "https://warren.example.com.", "https://warren.example.com:0443", "null", "https://warren.example.com@evil.test"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, origin string) {
		r := httptest.NewRequest(http.MethodGet, "https://warren.example.com/ws", nil)
		r.Header["Origin"] = []string{origin}
		if !a.CheckOrigin(r) {
			return
		}
		if o := strings.ToLower(origin); o != "https://warren.example.com" && o != "https://warren.example.com:443" {
			t.Errorf("CheckOrigin(%q) = true", origin)
		}
	})
}
