package api_test

import (
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/warrenhq/warren/controlplane/api"
	"github.com/warrenhq/warren/controlplane/store"
	"github.com/warrenhq/warren/controlplane/store/storetest"
)

// TestServiceUpdate: PATCH changes a service in place: the same ID, its
// credential and gateway port stay (a delete and re-create would cascade
// them away), the compiled ACL follows the new port, and bad input or a
// conflict changes nothing and names the field. A member without manage is
// refused.
func TestServiceUpdate(t *testing.T) {
	e := newEnv(t, storetest.SQLite(t))
	tn := e.newTenant("alpha")
	path := "/api/v1/orgs/" + tn.org.ID + "/devices/" + tn.device.ID + "/services/" + tn.service.ID
	if !e.az.Allowed(tn.member.ID, tn.device.ID, uint16(tn.service.Port)) {
		t.Fatalf("the member cannot reach the service's port %d before the update", tn.service.Port)
	}

	ctx := t.Context()
	cl := api.NewV1Client(e.url, tn.adminTok)
	got, err := cl.UpdateService(ctx, tn.org.ID, tn.device.ID, tn.service.ID, api.UpdateServiceRequest{
		Name: tn.service.Name, Protocol: "ssh", Port: 2200, Target: "127.0.0.1:22", Record: true})
	if err != nil || got.ID != tn.service.ID || got.Port != 2200 || !got.Record || got.Target != "127.0.0.1:22" {
		t.Errorf("UpdateService() = %+v, %v", got, err)
	}
	if !e.az.Allowed(tn.member.ID, tn.device.ID, 2200) || e.az.Allowed(tn.member.ID, tn.device.ID, uint16(tn.service.Port)) {
		t.Errorf("the compiled ACL did not follow the port change")
	}
	evs, _, err := e.st.ListAudit(ctx, store.AuditFilter{OrgID: tn.org.ID, Action: "service.update", Result: store.AuditAllowed,
		Limit: store.MaxAuditLimit})
	if err != nil || len(evs) != 1 || evs[0].ObjectID != tn.service.ID || evs[0].ActorID != tn.admin.ID {
		t.Errorf("service.update audit events = %+v, %v; want one by the admin on %s", evs, err, tn.service.ID)
	}
	if c, err := e.st.GetCredential(ctx, tn.org.ID, tn.cred.ID); err != nil || c.ScopeID != tn.service.ID {
		t.Errorf("the service's credential after the update: %+v, %v", c, err)
	}
	ps, err := e.st.ListPublishes(ctx)
	if err != nil || !slices.ContainsFunc(ps, func(p store.Publish) bool { return p.ID == tn.publish.ID && p.ServiceID == tn.service.ID }) {
		t.Errorf("the service's gateway port after the update: %+v, %v", ps, err)
	}

	if _, err := e.st.CreateService(ctx, store.Service{DeviceID: tn.device.ID, Name: "other", Protocol: "tcp", Port: 9000}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		body  map[string]any
		want  int
		field string
	}{
		{map[string]any{"name": tn.service.Name, "protocol": "ssh", "port": 0}, http.StatusBadRequest, "port"},
		{map[string]any{"name": tn.service.Name, "protocol": "ssh", "port": 65536}, http.StatusBadRequest, "port"},
		{map[string]any{"name": "a b", "protocol": "ssh", "port": 2200}, http.StatusBadRequest, "name"},
		{map[string]any{"name": tn.service.Name, "protocol": "ftp", "port": 2200}, http.StatusBadRequest, "protocol"},
		{map[string]any{"name": "other", "protocol": "ssh", "port": 2200}, http.StatusConflict, "name"},
		{map[string]any{"name": tn.service.Name, "protocol": "ssh", "port": 9000}, http.StatusConflict, "port"},
	} {
		r := e.must(tc.want, tn.adminTok, "PATCH", path, tc.body)
		if !strings.Contains(string(r.body), tc.field) {
			t.Errorf("PATCH %v = %s; want the field %q named", tc.body, r.body, tc.field)
		}
	}
	_, err = cl.UpdateService(ctx, tn.org.ID, tn.device.ID, tn.service.ID, api.UpdateServiceRequest{Name: "other", Protocol: "ssh", Port: 2200})
	if ae, ok := errors.AsType[*api.Error](err); !ok || ae.Status != http.StatusConflict || ae.Code == "" {
		t.Errorf("UpdateService(a taken name) = %v, want *api.Error 409", err)
	}
	e.must(http.StatusNotFound, tn.adminTok, "PATCH", path+"x", map[string]any{"name": "ghost", "protocol": "ssh", "port": 2201})
	e.must(http.StatusForbidden, tn.memberTok, "PATCH", path, map[string]any{"name": tn.service.Name, "protocol": "ssh", "port": 2201})
	s, err := e.st.GetService(ctx, tn.device.ID, tn.service.Name)
	if err != nil || s.Port != 2200 {
		t.Errorf("service after refused updates = %+v, %v; want port 2200", s, err)
	}
}
