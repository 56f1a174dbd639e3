package authz

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/warrenhq/warren/acl"
	"github.com/warrenhq/warren/controlplane/store"
)

func tu(user, relation, object string) acl.Tuple {
	return acl.Tuple{User: user, Relation: relation, Object: object}
}

func TestMembershipTuple(t *testing.T) {
	tests := []struct {
		m    store.Membership
		want acl.Tuple
		err  bool
	}{
		{store.Membership{OrgID: "org_a", UserID: "usr_1", Role: store.RoleAdmin}, tu("user:usr_1", "admin", "organization:org_a"), false},
		{store.Membership{OrgID: "org_a", UserID: "usr_1", Role: store.RoleMember}, tu("user:usr_1", "member", "organization:org_a"), false},
		{store.Membership{OrgID: "org_a", UserID: "usr_1", Role: "owner"}, acl.Tuple{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.m.Role, func(t *testing.T) {
			got, err := MembershipTuple(tt.m)
			if (err != nil) != tt.err || got != tt.want {
				t.Errorf("MembershipTuple(%+v) = %v, %v, want %v (error %v)", tt.m, got, err, tt.want, tt.err)
			}
			if err != nil && !errors.Is(err, store.ErrInvalid) {
				t.Errorf("MembershipTuple() error = %v, want ErrInvalid", err)
			}
		})
	}
}

func TestGroupMemberTuple(t *testing.T) {
	tests := []struct {
		name string
		m    store.GroupMember
		want acl.Tuple
		err  bool
	}{
		{"user", store.GroupMember{UserID: "usr_1"}, tu("user:usr_1", "member", "group:grp_ops"), false},
		{"nested group", store.GroupMember{GroupID: "grp_sub"}, tu("group:grp_sub#member", "member", "group:grp_ops"), false},
		{"neither", store.GroupMember{}, acl.Tuple{}, true},
		{"both", store.GroupMember{UserID: "usr_1", GroupID: "grp_sub"}, acl.Tuple{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := GroupMemberTuple("grp_ops", tt.m)
			if (err != nil) != tt.err || got != tt.want {
				t.Errorf("GroupMemberTuple(%+v) = %v, %v, want %v (error %v)", tt.m, got, err, tt.want, tt.err)
			}
		})
	}
}

func TestFolderAndDeviceTuples(t *testing.T) {
	tests := []struct {
		name string
		got  []acl.Tuple
		want []acl.Tuple
	}{
		{"top folder", FolderTuples(store.Folder{ID: "fld_top", OrgID: "org_a"}),
			[]acl.Tuple{tu("organization:org_a", "org", "folder:fld_top")}},
		{"sub folder", FolderTuples(store.Folder{ID: "fld_sub", OrgID: "org_a", ParentID: "fld_top"}),
			[]acl.Tuple{tu("organization:org_a", "org", "folder:fld_sub"), tu("folder:fld_top", "parent", "folder:fld_sub")}},
		{"device in folder", DeviceTuples(store.Device{ID: "dev_1", OrgID: "org_a", FolderID: "fld_sub"}),
			[]acl.Tuple{tu("organization:org_a", "org", "device:dev_1"), tu("folder:fld_sub", "folder", "device:dev_1")}},
		{"device at top level", DeviceTuples(store.Device{ID: "dev_1", OrgID: "org_a"}),
			[]acl.Tuple{tu("organization:org_a", "org", "device:dev_1")}},
		{"device of no org", DeviceTuples(store.Device{ID: "dev_1"}), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, tt.got); diff != "" {
				t.Errorf("tuples (-want +got):\n%s", diff)
			}
		})
	}
}

func TestGrantTuple(t *testing.T) {
	g := func(st, sid, rel, ot, oid string) store.Grant {
		return store.Grant{OrgID: "org_a", SubjectType: st, SubjectID: sid, Relation: rel, ObjectType: ot, ObjectID: oid}
	}
	tests := []struct {
		name  string
		g     store.Grant
		want  acl.Tuple
		field string // of the *store.InvalidError, "" when valid
	}{
		{"user on device", g("user", "usr_1", "connect", "device", "dev_1"), tu("user:usr_1", "connector", "device:dev_1"), ""},
		{"group on folder", g("group", "grp_ops", "manage", "folder", "fld_1"), tu("group:grp_ops#member", "manager", "folder:fld_1"), ""},
		{"view_secrets on device", g("user", "usr_1", "view_secrets", "device", "dev_1"), tu("user:usr_1", "secret_viewer", "device:dev_1"), ""},
		{"group admin of org", g("group", "grp_ops", "admin", "organization", "org_a"), tu("group:grp_ops#member", "admin", "organization:org_a"), ""},
		{"org defaults to own", g("user", "usr_1", "member", "organization", ""), tu("user:usr_1", "member", "organization:org_a"), ""},
		{"connect on org", g("user", "usr_1", "connect", "organization", "org_a"), acl.Tuple{}, "relation"},
		{"admin on folder", g("user", "usr_1", "admin", "folder", "fld_1"), acl.Tuple{}, "relation"},
		{"role name", g("user", "usr_1", "connector", "device", "dev_1"), acl.Tuple{}, "relation"},
		{"structure relation", g("user", "usr_1", "parent", "folder", "fld_1"), acl.Tuple{}, "relation"},
		{"device folder", g("user", "usr_1", "folder", "device", "dev_1"), acl.Tuple{}, "relation"},
		{"unknown subject", g("team", "t1", "connect", "device", "dev_1"), acl.Tuple{}, "subject_type"},
		{"empty subject", g("user", "", "connect", "device", "dev_1"), acl.Tuple{}, "subject_id"},
		{"session object", g("user", "usr_1", "owner", "session", "s1"), acl.Tuple{}, "object_type"},
		{"empty device", g("user", "usr_1", "connect", "device", ""), acl.Tuple{}, "object_id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := GrantTuple(tt.g)
			var inv *store.InvalidError
			switch {
			case tt.field == "" && (err != nil || got != tt.want):
				t.Errorf("GrantTuple(%+v) = %v, %v, want %v", tt.g, got, err, tt.want)
			case tt.field != "" && (!errors.As(err, &inv) || inv.Field != tt.field):
				t.Errorf("GrantTuple(%+v) = %v, %v, want an invalid %s", tt.g, got, err, tt.field)
			}
		})
	}
}

func TestNormalize(t *testing.T) {
	a, b, c := tu("user:a", "member", "group:g"), tu("user:b", "member", "group:g"), tu("user:c", "member", "group:g")
	w, d := normalize([]acl.Tuple{a, a, b, b}, []acl.Tuple{b, c, c})
	if diff := cmp.Diff([]acl.Tuple{a}, w); diff != "" {
		t.Errorf("normalize() writes (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]acl.Tuple{c}, d); diff != "" {
		t.Errorf("normalize() deletes (-want +got):\n%s", diff)
	}
}

func TestManaged(t *testing.T) {
	tests := []struct {
		t    acl.Tuple
		want bool
	}{
		{tu("user:a", "connect", "device:d"), true},
		{tu("folder:f", "parent", "folder:g"), true},
		{tu("user:a", "member", "group:g"), true},
		{tu("user:a", "admin", "organization:o"), true},
		{tu("user:a", "owner", "session:s"), false},
	}
	for _, tt := range tests {
		if got := managed(tt.t); got != tt.want {
			t.Errorf("managed(%v) = %v, want %v", tt.t, got, tt.want)
		}
	}
}
