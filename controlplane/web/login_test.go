package web_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/oauth2-proxy/mockoidc"

	"github.com/warrenhq/warren/controlplane/secrets"
	"github.com/warrenhq/warren/controlplane/store"
	"github.com/warrenhq/warren/controlplane/store/storetest"
	"github.com/warrenhq/warren/controlplane/web"
)

// TestTwoOrgsTwoIdPs: org "acme" has local users of the built-in IdP; org
// "corp" signs in through its own IdP (mockoidc) for corp.test. Each login
// is routed by the email's domain; a corp.test user becomes a member of
// corp on first login; identities are never linked by email.
func TestTwoOrgsTwoIdPs(t *testing.T) {
	eachBackend(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL, options{})
		acme, corp := e.org("acme"), e.org("corp")
		alice := e.localUser("alice@example.com", "alice's password", acme)
		m := e.mockIdP(corp, "corp.test")

		me := e.browser().loginBuiltin("alice@example.com", "alice's password")
		if me.User.ID != alice.ID || me.Org == nil || me.Org.ID != acme.ID || me.User.PlatformAdmin {
			t.Errorf("alice's me = %+v (org %+v), want user %s in acme, not platform admin", me, me.Org, alice.ID)
		}

		carol := &mockoidc.MockUser{Subject: "carol-1", Email: "carol@corp.test", EmailVerified: true, PreferredUsername: "carol"}
		me = e.browser().loginMock(m, carol)
		if me.Org == nil || me.Org.ID != corp.ID || me.Org.Role != "member" || len(me.Memberships) != 1 {
			t.Fatalf("carol's me = %+v (org %+v), want a member of corp only", me, me.Org)
		}
		carolID := me.User.ID
		if me = e.browser().loginMock(m, carol); me.User.ID != carolID || len(me.Memberships) != 1 {
			t.Errorf("carol's second login = user %s with %d memberships, want %s with 1", me.User.ID, len(me.Memberships), carolID)
		}

		// Another subject with carol's email is another user.
		imposter := &mockoidc.MockUser{Subject: "carol-2", Email: "carol@corp.test", EmailVerified: true}
		if me = e.browser().loginMock(m, imposter); me.User.ID == carolID {
			t.Errorf("subject carol-2 signed in as carol's user %s: identities linked by email", carolID)
		}
		u, err := e.s.GetUser(context.Background(), carolID)
		if err != nil || u.Issuer != m.Issuer() || u.Subject != "carol-1" {
			t.Errorf("GetUser(carol) = %+v, %v, want issuer %s subject carol-1", u, err, m.Issuer())
		}

		// The org's IdP may not vouch for another domain.
		b := e.browser()
		m.QueueUser(&mockoidc.MockUser{Subject: "mallory", Email: "alice@example.com", EmailVerified: true})
		resp, _ := b.get(b.startLogin("mallory@corp.test"))
		resp, body := b.callback(resp.Header.Get("Location"))
		wantError(t, "callback with a foreign-domain email", resp, body, http.StatusUnauthorized, "domain_not_allowed")
		if resp, _ := b.get(web.MePath); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("GET me after a refused login = %d, want 401", resp.StatusCode)
		}

		// Logins are audited: carol's in corp, and the refused one with its reason.
		ok, _, err := e.s.ListAudit(context.Background(), store.AuditFilter{OrgID: corp.ID, ActorID: carolID, Action: "auth.login", Result: store.AuditAllowed})
		if err != nil || len(ok) != 2 || ok[0].SourceIP == "" {
			t.Errorf("carol's login audit events = %+v, %v; want 2 with a source IP", ok, err)
		}
		denied, _, err := e.s.ListAudit(context.Background(), store.AuditFilter{Platform: true, Action: "auth.login", Result: store.AuditDenied})
		if err != nil || len(denied) != 1 || denied[0].Reason != "domain_not_allowed" {
			t.Errorf("refused login audit events = %+v, %v; want 1 with reason domain_not_allowed", denied, err)
		}
	})
}

// TestLoginCSRF: a callback is only accepted in the browser that started
// the login.
func TestLoginCSRF(t *testing.T) {
	eachBackend(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL, options{})
		e.localUser("alice@example.com", "alice's password", e.org("acme"))
		attacker, victim := e.browser(), e.browser()
		loc := attacker.idpSignIn(attacker.startLogin("alice@example.com"), "alice@example.com", "alice's password")

		resp, body := victim.callback(loc)
		wantError(t, "callback without the binding cookie", resp, body, http.StatusForbidden, "login_not_bound")

		victim.startLogin("alice@example.com") // a binding cookie for another state
		resp, body = victim.callback(loc)
		wantError(t, "callback with another login's binding cookie", resp, body, http.StatusForbidden, "login_not_bound")
		if victim.sessionCookie() != "" {
			t.Errorf("victim got a session cookie")
		}

		// The browser that started it can still finish it, once.
		attacker.finish(attacker.callback(loc))
		resp, body = attacker.callback(loc)
		wantError(t, "replayed callback", resp, body, http.StatusForbidden, "login_not_bound")
	})
}

// TestCookieAttributes: cookies are HttpOnly and SameSite=Lax, and Secure
// unless the public URL is plain http on loopback.
func TestCookieAttributes(t *testing.T) {
	for _, tls := range []bool{false, true} {
		t.Run(map[bool]string{false: "http-loopback", true: "https"}[tls], func(t *testing.T) {
			e := newEnv(t, storetest.SQLiteURL(t), options{tls: tls})
			e.localUser("alice@example.com", "alice's password")
			b := e.browser()
			resp, body := b.postJSON(web.LoginPath, map[string]string{"email": "alice@example.com"}, nil)
			checkCookie(t, resp, "warren_login", web.CallbackPath, tls)
			var lr web.LoginResponse
			if err := json.Unmarshal([]byte(body), &lr); err != nil {
				t.Fatalf("login response %s: %v", body, err)
			}
			resp, _ = b.callback(b.idpSignIn(lr.RedirectURL, "alice@example.com", "alice's password"))
			checkCookie(t, resp, web.SessionCookie, "/", tls)
			b.finish(resp, "")
		})
	}
}

func checkCookie(t *testing.T, resp *http.Response, name, path string, secure bool) {
	t.Helper()
	for _, c := range resp.Cookies() {
		if c.Name != name || c.MaxAge < 0 {
			continue
		}
		if !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Secure != secure || c.Path != path || c.MaxAge <= 0 {
			t.Errorf("cookie %s = %s, want HttpOnly; SameSite=Lax; Path=%s; Max-Age>0; Secure=%v", name, c, path, secure)
		}
		return
	}
	t.Errorf("no %s cookie set; Set-Cookie = %q", name, resp.Header.Values("Set-Cookie"))
}

// TestOrgSwitch: the current org can only be one the user is a member of,
// and stops being current when the membership ends.
func TestOrgSwitch(t *testing.T) {
	eachBackend(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL, options{})
		acme, beta, corp := e.org("acme"), e.org("beta"), e.org("corp")
		alice := e.localUser("alice@example.com", "alice's password", acme, beta)
		b := e.browser()
		if me := b.loginBuiltin("alice@example.com", "alice's password"); me.Org == nil || me.Org.ID != acme.ID || len(me.Memberships) != 2 {
			t.Fatalf("me = %+v, want acme (first by slug) of 2", me)
		}
		resp, body := b.postJSON(web.OrgPath, map[string]string{"org_id": beta.ID}, nil)
		if resp.StatusCode != http.StatusOK || !strings.Contains(body, `"org":{"id":"`+beta.ID) {
			t.Errorf("switch to beta = %d %s, want 200 with org beta", resp.StatusCode, body)
		}
		if me := b.me(); me.Org == nil || me.Org.ID != beta.ID {
			t.Errorf("me.Org after switch = %+v, want beta", me.Org)
		}
		for _, id := range []string{corp.ID, "org_doesnotexist"} {
			resp, body = b.postJSON(web.OrgPath, map[string]string{"org_id": id}, nil)
			wantError(t, "switch to a foreign org", resp, body, http.StatusNotFound, "org_not_found")
		}
		if err := e.s.RemoveMember(context.Background(), beta.ID, alice.ID); err != nil {
			t.Fatalf("RemoveMember() = %v", err)
		}
		if me := b.me(); me.Org != nil {
			t.Errorf("me.Org after removal from beta = %+v, want none", me.Org)
		}
	})
}

// TestBuiltinDisabled: no /idp/, no /setup, and domains without an org IdP
// cannot sign in.
func TestBuiltinDisabled(t *testing.T) {
	e := newEnv(t, storetest.SQLiteURL(t), options{disableBuiltin: true})
	b := e.browser()
	for _, path := range []string{"/idp/.well-known/openid-configuration", web.SetupPath + "?token=x"} {
		if resp, _ := b.get(path); resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s = %d, want 404", path, resp.StatusCode)
		}
	}
	if _, err := e.a.SetupLink(context.Background()); !errors.Is(err, web.ErrBuiltinDisabled) {
		t.Errorf("SetupLink() = %v, want ErrBuiltinDisabled", err)
	}
	resp, body := b.postJSON(web.LoginPath, map[string]string{"email": "alice@example.com"}, nil)
	wantError(t, "login without an IdP", resp, body, http.StatusBadRequest, "no_idp_for_domain")
	if _, err := os.Stat(filepath.Join(e.dataDir, web.KeyFile)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("key file with the built-in IdP disabled: %v, want none", err)
	}
}

// TestBuiltinKey: the signing key is created once, sealed in a 0600 file,
// reused on the next start, re-sealed under a rotated KEK (ResealKeyFile,
// or New on start), and a wrong KEK fails closed.
func TestBuiltinKey(t *testing.T) {
	dbURL, dir := storetest.SQLiteURL(t), t.TempDir()
	kr := newKeyring(t)
	jwks := func(e *env) string {
		resp, body := e.browser().get("/idp/jwks")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET jwks = %d", resp.StatusCode)
		}
		return body
	}
	first := jwks(newEnv(t, dbURL, options{keyring: kr, dataDir: dir}))
	path := filepath.Join(dir, web.KeyFile)
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file = %v, %v, want mode 0600", fi, err)
	}
	if got := jwks(newEnv(t, dbURL, options{keyring: kr, dataDir: dir})); got != first {
		t.Errorf("JWKS after restart = %s, want %s", got, first)
	}

	next, err := secrets.GenerateKEK()
	if err != nil {
		t.Fatal(err)
	}
	rotated, err := secrets.NewKeyring(next, kr.Current())
	if err != nil {
		t.Fatal(err)
	}
	if did, err := web.ResealKeyFile(dir, rotated); err != nil || !did {
		t.Errorf("ResealKeyFile() = %v, %v, want true", did, err)
	}
	if did, err := web.ResealKeyFile(dir, rotated); err != nil || did {
		t.Errorf("ResealKeyFile() again = %v, %v, want false", did, err)
	}
	onlyNext, _ := secrets.NewKeyring(next)
	if got := jwks(newEnv(t, dbURL, options{keyring: onlyNext, dataDir: dir})); got != first {
		t.Errorf("JWKS under the new KEK alone = %s, want %s (the file was re-sealed)", got, first)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("re-sealed key file = %v, %v, want mode 0600", fi, err)
	}

	_, err = web.New(web.Config{Store: storetest.Open(t, dbURL), Keyring: kr, PublicURL: "http://127.0.0.1:1", DataDir: dir})
	if !errors.Is(err, secrets.ErrWrongKEK) {
		t.Errorf("New() with the old KEK only = %v, want ErrWrongKEK", err)
	}
}
