package api_test

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/warrenhq/warren/controlplane/api"
	"github.com/warrenhq/warren/controlplane/store"
	"github.com/warrenhq/warren/controlplane/store/storetest"
	"github.com/warrenhq/warren/controlplane/web"
)

// deleteOrder is the order the happy-path sweep deletes in, so that each
// delete finds what it deletes and nothing it needs is gone.
var deleteOrder = []string{
	"session.unshare", "session.terminate", "credential.delete", "publish.delete", "service.delete", "grant.delete", "idp.delete", "token.revoke",
	"enrollment_token.delete", "group.member.remove", "member.remove", "group.delete", "device.delete",
	"folder.delete",
}

// platformOnly are the routes an org admin cannot use (TestPlatformAdmin
// covers them).
var platformOnly = []string{"org.create", "org.delete", "user.list", "user.update", "user.sessions.revoke"}

// needsAgent are the routes that succeed only with a live agent on the
// device (this API test has none): the e2e tests in package controlplane
// call them through a real agent and sshd (TestSessionRoutesE2E).
var needsAgent = []string{"session.open", "session.attach"}

// TestRoutesHappyPath calls every route of the table as the org's admin
// with the org's own ids and a valid body: each answers its documented
// success status. (This is what makes the matrix's 404s mean something:
// the same requests with the right org's ids succeed.)
func TestRoutesHappyPath(t *testing.T) {
	e := newEnv(t, storetest.SQLite(t))
	a := e.newTenant("alpha")
	routes := e.v1.Routes()
	rank := func(r api.Route) int {
		switch r.Method {
		case http.MethodGet:
			return 0
		case http.MethodDelete:
			i := slices.Index(deleteOrder, r.Action)
			if i < 0 && !slices.Contains(platformOnly, r.Action) {
				t.Fatalf("route %s is not in deleteOrder", r.Action)
			}
			return 2 + i
		}
		return 1
	}
	slices.SortStableFunc(routes, func(x, y api.Route) int { return rank(x) - rank(y) })
	for _, rt := range routes {
		if slices.Contains(platformOnly, rt.Action) || slices.Contains(needsAgent, rt.Action) {
			continue
		}
		var body any
		if rt.Body != nil {
			body = exampleBody(t, rt.Action, a)
		}
		p := path(t, rt.Path, func(p string) string { return a.param(t, p) }) + exampleQuery(rt.Action, a)
		r := e.do(a.adminTok, rt.Method, p, body)
		if r.status != rt.Status {
			t.Errorf("%s %s = %d %s, want %d", rt.Method, p, r.status, r.body, rt.Status)
		}
		if r.status == http.StatusNoContent && len(r.body) != 0 {
			t.Errorf("%s %s answered a body with 204: %s", rt.Method, p, r.body)
		}
		if rt.List && r.status == http.StatusOK && strings.TrimSpace(string(r.body)) == "null" {
			t.Errorf("%s %s = null, want a list", rt.Method, p)
		}
	}
	// Every write was audited as allowed, by the admin.
	events, _, err := e.st.ListAudit(t.Context(), store.AuditFilter{OrgID: a.org.ID, ActorID: a.admin.ID, Limit: store.MaxAuditLimit})
	if err != nil {
		t.Fatalf("ListAudit() = %v", err)
	}
	for _, rt := range routes {
		if rt.Method == http.MethodGet || slices.Contains(platformOnly, rt.Action) || slices.Contains(needsAgent, rt.Action) {
			continue
		}
		if !slices.ContainsFunc(events, func(ev store.AuditEvent) bool {
			return ev.Action == rt.Action && ev.Result == store.AuditAllowed && ev.SourceIP == "127.0.0.1"
		}) {
			t.Errorf("no allowed audit event %s by the admin from 127.0.0.1", rt.Action)
		}
	}
}

// session opens a browser session for u directly in the store (platform
// admins act through sessions only: API tokens never carry the role) and
// returns the cookie secret and the CSRF token.
func (e *env) session(u store.User) (cookie, csrf string) {
	e.t.Helper()
	raw := make([]byte, 32)
	rand.Read(raw)
	cookie = base64.RawURLEncoding.EncodeToString(raw)
	rand.Read(raw)
	csrf = base64.RawURLEncoding.EncodeToString(raw)
	h := sha256.Sum256([]byte(cookie))
	if _, err := e.st.CreateSession(e.t.Context(), store.Session{TokenHash: h[:], UserID: u.ID, CSRFToken: csrf,
		ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
		e.t.Fatalf("CreateSession() = %v", err)
	}
	return cookie, csrf
}

func (e *env) doSession(cookie, csrf, method, p string, body any) response {
	e.t.Helper()
	var rd io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			e.t.Fatalf("encoding body: %v", err)
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(e.t.Context(), method, e.url+p, rd)
	if err != nil {
		e.t.Fatalf("NewRequest(%s %s) = %v", method, p, err)
	}
	req.AddCookie(&http.Cookie{Name: web.SessionCookie, Value: cookie})
	if csrf != "" {
		req.Header.Set(web.CSRFHeader, csrf)
		req.Header.Set("Origin", e.url)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, p, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatalf("%s %s: reading body: %v", method, p, err)
	}
	return response{status: resp.StatusCode, body: data}
}

// TestPlatformAdmin covers the routes only platform admins use, through a
// browser session (with its CSRF token): creating, listing and deleting
// organizations. Org admins are refused, and audited.
func TestPlatformAdmin(t *testing.T) {
	e := newEnv(t, storetest.SQLite(t))
	a := e.newTenant("alpha")
	root := e.user("root")
	if err := e.st.SetPlatformAdmin(t.Context(), root.ID, true); err != nil {
		t.Fatalf("SetPlatformAdmin() = %v", err)
	}
	cookie, csrf := e.session(root)

	if r := e.doSession(cookie, "", http.MethodPost, "/api/v1/orgs", map[string]any{"name": "N", "slug": "nocsrf"}); r.status != http.StatusForbidden {
		t.Errorf("POST /api/v1/orgs without CSRF token = %d %s, want 403", r.status, r.body)
	}
	r := e.doSession(cookie, csrf, http.MethodPost, "/api/v1/orgs", map[string]any{"name": "New", "slug": "new-org"})
	if r.status != http.StatusCreated {
		t.Fatalf("POST /api/v1/orgs = %d %s, want 201", r.status, r.body)
	}
	var created api.Organization
	r.decode(t, &created)
	r = e.doSession(cookie, csrf, http.MethodGet, "/api/v1/orgs", nil)
	var orgs []api.Organization
	r.decode(t, &orgs)
	if len(orgs) != 2 {
		t.Errorf("GET /api/v1/orgs as platform admin = %+v, want both orgs", orgs)
	}
	// A platform admin administers every org: adds its first admin.
	if r := e.doSession(cookie, csrf, http.MethodPost, "/api/v1/orgs/new-org/members",
		map[string]any{"user_id": a.outsider.ID, "role": "admin"}); r.status != http.StatusCreated {
		t.Errorf("POST members as platform admin = %d %s, want 201", r.status, r.body)
	}

	// An org admin can neither create nor delete orgs.
	if r := e.do(a.adminTok, http.MethodPost, "/api/v1/orgs", map[string]any{"name": "X", "slug": "x-org"}); r.status != http.StatusForbidden {
		t.Errorf("POST /api/v1/orgs as org admin = %d %s, want 403", r.status, r.body)
	}
	if r := e.do(a.adminTok, http.MethodDelete, "/api/v1/orgs/"+a.org.ID, nil); r.status != http.StatusForbidden {
		t.Errorf("DELETE own org as org admin = %d %s, want 403", r.status, r.body)
	}
	for _, action := range []string{"org.create", "org.delete"} {
		events, _, err := e.st.ListAudit(t.Context(), store.AuditFilter{Platform: true, ActorID: a.admin.ID, Action: action,
			Result: store.AuditDenied})
		if err != nil || len(events) != 1 {
			t.Errorf("denied %s audit events of the org admin = %v, %v; want 1", action, events, err)
		}
	}

	if r := e.doSession(cookie, csrf, http.MethodDelete, "/api/v1/orgs/"+a.org.ID, nil); r.status != http.StatusBadRequest {
		t.Errorf("DELETE an org with devices = %d %s, want 400", r.status, r.body)
	}
	if r := e.doSession(cookie, csrf, http.MethodDelete, "/api/v1/orgs/"+created.ID, nil); r.status != http.StatusNoContent {
		t.Errorf("DELETE an empty org = %d %s, want 204", r.status, r.body)
	}
}

// TestOpenAPISync checks that the document served at openapi.json lists
// every registered route and method, and nothing else; that each of them
// is really served; and that paths outside the table are not.
func TestOpenAPISync(t *testing.T) {
	e := newEnv(t, storetest.SQLite(t))
	a := e.newTenant("alpha")
	r := e.must(http.StatusOK, a.memberTok, http.MethodGet, "/api/v1/openapi.json", nil)
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	r.decode(t, &doc)
	if doc.OpenAPI != "3.1.0" {
		t.Errorf("openapi = %q, want 3.1.0", doc.OpenAPI)
	}
	inDoc := map[string]bool{}
	for p, ops := range doc.Paths {
		for m := range ops {
			inDoc[strings.ToUpper(m)+" "+p] = true
		}
	}
	registered := map[string]bool{}
	for _, rt := range e.v1.Routes() {
		key := rt.Method + " " + rt.Path
		if registered[key] {
			t.Errorf("route %s registered twice", key)
		}
		registered[key] = true
		if !inDoc[key] {
			t.Errorf("registered route %s is missing from the OpenAPI document", key)
		}
		var op struct {
			OperationID string `json:"operationId"`
			Parameters  []struct {
				Name, In string
			} `json:"parameters"`
			RequestBody json.RawMessage `json:"requestBody"`
		}
		if err := json.Unmarshal(doc.Paths[rt.Path][strings.ToLower(rt.Method)], &op); err != nil {
			t.Fatalf("operation %s: %v", key, err)
		}
		if op.OperationID != rt.Action {
			t.Errorf("%s: operationId = %q, want %q", key, op.OperationID, rt.Action)
		}
		for _, p := range api.PathParams(rt.Path) {
			if !slices.ContainsFunc(op.Parameters, func(x struct{ Name, In string }) bool { return x.Name == p && x.In == "path" }) {
				t.Errorf("%s: path parameter %s undocumented", key, p)
			}
		}
		if (rt.Body != nil) != (op.RequestBody != nil) {
			t.Errorf("%s: request body documented = %v, route takes one = %v", key, op.RequestBody != nil, rt.Body != nil)
		}
		// The route is served: whatever it answers, it is not "no such route".
		served := e.do(a.memberTok, rt.Method, path(t, rt.Path, func(p string) string { return a.param(t, p) }), nil)
		if c := served.code(); c == "route_not_found" || c == "method_not_allowed" {
			t.Errorf("documented route %s is not served: %d %s", key, served.status, served.body)
		}
	}
	for key := range inDoc {
		if !registered[key] {
			t.Errorf("the OpenAPI document lists %s, which is not registered", key)
		}
	}
	for _, c := range []struct{ method, path, code string }{
		{http.MethodGet, "/api/v1/nope", "route_not_found"},
		{http.MethodGet, "/api/v1/orgs/" + a.org.ID + "/credentials/" + a.cred.ID + "/secret", "route_not_found"},
		{http.MethodPut, "/api/v1/orgs/" + a.org.ID + "/groups", "method_not_allowed"},
	} {
		if got := e.do(a.adminTok, c.method, c.path, nil).code(); got != c.code {
			t.Errorf("%s %s = %q, want %q", c.method, c.path, got, c.code)
		}
	}
}

// TestRequestBodies checks the body rules on every route that takes one:
// over 1 MiB is 413, an unknown field is 400, and so is any org_id.
func TestRequestBodies(t *testing.T) {
	e := newEnv(t, storetest.SQLite(t))
	a := e.newTenant("alpha")
	big := `{"name":"` + strings.Repeat("x", api.MaxBody) + `"}`
	for _, rt := range e.v1.Routes() {
		if rt.Body == nil || slices.Contains(platformOnly, rt.Action) {
			continue
		}
		p := path(t, rt.Path, func(p string) string { return a.param(t, p) })
		if r := e.do(a.adminTok, rt.Method, p, big); r.status != http.StatusRequestEntityTooLarge || r.code() != "body_too_large" {
			t.Errorf("%s %s with 1 MiB+ = %d %s, want 413 body_too_large", rt.Method, p, r.status, r.body)
		}
		valid, _ := json.Marshal(exampleBody(t, rt.Action, a))
		for field, want := range map[string]string{"bogus": "unknown_field", "org_id": "unknown_field", "Org_ID": "unknown_field"} {
			body := strings.Replace(string(valid), "{", `{"`+field+`":"`+a.org.ID+`",`, 1)
			if r := e.do(a.adminTok, rt.Method, p, body); r.status != http.StatusBadRequest || r.code() != want {
				t.Errorf("%s %s with %q = %d %s, want 400 %s", rt.Method, p, field, r.status, r.body, want)
			}
		}
		if r := e.do(a.adminTok, rt.Method, p, `{"name":`); r.status != http.StatusBadRequest {
			t.Errorf("%s %s with broken JSON = %d %s, want 400", rt.Method, p, r.status, r.body)
		}
	}
	if r := e.do("", http.MethodGet, "/api/v1/orgs", nil); r.status != http.StatusUnauthorized {
		t.Errorf("GET /api/v1/orgs without credentials = %d, want 401", r.status)
	}
}

// TestUserAdmin: a platform admin lists users, disables one (their API
// token and browser session stop working on the next request) and signs a
// user out everywhere; an org admin can do none of it, and each denial is
// audited.
func TestUserAdmin(t *testing.T) {
	e := newEnv(t, storetest.SQLite(t))
	a := e.newTenant("alpha")
	root := e.user("root")
	if err := e.st.SetPlatformAdmin(t.Context(), root.ID, true); err != nil {
		t.Fatalf("SetPlatformAdmin() = %v", err)
	}
	cookie, csrf := e.session(root)

	r := e.doSession(cookie, csrf, http.MethodGet, "/api/v1/users", nil)
	var users []api.User
	r.decode(t, &users)
	if r.status != http.StatusOK || !slices.ContainsFunc(users, func(u api.User) bool { return u.ID == a.member.ID }) {
		t.Fatalf("GET /api/v1/users = %d %s", r.status, r.body)
	}

	// The member's own session and token work, then stop at once.
	memberCookie, _ := e.session(a.member)
	if r := e.doSession(memberCookie, "", http.MethodGet, "/api/v1/orgs", nil); r.status != http.StatusOK {
		t.Fatalf("member session before: %d %s", r.status, r.body)
	}
	if r := e.doSession(cookie, csrf, http.MethodDelete, "/api/v1/users/"+a.member.ID+"/sessions", nil); r.status != http.StatusNoContent {
		t.Fatalf("revoke sessions = %d %s", r.status, r.body)
	}
	if r := e.doSession(memberCookie, "", http.MethodGet, "/api/v1/orgs", nil); r.status != http.StatusUnauthorized {
		t.Errorf("member session after revocation = %d, want 401", r.status)
	}
	if r := e.do(a.memberTok, http.MethodGet, "/api/v1/orgs", nil); r.status != http.StatusOK {
		t.Fatalf("member token before disabling: %d %s", r.status, r.body)
	}
	if r := e.doSession(cookie, csrf, http.MethodPatch, "/api/v1/users/"+a.member.ID, map[string]any{"disabled": true}); r.status != http.StatusOK {
		t.Fatalf("disable = %d %s", r.status, r.body)
	}
	if r := e.do(a.memberTok, http.MethodGet, "/api/v1/orgs", nil); r.status != http.StatusUnauthorized {
		t.Errorf("disabled member's token = %d, want 401", r.status)
	}

	// An org admin may not.
	for _, c := range []struct{ method, path string }{
		{http.MethodGet, "/api/v1/users"},
		{http.MethodPatch, "/api/v1/users/" + a.member.ID},
		{http.MethodDelete, "/api/v1/users/" + a.member.ID + "/sessions"},
	} {
		var body any
		if c.method == http.MethodPatch {
			body = map[string]any{"disabled": false}
		}
		if r := e.do(a.adminTok, c.method, c.path, body); r.status != http.StatusForbidden {
			t.Errorf("%s %s as org admin = %d %s, want 403", c.method, c.path, r.status, r.body)
		}
	}
	events, _, err := e.st.ListAudit(t.Context(), store.AuditFilter{Platform: true, ActorID: a.admin.ID, Result: store.AuditDenied})
	if err != nil || len(events) < 3 {
		t.Errorf("denied audit events of the org admin = %d, %v; want 3", len(events), err)
	}
}
