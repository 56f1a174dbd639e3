package authz

import (
	"slices"
	"strings"

	"github.com/warrenhq/warren/acl"
	"github.com/warrenhq/warren/controlplane/store"
)

// The database rows that OpenFGA mirrors, and their tuples (acl/model.fga):
//
//	membership (O, U, admin)          user:U        admin   organization:O
//	membership (O, U, member)         user:U        member  organization:O
//	group member (G, user U)          user:U        member  group:G
//	group member (G, group H)         group:H#member member group:G
//	folder F of O (any level)         organization:O org    folder:F
//	folder F in folder P              folder:P      parent  folder:F
//	device D of O (any level)         organization:O org    device:D
//	device D in folder F              folder:F      folder  device:D
//	grant (user U | group G, A, O)    user:U | group:G#member  A  organization:O   (A admin|member)
//	grant (user U | group G, A, X)    user:U | group:G#member  role(A)  folder|device:X
//	                                  (role(connect) = connector, ...: acl.Role)
//
// Every device of an organization names it, so organization admins reach
// devices at the top level (no folder) too.
//
// The functions below are pure: they read nothing but their arguments.

// MembershipTuple returns the tuple of an organization membership. An
// admin gets only the admin tuple: the model derives member from admin.
func MembershipTuple(m store.Membership) (acl.Tuple, error) {
	switch m.Role {
	case store.RoleAdmin, store.RoleMember:
		return acl.Tuple{User: acl.User(m.UserID), Relation: m.Role, Object: acl.Organization(m.OrgID)}, nil
	}
	return acl.Tuple{}, &store.InvalidError{Field: "role", Reason: "must be admin or member"}
}

// GroupMemberTuple returns the tuple that puts m (a user, or every member
// of another group) into group groupID.
func GroupMemberTuple(groupID string, m store.GroupMember) (acl.Tuple, error) {
	if (m.UserID == "") == (m.GroupID == "") {
		return acl.Tuple{}, &store.InvalidError{Field: "member", Reason: "must be exactly one of a user and a group"}
	}
	user := acl.User(m.UserID)
	if m.GroupID != "" {
		user = acl.GroupMembers(m.GroupID)
	}
	return acl.Tuple{User: user, Relation: acl.RelationMember, Object: acl.Object(acl.TypeGroup, groupID)}, nil
}

// FolderTuples returns the structure tuples of a folder: its organization
// (every folder names it, so organization admins reach every level) and
// its parent folder, if any.
func FolderTuples(f store.Folder) []acl.Tuple {
	ts := []acl.Tuple{{User: acl.Organization(f.OrgID), Relation: acl.RelationOrg, Object: acl.Folder(f.ID)}}
	if f.ParentID != "" {
		ts = append(ts, parentTuple(f.ID, f.ParentID))
	}
	return ts
}

func parentTuple(folderID, parentID string) acl.Tuple {
	return acl.Tuple{User: acl.Folder(parentID), Relation: acl.RelationParent, Object: acl.Folder(folderID)}
}

// DeviceTuples returns the structure tuples of a device: its organization
// and its folder, if any. A device in no organization has none.
func DeviceTuples(d store.Device) []acl.Tuple {
	if d.OrgID == "" {
		return nil
	}
	ts := []acl.Tuple{{User: acl.Organization(d.OrgID), Relation: acl.RelationOrg, Object: acl.Device(d.ID)}}
	if d.FolderID != "" {
		ts = append(ts, acl.Tuple{User: acl.Folder(d.FolderID), Relation: acl.RelationFolder, Object: acl.Device(d.ID)})
	}
	return ts
}

// orgRelations are the relations a grant may give on an organization: the
// only ones the model defines there.
var orgRelations = []string{acl.RelationAdmin, acl.RelationMember}

// GrantTuple returns the tuple of a grant. A grant's relation is what
// people grant: on an organization, admin or member (written as is); on a
// folder or a device, an action (acl.Actions), written as the role that
// grants it (connect -> connector, see acl.Grant). It refuses, with a
// *store.InvalidError, anything else: other relations on an organization
// (the model has none), role or structure names (org, parent, folder).
func GrantTuple(g store.Grant) (acl.Tuple, error) {
	var user string
	switch g.SubjectType {
	case store.SubjectUser:
		user = acl.User(g.SubjectID)
	case store.SubjectGroup:
		user = acl.GroupMembers(g.SubjectID)
	default:
		return acl.Tuple{}, &store.InvalidError{Field: "subject_type", Reason: "must be user or group"}
	}
	if g.SubjectID == "" {
		return acl.Tuple{}, &store.InvalidError{Field: "subject_id", Reason: "must not be empty"}
	}
	var object string
	var relations []string
	switch g.ObjectType {
	case store.ObjectOrganization:
		object, relations = acl.Organization(cmpOr(g.ObjectID, g.OrgID)), orgRelations
	case store.ObjectFolder:
		object, relations = acl.Folder(g.ObjectID), acl.Actions
	case store.ObjectDevice:
		object, relations = acl.Device(g.ObjectID), acl.Actions
	default:
		return acl.Tuple{}, &store.InvalidError{Field: "object_type", Reason: "must be organization, folder or device"}
	}
	if g.ObjectType != store.ObjectOrganization && g.ObjectID == "" {
		return acl.Tuple{}, &store.InvalidError{Field: "object_id", Reason: "must not be empty"}
	}
	if !slices.Contains(relations, g.Relation) {
		return acl.Tuple{}, &store.InvalidError{Field: "relation",
			Reason: "a grant on " + g.ObjectType + " gives one of " + strings.Join(relations, ", ")}
	}
	if g.ObjectType == store.ObjectOrganization {
		return acl.Tuple{User: user, Relation: g.Relation, Object: object}, nil
	}
	return acl.Grant(user, g.Relation, object)
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// managed reports whether Sync owns tuples on object: those on
// organizations, groups, folders and devices mirror database rows; session
// tuples (owner, observer) belong to the session broker and are left alone.
func managed(t acl.Tuple) bool {
	typ, _, _, ok := acl.Split(t.Object)
	if !ok {
		return false
	}
	switch typ {
	case acl.TypeOrganization, acl.TypeGroup, acl.TypeFolder, acl.TypeDevice:
		return true
	}
	return false
}

// normalize drops duplicates and the tuples both written and deleted (a
// no-op, which OpenFGA would refuse in one request).
func normalize(writes, deletes []acl.Tuple) (w, d []acl.Tuple) {
	inW, inD := tupleSet(writes), tupleSet(deletes)
	for _, t := range writes {
		if !inD[t] && inW[t] {
			inW[t] = false // taken
			w = append(w, t)
		}
	}
	for _, t := range deletes {
		if _, both := inW[t]; !both && inD[t] {
			inD[t] = false
			d = append(d, t)
		}
	}
	return w, d
}

func tupleSet(ts []acl.Tuple) map[acl.Tuple]bool {
	set := make(map[acl.Tuple]bool, len(ts))
	for _, t := range ts {
		set[t] = true
	}
	return set
}
