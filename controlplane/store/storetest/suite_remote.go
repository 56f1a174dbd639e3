package storetest

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/warrenhq/warren/controlplane/store"
)

// testRemoteSessions: create, get, list with filters, end once, touch,
// delete; rows of another org are invisible; device deletion removes them.
func testRemoteSessions(t *testing.T, newURL func(testing.TB) string) {
	s := Open(t, newURL(t))
	ctx := t.Context()
	a, b := newOrgFixture(t, s, "alpha"), newOrgFixture(t, s, "bravo")
	mk := func(owner string, recorded bool) store.RemoteSession {
		t.Helper()
		rs, err := s.CreateRemoteSession(ctx, store.RemoteSession{ID: store.NewRemoteSessionID(), OrgID: a.org.ID,
			DeviceID: a.device.ID, Service: "ssh", Protocol: "ssh", OwnerID: owner, Recorded: recorded, Cols: 120, Rows: 40},
			store.SessionLimits{})
		if err != nil {
			t.Fatalf("CreateRemoteSession() = %v", err)
		}
		return rs
	}
	r1 := mk(a.admin.ID, false)
	time.Sleep(2 * time.Millisecond)
	r2 := mk(a.member.ID, true)
	if !r1.Live() || r1.Cols != 120 || r1.Rows != 40 || r1.StartedAt.IsZero() {
		t.Errorf("created = %+v", r1)
	}
	got, err := s.GetRemoteSession(ctx, a.org.ID, r1.ID)
	if err != nil {
		t.Fatalf("GetRemoteSession() = %v", err)
	}
	equal(t, "GetRemoteSession()", got, r1)
	_, err = s.GetRemoteSession(ctx, b.org.ID, r1.ID)
	wantErr(t, "GetRemoteSession(other org)", err, store.ErrNotFound)

	// A device of another org is refused.
	_, err = s.CreateRemoteSession(ctx, store.RemoteSession{OrgID: a.org.ID, DeviceID: b.device.ID, Service: "ssh",
		Protocol: "ssh", OwnerID: a.admin.ID}, store.SessionLimits{})
	wantErr(t, "CreateRemoteSession(device of another org)", err, store.ErrNotFound)
	_, err = s.CreateRemoteSession(ctx, store.RemoteSession{OrgID: a.org.ID, DeviceID: a.device.ID, Service: "bad name",
		Protocol: "ssh", OwnerID: a.admin.ID}, store.SessionLimits{})
	wantInvalid(t, "CreateRemoteSession(bad service)", err, "name")

	list := func(f store.RemoteSessionFilter) []string {
		t.Helper()
		rs, err := s.ListRemoteSessions(ctx, a.org.ID, f)
		if err != nil {
			t.Fatalf("ListRemoteSessions(%+v) = %v", f, err)
		}
		var ids []string
		for _, r := range rs {
			ids = append(ids, r.ID)
		}
		return ids
	}
	equal(t, "list all", list(store.RemoteSessionFilter{}), []string{r2.ID, r1.ID})
	equal(t, "list by owner", list(store.RemoteSessionFilter{OwnerID: a.admin.ID}), []string{r1.ID})
	equal(t, "list recorded", list(store.RemoteSessionFilter{Recorded: true}), []string{r2.ID})
	equal(t, "list by ids", list(store.RemoteSessionFilter{IDs: []string{r1.ID, "rs_nope"}}), []string{r1.ID})
	equal(t, "list by no ids", list(store.RemoteSessionFilter{IDs: []string{}}), []string(nil))
	if bs, err := s.ListRemoteSessions(ctx, b.org.ID, store.RemoteSessionFilter{}); err != nil || len(bs) != 0 {
		t.Errorf("ListRemoteSessions(other org) = %v, %v, want none", bs, err)
	}

	seen := msNow()
	if err := s.TouchRemoteSessions(ctx, []string{r1.ID, r2.ID}, seen); err != nil {
		t.Fatalf("TouchRemoteSessions() = %v", err)
	}
	ended := msNow().Add(time.Second)
	ok, err := s.EndRemoteSession(ctx, r1.ID, "exited", ended)
	if err != nil || !ok {
		t.Fatalf("EndRemoteSession() = %v, %v, want true", ok, err)
	}
	if ok, err := s.EndRemoteSession(ctx, r1.ID, "terminated", ended.Add(time.Second)); err != nil || ok {
		t.Errorf("EndRemoteSession(again) = %v, %v, want false", ok, err)
	}
	if _, err := s.EndRemoteSession(ctx, "rs_nope", "x", ended); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("EndRemoteSession(unknown) = %v, want ErrNotFound", err)
	}
	got, _ = s.GetRemoteSession(ctx, a.org.ID, r1.ID)
	if got.Live() || !got.EndedAt.Equal(ended) || got.EndReason != "exited" || !got.LastSeen.Equal(seen) {
		t.Errorf("ended session = %+v, want ended at %v for exited, last seen %v", got, ended, seen)
	}
	equal(t, "list live", list(store.RemoteSessionFilter{State: "live"}), []string{r2.ID})
	equal(t, "list ended", list(store.RemoteSessionFilter{State: "ended"}), []string{r1.ID})
	_, err = s.ListRemoteSessions(ctx, a.org.ID, store.RemoteSessionFilter{State: "bogus"})
	wantInvalid(t, "ListRemoteSessions(bad state)", err, "state")

	live, err := s.ListDeviceRemoteSessions(ctx, a.device.ID, "live")
	if err != nil || len(live) != 1 || live[0].ID != r2.ID {
		t.Errorf("ListDeviceRemoteSessions(live) = %+v, %v, want r2", live, err)
	}
	all, err := s.ListLiveRemoteSessions(ctx)
	if err != nil || len(all) != 1 || all[0].ID != r2.ID {
		t.Errorf("ListLiveRemoteSessions() = %+v, %v, want r2", all, err)
	}

	wantErr(t, "DeleteRemoteSession(other org)", s.DeleteRemoteSession(ctx, b.org.ID, r2.ID), store.ErrNotFound)
	if err := s.DeleteRemoteSession(ctx, a.org.ID, r2.ID); err != nil {
		t.Fatalf("DeleteRemoteSession() = %v", err)
	}
	// Deleting the device deletes its sessions.
	if err := s.DeleteDevice(ctx, a.device.ID); err != nil {
		t.Fatalf("DeleteDevice() = %v", err)
	}
	_, err = s.GetRemoteSession(ctx, a.org.ID, r1.ID)
	wantErr(t, "GetRemoteSession(after device deletion)", err, store.ErrNotFound)
}

// testSessionLimits: limits per user and per device hold under concurrent
// creates.
func testSessionLimits(t *testing.T, newURL func(testing.TB) string) {
	s := Open(t, newURL(t))
	ctx := t.Context()
	a := newOrgFixture(t, s, "alpha")
	create := func(owner string, lim store.SessionLimits) error {
		_, err := s.CreateRemoteSession(ctx, store.RemoteSession{OrgID: a.org.ID, DeviceID: a.device.ID, Service: "ssh",
			Protocol: "ssh", OwnerID: owner}, lim)
		return err
	}
	lim := store.SessionLimits{PerUser: 2, PerDevice: 3}
	for range 2 {
		if err := create(a.admin.ID, lim); err != nil {
			t.Fatalf("create = %v", err)
		}
	}
	var le *store.LimitError
	if err := create(a.admin.ID, lim); !errors.As(err, &le) || le.Limit != "per_user" || le.Max != 2 || !errors.Is(err, store.ErrLimit) {
		t.Errorf("third session of the user = %v, want per_user limit 2", err)
	}
	if err := create(a.member.ID, lim); err != nil {
		t.Fatalf("another user's = %v", err)
	}
	if err := create(a.member.ID, lim); !errors.As(err, &le) || le.Limit != "per_device" {
		t.Errorf("fourth session on the device = %v, want per_device limit", err)
	}
	// An ended session no longer counts.
	rs, _ := s.ListRemoteSessions(ctx, a.org.ID, store.RemoteSessionFilter{OwnerID: a.admin.ID})
	if _, err := s.EndRemoteSession(ctx, rs[0].ID, "exited", time.Time{}); err != nil {
		t.Fatal(err)
	}
	if err := create(a.admin.ID, lim); err != nil {
		t.Errorf("after one ended = %v", err)
	}

	// Racing creates of one user: exactly the limit wins.
	b := newOrgFixture(t, s, "bravo")
	var wins atomic.Int32
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			_, err := s.CreateRemoteSession(ctx, store.RemoteSession{OrgID: b.org.ID, DeviceID: b.device.ID, Service: "ssh",
				Protocol: "ssh", OwnerID: b.admin.ID}, store.SessionLimits{PerUser: 3, PerDevice: 50})
			switch {
			case err == nil:
				wins.Add(1)
			case !errors.Is(err, store.ErrLimit):
				t.Errorf("racing create = %v", err)
			}
		})
	}
	wg.Wait()
	if n := wins.Load(); n != 3 {
		t.Errorf("racing creates: %d won, want 3", n)
	}
}

// testAttachTickets: a ticket redeems once; expired, unknown and malformed
// ones are ErrTicketInvalid; 50 racers, exactly one winner; tickets go with
// their session.
func testAttachTickets(t *testing.T, newURL func(testing.TB) string) {
	s := Open(t, newURL(t))
	ctx := t.Context()
	a := newOrgFixture(t, s, "alpha")
	rs, err := s.CreateRemoteSession(ctx, store.RemoteSession{OrgID: a.org.ID, DeviceID: a.device.ID, Service: "ssh",
		Protocol: "ssh", OwnerID: a.admin.ID}, store.SessionLimits{})
	if err != nil {
		t.Fatal(err)
	}
	now := msNow()
	mk := func(secret string, expires time.Time) []byte {
		t.Helper()
		h := hashOf(secret)
		if err := s.CreateAttachTicket(ctx, store.AttachTicket{Hash: h, SessionID: rs.ID, UserID: a.admin.ID,
			Role: store.TicketDriver, ExpiresAt: expires}, now); err != nil {
			t.Fatalf("CreateAttachTicket() = %v", err)
		}
		return h
	}
	h := mk("one", now.Add(30*time.Second))
	got, err := s.RedeemAttachTicket(ctx, h, now)
	if err != nil {
		t.Fatalf("RedeemAttachTicket() = %v", err)
	}
	equal(t, "redeemed", got, store.AttachTicket{Hash: h, SessionID: rs.ID, UserID: a.admin.ID, Role: store.TicketDriver,
		ExpiresAt: now.Add(30 * time.Second)})
	if _, err := s.RedeemAttachTicket(ctx, h, now); err != store.ErrTicketInvalid {
		t.Errorf("second redeem = %v, want ErrTicketInvalid", err)
	}
	exp := mk("two", now.Add(time.Second))
	if _, err := s.RedeemAttachTicket(ctx, exp, now.Add(time.Second)); err != store.ErrTicketInvalid {
		t.Errorf("redeem at expiry = %v, want ErrTicketInvalid", err)
	}
	for _, bad := range [][]byte{nil, []byte("short"), hashOf("never")} {
		if _, err := s.RedeemAttachTicket(ctx, bad, now); err != store.ErrTicketInvalid {
			t.Errorf("redeem %x = %v, want ErrTicketInvalid", bad, err)
		}
	}
	err = s.CreateAttachTicket(ctx, store.AttachTicket{Hash: hashOf("x"), SessionID: "rs_nope", UserID: a.admin.ID,
		Role: store.TicketObserver, ExpiresAt: now.Add(time.Second)}, now)
	wantErr(t, "CreateAttachTicket(unknown session)", err, store.ErrNotFound)
	err = s.CreateAttachTicket(ctx, store.AttachTicket{Hash: hashOf("x"), SessionID: rs.ID, UserID: a.admin.ID,
		Role: "admin", ExpiresAt: now.Add(time.Second)}, now)
	wantInvalid(t, "CreateAttachTicket(bad role)", err, "role")

	// Racers.
	race := mk("race", now.Add(30*time.Second))
	var wins atomic.Int32
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			_, err := s.RedeemAttachTicket(ctx, race, now)
			switch {
			case err == nil:
				wins.Add(1)
			case err != store.ErrTicketInvalid:
				t.Errorf("racing redeem = %v", err)
			}
		})
	}
	wg.Wait()
	if n := wins.Load(); n != 1 {
		t.Errorf("50 racing redeems: %d won, want exactly 1", n)
	}

	// Creating a ticket purges expired ones; deleting the session deletes its tickets.
	old := mk("old", now.Add(time.Millisecond))
	later := now.Add(time.Minute)
	if err := s.CreateAttachTicket(ctx, store.AttachTicket{Hash: hashOf("new"), SessionID: rs.ID, UserID: a.admin.ID,
		Role: store.TicketObserver, ExpiresAt: later.Add(time.Second)}, later); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RedeemAttachTicket(ctx, old, now); err != store.ErrTicketInvalid {
		t.Errorf("redeem of a purged ticket = %v, want ErrTicketInvalid", err)
	}
	if err := s.DeleteRemoteSession(ctx, a.org.ID, rs.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RedeemAttachTicket(ctx, hashOf("new"), later); err != store.ErrTicketInvalid {
		t.Errorf("redeem after the session was deleted = %v, want ErrTicketInvalid", err)
	}
}

// testHostKeys: trust on first use, pending key on a change, acceptance
// only of the pending fingerprint.
func testHostKeys(t *testing.T, newURL func(testing.TB) string) {
	s := Open(t, newURL(t))
	ctx := t.Context()
	a := newOrgFixture(t, s, "alpha")
	const fp1, fp2 = "SHA256:AAAAbbbbCCCCdddd0123+/", "SHA256:ZZZZyyyyXXXX9876"
	_, err := s.GetHostKey(ctx, a.device.ID, "ssh")
	wantErr(t, "GetHostKey(none)", err, store.ErrNotFound)
	at := msNow()
	k, err := s.TrustHostKeyOnFirstUse(ctx, a.device.ID, "ssh", fp1, at)
	if err != nil {
		t.Fatalf("TrustHostKeyOnFirstUse() = %v", err)
	}
	equal(t, "first use", k, store.HostKey{DeviceID: a.device.ID, Service: "ssh", Fingerprint: fp1, FirstSeen: at})
	// A second first use keeps the first key.
	if k2, err := s.TrustHostKeyOnFirstUse(ctx, a.device.ID, "ssh", fp2, at.Add(time.Second)); err != nil || k2 != k {
		t.Errorf("TrustHostKeyOnFirstUse(again) = %+v, %v, want %+v", k2, err, k)
	}
	_, err = s.TrustHostKeyOnFirstUse(ctx, a.device.ID, "ssh", "MD5:xx", at)
	wantInvalid(t, "TrustHostKeyOnFirstUse(bad)", err, "fingerprint")
	_, err = s.TrustHostKeyOnFirstUse(ctx, "dev_nope", "ssh", fp1, at)
	wantErr(t, "TrustHostKeyOnFirstUse(no device)", err, store.ErrNotFound)

	wantErr(t, "SetPendingHostKey(unknown service)", s.SetPendingHostKey(ctx, a.device.ID, "rdp", fp2, at), store.ErrNotFound)
	if err := s.SetPendingHostKey(ctx, a.device.ID, "ssh", fp2, at); err != nil {
		t.Fatalf("SetPendingHostKey() = %v", err)
	}
	_, err = s.AcceptHostKey(ctx, a.device.ID, "ssh", fp1, a.admin.ID, at)
	wantInvalid(t, "AcceptHostKey(not the pending one)", err, "fingerprint")
	acc := at.Add(time.Second)
	k, err = s.AcceptHostKey(ctx, a.device.ID, "ssh", fp2, a.admin.ID, acc)
	if err != nil {
		t.Fatalf("AcceptHostKey() = %v", err)
	}
	want := store.HostKey{DeviceID: a.device.ID, Service: "ssh", Fingerprint: fp2, FirstSeen: acc, AcceptedBy: a.admin.ID}
	equal(t, "accepted", k, want)
	got, _ := s.GetHostKey(ctx, a.device.ID, "ssh")
	equal(t, "GetHostKey() after accept", got, want)
	_, err = s.AcceptHostKey(ctx, a.device.ID, "ssh", fp2, a.admin.ID, acc)
	wantInvalid(t, "AcceptHostKey(nothing pending)", err, "fingerprint")
	_, err = s.AcceptHostKey(ctx, a.device.ID, "rdp", fp2, a.admin.ID, acc)
	wantErr(t, "AcceptHostKey(no key)", err, store.ErrNotFound)
}

// testSessionSettings: defaults, round trip, validation, unknown org.
func testSessionSettings(t *testing.T, newURL func(testing.TB) string) {
	s := Open(t, newURL(t))
	ctx := t.Context()
	a := newOrgFixture(t, s, "alpha")
	got, err := s.GetSessionSettings(ctx, a.org.ID)
	if err != nil {
		t.Fatal(err)
	}
	equal(t, "defaults", got, store.DefaultSessionSettings())
	want := store.SessionSettings{DetachedTimeout: 5 * time.Minute, IdleTimeout: time.Hour, BufferSize: 1 << 20,
		MaxUserSessions: 2, MaxDeviceSessions: 3}
	for range 2 { // insert, then update
		if err := s.SetSessionSettings(ctx, a.org.ID, want); err != nil {
			t.Fatalf("SetSessionSettings() = %v", err)
		}
	}
	got, _ = s.GetSessionSettings(ctx, a.org.ID)
	equal(t, "after set", got, want)
	for field, bad := range map[string]store.SessionSettings{
		"detached_timeout":    {DetachedTimeout: 0, IdleTimeout: time.Hour, BufferSize: 1 << 20, MaxUserSessions: 1, MaxDeviceSessions: 1},
		"idle_timeout":        {DetachedTimeout: time.Hour, IdleTimeout: 1500 * time.Millisecond, BufferSize: 1 << 20, MaxUserSessions: 1, MaxDeviceSessions: 1},
		"buffer_size":         {DetachedTimeout: time.Hour, IdleTimeout: time.Hour, BufferSize: 1, MaxUserSessions: 1, MaxDeviceSessions: 1},
		"max_user_sessions":   {DetachedTimeout: time.Hour, IdleTimeout: time.Hour, BufferSize: 1 << 20, MaxUserSessions: 0, MaxDeviceSessions: 1},
		"max_device_sessions": {DetachedTimeout: time.Hour, IdleTimeout: time.Hour, BufferSize: 1 << 20, MaxUserSessions: 1, MaxDeviceSessions: 1000},
	} {
		wantInvalid(t, fmt.Sprintf("SetSessionSettings(bad %s)", field), s.SetSessionSettings(ctx, a.org.ID, bad), field)
	}
	wantErr(t, "SetSessionSettings(unknown org)", s.SetSessionSettings(ctx, "org_nope", want), store.ErrNotFound)
}

// testServiceRecord: the recording policy round-trips.
func testServiceRecord(t *testing.T, newURL func(testing.TB) string) {
	s := Open(t, newURL(t))
	ctx := t.Context()
	d := mustEnroll(t, s, "alpha")
	svc, err := s.CreateService(ctx, store.Service{DeviceID: d.ID, Name: "ssh", Protocol: store.ProtocolSSH, Port: 22, Record: true})
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.GetService(ctx, d.ID, "ssh")
	if err != nil || !got.Record {
		t.Errorf("GetService() = %+v, %v, want Record", got, err)
	}
	equal(t, "GetService()", got, svc)
	if err := s.SetServiceRecord(ctx, d.ID, "ssh", false); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.GetService(ctx, d.ID, "ssh"); got.Record {
		t.Errorf("Record after SetServiceRecord(false) = true")
	}
	wantErr(t, "SetServiceRecord(unknown)", s.SetServiceRecord(ctx, d.ID, "nope", true), store.ErrNotFound)
}
