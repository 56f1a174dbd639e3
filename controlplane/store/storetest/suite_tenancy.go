package storetest

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/warrenhq/warren/controlplane/store"
)

// testTenancy: org A's caller names org B's rows. Every org-scoped getter
// and mutator says ErrNotFound, every lister returns none of B's rows, and
// B is unchanged afterwards.
func testTenancy(t *testing.T, newURL func(testing.TB) string) {
	s := Open(t, newURL(t))
	ctx := t.Context()
	a, b := newOrgFixture(t, s, "a"), newOrgFixture(t, s, "b")
	before := snapshot(t, s, b.org.ID)
	org := a.org.ID
	get := func(_ any, err error) error { return err }

	calls := map[string]error{
		"GetGroup(id)":                     get(s.GetGroup(ctx, org, b.group.ID)),
		"ListGroupMembers":                 get(s.ListGroupMembers(ctx, org, b.group.ID)),
		"GetFolder":                        get(s.GetFolder(ctx, org, b.folder.ID)),
		"GetOrgDevice(id)":                 get(s.GetOrgDevice(ctx, org, b.device.ID)),
		"GetOrgDevice(name)":               get(s.GetOrgDevice(ctx, org, b.device.Name)),
		"GetMembership":                    get(s.GetMembership(ctx, org, b.member.ID)),
		"GetCredential":                    get(s.GetCredential(ctx, org, b.cred.ID)),
		"GetIdP":                           get(s.GetIdP(ctx, org, b.idp.ID)),
		"GetGrant":                         get(s.GetGrant(ctx, org, b.grant.ID)),
		"DeleteGroup":                      s.DeleteGroup(ctx, org, b.group.ID),
		"AddGroupMember(B's group)":        s.AddGroupMember(ctx, org, b.group.ID, store.GroupMember{UserID: a.member.ID}),
		"AddGroupMember(B's user)":         s.AddGroupMember(ctx, org, a.group.ID, store.GroupMember{UserID: b.member.ID}),
		"AddGroupMember(B's subgroup)":     s.AddGroupMember(ctx, org, a.group.ID, store.GroupMember{GroupID: b.group.ID}),
		"RemoveGroupMember":                s.RemoveGroupMember(ctx, org, b.group.ID, store.GroupMember{UserID: b.member.ID}),
		"CreateFolder(B's parent)":         get(s.CreateFolder(ctx, store.Folder{OrgID: org, ParentID: b.folder.ID, Name: "x"})),
		"MoveFolder(B's folder)":           s.MoveFolder(ctx, org, b.sub.ID, ""),
		"MoveFolder(into B's folder)":      s.MoveFolder(ctx, org, a.sub.ID, b.folder.ID),
		"DeleteFolder":                     s.DeleteFolder(ctx, org, b.sub.ID),
		"SetDeviceFolder(B's device)":      s.SetDeviceFolder(ctx, org, b.device.ID, ""),
		"SetDeviceFolder(B's folder)":      s.SetDeviceFolder(ctx, org, a.device.ID, b.folder.ID),
		"SetMemberRole":                    s.SetMemberRole(ctx, org, b.member.ID, store.RoleAdmin),
		"RemoveMember":                     s.RemoveMember(ctx, org, b.member.ID),
		"CreateCredential(B's service)":    get(s.CreateCredential(ctx, credentialOn(org, store.ScopeService, b.service.ID))),
		"CreateCredential(B's folder)":     get(s.CreateCredential(ctx, credentialOn(org, store.ScopeFolder, b.folder.ID))),
		"DeleteCredential":                 s.DeleteCredential(ctx, org, b.cred.ID),
		"DeleteIdP":                        s.DeleteIdP(ctx, org, b.idp.ID),
		"CreateGrant(B's user)":            get(s.CreateGrant(ctx, grantOf(org, store.SubjectUser, b.member.ID, store.ObjectFolder, a.folder.ID))),
		"CreateGrant(B's group)":           get(s.CreateGrant(ctx, grantOf(org, store.SubjectGroup, b.group.ID, store.ObjectFolder, a.folder.ID))),
		"CreateGrant(B's folder)":          get(s.CreateGrant(ctx, grantOf(org, store.SubjectUser, a.member.ID, store.ObjectFolder, b.folder.ID))),
		"CreateGrant(B's device)":          get(s.CreateGrant(ctx, grantOf(org, store.SubjectUser, a.member.ID, store.ObjectDevice, b.device.ID))),
		"CreateGrant(B's org)":             get(s.CreateGrant(ctx, grantOf(org, store.SubjectUser, a.member.ID, store.ObjectOrganization, b.org.ID))),
		"DeleteGrant":                      s.DeleteGrant(ctx, org, b.grant.ID),
		"CreateAPIToken(B's user)":         get(s.CreateAPIToken(ctx, store.APIToken{TokenHash: hashOf("x"), UserID: b.member.ID, OrgID: org, Name: "x"})),
		"RevokeAPIToken":                   s.RevokeAPIToken(ctx, org, b.token.ID),
		"CreateEnrollToken(B's folder)":    get(s.CreateEnrollToken(ctx, store.EnrollToken{Hash: hashOf("y"), ExpiresAt: time.Now().Add(time.Hour), OrgID: org, FolderID: b.folder.ID})),
		"DeleteOrgEnrollToken":             s.DeleteOrgEnrollToken(ctx, org, b.enroll.ID),
		"AssignDeviceOrg(B's device to A)": s.AssignDeviceOrg(ctx, b.device.ID, org, ""),
		"AssignDeviceOrg(into B's folder)": s.AssignDeviceOrg(ctx, mustEnroll(t, s, "loose").ID, org, b.folder.ID),
	}
	for name, err := range calls {
		if name == "AssignDeviceOrg(B's device to A)" {
			wantInvalid(t, name, err, "org_id") // it has an org: never moved
			continue
		}
		wantErr(t, name, err, store.ErrNotFound)
	}
	// Same names resolve in the caller's org, never in another.
	if g, err := s.GetGroup(ctx, org, "ops"); err != nil || g.ID != a.group.ID {
		t.Errorf("GetGroup(A, ops) = %+v, %v, want A's group", g, err)
	}

	mine := snapshot(t, s, org)
	foreign := idsOf(reflect.ValueOf(before), map[string]bool{})
	foreign[b.org.ID] = true
	for id := range idsOf(reflect.ValueOf(mine), map[string]bool{}) {
		if foreign[id] {
			t.Errorf("A's listings hold %s, of org B", id)
		}
	}
	equal(t, "B's state after A's attempts", snapshot(t, s, b.org.ID), before)
}

func credentialOn(orgID, scopeType, scopeID string) store.Credential {
	return store.Credential{OrgID: orgID, ScopeType: scopeType, ScopeID: scopeID, Name: "x", Kind: store.KindPassword,
		Sealed: []byte("x"), KEKID: "k"}
}

func grantOf(orgID, subjectType, subjectID, objectType, objectID string) store.Grant {
	return store.Grant{OrgID: orgID, SubjectType: subjectType, SubjectID: subjectID, Relation: "connect",
		ObjectType: objectType, ObjectID: objectID}
}

// idFields are the fields of store records that hold row IDs.
var idFields = map[string]bool{
	"ID": true, "OrgID": true, "UserID": true, "GroupID": true, "FolderID": true, "ParentID": true,
	"DeviceID": true, "ServiceID": true, "ScopeID": true, "SubjectID": true, "ObjectID": true, "ActorID": true,
}

// idsOf collects the row IDs held by v's idFields, however deep.
func idsOf(v reflect.Value, ids map[string]bool) map[string]bool {
	switch v.Kind() {
	case reflect.Struct:
		for i := range v.NumField() {
			f := v.Type().Field(i)
			if f.Type.Kind() == reflect.String && idFields[f.Name] {
				if id := v.Field(i).String(); id != "" {
					ids[id] = true
				}
				continue
			}
			idsOf(v.Field(i), ids)
		}
	case reflect.Slice:
		for i := range v.Len() {
			idsOf(v.Index(i), ids)
		}
	case reflect.Map:
		for _, k := range v.MapKeys() {
			idsOf(v.MapIndex(k), ids)
		}
	}
	return ids
}

// testOrgDelete: deleting an org refuses while it has devices, then takes
// everything it owns and nothing of another org; users and audit stay.
func testOrgDelete(t *testing.T, newURL func(testing.TB) string) {
	s := Open(t, newURL(t))
	ctx := t.Context()
	a, b := newOrgFixture(t, s, "a"), newOrgFixture(t, s, "b")
	org := a.org.ID
	mustMember(t, s, org, b.admin.ID, store.RoleMember) // a user in both orgs
	ses, err := s.CreateSession(ctx, store.Session{TokenHash: hashOf("ses"), UserID: a.admin.ID, OrgID: org,
		CSRFToken: "c", ExpiresAt: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatalf("CreateSession() = %v", err)
	}
	before := snapshot(t, s, b.org.ID)

	wantInvalid(t, "DeleteOrg(with a device)", s.DeleteOrg(ctx, org), "org")
	if _, err := s.GetOrg(ctx, org); err != nil {
		t.Fatalf("GetOrg() after refused delete = %v", err)
	}
	if err := s.DeleteDevice(ctx, a.device.ID); err != nil {
		t.Fatalf("DeleteDevice() = %v", err)
	}
	if err := s.DeleteOrg(ctx, org); err != nil {
		t.Fatalf("DeleteOrg() = %v", err)
	}

	_, err = s.GetOrg(ctx, org)
	wantErr(t, "GetOrg(deleted)", err, store.ErrNotFound)
	left := snapshot(t, s, org)
	audit := left.Audit
	left.Audit = nil
	if !reflect.DeepEqual(left, orgState{GroupMember: map[string][]store.GroupMember{}}) {
		t.Errorf("rows of the deleted org: %+v, want none", left)
	}
	if len(audit) == 0 {
		t.Errorf("audit events of the deleted org are gone, want them kept")
	}
	_, err = s.GetAPITokenByHash(ctx, a.tokenHash, time.Now())
	wantErr(t, "GetAPITokenByHash(token of deleted org)", err, store.ErrNotFound)
	_, err = s.FindIdPByDomain(ctx, "a.example")
	wantErr(t, "FindIdPByDomain(domain of deleted org)", err, store.ErrNotFound)
	if _, err := s.Enroll(ctx, enrollReq(a.enroll.Hash, "key-late", "late")); !errors.Is(err, store.ErrTokenInvalid) {
		t.Errorf("Enroll(token of deleted org) = %v, want ErrTokenInvalid", err)
	}
	if _, err := s.GetUser(ctx, a.admin.ID); err != nil {
		t.Errorf("GetUser(member of deleted org) = %v, want the user kept", err)
	}
	if got, err := s.GetSessionByHash(ctx, hashOf("ses"), time.Now()); err != nil || got.ID != ses.ID || got.OrgID != "" {
		t.Errorf("session of the deleted org = %+v, %v, want it kept without an org", got, err)
	}
	if ms, _ := s.ListMemberships(ctx, b.admin.ID); len(ms) != 1 || ms[0].OrgID != b.org.ID {
		t.Errorf("ListMemberships(user of both orgs) = %+v, want only org b", ms)
	}
	equal(t, "other org after DeleteOrg", snapshot(t, s, b.org.ID), before)
}
