package acl_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/warrenhq/warren/acl"
)

// acme is a small organization used by the model and Explain tests:
//
//	organization:acme   admin: group:admins#member, user:root
//	  folder:root        connector: user:alice
//	    folder:prod      manager: user:bob
//	      folder:db
//	        device:db-1  secret_viewer: user:carol, connector: group:ops#member
//	  groups: admins > sre > oncall > user:deep; ops > team > sub > user:dave
//	  user:erin is a member of the organization and nothing else.
func acme() []acl.Tuple {
	return []acl.Tuple{
		tu("user:root", "admin", "organization:acme"),
		tu("group:admins#member", "admin", "organization:acme"),
		tu("user:erin", "member", "organization:acme"),
		tu("group:sre#member", "member", "group:admins"),
		tu("group:oncall#member", "member", "group:sre"),
		tu("user:deep", "member", "group:oncall"),
		tu("group:team#member", "member", "group:ops"),
		tu("group:sub#member", "member", "group:team"),
		tu("user:dave", "member", "group:sub"),

		tu("organization:acme", "org", "folder:root"),
		tu("organization:acme", "org", "folder:prod"),
		tu("organization:acme", "org", "folder:db"),
		tu("folder:root", "parent", "folder:prod"),
		tu("folder:prod", "parent", "folder:db"),
		tu("folder:db", "folder", "device:db-1"),
		tu("folder:root", "folder", "device:web-1"),

		tu("user:alice", "connector", "folder:root"),
		tu("user:bob", "manager", "folder:prod"),
		tu("user:carol", "secret_viewer", "device:db-1"),
		tu("group:ops#member", "connector", "device:db-1"),

		tu("user:alice", "owner", "session:s1"),
		tu("group:ops#member", "observer", "session:s1"),
	}
}

func TestModel(t *testing.T) {
	a := newEmbedded(t)
	write(t, a, acme()...)
	// want lists, per user, the actions held on device:db-1.
	want := map[string][]string{
		"user:alice": {"view", "connect"},                                             // connect on folder:root, two levels up
		"user:bob":   {"view", "connect", "edit", "delete", "manage"},                 // manage on folder:prod: no view_secrets
		"user:carol": {"view", "view_secrets"},                                        // view_secrets implies view only
		"user:dave":  {"view", "connect"},                                             // ops > team > sub > dave
		"user:deep":  {"view", "connect", "edit", "delete", "manage", "view_secrets"}, // admin through admins > sre > oncall
		"user:root":  {"view", "connect", "edit", "delete", "manage", "view_secrets"}, // organization admin
		"user:erin":  nil,                                                             // membership grants nothing
		"user:zed":   nil,                                                             // unknown
	}
	for user, holds := range want {
		for _, action := range acl.Actions {
			t.Run(user+"/"+action, func(t *testing.T) {
				got := check(t, a, user, action, "device:db-1")
				if w := slices.Contains(holds, action); got != w {
					t.Errorf("Check(%s %s device:db-1) = %v, want %v", user, action, got, w)
				}
			})
		}
	}
}

func TestModelInheritance(t *testing.T) {
	a := newEmbedded(t)
	write(t, a, acme()...)
	tests := []struct {
		user, relation, object string
		want                   bool
	}{
		{"user:alice", "connect", "folder:db", true}, // root -> prod -> db
		{"user:alice", "connect", "device:web-1", true},
		{"user:bob", "connect", "device:web-1", false}, // manage on prod does not flow up to root
		{"user:bob", "manage", "folder:db", true},
		{"user:deep", "manage", "folder:root", true},
		{"user:deep", "member", "organization:acme", true}, // admin implies member
		{"user:dave", "member", "group:ops", true},
		{"user:dave", "member", "group:admins", false},
		{"user:alice", "drive", "session:s1", true},
		{"user:alice", "view", "session:s1", true},
		{"user:dave", "view", "session:s1", true}, // observer through nested groups
		{"user:dave", "drive", "session:s1", false},
		{"user:erin", "view", "session:s1", false},
	}
	for _, tt := range tests {
		t.Run(strings.Join([]string{tt.user, tt.relation, tt.object}, " "), func(t *testing.T) {
			if got := check(t, a, tt.user, tt.relation, tt.object); got != tt.want {
				t.Errorf("Check() = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestModelDSLParses(t *testing.T) {
	if !strings.Contains(acl.ModelDSL(), "type device") {
		t.Fatal("ModelDSL() lacks the device type")
	}
	// NewEmbedded writes the model: a parse or validation error fails it.
	newEmbedded(t)
}

func TestGrant(t *testing.T) {
	for _, action := range acl.Actions {
		g, err := acl.Grant(acl.GroupMembers("ops"), action, acl.Folder("prod"))
		if err != nil || g.Relation != acl.Role(action) || g.User != "group:ops#member" || g.Object != "folder:prod" {
			t.Errorf("Grant(group:ops#member, %s, folder:prod) = %+v, %v", action, g, err)
		}
	}
	if _, err := acl.Grant("user:a", "admin", "folder:prod"); err == nil {
		t.Error("Grant(admin) succeeded; admin is not an action")
	}
}

// TestGrantEveryAction writes each action's grant and checks that it gives
// the action and what it implies, and nothing else.
func TestGrantEveryAction(t *testing.T) {
	implies := map[string][]string{
		"view":         {"view"},
		"connect":      {"view", "connect"},
		"edit":         {"view", "edit"},
		"delete":       {"view", "delete"},
		"manage":       {"view", "connect", "edit", "delete", "manage"},
		"view_secrets": {"view", "view_secrets"},
	}
	a := newEmbedded(t)
	write(t, a, tu("folder:root", "parent", "folder:sub"), tu("folder:sub", "folder", "device:d"))
	for granted, want := range implies {
		for _, on := range []string{"root", "d"} {
			object := acl.Folder(on)
			if on == "d" {
				object = acl.Device(on)
			}
			g, _ := acl.Grant(acl.User(granted+"-on-"+on), granted, object)
			write(t, a, g)
			for _, action := range acl.Actions {
				if got := check(t, a, g.User, action, "device:d"); got != slices.Contains(want, action) {
					t.Errorf("%s granted on %s: Check(%s on device:d) = %v, want %v", granted, on, action, got, !got)
				}
			}
		}
	}
}
