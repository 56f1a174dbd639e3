package authz

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/warrenhq/warren/acl"
)

// Change is what one recompile did to access: who lost which ports, and
// which devices' port unions (DevicePorts) changed.
type Change struct {
	// Lost lists the (user, device) pairs that lost at least one port,
	// sorted by user then device: the engine closes their live flows and
	// sessions on those ports (all of them when Allowed now says no for
	// every port).
	Lost []Access
	// Devices are the devices whose DevicePorts changed, sorted: the
	// netstack filters to reprogram.
	Devices []string
}

// Access is a user's lost ports on a device.
type Access struct {
	UserID   string
	DeviceID string
	Ports    []uint16 // sorted
}

// OnChange registers fn to be called after every recompile that revoked
// something or changed a device's port union. Calls are made one at a time,
// in order, on the goroutine that recompiled (the one running the change),
// before that change's method returns; fn must not block for long and must
// not call the Service's write methods (Allowed and DevicePorts are fine).
// The returned func unregisters fn.
func (s *Service) OnChange(fn func(Change)) (remove func()) {
	s.cbMu.Lock()
	defer s.cbMu.Unlock()
	id := s.nextID
	s.nextID++
	s.listeners[id] = fn
	return func() {
		s.cbMu.Lock()
		defer s.cbMu.Unlock()
		delete(s.listeners, id)
	}
}

// Allowed reports whether the user may open a flow to port on the device,
// from the compiled table: O(1), lock-free.
func (s *Service) Allowed(userID, deviceID string, port uint16) bool {
	return s.comp.Table().Allowed(userID, deviceID, port)
}

// DevicePorts returns the ports of the device some user may reach, merged
// into sorted ranges: what the engine's netstack filter lets through.
func (s *Service) DevicePorts(deviceID string) []acl.PortRange {
	return s.comp.Table().DevicePorts(deviceID)
}

// Table returns the current compiled table (never nil).
func (s *Service) Table() *acl.Table { return s.comp.Table() }

// Rebuild compiles the whole table from the store: the users are every
// user with a membership, the services every service of every device that
// belongs to an organization, each requiring connect (services have no
// relation of their own yet). Call it at start, after Sync, and whenever
// services or devices change.
func (s *Service) Rebuild(ctx context.Context) error {
	users, services, err := s.universe(ctx)
	if err != nil {
		return err
	}
	s.compileMu.Lock()
	defer s.compileMu.Unlock()
	before := s.comp.Table()
	after, err := s.comp.Compile(ctx, users, services)
	if err != nil {
		return fmt.Errorf("rebuilding port ACLs: %w", err)
	}
	candidates := maps.Clone(s.users)
	for _, u := range users {
		candidates[u] = struct{}{}
	}
	old := s.services
	s.users, s.services = userSet(users), services
	s.notifyLocked(before, after, candidates, append(slices.Clip(old), services...))
	return nil
}

// universe reads the users and services to compile from the store.
func (s *Service) universe(ctx context.Context) (users []string, services []acl.Service, err error) {
	orgs, err := s.store.ListOrgs(ctx)
	if err != nil {
		return nil, nil, err
	}
	seen := map[string]struct{}{}
	inOrg := map[string]bool{}
	for _, o := range orgs {
		ms, err := s.store.ListMembers(ctx, o.ID)
		if err != nil {
			return nil, nil, err
		}
		for _, m := range ms {
			if _, ok := seen[m.UserID]; !ok {
				seen[m.UserID] = struct{}{}
				users = append(users, m.UserID)
			}
		}
		ds, err := s.store.ListOrgDevices(ctx, o.ID)
		if err != nil {
			return nil, nil, err
		}
		for _, d := range ds {
			inOrg[d.ID] = true
		}
	}
	all, err := s.store.ListAllServices(ctx)
	if err != nil {
		return nil, nil, err
	}
	for _, svc := range all {
		if inOrg[svc.DeviceID] {
			services = append(services, acl.Service{DeviceID: svc.DeviceID, Port: uint16(svc.Port), Name: svc.Name})
		}
	}
	return users, services, nil
}

// settle recompiles what an operation touched.
func (s *Service) settle(ctx context.Context, out outcome) error {
	if out.rebuild {
		return s.Rebuild(ctx)
	}
	s.compileMu.Lock()
	defer s.compileMu.Unlock()
	before := s.comp.Table()
	var after *acl.Table
	var err error
	candidates := userSet(out.users)
	if out.all {
		after, err = s.comp.RecompileAll(ctx)
		candidates = s.users
	} else if len(out.users) > 0 {
		after, err = s.comp.Recompile(ctx, out.users)
	} else {
		return nil
	}
	if err != nil {
		return err
	}
	for u := range candidates {
		s.users[u] = struct{}{}
	}
	s.notifyLocked(before, after, candidates, s.services)
	return nil
}

func userSet(users []string) map[string]struct{} {
	set := make(map[string]struct{}, len(users))
	for _, u := range users {
		set[u] = struct{}{}
	}
	return set
}

// notifyLocked tells the listeners what changed between before and after
// for the candidate users over services. Cost: users x services lookups.
func (s *Service) notifyLocked(before, after *acl.Table, users map[string]struct{}, services []acl.Service) {
	ch := Change{Lost: lost(before, after, users, services), Devices: after.Changed()}
	if len(ch.Lost) == 0 && len(ch.Devices) == 0 {
		return
	}
	for _, a := range ch.Lost {
		s.log.Info("access revoked", "user_id", a.UserID, "device_id", a.DeviceID, "ports", a.Ports)
	}
	s.cbMu.Lock()
	fns := make([]func(Change), 0, len(s.listeners))
	for _, id := range slices.Sorted(maps.Keys(s.listeners)) {
		fns = append(fns, s.listeners[id])
	}
	s.cbMu.Unlock()
	for _, fn := range fns {
		fn(ch)
	}
}

// lost returns, per (user, device), the ports before allowed and after
// does not.
func lost(before, after *acl.Table, users map[string]struct{}, services []acl.Service) []Access {
	type key struct{ user, device string }
	ports := map[key][]uint16{}
	for u := range users {
		for _, svc := range services {
			if before.Allowed(u, svc.DeviceID, svc.Port) && !after.Allowed(u, svc.DeviceID, svc.Port) {
				k := key{u, svc.DeviceID}
				if !slices.Contains(ports[k], svc.Port) {
					ports[k] = append(ports[k], svc.Port)
				}
			}
		}
	}
	out := make([]Access, 0, len(ports))
	for k, ps := range ports {
		slices.Sort(ps)
		out = append(out, Access{UserID: k.user, DeviceID: k.device, Ports: ps})
	}
	slices.SortFunc(out, func(a, b Access) int {
		return cmp.Or(strings.Compare(a.UserID, b.UserID), strings.Compare(a.DeviceID, b.DeviceID))
	})
	return out
}
