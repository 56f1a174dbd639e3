package auth_test

import (
	"context"
	"net/url"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/oauth2-proxy/mockoidc"

	"github.com/warrenhq/warren/controlplane/auth"
)

func TestLoginBuiltinIdP(t *testing.T) {
	users := localUsers{"alice@example.com": newLocalUser(t, "u-alice", "alice@example.com", "Alice Liddell", "correct horse")}
	b := startBuiltin(t, "org-a", users, "example.com")
	rp := auth.New(auth.Config{IdPs: idpTable{}.add(b.idp)})
	ctx := context.Background()

	authURL, err := rp.Begin(ctx, "Alice@Example.COM", callbackURL)
	if err != nil {
		t.Fatalf("Begin() = %v", err)
	}
	checkAuthURL(t, authURL, b.idp.Issuer+"/authorize")
	state, code := callback(t, newBrowser(t).signIn(authURL, "alice@example.com", "correct horse"))

	got, err := rp.Finish(ctx, state, code)
	if err != nil {
		t.Fatalf("Finish() = %v", err)
	}
	want := auth.Identity{Issuer: b.idp.Issuer, Subject: "u-alice", Email: "alice@example.com", Name: "Alice Liddell", OrgID: "org-a"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Finish() identity mismatch (-want +got):\n%s", diff)
	}

	// The state is single use: the same callback replayed is refused.
	_, err = rp.Finish(ctx, state, code)
	wantReason(t, err, auth.ReasonUnknownState)

	// The code is single use: a fresh login presenting the old code fails at
	// the built-in IdP's token endpoint.
	authURL2, err := rp.Begin(ctx, "alice@example.com", callbackURL)
	if err != nil {
		t.Fatalf("Begin() = %v", err)
	}
	_, err = rp.Finish(ctx, stateOf(t, authURL2), code)
	wantReason(t, err, auth.ReasonCodeExchangeFailed)
}

// checkAuthURL checks the authorization request carries PKCE S256, state and
// nonce and goes to the IdP's endpoint.
func checkAuthURL(t *testing.T, authURL, endpoint string) {
	t.Helper()
	u, err := url.Parse(authURL)
	if err != nil {
		t.Fatalf("auth URL %q: %v", authURL, err)
	}
	if got := u.Scheme + "://" + u.Host + u.Path; got != endpoint {
		t.Errorf("auth URL endpoint = %s, want %s", got, endpoint)
	}
	q := u.Query()
	for k, want := range map[string]string{"response_type": "code", "code_challenge_method": "S256", "redirect_uri": callbackURL} {
		if got := q.Get(k); got != want {
			t.Errorf("auth URL %s = %q, want %q", k, got, want)
		}
	}
	for _, k := range []string{"state", "nonce", "code_challenge", "client_id"} {
		if len(q.Get(k)) < 20 && k != "client_id" || q.Get(k) == "" {
			t.Errorf("auth URL %s = %q, want a random value", k, q.Get(k))
		}
	}
}

func stateOf(t *testing.T, authURL string) string {
	t.Helper()
	u, err := url.Parse(authURL)
	if err != nil {
		t.Fatalf("auth URL %q: %v", authURL, err)
	}
	return u.Query().Get("state")
}

// startMockOIDC runs github.com/oauth2-proxy/mockoidc, an OIDC provider
// independent of ours, and returns it configured as orgID's IdP.
func startMockOIDC(t *testing.T, orgID string, domains ...string) (*mockoidc.MockOIDC, auth.IdPConfig) {
	t.Helper()
	m, err := mockoidc.Run()
	if err != nil {
		t.Fatalf("mockoidc.Run() = %v", err)
	}
	t.Cleanup(func() { m.Shutdown() })
	return m, auth.IdPConfig{
		OrgID:        orgID,
		Issuer:       m.Issuer(),
		ClientID:     m.ClientID,
		ClientSecret: m.ClientSecret,
		Domains:      domains,
		GroupClaim:   "groups",
		Scopes:       []string{"groups"},
	}
}

// mockLogin runs a login through mockoidc, which authenticates whichever
// user was queued, and returns the callback's state and code.
func mockLogin(t *testing.T, rp *auth.RelyingParty, email string) (string, string) {
	t.Helper()
	authURL, err := rp.Begin(context.Background(), email, callbackURL)
	if err != nil {
		t.Fatalf("Begin(%q) = %v", email, err)
	}
	resp, body := newBrowser(t).get(authURL)
	loc, err := resp.Location()
	if err != nil {
		t.Fatalf("mockoidc authorize = %d %s: %v", resp.StatusCode, body, err)
	}
	return callback(t, loc)
}

func TestLoginMockOIDC(t *testing.T) {
	m, cfg := startMockOIDC(t, "org-b", "corp.test")
	rp := auth.New(auth.Config{IdPs: idpTable{}.add(cfg)})

	m.QueueUser(&mockoidc.MockUser{Subject: "carol-1", Email: "Carol@Corp.Test", EmailVerified: true, Groups: []string{"ops", "dba"}})
	state, code := mockLogin(t, rp, "carol@corp.test")
	got, err := rp.Finish(context.Background(), state, code)
	if err != nil {
		t.Fatalf("Finish() = %v", err)
	}
	want := auth.Identity{Issuer: m.Issuer(), Subject: "carol-1", Email: "carol@corp.test", Groups: []string{"ops", "dba"}, OrgID: "org-b"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Finish() identity mismatch (-want +got):\n%s", diff)
	}

	// mockoidc omits email_verified when it is false: missing is refused.
	m.QueueUser(&mockoidc.MockUser{Subject: "carol-2", Email: "dave@corp.test", EmailVerified: false})
	state, code = mockLogin(t, rp, "dave@corp.test")
	_, err = rp.Finish(context.Background(), state, code)
	wantReason(t, err, auth.ReasonEmailNotVerified)
}

// TestTwoOrgsByDomain runs two organizations on two IdPs, found by the
// domain of the email the user types.
func TestTwoOrgsByDomain(t *testing.T) {
	users := localUsers{"alice@example.com": newLocalUser(t, "u-alice", "alice@example.com", "Alice", "pw-alice")}
	b := startBuiltin(t, "org-a", users, "example.com")
	m, mcfg := startMockOIDC(t, "org-b", "corp.test")
	rp := auth.New(auth.Config{IdPs: idpTable{}.add(b.idp).add(mcfg)})
	ctx := context.Background()

	authURL, err := rp.Begin(ctx, "alice@example.com", callbackURL)
	if err != nil {
		t.Fatalf("Begin(alice) = %v", err)
	}
	checkAuthURL(t, authURL, b.idp.Issuer+"/authorize")
	state, code := callback(t, newBrowser(t).signIn(authURL, "alice@example.com", "pw-alice"))
	alice, err := rp.Finish(ctx, state, code)
	if err != nil {
		t.Fatalf("Finish(alice) = %v", err)
	}
	if alice.OrgID != "org-a" || alice.Issuer != b.idp.Issuer {
		t.Errorf("alice = %+v, want org-a at %s", alice, b.idp.Issuer)
	}

	m.QueueUser(&mockoidc.MockUser{Subject: "carol-1", Email: "carol@corp.test", EmailVerified: true})
	authURL, err = rp.Begin(ctx, "carol@corp.test", callbackURL)
	if err != nil {
		t.Fatalf("Begin(carol) = %v", err)
	}
	checkAuthURL(t, authURL, m.AuthorizationEndpoint())
	state, code = mockLogin(t, rp, "carol@corp.test")
	carol, err := rp.Finish(ctx, state, code)
	if err != nil {
		t.Fatalf("Finish(carol) = %v", err)
	}
	if carol.OrgID != "org-b" || carol.Issuer != m.Issuer() {
		t.Errorf("carol = %+v, want org-b at %s", carol, m.Issuer())
	}

	// org-b's IdP cannot vouch for an address in org-a's domain.
	m.QueueUser(&mockoidc.MockUser{Subject: "mallory", Email: "alice@example.com", EmailVerified: true})
	state, code = mockLogin(t, rp, "mallory@corp.test")
	_, err = rp.Finish(ctx, state, code)
	wantReason(t, err, auth.ReasonDomainNotAllowed)

	// A domain nobody configured.
	_, err = rp.Begin(ctx, "eve@elsewhere.test", callbackURL)
	wantReason(t, err, auth.ReasonNoIdPForDomain)
}

// TestStateSingleUseUnderRace: 50 callbacks racing with one state and code
// produce exactly one identity.
func TestStateSingleUseUnderRace(t *testing.T) {
	users := localUsers{"alice@example.com": newLocalUser(t, "u-alice", "alice@example.com", "Alice", "pw")}
	b := startBuiltin(t, "org-a", users, "example.com")
	rp := auth.New(auth.Config{IdPs: idpTable{}.add(b.idp)})
	authURL, err := rp.Begin(context.Background(), "alice@example.com", callbackURL)
	if err != nil {
		t.Fatalf("Begin() = %v", err)
	}
	state, code := callback(t, newBrowser(t).signIn(authURL, "alice@example.com", "pw"))

	const racers = 50
	var wg sync.WaitGroup
	errs := make([]error, racers)
	for i := range racers {
		wg.Go(func() { _, errs[i] = rp.Finish(context.Background(), state, code) })
	}
	wg.Wait()
	wins := 0
	for _, err := range errs {
		switch auth.ReasonOf(err) {
		case "":
			if err != nil {
				t.Errorf("Finish() internal error = %v", err)
				continue
			}
			wins++
		case auth.ReasonUnknownState:
		default:
			t.Errorf("Finish() = %v, want success or unknown_state", err)
		}
	}
	if wins != 1 {
		t.Errorf("winners = %d, want 1", wins)
	}
}
