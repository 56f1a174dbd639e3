package authz_test

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/warrenhq/warren/acl"
	"github.com/warrenhq/warren/controlplane/authz"
	"github.com/warrenhq/warren/controlplane/store"
	"github.com/warrenhq/warren/controlplane/store/storetest"
)

func TestMain(m *testing.M) { storetest.Main(m) }

// eachBackend runs fn against a fresh store on SQLite and on PostgreSQL.
func eachBackend(t *testing.T, fn func(t *testing.T, st *store.Store, url string)) {
	for _, b := range storetest.Backends {
		t.Run(b.Name, func(t *testing.T) {
			url := b.URL(t)
			fn(t, storetest.Open(t, url), url)
		})
	}
}

// newMemoryFGA starts OpenFGA in process on the memory datastore, closed
// when the test ends.
func newMemoryFGA(t *testing.T) *acl.Embedded {
	t.Helper()
	return newFGA(t, acl.EmbeddedConfig{})
}

func newFGA(t *testing.T, cfg acl.EmbeddedConfig) *acl.Embedded {
	t.Helper()
	a, err := acl.NewEmbedded(context.Background(), cfg)
	if err != nil {
		t.Fatalf("NewEmbedded(%s) = %v", cfg.Datastore, err)
	}
	t.Cleanup(func() { a.Close() })
	return a
}

// recorder collects the Changes a Service reports.
type recorder struct {
	mu      sync.Mutex
	changes []authz.Change
}

func (r *recorder) record(c authz.Change) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.changes = append(r.changes, c)
}

// take returns the changes so far and forgets them.
func (r *recorder) take() []authz.Change {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.changes
	r.changes = nil
	return out
}

// lostPorts returns the ports the changes say user lost on device.
func lostPorts(cs []authz.Change, user, device string) []uint16 {
	var out []uint16
	for _, c := range cs {
		for _, a := range c.Lost {
			if a.UserID == user && a.DeviceID == device {
				out = append(out, a.Ports...)
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func newService(t *testing.T, st *store.Store, fga *acl.Embedded) (*authz.Service, *recorder) {
	t.Helper()
	svc := authz.New(st, fga, acl.NewCompiler(fga, nil), nil)
	rec := &recorder{}
	remove := svc.OnChange(rec.record)
	t.Cleanup(remove)
	return svc, rec
}

// world is one organization (acme) with nested groups, nested folders and
// devices with services, plus a second organization (globex) to check
// tenancy against:
//
//	acme: users alice, bob, carol (admin), dave
//	  groups: team > sub (nested); alice in sub, bob in team
//	  folders: top > mid > leaf;  other (top level)
//	  devices: db1 in leaf (ssh 22, pg 5432); web1 in other (https 443);
//	           loose at the top level (ssh 22)
//	globex: user eve; group g; folder gf; device gdev in gf (ssh 22);
//	        eve connect on gf
type world struct {
	st                      *store.Store
	acme, globex            string
	alice, bob, carol, dave string
	eve                     string
	team, sub, gGroup       string
	top, mid, leaf, other   string
	gFolder                 string
	db1, web1, loose, gDev  string
	gGrant                  store.Grant
	users                   []string
	devicePorts             map[string][]uint16
}

func newWorld(t *testing.T, st *store.Store, svc *authz.Service) *world {
	t.Helper()
	ctx := t.Context()
	w := &world{st: st, devicePorts: map[string][]uint16{}}
	w.acme = mustOrg(t, st, "acme")
	w.globex = mustOrg(t, st, "globex")
	for _, p := range []struct {
		id   *string
		name string
		org  string
		role string
	}{
		{&w.alice, "alice", w.acme, store.RoleMember},
		{&w.bob, "bob", w.acme, store.RoleMember},
		{&w.carol, "carol", w.acme, store.RoleAdmin},
		{&w.dave, "dave", w.acme, store.RoleMember},
		{&w.eve, "eve", w.globex, store.RoleMember},
	} {
		*p.id = mustUser(t, st, p.name)
		if _, err := svc.AddMember(ctx, store.Membership{OrgID: p.org, UserID: *p.id, Role: p.role}); err != nil {
			t.Fatalf("AddMember(%s) = %v", p.name, err)
		}
		w.users = append(w.users, *p.id)
	}
	w.team = mustGroup(t, st, w.acme, "team")
	w.sub = mustGroup(t, st, w.acme, "sub")
	w.gGroup = mustGroup(t, st, w.globex, "g")
	mustAddGroupMember(t, svc, w.acme, w.team, store.GroupMember{GroupID: w.sub})
	mustAddGroupMember(t, svc, w.acme, w.sub, store.GroupMember{UserID: w.alice})
	mustAddGroupMember(t, svc, w.acme, w.team, store.GroupMember{UserID: w.bob})
	mustAddGroupMember(t, svc, w.globex, w.gGroup, store.GroupMember{UserID: w.eve})

	w.top = mustFolder(t, svc, w.acme, "", "top")
	w.mid = mustFolder(t, svc, w.acme, w.top, "mid")
	w.leaf = mustFolder(t, svc, w.acme, w.mid, "leaf")
	w.other = mustFolder(t, svc, w.acme, "", "other")
	w.gFolder = mustFolder(t, svc, w.globex, "", "gf")

	w.db1 = w.device(t, svc, w.acme, w.leaf, "db1", 22, 5432)
	w.web1 = w.device(t, svc, w.acme, w.other, "web1", 443)
	w.loose = w.device(t, svc, w.acme, "", "loose", 22)
	w.gDev = w.device(t, svc, w.globex, w.gFolder, "gdev", 22)

	var err error
	w.gGrant, err = svc.Grant(ctx, store.Grant{OrgID: w.globex, SubjectType: store.SubjectUser, SubjectID: w.eve,
		Relation: acl.RelationConnect, ObjectType: store.ObjectFolder, ObjectID: w.gFolder})
	if err != nil {
		t.Fatalf("Grant(eve) = %v", err)
	}
	if err := svc.Rebuild(ctx); err != nil {
		t.Fatalf("Rebuild() = %v", err)
	}
	return w
}

var testPrefix = netip.MustParsePrefix("100.96.0.0/24")

// device enrolls a device with services on ports and places it with
// AssignDeviceOrg.
func (w *world) device(t *testing.T, svc *authz.Service, orgID, folderID, name string, ports ...uint16) string {
	t.Helper()
	id := w.enrollUnassigned(t, name, ports...)
	if err := svc.AssignDeviceOrg(t.Context(), id, orgID, folderID); err != nil {
		t.Fatalf("AssignDeviceOrg(%s) = %v", name, err)
	}
	w.devicePorts[id] = ports
	return id
}

// enrollUnassigned enrolls a device of no organization with services on
// ports.
func (w *world) enrollUnassigned(t *testing.T, name string, ports ...uint16) string {
	t.Helper()
	ctx := t.Context()
	hash := sha256.Sum256([]byte(rand.Text()))
	if _, err := w.st.CreateEnrollToken(ctx, store.EnrollToken{Hash: hash[:], ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
		t.Fatalf("CreateEnrollToken() = %v", err)
	}
	d, err := w.st.Enroll(ctx, store.EnrollRequest{
		TokenHash: hash[:], Prefix: testPrefix, Reserved: []netip.Addr{testPrefix.Addr()},
		Device:       store.Device{Name: name, PublicKey: "key-" + rand.Text(), Hostname: name, OS: "linux"},
		NameExplicit: true,
	})
	if err != nil {
		t.Fatalf("Enroll(%s) = %v", name, err)
	}
	for _, p := range ports {
		svc := store.Service{DeviceID: d.ID, Name: "p" + strconv.Itoa(int(p)), Protocol: store.ProtocolTCP, Port: int(p)}
		if _, err := w.st.CreateService(ctx, svc); err != nil {
			t.Fatalf("CreateService(%s:%d) = %v", name, p, err)
		}
	}
	return d.ID
}

func mustOrg(t *testing.T, st *store.Store, slug string) string {
	t.Helper()
	o, err := st.CreateOrg(t.Context(), store.Org{Name: "Org " + slug, Slug: slug})
	if err != nil {
		t.Fatalf("CreateOrg(%s) = %v", slug, err)
	}
	return o.ID
}

func mustUser(t *testing.T, st *store.Store, name string) string {
	t.Helper()
	u, _, err := st.UpsertUserIdentity(t.Context(), "https://idp.example", name, name+"@example.com", name)
	if err != nil {
		t.Fatalf("UpsertUserIdentity(%s) = %v", name, err)
	}
	return u.ID
}

func mustGroup(t *testing.T, st *store.Store, orgID, name string) string {
	t.Helper()
	g, err := st.CreateGroup(t.Context(), store.Group{OrgID: orgID, Name: name})
	if err != nil {
		t.Fatalf("CreateGroup(%s) = %v", name, err)
	}
	return g.ID
}

func mustAddGroupMember(t *testing.T, svc *authz.Service, orgID, groupID string, m store.GroupMember) {
	t.Helper()
	if err := svc.AddGroupMember(t.Context(), orgID, groupID, m); err != nil {
		t.Fatalf("AddGroupMember(%s, %+v) = %v", groupID, m, err)
	}
}

func mustFolder(t *testing.T, svc *authz.Service, orgID, parentID, name string) string {
	t.Helper()
	f, err := svc.CreateFolder(t.Context(), store.Folder{OrgID: orgID, ParentID: parentID, Name: name})
	if err != nil {
		t.Fatalf("CreateFolder(%s) = %v", name, err)
	}
	return f.ID
}

func mustGrant(t *testing.T, svc *authz.Service, g store.Grant) store.Grant {
	t.Helper()
	g, err := svc.Grant(t.Context(), g)
	if err != nil {
		t.Fatalf("Grant(%+v) = %v", g, err)
	}
	return g
}

func check(t *testing.T, a acl.Authorizer, user, relation, object string) bool {
	t.Helper()
	ok, err := a.Check(t.Context(), acl.Tuple{User: user, Relation: relation, Object: object})
	if err != nil {
		t.Fatalf("Check(%s %s %s) = %v", user, relation, object, err)
	}
	return ok
}

// matchesCheck fails the test where the compiled table and OpenFGA's
// Check disagree on any (user, device, port) of the world, and returns
// the Check answers.
func (w *world) matchesCheck(t *testing.T, svc *authz.Service, a acl.Authorizer) map[string]bool {
	t.Helper()
	answers := map[string]bool{}
	for _, u := range w.users {
		for dev, ports := range w.devicePorts {
			want := check(t, a, acl.User(u), acl.RelationConnect, acl.Device(dev))
			answers[u+"/"+dev] = want
			for _, p := range ports {
				if got := svc.Allowed(u, dev, p); got != want {
					t.Errorf("Allowed(%s, %s, %d) = %v, want %v (Check)", u, dev, p, got, want)
				}
			}
		}
	}
	return answers
}

// readAll returns every tuple in OpenFGA.
func readAll(t *testing.T, a acl.Authorizer) []acl.Tuple {
	t.Helper()
	ts, err := a.Read(t.Context(), acl.Tuple{})
	if err != nil {
		t.Fatalf("Read() = %v", err)
	}
	slices.SortFunc(ts, func(x, y acl.Tuple) int {
		return cmp.Or(strings.Compare(x.Object, y.Object), strings.Compare(x.Relation, y.Relation), strings.Compare(x.User, y.User))
	})
	return ts
}
