package acl

import (
	"errors"
	"fmt"
	"strings"
)

// Object types of the model.
const (
	TypeUser         = "user"
	TypeGroup        = "group"
	TypeOrganization = "organization"
	TypeFolder       = "folder"
	TypeDevice       = "device"
	TypeSession      = "session"
)

// Relations of the model. The actions (view ... view_secrets) exist on
// folders and devices and are what Check asks; see model.fga for what implies
// what. They are granted through the roles below.
const (
	RelationView        = "view"
	RelationConnect     = "connect"
	RelationEdit        = "edit"
	RelationDelete      = "delete"
	RelationManage      = "manage"
	RelationViewSecrets = "view_secrets"

	RelationMember   = "member"   // group, organization
	RelationAdmin    = "admin"    // organization
	RelationOrg      = "org"      // folder or device -> organization
	RelationParent   = "parent"   // folder -> parent folder
	RelationFolder   = "folder"   // device -> folder
	RelationOwner    = "owner"    // session
	RelationObserver = "observer" // session
	RelationDrive    = "drive"    // session
)

// Roles: the relations written to grant an action on a folder (and
// everything under it) or a device, one per action.
const (
	RoleViewer       = "viewer"
	RoleConnector    = "connector"
	RoleEditor       = "editor"
	RoleDeleter      = "deleter"
	RoleManager      = "manager"
	RoleSecretViewer = "secret_viewer"
)

// Actions lists the actions on folders and devices.
var Actions = []string{RelationView, RelationConnect, RelationEdit, RelationDelete, RelationManage, RelationViewSecrets}

var roles = map[string]string{
	RelationView:        RoleViewer,
	RelationConnect:     RoleConnector,
	RelationEdit:        RoleEditor,
	RelationDelete:      RoleDeleter,
	RelationManage:      RoleManager,
	RelationViewSecrets: RoleSecretViewer,
}

// Role returns the relation that grants action, "" when action is not one
// of Actions.
func Role(action string) string { return roles[action] }

// Grant returns the tuple that grants action on object (a folder or a
// device) to grantee, a user ("user:usr_alice") or a group's members
// (GroupMembers("grp_ops")).
func Grant(grantee, action, object string) (Tuple, error) {
	role := Role(action)
	if role == "" {
		return Tuple{}, fmt.Errorf("granting %q: not an action (want one of %s)", action, strings.Join(Actions, ", "))
	}
	return Tuple{User: grantee, Relation: role, Object: object}, nil
}

// ErrTruncated reports a ListObjects answer that may be incomplete because the
// OpenFGA server capped it (an external server's max results).
var ErrTruncated = errors.New("acl: list truncated by the OpenFGA server")

// Tuple is one relationship: User has Relation on Object. User is an object
// ("user:usr_alice", "folder:fld_root") or a userset ("group:grp_ops#member");
// Object is "type:id".
type Tuple struct {
	User     string
	Relation string
	Object   string
}

// String formats t in OpenFGA's notation, object#relation@user.
func (t Tuple) String() string { return t.Object + "#" + t.Relation + "@" + t.User }

// Object returns "typ:id".
func Object(typ, id string) string { return typ + ":" + id }

// Userset returns "typ:id#relation", e.g. Userset(TypeGroup, "grp_ops",
// RelationMember) for the members of a group.
func Userset(typ, id, relation string) string { return typ + ":" + id + "#" + relation }

// User returns "user:id".
func User(id string) string { return Object(TypeUser, id) }

// Device returns "device:id".
func Device(id string) string { return Object(TypeDevice, id) }

// Folder returns "folder:id".
func Folder(id string) string { return Object(TypeFolder, id) }

// Organization returns "organization:id".
func Organization(id string) string { return Object(TypeOrganization, id) }

// GroupMembers returns "group:id#member", the userset to grant a group.
func GroupMembers(id string) string { return Userset(TypeGroup, id, RelationMember) }

// Split parses "type:id" or "type:id#relation". ok is false when s has no
// type.
func Split(s string) (typ, id, relation string, ok bool) {
	typ, rest, ok := strings.Cut(s, ":")
	if !ok || typ == "" {
		return "", "", "", false
	}
	id, relation, _ = strings.Cut(rest, "#")
	return typ, id, relation, true
}

// idOf returns the id of "typ:id", or "" when s is of another type.
func idOf(typ, s string) string {
	t, id, rel, ok := Split(s)
	if !ok || t != typ || rel != "" {
		return ""
	}
	return id
}
