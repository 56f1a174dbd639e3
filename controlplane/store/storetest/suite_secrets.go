package storetest

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/warrenhq/warren/controlplane/store"
)

func testCredentials(t *testing.T, newURL func(testing.TB) string) {
	s := Open(t, newURL(t))
	ctx := t.Context()
	a, b := newOrgFixture(t, s, "a"), newOrgFixture(t, s, "b")
	id := store.NewCredentialID()
	c, err := s.CreateCredential(ctx, store.Credential{ID: id, OrgID: a.org.ID, ScopeType: store.ScopeService,
		ScopeID: a.service.ID, Name: "admin", Username: "administrator", Kind: store.KindPassword,
		Sealed: []byte("sealed-1"), KEKID: "kek-1"})
	if err != nil {
		t.Fatalf("CreateCredential() = %v", err)
	}
	if c.ID != id || id[:5] != "cred_" || c.Version != 1 || c.CreatedAt.IsZero() || !c.UpdatedAt.Equal(c.CreatedAt) {
		t.Errorf("CreateCredential() = %+v, want ID %s, version 1, timestamps set", c, id)
	}
	got, err := s.GetCredential(ctx, a.org.ID, id)
	if err != nil {
		t.Fatalf("GetCredential() = %v", err)
	}
	equal(t, "GetCredential()", got, c)
	_, err = s.GetCredential(ctx, b.org.ID, id)
	wantErr(t, "GetCredential(another org)", err, store.ErrNotFound)
	list, err := s.ListCredentials(ctx, a.org.ID)
	if err != nil {
		t.Fatalf("ListCredentials() = %v", err)
	}
	equal(t, "ListCredentials()", list, []store.Credential{a.folderCred, c, a.cred})

	base := store.Credential{OrgID: a.org.ID, ScopeType: store.ScopeService, ScopeID: a.service.ID, Name: "other",
		Kind: store.KindPassword, Sealed: []byte("x"), KEKID: "kek-1"}
	dup := base
	dup.Name = "admin"
	_, err = s.CreateCredential(ctx, dup)
	wantConflict(t, "CreateCredential(duplicate name)", err, "credentials", "name")
	cases := []struct {
		field  string
		modify func(*store.Credential)
	}{
		{"scope_type", func(c *store.Credential) { c.ScopeType = "device" }},
		{"scope_id", func(c *store.Credential) { c.ScopeID = "" }},
		{"kind", func(c *store.Credential) { c.Kind = "token" }},
		{"sealed", func(c *store.Credential) { c.Sealed = nil }},
		{"kek_id", func(c *store.Credential) { c.KEKID = "" }},
		{"name", func(c *store.Credential) { c.Name = "" }},
		{"username", func(c *store.Credential) { c.Username = strings.Repeat("u", 257) }},
	}
	for _, tc := range cases {
		bad := base
		tc.modify(&bad)
		_, err := s.CreateCredential(ctx, bad)
		wantInvalid(t, "CreateCredential(bad "+tc.field+")", err, tc.field)
	}
	for name, scope := range map[string][2]string{
		"service of another org": {store.ScopeService, b.service.ID},
		"folder of another org":  {store.ScopeFolder, b.folder.ID},
		"unknown service":        {store.ScopeService, "nope"},
		"unknown folder":         {store.ScopeFolder, "nope"},
	} {
		bad := base
		bad.ScopeType, bad.ScopeID = scope[0], scope[1]
		_, err := s.CreateCredential(ctx, bad)
		wantErr(t, "CreateCredential("+name+")", err, store.ErrNotFound)
	}

	// KEK rotation: optimistic on the version.
	if err := s.UpdateCredentialSealed(ctx, id, []byte("sealed-2"), "kek-2", 1); err != nil {
		t.Fatalf("UpdateCredentialSealed() = %v", err)
	}
	got, _ = s.GetCredential(ctx, a.org.ID, id)
	if got.Version != 2 || got.KEKID != "kek-2" || string(got.Sealed) != "sealed-2" || got.UpdatedAt.Before(c.UpdatedAt) {
		t.Errorf("after UpdateCredentialSealed: %+v, want version 2 under kek-2", got)
	}
	wantConflict(t, "UpdateCredentialSealed(stale version)",
		s.UpdateCredentialSealed(ctx, id, []byte("sealed-3"), "kek-3", 1), "credentials", "version")
	wantErr(t, "UpdateCredentialSealed(unknown)", s.UpdateCredentialSealed(ctx, "nope", []byte("x"), "k", 1), store.ErrNotFound)
	wantInvalid(t, "UpdateCredentialSealed(empty)", s.UpdateCredentialSealed(ctx, id, nil, "k", 2), "sealed")
	const racers = 10
	errs := make([]error, racers)
	var wg sync.WaitGroup
	for i := range racers {
		wg.Go(func() { errs[i] = s.UpdateCredentialSealed(ctx, id, []byte{byte(i)}, "kek-race", 2) })
	}
	wg.Wait()
	wins := 0
	for i, err := range errs {
		switch {
		case err == nil:
			wins++
		case !errors.Is(err, store.ErrConflict):
			t.Errorf("racer %d: UpdateCredentialSealed() = %v, want nil or ErrConflict", i, err)
		}
	}
	if wins != 1 {
		t.Errorf("%d racers updated version 2, want exactly 1", wins)
	}

	all, err := s.ListAllCredentials(ctx)
	if err != nil || len(all) != 5 {
		t.Errorf("ListAllCredentials() = %d credentials, %v, want 5 (both orgs)", len(all), err)
	}
	wantErr(t, "DeleteCredential(another org)", s.DeleteCredential(ctx, b.org.ID, id), store.ErrNotFound)
	if err := s.DeleteCredential(ctx, a.org.ID, id); err != nil {
		t.Fatalf("DeleteCredential() = %v", err)
	}
	wantErr(t, "DeleteCredential(again)", s.DeleteCredential(ctx, a.org.ID, id), store.ErrNotFound)
	// A service's credentials go with it.
	if err := s.DeleteService(ctx, a.device.ID, "ssh"); err != nil {
		t.Fatalf("DeleteService() = %v", err)
	}
	_, err = s.GetCredential(ctx, a.org.ID, a.cred.ID)
	wantErr(t, "GetCredential(of a deleted service)", err, store.ErrNotFound)
}

func testIdPs(t *testing.T, newURL func(testing.TB) string) {
	s := Open(t, newURL(t))
	ctx := t.Context()
	a, b := mustOrg(t, s, "a"), mustOrg(t, s, "b")
	p, err := s.CreateIdP(ctx, store.IdP{ID: store.NewIdPID(), OrgID: a.ID, Name: "Okta", Issuer: "https://a.okta.example",
		ClientID: "warren", ClientSecretSealed: []byte("sealed"), KEKID: "kek-1",
		Domains: []string{"Example.COM", "corp.example.com", " example.com"}, GroupClaim: "groups"})
	if err != nil {
		t.Fatalf("CreateIdP() = %v", err)
	}
	if p.ID[:4] != "idp_" || p.Version != 1 || p.CreatedAt.IsZero() {
		t.Errorf("CreateIdP() = %+v, want an idp_ ID, version 1, CreatedAt", p)
	}
	equal(t, "CreateIdP().Domains", p.Domains, []string{"corp.example.com", "example.com"})
	got, err := s.GetIdP(ctx, a.ID, p.ID)
	if err != nil {
		t.Fatalf("GetIdP() = %v", err)
	}
	equal(t, "GetIdP()", got, p)
	_, err = s.GetIdP(ctx, b.ID, p.ID)
	wantErr(t, "GetIdP(another org)", err, store.ErrNotFound)

	if got, err := s.FindIdPByDomain(ctx, "EXAMPLE.com"); err != nil {
		t.Errorf("FindIdPByDomain() = %v", err)
	} else {
		equal(t, "FindIdPByDomain()", got, p)
	}
	for _, d := range []string{"evil-example.com", "example.com.attacker.net", "sub.example.com", "example.com.", "com", "", "ex ample.com"} {
		_, err := s.FindIdPByDomain(ctx, d)
		wantErr(t, "FindIdPByDomain("+d+")", err, store.ErrNotFound)
	}

	_, err = s.CreateIdP(ctx, store.IdP{OrgID: b.ID, Name: "Thief", Issuer: "https://b.example", ClientID: "x",
		Domains: []string{"b.example", "example.com"}})
	wantConflict(t, "CreateIdP(domain of another org's IdP)", err, "idp_domains", "domain")
	if ps, _ := s.ListIdPs(ctx, b.ID); len(ps) != 0 {
		t.Errorf("ListIdPs(b) after a failed create = %+v, want none", ps)
	}
	if _, err := s.FindIdPByDomain(ctx, "b.example"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("FindIdPByDomain(domain of a failed create) = %v, want ErrNotFound", err)
	}
	for _, d := range []string{"exa mple.com", "-a.com", "a..com", "example.com.", "a_b.com", strings.Repeat("a", 64) + ".com"} {
		_, err := s.CreateIdP(ctx, store.IdP{OrgID: b.ID, Name: "Bad", Issuer: "https://b.example", ClientID: "x", Domains: []string{d}})
		wantInvalid(t, "CreateIdP(domain "+d+")", err, "domains")
	}
	_, err = s.CreateIdP(ctx, store.IdP{OrgID: b.ID, Name: "Bad", Issuer: "https://b.example", ClientID: "x", ClientSecretSealed: []byte("s")})
	wantInvalid(t, "CreateIdP(secret without KEK)", err, "kek_id")
	_, err = s.CreateIdP(ctx, store.IdP{OrgID: b.ID, Name: "Bad", ClientID: "x"})
	wantInvalid(t, "CreateIdP(no issuer)", err, "issuer")
	_, err = s.CreateIdP(ctx, store.IdP{OrgID: "nope", Name: "Bad", Issuer: "https://b.example", ClientID: "x"})
	wantErr(t, "CreateIdP(unknown org)", err, store.ErrNotFound)
	_, err = s.CreateIdP(ctx, store.IdP{OrgID: a.ID, Name: "Okta", Issuer: "https://b.example", ClientID: "x"})
	wantConflict(t, "CreateIdP(duplicate name)", err, "idps", "name")

	public, err := s.CreateIdP(ctx, store.IdP{OrgID: a.ID, Name: "Public", Issuer: "https://pub.example", ClientID: "pub"})
	if err != nil || public.ClientSecretSealed != nil || public.Domains != nil {
		t.Fatalf("CreateIdP(public client) = %+v, %v, want no secret, no domains", public, err)
	}
	if ps, err := s.ListIdPs(ctx, a.ID); err != nil {
		t.Fatalf("ListIdPs() = %v", err)
	} else {
		equal(t, "ListIdPs()", ps, []store.IdP{p, public})
	}
	bp, err := s.CreateIdP(ctx, store.IdP{OrgID: b.ID, Name: "Okta", Issuer: "https://b.example", ClientID: "x", Domains: []string{"b.example"}})
	if err != nil {
		t.Fatalf("CreateIdP(b) = %v", err)
	}
	if all, err := s.ListAllIdPs(ctx); err != nil || len(all) != 3 {
		t.Errorf("ListAllIdPs() = %+v, %v, want 3", all, err)
	}

	if err := s.UpdateIdPSecretSealed(ctx, p.ID, []byte("sealed-2"), "kek-2", 1); err != nil {
		t.Fatalf("UpdateIdPSecretSealed() = %v", err)
	}
	got, _ = s.GetIdP(ctx, a.ID, p.ID)
	if got.Version != 2 || got.KEKID != "kek-2" || string(got.ClientSecretSealed) != "sealed-2" {
		t.Errorf("after UpdateIdPSecretSealed: %+v, want version 2 under kek-2", got)
	}
	wantConflict(t, "UpdateIdPSecretSealed(stale)", s.UpdateIdPSecretSealed(ctx, p.ID, []byte("x"), "k", 1), "idps", "version")

	wantErr(t, "DeleteIdP(another org)", s.DeleteIdP(ctx, b.ID, p.ID), store.ErrNotFound)
	if err := s.DeleteIdP(ctx, a.ID, p.ID); err != nil {
		t.Fatalf("DeleteIdP() = %v", err)
	}
	_, err = s.FindIdPByDomain(ctx, "example.com")
	wantErr(t, "FindIdPByDomain(of a deleted IdP)", err, store.ErrNotFound)
	// The freed domain can be claimed again.
	if _, err := s.CreateIdP(ctx, store.IdP{OrgID: b.ID, Name: "Second", Issuer: "https://b.example", ClientID: "y",
		Domains: []string{"example.com"}}); err != nil {
		t.Errorf("CreateIdP(freed domain) = %v", err)
	}
	if got, err := s.FindIdPByDomain(ctx, "b.example"); err != nil || got.ID != bp.ID {
		t.Errorf("FindIdPByDomain(b.example) = %+v, %v, want %s", got, err, bp.ID)
	}
}

func testLocalUsers(t *testing.T, newURL func(testing.TB) string) {
	s := Open(t, newURL(t))
	ctx := t.Context()
	u, err := s.CreateLocalUser(ctx, store.LocalUser{Email: "Admin@Example.com", PasswordHash: "$argon2id$v=19$hash-1"})
	if err != nil {
		t.Fatalf("CreateLocalUser() = %v", err)
	}
	if u.ID[:4] != "lcl_" || u.Email != "admin@example.com" || u.CreatedAt.IsZero() {
		t.Errorf("CreateLocalUser() = %+v, want an lcl_ ID and the email lowercased", u)
	}
	for _, email := range []string{"admin@example.com", " ADMIN@example.COM"} {
		if got, err := s.GetLocalUserByEmail(ctx, email); err != nil || got != u {
			t.Errorf("GetLocalUserByEmail(%q) = %+v, %v, want %+v", email, got, err, u)
		}
	}
	if got, err := s.GetLocalUser(ctx, u.ID); err != nil || got != u {
		t.Errorf("GetLocalUser() = %+v, %v, want %+v", got, err, u)
	}
	_, err = s.CreateLocalUser(ctx, store.LocalUser{Email: "ADMIN@example.com", PasswordHash: "x"})
	wantConflict(t, "CreateLocalUser(duplicate email)", err, "local_users", "email")
	for _, email := range []string{"", "nope", "a@", "@b.com", "a@b@c.com", "a@b..com"} {
		_, err := s.CreateLocalUser(ctx, store.LocalUser{Email: email, PasswordHash: "x"})
		wantInvalid(t, "CreateLocalUser("+email+")", err, "email")
	}
	_, err = s.CreateLocalUser(ctx, store.LocalUser{Email: "b@example.com"})
	wantInvalid(t, "CreateLocalUser(no hash)", err, "password_hash")

	if err := s.SetLocalUserPassword(ctx, u.ID, "$argon2id$v=19$hash-2"); err != nil {
		t.Fatalf("SetLocalUserPassword() = %v", err)
	}
	if got, _ := s.GetLocalUser(ctx, u.ID); got.PasswordHash != "$argon2id$v=19$hash-2" || got.UpdatedAt.Before(u.UpdatedAt) {
		t.Errorf("after SetLocalUserPassword: %+v, want the new hash", got)
	}
	wantErr(t, "SetLocalUserPassword(unknown)", s.SetLocalUserPassword(ctx, "nope", "x"), store.ErrNotFound)
	wantInvalid(t, "SetLocalUserPassword(empty)", s.SetLocalUserPassword(ctx, u.ID, ""), "password_hash")
	_, err = s.GetLocalUserByEmail(ctx, "nobody@example.com")
	wantErr(t, "GetLocalUserByEmail(unknown)", err, store.ErrNotFound)
}

// testRedaction: secret-bearing records log as REDACTED.
func testRedaction(t *testing.T, _ func(testing.TB) string) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	log.Info("records",
		"credential", store.Credential{ID: "cred_1", Sealed: []byte("SECRET-1")},
		"idp", store.IdP{ID: "idp_1", ClientSecretSealed: []byte("SECRET-2")},
		"local_user", store.LocalUser{ID: "lcl_1", PasswordHash: "SECRET-3"},
		"session", store.Session{ID: "ses_1", CSRFToken: "SECRET-4", TokenHash: []byte("SECRET-5")},
		"api_token", store.APIToken{ID: "pat_1", TokenHash: []byte("SECRET-6"), ExpiresAt: time.Unix(0, 0)})
	out := buf.String()
	if strings.Contains(out, "SECRET") || !strings.Contains(out, "REDACTED") || !strings.Contains(out, "cred_1") {
		t.Errorf("log of secret-bearing records = %s, want IDs and REDACTED, no secrets", out)
	}
}
