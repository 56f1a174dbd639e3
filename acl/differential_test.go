package acl_test

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/warrenhq/warren/acl"
)

// universe is a random organization: users, nested groups, nested folders,
// devices with services, and grants. The test mirrors its tuples so it can
// pick tuples to delete and keep the group graph acyclic.
type universe struct {
	rng      *rand.Rand
	users    []string
	groups   [][]string // by nesting level; a group only contains groups of deeper levels
	folders  []string
	devices  []string
	folderOf map[string]string // device -> its folder
	services []acl.Service
	grants   []acl.Tuple // deletable grants and memberships
}

// The universe is sized to the acceptance minimums (50 users, 200 devices,
// groups nested 3 deep, folders 4 deep): OpenFGA's Check costs milliseconds
// of CPU on this model (tens under -race), and the test makes one per
// (user, relation, device), twice.
const (
	nUsers          = 50
	nDevices        = 200
	nFolders        = 12
	nGroupsPerLevel = 3
	nGroupLevels    = 4
	nGrants         = 100
)

func newUniverse(seed uint64) (*universe, []acl.Tuple) {
	u := &universe{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), folderOf: map[string]string{}}
	var ts []acl.Tuple
	for i := range nUsers {
		u.users = append(u.users, fmt.Sprintf("u%02d", i))
	}
	ts = append(ts, u.makeGroups()...)
	ts = append(ts, u.makeFolders()...)
	ts = append(ts, u.makeDevices()...)
	ts = append(ts, tu("user:u00", "admin", "organization:org"))
	for range nGrants {
		ts = append(ts, u.newGrant())
	}
	u.grants = append(u.grants, ts[len(ts)-nGrants:]...)
	return u, dedupe(ts)
}

func dedupe(ts []acl.Tuple) []acl.Tuple {
	seen := map[acl.Tuple]bool{}
	var out []acl.Tuple
	for _, t := range ts {
		if !seen[t] {
			seen[t] = true
			out = append(out, t)
		}
	}
	return out
}

// makeGroups builds nGroupLevels levels of groups; g0_0 > g1_0 > g2_0 >
// g3_0 is a guaranteed nesting 3 deep.
func (u *universe) makeGroups() []acl.Tuple {
	var ts []acl.Tuple
	u.groups = make([][]string, nGroupLevels)
	for level := range u.groups {
		for i := range nGroupsPerLevel {
			u.groups[level] = append(u.groups[level], fmt.Sprintf("g%d_%d", level, i))
		}
	}
	for level, gs := range u.groups {
		for i, g := range gs {
			for range 1 + u.rng.IntN(3) {
				ts = append(ts, tu(acl.User(u.pick(u.users)), "member", "group:"+g))
			}
			if level < nGroupLevels-1 && (i == 0 || u.rng.IntN(2) == 0) {
				sub := u.groups[level+1][0]
				if i != 0 {
					sub = u.pick(u.groups[level+1+u.rng.IntN(nGroupLevels-1-level)])
				}
				ts = append(ts, tu(acl.GroupMembers(sub), "member", "group:"+g))
			}
		}
	}
	u.grants = append(u.grants, ts...)
	return ts
}

// makeFolders builds two trees: f00 > f01 > f02 > f03 > f04 is a guaranteed
// nesting 4 deep, f05 is a second root, and the other folders hang off
// random folders. Every folder names the organization.
func (u *universe) makeFolders() []acl.Tuple {
	var ts []acl.Tuple
	for i := range nFolders {
		f := fmt.Sprintf("f%02d", i)
		ts = append(ts, tu("organization:org", "org", acl.Folder(f)))
		switch {
		case i == 0, i == 5:
		case i <= 4:
			ts = append(ts, tu(acl.Folder(u.folders[i-1]), "parent", acl.Folder(f)))
		default:
			ts = append(ts, tu(acl.Folder(u.pick(u.folders)), "parent", acl.Folder(f)))
		}
		u.folders = append(u.folders, f)
	}
	return ts
}

func (u *universe) makeDevices() []acl.Tuple {
	var ts []acl.Tuple
	for i := range nDevices {
		d := fmt.Sprintf("d%03d", i)
		u.devices = append(u.devices, d)
		u.folderOf[d] = u.pick(u.folders)
		ts = append(ts, tu(acl.Folder(u.folderOf[d]), "folder", acl.Device(d)))
		ports := []uint16{22, 80, 443, 3389, 5900, 8080}
		u.rng.Shuffle(len(ports), func(i, j int) { ports[i], ports[j] = ports[j], ports[i] })
		base := u.relation()
		for i, p := range ports[:1+u.rng.IntN(4)] {
			rel := base
			if i > 0 && u.rng.IntN(5) == 0 {
				rel = u.pick(portRelations)
			}
			if rel == acl.RelationConnect && u.rng.IntN(2) == 0 {
				rel = "" // the default
			}
			u.services = append(u.services, acl.Service{DeviceID: d, Port: p, Relation: rel})
		}
	}
	return ts
}

// portRelations are the relations a port sensibly requires (a delete or
// view_secrets port would be odd); each adds one ListObjects per user to a
// compile.
var portRelations = []string{acl.RelationConnect, acl.RelationView, acl.RelationEdit, acl.RelationManage}

// relation picks a device's main required relation: mostly connect.
func (u *universe) relation() string {
	if u.rng.IntN(4) > 0 {
		return acl.RelationConnect
	}
	return u.pick(portRelations)
}

func grant(grantee, action, object string) acl.Tuple {
	t, err := acl.Grant(grantee, action, object)
	if err != nil {
		panic(err)
	}
	return t
}

func (u *universe) pick(xs []string) string { return xs[u.rng.IntN(len(xs))] }

// newGrant returns a random grant of a random action to a user or a group,
// on a folder or a device (or, rarely, organization admin).
func (u *universe) newGrant() acl.Tuple {
	grantee := acl.User(u.pick(u.users))
	if u.rng.IntN(10) < 3 {
		grantee = acl.GroupMembers(u.pick(u.groups[u.rng.IntN(nGroupLevels)]))
	}
	switch n := u.rng.IntN(100); {
	case n < 2:
		return tu(grantee, "admin", "organization:org")
	case n < 40:
		return grant(grantee, u.pick(acl.Actions), acl.Folder(u.pick(u.folders)))
	default:
		return grant(grantee, u.pick(acl.Actions), acl.Device(u.pick(u.devices)))
	}
}

// mutate returns one random write or delete: a new grant (35%), a revoked
// grant or membership (40%), a new membership of a user or a nested group
// (25%). Mutation number moveAt moves a device to another folder instead.
func (u *universe) mutate(i int) (writes, deletes []acl.Tuple) {
	if i == moveAt {
		return u.moveDevice()
	}
	switch n := u.rng.IntN(100); {
	case n < 35:
		g := u.newGrant()
		u.grants = append(u.grants, g)
		return []acl.Tuple{g}, nil
	case n < 75:
		i := u.rng.IntN(len(u.grants))
		g := u.grants[i]
		u.grants = slices.Delete(u.grants, i, i+1)
		return nil, []acl.Tuple{g}
	default:
		level := u.rng.IntN(nGroupLevels)
		m := tu(acl.User(u.pick(u.users)), "member", "group:"+u.pick(u.groups[level]))
		if level < nGroupLevels-1 && u.rng.IntN(2) == 0 {
			m.User = acl.GroupMembers(u.pick(u.groups[level+1]))
		}
		u.grants = append(u.grants, m)
		return []acl.Tuple{m}, nil
	}
}

// moveAt is the mutation that moves a device (a structure change, which
// recompiles everyone).
const moveAt = 25

func (u *universe) moveDevice() (writes, deletes []acl.Tuple) {
	d := u.pick(u.devices)
	from, to := u.folderOf[d], u.pick(u.folders)
	for to == from {
		to = u.pick(u.folders)
	}
	u.folderOf[d] = to
	return []acl.Tuple{tu(acl.Folder(to), "folder", acl.Device(d))}, []acl.Tuple{tu(acl.Folder(from), "folder", acl.Device(d))}
}

type checker interface {
	Check(ctx context.Context, t acl.Tuple) (bool, error)
}

// key is one Check: user has rel on device.
type key struct{ user, rel, device string }

// keys lists the Checks that decide every (user, device, port) of the
// universe, by user so that the oracle's cache serves each user's folder
// chains.
func (u *universe) keys() []key {
	set := map[key]bool{}
	for _, user := range u.users {
		for _, s := range u.services {
			set[key{user, cmpOr(s.Relation, acl.RelationConnect), s.DeviceID}] = true
		}
	}
	return slices.SortedFunc(maps.Keys(set), func(a, b key) int {
		return cmp.Or(strings.Compare(a.user, b.user), strings.Compare(a.device, b.device), strings.Compare(a.rel, b.rel))
	})
}

// checkAll asks a about every key, 2 calls per CPU at a time.
func checkAll(t *testing.T, a checker, keys []key) map[key]bool {
	t.Helper()
	out := make(map[key]bool, len(keys))
	ch := make(chan key)
	var mu sync.Mutex
	var wg sync.WaitGroup
	var firstErr error
	for range 2 * runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for k := range ch {
				ok, err := a.Check(context.Background(), tu(acl.User(k.user), k.rel, acl.Device(k.device)))
				mu.Lock()
				out[k], firstErr = ok, cmp.Or(firstErr, err)
				mu.Unlock()
			}
		})
	}
	for _, k := range keys {
		ch <- k
	}
	close(ch)
	wg.Wait()
	if firstErr != nil {
		t.Fatalf("Check() = %v", firstErr)
	}
	return out
}

// answers returns OpenFGA's Check for every key of the universe. Nothing
// is written meanwhile, so the Oracle (OpenFGA's Check with its check cache,
// on a server started for this call) gives the answers the Authorizer's
// uncached Check would; a random sample checked through the Authorizer
// itself makes sure of it.
func (u *universe) answers(t *testing.T, a *acl.Embedded) map[key]bool {
	t.Helper()
	o, err := acl.NewOracle(a)
	if err != nil {
		t.Fatalf("NewOracle() = %v", err)
	}
	defer o.Close()
	keys := u.keys()
	var sw stopwatch
	sw.start()
	want := checkAll(t, o, keys)
	t.Logf("oracle: %v", &sw)
	sw.start()
	defer func() { t.Logf("spot: %v", &sw) }()
	sample := make([]key, spotChecks)
	for i := range sample {
		sample[i] = keys[u.rng.IntN(len(keys))]
	}
	for k, got := range checkAll(t, a, sample) {
		if got != want[k] {
			t.Fatalf("Authorizer.Check(%v) = %v, the oracle said %v", k, got, want[k])
		}
	}
	return want
}

// spotChecks is the size of the sample answers checks through the
// Authorizer.
const spotChecks = 200

// diff compares tab with want for every (user, device, port) of the
// universe, and each device's union with the ports someone may reach. It
// returns the number of mismatches; the first few are logged.
func (u *universe) diff(t *testing.T, want map[key]bool, tab *acl.Table) (mismatches int) {
	t.Helper()
	union := map[string][]uint16{}
	for _, user := range u.users {
		for _, s := range u.services {
			rel := cmpOr(s.Relation, acl.RelationConnect)
			w := want[key{user, rel, s.DeviceID}]
			if got := tab.Allowed(user, s.DeviceID, s.Port); got != w {
				if mismatches++; mismatches <= 10 {
					t.Errorf("Allowed(%s, %s, %d) = %v, want %v (Check %s on the device)", user, s.DeviceID, s.Port, got, w, rel)
				}
			}
			if w && !slices.Contains(union[s.DeviceID], s.Port) {
				union[s.DeviceID] = append(union[s.DeviceID], s.Port)
			}
		}
	}
	for _, d := range u.devices {
		if got, w := flatten(tab.DevicePorts(d)), sorted(union[d]); !slices.Equal(got, w) {
			if mismatches++; mismatches <= 10 {
				t.Errorf("DevicePorts(%s) = %v, want %v", d, got, w)
			}
		}
	}
	return mismatches
}

func cmpOr(s, def string) string { return cmp.Or(s, def) }

func flatten(rs []acl.PortRange) []uint16 {
	var out []uint16
	for _, r := range rs {
		for p := uint32(r.From); p <= uint32(r.To); p++ {
			out = append(out, uint16(p))
		}
	}
	return out
}

func sorted(ps []uint16) []uint16 {
	ps = slices.Clone(ps)
	slices.Sort(ps)
	return ps
}

// TestDifferential is the acceptance test of the compiler: on a random
// universe the compiled table equals OpenFGA's Check for every (user,
// device, port), after a full compile and again after 50 random tuple
// writes and deletes, each followed by TuplesChanged (Affected users
// recompiled; everyone for the one device move).
func TestDifferential(t *testing.T) {
	const seed = 20260603
	ctx := context.Background()
	a := newEmbedded(t)
	u, tuples := newUniverse(seed)
	write(t, a, tuples...)
	t.Logf("universe (seed %d): %d users, %d devices, %d services, %d folders (4 deep), %d groups (%d levels), %d tuples",
		seed, len(u.users), len(u.devices), len(u.services), len(u.folders), nGroupLevels*nGroupsPerLevel, nGroupLevels, len(tuples))
	triples := len(u.users) * len(u.services)

	c := acl.NewCompiler(a, nil)
	var sw stopwatch
	sw.start()
	if _, err := c.Compile(ctx, u.users, u.services); err != nil {
		t.Fatalf("Compile() = %v", err)
	}
	t.Logf("Compile: %v", &sw)
	sw.start()
	want := u.answers(t, a)
	m := u.diff(t, want, c.Table())
	t.Logf("after Compile: %d mismatches over %d (user, device, port) triples (%d Checks, %v)", m, triples, len(want), &sw)

	sw.start()
	affected := 0
	for i := range 50 {
		writes, deletes := u.mutate(i)
		if err := a.Write(ctx, writes, deletes); err != nil {
			t.Fatalf("Write(%v, %v) = %v", writes, deletes, err)
		}
		changed := append(writes, deletes...)
		for _, tp := range changed {
			users, _, err := c.Affected(ctx, tp)
			if err != nil {
				t.Fatalf("Affected(%s) = %v", tp, err)
			}
			affected += len(users)
		}
		if _, err := c.TuplesChanged(ctx, changed); err != nil {
			t.Fatalf("TuplesChanged(%v) = %v", changed, err)
		}
	}
	t.Logf("50 mutations applied: %d affected users recompiled, everyone once for the device move (%v)", affected, &sw)
	sw.start()
	want = u.answers(t, a)
	m = u.diff(t, want, c.Table())
	t.Logf("after 50 mutations: %d mismatches over %d triples (%v)", m, triples, &sw)

	fresh, err := acl.NewCompiler(a, nil).Compile(ctx, u.users, u.services)
	if err != nil {
		t.Fatalf("Compile() = %v", err)
	}
	if n := tablesDiffer(u, c.Table(), fresh); n > 0 {
		t.Errorf("the recompiled table differs from a fresh Compile on %d triples", n)
	}
}

// cpuTime is the CPU time this process has used: the test logs it next to
// wall time because other builds share the machine.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

type stopwatch struct{ wall, cpu time.Duration }

func (s *stopwatch) start() { s.wall, s.cpu = time.Duration(time.Now().UnixNano()), cpuTime() }

func (s *stopwatch) String() string {
	return fmt.Sprintf("%v wall, %v CPU", (time.Duration(time.Now().UnixNano()) - s.wall).Round(time.Millisecond), (cpuTime() - s.cpu).Round(time.Millisecond))
}

func tablesDiffer(u *universe, a, b *acl.Table) int {
	n := 0
	for _, user := range u.users {
		for _, s := range u.services {
			if a.Allowed(user, s.DeviceID, s.Port) != b.Allowed(user, s.DeviceID, s.Port) {
				n++
			}
		}
	}
	return n
}
