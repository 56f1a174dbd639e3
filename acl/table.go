package acl

import (
	"maps"
	"slices"
)

// Service is a port on a device's overlay address and the relation a user
// must hold on the device to reach it. Services come from the engine's
// store; the Compiler only reads them.
type Service struct {
	DeviceID string // plain id, "dev_abc"
	Port     uint16
	// Relation is the action required on the device; "" means
	// RelationConnect.
	Relation string
	// Name labels the service in explanations ("ssh"); optional.
	Name string
}

// PortRange is an inclusive range of ports.
type PortRange struct{ From, To uint16 }

type devicePort struct {
	device string
	port   uint16
}

// serviceIndex is the services of one Compile, immutable once built and
// shared by the tables built from it.
type serviceIndex struct {
	byDevice map[string][]Service // relation filled in
	// byRelation maps relation -> device -> ports requiring it.
	byRelation map[string]map[string][]uint16
	relations  []string // the keys of byRelation, sorted
}

func newServiceIndex(services []Service) *serviceIndex {
	idx := &serviceIndex{byDevice: map[string][]Service{}, byRelation: map[string]map[string][]uint16{}}
	for _, s := range services {
		if s.Relation == "" {
			s.Relation = RelationConnect
		}
		idx.byDevice[s.DeviceID] = append(idx.byDevice[s.DeviceID], s)
		devs := idx.byRelation[s.Relation]
		if devs == nil {
			devs = map[string][]uint16{}
			idx.byRelation[s.Relation] = devs
		}
		if !slices.Contains(devs[s.DeviceID], s.Port) {
			devs[s.DeviceID] = append(devs[s.DeviceID], s.Port)
		}
	}
	idx.relations = slices.Sorted(maps.Keys(idx.byRelation))
	return idx
}

// Table is an immutable snapshot of compiled port ACLs: which user may open
// a flow to which port of which device, and per device the union over users.
// Its methods are safe for concurrent use; a Compiler publishes a new Table
// on every (re)compile instead of changing one.
type Table struct {
	users    map[string]map[devicePort]struct{} // user id -> allowed (device, port)
	refs     map[devicePort]int                 // how many users may reach each (device, port)
	ports    map[string][]PortRange             // device id -> union over users
	services *serviceIndex
	changed  []string
}

// newTable returns an empty table over services.
func newTable(services *serviceIndex) *Table {
	return &Table{
		users:    map[string]map[devicePort]struct{}{},
		refs:     map[devicePort]int{},
		ports:    map[string][]PortRange{},
		services: services,
	}
}

// Allowed reports whether user may reach port on device. O(1).
func (t *Table) Allowed(userID, deviceID string, port uint16) bool {
	_, ok := t.users[userID][devicePort{deviceID, port}]
	return ok
}

// DevicePorts returns the ports of device some user may reach, merged into
// ranges and sorted: what the engine's netstack filter lets through to the
// device. The caller may modify the slice.
func (t *Table) DevicePorts(deviceID string) []PortRange {
	return slices.Clone(t.ports[deviceID])
}

// Services returns the services of device as compiled, with Relation
// filled in.
func (t *Table) Services(deviceID string) []Service {
	return slices.Clone(t.services.byDevice[deviceID])
}

// Changed returns the devices whose DevicePorts differ from the table this
// one replaced, sorted: the netstack filters to reprogram.
func (t *Table) Changed() []string { return slices.Clone(t.changed) }

// Users returns the number of users the table was compiled for who may
// reach at least one port.
func (t *Table) Users() int { return len(t.users) }

// withUsers returns a copy of t in which the given users' entries are
// replaced (an empty entry removes the user), recomputing the union only for
// the devices they touch.
func (t *Table) withUsers(entries map[string]map[devicePort]struct{}) *Table {
	n := &Table{
		users:    maps.Clone(t.users),
		refs:     maps.Clone(t.refs),
		ports:    maps.Clone(t.ports),
		services: t.services,
	}
	touched := map[string]struct{}{}
	for user, entry := range entries {
		n.addRefs(n.users[user], -1, touched)
		n.addRefs(entry, +1, touched)
		if len(entry) == 0 {
			delete(n.users, user)
		} else {
			n.users[user] = entry
		}
	}
	for dev := range touched {
		if n.setUnion(dev) {
			n.changed = append(n.changed, dev)
		}
	}
	slices.Sort(n.changed)
	return n
}

func (t *Table) addRefs(entry map[devicePort]struct{}, delta int, touched map[string]struct{}) {
	for dp := range entry {
		touched[dp.device] = struct{}{}
		if t.refs[dp] += delta; t.refs[dp] <= 0 {
			delete(t.refs, dp)
		}
	}
}

// setUnion recomputes device's union from refs and reports whether it
// changed.
func (t *Table) setUnion(device string) bool {
	var ports []uint16
	for _, s := range t.services.byDevice[device] {
		if t.refs[devicePort{device, s.Port}] > 0 {
			ports = append(ports, s.Port)
		}
	}
	ranges := toRanges(ports)
	if slices.Equal(ranges, t.ports[device]) {
		return false
	}
	if len(ranges) == 0 {
		delete(t.ports, device)
	} else {
		t.ports[device] = ranges
	}
	return true
}

// toRanges sorts ports and merges runs of consecutive ports.
func toRanges(ports []uint16) []PortRange {
	slices.Sort(ports)
	ports = slices.Compact(ports)
	var out []PortRange
	for _, p := range ports {
		if n := len(out); n > 0 && uint32(out[n-1].To)+1 == uint32(p) {
			out[n-1].To = p
			continue
		}
		out = append(out, PortRange{From: p, To: p})
	}
	return out
}

// diffPorts returns the devices whose union differs between a and b.
func diffPorts(a, b map[string][]PortRange) []string {
	var out []string
	for dev, ra := range a {
		if !slices.Equal(ra, b[dev]) {
			out = append(out, dev)
		}
	}
	for dev := range b {
		if _, ok := a[dev]; !ok {
			out = append(out, dev)
		}
	}
	slices.Sort(out)
	return out
}
