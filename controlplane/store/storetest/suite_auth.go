package storetest

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/warrenhq/warren/controlplane/store"
)

func testSetupToken(t *testing.T, newURL func(testing.TB) string) {
	s := Open(t, newURL(t))
	ctx := t.Context()
	expires := msNow().Add(time.Hour)
	h := hashOf("setup")
	if err := s.CreateSetupToken(ctx, h, expires); err != nil {
		t.Fatalf("CreateSetupToken() = %v", err)
	}
	wantConflict(t, "CreateSetupToken(again)", s.CreateSetupToken(ctx, h, expires), "setup_tokens", "token_hash")
	wantInvalid(t, "CreateSetupToken(short hash)", s.CreateSetupToken(ctx, []byte("x"), expires), "hash")
	wantInvalid(t, "CreateSetupToken(no expiry)", s.CreateSetupToken(ctx, hashOf("y"), time.Time{}), "expires_at")

	wantErr(t, "ConsumeSetupToken(unknown)", s.ConsumeSetupToken(ctx, hashOf("other"), msNow()), store.ErrNotFound)
	wantErr(t, "ConsumeSetupToken(at expiry)", s.ConsumeSetupToken(ctx, h, expires), store.ErrNotFound)
	if err := s.ConsumeSetupToken(ctx, h, expires.Add(-time.Millisecond)); err != nil {
		t.Fatalf("ConsumeSetupToken() = %v", err)
	}
	wantErr(t, "ConsumeSetupToken(used)", s.ConsumeSetupToken(ctx, h, msNow()), store.ErrNotFound)
}

// testSetupTokenRace: 50 racers for one setup token; exactly one wins.
func testSetupTokenRace(t *testing.T, newURL func(testing.TB) string) {
	const racers = 50
	s := Open(t, newURL(t))
	ctx := t.Context()
	h := hashOf("race")
	if err := s.CreateSetupToken(ctx, h, msNow().Add(time.Hour)); err != nil {
		t.Fatalf("CreateSetupToken() = %v", err)
	}
	errs := make([]error, racers)
	var wg sync.WaitGroup
	for i := range racers {
		wg.Go(func() { errs[i] = s.ConsumeSetupToken(ctx, h, msNow()) })
	}
	wg.Wait()
	wins := 0
	for i, err := range errs {
		switch {
		case err == nil:
			wins++
		case !errors.Is(err, store.ErrNotFound):
			t.Errorf("racer %d: ConsumeSetupToken() = %v, want nil or ErrNotFound", i, err)
		}
	}
	if wins != 1 {
		t.Errorf("%d racers consumed the setup token, want exactly 1", wins)
	}
}

func testSessions(t *testing.T, newURL func(testing.TB) string) {
	s := Open(t, newURL(t))
	ctx := t.Context()
	a, b := mustOrg(t, s, "a"), mustOrg(t, s, "b")
	alice, bob := mustUser(t, s, "alice"), mustUser(t, s, "bob")
	expires := msNow().Add(time.Hour)
	h := hashOf("cookie")
	ses, err := s.CreateSession(ctx, store.Session{TokenHash: h, UserID: alice.ID, OrgID: a.ID, CSRFToken: "csrf-1",
		ExpiresAt: expires, SourceIP: "192.0.2.1", UserAgent: strings.Repeat("ü", 300)})
	if err != nil {
		t.Fatalf("CreateSession() = %v", err)
	}
	if ses.ID[:4] != "ses_" || ses.CreatedAt.IsZero() || !ses.LastSeenAt.Equal(ses.CreatedAt) || len(ses.UserAgent) != 512 {
		t.Errorf("CreateSession() = %+v, want a ses_ ID, LastSeenAt = CreatedAt, user agent cut to 512 bytes", ses)
	}
	got, err := s.GetSessionByHash(ctx, h, msNow())
	if err != nil {
		t.Fatalf("GetSessionByHash() = %v", err)
	}
	equal(t, "GetSessionByHash()", got, ses)
	for name, hash := range map[string][]byte{"unknown": hashOf("nope"), "nil": nil} {
		_, err := s.GetSessionByHash(ctx, hash, msNow())
		wantErr(t, "GetSessionByHash("+name+")", err, store.ErrNotFound)
	}
	_, err = s.GetSessionByHash(ctx, h, expires)
	wantErr(t, "GetSessionByHash(at expiry)", err, store.ErrNotFound)

	seen := msNow().Add(time.Minute)
	if err := s.TouchSession(ctx, ses.ID, seen); err != nil {
		t.Fatalf("TouchSession() = %v", err)
	}
	if got, _ := s.GetSessionByHash(ctx, h, msNow()); !got.LastSeenAt.Equal(seen) {
		t.Errorf("LastSeenAt after TouchSession = %v, want %v", got.LastSeenAt, seen)
	}
	wantErr(t, "TouchSession(unknown)", s.TouchSession(ctx, "nope", seen), store.ErrNotFound)
	if err := s.SetSessionOrg(ctx, ses.ID, b.ID); err != nil {
		t.Fatalf("SetSessionOrg() = %v", err)
	}
	if got, _ := s.GetSessionByHash(ctx, h, msNow()); got.OrgID != b.ID {
		t.Errorf("OrgID after SetSessionOrg = %q, want %s", got.OrgID, b.ID)
	}
	wantErr(t, "SetSessionOrg(unknown org)", s.SetSessionOrg(ctx, ses.ID, "nope"), store.ErrNotFound)
	wantErr(t, "SetSessionOrg(unknown session)", s.SetSessionOrg(ctx, "nope", b.ID), store.ErrNotFound)
	if err := s.SetSessionOrg(ctx, ses.ID, ""); err != nil {
		t.Fatalf("SetSessionOrg(none) = %v", err)
	}
	if got, _ := s.GetSessionByHash(ctx, h, msNow()); got.OrgID != "" {
		t.Errorf("OrgID after SetSessionOrg(none) = %q, want none", got.OrgID)
	}

	base := store.Session{TokenHash: hashOf("other"), UserID: alice.ID, CSRFToken: "c", ExpiresAt: expires}
	dup := base
	dup.TokenHash = h
	_, err = s.CreateSession(ctx, dup)
	wantConflict(t, "CreateSession(duplicate hash)", err, "sessions", "token_hash")
	unknown := base
	unknown.UserID = "nope"
	_, err = s.CreateSession(ctx, unknown)
	wantErr(t, "CreateSession(unknown user)", err, store.ErrNotFound)
	for field, modify := range map[string]func(*store.Session){
		"token_hash": func(s *store.Session) { s.TokenHash = []byte("short") },
		"user_id":    func(s *store.Session) { s.UserID = "" },
		"csrf_token": func(s *store.Session) { s.CSRFToken = "" },
		"expires_at": func(s *store.Session) { s.ExpiresAt = time.Time{} },
	} {
		bad := base
		modify(&bad)
		_, err := s.CreateSession(ctx, bad)
		wantInvalid(t, "CreateSession(bad "+field+")", err, field)
	}

	// Disabling the user stops the session at once.
	if err := s.SetUserDisabled(ctx, alice.ID, true); err != nil {
		t.Fatalf("SetUserDisabled() = %v", err)
	}
	_, err = s.GetSessionByHash(ctx, h, msNow())
	wantErr(t, "GetSessionByHash(disabled user)", err, store.ErrNotFound)
	if err := s.SetUserDisabled(ctx, alice.ID, false); err != nil {
		t.Fatalf("SetUserDisabled(false) = %v", err)
	}
	if _, err := s.GetSessionByHash(ctx, h, msNow()); err != nil {
		t.Errorf("GetSessionByHash(re-enabled user) = %v", err)
	}

	if err := s.RevokeSession(ctx, ses.ID); err != nil {
		t.Fatalf("RevokeSession() = %v", err)
	}
	_, err = s.GetSessionByHash(ctx, h, msNow())
	wantErr(t, "GetSessionByHash(revoked)", err, store.ErrNotFound)
	if err := s.RevokeSession(ctx, ses.ID); err != nil {
		t.Errorf("RevokeSession(again) = %v, want nil", err)
	}
	wantErr(t, "RevokeSession(unknown)", s.RevokeSession(ctx, "nope"), store.ErrNotFound)

	// Log out everywhere.
	var hashes [][]byte
	for i := range 3 {
		hashes = append(hashes, hashOf("bob-"+string(rune('a'+i))))
		if _, err := s.CreateSession(ctx, store.Session{TokenHash: hashes[i], UserID: bob.ID, CSRFToken: "c", ExpiresAt: expires}); err != nil {
			t.Fatalf("CreateSession(bob) = %v", err)
		}
	}
	first, _ := s.GetSessionByHash(ctx, hashes[0], msNow())
	if err := s.RevokeSession(ctx, first.ID); err != nil {
		t.Fatalf("RevokeSession() = %v", err)
	}
	if n, err := s.RevokeUserSessions(ctx, bob.ID); err != nil || n != 2 {
		t.Errorf("RevokeUserSessions() = %d, %v, want 2", n, err)
	}
	for _, h := range hashes {
		_, err := s.GetSessionByHash(ctx, h, msNow())
		wantErr(t, "GetSessionByHash(after RevokeUserSessions)", err, store.ErrNotFound)
	}
}

func testAPITokens(t *testing.T, newURL func(testing.TB) string) {
	s := Open(t, newURL(t))
	ctx := t.Context()
	a, b := mustOrg(t, s, "a"), mustOrg(t, s, "b")
	alice, bob := mustUser(t, s, "alice"), mustUser(t, s, "bob")
	mustMember(t, s, a.ID, alice.ID, store.RoleMember)
	mustMember(t, s, b.ID, bob.ID, store.RoleAdmin)

	h1, h2 := hashOf("pat-1"), hashOf("pat-2")
	created := msNow().Add(-time.Hour)
	tok, err := s.CreateAPIToken(ctx, store.APIToken{TokenHash: h1, UserID: alice.ID, OrgID: a.ID, Name: "ci", CreatedAt: created})
	if err != nil {
		t.Fatalf("CreateAPIToken() = %v", err)
	}
	equal(t, "CreateAPIToken()", tok, store.APIToken{ID: tok.ID, TokenHash: h1, UserID: alice.ID, OrgID: a.ID, Name: "ci", CreatedAt: created})
	if tok.ID[:4] != "pat_" {
		t.Errorf("CreateAPIToken().ID = %q, want a pat_ ID", tok.ID)
	}
	expires := msNow().Add(time.Hour)
	tok2, err := s.CreateAPIToken(ctx, store.APIToken{TokenHash: h2, UserID: alice.ID, OrgID: a.ID, Name: "laptop", ExpiresAt: expires})
	if err != nil {
		t.Fatalf("CreateAPIToken(expiring) = %v", err)
	}
	if got, err := s.GetAPITokenByHash(ctx, h1, msNow().AddDate(10, 0, 0)); err != nil || got.ID != tok.ID {
		t.Errorf("GetAPITokenByHash(no expiry, in 10 years) = %+v, %v, want %s", got, err, tok.ID)
	}
	if got, err := s.GetAPITokenByHash(ctx, h2, msNow()); err != nil {
		t.Errorf("GetAPITokenByHash() = %v", err)
	} else {
		equal(t, "GetAPITokenByHash()", got, tok2)
	}
	_, err = s.GetAPITokenByHash(ctx, h2, expires)
	wantErr(t, "GetAPITokenByHash(at expiry)", err, store.ErrNotFound)
	_, err = s.GetAPITokenByHash(ctx, hashOf("nope"), msNow())
	wantErr(t, "GetAPITokenByHash(unknown)", err, store.ErrNotFound)

	_, err = s.CreateAPIToken(ctx, store.APIToken{TokenHash: hashOf("x"), UserID: alice.ID, OrgID: b.ID, Name: "x"})
	wantErr(t, "CreateAPIToken(org the user is not in)", err, store.ErrNotFound)
	_, err = s.CreateAPIToken(ctx, store.APIToken{TokenHash: h1, UserID: bob.ID, OrgID: b.ID, Name: "x"})
	wantConflict(t, "CreateAPIToken(duplicate hash)", err, "api_tokens", "token_hash")
	_, err = s.CreateAPIToken(ctx, store.APIToken{TokenHash: hashOf("y"), UserID: bob.ID, OrgID: b.ID})
	wantInvalid(t, "CreateAPIToken(no name)", err, "name")
	_, err = s.CreateAPIToken(ctx, store.APIToken{TokenHash: []byte("short"), UserID: bob.ID, OrgID: b.ID, Name: "x"})
	wantInvalid(t, "CreateAPIToken(short hash)", err, "token_hash")

	list, err := s.ListAPITokens(ctx, a.ID, "")
	if err != nil {
		t.Fatalf("ListAPITokens() = %v", err)
	}
	equal(t, "ListAPITokens(a)", list, []store.APIToken{tok2, tok})
	if got, _ := s.ListAPITokens(ctx, a.ID, bob.ID); len(got) != 0 {
		t.Errorf("ListAPITokens(a, bob) = %+v, want none", got)
	}
	if got, _ := s.ListAPITokens(ctx, b.ID, ""); len(got) != 0 {
		t.Errorf("ListAPITokens(b) = %+v, want none", got)
	}

	used := msNow()
	if err := s.TouchAPIToken(ctx, tok.ID, used); err != nil {
		t.Fatalf("TouchAPIToken() = %v", err)
	}
	if got, _ := s.GetAPITokenByHash(ctx, h1, msNow()); !got.LastUsedAt.Equal(used) {
		t.Errorf("LastUsedAt = %v, want %v", got.LastUsedAt, used)
	}
	wantErr(t, "TouchAPIToken(unknown)", s.TouchAPIToken(ctx, "nope", used), store.ErrNotFound)

	if err := s.SetUserDisabled(ctx, alice.ID, true); err != nil {
		t.Fatalf("SetUserDisabled() = %v", err)
	}
	_, err = s.GetAPITokenByHash(ctx, h1, msNow())
	wantErr(t, "GetAPITokenByHash(disabled user)", err, store.ErrNotFound)
	if err := s.SetUserDisabled(ctx, alice.ID, false); err != nil {
		t.Fatalf("SetUserDisabled(false) = %v", err)
	}

	wantErr(t, "RevokeAPIToken(another org)", s.RevokeAPIToken(ctx, b.ID, tok.ID), store.ErrNotFound)
	if err := s.RevokeAPIToken(ctx, a.ID, tok.ID); err != nil {
		t.Fatalf("RevokeAPIToken() = %v", err)
	}
	_, err = s.GetAPITokenByHash(ctx, h1, msNow())
	wantErr(t, "GetAPITokenByHash(revoked)", err, store.ErrNotFound)
	if list, _ := s.ListAPITokens(ctx, a.ID, alice.ID); len(list) != 2 || list[1].RevokedAt.IsZero() {
		t.Errorf("ListAPITokens() after revoking = %+v, want both, one revoked", list)
	}

	// Leaving the org ends the user's tokens there.
	if err := s.RemoveMember(ctx, a.ID, alice.ID); err != nil {
		t.Fatalf("RemoveMember() = %v", err)
	}
	_, err = s.GetAPITokenByHash(ctx, h2, msNow())
	wantErr(t, "GetAPITokenByHash(after leaving the org)", err, store.ErrNotFound)
	if list, _ := s.ListAPITokens(ctx, a.ID, ""); len(list) != 0 {
		t.Errorf("ListAPITokens() after leaving = %+v, want none", list)
	}
}
