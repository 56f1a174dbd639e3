package storetest

import (
	"testing"
	"time"

	"github.com/warrenhq/warren/controlplane/store"
)

const testIssuer = "https://idp.example"

func mustOrg(t *testing.T, s *store.Store, slug string) store.Org {
	t.Helper()
	o, err := s.CreateOrg(t.Context(), store.Org{Name: "Org " + slug, Slug: slug})
	if err != nil {
		t.Fatalf("CreateOrg(%s) = %v", slug, err)
	}
	return o
}

// mustUser records a first login of subject at testIssuer, with email
// <subject>@example.com.
func mustUser(t *testing.T, s *store.Store, subject string) store.User {
	t.Helper()
	u, _, err := s.UpsertUserIdentity(t.Context(), testIssuer, subject, subject+"@example.com", "User "+subject)
	if err != nil {
		t.Fatalf("UpsertUserIdentity(%s) = %v", subject, err)
	}
	return u
}

func mustMember(t *testing.T, s *store.Store, orgID, userID, role string) store.Membership {
	t.Helper()
	m, err := s.AddMember(t.Context(), store.Membership{OrgID: orgID, UserID: userID, Role: role})
	if err != nil {
		t.Fatalf("AddMember(%s, %s) = %v", orgID, userID, err)
	}
	return m
}

func mustGroup(t *testing.T, s *store.Store, orgID, name string) store.Group {
	t.Helper()
	g, err := s.CreateGroup(t.Context(), store.Group{OrgID: orgID, Name: name})
	if err != nil {
		t.Fatalf("CreateGroup(%s) = %v", name, err)
	}
	return g
}

func mustFolder(t *testing.T, s *store.Store, orgID, parentID, name string) store.Folder {
	t.Helper()
	f, err := s.CreateFolder(t.Context(), store.Folder{OrgID: orgID, ParentID: parentID, Name: name})
	if err != nil {
		t.Fatalf("CreateFolder(%s) = %v", name, err)
	}
	return f
}

// mustOrgToken stores an enrollment token into the org and folder.
func mustOrgToken(t *testing.T, s *store.Store, orgID, folderID string) store.EnrollToken {
	t.Helper()
	tok, err := s.CreateEnrollToken(t.Context(), store.EnrollToken{
		Hash: hashOf("org-token-" + randomHex(8)), ExpiresAt: time.Now().Add(time.Hour), OrgID: orgID, FolderID: folderID,
	})
	if err != nil {
		t.Fatalf("CreateEnrollToken(org %s, folder %s) = %v", orgID, folderID, err)
	}
	return tok
}

// mustEnrollIn enrolls a device named name into the org and folder.
func mustEnrollIn(t *testing.T, s *store.Store, orgID, folderID, name string) store.Device {
	t.Helper()
	tok := mustOrgToken(t, s, orgID, folderID)
	req := enrollReq(tok.Hash, "key-"+name+"-"+randomHex(4), name)
	req.Device.Name, req.NameExplicit = name, true
	d, err := s.Enroll(t.Context(), req)
	if err != nil {
		t.Fatalf("Enroll(%s) = %v", name, err)
	}
	return d
}

// orgFixture is one organization with a row of every kind. Names are the
// same in every fixture (group "ops", folders "prod" and "db", ...) except
// where they are unique platform-wide (slug, device name, IdP domain).
type orgFixture struct {
	org        store.Org
	admin      store.User // RoleAdmin
	member     store.User // RoleMember, in group
	group      store.Group
	folder     store.Folder // top level
	sub        store.Folder // in folder
	device     store.Device // in sub
	service    store.Service
	cred       store.Credential // on service
	folderCred store.Credential // on folder
	idp        store.IdP
	grant      store.Grant // group connect on folder
	token      store.APIToken
	tokenHash  []byte
	enroll     store.EnrollToken // unused, into folder
}

func newOrgFixture(t *testing.T, s *store.Store, slug string) orgFixture {
	t.Helper()
	ctx := t.Context()
	f := orgFixture{org: mustOrg(t, s, slug)}
	id := f.org.ID
	f.admin = mustUser(t, s, slug+"-admin")
	f.member = mustUser(t, s, slug+"-member")
	mustMember(t, s, id, f.admin.ID, store.RoleAdmin)
	mustMember(t, s, id, f.member.ID, store.RoleMember)
	f.group = mustGroup(t, s, id, "ops")
	if err := s.AddGroupMember(ctx, id, f.group.ID, store.GroupMember{UserID: f.member.ID}); err != nil {
		t.Fatalf("AddGroupMember() = %v", err)
	}
	f.folder = mustFolder(t, s, id, "", "prod")
	f.sub = mustFolder(t, s, id, f.folder.ID, "db")
	f.device = mustEnrollIn(t, s, id, f.sub.ID, slug+"-db-1")
	var err error
	f.service, err = s.CreateService(ctx, store.Service{DeviceID: f.device.ID, Name: "ssh", Protocol: store.ProtocolSSH, Port: 22})
	if err != nil {
		t.Fatalf("CreateService() = %v", err)
	}
	f.cred, err = s.CreateCredential(ctx, store.Credential{OrgID: id, ScopeType: store.ScopeService, ScopeID: f.service.ID,
		Name: "root", Username: "root", Kind: store.KindPassword, Sealed: []byte("sealed-" + slug), KEKID: "kek-1"})
	if err != nil {
		t.Fatalf("CreateCredential(service) = %v", err)
	}
	f.folderCred, err = s.CreateCredential(ctx, store.Credential{OrgID: id, ScopeType: store.ScopeFolder, ScopeID: f.folder.ID,
		Name: "deploy", Username: "deploy", Kind: store.KindPrivateKey, Sealed: []byte("key-" + slug), KEKID: "kek-1"})
	if err != nil {
		t.Fatalf("CreateCredential(folder) = %v", err)
	}
	f.idp, err = s.CreateIdP(ctx, store.IdP{OrgID: id, Name: "corp", Issuer: "https://login." + slug + ".example",
		ClientID: "warren", ClientSecretSealed: []byte("secret-" + slug), KEKID: "kek-1", Domains: []string{slug + ".example"}})
	if err != nil {
		t.Fatalf("CreateIdP() = %v", err)
	}
	f.grant, err = s.CreateGrant(ctx, store.Grant{OrgID: id, SubjectType: store.SubjectGroup, SubjectID: f.group.ID,
		Relation: "connect", ObjectType: store.ObjectFolder, ObjectID: f.folder.ID})
	if err != nil {
		t.Fatalf("CreateGrant() = %v", err)
	}
	f.tokenHash = hashOf("pat-" + slug + randomHex(8))
	f.token, err = s.CreateAPIToken(ctx, store.APIToken{TokenHash: f.tokenHash, UserID: f.member.ID, OrgID: id, Name: "ci"})
	if err != nil {
		t.Fatalf("CreateAPIToken() = %v", err)
	}
	f.enroll = mustOrgToken(t, s, id, f.folder.ID)
	if _, err := s.AppendAudit(ctx, store.AuditEvent{OrgID: id, ActorID: f.admin.ID, ActorType: "user",
		Action: "org.setup", Result: store.AuditAllowed}); err != nil {
		t.Fatalf("AppendAudit() = %v", err)
	}
	return f
}

// orgState is everything an org-scoped lister returns for one org.
type orgState struct {
	Members     []store.Membership
	Groups      []store.Group
	GroupMember map[string][]store.GroupMember
	Folders     []store.Folder
	Devices     []store.Device
	Credentials []store.Credential
	IdPs        []store.IdP
	Grants      []store.Grant
	APITokens   []store.APIToken
	Enroll      []store.EnrollToken
	Audit       []store.AuditEvent
}

func snapshot(t *testing.T, s *store.Store, orgID string) orgState {
	t.Helper()
	ctx := t.Context()
	var st orgState
	var errs []error
	note := func(err error) { errs = append(errs, err) }
	var err error
	st.Members, err = s.ListMembers(ctx, orgID)
	note(err)
	st.Groups, err = s.ListGroups(ctx, orgID)
	note(err)
	st.GroupMember = map[string][]store.GroupMember{}
	for _, g := range st.Groups {
		st.GroupMember[g.ID], err = s.ListGroupMembers(ctx, orgID, g.ID)
		note(err)
	}
	st.Folders, err = s.ListFolders(ctx, orgID)
	note(err)
	st.Devices, err = s.ListOrgDevices(ctx, orgID)
	note(err)
	st.Credentials, err = s.ListCredentials(ctx, orgID)
	note(err)
	st.IdPs, err = s.ListIdPs(ctx, orgID)
	note(err)
	st.Grants, err = s.ListGrants(ctx, orgID, store.GrantFilter{})
	note(err)
	st.APITokens, err = s.ListAPITokens(ctx, orgID, "")
	note(err)
	st.Enroll, err = s.ListOrgEnrollTokens(ctx, orgID)
	note(err)
	st.Audit, _, err = s.ListAudit(ctx, store.AuditFilter{OrgID: orgID, Limit: store.MaxAuditLimit})
	note(err)
	for _, err := range errs {
		if err != nil {
			t.Fatalf("snapshot of organization %s: %v", orgID, err)
		}
	}
	return st
}
