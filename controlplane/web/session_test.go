package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/warrenhq/warren/controlplane/store"
	"github.com/warrenhq/warren/controlplane/store/storetest"
	"github.com/warrenhq/warren/controlplane/web"
)

// withCookie asks for GET me presenting only the given session cookie.
func (e *env) meWithCookie(value string) int {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, e.url+web.MePath, nil)
	req.AddCookie(&http.Cookie{Name: web.SessionCookie, Value: value})
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatalf("GET me: %v", err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestLogout: logout revokes the session at once; the old cookie is dead.
func TestLogout(t *testing.T) {
	eachBackend(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL, options{})
		e.localUser("alice@example.com", "alice's password", e.org("acme"))
		b := e.browser()
		b.loginBuiltin("alice@example.com", "alice's password")
		old := b.sessionCookie()
		if got := e.meWithCookie(old); got != http.StatusOK {
			t.Fatalf("GET me with the session cookie = %d, want 200", got)
		}
		resp, body := b.postJSON(web.LogoutPath, nil, nil)
		if resp.StatusCode != http.StatusNoContent {
			t.Fatalf("POST logout = %d %s, want 204", resp.StatusCode, body)
		}
		if b.sessionCookie() != "" {
			t.Errorf("session cookie still in the jar after logout")
		}
		if got := e.meWithCookie(old); got != http.StatusUnauthorized {
			t.Errorf("GET me with the logged-out cookie = %d, want 401", got)
		}
		// The console's start-up question "am I signed in?" is not an error.
		if resp, _ := e.browser().get(web.MePath + "?optional=1"); resp.StatusCode != http.StatusNoContent {
			t.Errorf("GET me?optional=1 signed out = %d, want 204", resp.StatusCode)
		}
		b.loginBuiltin("alice@example.com", "alice's password")
		if resp, body := b.get(web.MePath + "?optional=1"); resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "alice@example.com") {
			t.Errorf("GET me?optional=1 signed in = %d %s, want 200 with the user", resp.StatusCode, body)
		}
	})
}

// TestRevokeUserSessions: an admin's revocation ends every session of the
// user at its next request.
func TestRevokeUserSessions(t *testing.T) {
	eachBackend(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL, options{})
		alice := e.localUser("alice@example.com", "alice's password", e.org("acme"))
		bob := e.localUser("bob@example.com", "bob's password")
		laptop, phone, other := e.browser(), e.browser(), e.browser()
		laptop.loginBuiltin("alice@example.com", "alice's password")
		phone.loginBuiltin("alice@example.com", "alice's password")
		other.loginBuiltin("bob@example.com", "bob's password")

		n, err := e.a.RevokeUserSessions(context.Background(), alice.ID)
		if err != nil || n != 2 {
			t.Fatalf("RevokeUserSessions() = %d, %v, want 2", n, err)
		}
		for name, b := range map[string]*browser{"laptop": laptop, "phone": phone} {
			resp, body := b.get(web.MePath)
			wantError(t, name+" GET me after revocation", resp, body, http.StatusUnauthorized, "unauthenticated")
		}
		if me := other.me(); me.User.ID != bob.ID {
			t.Errorf("bob's session = %s, want untouched", me.User.ID)
		}

		// Disabling a user ends their sessions too.
		if err := e.s.SetUserDisabled(context.Background(), bob.ID, true); err != nil {
			t.Fatalf("SetUserDisabled() = %v", err)
		}
		if resp, _ := other.get(web.MePath); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("GET me of a disabled user = %d, want 401", resp.StatusCode)
		}
	})
}

// TestCSRF: state-changing session requests need the CSRF token and the
// public URL's origin; API-token requests need neither.
func TestCSRF(t *testing.T) {
	eachBackend(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL, options{})
		acme := e.org("acme")
		alice := e.localUser("alice@example.com", "alice's password", acme)
		b := e.browser()
		csrf := b.loginBuiltin("alice@example.com", "alice's password").CSRFToken
		b.csrf = "" // headers are set per case below
		body := map[string]string{"org_id": acme.ID}
		tests := []struct {
			name   string
			h      header
			status int
			code   string
		}{
			{"no token", header{}, http.StatusForbidden, "csrf_token_invalid"},
			{"wrong token", header{web.CSRFHeader: csrf[:42] + "x"}, http.StatusForbidden, "csrf_token_invalid"},
			{"wrong origin", header{web.CSRFHeader: csrf, "Origin": "https://evil.test"}, http.StatusForbidden, "origin_mismatch"},
			{"lookalike origin", header{web.CSRFHeader: csrf, "Origin": e.url + ".evil.test"}, http.StatusForbidden, "origin_mismatch"},
			{"null origin", header{web.CSRFHeader: csrf, "Origin": "null"}, http.StatusForbidden, "origin_mismatch"},
			{"no origin nor referer", header{web.CSRFHeader: csrf, "Origin": ""}, http.StatusForbidden, "origin_mismatch"},
			{"foreign referer", header{web.CSRFHeader: csrf, "Origin": "", "Referer": "https://evil.test/x"}, http.StatusForbidden, "origin_mismatch"},
			{"referer", header{web.CSRFHeader: csrf, "Origin": "", "Referer": e.url + "/console"}, http.StatusOK, ""},
			{"token and origin", header{web.CSRFHeader: csrf}, http.StatusOK, ""},
		}
		for _, tc := range tests {
			resp, got := b.postJSON(web.OrgPath, body, tc.h)
			if tc.code != "" {
				wantError(t, tc.name, resp, got, tc.status, tc.code)
			} else if resp.StatusCode != tc.status {
				t.Errorf("%s: POST org = %d %s, want %d", tc.name, resp.StatusCode, got, tc.status)
			}
		}
		resp, got := b.do(http.MethodDelete, "/test/echo", nil, header{web.CSRFHeader: "", "Origin": e.url})
		wantError(t, "DELETE without a token", resp, got, http.StatusForbidden, "csrf_token_invalid")

		// Bearer tokens are exempt: browsers never attach them by themselves.
		tok, _, err := e.a.CreateAPIToken(context.Background(), acme.ID, alice.ID, "ci", 0)
		if err != nil {
			t.Fatalf("CreateAPIToken() = %v", err)
		}
		resp, got = e.browser().do(http.MethodPost, "/test/echo", nil, header{"Authorization": "Bearer " + tok, "Origin": "https://evil.test"})
		if resp.StatusCode != http.StatusOK {
			t.Errorf("POST with a bearer token and no CSRF token = %d %s, want 200", resp.StatusCode, got)
		}
	})
}

func (e *env) bearer(tok string) (*http.Response, string) {
	e.t.Helper()
	return e.browser().do(http.MethodGet, "/test/echo", nil, header{"Authorization": "Bearer " + tok})
}

// TestAPITokens: a live token authenticates as its user in its org; a
// revoked, expired, unknown or malformed one does not; the database holds
// hashes only.
func TestAPITokens(t *testing.T) {
	eachBackend(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL, options{})
		ctx := context.Background()
		acme, beta := e.org("acme"), e.org("beta")
		alice := e.localUser("alice@example.com", "alice's password", acme, beta)
		bob := e.localUser("bob@example.com", "bob's password", beta)
		if err := e.s.SetPlatformAdmin(ctx, alice.ID, true); err != nil {
			t.Fatal(err)
		}
		tok, rec, err := e.a.CreateAPIToken(ctx, acme.ID, alice.ID, "ci", time.Hour)
		if err != nil {
			t.Fatalf("CreateAPIToken() = %v", err)
		}
		if !strings.HasPrefix(tok, web.APITokenPrefix) || len(tok) != len(web.APITokenPrefix)+43 {
			t.Errorf("token %q..., want %s + 43 base64url characters", tok[:8], web.APITokenPrefix)
		}
		resp, body := e.bearer(tok)
		var p web.Principal
		if resp.StatusCode != http.StatusOK || json.Unmarshal([]byte(body), &p) != nil {
			t.Fatalf("bearer request = %d %s, want 200", resp.StatusCode, body)
		}
		want := web.Principal{UserID: alice.ID, OrgID: acme.ID, Via: web.ViaToken, TokenID: rec.ID}
		if p != want {
			t.Errorf("principal = %+v, want %+v", p, want)
		}
		resp, body = e.browser().do(http.MethodGet, web.MePath, nil, header{"Authorization": "Bearer " + tok})
		var me web.Me
		if resp.StatusCode != http.StatusOK || json.Unmarshal([]byte(body), &me) != nil || len(me.Memberships) != 1 || me.CSRFToken != "" {
			t.Errorf("GET me with a token = %d %s, want 200 with only acme and no CSRF token", resp.StatusCode, body)
		}
		if resp, body := e.browser().do(http.MethodPost, web.OrgPath, strings.NewReader(`{"org_id":"`+beta.ID+`"}`), header{"Authorization": "Bearer " + tok}); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("org switch with a token = %d %s, want 400", resp.StatusCode, body)
		}

		if _, _, err := e.a.CreateAPIToken(ctx, acme.ID, bob.ID, "x", 0); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("CreateAPIToken() for a non-member = %v, want ErrNotFound", err)
		}
		forever, frec, err := e.a.CreateAPIToken(ctx, beta.ID, bob.ID, "forever", 0)
		if err != nil {
			t.Fatalf("CreateAPIToken() = %v", err)
		}
		revoked, rrec, err := e.a.CreateAPIToken(ctx, acme.ID, alice.ID, "revoked", 0)
		if err != nil {
			t.Fatalf("CreateAPIToken() = %v", err)
		}
		if err := e.a.RevokeAPIToken(ctx, acme.ID, rrec.ID); err != nil {
			t.Fatalf("RevokeAPIToken() = %v", err)
		}
		if err := e.a.RevokeAPIToken(ctx, acme.ID, frec.ID); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("RevokeAPIToken() with the wrong org = %v, want ErrNotFound", err)
		}
		if ts, err := e.a.ListAPITokens(ctx, acme.ID, ""); err != nil || len(ts) != 2 {
			t.Errorf("ListAPITokens(acme) = %d tokens, %v, want 2", len(ts), err)
		}

		unknown := web.APITokenPrefix + strings.Repeat("A", 43)
		for name, h := range map[string]string{
			"revoked":      "Bearer " + revoked,
			"unknown":      "Bearer " + unknown,
			"no prefix":    "Bearer " + strings.TrimPrefix(tok, web.APITokenPrefix),
			"truncated":    "Bearer " + tok[:len(tok)-1],
			"basic scheme": "Basic " + tok,
			"empty":        "Bearer ",
		} {
			resp, body := e.browser().do(http.MethodGet, "/test/echo", nil, header{"Authorization": h})
			wantError(t, name+" token", resp, body, http.StatusUnauthorized, "unauthenticated")
		}

		e.clock.Advance(time.Hour + time.Second)
		if resp, _ := e.bearer(tok); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("expired token = %d, want 401", resp.StatusCode)
		}
		if resp, _ := e.bearer(forever); resp.StatusCode != http.StatusOK {
			t.Errorf("token without expiry = %d, want 200", resp.StatusCode)
		}
		if err := e.s.RemoveMember(ctx, beta.ID, bob.ID); err != nil {
			t.Fatal(err)
		}
		if resp, _ := e.bearer(forever); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("token of a removed member = %d, want 401", resp.StatusCode)
		}

		// The database holds no plaintext token, and neither does the log.
		dump, logs := e.dumpDB(), e.logs.String()
		if !strings.Contains(dump, string(rec.TokenHash)) {
			t.Fatalf("the dump misses the token hash: the dump is broken")
		}
		for _, s := range []string{tok, forever, revoked, strings.TrimPrefix(tok, web.APITokenPrefix)} {
			if strings.Contains(dump, s) || strings.Contains(logs, s) {
				t.Errorf("a token secret is in the database dump or the log")
			}
		}
		if strings.HasPrefix(dbURL, "sqlite://") {
			for _, suffix := range []string{"", "-wal"} {
				raw, _ := os.ReadFile(strings.TrimPrefix(dbURL, "sqlite://") + suffix)
				if bytes.Contains(raw, []byte(strings.TrimPrefix(tok, web.APITokenPrefix))) {
					t.Errorf("the SQLite file%s holds a token secret", suffix)
				}
			}
		}
	})
}

// TestSessionNotStoredInPlaintext: the session secret is only hashed at rest.
func TestSessionNotStoredInPlaintext(t *testing.T) {
	eachBackend(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL, options{})
		e.localUser("alice@example.com", "alice's password")
		b := e.browser()
		b.loginBuiltin("alice@example.com", "alice's password")
		if c := b.sessionCookie(); c == "" || strings.Contains(e.dumpDB(), c) {
			t.Errorf("the session secret is in the database (or there is no cookie)")
		}
	})
}

// TestEnvelope: every failure under /api/v1/auth/ is an error envelope;
// bodies are bounded and strict.
func TestEnvelope(t *testing.T) {
	e := newEnv(t, storetest.SQLiteURL(t), options{})
	b := e.browser()
	resp, body := b.get(web.LoginPath)
	wantError(t, "GET login", resp, body, http.StatusMethodNotAllowed, "method_not_allowed")
	resp, body = b.get("/api/v1/auth/nope")
	wantError(t, "unknown route", resp, body, http.StatusNotFound, "route_not_found")
	resp, body = b.get(web.MePath)
	wantError(t, "anonymous me", resp, body, http.StatusUnauthorized, "unauthenticated")
	resp, body = b.do(http.MethodGet, web.MePath, nil, header{"Cookie": web.SessionCookie + "=" + strings.Repeat("A", 43)})
	wantError(t, "unknown session", resp, body, http.StatusUnauthorized, "unauthenticated")

	resp, body = b.do(http.MethodPost, web.LoginPath, strings.NewReader(`{"email":"a@example.com","admin":true}`), nil)
	wantError(t, "unknown field", resp, body, http.StatusBadRequest, "malformed_json")
	resp, body = b.do(http.MethodPost, web.LoginPath, strings.NewReader(`{"email":"a@example.com"} {}`), nil)
	wantError(t, "trailing data", resp, body, http.StatusBadRequest, "malformed_json")
	big := `{"email":"` + strings.Repeat("a", web.MaxBodyBytes) + `"}`
	resp, body = b.do(http.MethodPost, web.LoginPath, strings.NewReader(big), nil)
	wantError(t, "2 MiB body", resp, body, http.StatusRequestEntityTooLarge, "body_too_large")
	resp, body = b.postJSON(web.LoginPath, map[string]string{"email": "a@example.com."}, nil)
	wantError(t, "lookalike email", resp, body, http.StatusBadRequest, "invalid_email")
	resp, body = b.get(web.CallbackPath + "?state=x&code=y")
	wantError(t, "callback without login", resp, body, http.StatusForbidden, "login_not_bound")
}

// TestCheckOrigin: WebSocket upgrades must come from the public URL's
// origin exactly.
func TestCheckOrigin(t *testing.T) {
	s := storetest.SQLite(t)
	a, err := web.New(web.Config{Store: s, Keyring: newKeyring(t), PublicURL: "https://warren.example.com:443/", DisableBuiltinIdP: true})
	if err != nil {
		t.Fatalf("New() = %v", err)
	}
	for origin, want := range map[string]bool{
		"https://warren.example.com":           true,
		"https://Warren.Example.com:443":       true,
		"":                                     false,
		"null":                                 false,
		"http://warren.example.com":            false,
		"https://warren.example.com:8443":      false,
		"https://evil.warren.example.com":      false,
		"https://warren.example.com.evil.test": false,
		"https://warren.example.com/path":      false,
		"https://user@warren.example.com":      false,
		"https://warren.example.com\x00.evil":  false,
	} {
		r, _ := http.NewRequest(http.MethodGet, "https://warren.example.com/ws", nil)
		if origin != "" {
			r.Header.Set("Origin", origin)
		}
		if got := a.CheckOrigin(r); got != want {
			t.Errorf("CheckOrigin(Origin %q) = %v, want %v", origin, got, want)
		}
	}
}

// TestNewRefusesBadPublicURL: the public URL must be an http(s) origin.
func TestNewRefusesBadPublicURL(t *testing.T) {
	s := storetest.SQLite(t)
	for _, u := range []string{"", "warren.example.com", "ftp://warren.example.com", "https://warren.example.com/console", "https://u:p@warren.example.com"} {
		if _, err := web.New(web.Config{Store: s, Keyring: newKeyring(t), PublicURL: u, DisableBuiltinIdP: true}); err == nil {
			t.Errorf("New(PublicURL %q) = nil error, want one", u)
		}
	}
}
