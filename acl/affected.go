package acl

import (
	"context"
	"fmt"
	"maps"
	"slices"
)

// Affected maps a written or deleted tuple to the users whose compiled
// entries it may change, or all=true when it may change anyone's:
//
//   - a grant or membership whose user is "user:X" (X gets or loses a
//     relation on a device, a folder, an organization or a group): X;
//   - one whose user is a group's members, "group:G#member": every member of
//     G, transitively through nested groups;
//   - a structure tuple, whose user is an object (a folder's org or parent,
//     a device's folder: a device or folder moved): everyone, all=true;
//   - a tuple on a session: no one (sessions have no ports).
//
// The answer does not depend on whether t is already written: a tuple never
// changes who is a member of its own user side. It reads group memberships
// through c's Authorizer.
func (c *Compiler) Affected(ctx context.Context, t Tuple) (users []string, all bool, err error) {
	typ, _, _, ok := Split(t.Object)
	if !ok {
		return nil, true, nil
	}
	if typ == TypeSession {
		return nil, false, nil
	}
	utyp, uid, urel, ok := Split(t.User)
	switch {
	case ok && utyp == TypeUser && urel == "" && uid != "*":
		return []string{uid}, false, nil
	case ok && utyp == TypeGroup && urel == RelationMember:
		return c.groupMembers(ctx, uid)
	}
	return nil, true, nil
}

// groupMembers returns the users in group id, following nested groups
// (cycles included) with Read.
func (c *Compiler) groupMembers(ctx context.Context, id string) (users []string, all bool, err error) {
	found := map[string]struct{}{}
	seen := map[string]bool{id: true}
	queue := []string{id}
	for len(queue) > 0 {
		g := queue[0]
		queue = queue[1:]
		ts, err := c.authz.Read(ctx, Tuple{Relation: RelationMember, Object: Object(TypeGroup, g)})
		if err != nil {
			return nil, false, fmt.Errorf("reading members of group %s: %w", g, err)
		}
		for _, t := range ts {
			typ, uid, rel, _ := Split(t.User)
			switch {
			case typ == TypeUser && rel == "" && uid != "*":
				found[uid] = struct{}{}
			case typ == TypeGroup && rel == RelationMember:
				if !seen[uid] {
					seen[uid] = true
					queue = append(queue, uid)
				}
			default:
				return nil, true, nil
			}
		}
	}
	return slices.Sorted(maps.Keys(found)), false, nil
}
