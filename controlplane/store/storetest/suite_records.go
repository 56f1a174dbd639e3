package storetest

import (
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/warrenhq/warren/controlplane/store"
)

func testEngines(t *testing.T, newURL func(testing.TB) string) {
	s := Open(t, newURL(t))
	ctx := t.Context()
	e1 := store.Engine{ID: "eng-1", PublicKey: "key-1", OverlayIP: addr("100.96.0.1"), Endpoint: "203.0.113.1:51820"}
	e2 := store.Engine{ID: "eng-2", PublicKey: "key-2", OverlayIP: addr("100.96.0.2")}
	for _, e := range []store.Engine{e1, e2} {
		if err := s.UpsertEngine(ctx, e); err != nil {
			t.Fatalf("UpsertEngine(%s) = %v", e.ID, err)
		}
	}
	before := msNow()
	es, err := s.ListEngines(ctx)
	if err != nil || len(es) != 2 {
		t.Fatalf("ListEngines() = %+v, %v, want 2 engines", es, err)
	}
	created := es[0].CreatedAt
	if created.IsZero() || created.After(before) || !es[0].UpdatedAt.Equal(created) {
		t.Errorf("engine timestamps = %v, %v, want set, equal, not after %v", created, es[0].UpdatedAt, before)
	}
	e1.CreatedAt, e1.UpdatedAt = created, created
	e2.CreatedAt, e2.UpdatedAt = es[1].CreatedAt, es[1].UpdatedAt
	equal(t, "ListEngines()", es, []store.Engine{e1, e2})

	time.Sleep(2 * time.Millisecond) // let the millisecond clock move
	e1.Endpoint = "203.0.113.9:51820"
	if err := s.UpsertEngine(ctx, e1); err != nil {
		t.Fatalf("UpsertEngine(update) = %v", err)
	}
	es, err = s.ListEngines(ctx)
	if err != nil {
		t.Fatalf("ListEngines() = %v", err)
	}
	if es[0].Endpoint != e1.Endpoint || !es[0].CreatedAt.Equal(created) || !es[0].UpdatedAt.After(created) {
		t.Errorf("after update: %+v, want endpoint %s, created_at kept, updated_at later", es[0], e1.Endpoint)
	}

	err = s.UpsertEngine(ctx, store.Engine{ID: "eng-3", PublicKey: "key-1", OverlayIP: addr("100.96.0.3")})
	wantConflict(t, "UpsertEngine(duplicate public key)", err, "engines", "public_key")
	err = s.UpsertEngine(ctx, store.Engine{ID: "eng-3", PublicKey: "key-3", OverlayIP: addr("100.96.0.2")})
	wantConflict(t, "UpsertEngine(duplicate address)", err, "engines", "overlay_ip")
	err = s.UpsertEngine(ctx, store.Engine{ID: "eng-3", PublicKey: "key-3"})
	wantInvalid(t, "UpsertEngine(no address)", err, "overlay_ip")
}

func testEnrollTokens(t *testing.T, newURL func(testing.TB) string) {
	s := Open(t, newURL(t))
	ctx := t.Context()
	expires := msNow().Add(time.Hour)
	created := msNow().Add(-time.Minute)
	tok, err := s.CreateEnrollToken(ctx, store.EnrollToken{Hash: hashOf("a"), CreatedAt: created, ExpiresAt: expires})
	if err != nil {
		t.Fatalf("CreateEnrollToken() = %v", err)
	}
	if len(tok.ID) < 20 || tok.ID[:4] != "tok_" {
		t.Errorf("CreateEnrollToken().ID = %q, want a generated tok_ ID", tok.ID)
	}
	want := store.EnrollToken{ID: tok.ID, Hash: hashOf("a"), CreatedAt: created, ExpiresAt: expires}
	equal(t, "CreateEnrollToken()", tok, want)
	newer, err := s.CreateEnrollToken(ctx, store.EnrollToken{ID: "tok_b", Hash: hashOf("b"), ExpiresAt: expires})
	if err != nil {
		t.Fatalf("CreateEnrollToken(b) = %v", err)
	}
	toks, err := s.ListEnrollTokens(ctx)
	if err != nil {
		t.Fatalf("ListEnrollTokens() = %v", err)
	}
	equal(t, "ListEnrollTokens()", toks, []store.EnrollToken{newer, want})

	_, err = s.CreateEnrollToken(ctx, store.EnrollToken{Hash: hashOf("a"), ExpiresAt: expires})
	wantConflict(t, "CreateEnrollToken(duplicate hash)", err, "enroll_tokens", "token_hash")
	_, err = s.CreateEnrollToken(ctx, store.EnrollToken{ID: "tok_b", Hash: hashOf("c"), ExpiresAt: expires})
	wantConflict(t, "CreateEnrollToken(duplicate id)", err, "enroll_tokens", "id")
	_, err = s.CreateEnrollToken(ctx, store.EnrollToken{Hash: []byte("short"), ExpiresAt: expires})
	wantInvalid(t, "CreateEnrollToken(short hash)", err, "hash")
	_, err = s.CreateEnrollToken(ctx, store.EnrollToken{Hash: hashOf("d")})
	wantInvalid(t, "CreateEnrollToken(no expiry)", err, "expires_at")

	if err := s.DeleteEnrollToken(ctx, "tok_b"); err != nil {
		t.Fatalf("DeleteEnrollToken() = %v", err)
	}
	wantErr(t, "DeleteEnrollToken(deleted)", s.DeleteEnrollToken(ctx, "tok_b"), store.ErrNotFound)
	req := enrollReq(hashOf("b"), "k", "h")
	if _, err := s.Enroll(ctx, req); err != store.ErrTokenInvalid {
		t.Errorf("Enroll(deleted token) = %v, want ErrTokenInvalid", err)
	}
}

func testDevices(t *testing.T, newURL func(testing.TB) string) {
	s := Open(t, newURL(t))
	ctx := t.Context()
	a := mustEnroll(t, s, "alpha")
	b := mustEnroll(t, s, "Bravo")

	ds, err := s.ListDevices(ctx)
	if err != nil {
		t.Fatalf("ListDevices() = %v", err)
	}
	// Byte order in both dialects ('B' < 'a'), whatever PostgreSQL's locale.
	equal(t, "ListDevices()", ds, []store.Device{b, a})

	hs := msNow()
	if err := s.UpdateDeviceEndpoint(ctx, a.ID, "198.51.100.7:41641", hs); err != nil {
		t.Fatalf("UpdateDeviceEndpoint() = %v", err)
	}
	if err := s.SetDeviceAgentVersion(ctx, a.ID, "2.0.0"); err != nil {
		t.Fatalf("SetDeviceAgentVersion() = %v", err)
	}
	if err := s.SetDeviceDisabled(ctx, a.ID, true); err != nil {
		t.Fatalf("SetDeviceDisabled() = %v", err)
	}
	a.LastEndpoint, a.LastHandshake, a.AgentVersion, a.Disabled = "198.51.100.7:41641", hs, "2.0.0", true
	got, err := s.GetDevice(ctx, a.ID)
	if err != nil {
		t.Fatalf("GetDevice() = %v", err)
	}
	equal(t, "GetDevice() after updates", got, a)
	if err := s.SetDeviceDisabled(ctx, a.ID, false); err != nil {
		t.Fatalf("SetDeviceDisabled(false) = %v", err)
	}
	if got, _ := s.GetDevice(ctx, a.ID); got.Disabled {
		t.Errorf("GetDevice().Disabled = true after SetDeviceDisabled(false)")
	}
	if err := s.UpdateDeviceEndpoint(ctx, a.ID, "", time.Time{}); err != nil {
		t.Fatalf("UpdateDeviceEndpoint(clear) = %v", err)
	}
	if got, _ := s.GetDevice(ctx, a.ID); got.LastEndpoint != "" || !got.LastHandshake.IsZero() {
		t.Errorf("after clearing: endpoint %q, handshake %v, want empty", got.LastEndpoint, got.LastHandshake)
	}

	for name, err := range map[string]error{
		"GetDevice":             func() error { _, err := s.GetDevice(ctx, "nope"); return err }(),
		"UpdateDeviceEndpoint":  s.UpdateDeviceEndpoint(ctx, "nope", "x:1", hs),
		"SetDeviceAgentVersion": s.SetDeviceAgentVersion(ctx, "nope", "1"),
		"SetDeviceDisabled":     s.SetDeviceDisabled(ctx, "nope", true),
		"DeleteDevice":          s.DeleteDevice(ctx, "nope"),
	} {
		wantErr(t, name+"(unknown)", err, store.ErrNotFound)
	}

	if err := s.DeleteDevice(ctx, "Bravo"); err != nil {
		t.Fatalf("DeleteDevice(name) = %v", err)
	}
	_, err = s.GetDevice(ctx, b.ID)
	wantErr(t, "GetDevice(deleted)", err, store.ErrNotFound)
	wantErr(t, "DeleteDevice(deleted)", s.DeleteDevice(ctx, b.ID), store.ErrNotFound)
}

// testDeviceIDBeforeName: when one device's name is another's ID, the ID wins.
func testDeviceIDBeforeName(t *testing.T, newURL func(testing.TB) string) {
	s := Open(t, newURL(t))
	ctx := t.Context()
	a := mustEnroll(t, s, "alpha")
	b := mustEnroll(t, s, a.ID)
	if got, err := s.GetDevice(ctx, a.ID); err != nil || got.ID != a.ID {
		t.Errorf("GetDevice(%s) = %s, %v, want %s", a.ID, got.ID, err, a.ID)
	}
	if err := s.DeleteDevice(ctx, a.ID); err != nil {
		t.Fatalf("DeleteDevice() = %v", err)
	}
	if got, err := s.GetDevice(ctx, a.ID); err != nil || got.ID != b.ID {
		t.Errorf("GetDevice(%s) after deleting that ID = %s, %v, want %s (by name)", a.ID, got.ID, err, b.ID)
	}
}

func testServices(t *testing.T, newURL func(testing.TB) string) {
	s := Open(t, newURL(t))
	ctx := t.Context()
	d := mustEnroll(t, s, "alpha")
	other := mustEnroll(t, s, "bravo")

	ssh, err := s.CreateService(ctx, store.Service{DeviceID: d.ID, Name: "ssh", Protocol: store.ProtocolSSH, Port: 22})
	if err != nil {
		t.Fatalf("CreateService() = %v", err)
	}
	if len(ssh.ID) < 20 || ssh.ID[:4] != "svc_" || ssh.CreatedAt.IsZero() {
		t.Errorf("CreateService() = %+v, want a generated svc_ ID and CreatedAt", ssh)
	}
	equal(t, "default target", ssh.Target, "127.0.0.1:22")
	rdp, err := s.CreateService(ctx, store.Service{ID: "svc_rdp", DeviceID: d.ID, Name: "desktop", Protocol: store.ProtocolRDP,
		Port: 3389, Target: "192.168.1.20:3389"})
	if err != nil {
		t.Fatalf("CreateService(rdp) = %v", err)
	}
	otherSSH, err := s.CreateService(ctx, store.Service{DeviceID: other.ID, Name: "ssh", Protocol: store.ProtocolSSH, Port: 22})
	if err != nil {
		t.Fatalf("CreateService(same name and port, other device) = %v", err)
	}

	got, err := s.GetService(ctx, d.ID, "ssh")
	if err != nil {
		t.Fatalf("GetService() = %v", err)
	}
	equal(t, "GetService()", got, ssh)
	list, err := s.ListServices(ctx, d.ID)
	if err != nil {
		t.Fatalf("ListServices() = %v", err)
	}
	equal(t, "ListServices()", list, []store.Service{rdp, ssh})
	all, err := s.ListAllServices(ctx)
	if err != nil {
		t.Fatalf("ListAllServices() = %v", err)
	}
	if len(all) != 3 {
		t.Errorf("ListAllServices() has %d services, want 3", len(all))
	}
	if none, err := s.ListServices(ctx, "nope"); err != nil || len(none) != 0 {
		t.Errorf("ListServices(unknown device) = %v, %v, want none", none, err)
	}

	_, err = s.CreateService(ctx, store.Service{DeviceID: d.ID, Name: "ssh", Protocol: store.ProtocolTCP, Port: 2222})
	wantConflict(t, "CreateService(duplicate name)", err, "services", "name")
	_, err = s.CreateService(ctx, store.Service{DeviceID: d.ID, Name: "ssh2", Protocol: store.ProtocolTCP, Port: 22})
	wantConflict(t, "CreateService(duplicate port)", err, "services", "port")
	_, err = s.CreateService(ctx, store.Service{DeviceID: "nope", Name: "x", Protocol: store.ProtocolTCP, Port: 1})
	wantErr(t, "CreateService(unknown device)", err, store.ErrNotFound)
	_, err = s.CreateService(ctx, store.Service{DeviceID: d.ID, Name: "x", Protocol: "ftp", Port: 21})
	wantInvalid(t, "CreateService(bad protocol)", err, "protocol")

	// Update in place: the ID and creation time stay, a rename takes the
	// trusted host key along, conflicts and bad input change nothing.
	fp := "SHA256:" + strings.Repeat("A", 43)
	if _, err := s.TrustHostKeyOnFirstUse(ctx, d.ID, "desktop", fp, time.Now()); err != nil {
		t.Fatalf("TrustHostKeyOnFirstUse() = %v", err)
	}
	upd, err := s.UpdateService(ctx, d.ID, rdp.ID, store.Service{Name: "rdp", Protocol: store.ProtocolRDP, Port: 3390,
		Target: "192.168.1.21:3389", Record: true})
	if err != nil {
		t.Fatalf("UpdateService() = %v", err)
	}
	want := store.Service{ID: rdp.ID, DeviceID: d.ID, Name: "rdp", Protocol: store.ProtocolRDP, Port: 3390,
		Target: "192.168.1.21:3389", Record: true, CreatedAt: rdp.CreatedAt}
	equal(t, "UpdateService()", upd, want)
	if got, err := s.GetService(ctx, d.ID, "rdp"); err != nil || got != want {
		t.Errorf("GetService(updated) = %+v, %v, want %+v", got, err, want)
	}
	if k, err := s.GetHostKey(ctx, d.ID, "rdp"); err != nil || k.Fingerprint != fp {
		t.Errorf("GetHostKey(renamed service) = %+v, %v; the trusted key must follow the rename", k, err)
	}
	_, err = s.UpdateService(ctx, d.ID, rdp.ID, store.Service{Name: "ssh", Protocol: store.ProtocolRDP, Port: 3390})
	wantConflict(t, "UpdateService(duplicate name)", err, "services", "name")
	_, err = s.UpdateService(ctx, d.ID, rdp.ID, store.Service{Name: "rdp", Protocol: store.ProtocolRDP, Port: 22})
	wantConflict(t, "UpdateService(duplicate port)", err, "services", "port")
	_, err = s.UpdateService(ctx, d.ID, rdp.ID, store.Service{Name: "rdp", Protocol: store.ProtocolRDP, Port: 0})
	wantInvalid(t, "UpdateService(port 0)", err, "port")
	_, err = s.UpdateService(ctx, other.ID, rdp.ID, store.Service{Name: "rdp", Protocol: store.ProtocolRDP, Port: 3390})
	wantErr(t, "UpdateService(another device's service)", err, store.ErrNotFound)
	if got, err := s.GetService(ctx, d.ID, "rdp"); err != nil || got != want {
		t.Errorf("GetService() after refused updates = %+v, %v, want %+v", got, err, want)
	}

	if err := s.DeleteService(ctx, d.ID, "ssh"); err != nil {
		t.Fatalf("DeleteService() = %v", err)
	}
	_, err = s.GetService(ctx, d.ID, "ssh")
	wantErr(t, "GetService(deleted)", err, store.ErrNotFound)
	wantErr(t, "DeleteService(deleted)", s.DeleteService(ctx, d.ID, "ssh"), store.ErrNotFound)
	if got, err := s.GetService(ctx, other.ID, "ssh"); err != nil || got != otherSSH {
		t.Errorf("GetService(other device) = %+v, %v, want %+v", got, err, otherSSH)
	}
}

func testServiceValidation(t *testing.T, newURL func(testing.TB) string) {
	s := Open(t, newURL(t))
	d := mustEnroll(t, s, "alpha")
	ok := store.Service{DeviceID: d.ID, Name: "web.app_1-x", Protocol: store.ProtocolHTTP, Port: 8080, Target: "10.0.0.5:80"}
	if err := store.ValidateService(ok); err != nil {
		t.Errorf("ValidateService(%+v) = %v", ok, err)
	}
	v6 := ok
	v6.Target = "[fd00::1]:443"
	if err := store.ValidateService(v6); err != nil {
		t.Errorf("ValidateService(IPv6 target) = %v", err)
	}
	cases := []struct {
		field  string
		modify func(*store.Service)
	}{
		{"name", func(s *store.Service) { s.Name = "" }},
		{"name", func(s *store.Service) { s.Name = "a b" }},
		{"name", func(s *store.Service) { s.Name = "a/b" }},
		{"protocol", func(s *store.Service) { s.Protocol = "" }},
		{"protocol", func(s *store.Service) { s.Protocol = "SSH" }},
		{"port", func(s *store.Service) { s.Port = 0 }},
		{"port", func(s *store.Service) { s.Port = 65536 }},
		{"port", func(s *store.Service) { s.Port = -1 }},
		{"target", func(s *store.Service) { s.Target = "localhost" }},
		{"target", func(s *store.Service) { s.Target = ":80" }},
		{"target", func(s *store.Service) { s.Target = "h:0" }},
		{"target", func(s *store.Service) { s.Target = "h:65536" }},
		{"target", func(s *store.Service) { s.Target = "h:http" }},
		{"target", func(s *store.Service) { s.Target = "h:+80" }},
	}
	for _, c := range cases {
		svc := ok
		c.modify(&svc)
		wantInvalid(t, "ValidateService("+svc.Name+"/"+string(svc.Protocol)+"/"+svc.Target+")", store.ValidateService(svc), c.field)
		_, err := s.CreateService(t.Context(), svc)
		wantInvalid(t, "CreateService", err, c.field)
	}
	if all, _ := s.ListAllServices(t.Context()); len(all) != 0 {
		t.Errorf("ListAllServices() = %+v after invalid creates, want none", all)
	}
}

func testPublishes(t *testing.T, newURL func(testing.TB) string) {
	s := Open(t, newURL(t))
	ctx := t.Context()
	d := mustEnroll(t, s, "alpha")
	svc, err := s.CreateService(ctx, store.Service{DeviceID: d.ID, Name: "ssh", Protocol: store.ProtocolSSH, Port: 22})
	if err != nil {
		t.Fatalf("CreateService() = %v", err)
	}
	p, err := s.CreatePublish(ctx, store.Publish{ServiceID: svc.ID, Listen: ":2201"})
	if err != nil {
		t.Fatalf("CreatePublish() = %v", err)
	}
	if len(p.ID) < 20 || p.ID[:4] != "pub_" || p.CreatedAt.IsZero() {
		t.Errorf("CreatePublish() = %+v, want a generated pub_ ID and CreatedAt", p)
	}
	want := store.Publish{ID: p.ID, ServiceID: svc.ID, Listen: ":2201", CreatedAt: p.CreatedAt,
		DeviceID: d.ID, DeviceName: "alpha", ServiceName: "ssh", ServicePort: 22}
	equal(t, "CreatePublish()", p, want)
	cidrs := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")}
	q, err := s.CreatePublish(ctx, store.Publish{ID: "pub_q", ServiceID: svc.ID, Listen: "127.0.0.1:2202",
		CreatedBy: "usr_alice", AllowCIDRs: cidrs})
	if err != nil {
		t.Fatalf("CreatePublish(second) = %v", err)
	}
	if q.CreatedBy != "usr_alice" || !slices.Equal(q.AllowCIDRs, cidrs) {
		t.Errorf("CreatePublish(second) = %+v, want created_by usr_alice and allow_cidrs %v", q, cidrs)
	}
	_, err = s.CreatePublish(ctx, store.Publish{ServiceID: svc.ID, Listen: ":2204", AllowCIDRs: []netip.Prefix{{}}})
	wantInvalid(t, "CreatePublish(invalid allow_cidrs)", err, "allow_cidrs")
	ps, err := s.ListPublishes(ctx)
	if err != nil {
		t.Fatalf("ListPublishes() = %v", err)
	}
	equal(t, "ListPublishes()", ps, []store.Publish{q, want})

	_, err = s.CreatePublish(ctx, store.Publish{ServiceID: svc.ID, Listen: ":2201"})
	wantConflict(t, "CreatePublish(duplicate listen)", err, "publishes", "listen")
	_, err = s.CreatePublish(ctx, store.Publish{ServiceID: "nope", Listen: ":2203"})
	wantErr(t, "CreatePublish(unknown service)", err, store.ErrNotFound)
	for _, listen := range []string{"", "2203", ":0", ":99999", "h:x"} {
		_, err = s.CreatePublish(ctx, store.Publish{ServiceID: svc.ID, Listen: listen})
		wantInvalid(t, "CreatePublish(listen "+listen+")", err, "listen")
	}

	if err := s.DeletePublish(ctx, ":2201"); err != nil {
		t.Fatalf("DeletePublish(listen) = %v", err)
	}
	if err := s.DeletePublish(ctx, "pub_q"); err != nil {
		t.Fatalf("DeletePublish(id) = %v", err)
	}
	wantErr(t, "DeletePublish(deleted)", s.DeletePublish(ctx, "pub_q"), store.ErrNotFound)
	if ps, _ := s.ListPublishes(ctx); len(ps) != 0 {
		t.Errorf("ListPublishes() = %+v after deleting all, want none", ps)
	}
}

func testCascade(t *testing.T, newURL func(testing.TB) string) {
	s := Open(t, newURL(t))
	ctx := t.Context()
	doomed := mustEnroll(t, s, "doomed")
	kept := mustEnroll(t, s, "kept")
	listen := 3000
	for _, d := range []store.Device{doomed, kept} {
		for i, name := range []string{"ssh", "vnc"} {
			svc, err := s.CreateService(ctx, store.Service{DeviceID: d.ID, Name: name, Protocol: store.ProtocolTCP, Port: 22 + i})
			if err != nil {
				t.Fatalf("CreateService() = %v", err)
			}
			listen++
			if _, err := s.CreatePublish(ctx, store.Publish{ServiceID: svc.ID, Listen: ":" + strconv.Itoa(listen)}); err != nil {
				t.Fatalf("CreatePublish() = %v", err)
			}
		}
	}
	if err := s.DeleteDevice(ctx, doomed.ID); err != nil {
		t.Fatalf("DeleteDevice() = %v", err)
	}
	if err := s.DeleteService(ctx, kept.ID, "vnc"); err != nil {
		t.Fatalf("DeleteService() = %v", err)
	}
	all, err := s.ListAllServices(ctx)
	if err != nil {
		t.Fatalf("ListAllServices() = %v", err)
	}
	if len(all) != 1 || all[0].DeviceID != kept.ID || all[0].Name != "ssh" {
		t.Errorf("ListAllServices() = %+v, want only kept/ssh", all)
	}
	ps, err := s.ListPublishes(ctx)
	if err != nil {
		t.Fatalf("ListPublishes() = %v", err)
	}
	if len(ps) != 1 || ps[0].DeviceID != kept.ID || ps[0].ServiceName != "ssh" {
		t.Errorf("ListPublishes() = %+v, want only kept/ssh", ps)
	}
}
