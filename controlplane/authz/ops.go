package authz

import (
	"context"
	"errors"
	"fmt"

	"github.com/warrenhq/warren/acl"
	"github.com/warrenhq/warren/controlplane/store"
)

// Operations on the rows OpenFGA mirrors. Each checks that what it touches
// belongs to the organization (through the store's org-scoped reads) before
// any tuple is written, so no organization can touch another's tuples even
// for the moment an operation takes. Errors are the store's (ErrNotFound,
// ErrInvalid, ErrConflict) or wrap a tuple write or recompile failure
// (ErrStale). Rows OpenFGA does not mirror (orgs, groups and their names,
// services) are created through the store directly; after a service
// change, call Rebuild.

// Grant stores g and writes its tuple, then recompiles the users it
// reaches. A grant the model cannot express (see GrantTuple) is refused
// before anything is written.
func (s *Service) Grant(ctx context.Context, g store.Grant) (store.Grant, error) {
	var created store.Grant
	err := s.run(ctx, func(ctx context.Context) (op, error) {
		t, err := GrantTuple(g)
		if err != nil {
			return op{}, err
		}
		shared, err := s.membershipGives(ctx, g)
		if err != nil {
			return op{}, err
		}
		o := op{name: "granting " + t.String()}
		if !shared {
			o.writes = []acl.Tuple{t}
		}
		o.db = func(ctx context.Context) ([]acl.Tuple, error) {
			var err error
			created, err = s.store.CreateGrant(ctx, g)
			return nil, err
		}
		o.undo = func(ctx context.Context) error {
			if err := s.store.DeleteGrant(ctx, created.OrgID, created.ID); err != nil {
				return err
			}
			created = store.Grant{}
			return nil
		}
		return o, nil
	})
	return created, err
}

// Revoke deletes the organization's grant: its tuple first, then the row.
// When Revoke returns nil, the compiled table already denies what the
// grant alone allowed, and OnChange listeners have been told.
func (s *Service) Revoke(ctx context.Context, orgID, grantID string) error {
	return s.run(ctx, func(ctx context.Context) (op, error) {
		g, err := s.store.GetGrant(ctx, orgID, grantID)
		if err != nil {
			return op{}, err
		}
		o := op{name: "revoking grant " + grantID, db: func(ctx context.Context) ([]acl.Tuple, error) {
			return nil, s.store.DeleteGrant(ctx, orgID, grantID)
		}}
		t, err := GrantTuple(g)
		if err != nil { // a row the model cannot express has no tuple
			s.log.Warn("revoking a grant without a tuple", "org_id", orgID, "grant_id", grantID, "err", err)
			return o, nil
		}
		shared, err := s.membershipGives(ctx, g)
		if err != nil {
			return op{}, err
		}
		if !shared {
			o.deletes = []acl.Tuple{t}
		}
		return o, nil
	})
}

// membershipGives reports whether the tuple of g, a grant of admin or
// member on the organization to a user, is also the tuple of that user's
// membership: then it exists without the grant and outlives it.
func (s *Service) membershipGives(ctx context.Context, g store.Grant) (bool, error) {
	if g.SubjectType != store.SubjectUser || g.ObjectType != store.ObjectOrganization {
		return false, nil
	}
	m, err := s.store.GetMembership(ctx, g.OrgID, g.SubjectID)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return m.Role == g.Relation, nil
}

// grantGives reports whether a grant gives the user relation on the
// organization: then its tuple exists whatever the membership's role.
func (s *Service) grantGives(ctx context.Context, orgID, userID, relation string) (bool, error) {
	gs, err := s.store.ListGrants(ctx, orgID, store.GrantFilter{SubjectType: store.SubjectUser, SubjectID: userID,
		Relation: relation, ObjectType: store.ObjectOrganization})
	return len(gs) > 0, err
}

// AddMember makes a user a member of an organization and writes the
// membership tuple.
func (s *Service) AddMember(ctx context.Context, m store.Membership) (store.Membership, error) {
	var added store.Membership
	err := s.run(ctx, func(ctx context.Context) (op, error) {
		t, err := MembershipTuple(m)
		if err != nil {
			return op{}, err
		}
		return op{
			name:   "adding member " + t.String(),
			writes: []acl.Tuple{t},
			db: func(ctx context.Context) ([]acl.Tuple, error) {
				var err error
				added, err = s.store.AddMember(ctx, m)
				return nil, err
			},
			undo: func(ctx context.Context) error {
				added = store.Membership{}
				return s.store.RemoveMember(ctx, m.OrgID, m.UserID)
			},
		}, nil
	})
	return added, err
}

// SetMemberRole changes a member's role. A demotion deletes the admin
// tuple before the database changes.
func (s *Service) SetMemberRole(ctx context.Context, orgID, userID, role string) error {
	return s.run(ctx, func(ctx context.Context) (op, error) {
		next, err := MembershipTuple(store.Membership{OrgID: orgID, UserID: userID, Role: role})
		if err != nil {
			return op{}, err
		}
		m, err := s.store.GetMembership(ctx, orgID, userID)
		if err != nil {
			return op{}, err
		}
		if m.Role == role {
			return op{noop: true}, nil
		}
		prev, err := MembershipTuple(m)
		if err != nil {
			return op{}, err
		}
		o := op{
			name: fmt.Sprintf("changing the role of user %s in organization %s to %s", userID, orgID, role),
			db: func(ctx context.Context) ([]acl.Tuple, error) {
				return nil, s.store.SetMemberRole(ctx, orgID, userID, role)
			},
			undo: func(ctx context.Context) error { return s.store.SetMemberRole(ctx, orgID, userID, m.Role) },
		}
		// A grant of the same relation keeps its tuple alive.
		if keep, err := s.grantGives(ctx, orgID, userID, m.Role); err != nil {
			return op{}, err
		} else if !keep {
			o.deletes = []acl.Tuple{prev}
		}
		if exists, err := s.grantGives(ctx, orgID, userID, role); err != nil {
			return op{}, err
		} else if !exists {
			o.writes = []acl.Tuple{next}
		}
		return o, nil
	})
}

// RemoveMember removes a user from an organization with everything the
// store removes with the membership (group memberships, grants): their
// tuples go first.
func (s *Service) RemoveMember(ctx context.Context, orgID, userID string) error {
	return s.run(ctx, func(ctx context.Context) (op, error) {
		m, err := s.store.GetMembership(ctx, orgID, userID)
		if err != nil {
			return op{}, err
		}
		t, err := MembershipTuple(m)
		if err != nil {
			return op{}, err
		}
		deletes := []acl.Tuple{t}
		edges, err := s.groupEdges(ctx, orgID)
		if err != nil {
			return op{}, err
		}
		for _, e := range edges {
			if e.User == acl.User(userID) {
				deletes = append(deletes, e)
			}
		}
		grants, err := s.grantTuples(ctx, orgID, store.GrantFilter{SubjectType: store.SubjectUser, SubjectID: userID})
		if err != nil {
			return op{}, err
		}
		return op{
			name:    fmt.Sprintf("removing user %s from organization %s", userID, orgID),
			deletes: append(deletes, grants...),
			db: func(ctx context.Context) ([]acl.Tuple, error) {
				return nil, s.store.RemoveMember(ctx, orgID, userID)
			},
		}, nil
	})
}

// AddGroupMember adds a user (a member of the organization) or another
// group of the organization to a group.
func (s *Service) AddGroupMember(ctx context.Context, orgID, groupID string, m store.GroupMember) error {
	return s.run(ctx, func(ctx context.Context) (op, error) {
		t, err := GroupMemberTuple(groupID, m)
		if err != nil {
			return op{}, err
		}
		return op{
			name:   "adding group member " + t.String(),
			writes: []acl.Tuple{t},
			db: func(ctx context.Context) ([]acl.Tuple, error) {
				return nil, s.store.AddGroupMember(ctx, orgID, groupID, m)
			},
			undo: func(ctx context.Context) error { return s.store.RemoveGroupMember(ctx, orgID, groupID, m) },
		}, nil
	})
}

// RemoveGroupMember removes a user or a group from a group.
func (s *Service) RemoveGroupMember(ctx context.Context, orgID, groupID string, m store.GroupMember) error {
	return s.run(ctx, func(ctx context.Context) (op, error) {
		t, err := GroupMemberTuple(groupID, m)
		if err != nil {
			return op{}, err
		}
		members, err := s.store.ListGroupMembers(ctx, orgID, groupID)
		if err != nil {
			return op{}, err
		}
		if !hasMember(members, m) {
			return op{}, fmt.Errorf("member of group %s: %w", groupID, store.ErrNotFound)
		}
		return op{
			name:    "removing group member " + t.String(),
			deletes: []acl.Tuple{t},
			db: func(ctx context.Context) ([]acl.Tuple, error) {
				return nil, s.store.RemoveGroupMember(ctx, orgID, groupID, m)
			},
		}, nil
	})
}

func hasMember(members []store.GroupMember, m store.GroupMember) bool {
	for _, x := range members {
		if x.UserID == m.UserID && x.GroupID == m.GroupID {
			return true
		}
	}
	return false
}

// DeleteGroup deletes a group with its member rows, its membership in
// other groups and the grants to it; their tuples go first.
func (s *Service) DeleteGroup(ctx context.Context, orgID, groupID string) error {
	return s.run(ctx, func(ctx context.Context) (op, error) {
		g, err := s.store.GetGroup(ctx, orgID, groupID)
		if err != nil {
			return op{}, err
		}
		edges, err := s.groupEdges(ctx, orgID)
		if err != nil {
			return op{}, err
		}
		var deletes []acl.Tuple
		for _, e := range edges {
			if e.Object == acl.Object(acl.TypeGroup, g.ID) || e.User == acl.GroupMembers(g.ID) {
				deletes = append(deletes, e)
			}
		}
		grants, err := s.grantTuples(ctx, orgID, store.GrantFilter{SubjectType: store.SubjectGroup, SubjectID: g.ID})
		if err != nil {
			return op{}, err
		}
		return op{
			name:    "deleting group " + g.ID,
			deletes: append(deletes, grants...),
			db: func(ctx context.Context) ([]acl.Tuple, error) {
				return nil, s.store.DeleteGroup(ctx, orgID, g.ID)
			},
		}, nil
	})
}

// CreateFolder creates a folder and writes its org and parent tuples.
func (s *Service) CreateFolder(ctx context.Context, f store.Folder) (store.Folder, error) {
	var created store.Folder
	err := s.run(ctx, func(ctx context.Context) (op, error) {
		return op{
			name: "creating folder " + f.Name,
			db: func(ctx context.Context) ([]acl.Tuple, error) {
				var err error
				if created, err = s.store.CreateFolder(ctx, f); err != nil {
					return nil, err
				}
				return FolderTuples(created), nil
			},
			undo: func(ctx context.Context) error {
				if err := s.store.DeleteFolder(ctx, created.OrgID, created.ID); err != nil {
					return err
				}
				created = store.Folder{}
				return nil
			},
		}, nil
	})
	return created, err
}

// maxFolderDepth bounds the walk up a folder chain.
const maxFolderDepth = 1000

// MoveFolder makes parentID ("" = top level) the parent of a folder.
// Inherited access follows the folder.
func (s *Service) MoveFolder(ctx context.Context, orgID, folderID, parentID string) error {
	return s.run(ctx, func(ctx context.Context) (op, error) {
		f, err := s.store.GetFolder(ctx, orgID, folderID)
		if err != nil {
			return op{}, err
		}
		if f.ParentID == parentID {
			return op{noop: true}, nil
		}
		if err := s.refuseCycle(ctx, orgID, folderID, parentID); err != nil {
			return op{}, err
		}
		o := op{
			name: fmt.Sprintf("moving folder %s under %q", folderID, parentID),
			db: func(ctx context.Context) ([]acl.Tuple, error) {
				return nil, s.store.MoveFolder(ctx, orgID, folderID, parentID)
			},
			undo: func(ctx context.Context) error { return s.store.MoveFolder(ctx, orgID, folderID, f.ParentID) },
		}
		if f.ParentID != "" {
			o.deletes = []acl.Tuple{parentTuple(folderID, f.ParentID)}
		}
		if parentID != "" {
			o.writes = []acl.Tuple{parentTuple(folderID, parentID)}
		}
		return o, nil
	})
}

// refuseCycle checks, before any tuple is written, that parentID is a
// folder of the organization and that moving folderID under it makes no
// cycle. The store checks again in its transaction.
func (s *Service) refuseCycle(ctx context.Context, orgID, folderID, parentID string) error {
	for cur, depth := parentID, 0; cur != ""; depth++ {
		if cur == folderID {
			return &store.InvalidError{Field: "parent_id", Reason: "a folder cannot move into itself or one of its subfolders"}
		}
		if depth > maxFolderDepth {
			return fmt.Errorf("folder %s: chain deeper than %d", parentID, maxFolderDepth)
		}
		p, err := s.store.GetFolder(ctx, orgID, cur)
		if err != nil {
			return err
		}
		cur = p.ParentID
	}
	return nil
}

// DeleteFolder deletes an empty folder and the grants on it.
func (s *Service) DeleteFolder(ctx context.Context, orgID, folderID string) error {
	return s.run(ctx, func(ctx context.Context) (op, error) {
		f, err := s.store.GetFolder(ctx, orgID, folderID)
		if err != nil {
			return op{}, err
		}
		// Refusing here spares the subtree a moment without its
		// inherited access; the store checks again.
		if err := s.refuseNonEmpty(ctx, orgID, folderID); err != nil {
			return op{}, err
		}
		grants, err := s.grantTuples(ctx, orgID, store.GrantFilter{ObjectType: store.ObjectFolder, ObjectID: folderID})
		if err != nil {
			return op{}, err
		}
		return op{
			name:    "deleting folder " + folderID,
			deletes: append(FolderTuples(f), grants...),
			db: func(ctx context.Context) ([]acl.Tuple, error) {
				return nil, s.store.DeleteFolder(ctx, orgID, folderID)
			},
		}, nil
	})
}

func (s *Service) refuseNonEmpty(ctx context.Context, orgID, folderID string) error {
	notEmpty := &store.InvalidError{Field: "folder", Reason: "folder not empty"}
	fs, err := s.store.ListFolders(ctx, orgID)
	if err != nil {
		return err
	}
	for _, f := range fs {
		if f.ParentID == folderID {
			return notEmpty
		}
	}
	ds, err := s.store.ListOrgDevices(ctx, orgID)
	if err != nil {
		return err
	}
	for _, d := range ds {
		if d.FolderID == folderID {
			return notEmpty
		}
	}
	return nil
}

// SetDeviceFolder moves an organization's device into folderID ("" = the
// top level, where only grants on the device reach it).
func (s *Service) SetDeviceFolder(ctx context.Context, orgID, deviceID, folderID string) error {
	return s.run(ctx, func(ctx context.Context) (op, error) {
		d, err := s.store.GetOrgDevice(ctx, orgID, deviceID)
		if err != nil {
			return op{}, err
		}
		if d.FolderID == folderID {
			return op{noop: true}, nil
		}
		if folderID != "" {
			if _, err := s.store.GetFolder(ctx, orgID, folderID); err != nil {
				return op{}, err
			}
		}
		moved := d
		moved.FolderID = folderID
		return op{
			name:    fmt.Sprintf("moving device %s into folder %q", d.ID, folderID),
			writes:  DeviceTuples(moved),
			deletes: DeviceTuples(d),
			db: func(ctx context.Context) ([]acl.Tuple, error) {
				return nil, s.store.SetDeviceFolder(ctx, orgID, d.ID, folderID)
			},
			undo: func(ctx context.Context) error { return s.store.SetDeviceFolder(ctx, orgID, d.ID, d.FolderID) },
		}, nil
	})
}

// AssignDeviceOrg places a device of no organization into one, in
// folderID ("" = top level), and rebuilds the table (the device's services
// join it). The store cannot take a device out of an organization, so if
// the tuple write fails the device stays assigned without its folder tuple
// (access denied, never granted) and the Service goes Dirty.
func (s *Service) AssignDeviceOrg(ctx context.Context, deviceID, orgID, folderID string) error {
	return s.run(ctx, func(ctx context.Context) (op, error) {
		return op{
			name:    fmt.Sprintf("assigning device %s to organization %s", deviceID, orgID),
			writes:  DeviceTuples(store.Device{ID: deviceID, OrgID: orgID, FolderID: folderID}),
			rebuild: true,
			db: func(ctx context.Context) ([]acl.Tuple, error) {
				return nil, s.store.AssignDeviceOrg(ctx, deviceID, orgID, folderID)
			},
		}, nil
	})
}

// DeviceAdded writes the tuple of a device the store already holds (one
// just enrolled into an organization's folder, whose token placed it) and
// rebuilds the table. Enrollment stands if the write fails: the Service
// goes Dirty and the device is unreachable until Sync.
func (s *Service) DeviceAdded(ctx context.Context, orgID, deviceID string) error {
	return s.run(ctx, func(ctx context.Context) (op, error) {
		d, err := s.store.GetOrgDevice(ctx, orgID, deviceID)
		if err != nil {
			return op{}, err
		}
		return op{
			name:    "adding device " + d.ID,
			writes:  DeviceTuples(d),
			rebuild: true,
			db:      func(context.Context) ([]acl.Tuple, error) { return nil, nil },
		}, nil
	})
}

// DeleteDevice deletes an organization's device (with its services and
// the grants on it) after deleting its tuples, and rebuilds the table.
func (s *Service) DeleteDevice(ctx context.Context, orgID, deviceID string) error {
	return s.run(ctx, func(ctx context.Context) (op, error) {
		d, err := s.store.GetOrgDevice(ctx, orgID, deviceID)
		if err != nil {
			return op{}, err
		}
		grants, err := s.grantTuples(ctx, orgID, store.GrantFilter{ObjectType: store.ObjectDevice, ObjectID: d.ID})
		if err != nil {
			return op{}, err
		}
		return op{
			name:    "deleting device " + d.ID,
			deletes: append(DeviceTuples(d), grants...),
			rebuild: true,
			db: func(ctx context.Context) ([]acl.Tuple, error) {
				return nil, s.store.DeleteDevice(ctx, d.ID)
			},
		}, nil
	})
}

// DeleteOrg deletes an organization that has no devices left, after
// deleting every tuple mirroring its rows.
func (s *Service) DeleteOrg(ctx context.Context, orgID string) error {
	return s.run(ctx, func(ctx context.Context) (op, error) {
		ds, err := s.store.ListOrgDevices(ctx, orgID)
		if err != nil {
			return op{}, err
		}
		if len(ds) > 0 {
			return op{}, &store.InvalidError{Field: "org", Reason: "organization still has devices; delete them first"}
		}
		ts, err := s.orgTuples(ctx, orgID)
		if err != nil {
			return op{}, err
		}
		return op{
			name:    "deleting organization " + orgID,
			deletes: ts,
			db:      func(ctx context.Context) ([]acl.Tuple, error) { return nil, s.store.DeleteOrg(ctx, orgID) },
		}, nil
	})
}

// groupEdges returns the group-member tuples of every group of the
// organization.
func (s *Service) groupEdges(ctx context.Context, orgID string) ([]acl.Tuple, error) {
	groups, err := s.store.ListGroups(ctx, orgID)
	if err != nil {
		return nil, err
	}
	var out []acl.Tuple
	for _, g := range groups {
		members, err := s.store.ListGroupMembers(ctx, orgID, g.ID)
		if err != nil {
			return nil, err
		}
		for _, m := range members {
			t, err := GroupMemberTuple(g.ID, m)
			if err != nil {
				return nil, err
			}
			out = append(out, t)
		}
	}
	return out, nil
}

// grantTuples returns the tuples of the organization's grants matching f,
// skipping (with a warning) rows the model cannot express.
func (s *Service) grantTuples(ctx context.Context, orgID string, f store.GrantFilter) ([]acl.Tuple, error) {
	gs, err := s.store.ListGrants(ctx, orgID, f)
	if err != nil {
		return nil, err
	}
	out := make([]acl.Tuple, 0, len(gs))
	for _, g := range gs {
		t, err := GrantTuple(g)
		if err != nil {
			s.log.Warn("a grant the model cannot express has no tuple", "org_id", orgID, "grant_id", g.ID, "err", err)
			continue
		}
		out = append(out, t)
	}
	return out, nil
}
