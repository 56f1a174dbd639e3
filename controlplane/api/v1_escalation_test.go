package api_test

import (
	"encoding/json"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/warrenhq/warren/acl"
	"github.com/warrenhq/warren/controlplane/api"
	"github.com/warrenhq/warren/controlplane/secrets"
	"github.com/warrenhq/warren/controlplane/store"
	"github.com/warrenhq/warren/controlplane/store/storetest"
)

// TestPrivilegeEscalation is the escalation acceptance test: a plain
// member (in a group holding connect on the folder of the device, so it
// sees the folder and the device) cannot grant, change roles, create
// services or credentials, reach admin settings, or name an org in a
// body; each refusal is audited with the member as actor, the action, the
// result "denied", a reason and the source IP.
func TestPrivilegeEscalation(t *testing.T) {
	eachBackend(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st)
		a := e.newTenant("alpha")
		o := "/api/v1/orgs/" + a.org.ID
		type m = map[string]any
		cases := []struct {
			name, method, path string
			body               any
			status             int
			action             string
		}{
			{"grant itself manage on the folder", "POST", o + "/grants",
				m{"subject_type": "user", "subject_id": a.member.ID, "relation": "manage", "object_type": "folder", "object_id": a.folder.ID}, 403, "grant.create"},
			{"grant itself view_secrets on the device", "POST", o + "/grants",
				m{"subject_type": "user", "subject_id": a.member.ID, "relation": "view_secrets", "object_type": "device", "object_id": a.device.ID}, 403, "grant.create"},
			{"grant its group connect on the device it reaches", "POST", o + "/grants",
				m{"subject_type": "group", "subject_id": a.group.ID, "relation": "connect", "object_type": "device", "object_id": a.device.ID}, 403, "grant.create"},
			{"grant itself organization admin", "POST", o + "/grants",
				m{"subject_type": "user", "subject_id": a.member.ID, "relation": "admin", "object_type": "organization"}, 403, "grant.create"},
			{"revoke its group's grant", "DELETE", o + "/grants/" + a.grant.ID, nil, 403, "grant.delete"},
			{"promote itself", "PATCH", o + "/members/" + a.member.ID, m{"role": "admin"}, 403, "member.set_role"},
			{"demote the admin", "PATCH", o + "/members/" + a.admin.ID, m{"role": "member"}, 403, "member.set_role"},
			{"remove the admin", "DELETE", o + "/members/" + a.admin.ID, nil, 403, "member.remove"},
			{"add a member", "POST", o + "/members", m{"user_id": a.outsider.ID, "role": "admin"}, 403, "member.add"},
			{"put the loner in its group", "POST", o + "/groups/" + a.group.ID + "/members", m{"user_id": a.loner.ID}, 403, "group.member.add"},
			{"create a service", "POST", o + "/devices/" + a.device.ID + "/services",
				m{"name": "web", "protocol": "http", "port": 8080}, 403, "service.create"},
			{"change a service's port", "PATCH", o + "/devices/" + a.device.ID + "/services/" + a.service.ID,
				m{"name": a.service.Name, "protocol": string(a.service.Protocol), "port": 2201}, 403, "service.update"},
			{"delete a service", "DELETE", o + "/devices/" + a.device.ID + "/services/" + a.service.ID, nil, 403, "service.delete"},
			{"create a credential on a service", "POST", o + "/credentials",
				m{"scope_type": "service", "scope_id": a.service.ID, "name": "x", "kind": "password", "secret": "s"}, 403, "credential.create"},
			{"create a credential on a folder", "POST", o + "/credentials",
				m{"scope_type": "folder", "scope_id": a.folder.ID, "name": "x", "kind": "password", "secret": "s"}, 403, "credential.create"},
			{"delete a credential", "DELETE", o + "/credentials/" + a.cred.ID, nil, 403, "credential.delete"},
			{"move the device", "PATCH", o + "/devices/" + a.device.ID, m{"folder_id": ""}, 403, "device.update"},
			{"delete the device", "DELETE", o + "/devices/" + a.device.ID, nil, 403, "device.delete"},
			{"create a top-level folder", "POST", o + "/folders", m{"name": "mine"}, 403, "folder.create"},
			{"read the IdPs", "GET", o + "/idps", nil, 403, "idp.list"},
			{"add an IdP", "POST", o + "/idps", m{"name": "x", "issuer": "https://x.test", "client_id": "c", "domains": []string{"x.test"}}, 403, "idp.create"},
			{"mint an enrollment token", "POST", o + "/enrollment-tokens", m{}, 403, "enrollment_token.create"},
			{"read the audit log", "GET", o + "/audit", nil, 403, "audit.list"},
			{"explain another user", "GET", o + "/acl/explain?user=" + a.admin.ID + "&device=" + a.device.ID + "&port=22", nil, 403, "acl.explain"},
			{"revoke the admin's API token", "DELETE", o + "/tokens/" + a.adminPAT.ID, nil, 404, "token.revoke"},
			{"name its org in a body", "POST", o + "/tokens", m{"name": "x", "org_id": a.org.ID}, 400, "token.create"},
			{"name another org in a body", "POST", o + "/grants", m{"org_id": "org_other", "subject_type": "user",
				"subject_id": a.member.ID, "relation": "view", "object_type": "device", "object_id": a.device.ID}, 400, "grant.create"},
			{"name an org in a body, capitalised", "POST", o + "/tokens", m{"name": "x", "Org_Id": a.org.ID}, 400, "token.create"},
		}
		for _, c := range cases {
			before := e.denials(a, a.member.ID, c.action)
			r := e.do(a.memberTok, c.method, c.path, c.body)
			if r.status != c.status {
				t.Errorf("member may %s: %s %s = %d %s, want %d", c.name, c.method, c.path, r.status, r.body, c.status)
				continue
			}
			after := e.denials(a, a.member.ID, c.action)
			if len(after) != len(before)+1 {
				t.Errorf("%s: %d denied %s audit events, want %d", c.name, len(after), c.action, len(before)+1)
				continue
			}
			ev := after[0] // newest first
			if ev.Reason == "" || ev.SourceIP != "127.0.0.1" || ev.ActorType != "user" || ev.ObjectID == "" {
				t.Errorf("%s: audit event %+v lacks reason, source IP, actor type or object", c.name, ev)
			}
		}

		// Nothing changed: no grant was added, no role changed.
		gs, err := e.st.ListGrants(t.Context(), a.org.ID, store.GrantFilter{})
		if err != nil || len(gs) != 1 {
			t.Errorf("grants after the attempts = %v, %v; want only the fixture's", gs, err)
		}
		if m, err := e.st.GetMembership(t.Context(), a.org.ID, a.member.ID); err != nil || m.Role != store.RoleMember {
			t.Errorf("member's role after the attempts = %+v, %v", m, err)
		}
		ok, err := e.fga.Check(t.Context(), acl.Tuple{User: acl.User(a.member.ID), Relation: acl.RelationManage, Object: acl.Folder(a.folder.ID)})
		if err != nil || ok {
			t.Errorf("member holds manage on the folder after the attempts: %v, %v", ok, err)
		}
	})
}

// denials returns the denied audit events of actor for action, newest
// first.
func (e *env) denials(tn *tenant, actor, action string) []store.AuditEvent {
	e.t.Helper()
	es, _, err := e.st.ListAudit(e.t.Context(), store.AuditFilter{OrgID: tn.org.ID, ActorID: actor, Action: action,
		Result: store.AuditDenied, Limit: store.MaxAuditLimit})
	if err != nil {
		e.t.Fatalf("ListAudit() = %v", err)
	}
	return es
}

// TestNoSecretRead checks that no route returns a secret: none has a
// secret-bearing field in its response, no path reads one, and no answer
// to any GET of the table (as the admin, who could read everything there
// is) nor any log line holds a credential's or an IdP's plaintext, even
// right after it was written through the API.
func TestNoSecretRead(t *testing.T) {
	e := newEnv(t, storetest.SQLite(t))
	a := e.newTenant("alpha")
	o := "/api/v1/orgs/" + a.org.ID
	password, clientSecret := "hunter2-"+a.credSecret, "client-"+a.idpSecret
	r := e.must(http.StatusCreated, a.adminTok, "POST", o+"/credentials", map[string]any{"scope_type": "folder",
		"scope_id": a.sub.ID, "name": "db", "username": "postgres", "kind": "password", "secret": password})
	var created api.Credential
	r.decode(t, &created)
	e.must(http.StatusCreated, a.adminTok, "POST", o+"/idps", map[string]any{"name": "okta", "issuer": "https://okta.test",
		"client_id": "c", "client_secret": clientSecret, "domains": []string{"okta.test"}})
	// The secret was stored, sealed: the vault opens it.
	if _, sec, err := e.vault.OpenCredential(t.Context(), a.org.ID, created.ID); err != nil || string(sec) != password {
		t.Fatalf("OpenCredential() = %v; the API did not store the secret", err)
	}
	plaintexts := []string{a.credSecret, a.keySecret, a.idpSecret, password, clientSecret}

	forbidden := []string{"secret", "client_secret", "password", "sealed", "private_key", "plaintext"}
	secretType := reflect.TypeOf(secrets.Secret{})
	for _, rt := range e.v1.Routes() {
		if strings.Contains(strings.ToLower(rt.Path), "secret") {
			t.Errorf("route %s %s reads like a secret read", rt.Method, rt.Path)
		}
		if rt.Method != http.MethodGet {
			continue
		}
		for _, tok := range []string{a.adminTok, a.memberTok} {
			p := path(t, rt.Path, func(p string) string { return a.param(t, p) }) + exampleQuery(rt.Action, a)
			r := e.do(tok, rt.Method, p, nil)
			for _, pt := range plaintexts {
				if strings.Contains(string(r.body), pt) {
					t.Errorf("GET %s answers a secret's plaintext", p)
				}
			}
			if rt.Action == "openapi.get" {
				continue
			}
			var v any
			json.Unmarshal(r.body, &v)
			walkKeys(v, func(k string) {
				if slices.Contains(forbidden, k) {
					t.Errorf("GET %s answers a field %q", p, k)
				}
			})
		}
	}
	// Response types carry no secrets.Secret, which would print REDACTED
	// at best.
	for _, typ := range []any{api.Credential{}, api.IdP{}, api.APIToken{}, api.EnrollmentToken{}} {
		rt := reflect.TypeOf(typ)
		for i := range rt.NumField() {
			if rt.Field(i).Type == secretType {
				t.Errorf("%s.%s is a secret", rt.Name(), rt.Field(i).Name)
			}
		}
	}
	for _, pt := range plaintexts {
		if strings.Contains(e.logs.String(), pt) {
			t.Errorf("the log holds a secret's plaintext")
		}
	}
	// The member sees the credential's metadata, never more.
	r = e.must(http.StatusOK, a.memberTok, "GET", o+"/credentials/"+a.cred.ID, nil)
	var got map[string]any
	r.decode(t, &got)
	if got["id"] != a.cred.ID || got["username"] != "root" {
		t.Errorf("credential metadata = %v", got)
	}
}

func walkKeys(v any, fn func(string)) {
	switch x := v.(type) {
	case map[string]any:
		for k, vv := range x {
			fn(k)
			walkKeys(vv, fn)
		}
	case []any:
		for _, vv := range x {
			walkKeys(vv, fn)
		}
	}
}

// TestGrantEndToEnd grants connect on a folder to a group through the API
// and revokes it: the group's member is allowed, then denied, in
// OpenFGA and in the compiled table, as explain tells both the admin and
// the member.
func TestGrantEndToEnd(t *testing.T) {
	e := newEnv(t, storetest.SQLite(t))
	a := e.newTenant("alpha")
	o := "/api/v1/orgs/" + a.org.ID
	explain := func(tok, user string) (api.Explanation, int) {
		t.Helper()
		q := o + "/acl/explain?device=" + a.device.Name + "&port=22"
		if user != "" {
			q += "&user=" + user
		}
		r := e.do(tok, "GET", q, nil)
		var x api.Explanation
		if r.status == http.StatusOK {
			r.decode(t, &x)
		}
		return x, r.status
	}
	expect := func(step string, allowed bool) {
		t.Helper()
		x, status := explain(a.adminTok, a.member.ID)
		if status != http.StatusOK || x.Allowed != allowed || x.Compiled != allowed {
			t.Errorf("%s: admin's explain = %d %+v, want allowed=%v", step, status, x, allowed)
		}
		if allowed != e.az.Allowed(a.member.ID, a.device.ID, 22) {
			t.Errorf("%s: compiled table says %v", step, !allowed)
		}
	}

	// The fixture's grant: the group holds connect on the folder.
	expect("fixture", true)
	if x, status := explain(a.memberTok, ""); status != http.StatusOK || !x.Allowed || x.GrantedOn != acl.Folder(a.folder.ID) {
		t.Errorf("member's own explain = %d %+v, want allowed, granted on %s", status, x, acl.Folder(a.folder.ID))
	}
	e.must(http.StatusNoContent, a.adminTok, "DELETE", o+"/grants/"+a.grant.ID, nil)
	expect("after revoking the fixture's grant", false)
	if _, status := explain(a.memberTok, ""); status != http.StatusNotFound {
		t.Errorf("member's own explain without view = %d, want 404", status)
	}

	r := e.must(http.StatusCreated, a.adminTok, "POST", o+"/grants", map[string]any{"subject_type": "group",
		"subject_id": a.group.ID, "relation": "connect", "object_type": "folder", "object_id": a.folder.ID})
	var g api.Grant
	r.decode(t, &g)
	expect("after granting through the API", true)
	x, _ := explain(a.memberTok, "")
	if !x.Allowed || x.Relation != acl.RelationConnect || !slices.Contains(x.Holds, acl.RelationConnect) {
		t.Errorf("member's own explain after the grant = %+v", x)
	}
	e.must(http.StatusNoContent, a.adminTok, "DELETE", o+"/grants/"+g.ID, nil)
	expect("after revoking through the API", false)
	if x, _ := explain(a.adminTok, a.member.ID); !strings.Contains(x.Reason, "lacks connect") {
		t.Errorf("denied explanation's reason = %q, want it to name the missing relation", x.Reason)
	}

	for _, action := range []string{"grant.create", "grant.delete"} {
		es, _, err := e.st.ListAudit(t.Context(), store.AuditFilter{OrgID: a.org.ID, ActorID: a.admin.ID, Action: action,
			Result: store.AuditAllowed})
		if err != nil || len(es) == 0 {
			t.Errorf("no allowed %s audit event: %v", action, err)
		}
	}
}

// TestManagerDelegation checks the rules for people who manage a folder
// without being org admins: they grant what they hold on what they
// manage, create services and credentials there, and nothing beyond.
func TestManagerDelegation(t *testing.T) {
	e := newEnv(t, storetest.SQLite(t))
	a := e.newTenant("alpha")
	o := "/api/v1/orgs/" + a.org.ID
	if _, err := e.az.Grant(t.Context(), store.Grant{OrgID: a.org.ID, SubjectType: store.SubjectUser, SubjectID: a.loner.ID,
		Relation: acl.RelationManage, ObjectType: store.ObjectFolder, ObjectID: a.sub.ID}); err != nil {
		t.Fatalf("Grant() = %v", err)
	}
	tok := a.lonerTok
	type m = map[string]any
	e.must(http.StatusCreated, tok, "POST", o+"/grants", m{"subject_type": "user", "subject_id": a.member.ID,
		"relation": "edit", "object_type": "device", "object_id": a.device.ID})
	e.must(http.StatusForbidden, tok, "POST", o+"/grants", m{"subject_type": "user", "subject_id": a.loner.ID,
		"relation": "view_secrets", "object_type": "folder", "object_id": a.sub.ID})
	e.must(http.StatusNotFound, tok, "POST", o+"/grants", m{"subject_type": "user", "subject_id": a.loner.ID,
		"relation": "manage", "object_type": "folder", "object_id": a.folder.ID}) // the parent: not even visible
	e.must(http.StatusCreated, tok, "POST", o+"/devices/"+a.device.ID+"/services", m{"name": "pg", "protocol": "tcp", "port": 5432})
	e.must(http.StatusCreated, tok, "POST", o+"/credentials", m{"scope_type": "folder", "scope_id": a.sub.ID,
		"name": "x", "kind": "password", "secret": "s"})
	e.must(http.StatusCreated, tok, "POST", o+"/folders", m{"name": "child", "parent_id": a.sub.ID})
	e.must(http.StatusForbidden, tok, "POST", o+"/folders/"+a.sub.ID+"/move", m{"parent_id": ""})

	// Lists show the manager what it may see, and no more.
	var folders []api.Folder
	e.must(http.StatusOK, tok, "GET", o+"/folders", nil).decode(t, &folders)
	if len(folders) != 2 { // sub and its new child; not the parent
		t.Errorf("manager's folders = %+v, want sub and child", folders)
	}
	var grants []api.Grant
	e.must(http.StatusOK, tok, "GET", o+"/grants", nil).decode(t, &grants)
	for _, g := range grants {
		if g.ObjectID == a.folder.ID || g.ObjectType == store.ObjectOrganization {
			t.Errorf("manager sees grant %+v on what it does not manage", g)
		}
	}
	var creds []api.Credential
	e.must(http.StatusOK, tok, "GET", o+"/credentials", nil).decode(t, &creds)
	for _, c := range creds {
		if c.ID == a.folderCred.ID {
			t.Errorf("manager sees credential %+v on the parent folder", c)
		}
	}
	var none []api.OrgDevice
	e.must(http.StatusOK, a.outsiderTok(t, e), "GET", o+"/devices", nil).decode(t, &none)
	if len(none) != 0 {
		t.Errorf("a member with no grant sees devices %+v", none)
	}
}

// outsiderTok makes the outsider a plain member and returns a token.
func (tn *tenant) outsiderTok(t *testing.T, e *env) string {
	t.Helper()
	e.member(tn.org.ID, tn.outsider, store.RoleMember)
	tok, _ := e.token(tn.org.ID, tn.outsider)
	return tok
}
