package api_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/warrenhq/warren/controlplane/api"
	"github.com/warrenhq/warren/controlplane/enroll"
	"github.com/warrenhq/warren/controlplane/store"
	"github.com/warrenhq/warren/controlplane/store/storetest"
)

// TestAuditListing pages through the audit log and filters it.
func TestAuditListing(t *testing.T) {
	e := newEnv(t, storetest.SQLite(t))
	a := e.newTenant("alpha")
	o := "/api/v1/orgs/" + a.org.ID
	for range 3 {
		e.must(http.StatusForbidden, a.memberTok, "GET", o+"/idps", nil)
	}
	e.must(http.StatusCreated, a.adminTok, "POST", o+"/groups", map[string]any{"name": "audited"})

	var seen []api.AuditEvent
	cursor := ""
	for pages := 0; ; pages++ {
		if pages > 10 {
			t.Fatalf("audit paging does not end")
		}
		var page api.AuditPage
		e.must(http.StatusOK, a.adminTok, "GET", o+"/audit?limit=2&cursor="+cursor, nil).decode(t, &page)
		seen = append(seen, page.Events...)
		if page.NextCursor == "" {
			break
		}
		cursor = page.NextCursor
	}
	if len(seen) != 5 { // the fixture's event, 3 denials, 1 create
		t.Errorf("paged through %d events, want 5: %+v", len(seen), seen)
	}
	for i := 1; i < len(seen); i++ {
		if seen[i].ID >= seen[i-1].ID {
			t.Errorf("events out of order: %d after %d", seen[i].ID, seen[i-1].ID)
		}
	}
	var denied api.AuditPage
	e.must(http.StatusOK, a.adminTok, "GET", o+"/audit?result=denied&action=idp.list&actor="+a.member.ID, nil).decode(t, &denied)
	if len(denied.Events) != 3 {
		t.Errorf("denied idp.list events = %+v, want 3", denied.Events)
	}
	var none api.AuditPage
	e.must(http.StatusOK, a.adminTok, "GET", o+"/audit?until="+time.Now().Add(-time.Hour).UTC().Format(time.RFC3339), nil).decode(t, &none)
	if len(none.Events) != 0 {
		t.Errorf("events until an hour ago = %+v, want none", none.Events)
	}
	for _, q := range []string{"since=yesterday", "limit=0", "limit=5000", "cursor=abc"} {
		if r := e.do(a.adminTok, "GET", o+"/audit?"+q, nil); r.status != http.StatusBadRequest {
			t.Errorf("GET audit?%s = %d %s, want 400", q, r.status, r.body)
		}
	}
}

// TestEnrollmentTokenEnrollsIntoTheOrg creates an enrollment token through
// the API: its secret, shown once, enrolls a device into the org's folder.
func TestEnrollmentTokenEnrollsIntoTheOrg(t *testing.T) {
	e := newEnv(t, storetest.SQLite(t))
	a := e.newTenant("alpha")
	o := "/api/v1/orgs/" + a.org.ID
	var tok api.CreatedEnrollmentToken
	e.must(http.StatusCreated, a.adminTok, "POST", o+"/enrollment-tokens", map[string]any{"folder_id": a.sub.ID, "ttl": "1h"}).decode(t, &tok)
	if !strings.HasPrefix(tok.Token, enroll.TokenPrefix) || !strings.Contains(tok.Command, tok.Token) || !strings.Contains(tok.Command, e.url) {
		t.Errorf("created token = %+v", tok)
	}
	r := e.must(http.StatusOK, a.adminTok, "GET", o+"/enrollment-tokens", nil)
	if strings.Contains(string(r.body), tok.Token) {
		t.Errorf("the token list holds a token's secret")
	}
	d, err := e.st.Enroll(t.Context(), store.EnrollRequest{TokenHash: enroll.HashToken(tok.Token), Prefix: testPrefix,
		Device: store.Device{Name: "new-box", PublicKey: "key-new-box"}, NameExplicit: true})
	if err != nil {
		t.Fatalf("Enroll() with the API's token = %v", err)
	}
	if d.OrgID != a.org.ID || d.FolderID != a.sub.ID {
		t.Errorf("enrolled device in org %q folder %q, want %s %s", d.OrgID, d.FolderID, a.org.ID, a.sub.ID)
	}
	for _, body := range []map[string]any{{"ttl": "25h"}, {"ttl": "soon"}, {"folder_id": "fld_nope"}} {
		if r := e.do(a.adminTok, "POST", o+"/enrollment-tokens", body); r.status < 400 || r.status >= 500 {
			t.Errorf("POST enrollment-tokens %v = %d %s, want 4xx", body, r.status, r.body)
		}
	}
}

// TestAPITokens mints, lists and revokes API tokens through the API.
func TestAPITokens(t *testing.T) {
	e := newEnv(t, storetest.SQLite(t))
	a := e.newTenant("alpha")
	o := "/api/v1/orgs/" + a.org.ID
	var minted api.CreatedToken
	e.must(http.StatusCreated, a.memberTok, "POST", o+"/tokens", map[string]any{"name": "ci", "ttl": "24h"}).decode(t, &minted)
	if minted.ExpiresAt == nil || minted.Token == "" {
		t.Fatalf("minted token = %+v", minted)
	}
	e.must(http.StatusOK, minted.Token, "GET", o, nil)

	var mine []api.APIToken
	e.must(http.StatusOK, a.memberTok, "GET", o+"/tokens", nil).decode(t, &mine)
	for _, tk := range mine {
		if tk.UserID != a.member.ID {
			t.Errorf("member lists another member's token %+v", tk)
		}
	}
	var all []api.APIToken
	e.must(http.StatusOK, a.adminTok, "GET", o+"/tokens", nil).decode(t, &all)
	if len(all) <= len(mine) {
		t.Errorf("admin lists %d tokens, member %d; want the admin to see every member's", len(all), len(mine))
	}
	e.must(http.StatusNoContent, a.memberTok, "DELETE", o+"/tokens/"+minted.ID, nil)
	if r := e.do(minted.Token, "GET", o, nil); r.status != http.StatusUnauthorized {
		t.Errorf("revoked token = %d, want 401", r.status)
	}
	// The admin revokes a member's token; the member cannot revoke the admin's.
	e.must(http.StatusNotFound, a.memberTok, "DELETE", o+"/tokens/"+a.adminPAT.ID, nil)
	e.must(http.StatusNoContent, a.adminTok, "DELETE", o+"/tokens/"+a.memberPAT.ID, nil)
	if r := e.do(a.memberTok, "GET", o, nil); r.status != http.StatusUnauthorized {
		t.Errorf("token revoked by the admin = %d, want 401", r.status)
	}
}

// TestMembersKeepAnAdmin refuses to demote or remove the last admin, and
// applies role changes to OpenFGA at once.
func TestMembersKeepAnAdmin(t *testing.T) {
	e := newEnv(t, storetest.SQLite(t))
	a := e.newTenant("alpha")
	o := "/api/v1/orgs/" + a.org.ID
	if r := e.do(a.adminTok, "PATCH", o+"/members/"+a.admin.ID, map[string]any{"role": "member"}); r.code() != "last_admin" {
		t.Errorf("demoting the last admin = %d %s, want last_admin", r.status, r.body)
	}
	if r := e.do(a.adminTok, "DELETE", o+"/members/"+a.admin.ID, nil); r.code() != "last_admin" {
		t.Errorf("removing the last admin = %d %s, want last_admin", r.status, r.body)
	}
	e.must(http.StatusForbidden, a.memberTok, "GET", o+"/idps", nil)
	e.must(http.StatusOK, a.adminTok, "PATCH", o+"/members/"+a.member.ID, map[string]any{"role": "admin"})
	e.must(http.StatusOK, a.memberTok, "GET", o+"/idps", nil)
	e.must(http.StatusOK, a.memberTok, "PATCH", o+"/members/"+a.member.ID, map[string]any{"role": "member"})
	e.must(http.StatusForbidden, a.memberTok, "GET", o+"/idps", nil)
	if r := e.do(a.adminTok, "PATCH", o+"/members/"+a.member.ID, map[string]any{"role": "owner"}); r.status != http.StatusBadRequest {
		t.Errorf("role owner = %d %s, want 400", r.status, r.body)
	}
}
