package storetest

import (
	"testing"

	"github.com/warrenhq/warren/controlplane/store"
)

func testGrants(t *testing.T, newURL func(testing.TB) string) {
	s := Open(t, newURL(t))
	ctx := t.Context()
	a, b := newOrgFixture(t, s, "a"), newOrgFixture(t, s, "b")
	org := a.org.ID
	g1, err := s.CreateGrant(ctx, store.Grant{OrgID: org, SubjectType: store.SubjectUser, SubjectID: a.member.ID,
		Relation: "connect", ObjectType: store.ObjectDevice, ObjectID: a.device.ID})
	if err != nil {
		t.Fatalf("CreateGrant(user on device) = %v", err)
	}
	if g1.ID[:4] != "grt_" || g1.CreatedAt.IsZero() {
		t.Errorf("CreateGrant() = %+v, want a grt_ ID and CreatedAt", g1)
	}
	g2, err := s.CreateGrant(ctx, store.Grant{OrgID: org, SubjectType: store.SubjectUser, SubjectID: a.admin.ID,
		Relation: "view_secrets", ObjectType: store.ObjectOrganization})
	if err != nil {
		t.Fatalf("CreateGrant(user on org) = %v", err)
	}
	if g2.ObjectID != org {
		t.Errorf("CreateGrant(on org).ObjectID = %q, want %s", g2.ObjectID, org)
	}
	if got, err := s.GetGrant(ctx, org, g1.ID); err != nil || got != g1 {
		t.Errorf("GetGrant() = %+v, %v, want %+v", got, err, g1)
	}

	_, err = s.CreateGrant(ctx, store.Grant{OrgID: org, SubjectType: store.SubjectUser, SubjectID: a.member.ID,
		Relation: "connect", ObjectType: store.ObjectDevice, ObjectID: a.device.ID})
	wantConflict(t, "CreateGrant(duplicate)", err, "grants", "tuple")
	base := store.Grant{OrgID: org, SubjectType: store.SubjectUser, SubjectID: a.member.ID,
		Relation: "edit", ObjectType: store.ObjectFolder, ObjectID: a.folder.ID}
	for field, modify := range map[string]func(*store.Grant){
		"subject_type": func(g *store.Grant) { g.SubjectType = "team" },
		"subject_id":   func(g *store.Grant) { g.SubjectID = "" },
		"relation":     func(g *store.Grant) { g.Relation = "Connect" },
		"object_type":  func(g *store.Grant) { g.ObjectType = "session" },
		"object_id":    func(g *store.Grant) { g.ObjectID = "" },
	} {
		bad := base
		modify(&bad)
		_, err := s.CreateGrant(ctx, bad)
		wantInvalid(t, "CreateGrant(bad "+field+")", err, field)
	}
	for _, rel := range []string{"", "a-b", "_x", "view secrets"} {
		bad := base
		bad.Relation = rel
		_, err := s.CreateGrant(ctx, bad)
		wantInvalid(t, "CreateGrant(relation "+rel+")", err, "relation")
	}
	for name, modify := range map[string]func(*store.Grant){
		"unknown user":   func(g *store.Grant) { g.SubjectID = "nope" },
		"unknown group":  func(g *store.Grant) { g.SubjectType, g.SubjectID = store.SubjectGroup, "nope" },
		"unknown folder": func(g *store.Grant) { g.ObjectID = "nope" },
		"unknown device": func(g *store.Grant) { g.ObjectType, g.ObjectID = store.ObjectDevice, "nope" },
		"unknown org":    func(g *store.Grant) { g.OrgID, g.ObjectType, g.ObjectID = "nope", store.ObjectOrganization, "" },
		"a device of no org": func(g *store.Grant) {
			g.ObjectType, g.ObjectID = store.ObjectDevice, mustEnroll(t, s, "loose").ID
		},
	} {
		bad := base
		modify(&bad)
		_, err := s.CreateGrant(ctx, bad)
		wantErr(t, "CreateGrant("+name+")", err, store.ErrNotFound)
	}

	all, err := s.ListGrants(ctx, org, store.GrantFilter{})
	if err != nil {
		t.Fatalf("ListGrants() = %v", err)
	}
	equal(t, "ListGrants()", all, []store.Grant{g1, a.grant, g2}) // device, folder, organization
	for name, c := range map[string]struct {
		f    store.GrantFilter
		want []store.Grant
	}{
		"by object":   {store.GrantFilter{ObjectType: store.ObjectDevice, ObjectID: a.device.ID}, []store.Grant{g1}},
		"by subject":  {store.GrantFilter{SubjectType: store.SubjectUser, SubjectID: a.member.ID}, []store.Grant{g1}},
		"by group":    {store.GrantFilter{SubjectType: store.SubjectGroup}, []store.Grant{a.grant}},
		"by relation": {store.GrantFilter{Relation: "view_secrets"}, []store.Grant{g2}},
		"nothing":     {store.GrantFilter{ObjectID: b.device.ID}, nil},
	} {
		got, err := s.ListGrants(ctx, org, c.f)
		if err != nil {
			t.Fatalf("ListGrants(%s) = %v", name, err)
		}
		equal(t, "ListGrants("+name+")", got, c.want)
	}
	everything, err := s.ListAllGrants(ctx)
	if err != nil || len(everything) != 4 {
		t.Errorf("ListAllGrants() = %+v, %v, want 4 grants of both orgs", everything, err)
	}

	wantErr(t, "DeleteGrant(another org)", s.DeleteGrant(ctx, b.org.ID, g2.ID), store.ErrNotFound)
	if err := s.DeleteGrant(ctx, org, g2.ID); err != nil {
		t.Fatalf("DeleteGrant() = %v", err)
	}
	wantErr(t, "DeleteGrant(again)", s.DeleteGrant(ctx, org, g2.ID), store.ErrNotFound)
	_, err = s.GetGrant(ctx, org, g2.ID)
	wantErr(t, "GetGrant(deleted)", err, store.ErrNotFound)
}

// testGrantCascades: a grant goes with its subject or object.
func testGrantCascades(t *testing.T, newURL func(testing.TB) string) {
	s := Open(t, newURL(t))
	ctx := t.Context()
	a := newOrgFixture(t, s, "a")
	org := a.org.ID
	grant := func(subjectType, subjectID, objectType, objectID string) store.Grant {
		t.Helper()
		g, err := s.CreateGrant(ctx, store.Grant{OrgID: org, SubjectType: subjectType, SubjectID: subjectID,
			Relation: "view", ObjectType: objectType, ObjectID: objectID})
		if err != nil {
			t.Fatalf("CreateGrant() = %v", err)
		}
		return g
	}
	empty := mustFolder(t, s, org, "", "empty")
	onDevice := grant(store.SubjectUser, a.admin.ID, store.ObjectDevice, a.device.ID)
	onFolder := grant(store.SubjectUser, a.admin.ID, store.ObjectFolder, empty.ID)
	ofMember := grant(store.SubjectUser, a.member.ID, store.ObjectOrganization, org)
	ofGroup := a.grant
	gone := func(what string, g store.Grant) {
		t.Helper()
		_, err := s.GetGrant(ctx, org, g.ID)
		wantErr(t, "GetGrant(after deleting its "+what+")", err, store.ErrNotFound)
	}
	if err := s.DeleteDevice(ctx, a.device.ID); err != nil {
		t.Fatalf("DeleteDevice() = %v", err)
	}
	gone("device", onDevice)
	if err := s.DeleteFolder(ctx, org, empty.ID); err != nil {
		t.Fatalf("DeleteFolder() = %v", err)
	}
	gone("folder", onFolder)
	if err := s.RemoveMember(ctx, org, a.member.ID); err != nil {
		t.Fatalf("RemoveMember() = %v", err)
	}
	gone("member", ofMember)
	if err := s.DeleteGroup(ctx, org, a.group.ID); err != nil {
		t.Fatalf("DeleteGroup() = %v", err)
	}
	gone("group", ofGroup)
	if left, _ := s.ListGrants(ctx, org, store.GrantFilter{}); len(left) != 0 {
		t.Errorf("ListGrants() after the cascades = %+v, want none", left)
	}
}
