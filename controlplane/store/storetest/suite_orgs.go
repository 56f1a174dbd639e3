package storetest

import (
	"strings"
	"sync"
	"testing"

	"github.com/warrenhq/warren/controlplane/store"
)

func testOrgs(t *testing.T, newURL func(testing.TB) string) {
	s := Open(t, newURL(t))
	ctx := t.Context()
	a, err := s.CreateOrg(ctx, store.Org{Name: "Acme Corp", Slug: "acme"})
	if err != nil {
		t.Fatalf("CreateOrg() = %v", err)
	}
	if len(a.ID) < 20 || a.ID[:4] != "org_" || a.CreatedAt.IsZero() {
		t.Errorf("CreateOrg() = %+v, want a generated org_ ID and CreatedAt", a)
	}
	for _, ref := range []string{a.ID, "acme"} {
		got, err := s.GetOrg(ctx, ref)
		if err != nil {
			t.Fatalf("GetOrg(%s) = %v", ref, err)
		}
		equal(t, "GetOrg("+ref+")", got, a)
	}
	b, err := s.CreateOrg(ctx, store.Org{ID: "org_b", Name: "Beta", Slug: "beta-2"})
	if err != nil {
		t.Fatalf("CreateOrg(b) = %v", err)
	}
	list, err := s.ListOrgs(ctx)
	if err != nil {
		t.Fatalf("ListOrgs() = %v", err)
	}
	equal(t, "ListOrgs()", list, []store.Org{a, b})

	_, err = s.CreateOrg(ctx, store.Org{Name: "Other", Slug: "acme"})
	wantConflict(t, "CreateOrg(duplicate slug)", err, "orgs", "slug")
	_, err = s.CreateOrg(ctx, store.Org{ID: "org_b", Name: "Other", Slug: "other"})
	wantConflict(t, "CreateOrg(duplicate id)", err, "orgs", "id")
	for _, slug := range []string{"", "Acme", "a_b", "-a", "a-", "a b", "é", strings.Repeat("a", 64)} {
		_, err := s.CreateOrg(ctx, store.Org{Name: "x", Slug: slug})
		wantInvalid(t, "CreateOrg(slug "+slug+")", err, "slug")
	}
	for _, name := range []string{"", " x", "x ", "a\nb", "a\x00b", strings.Repeat("x", 101)} {
		_, err := s.CreateOrg(ctx, store.Org{Name: name, Slug: "fine"})
		wantInvalid(t, "CreateOrg(name "+name+")", err, "name")
	}

	_, err = s.GetOrg(ctx, "nope")
	wantErr(t, "GetOrg(unknown)", err, store.ErrNotFound)
	wantErr(t, "DeleteOrg(unknown)", s.DeleteOrg(ctx, "nope"), store.ErrNotFound)
	if err := s.DeleteOrg(ctx, b.ID); err != nil {
		t.Fatalf("DeleteOrg() = %v", err)
	}
	_, err = s.GetOrg(ctx, "beta-2")
	wantErr(t, "GetOrg(deleted)", err, store.ErrNotFound)
	if list, _ := s.ListOrgs(ctx); len(list) != 1 {
		t.Errorf("ListOrgs() after delete = %+v, want only acme", list)
	}
}

func testUsers(t *testing.T, newURL func(testing.TB) string) {
	s := Open(t, newURL(t))
	ctx := t.Context()
	u, created, err := s.UpsertUserIdentity(ctx, testIssuer, "sub-1", " Alice@Example.COM", "Alice")
	if err != nil || !created {
		t.Fatalf("UpsertUserIdentity(new) = %v, created %v, want created", err, created)
	}
	if len(u.ID) < 20 || u.ID[:4] != "usr_" || u.CreatedAt.IsZero() || !u.LastLoginAt.Equal(u.CreatedAt) {
		t.Errorf("UpsertUserIdentity(new) = %+v, want a usr_ ID and CreatedAt = LastLoginAt", u)
	}
	want := store.User{ID: u.ID, Issuer: testIssuer, Subject: "sub-1", Email: "alice@example.com", DisplayName: "Alice",
		CreatedAt: u.CreatedAt, LastLoginAt: u.LastLoginAt}
	equal(t, "UpsertUserIdentity(new)", u, want)

	again, created, err := s.UpsertUserIdentity(ctx, testIssuer, "sub-1", "alice@new.example", "Alice B")
	if err != nil || created {
		t.Fatalf("UpsertUserIdentity(known) = %v, created %v, want not created", err, created)
	}
	if again.ID != u.ID || !again.CreatedAt.Equal(u.CreatedAt) || again.LastLoginAt.Before(u.LastLoginAt) {
		t.Errorf("UpsertUserIdentity(known) = %+v, want the same user, a later login", again)
	}
	want.Email, want.DisplayName, want.LastLoginAt = "alice@new.example", "Alice B", again.LastLoginAt
	equal(t, "UpsertUserIdentity(known)", again, want)
	if got, err := s.GetUser(ctx, u.ID); err != nil || got != want {
		t.Errorf("GetUser() = %+v, %v, want %+v", got, err, want)
	}

	// Same email, same subject, another issuer: another user, never linked.
	other, created, err := s.UpsertUserIdentity(ctx, "https://other.example", "sub-1", "alice@new.example", "Impostor")
	if err != nil || !created || other.ID == u.ID {
		t.Errorf("UpsertUserIdentity(other issuer) = %+v, %v, created %v, want a new user", other, err, created)
	}
	found, err := s.FindUsersByEmail(ctx, "ALICE@new.example")
	if err != nil || len(found) != 2 || found[0].ID != u.ID || found[1].ID != other.ID {
		t.Errorf("FindUsersByEmail() = %+v, %v, want both users, oldest first", found, err)
	}
	if found, err := s.FindUsersByEmail(ctx, "nobody@example.com"); err != nil || len(found) != 0 {
		t.Errorf("FindUsersByEmail(unknown) = %+v, %v, want none", found, err)
	}
	if all, err := s.ListUsers(ctx); err != nil || len(all) != 2 {
		t.Errorf("ListUsers() = %+v, %v, want 2 users", all, err)
	}
	_, err = s.GetUser(ctx, "nope")
	wantErr(t, "GetUser(unknown)", err, store.ErrNotFound)
	_, _, err = s.UpsertUserIdentity(ctx, "", "sub", "", "")
	wantInvalid(t, "UpsertUserIdentity(no issuer)", err, "issuer")
	_, _, err = s.UpsertUserIdentity(ctx, testIssuer, "", "", "")
	wantInvalid(t, "UpsertUserIdentity(no subject)", err, "subject")
	long, _, err := s.UpsertUserIdentity(ctx, testIssuer, "long", "", strings.Repeat("é", 150))
	if err != nil || len(long.DisplayName) != 200 {
		t.Errorf("UpsertUserIdentity(long name) = %d bytes, %v, want cut to 200", len(long.DisplayName), err)
	}

	testPlatformAdmins(t, s, u.ID, other.ID)
}

// testPlatformAdmins: the last enabled platform admin can be neither
// demoted nor disabled.
func testPlatformAdmins(t *testing.T, s *store.Store, a, b string) {
	ctx := t.Context()
	count := func(want int) {
		t.Helper()
		if n, err := s.CountPlatformAdmins(ctx); err != nil || n != want {
			t.Errorf("CountPlatformAdmins() = %d, %v, want %d", n, err, want)
		}
	}
	count(0)
	if err := s.SetPlatformAdmin(ctx, a, true); err != nil {
		t.Fatalf("SetPlatformAdmin() = %v", err)
	}
	count(1)
	wantInvalid(t, "SetPlatformAdmin(last admin, false)", s.SetPlatformAdmin(ctx, a, false), "platform_admin")
	wantInvalid(t, "SetUserDisabled(last admin)", s.SetUserDisabled(ctx, a, true), "platform_admin")
	if err := s.SetPlatformAdmin(ctx, b, true); err != nil {
		t.Fatalf("SetPlatformAdmin(b) = %v", err)
	}
	count(2)
	if err := s.SetUserDisabled(ctx, a, true); err != nil {
		t.Fatalf("SetUserDisabled() = %v", err)
	}
	count(1)
	if u, _ := s.GetUser(ctx, a); !u.Disabled || !u.PlatformAdmin {
		t.Errorf("GetUser() after disabling = %+v, want disabled admin", u)
	}
	wantInvalid(t, "SetPlatformAdmin(last enabled admin, false)", s.SetPlatformAdmin(ctx, b, false), "platform_admin")
	if err := s.SetUserDisabled(ctx, a, false); err != nil {
		t.Fatalf("SetUserDisabled(false) = %v", err)
	}
	if err := s.SetPlatformAdmin(ctx, b, false); err != nil {
		t.Fatalf("SetPlatformAdmin(b, false) = %v", err)
	}
	count(1)
	wantErr(t, "SetPlatformAdmin(unknown)", s.SetPlatformAdmin(ctx, "nope", true), store.ErrNotFound)
	wantErr(t, "SetUserDisabled(unknown)", s.SetUserDisabled(ctx, "nope", true), store.ErrNotFound)
}

// testUpsertRace: concurrent first logins of one identity make one user.
func testUpsertRace(t *testing.T, newURL func(testing.TB) string) {
	const racers = 20
	s := Open(t, newURL(t))
	ids := make([]string, racers)
	created := make([]bool, racers)
	var wg sync.WaitGroup
	for i := range racers {
		wg.Go(func() {
			u, c, err := s.UpsertUserIdentity(t.Context(), testIssuer, "racer", "racer@example.com", "Racer")
			if err != nil {
				t.Errorf("racer %d: UpsertUserIdentity() = %v", i, err)
			}
			ids[i], created[i] = u.ID, c
		})
	}
	wg.Wait()
	n := 0
	for i := range racers {
		if created[i] {
			n++
		}
		if ids[i] != ids[0] {
			t.Errorf("racer %d got user %s, racer 0 got %s", i, ids[i], ids[0])
		}
	}
	if n != 1 {
		t.Errorf("%d racers created the user, want exactly 1", n)
	}
}

func testMembers(t *testing.T, newURL func(testing.TB) string) {
	s := Open(t, newURL(t))
	ctx := t.Context()
	a, b := mustOrg(t, s, "a"), mustOrg(t, s, "b")
	alice, bob := mustUser(t, s, "alice"), mustUser(t, s, "bob")
	m, err := s.AddMember(ctx, store.Membership{OrgID: a.ID, UserID: alice.ID, Role: store.RoleAdmin})
	if err != nil {
		t.Fatalf("AddMember() = %v", err)
	}
	want := store.Membership{OrgID: a.ID, UserID: alice.ID, Role: store.RoleAdmin, CreatedAt: m.CreatedAt,
		UserEmail: "alice@example.com", UserDisplayName: "User alice", OrgName: a.Name, OrgSlug: "a"}
	equal(t, "AddMember()", m, want)
	if m.CreatedAt.IsZero() {
		t.Errorf("AddMember().CreatedAt is zero")
	}
	_, err = s.AddMember(ctx, store.Membership{OrgID: a.ID, UserID: alice.ID, Role: store.RoleMember})
	wantConflict(t, "AddMember(again)", err, "memberships", "user_id")
	_, err = s.AddMember(ctx, store.Membership{OrgID: a.ID, UserID: bob.ID, Role: "owner"})
	wantInvalid(t, "AddMember(bad role)", err, "role")
	_, err = s.AddMember(ctx, store.Membership{OrgID: "nope", UserID: bob.ID, Role: store.RoleMember})
	wantErr(t, "AddMember(unknown org)", err, store.ErrNotFound)
	_, err = s.AddMember(ctx, store.Membership{OrgID: a.ID, UserID: "nope", Role: store.RoleMember})
	wantErr(t, "AddMember(unknown user)", err, store.ErrNotFound)

	mb := mustMember(t, s, a.ID, bob.ID, store.RoleMember)
	ma := mustMember(t, s, b.ID, alice.ID, store.RoleMember)
	if got, err := s.ListMembers(ctx, a.ID); err != nil {
		t.Fatalf("ListMembers() = %v", err)
	} else {
		equal(t, "ListMembers(a)", got, []store.Membership{m, mb})
	}
	if got, err := s.ListMemberships(ctx, alice.ID); err != nil {
		t.Fatalf("ListMemberships() = %v", err)
	} else {
		equal(t, "ListMemberships(alice)", got, []store.Membership{m, ma})
	}
	if got, err := s.GetMembership(ctx, a.ID, bob.ID); err != nil || got != mb {
		t.Errorf("GetMembership() = %+v, %v, want %+v", got, err, mb)
	}
	_, err = s.GetMembership(ctx, b.ID, bob.ID)
	wantErr(t, "GetMembership(not a member)", err, store.ErrNotFound)

	if err := s.SetMemberRole(ctx, a.ID, bob.ID, store.RoleAdmin); err != nil {
		t.Fatalf("SetMemberRole() = %v", err)
	}
	if got, _ := s.GetMembership(ctx, a.ID, bob.ID); got.Role != store.RoleAdmin {
		t.Errorf("role after SetMemberRole = %q, want admin", got.Role)
	}
	wantErr(t, "SetMemberRole(not a member)", s.SetMemberRole(ctx, b.ID, bob.ID, store.RoleAdmin), store.ErrNotFound)
	wantInvalid(t, "SetMemberRole(bad role)", s.SetMemberRole(ctx, a.ID, bob.ID, "root"), "role")

	if err := s.RemoveMember(ctx, a.ID, bob.ID); err != nil {
		t.Fatalf("RemoveMember() = %v", err)
	}
	_, err = s.GetMembership(ctx, a.ID, bob.ID)
	wantErr(t, "GetMembership(removed)", err, store.ErrNotFound)
	wantErr(t, "RemoveMember(again)", s.RemoveMember(ctx, a.ID, bob.ID), store.ErrNotFound)
	if _, err := s.GetUser(ctx, bob.ID); err != nil {
		t.Errorf("GetUser(removed member) = %v, want the user kept", err)
	}
}
