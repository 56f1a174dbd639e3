package authz_test

import (
	"errors"
	"slices"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/warrenhq/warren/acl"
	"github.com/warrenhq/warren/controlplane/store"
)

// A grant on a folder reaches a user through two levels of groups on a
// device two folders down; revoking it denies at once and says so.
func TestGrantReachesNestedGroupAndRevokeDenies(t *testing.T) {
	eachBackend(t, func(t *testing.T, st *store.Store, _ string) {
		ctx := t.Context()
		fga := newMemoryFGA(t)
		svc, rec := newService(t, st, fga)
		w := newWorld(t, st, svc)
		if svc.Allowed(w.alice, w.db1, 22) {
			t.Fatal("Allowed(alice, db1, 22) before any grant")
		}
		g := mustGrant(t, svc, store.Grant{OrgID: w.acme, SubjectType: store.SubjectGroup, SubjectID: w.team,
			Relation: acl.RelationConnect, ObjectType: store.ObjectFolder, ObjectID: w.top})
		for _, p := range []uint16{22, 5432} {
			if !svc.Allowed(w.alice, w.db1, p) {
				t.Errorf("Allowed(alice, db1, %d) = false after a grant to team on top, want true", p)
			}
		}
		if !check(t, fga, acl.User(w.alice), acl.RelationConnect, acl.Device(w.db1)) {
			t.Error("Check(alice connect db1) = false, want true")
		}
		if svc.Allowed(w.alice, w.web1, 443) || svc.Allowed(w.dave, w.db1, 22) {
			t.Error("the grant on top reaches outside top or outside team")
		}
		if got, want := svc.DevicePorts(w.db1), []acl.PortRange{{From: 22, To: 22}, {From: 5432, To: 5432}}; !slices.Equal(got, want) {
			t.Errorf("DevicePorts(db1) = %v, want %v", got, want)
		}
		w.matchesCheck(t, svc, fga)
		rec.take()

		if err := svc.Revoke(ctx, w.acme, g.ID); err != nil {
			t.Fatalf("Revoke() = %v", err)
		}
		if svc.Allowed(w.alice, w.db1, 22) || svc.Allowed(w.bob, w.db1, 22) {
			t.Error("Allowed(alice|bob, db1, 22) = true right after Revoke returned")
		}
		changes := rec.take()
		for _, u := range []string{w.alice, w.bob} {
			if got, want := lostPorts(changes, u, w.db1), []uint16{22, 5432}; !slices.Equal(got, want) {
				t.Errorf("Change lost ports of %s on db1 = %v, want %v (changes %+v)", u, got, want, changes)
			}
		}
		if got := lostPorts(changes, w.dave, w.db1); len(got) != 0 {
			t.Errorf("Change says dave lost %v on db1; he never had it", got)
		}
		// carol, an admin, still reaches db1: its port union stays.
		if got, want := svc.DevicePorts(w.db1), []acl.PortRange{{From: 22, To: 22}, {From: 5432, To: 5432}}; !slices.Equal(got, want) {
			t.Errorf("DevicePorts(db1) = %v after the revoke, want %v (carol)", got, want)
		}
		if _, err := st.GetGrant(ctx, w.acme, g.ID); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("GetGrant() after Revoke = %v, want ErrNotFound", err)
		}
		w.matchesCheck(t, svc, fga)
	})
}

// Removing a member takes away everything: direct grants, group grants,
// the admin role, and every tuple naming the user.
func TestRemoveMemberLosesEverything(t *testing.T) {
	eachBackend(t, func(t *testing.T, st *store.Store, _ string) {
		ctx := t.Context()
		fga := newMemoryFGA(t)
		svc, rec := newService(t, st, fga)
		w := newWorld(t, st, svc)
		mustGrant(t, svc, store.Grant{OrgID: w.acme, SubjectType: store.SubjectUser, SubjectID: w.alice,
			Relation: acl.RelationConnect, ObjectType: store.ObjectDevice, ObjectID: w.web1})
		mustGrant(t, svc, store.Grant{OrgID: w.acme, SubjectType: store.SubjectGroup, SubjectID: w.sub,
			Relation: acl.RelationManage, ObjectType: store.ObjectFolder, ObjectID: w.mid})
		mustGrant(t, svc, store.Grant{OrgID: w.acme, SubjectType: store.SubjectUser, SubjectID: w.alice,
			Relation: acl.RelationViewSecrets, ObjectType: store.ObjectDevice, ObjectID: w.loose})
		if err := svc.SetMemberRole(ctx, w.acme, w.alice, store.RoleAdmin); err != nil {
			t.Fatalf("SetMemberRole(admin) = %v", err)
		}
		if !svc.Allowed(w.alice, w.db1, 22) || !svc.Allowed(w.alice, w.web1, 443) {
			t.Fatal("alice cannot reach db1 and web1 before her removal")
		}
		rec.take()

		if err := svc.RemoveMember(ctx, w.acme, w.alice); err != nil {
			t.Fatalf("RemoveMember() = %v", err)
		}
		for dev, ports := range w.devicePorts {
			for _, p := range ports {
				if svc.Allowed(w.alice, dev, p) {
					t.Errorf("Allowed(alice, %s, %d) = true after her removal", dev, p)
				}
			}
			for _, a := range acl.Actions {
				if check(t, fga, acl.User(w.alice), a, acl.Device(dev)) {
					t.Errorf("Check(alice %s %s) = true after her removal", a, dev)
				}
			}
		}
		if check(t, fga, acl.User(w.alice), acl.RelationMember, acl.Organization(w.acme)) {
			t.Error("alice is still a member of acme in OpenFGA")
		}
		for _, tu := range readAll(t, fga) {
			if tu.User == acl.User(w.alice) {
				t.Errorf("tuple %v survives alice's removal", tu)
			}
		}
		changes := rec.take()
		for _, dev := range []string{w.db1, w.web1} {
			if len(lostPorts(changes, w.alice, dev)) == 0 {
				t.Errorf("no Change says alice lost %s: %+v", dev, changes)
			}
		}
		if !svc.Allowed(w.carol, w.db1, 22) {
			t.Error("carol, an admin, lost db1 with alice's removal")
		}
	})
}

// Moving a folder under another moves the access inherited from it.
func TestMoveFolderCarriesInheritedAccess(t *testing.T) {
	eachBackend(t, func(t *testing.T, st *store.Store, _ string) {
		ctx := t.Context()
		fga := newMemoryFGA(t)
		svc, rec := newService(t, st, fga)
		w := newWorld(t, st, svc)
		mustGrant(t, svc, store.Grant{OrgID: w.acme, SubjectType: store.SubjectUser, SubjectID: w.dave,
			Relation: acl.RelationConnect, ObjectType: store.ObjectFolder, ObjectID: w.other})
		if svc.Allowed(w.dave, w.db1, 22) {
			t.Fatal("dave reaches db1 before the move")
		}
		if err := svc.MoveFolder(ctx, w.acme, w.mid, w.other); err != nil {
			t.Fatalf("MoveFolder(mid under other) = %v", err)
		}
		if !svc.Allowed(w.dave, w.db1, 22) {
			t.Error("Allowed(dave, db1, 22) = false after moving mid under other, want true")
		}
		w.matchesCheck(t, svc, fga)
		rec.take()

		if err := svc.MoveFolder(ctx, w.acme, w.mid, ""); err != nil {
			t.Fatalf("MoveFolder(mid to top level) = %v", err)
		}
		if svc.Allowed(w.dave, w.db1, 22) {
			t.Error("Allowed(dave, db1, 22) = true after moving mid out of other")
		}
		if got := lostPorts(rec.take(), w.dave, w.db1); !slices.Equal(got, []uint16{22, 5432}) {
			t.Errorf("Change lost ports of dave on db1 = %v, want [22 5432]", got)
		}
		// A cycle is refused before any tuple is touched.
		before := readAll(t, fga)
		err := svc.MoveFolder(ctx, w.acme, w.mid, w.leaf)
		if !errors.Is(err, store.ErrInvalid) {
			t.Errorf("MoveFolder(mid under its own leaf) = %v, want ErrInvalid", err)
		}
		if diff := cmp.Diff(before, readAll(t, fga)); diff != "" {
			t.Errorf("tuples changed by a refused move (-before +after):\n%s", diff)
		}
		// Moving the device itself works the same way.
		if err := svc.SetDeviceFolder(ctx, w.acme, w.db1, w.other); err != nil {
			t.Fatalf("SetDeviceFolder(db1 into other) = %v", err)
		}
		if !svc.Allowed(w.dave, w.db1, 5432) {
			t.Error("Allowed(dave, db1, 5432) = false after moving db1 into other")
		}
		w.matchesCheck(t, svc, fga)
	})
}

// Sync rebuilds a wiped OpenFGA, removes strays, leaves sessions alone and
// is idempotent.
func TestSync(t *testing.T) {
	eachBackend(t, func(t *testing.T, st *store.Store, _ string) {
		ctx := t.Context()
		fga := newMemoryFGA(t)
		svc, _ := newService(t, st, fga)
		w := newWorld(t, st, svc)
		mustGrant(t, svc, store.Grant{OrgID: w.acme, SubjectType: store.SubjectGroup, SubjectID: w.team,
			Relation: acl.RelationConnect, ObjectType: store.ObjectFolder, ObjectID: w.mid})
		mustGrant(t, svc, store.Grant{OrgID: w.acme, SubjectType: store.SubjectUser, SubjectID: w.dave,
			Relation: acl.RelationConnect, ObjectType: store.ObjectDevice, ObjectID: w.loose})
		mustGrant(t, svc, store.Grant{OrgID: w.acme, SubjectType: store.SubjectGroup, SubjectID: w.sub,
			Relation: acl.RelationAdmin, ObjectType: store.ObjectOrganization, ObjectID: w.acme})
		want := w.matchesCheck(t, svc, fga)
		tuples := readAll(t, fga)

		// A fresh, empty OpenFGA: Sync writes every tuple back.
		fresh := newMemoryFGA(t)
		svc2, _ := newService(t, st, fresh)
		added, removed, err := svc2.Sync(ctx)
		if err != nil || added != len(tuples) || removed != 0 {
			t.Fatalf("Sync() on an empty OpenFGA = %d, %d, %v, want %d, 0, nil", added, removed, err, len(tuples))
		}
		if diff := cmp.Diff(tuples, readAll(t, fresh)); diff != "" {
			t.Errorf("tuples after Sync (-before +after):\n%s", diff)
		}
		if got := w.matchesCheck(t, svc2, fresh); !cmp.Equal(got, want) {
			t.Errorf("Check answers after Sync differ (-before +after):\n%s", cmp.Diff(want, got))
		}

		// A stray grant goes; a session tuple stays.
		stray, err := acl.Grant(acl.User(w.eve), acl.RelationConnect, acl.Device(w.db1))
		if err != nil {
			t.Fatalf("acl.Grant() = %v", err)
		}
		session := acl.Tuple{User: acl.User(w.alice), Relation: acl.RelationOwner, Object: "session:ses_1"}
		if err := fresh.Write(ctx, []acl.Tuple{stray, session}, nil); err != nil {
			t.Fatalf("Write(stray) = %v", err)
		}
		if added, removed, err := svc2.Sync(ctx); err != nil || added != 0 || removed != 1 {
			t.Errorf("Sync() with a stray tuple = %d, %d, %v, want 0, 1, nil", added, removed, err)
		}
		if check(t, fresh, acl.User(w.eve), acl.RelationConnect, acl.Device(w.db1)) {
			t.Error("the stray tuple survived Sync")
		}
		if !check(t, fresh, acl.User(w.alice), acl.RelationOwner, "session:ses_1") {
			t.Error("Sync deleted a session tuple")
		}
		if added, removed, err := svc2.Sync(ctx); err != nil || added != 0 || removed != 0 {
			t.Errorf("second Sync() = %d, %d, %v, want 0, 0, nil", added, removed, err)
		}
		w.matchesCheck(t, svc2, fresh)
	})
}

// When OpenFGA cannot be written, an operation that adds access leaves
// the database unchanged, one that revokes changes nothing, and one that
// cannot be undone marks the Service dirty.
func TestTupleWriteFailure(t *testing.T) {
	eachBackend(t, func(t *testing.T, st *store.Store, _ string) {
		ctx := t.Context()
		fga := newMemoryFGA(t)
		svc, _ := newService(t, st, fga)
		w := newWorld(t, st, svc)
		g := mustGrant(t, svc, store.Grant{OrgID: w.acme, SubjectType: store.SubjectUser, SubjectID: w.dave,
			Relation: acl.RelationConnect, ObjectType: store.ObjectDevice, ObjectID: w.web1})
		grantsBefore, err := st.ListGrants(ctx, w.acme, store.GrantFilter{})
		if err != nil {
			t.Fatalf("ListGrants() = %v", err)
		}
		fga.Close()

		if got, err := svc.Grant(ctx, store.Grant{OrgID: w.acme, SubjectType: store.SubjectUser, SubjectID: w.alice,
			Relation: acl.RelationConnect, ObjectType: store.ObjectDevice, ObjectID: w.db1}); !errors.Is(err, acl.ErrClosed) || got != (store.Grant{}) {
			t.Errorf("Grant() with OpenFGA closed = %+v, %v, want zero, ErrClosed", got, err)
		}
		if err := svc.Revoke(ctx, w.acme, g.ID); !errors.Is(err, acl.ErrClosed) {
			t.Errorf("Revoke() with OpenFGA closed = %v, want ErrClosed", err)
		}
		grantsAfter, err := st.ListGrants(ctx, w.acme, store.GrantFilter{})
		if err != nil {
			t.Fatalf("ListGrants() = %v", err)
		}
		if diff := cmp.Diff(grantsBefore, grantsAfter); diff != "" {
			t.Errorf("grants changed although OpenFGA refused (-before +after):\n%s", diff)
		}
		if !svc.Allowed(w.dave, w.web1, 443) {
			t.Error("the compiled table dropped dave's grant that is still in the database")
		}
		newcomer := mustUser(t, st, "newcomer")
		if _, err := svc.AddMember(ctx, store.Membership{OrgID: w.acme, UserID: newcomer, Role: store.RoleMember}); err == nil {
			t.Error("AddMember() with OpenFGA closed = nil, want an error")
		}
		if _, err := st.GetMembership(ctx, w.acme, newcomer); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("GetMembership(newcomer) = %v, want ErrNotFound (undone)", err)
		}
		if _, err := svc.CreateFolder(ctx, store.Folder{OrgID: w.acme, Name: "doomed"}); err == nil {
			t.Error("CreateFolder() with OpenFGA closed = nil, want an error")
		}
		if fs, _ := st.ListFolders(ctx, w.acme); slices.ContainsFunc(fs, func(f store.Folder) bool { return f.Name == "doomed" }) {
			t.Error("the folder exists although its tuples could not be written")
		}
		if svc.Dirty() {
			t.Error("Dirty() = true after failures that were all undone")
		}
	})
}

// With OpenFGA on the engine's own database (SQLite or PostgreSQL), a
// change the store cannot undo marks the Service dirty, and Sync over the
// same datastore repairs it.
func TestDirtyRepairedBySyncOnSharedDatabase(t *testing.T) {
	eachBackend(t, func(t *testing.T, st *store.Store, url string) {
		ctx := t.Context()
		cfg := acl.EmbeddedConfig{Datastore: st.Dialect(), URI: url}
		fga := newFGA(t, cfg)
		svc, _ := newService(t, st, fga)
		// A small world: modernc SQLite under -race is slow.
		w := &world{st: st, devicePorts: map[string][]uint16{}}
		w.acme = mustOrg(t, st, "acme")
		w.dave = mustUser(t, st, "dave")
		if _, err := svc.AddMember(ctx, store.Membership{OrgID: w.acme, UserID: w.dave, Role: store.RoleMember}); err != nil {
			t.Fatalf("AddMember(dave) = %v", err)
		}
		w.users = []string{w.dave}
		w.other = mustFolder(t, svc, w.acme, "", "other")
		w.web1 = w.device(t, svc, w.acme, w.other, "web1", 443)
		mustGrant(t, svc, store.Grant{OrgID: w.acme, SubjectType: store.SubjectUser, SubjectID: w.dave,
			Relation: acl.RelationConnect, ObjectType: store.ObjectFolder, ObjectID: w.other})
		fga.Close()

		late := w.enrollUnassigned(t, "late", 2222)
		err := svc.AssignDeviceOrg(ctx, late, w.acme, w.other)
		if !errors.Is(err, acl.ErrClosed) {
			t.Errorf("AssignDeviceOrg() with OpenFGA closed = %v, want ErrClosed", err)
		}
		if d, err := st.GetDevice(ctx, late); err != nil || d.OrgID != w.acme || d.FolderID != w.other {
			t.Errorf("GetDevice(late) = %+v, %v; the assignment cannot be undone and must stand", d, err)
		}
		if !svc.Dirty() {
			t.Error("Dirty() = false after a change that could not be undone")
		}

		reopened := newFGA(t, cfg)
		svc2, _ := newService(t, st, reopened)
		added, removed, err := svc2.Sync(ctx)
		if err != nil || added != 2 || removed != 0 {
			t.Errorf("Sync() = %d, %d, %v, want 2 (late's organization and folder), 0, nil", added, removed, err)
		}
		if !svc2.Allowed(w.dave, late, 2222) {
			t.Error("Allowed(dave, late, 2222) = false after Sync")
		}
		if svc2.Dirty() {
			t.Error("Dirty() = true after a successful Sync")
		}
		w.devicePorts[late] = []uint16{2222}
		w.matchesCheck(t, svc2, reopened)
	})
}

// A grant of admin on the organization to a user shares its tuple with an
// admin membership: revoking one keeps the other's.
func TestOrgAdminFromGrantAndRole(t *testing.T) {
	eachBackend(t, func(t *testing.T, st *store.Store, _ string) {
		ctx := t.Context()
		fga := newMemoryFGA(t)
		svc, _ := newService(t, st, fga)
		w := newWorld(t, st, svc)
		isAdmin := func() bool { return check(t, fga, acl.User(w.dave), acl.RelationAdmin, acl.Organization(w.acme)) }
		g := mustGrant(t, svc, store.Grant{OrgID: w.acme, SubjectType: store.SubjectUser, SubjectID: w.dave,
			Relation: acl.RelationAdmin, ObjectType: store.ObjectOrganization})
		if !isAdmin() || !svc.Allowed(w.dave, w.db1, 22) {
			t.Fatal("an admin grant did not make dave an admin reaching db1")
		}
		if err := svc.SetMemberRole(ctx, w.acme, w.dave, store.RoleAdmin); err != nil {
			t.Fatalf("SetMemberRole(admin) = %v", err)
		}
		if err := svc.Revoke(ctx, w.acme, g.ID); err != nil {
			t.Fatalf("Revoke() = %v", err)
		}
		if !isAdmin() || !svc.Allowed(w.dave, w.db1, 22) {
			t.Error("revoking the grant took away the admin role")
		}
		if err := svc.SetMemberRole(ctx, w.acme, w.dave, store.RoleMember); err != nil {
			t.Fatalf("SetMemberRole(member) = %v", err)
		}
		if isAdmin() || svc.Allowed(w.dave, w.db1, 22) {
			t.Error("dave is still an admin after his demotion")
		}
		if !check(t, fga, acl.User(w.dave), acl.RelationMember, acl.Organization(w.acme)) {
			t.Error("dave is no longer a member after his demotion")
		}
		if _, err := svc.Grant(ctx, store.Grant{OrgID: w.acme, SubjectType: store.SubjectUser, SubjectID: w.dave,
			Relation: acl.RelationConnect, ObjectType: store.ObjectOrganization}); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("Grant(connect on the organization) = %v, want ErrInvalid (the model has no such relation)", err)
		}
		w.matchesCheck(t, svc, fga)
	})
}

// An organization cannot reach another's rows or tuples through any
// operation, not even for a moment.
func TestOtherOrganizationsRowsAreNotFound(t *testing.T) {
	eachBackend(t, func(t *testing.T, st *store.Store, _ string) {
		ctx := t.Context()
		fga := newMemoryFGA(t)
		svc, _ := newService(t, st, fga)
		w := newWorld(t, st, svc)
		before := readAll(t, fga)
		for name, err := range map[string]error{
			"Revoke":               svc.Revoke(ctx, w.acme, w.gGrant.ID),
			"RemoveMember":         svc.RemoveMember(ctx, w.acme, w.eve),
			"SetMemberRole":        svc.SetMemberRole(ctx, w.acme, w.eve, store.RoleAdmin),
			"RemoveGroupMember":    svc.RemoveGroupMember(ctx, w.acme, w.gGroup, store.GroupMember{UserID: w.eve}),
			"DeleteGroup":          svc.DeleteGroup(ctx, w.acme, w.gGroup),
			"MoveFolder":           svc.MoveFolder(ctx, w.acme, w.gFolder, w.top),
			"MoveFolder into":      svc.MoveFolder(ctx, w.acme, w.top, w.gFolder),
			"DeleteFolder":         svc.DeleteFolder(ctx, w.acme, w.gFolder),
			"SetDeviceFolder":      svc.SetDeviceFolder(ctx, w.acme, w.gDev, w.top),
			"SetDeviceFolder into": svc.SetDeviceFolder(ctx, w.acme, w.db1, w.gFolder),
			"DeleteDevice":         svc.DeleteDevice(ctx, w.acme, w.gDev),
		} {
			if !errors.Is(err, store.ErrNotFound) {
				t.Errorf("%s(acme, globex's row) = %v, want ErrNotFound", name, err)
			}
		}
		_, err := svc.Grant(ctx, store.Grant{OrgID: w.acme, SubjectType: store.SubjectUser, SubjectID: w.alice,
			Relation: acl.RelationConnect, ObjectType: store.ObjectDevice, ObjectID: w.gDev})
		if !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Grant(acme user on globex device) = %v, want ErrNotFound", err)
		}
		if diff := cmp.Diff(before, readAll(t, fga)); diff != "" {
			t.Errorf("tuples changed (-before +after):\n%s", diff)
		}
		if !svc.Allowed(w.eve, w.gDev, 22) {
			t.Error("eve lost access to her own device")
		}
	})
}

// Deletions take their tuples with them; a refused deletion keeps them.
func TestDeletes(t *testing.T) {
	eachBackend(t, func(t *testing.T, st *store.Store, _ string) {
		ctx := t.Context()
		fga := newMemoryFGA(t)
		svc, rec := newService(t, st, fga)
		w := newWorld(t, st, svc)
		mustGrant(t, svc, store.Grant{OrgID: w.acme, SubjectType: store.SubjectGroup, SubjectID: w.sub,
			Relation: acl.RelationConnect, ObjectType: store.ObjectFolder, ObjectID: w.leaf})
		before := readAll(t, fga)
		if err := svc.DeleteFolder(ctx, w.acme, w.leaf); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("DeleteFolder(leaf, holding db1) = %v, want ErrInvalid", err)
		}
		if diff := cmp.Diff(before, readAll(t, fga)); diff != "" {
			t.Errorf("a refused DeleteFolder changed tuples (-before +after):\n%s", diff)
		}

		if err := svc.DeleteGroup(ctx, w.acme, w.sub); err != nil {
			t.Fatalf("DeleteGroup(sub) = %v", err)
		}
		if svc.Allowed(w.alice, w.db1, 22) {
			t.Error("alice still reaches db1 through the deleted group sub")
		}
		if got := lostPorts(rec.take(), w.alice, w.db1); !slices.Equal(got, []uint16{22, 5432}) {
			t.Errorf("Change lost ports of alice on db1 = %v, want [22 5432]", got)
		}

		if err := svc.DeleteDevice(ctx, w.acme, w.db1); err != nil {
			t.Fatalf("DeleteDevice(db1) = %v", err)
		}
		if err := svc.DeleteFolder(ctx, w.acme, w.leaf); err != nil {
			t.Fatalf("DeleteFolder(leaf) once empty = %v", err)
		}
		if err := svc.DeleteDevice(ctx, w.globex, w.gDev); err != nil {
			t.Fatalf("DeleteDevice(gdev) = %v", err)
		}
		if got := rec.take(); len(lostPorts(got, w.eve, w.gDev)) == 0 {
			t.Errorf("no Change says eve lost gdev: %+v", got)
		}
		if err := svc.DeleteOrg(ctx, w.globex); err != nil {
			t.Fatalf("DeleteOrg(globex) = %v", err)
		}
		for _, tu := range readAll(t, fga) {
			for _, gone := range []string{w.sub, w.db1, w.leaf, w.gDev, w.globex, w.eve, w.gFolder, w.gGroup} {
				if tu.User == gone || tu.Object == gone || containsID(tu, gone) {
					t.Errorf("tuple %v survives the deletion of %s", tu, gone)
				}
			}
		}
		// The database and OpenFGA agree: Sync finds nothing to do.
		if added, removed, err := svc.Sync(ctx); err != nil || added+removed != 0 {
			t.Errorf("Sync() after the deletes = %d, %d, %v, want 0, 0, nil", added, removed, err)
		}
	})
}

func containsID(t acl.Tuple, id string) bool {
	for _, s := range []string{t.User, t.Object} {
		if _, sid, _, ok := acl.Split(s); ok && sid == id {
			return true
		}
	}
	return false
}

// Concurrent grants, revokes and moves leave OpenFGA equal to the database
// and the table equal to OpenFGA.
func TestConcurrentChanges(t *testing.T) {
	eachBackend(t, func(t *testing.T, st *store.Store, _ string) {
		ctx := t.Context()
		fga := newMemoryFGA(t)
		svc, _ := newService(t, st, fga)
		w := newWorld(t, st, svc)
		var wg sync.WaitGroup
		errs := make(chan error, 32)
		for _, u := range []string{w.alice, w.bob, w.dave} {
			for _, dev := range []string{w.db1, w.web1, w.loose} {
				wg.Go(func() {
					g, err := svc.Grant(ctx, store.Grant{OrgID: w.acme, SubjectType: store.SubjectUser, SubjectID: u,
						Relation: acl.RelationConnect, ObjectType: store.ObjectDevice, ObjectID: dev})
					if err != nil {
						errs <- err
						return
					}
					if err := svc.Revoke(ctx, w.acme, g.ID); err != nil {
						errs <- err
					}
				})
			}
		}
		wg.Go(func() {
			for i := range 6 {
				parent := []string{w.other, w.top}[i%2]
				if err := svc.MoveFolder(ctx, w.acme, w.mid, parent); err != nil {
					errs <- err
				}
			}
		})
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Errorf("concurrent change: %v", err)
		}
		if added, removed, err := svc.Sync(ctx); err != nil || added+removed != 0 {
			t.Errorf("Sync() after concurrent changes = %d, %d, %v, want 0, 0, nil", added, removed, err)
		}
		for _, u := range []string{w.alice, w.bob, w.dave} {
			for dev, ports := range w.devicePorts {
				for _, p := range ports {
					if svc.Allowed(u, dev, p) {
						t.Errorf("Allowed(%s, %s, %d) = true after every grant was revoked", u, dev, p)
					}
				}
			}
		}
		w.matchesCheck(t, svc, fga)
	})
}

// Organization admins reach every device of their organization, also one at
// the top level (no folder), and nobody else does without a grant; the
// admin of another organization never does.
func TestOrgAdminReachesTopLevelDevice(t *testing.T) {
	eachBackend(t, func(t *testing.T, st *store.Store, _ string) {
		fga := newMemoryFGA(t)
		svc, _ := newService(t, st, fga)
		w := newWorld(t, st, svc)
		w.matchesCheck(t, svc, fga)
		if !check(t, fga, acl.User(w.carol), acl.RelationConnect, acl.Device(w.loose)) || !svc.Allowed(w.carol, w.loose, 22) {
			t.Errorf("the org admin cannot reach the top-level device")
		}
		if !check(t, fga, acl.User(w.carol), acl.RelationManage, acl.Device(w.loose)) {
			t.Errorf("the org admin cannot manage the top-level device")
		}
		for _, u := range []string{w.alice, w.bob, w.dave, w.eve} {
			if check(t, fga, acl.User(u), acl.RelationView, acl.Device(w.loose)) || svc.Allowed(u, w.loose, 22) {
				t.Errorf("%s reaches the top-level device without a grant", u)
			}
		}
	})
}
