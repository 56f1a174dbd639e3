package web_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/warrenhq/warren/controlplane/web"
)

const adminPassword = "correct horse battery"

// setupForm opens the setup link and returns the form's fields.
func (b *browser) setupForm(link string) url.Values {
	b.t.Helper()
	resp, body := b.get(link)
	if resp.StatusCode != http.StatusOK {
		b.t.Fatalf("GET setup link = %d, want 200: %s", resp.StatusCode, body)
	}
	if got := resp.Header.Get("Referrer-Policy"); got != "no-referrer" {
		b.t.Errorf("setup page Referrer-Policy = %q, want no-referrer (the URL holds the token)", got)
	}
	action, fields := parseForm(b.t, body)
	if action != web.SetupPath {
		b.t.Fatalf("setup form action = %q, want %q", action, web.SetupPath)
	}
	return fields
}

func setupFields(fields url.Values, email, password string) url.Values {
	f := url.Values{"token": {fields.Get("token")}, "email": {email}, "password": {password}, "password_confirm": {password}}
	return f
}

// TestSetupThenLoginBuiltin: the setup link creates the first platform
// admin, who then signs in through the built-in IdP end to end; the link
// does not work twice; nothing secret reaches the log.
func TestSetupThenLoginBuiltin(t *testing.T) {
	eachBackend(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL, options{})
		ctx := context.Background()
		link, err := e.a.SetupLink(ctx)
		if err != nil {
			t.Fatalf("SetupLink() = %v", err)
		}
		if !strings.HasPrefix(link, e.url+web.SetupPath+"?token=") {
			t.Fatalf("SetupLink() = %q, want %s/setup?token=...", link, e.url)
		}
		b := e.browser()
		fields := b.setupForm(link)
		resp, body := b.postForm(web.SetupPath, setupFields(fields, "Admin@Example.com", adminPassword))
		if resp.StatusCode != http.StatusOK || !strings.Contains(body, "admin@example.com") {
			t.Fatalf("POST setup = %d, want 200 naming the admin: %s", resp.StatusCode, body)
		}

		// The link is single use, and no new one is made once an admin exists.
		resp, _ = b.postForm(web.SetupPath, setupFields(fields, "second@example.com", adminPassword))
		if resp.StatusCode == http.StatusOK {
			t.Errorf("reusing the setup link = 200, want a refusal")
		}
		if _, err := e.a.SetupLink(ctx); !errors.Is(err, web.ErrSetupDone) {
			t.Errorf("SetupLink() after setup = %v, want ErrSetupDone", err)
		}
		if resp, _ := b.get(link); resp.StatusCode != http.StatusGone {
			t.Errorf("GET setup link after setup = %d, want 410", resp.StatusCode)
		}

		// A wrong password is refused by the IdP's form.
		authURL := b.startLogin("admin@example.com")
		resp, body = b.get(authURL)
		action, hidden := parseForm(t, body)
		hidden.Set("email", "admin@example.com")
		hidden.Set("password", "not the password")
		if resp, _ := b.postForm(resp.Request.URL.ResolveReference(&url.URL{Path: action}).String(), hidden); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("IdP login with a wrong password = %d, want 401", resp.StatusCode)
		}

		me := b.loginBuiltin("admin@example.com", adminPassword)
		if !me.User.PlatformAdmin || me.User.Email != "admin@example.com" || me.Via != web.ViaSession || me.CSRFToken == "" {
			t.Errorf("me = %+v, want the platform admin on a session with a CSRF token", me)
		}
		if me.Org != nil || len(me.Memberships) != 0 {
			t.Errorf("me.Org = %v, memberships %v, want none", me.Org, me.Memberships)
		}

		// Secrets never reach the log.
		logs := e.logs.String()
		token := strings.TrimPrefix(link, e.url+web.SetupPath+"?token=")
		for name, s := range map[string]string{"setup token": token, "password": adminPassword,
			"session cookie": b.sessionCookie(), "csrf token": me.CSRFToken} {
			if s == "" || strings.Contains(logs, s) {
				t.Errorf("log holds the %s (or it is empty)", name)
			}
		}
	})
}

// TestSetupRace: 50 concurrent posts of one setup link create exactly one
// platform admin.
func TestSetupRace(t *testing.T) {
	eachBackend(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL, options{})
		link, err := e.a.SetupLink(context.Background())
		if err != nil {
			t.Fatalf("SetupLink() = %v", err)
		}
		fields := e.browser().setupForm(link)
		const racers = 50
		codes := make([]int, racers)
		var wg sync.WaitGroup
		for i := range racers {
			b := e.browser()
			wg.Go(func() {
				resp, _ := b.postForm(web.SetupPath, setupFields(fields, fmt.Sprintf("admin%d@example.com", i), adminPassword))
				codes[i] = resp.StatusCode
			})
		}
		wg.Wait()
		wins := 0
		for _, c := range codes {
			switch c {
			case http.StatusOK:
				wins++
			case http.StatusForbidden, http.StatusGone:
			default:
				t.Errorf("POST setup = %d, want 200, 403 or 410", c)
			}
		}
		if wins != 1 {
			t.Errorf("successful setups = %d, want 1", wins)
		}
		if n, err := e.s.CountPlatformAdmins(context.Background()); err != nil || n != 1 {
			t.Errorf("CountPlatformAdmins() = %d, %v, want 1", n, err)
		}
		if us, err := e.s.ListUsers(context.Background()); err != nil || len(us) != 1 {
			t.Errorf("ListUsers() = %d users, %v, want 1", len(us), err)
		}
	})
}

// TestSetupRefusals: expired and forged links, bad input.
func TestSetupRefusals(t *testing.T) {
	eachBackend(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL, options{})
		link, err := e.a.SetupLink(context.Background())
		if err != nil {
			t.Fatalf("SetupLink() = %v", err)
		}
		b := e.browser()
		fields := b.setupForm(link)
		forged := url.Values{"token": {strings.Repeat("A", 43)}}
		tests := []struct {
			name string
			form url.Values
			want int
		}{
			{"short password", setupFields(fields, "a@example.com", "short"), http.StatusBadRequest},
			{"bad email", setupFields(fields, "not-an-email", adminPassword), http.StatusBadRequest},
			{"lookalike email", setupFields(fields, "a@example.com.", adminPassword), http.StatusBadRequest},
			{"unknown field", func() url.Values {
				f := setupFields(fields, "a@example.com", adminPassword)
				f.Set("platform_admin", "false")
				return f
			}(), http.StatusBadRequest},
			{"mismatched confirmation", func() url.Values {
				f := setupFields(fields, "a@example.com", adminPassword)
				f.Set("password_confirm", adminPassword+"!")
				return f
			}(), http.StatusBadRequest},
			{"forged token", setupFields(forged, "a@example.com", adminPassword), http.StatusForbidden},
		}
		for _, tc := range tests {
			if resp, body := b.postForm(web.SetupPath, tc.form); resp.StatusCode != tc.want {
				t.Errorf("%s: POST setup = %d, want %d: %s", tc.name, resp.StatusCode, tc.want, body)
			}
		}
		if resp, _ := b.get(web.SetupPath + "?token=%3Cscript%3E"); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("GET setup with a malformed token = %d, want 400", resp.StatusCode)
		}

		// Bad input did not spend the link; time does.
		e.clock.Advance(web.SetupTTL + time.Second)
		if resp, _ := b.postForm(web.SetupPath, setupFields(fields, "a@example.com", adminPassword)); resp.StatusCode != http.StatusForbidden {
			t.Errorf("POST setup with an expired link = %d, want 403", resp.StatusCode)
		}
		if n, _ := e.s.CountPlatformAdmins(context.Background()); n != 0 {
			t.Errorf("CountPlatformAdmins() = %d, want 0", n)
		}
	})
}
