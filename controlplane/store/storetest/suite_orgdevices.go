package storetest

import (
	"testing"
	"time"

	"github.com/warrenhq/warren/controlplane/store"
)

// testOrgDevices: an org's enrollment token puts the device in its org and
// folder; org-scoped device access sees only the org's devices.
func testOrgDevices(t *testing.T, newURL func(testing.TB) string) {
	s := Open(t, newURL(t))
	ctx := t.Context()
	a, b := mustOrg(t, s, "a"), mustOrg(t, s, "b")
	fa, fb := mustFolder(t, s, a.ID, "", "prod"), mustFolder(t, s, b.ID, "", "prod")

	expires := msNow().Add(time.Hour)
	tok, err := s.CreateEnrollToken(ctx, store.EnrollToken{Hash: hashOf("a-token"), ExpiresAt: expires, OrgID: a.ID, FolderID: fa.ID})
	if err != nil {
		t.Fatalf("CreateEnrollToken(org, folder) = %v", err)
	}
	equal(t, "CreateEnrollToken(org, folder)", tok, store.EnrollToken{ID: tok.ID, Hash: hashOf("a-token"),
		CreatedAt: tok.CreatedAt, ExpiresAt: expires, OrgID: a.ID, FolderID: fa.ID})
	if got, err := s.ListOrgEnrollTokens(ctx, a.ID); err != nil {
		t.Fatalf("ListOrgEnrollTokens() = %v", err)
	} else {
		equal(t, "ListOrgEnrollTokens(a)", got, []store.EnrollToken{tok})
	}
	if got, _ := s.ListOrgEnrollTokens(ctx, b.ID); len(got) != 0 {
		t.Errorf("ListOrgEnrollTokens(b) = %+v, want none", got)
	}
	_, err = s.CreateEnrollToken(ctx, store.EnrollToken{Hash: hashOf("x1"), ExpiresAt: expires, FolderID: fa.ID})
	wantInvalid(t, "CreateEnrollToken(folder without org)", err, "folder_id")
	_, err = s.CreateEnrollToken(ctx, store.EnrollToken{Hash: hashOf("x2"), ExpiresAt: expires, OrgID: "nope"})
	wantErr(t, "CreateEnrollToken(unknown org)", err, store.ErrNotFound)
	_, err = s.CreateEnrollToken(ctx, store.EnrollToken{Hash: hashOf("x3"), ExpiresAt: expires, OrgID: b.ID, FolderID: fa.ID})
	wantErr(t, "CreateEnrollToken(folder of another org)", err, store.ErrNotFound)

	d, err := s.Enroll(ctx, enrollReq(tok.Hash, "key-web", "web"))
	if err != nil {
		t.Fatalf("Enroll(org token) = %v", err)
	}
	if d.OrgID != a.ID || d.FolderID != fa.ID {
		t.Errorf("Enroll(org token) = org %q folder %q, want %s %s", d.OrgID, d.FolderID, a.ID, fa.ID)
	}
	if got, err := s.GetDevice(ctx, d.ID); err != nil || got != d {
		t.Errorf("GetDevice() = %+v, %v, want %+v", got, err, d)
	}
	for _, ref := range []string{d.ID, "web"} {
		if got, err := s.GetOrgDevice(ctx, a.ID, ref); err != nil || got != d {
			t.Errorf("GetOrgDevice(a, %s) = %+v, %v, want %+v", ref, got, err, d)
		}
		_, err := s.GetOrgDevice(ctx, b.ID, ref)
		wantErr(t, "GetOrgDevice(b, "+ref+")", err, store.ErrNotFound)
	}
	legacy := mustEnroll(t, s, "legacy") // a token of no org
	if legacy.OrgID != "" || legacy.FolderID != "" {
		t.Errorf("Enroll(org-less token) = org %q folder %q, want none", legacy.OrgID, legacy.FolderID)
	}
	if got, err := s.ListOrgDevices(ctx, a.ID); err != nil {
		t.Fatalf("ListOrgDevices() = %v", err)
	} else {
		equal(t, "ListOrgDevices(a)", got, []store.Device{d})
	}
	if got, _ := s.ListOrgDevices(ctx, b.ID); len(got) != 0 {
		t.Errorf("ListOrgDevices(b) = %+v, want none", got)
	}

	if err := s.SetDeviceFolder(ctx, a.ID, d.ID, ""); err != nil {
		t.Fatalf("SetDeviceFolder(top) = %v", err)
	}
	if got, _ := s.GetDevice(ctx, d.ID); got.FolderID != "" || got.OrgID != a.ID {
		t.Errorf("after SetDeviceFolder(top): org %q folder %q, want %s and none", got.OrgID, got.FolderID, a.ID)
	}
	if err := s.SetDeviceFolder(ctx, a.ID, d.ID, fa.ID); err != nil {
		t.Fatalf("SetDeviceFolder() = %v", err)
	}
	wantErr(t, "SetDeviceFolder(folder of another org)", s.SetDeviceFolder(ctx, a.ID, d.ID, fb.ID), store.ErrNotFound)
	wantErr(t, "SetDeviceFolder(device of no org)", s.SetDeviceFolder(ctx, a.ID, legacy.ID, ""), store.ErrNotFound)
	wantErr(t, "SetDeviceFolder(unknown folder)", s.SetDeviceFolder(ctx, a.ID, d.ID, "nope"), store.ErrNotFound)

	if err := s.AssignDeviceOrg(ctx, legacy.ID, b.ID, fb.ID); err != nil {
		t.Fatalf("AssignDeviceOrg() = %v", err)
	}
	if got, err := s.GetOrgDevice(ctx, b.ID, "legacy"); err != nil || got.FolderID != fb.ID {
		t.Errorf("GetOrgDevice(b, legacy) = %+v, %v, want it in %s", got, err, fb.ID)
	}
	wantInvalid(t, "AssignDeviceOrg(device of an org)", s.AssignDeviceOrg(ctx, legacy.ID, a.ID, ""), "org_id")
	wantErr(t, "AssignDeviceOrg(unknown device)", s.AssignDeviceOrg(ctx, "nope", a.ID, ""), store.ErrNotFound)
	other := mustEnroll(t, s, "other")
	wantErr(t, "AssignDeviceOrg(unknown org)", s.AssignDeviceOrg(ctx, other.ID, "nope", ""), store.ErrNotFound)
	wantErr(t, "AssignDeviceOrg(folder of another org)", s.AssignDeviceOrg(ctx, other.ID, a.ID, fb.ID), store.ErrNotFound)

	wantErr(t, "DeleteOrgEnrollToken(another org)", s.DeleteOrgEnrollToken(ctx, b.ID, tok.ID), store.ErrNotFound)
	if err := s.DeleteOrgEnrollToken(ctx, a.ID, tok.ID); err != nil {
		t.Fatalf("DeleteOrgEnrollToken() = %v", err)
	}
	if got, _ := s.ListOrgEnrollTokens(ctx, a.ID); len(got) != 0 {
		t.Errorf("ListOrgEnrollTokens() after delete = %+v, want none", got)
	}

	// A token into a folder goes with the folder.
	empty := mustFolder(t, s, a.ID, "", "empty")
	gone := mustOrgToken(t, s, a.ID, empty.ID)
	if err := s.DeleteFolder(ctx, a.ID, empty.ID); err != nil {
		t.Fatalf("DeleteFolder() = %v", err)
	}
	if _, err := s.Enroll(ctx, enrollReq(gone.Hash, "key-gone", "gone")); err != store.ErrTokenInvalid {
		t.Errorf("Enroll(token of a deleted folder) = %v, want ErrTokenInvalid", err)
	}
}
