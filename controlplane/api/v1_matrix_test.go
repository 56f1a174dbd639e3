package api_test

import (
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/warrenhq/warren/controlplane/api"
	"github.com/warrenhq/warren/controlplane/store"
)

// exampleQuery is the query string a route needs to do anything, naming
// tn's rows.
func exampleQuery(action string, tn *tenant) string {
	switch action {
	case "acl.explain":
		return "?user=" + tn.member.ID + "&device=" + tn.device.ID + "&port=22"
	case "audit.list":
		return "?limit=1000"
	case "session.list":
		return "?scope=all&state=all"
	}
	return ""
}

// attack is one cross-tenant request.
type attack struct {
	what string
	path string
	body any
}

// attacks returns the requests that put b's ids where a's admin could
// only legitimately put a's: every path parameter, in every combination
// that names some row of b, and every body field and query parameter that
// names rows.
func attacks(t *testing.T, rt api.Route, a, b *tenant) []attack {
	t.Helper()
	body := func(tn *tenant) any {
		if rt.Body == nil {
			return nil
		}
		return exampleBody(t, rt.Action, tn)
	}
	fill := func(tn *tenant) func(string) string { return func(p string) string { return tn.param(t, p) } }
	out := []attack{{what: "every parameter of the other org", path: path(t, rt.Path, fill(b)) + exampleQuery(rt.Action, b), body: body(b)}}
	var others []string
	for _, p := range api.PathParams(rt.Path) {
		if p != "org" {
			others = append(others, p)
		}
	}
	if len(others) > 1 {
		out = append(out, attack{what: "own org, every other parameter of the other org",
			path: path(t, rt.Path, func(p string) string {
				if p == "org" {
					return a.org.ID
				}
				return b.param(t, p)
			}) + exampleQuery(rt.Action, a), body: body(a)})
	}
	for _, one := range others {
		out = append(out, attack{what: "own org, {" + one + "} of the other org",
			path: path(t, rt.Path, func(p string) string {
				if p == one {
					return b.param(t, p)
				}
				return a.param(t, p)
			}) + exampleQuery(rt.Action, a), body: body(a)})
	}
	own := path(t, rt.Path, fill(a))
	for _, x := range foreignBodies(rt.Action, a, b) {
		out = append(out, attack{what: "own path, a body naming the other org's rows", path: own, body: x})
	}
	if rt.Action == "acl.explain" {
		out = append(out,
			attack{what: "other org's user", path: own + "?user=" + b.member.ID + "&device=" + a.device.ID + "&port=22"},
			attack{what: "other org's device", path: own + "?user=" + a.member.ID + "&device=" + b.device.ID + "&port=22"},
			attack{what: "other org's device by name", path: own + "?device=" + b.device.Name + "&port=22"})
	}
	return out
}

// foreignBodies are request bodies for routes of a's org that name rows of
// b's. (member.add names a user, a platform-wide identity that no
// organization owns: it has none.)
func foreignBodies(action string, a, b *tenant) []any {
	type m = map[string]any
	switch action {
	case "group.member.add":
		return []any{m{"user_id": b.member.ID}, m{"group_id": b.group.ID}}
	case "folder.create":
		return []any{m{"name": "x", "parent_id": b.folder.ID}}
	case "folder.move":
		return []any{m{"parent_id": b.folder.ID}}
	case "device.update":
		return []any{m{"folder_id": b.folder.ID}}
	case "credential.create":
		return []any{
			m{"scope_type": "service", "scope_id": b.service.ID, "name": "x", "kind": "password", "secret": "s"},
			m{"scope_type": "folder", "scope_id": b.folder.ID, "name": "x", "kind": "password", "secret": "s"},
		}
	case "grant.create":
		return []any{
			m{"subject_type": "group", "subject_id": b.group.ID, "relation": "view", "object_type": "device", "object_id": a.device.ID},
			m{"subject_type": "user", "subject_id": b.member.ID, "relation": "view", "object_type": "folder", "object_id": a.folder.ID},
			m{"subject_type": "group", "subject_id": a.group.ID, "relation": "view", "object_type": "device", "object_id": b.device.ID},
			m{"subject_type": "group", "subject_id": a.group.ID, "relation": "view", "object_type": "device", "object_id": b.device.Name},
			m{"subject_type": "group", "subject_id": a.group.ID, "relation": "manage", "object_type": "folder", "object_id": b.folder.ID},
			m{"subject_type": "user", "subject_id": a.member.ID, "relation": "admin", "object_type": "organization", "object_id": b.org.ID},
		}
	case "enrollment_token.create":
		return []any{m{"folder_id": b.folder.ID}}
	case "session.open":
		return []any{m{"device": b.device.ID, "service": b.service.Name}, m{"device": b.device.Name, "service": b.service.Name}}
	case "session.share":
		return []any{m{"user_id": b.member.ID}, m{"group_id": b.group.ID}}
	}
	return nil
}

// orgState is everything of one org the API could change.
type orgState struct {
	Members     []store.Membership
	Groups      []store.Group
	GroupMember [][]store.GroupMember
	Folders     []store.Folder
	Devices     []store.Device
	Services    [][]store.Service
	Credentials []store.Credential
	IdPs        []store.IdP
	Grants      []store.Grant
	APITokens   []store.APIToken
	Enroll      []store.EnrollToken
	Sessions    []store.RemoteSession
	Observers   [][]string
	HostKeys    []store.HostKey
	Settings    store.SessionSettings
}

func (e *env) snapshot(orgID string) orgState {
	e.t.Helper()
	ctx, st := e.t.Context(), e.st
	var s orgState
	var errs []error
	note := func(err error) { errs = append(errs, err) }
	var err error
	s.Members, err = st.ListMembers(ctx, orgID)
	note(err)
	s.Groups, err = st.ListGroups(ctx, orgID)
	note(err)
	for _, g := range s.Groups {
		ms, err := st.ListGroupMembers(ctx, orgID, g.ID)
		note(err)
		s.GroupMember = append(s.GroupMember, ms)
	}
	s.Folders, err = st.ListFolders(ctx, orgID)
	note(err)
	s.Devices, err = st.ListOrgDevices(ctx, orgID)
	note(err)
	for _, d := range s.Devices {
		ss, err := st.ListServices(ctx, d.ID)
		note(err)
		s.Services = append(s.Services, ss)
	}
	s.Credentials, err = st.ListCredentials(ctx, orgID)
	note(err)
	s.IdPs, err = st.ListIdPs(ctx, orgID)
	note(err)
	s.Grants, err = st.ListGrants(ctx, orgID, store.GrantFilter{})
	note(err)
	s.APITokens, err = st.ListAPITokens(ctx, orgID, "")
	note(err)
	for i := range s.APITokens {
		s.APITokens[i].LastUsedAt = s.APITokens[i].CreatedAt // the attacker's own token is used
	}
	s.Enroll, err = st.ListOrgEnrollTokens(ctx, orgID)
	note(err)
	s.Sessions, err = st.ListRemoteSessions(ctx, orgID, store.RemoteSessionFilter{})
	note(err)
	for _, rs := range s.Sessions {
		os, err := e.az.SessionObservers(ctx, rs.ID)
		note(err)
		s.Observers = append(s.Observers, os)
	}
	for i, d := range s.Devices {
		for _, svc := range s.Services[i] {
			if k, err := st.GetHostKey(ctx, d.ID, svc.Name); err == nil {
				s.HostKeys = append(s.HostKeys, k)
			}
		}
	}
	s.Settings, err = st.GetSessionSettings(ctx, orgID)
	note(err)
	for _, err := range errs {
		if err != nil {
			e.t.Fatalf("snapshot of %s: %v", orgID, err)
		}
	}
	return s
}

// checkLists calls every list route of a's org as tok and fails if an
// answer holds any id of b's rows, or none of a's.
func (e *env) checkLists(t *testing.T, tok string, a, b *tenant) {
	t.Helper()
	for _, rt := range e.v1.Routes() {
		if !rt.List || slices.Contains(platformOnly, rt.Action) {
			continue // platform lists answer 403 to org admins (TestUserAdmin)
		}
		p := path(t, rt.Path, func(p string) string { return a.param(t, p) }) + exampleQuery(rt.Action, a)
		queries := []string{p}
		if rt.Action == "grant.list" {
			queries = append(queries, p+"?object_id="+b.folder.ID, p+"?subject_id="+b.group.ID)
		}
		if rt.Action == "audit.list" {
			queries = append(queries, p+"&object="+b.device.ID, p+"&actor="+b.admin.ID)
		}
		for _, q := range queries {
			r := e.must(http.StatusOK, tok, http.MethodGet, q, nil)
			body := string(r.body)
			for _, id := range b.ids() {
				if strings.Contains(body, id) {
					t.Errorf("GET %s holds %s of the other org: %s", q, id, body)
				}
			}
			if q == p && !slices.ContainsFunc(a.ids(), func(id string) bool { return strings.Contains(body, id) }) {
				t.Errorf("GET %s holds none of its own org's ids: %s", q, body)
			}
		}
	}
}

// TestCrossTenantMatrix is the tenancy acceptance test: org A's admin calls
// every route and method of the table with org B's ids in every path
// parameter (org B's own id included), in every body field and query
// parameter that names rows: every answer is 404, nothing of B changes,
// and no list of A ever holds a row of B. A user who administers both orgs,
// through an API token of A, gets the same answers: the token's org scopes
// it.
func TestCrossTenantMatrix(t *testing.T) {
	eachBackend(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st)
		a, b := e.newTenant("alpha"), e.newTenant("bravo")
		dual := e.user("dual")
		e.member(a.org.ID, dual, store.RoleAdmin)
		e.member(b.org.ID, dual, store.RoleAdmin)
		dualTok, _ := e.token(a.org.ID, dual)
		callers := map[string]string{"A's admin": a.adminTok, "admin of both with A's token": dualTok}

		beforeA, beforeB := e.snapshot(a.org.ID), e.snapshot(b.org.ID)
		for _, tok := range callers {
			e.checkLists(t, tok, a, b)
		}
		calls, routes := 0, 0
		for _, rt := range e.v1.Routes() {
			if !slices.Contains(api.PathParams(rt.Path), "org") {
				continue // /api/v1/orgs, openapi.json: tested below and in TestPlatformAdmin
			}
			routes++
			for _, at := range attacks(t, rt, a, b) {
				for who, tok := range callers {
					r := e.do(tok, rt.Method, at.path, at.body)
					calls++
					if r.status != http.StatusNotFound {
						t.Errorf("%s: %s %s (%s) = %d %s, want 404", who, rt.Method, at.path, at.what, r.status, r.body)
					}
				}
			}
		}
		t.Logf("%d routes, %d cross-tenant calls", routes, calls)

		for who, tok := range callers {
			r := e.must(http.StatusOK, tok, http.MethodGet, "/api/v1/orgs", nil)
			if strings.Contains(string(r.body), b.org.ID) {
				t.Errorf("%s: GET /api/v1/orgs holds the other org: %s", who, r.body)
			}
			e.checkLists(t, tok, a, b)
		}
		if diff := cmp.Diff(beforeB, e.snapshot(b.org.ID), cmpopts.EquateComparable(netip.Addr{})); diff != "" {
			t.Errorf("org B changed under cross-tenant calls (-before +after):\n%s", diff)
		}
		if diff := cmp.Diff(beforeA, e.snapshot(a.org.ID), cmpopts.EquateComparable(netip.Addr{})); diff != "" {
			t.Errorf("org A changed under cross-tenant calls (-before +after):\n%s", diff)
		}
		if !e.az.Allowed(b.member.ID, b.device.ID, 22) {
			t.Errorf("org B's member lost access to org B's device")
		}
	})
}
