package storetest

import (
	"cmp"
	"fmt"
	"sync"
	"testing"

	"github.com/warrenhq/warren/controlplane/store"
)

func testGroups(t *testing.T, newURL func(testing.TB) string) {
	s := Open(t, newURL(t))
	ctx := t.Context()
	a, b := mustOrg(t, s, "a"), mustOrg(t, s, "b")
	alice, bob, carol := mustUser(t, s, "alice"), mustUser(t, s, "bob"), mustUser(t, s, "carol")
	mustMember(t, s, a.ID, alice.ID, store.RoleMember)
	mustMember(t, s, a.ID, bob.ID, store.RoleMember)
	mustMember(t, s, b.ID, carol.ID, store.RoleMember)

	ops, err := s.CreateGroup(ctx, store.Group{OrgID: a.ID, Name: "ops"})
	if err != nil {
		t.Fatalf("CreateGroup() = %v", err)
	}
	if len(ops.ID) < 20 || ops.ID[:4] != "grp_" || ops.CreatedAt.IsZero() {
		t.Errorf("CreateGroup() = %+v, want a generated grp_ ID and CreatedAt", ops)
	}
	dev := mustGroup(t, s, a.ID, "dev team")
	mustGroup(t, s, b.ID, "ops") // names are unique per org only
	_, err = s.CreateGroup(ctx, store.Group{OrgID: a.ID, Name: "ops"})
	wantConflict(t, "CreateGroup(duplicate name)", err, "groups", "name")
	_, err = s.CreateGroup(ctx, store.Group{OrgID: "nope", Name: "x"})
	wantErr(t, "CreateGroup(unknown org)", err, store.ErrNotFound)
	_, err = s.CreateGroup(ctx, store.Group{OrgID: a.ID, Name: ""})
	wantInvalid(t, "CreateGroup(no name)", err, "name")

	for _, ref := range []string{ops.ID, "ops"} {
		if got, err := s.GetGroup(ctx, a.ID, ref); err != nil || got != ops {
			t.Errorf("GetGroup(%s) = %+v, %v, want %+v", ref, got, err, ops)
		}
	}
	if list, err := s.ListGroups(ctx, a.ID); err != nil {
		t.Fatalf("ListGroups() = %v", err)
	} else {
		equal(t, "ListGroups()", list, []store.Group{dev, ops})
	}

	add := func(group string, m store.GroupMember) error { return s.AddGroupMember(ctx, a.ID, group, m) }
	if err := add(ops.ID, store.GroupMember{UserID: alice.ID}); err != nil {
		t.Fatalf("AddGroupMember(user) = %v", err)
	}
	if err := add(ops.ID, store.GroupMember{GroupID: dev.ID}); err != nil {
		t.Fatalf("AddGroupMember(group) = %v", err)
	}
	if err := add(dev.ID, store.GroupMember{UserID: bob.ID}); err != nil {
		t.Fatalf("AddGroupMember(bob) = %v", err)
	}
	wantConflict(t, "AddGroupMember(user again)", add(ops.ID, store.GroupMember{UserID: alice.ID}), "group_members", "user_id")
	wantConflict(t, "AddGroupMember(group again)", add(ops.ID, store.GroupMember{GroupID: dev.ID}), "group_members", "subgroup_id")
	wantErr(t, "AddGroupMember(user of another org)", add(ops.ID, store.GroupMember{UserID: carol.ID}), store.ErrNotFound)
	wantErr(t, "AddGroupMember(unknown group)", add("nope", store.GroupMember{UserID: alice.ID}), store.ErrNotFound)
	wantErr(t, "AddGroupMember(unknown subgroup)", add(ops.ID, store.GroupMember{GroupID: "nope"}), store.ErrNotFound)
	wantInvalid(t, "AddGroupMember(itself)", add(ops.ID, store.GroupMember{GroupID: ops.ID}), "group_id")
	wantInvalid(t, "AddGroupMember(2-cycle)", add(dev.ID, store.GroupMember{GroupID: ops.ID}), "group_id")
	sre := mustGroup(t, s, a.ID, "sre")
	if err := add(dev.ID, store.GroupMember{GroupID: sre.ID}); err != nil {
		t.Fatalf("AddGroupMember(sre) = %v", err)
	}
	wantInvalid(t, "AddGroupMember(3-cycle)", add(sre.ID, store.GroupMember{GroupID: ops.ID}), "group_id")
	wantInvalid(t, "AddGroupMember(nobody)", add(ops.ID, store.GroupMember{}), "member")
	wantInvalid(t, "AddGroupMember(both)", add(ops.ID, store.GroupMember{UserID: alice.ID, GroupID: sre.ID}), "member")

	members, err := s.ListGroupMembers(ctx, a.ID, ops.ID)
	if err != nil {
		t.Fatalf("ListGroupMembers() = %v", err)
	}
	for i, m := range members {
		if m.CreatedAt.IsZero() {
			t.Errorf("ListGroupMembers()[%d].CreatedAt is zero", i)
		}
	}
	equal(t, "ListGroupMembers()", stripTimes(members), []store.GroupMember{
		{UserID: alice.ID, Name: "alice@example.com"}, {GroupID: dev.ID, Name: "dev team"},
	})
	_, err = s.ListGroupMembers(ctx, a.ID, "nope")
	wantErr(t, "ListGroupMembers(unknown group)", err, store.ErrNotFound)

	if err := s.RemoveGroupMember(ctx, a.ID, ops.ID, store.GroupMember{UserID: alice.ID}); err != nil {
		t.Fatalf("RemoveGroupMember() = %v", err)
	}
	wantErr(t, "RemoveGroupMember(again)", s.RemoveGroupMember(ctx, a.ID, ops.ID, store.GroupMember{UserID: alice.ID}), store.ErrNotFound)
	// Leaving the org leaves its groups.
	if err := s.RemoveMember(ctx, a.ID, bob.ID); err != nil {
		t.Fatalf("RemoveMember() = %v", err)
	}
	if ms, _ := s.ListGroupMembers(ctx, a.ID, dev.ID); len(ms) != 1 || ms[0].GroupID != sre.ID {
		t.Errorf("dev members after bob left the org = %+v, want only sre", ms)
	}
	// A deleted group leaves the groups it was in.
	if err := s.DeleteGroup(ctx, a.ID, dev.ID); err != nil {
		t.Fatalf("DeleteGroup() = %v", err)
	}
	if ms, _ := s.ListGroupMembers(ctx, a.ID, ops.ID); len(ms) != 0 {
		t.Errorf("ops members after deleting dev = %+v, want none", ms)
	}
	wantErr(t, "DeleteGroup(again)", s.DeleteGroup(ctx, a.ID, dev.ID), store.ErrNotFound)
	_, err = s.GetGroup(ctx, a.ID, "dev team")
	wantErr(t, "GetGroup(deleted)", err, store.ErrNotFound)
}

// stripTimes returns ms without their CreatedAt, for comparisons.
func stripTimes(ms []store.GroupMember) []store.GroupMember {
	out := make([]store.GroupMember, len(ms))
	for i, m := range ms {
		out[i] = store.GroupMember{UserID: m.UserID, GroupID: m.GroupID, Name: m.Name}
	}
	return out
}

// testGroupCycleRace: "x contains y" and "y contains x" race; one wins.
func testGroupCycleRace(t *testing.T, newURL func(testing.TB) string) {
	s := Open(t, newURL(t))
	ctx := t.Context()
	org := mustOrg(t, s, "a")
	for i := range 10 {
		x := mustGroup(t, s, org.ID, fmt.Sprintf("x%d", i))
		y := mustGroup(t, s, org.ID, fmt.Sprintf("y%d", i))
		var errX, errY error
		var wg sync.WaitGroup
		wg.Go(func() { errX = s.AddGroupMember(ctx, org.ID, x.ID, store.GroupMember{GroupID: y.ID}) })
		wg.Go(func() { errY = s.AddGroupMember(ctx, org.ID, y.ID, store.GroupMember{GroupID: x.ID}) })
		wg.Wait()
		if (errX == nil) == (errY == nil) {
			t.Fatalf("round %d: nesting both ways = %v, %v, want exactly one to succeed", i, errX, errY)
		}
		wantInvalid(t, "losing nesting", cmp.Or(errX, errY), "group_id")
	}
}

func testFolders(t *testing.T, newURL func(testing.TB) string) {
	s := Open(t, newURL(t))
	ctx := t.Context()
	a, b := mustOrg(t, s, "a"), mustOrg(t, s, "b")
	prod, err := s.CreateFolder(ctx, store.Folder{OrgID: a.ID, Name: "prod"})
	if err != nil {
		t.Fatalf("CreateFolder() = %v", err)
	}
	if len(prod.ID) < 20 || prod.ID[:4] != "fld_" || prod.CreatedAt.IsZero() || prod.ParentID != "" {
		t.Errorf("CreateFolder() = %+v, want a generated fld_ ID, CreatedAt, top level", prod)
	}
	db := mustFolder(t, s, a.ID, prod.ID, "db")
	eu := mustFolder(t, s, a.ID, db.ID, "eu")
	prod2 := mustFolder(t, s, a.ID, db.ID, "prod") // the same name under another parent
	mustFolder(t, s, b.ID, "", "prod")             // and in another org

	_, err = s.CreateFolder(ctx, store.Folder{OrgID: a.ID, Name: "prod"})
	wantConflict(t, "CreateFolder(duplicate top-level name)", err, "folders", "name")
	_, err = s.CreateFolder(ctx, store.Folder{OrgID: a.ID, ParentID: prod.ID, Name: "db"})
	wantConflict(t, "CreateFolder(duplicate name in parent)", err, "folders", "name")
	_, err = s.CreateFolder(ctx, store.Folder{OrgID: a.ID, ParentID: "nope", Name: "x"})
	wantErr(t, "CreateFolder(unknown parent)", err, store.ErrNotFound)
	_, err = s.CreateFolder(ctx, store.Folder{OrgID: "nope", Name: "x"})
	wantErr(t, "CreateFolder(unknown org)", err, store.ErrNotFound)
	_, err = s.CreateFolder(ctx, store.Folder{OrgID: a.ID, Name: "a/b"})
	wantInvalid(t, "CreateFolder(slash)", err, "name")

	if got, err := s.GetFolder(ctx, a.ID, db.ID); err != nil || got != db {
		t.Errorf("GetFolder() = %+v, %v, want %+v", got, err, db)
	}
	list, err := s.ListFolders(ctx, a.ID)
	if err != nil || len(list) != 4 || list[0] != db || list[1] != eu {
		t.Errorf("ListFolders() = %+v, %v, want db, eu and two prods", list, err)
	}

	wantInvalid(t, "MoveFolder(into its grandchild)", s.MoveFolder(ctx, a.ID, prod.ID, eu.ID), "parent_id")
	wantInvalid(t, "MoveFolder(into itself)", s.MoveFolder(ctx, a.ID, prod.ID, prod.ID), "parent_id")
	wantConflict(t, "MoveFolder(name taken at top)", s.MoveFolder(ctx, a.ID, prod2.ID, ""), "folders", "name")
	wantErr(t, "MoveFolder(unknown)", s.MoveFolder(ctx, a.ID, "nope", ""), store.ErrNotFound)
	wantErr(t, "MoveFolder(unknown parent)", s.MoveFolder(ctx, a.ID, eu.ID, "nope"), store.ErrNotFound)
	if err := s.MoveFolder(ctx, a.ID, eu.ID, ""); err != nil {
		t.Fatalf("MoveFolder(to top) = %v", err)
	}
	if got, _ := s.GetFolder(ctx, a.ID, eu.ID); got.ParentID != "" {
		t.Errorf("ParentID after moving to top = %q, want none", got.ParentID)
	}
	if err := s.MoveFolder(ctx, a.ID, eu.ID, prod.ID); err != nil {
		t.Fatalf("MoveFolder(under prod) = %v", err)
	}
	if got, _ := s.GetFolder(ctx, a.ID, eu.ID); got.ParentID != prod.ID {
		t.Errorf("ParentID after move = %q, want %s", got.ParentID, prod.ID)
	}

	wantInvalid(t, "DeleteFolder(with subfolders)", s.DeleteFolder(ctx, a.ID, prod.ID), "folder")
	d := mustEnrollIn(t, s, a.ID, eu.ID, "eu-1")
	wantInvalid(t, "DeleteFolder(with a device)", s.DeleteFolder(ctx, a.ID, eu.ID), "folder")
	if err := s.SetDeviceFolder(ctx, a.ID, d.ID, ""); err != nil {
		t.Fatalf("SetDeviceFolder() = %v", err)
	}
	if err := s.DeleteFolder(ctx, a.ID, eu.ID); err != nil {
		t.Fatalf("DeleteFolder(emptied) = %v", err)
	}
	wantErr(t, "DeleteFolder(again)", s.DeleteFolder(ctx, a.ID, eu.ID), store.ErrNotFound)
	_, err = s.GetFolder(ctx, a.ID, eu.ID)
	wantErr(t, "GetFolder(deleted)", err, store.ErrNotFound)
}

// testFolderCycleRace: "x under y" and "y under x" race; one wins.
func testFolderCycleRace(t *testing.T, newURL func(testing.TB) string) {
	s := Open(t, newURL(t))
	ctx := t.Context()
	org := mustOrg(t, s, "a")
	for i := range 10 {
		x := mustFolder(t, s, org.ID, "", fmt.Sprintf("x%d", i))
		y := mustFolder(t, s, org.ID, "", fmt.Sprintf("y%d", i))
		var errX, errY error
		var wg sync.WaitGroup
		wg.Go(func() { errX = s.MoveFolder(ctx, org.ID, x.ID, y.ID) })
		wg.Go(func() { errY = s.MoveFolder(ctx, org.ID, y.ID, x.ID) })
		wg.Wait()
		if (errX == nil) == (errY == nil) {
			t.Fatalf("round %d: moving both ways = %v, %v, want exactly one to succeed", i, errX, errY)
		}
		wantInvalid(t, "losing move", cmp.Or(errX, errY), "parent_id")
	}
}
