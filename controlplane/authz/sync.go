package authz

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/warrenhq/warren/acl"
	"github.com/warrenhq/warren/controlplane/store"
)

// Sync makes OpenFGA hold exactly the tuples the database implies: it
// writes the missing ones and deletes the extra ones on organizations,
// groups, folders and devices (session tuples belong to the session broker
// and are left alone), then rebuilds the compiled table. It reports how
// many tuples it added and removed; a second Sync reports 0, 0. Sync is
// what `warren openfga sync` runs, what the engine runs at start, and what
// repairs a Dirty Service. Operations wait while it runs.
func (s *Service) Sync(ctx context.Context) (added, removed int, err error) {
	added, removed, err = s.syncTuples(ctx)
	if err != nil {
		s.dirty.Store(true)
		return added, removed, err
	}
	if err := s.Rebuild(ctx); err != nil {
		s.dirty.Store(true)
		return added, removed, err
	}
	return added, removed, nil
}

func (s *Service) syncTuples(ctx context.Context) (added, removed int, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	want, err := s.desired(ctx)
	if err != nil {
		return 0, 0, fmt.Errorf("syncing openfga: reading the database: %w", err)
	}
	have, err := s.fga.Read(ctx, acl.Tuple{})
	if err != nil {
		return 0, 0, fmt.Errorf("syncing openfga: reading tuples: %w", err)
	}
	var extra []acl.Tuple
	for _, t := range have {
		if managed(t) && !want[t] {
			extra = append(extra, t)
		}
		delete(want, t)
	}
	missing := slices.SortedFunc(maps.Keys(want), compareTuples)
	slices.SortFunc(extra, compareTuples)
	// Deletes first: a Sync cut short leaves extra denies, not allows.
	for _, b := range batches(extra) {
		if err := s.fga.Write(ctx, nil, b); err != nil {
			return added, removed, fmt.Errorf("syncing openfga: deleting tuples: %w", err)
		}
		removed += len(b)
	}
	for _, b := range batches(missing) {
		if err := s.fga.Write(ctx, b, nil); err != nil {
			return added, removed, fmt.Errorf("syncing openfga: writing tuples: %w", err)
		}
		added += len(b)
	}
	s.dirty.Store(false)
	if added+removed > 0 {
		s.log.Info("synced openfga with the database", "added", added, "removed", removed)
	}
	return added, removed, nil
}

func compareTuples(a, b acl.Tuple) int {
	return cmp.Or(strings.Compare(a.Object, b.Object), strings.Compare(a.Relation, b.Relation), strings.Compare(a.User, b.User))
}

// desired returns every tuple the database implies.
func (s *Service) desired(ctx context.Context) (map[acl.Tuple]bool, error) {
	orgs, err := s.store.ListOrgs(ctx)
	if err != nil {
		return nil, err
	}
	want := map[acl.Tuple]bool{}
	for _, o := range orgs {
		ts, err := s.orgTuples(ctx, o.ID)
		if err != nil {
			return nil, err
		}
		for _, t := range ts {
			want[t] = true
		}
	}
	return want, nil
}

// orgTuples returns every tuple the organization's rows imply.
func (s *Service) orgTuples(ctx context.Context, orgID string) ([]acl.Tuple, error) {
	var out []acl.Tuple
	members, err := s.store.ListMembers(ctx, orgID)
	if err != nil {
		return nil, err
	}
	for _, m := range members {
		t, err := MembershipTuple(m)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	edges, err := s.groupEdges(ctx, orgID)
	if err != nil {
		return nil, err
	}
	out = append(out, edges...)
	folders, err := s.store.ListFolders(ctx, orgID)
	if err != nil {
		return nil, err
	}
	for _, f := range folders {
		out = append(out, FolderTuples(f)...)
	}
	devices, err := s.store.ListOrgDevices(ctx, orgID)
	if err != nil {
		return nil, err
	}
	for _, d := range devices {
		out = append(out, DeviceTuples(d)...)
	}
	grants, err := s.grantTuples(ctx, orgID, store.GrantFilter{})
	if err != nil {
		return nil, err
	}
	return append(out, grants...), nil
}
