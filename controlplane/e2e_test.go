package controlplane_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/warrenhq/warren/acl"
	"github.com/warrenhq/warren/controlplane"
	"github.com/warrenhq/warren/controlplane/api"
	"github.com/warrenhq/warren/controlplane/controlplanetest"
	"github.com/warrenhq/warren/controlplane/store"
	"github.com/warrenhq/warren/controlplane/store/storetest"
	"github.com/warrenhq/warren/controlplane/wire"
	"github.com/warrenhq/warren/netstack"
)

func TestMain(m *testing.M) { storetest.Main(m) }

func echo(t *testing.T, c net.Conn, msg string) {
	t.Helper()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write([]byte(msg)); err != nil {
		t.Fatalf("writing: %v", err)
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatalf("reading echo: %v", err)
	}
	if string(got) != msg {
		t.Fatalf("echo = %q, want %q", got, msg)
	}
}

func addService(t *testing.T, e *controlplanetest.Engine, device, name string, port int, target string) {
	t.Helper()
	_, err := e.Admin().AddService(context.Background(), device, api.Service{Name: name, Protocol: "tcp", Port: port, Target: target})
	if err != nil {
		t.Fatalf("adding service %s/%s: %v", device, name, err)
	}
}

// dialEventually retries while the agent applies a new netmap.
func dialEventually(t *testing.T, e *controlplanetest.Engine, device string, port int) net.Conn {
	t.Helper()
	var c net.Conn
	controlplanetest.WaitFor(t, 10*time.Second, fmt.Sprintf("%s:%d reachable", device, port), func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		var err error
		c, err = e.Dial(ctx, device, port)
		return err == nil
	})
	return c
}

// TestOverlayEndToEnd: two agents enroll; a TCP echo service on agent A is
// reachable from the engine through the overlay and, through a gateway
// port, from a plain TCP client on the engine host.
func TestOverlayEndToEnd(t *testing.T) {
	for _, b := range storetest.Backends {
		t.Run(b.Name, func(t *testing.T) { testOverlayEndToEnd(t, b.URL(t)) })
	}
}

func testOverlayEndToEnd(t *testing.T, databaseURL string) {
	e := controlplanetest.NewEngine(t, controlplanetest.Options{DatabaseURL: databaseURL})
	e.NewAgent("alpha")
	e.NewAgent("beta")

	a, b := e.Device("alpha"), e.Device("beta")
	if a.OverlayIP == b.OverlayIP {
		t.Fatalf("both devices got %s", a.OverlayIP)
	}
	if a.AgentVersion != "test" || a.Endpoint == "" || a.LastHandshake == nil {
		t.Errorf("device list entry incomplete: %+v", a)
	}

	target, accepted := controlplanetest.EchoServer(t)
	addService(t, e, "alpha", "echo", 7000, target)
	c := dialEventually(t, e, "alpha", 7000)
	echo(t, c, "hello over the overlay")
	c.Close()

	pub, err := e.Admin().AddPublish(context.Background(), api.PublishRequest{Device: "alpha", Service: "echo", Listen: freePort(t)})
	if err != nil {
		t.Fatalf("publish add: %v", err)
	}
	pc, err := net.Dial("tcp", pub.ListenAddr)
	if err != nil {
		t.Fatalf("dialing gateway port: %v", err)
	}
	echo(t, pc, "hello through the gateway")

	// Half-close travels end to end: the echo server sees EOF and closes.
	pc.(*net.TCPConn).CloseWrite()
	if rest, err := io.ReadAll(pc); err != nil || len(rest) != 0 {
		t.Errorf("after half-close read %q, %v; want EOF", rest, err)
	}
	pc.Close()
	if accepted() != 2 {
		t.Errorf("echo target accepted %d connections, want 2", accepted())
	}

	// The same listen address cannot be published twice; removing frees it.
	if _, err := e.Admin().AddPublish(context.Background(), api.PublishRequest{Device: "alpha", Service: "echo", Listen: pub.ListenAddr}); err == nil {
		t.Error("publishing a listen address twice succeeded")
	}
	if err := e.Admin().RemovePublish(context.Background(), pub.ID); err != nil {
		t.Fatal(err)
	}
	if c, err := net.Dial("tcp", pub.ListenAddr); err == nil {
		c.Close()
		t.Error("gateway port still open after publish remove")
	}
}

// TestIsolation: an agent reaches nothing but the engine, and the engine
// reaches only configured service ports, even with its own filter removed.
func TestIsolation(t *testing.T) {
	e := controlplanetest.NewEngine(t, controlplanetest.Options{})
	alpha := e.NewAgent("alpha")
	e.NewAgent("beta")
	target, accepted := controlplanetest.EchoServer(t)
	addService(t, e, "beta", "echo", 7000, target)
	c := dialEventually(t, e, "beta", 7000)
	echo(t, c, "from the engine") // the target has accepted once echo returns
	c.Close()
	before := accepted()

	// Agent alpha, with its own overlay device and its own packet filter
	// removed (a hostile agent), tries beta's service: WireGuard has no
	// route to beta and the engine never forwards.
	dev := alpha.Device()
	if dev == nil {
		t.Fatal("agent alpha has no running device")
	}
	dev.SetFilter(nil)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if c, err := dev.DialContext(ctx, "tcp", net.JoinHostPort(e.Device("beta").OverlayIP, "7000")); err == nil {
		c.Close()
		t.Fatal("agent alpha reached agent beta's service")
	}
	if got := accepted(); got != before {
		t.Errorf("beta's target accepted %d connections from alpha, want 0", got-before)
	}
	// Nor can alpha reach the engine's host-side ports through the overlay.
	ctx2, cancel2 := context.WithTimeout(context.Background(), time.Second)
	defer cancel2()
	if c, err := dev.DialContext(ctx2, "tcp", net.JoinHostPort(e.Overlay().Addr().String(), "8080")); err == nil {
		c.Close()
		t.Error("agent alpha reached engine port 8080 over the overlay")
	}

	// The engine, with its filter bypassed, still cannot reach a port of
	// beta that is not a service, even one the host listens on.
	hostOnly, hostAccepted := controlplanetest.EchoServer(t)
	_, hostPort, _ := net.SplitHostPort(hostOnly)
	e.Overlay().Device().SetFilter(nil)
	t.Cleanup(func() { e.Overlay().Sync(context.Background()) })
	port, _ := strconv.Atoi(hostPort)
	for _, p := range []int{port, 22, 9999} {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		c, err := e.Dial(ctx, "beta", p)
		cancel()
		if err == nil {
			c.Close()
			t.Errorf("engine reached beta port %d, which is not a service", p)
		}
	}
	if hostAccepted() != 0 {
		t.Errorf("host-only server accepted %d connections through the overlay", hostAccepted())
	}
}

func enroll(url string, req wire.EnrollRequest) (int, wire.ErrorBody, error) {
	body, _ := json.Marshal(req)
	resp, err := http.Post(url+wire.EnrollPath, "application/json", bytes.NewReader(body))
	if err != nil {
		return 0, wire.ErrorBody{}, err
	}
	defer resp.Body.Close()
	var eb wire.ErrorBody
	json.NewDecoder(resp.Body).Decode(&eb)
	return resp.StatusCode, eb, nil
}

func newPublicKey(t *testing.T) string {
	k, err := netstack.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return k.Public().String()
}

// TestEnrollRace: 50 concurrent enrollments with one token give exactly one
// device and one address.
func TestEnrollRace(t *testing.T) {
	for _, b := range storetest.Backends {
		t.Run(b.Name, func(t *testing.T) { testEnrollRace(t, b.URL(t)) })
	}
}

func testEnrollRace(t *testing.T, databaseURL string) {
	e := controlplanetest.NewEngine(t, controlplanetest.Options{DatabaseURL: databaseURL})
	tok := e.Token(0)
	var wg sync.WaitGroup
	var mu sync.Mutex
	codes := map[int]int{}
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			status, _, err := enroll(e.URL, wire.EnrollRequest{Token: tok, WGPublicKey: newPublicKey(t), Hostname: fmt.Sprintf("racer-%d", i)})
			if err != nil {
				t.Error(err)
			}
			mu.Lock()
			codes[status]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	if codes[http.StatusCreated] != 1 || codes[http.StatusUnauthorized] != 49 {
		t.Errorf("status counts = %v, want 1 x 201 and 49 x 401", codes)
	}
	ds, err := e.Admin().ListDevices(context.Background())
	if err != nil || len(ds) != 1 {
		t.Fatalf("devices = %d (%v), want 1", len(ds), err)
	}
}

// TestEnrollRejects: bad input gets a 4xx with a stable code and leaves no
// device and no address behind; the token stays usable.
func TestEnrollRejects(t *testing.T) {
	e := controlplanetest.NewEngine(t, controlplanetest.Options{})
	tok := e.Token(0)
	used := newPublicKey(t)
	if status, eb, _ := enroll(e.URL, wire.EnrollRequest{Token: tok, WGPublicKey: used, Hostname: "first"}); status != http.StatusCreated {
		t.Fatalf("first enrollment: %d %+v", status, eb)
	}
	tok = e.Token(0)
	zero := netstack.Key{}
	cases := []struct {
		name   string
		body   string
		status int
		code   string
	}{
		{"malformed json", `{"token":`, 400, "malformed_json"},
		{"unknown field", `{"token":"` + tok + `","wg_public_key":"` + newPublicKey(t) + `","admin":true}`, 400, "malformed_json"},
		{"short key", `{"token":"` + tok + `","wg_public_key":"AAAA"}`, 400, "invalid_public_key"},
		{"zero key", `{"token":"` + tok + `","wg_public_key":"` + zero.String() + `"}`, 400, "invalid_public_key"},
		{"key in use", `{"token":"` + tok + `","wg_public_key":"` + used + `"}`, 409, "public_key_in_use"},
		{"unknown token", `{"token":"wrn_enroll_nope","wg_public_key":"` + newPublicKey(t) + `"}`, 401, "invalid_token"},
		{"bad name", `{"token":"` + tok + `","wg_public_key":"` + newPublicKey(t) + `","name":"Bad Name!"}`, 400, "invalid_field"},
		{"too large", `{"token":"` + strings.Repeat("x", wire.MaxEnrollBody) + `"}`, 413, "body_too_large"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := http.Post(e.URL+wire.EnrollPath, "application/json", strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var eb wire.ErrorBody
			json.NewDecoder(resp.Body).Decode(&eb)
			if resp.StatusCode != tc.status || eb.Error.Code != tc.code {
				t.Errorf("got %d %q, want %d %q", resp.StatusCode, eb.Error.Code, tc.status, tc.code)
			}
		})
	}
	ds, _ := e.Admin().ListDevices(context.Background())
	if len(ds) != 1 {
		t.Fatalf("devices after rejected enrollments = %d, want 1", len(ds))
	}
	// The token survived every failure, and the next address is the one
	// right after the first device's: nothing was allocated meanwhile.
	status, eb, _ := enroll(e.URL, wire.EnrollRequest{Token: tok, WGPublicKey: newPublicKey(t), Hostname: "second"})
	if status != http.StatusCreated {
		t.Fatalf("enrollment after failures: %d %+v", status, eb)
	}
	ds, _ = e.Admin().ListDevices(context.Background())
	if len(ds) != 2 || ds[0].OverlayIP == ds[1].OverlayIP {
		t.Fatalf("devices = %+v", ds)
	}
}

// TestEnrollExpiry: a token is rejected one second after its TTL.
func TestEnrollExpiry(t *testing.T) {
	e := controlplanetest.NewEngine(t, controlplanetest.Options{})
	tok := e.Token(time.Minute)
	e.Clock.Advance(time.Minute + time.Second)
	status, eb, err := enroll(e.URL, wire.EnrollRequest{Token: tok, WGPublicKey: newPublicKey(t), Hostname: "late"})
	if err != nil || status != http.StatusUnauthorized || eb.Error.Code != "invalid_token" {
		t.Fatalf("expired token: %d %+v %v; want 401 invalid_token", status, eb, err)
	}
}

// freePort returns a loopback address whose port was free a moment ago.
func freePort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestRestartInProcess: an engine stopped and started again on the same data
// dir brings its agents and gateway ports back.
func TestRestartInProcess(t *testing.T) {
	e := controlplanetest.NewEngine(t, controlplanetest.Options{})
	e.NewAgent("alpha")
	target, _ := controlplanetest.EchoServer(t)
	addService(t, e, "alpha", "echo", 7000, target)
	listen := freePort(t)
	if _, err := e.Admin().AddPublish(context.Background(), api.PublishRequest{Device: "alpha", Service: "echo", Listen: listen}); err != nil {
		t.Fatal(err)
	}
	e.Stop()
	e.Start()
	e.WaitOnline("alpha")
	var c net.Conn
	controlplanetest.WaitFor(t, 10*time.Second, "gateway port answering", func() bool {
		var err error
		if c, err = net.Dial("tcp", listen); err != nil {
			return false
		}
		c.SetDeadline(time.Now().Add(2 * time.Second))
		c.Write([]byte("x"))
		b := make([]byte, 1)
		if _, err := io.ReadFull(c, b); err != nil {
			c.Close()
			return false
		}
		return true
	})
	echo(t, c, "after restart")
	c.Close()
}

func TestHealthAndMetrics(t *testing.T) {
	e := controlplanetest.NewEngine(t, controlplanetest.Options{})
	e.NewAgent("alpha")
	resp, err := http.Get(e.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{"warren_overlay_agents_connected 1", "warren_overlay_peers 1", "warren_overlay_filter_dropped_total", "warren_overlay_handshake_age_seconds", "warren_overlay_bytes_total"} {
		if !bytes.Contains(body, []byte(want)) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	resp, err = http.Get(e.URL + "/nope")
	if err != nil {
		t.Fatal(err)
	}
	var eb wire.ErrorBody
	json.NewDecoder(resp.Body).Decode(&eb)
	resp.Body.Close()
	if resp.StatusCode != 404 || eb.Error.Code != "route_not_found" || eb.Error.TraceID == "" {
		t.Errorf("unknown route: %d %+v", resp.StatusCode, eb)
	}
}

// TestAuthRoutesMounted: the engine serves the login layer: a setup link
// exists on a fresh engine and opens the form, and the session routes
// demand authentication.
func TestAuthRoutesMounted(t *testing.T) {
	e := controlplanetest.NewEngine(t, controlplanetest.Options{})
	link, err := e.SetupLink(context.Background())
	if err != nil || !strings.HasPrefix(link, e.URL+"/setup?") {
		t.Fatalf("SetupLink() = %q, %v", link, err)
	}
	resp, err := http.Get(link)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET setup link = %d, want 200", resp.StatusCode)
	}
	resp, err = http.Get(e.URL + "/api/v1/auth/me")
	if err != nil {
		t.Fatal(err)
	}
	var eb wire.ErrorBody
	json.NewDecoder(resp.Body).Decode(&eb)
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || eb.Error.Code != "unauthenticated" {
		t.Errorf("GET /api/v1/auth/me = %d %q, want 401 unauthenticated", resp.StatusCode, eb.Error.Code)
	}
}

// TestOpenFGASync: the engine starts with OpenFGA in step with the database,
// so `warren openfga sync` has nothing to do.
func TestOpenFGASync(t *testing.T) {
	e := controlplanetest.NewEngine(t, controlplanetest.Options{})
	r, err := e.Admin().SyncOpenFGA(context.Background())
	if err != nil || r.Added != 0 || r.Removed != 0 {
		t.Fatalf("SyncOpenFGA() = %+v, %v; want nothing to do", r, err)
	}
	fi, err := os.Stat(filepath.Join(e.DataDir, controlplane.OpenFGAFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("%s: %v, %v; want mode 0600", controlplane.OpenFGAFile, fi, err)
	}
}

// newOrg creates the org "acme" with a folder "prod".
func newOrg(t *testing.T, e *controlplanetest.Engine) (store.Org, store.Folder) {
	t.Helper()
	ctx := context.Background()
	org, err := e.Store().CreateOrg(ctx, store.Org{Name: "Acme", Slug: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	folder, err := e.Authz().CreateFolder(ctx, store.Folder{OrgID: org.ID, Name: "prod"})
	if err != nil {
		t.Fatal(err)
	}
	return org, folder
}

// newMember creates a user (as an OIDC identity would) in org with role.
func newMember(t *testing.T, e *controlplanetest.Engine, org store.Org, name, role string) store.User {
	t.Helper()
	ctx := context.Background()
	u, _, err := e.Store().UpsertUserIdentity(ctx, "https://idp.test", name, name+"@acme.test", name)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Authz().AddMember(ctx, store.Membership{OrgID: org.ID, UserID: u.ID, Role: role}); err != nil {
		t.Fatal(err)
	}
	return u
}

// TestRESTEnrollIntoOrg: through the engine's public listener, an org admin
// with an API token mints an org enrollment token; an agent enrolled with it
// lands in the org's folder, shows online in the org's device list, and the
// admin can connect to it (OpenFGA knows its placement).
func TestRESTEnrollIntoOrg(t *testing.T) {
	ctx := context.Background()
	e := controlplanetest.NewEngine(t, controlplanetest.Options{})
	org, folder := newOrg(t, e)
	user := newMember(t, e, org, "alice", store.RoleAdmin)
	secret, _, err := e.Authn().CreateAPIToken(ctx, org.ID, user.ID, "test", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	call := restCaller(t, e, secret)
	var tok api.CreatedEnrollmentToken
	if status := call("POST", "/api/v1/orgs/"+org.ID+"/enrollment-tokens", api.CreateEnrollmentTokenRequest{FolderID: folder.ID}, &tok); status != http.StatusCreated {
		t.Fatalf("creating an org enrollment token: %d", status)
	}
	e.EnrollAgent("web1", tok.Token)

	var devices []api.OrgDevice
	if status := call("GET", "/api/v1/orgs/"+org.ID+"/devices", nil, &devices); status != http.StatusOK || len(devices) != 1 {
		t.Fatalf("org devices: %d %+v", status, devices)
	}
	d := devices[0]
	if d.Name != "web1" || d.FolderID != folder.ID {
		t.Errorf("device = %+v, want web1 in folder %s", d, folder.ID)
	}
	ok, err := e.Authorizer().Check(ctx, acl.Tuple{User: "user:" + user.ID, Relation: "connect", Object: "device:" + d.ID})
	if err != nil || !ok {
		t.Errorf("admin connect on the enrolled device = %v, %v; want true", ok, err)
	}
	// Another org's admin sees nothing of it.
	var orgs []map[string]any
	if status := call("GET", "/api/v1/orgs", nil, &orgs); status != http.StatusOK || len(orgs) != 1 {
		t.Errorf("GET /api/v1/orgs = %d %v", status, orgs)
	}
}

// restCaller calls the engine's REST API with an API token.
func restCaller(t *testing.T, e *controlplanetest.Engine, secret string) func(method, path string, body, out any) int {
	return func(method, path string, body, out any) int {
		t.Helper()
		var r io.Reader
		if body != nil {
			b, _ := json.Marshal(body)
			r = bytes.NewReader(b)
		}
		req, _ := http.NewRequest(method, e.URL+path, r)
		req.Header.Set("Authorization", "Bearer "+secret)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if out != nil {
			json.NewDecoder(resp.Body).Decode(out)
		}
		return resp.StatusCode
	}
}

// echoThrough opens a connection to addr and echoes msg, reporting whether
// the echo came back (the connection is returned open when it did).
func echoThrough(addr, msg string) (net.Conn, bool) {
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return nil, false
	}
	c.SetDeadline(time.Now().Add(2 * time.Second))
	got := make([]byte, len(msg))
	if _, err := c.Write([]byte(msg)); err != nil {
		c.Close()
		return nil, false
	}
	if _, err := io.ReadFull(c, got); err != nil || string(got) != msg {
		c.Close()
		return nil, false
	}
	c.SetDeadline(time.Time{})
	return c, true
}

// wantClosedAtOnce dials addr and expects the connection closed without an
// echo, well before a read deadline.
func wantClosedAtOnce(t *testing.T, addr, what string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return // refused outright is closed too
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(3 * time.Second))
	c.Write([]byte("ping"))
	n, err := c.Read(make([]byte, 4))
	if n > 0 {
		t.Errorf("%s: the connection echoed %d bytes, want it closed", what, n)
	}
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Errorf("%s: the connection stayed open, want it closed at once", what)
	}
}

// TestRevokePublishedFlow: a member with manage on a folder adds a service
// to a device in it and publishes it through the REST API, limited to
// loopback sources. Revoking the grant closes the live flow within 5 s,
// refuses new connections at once, and is audited. A publish limited to
// 10.0.0.0/8 refuses a loopback client.
func TestRevokePublishedFlow(t *testing.T) {
	ctx := context.Background()
	e := controlplanetest.NewEngine(t, controlplanetest.Options{})
	org, folder := newOrg(t, e)
	admin := newMember(t, e, org, "alice", store.RoleAdmin)
	bob := newMember(t, e, org, "bob", store.RoleMember)
	grant, err := e.Authz().Grant(ctx, store.Grant{OrgID: org.ID, SubjectType: store.SubjectUser, SubjectID: bob.ID,
		Relation: acl.RelationManage, ObjectType: store.ObjectFolder, ObjectID: folder.ID})
	if err != nil {
		t.Fatal(err)
	}
	adminTok, _, err := e.Authn().CreateAPIToken(ctx, org.ID, admin.ID, "test", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	bobTok, _, err := e.Authn().CreateAPIToken(ctx, org.ID, bob.ID, "test", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	asAdmin, asBob := restCaller(t, e, adminTok), restCaller(t, e, bobTok)

	var tok api.CreatedEnrollmentToken
	if status := asAdmin("POST", "/api/v1/orgs/"+org.ID+"/enrollment-tokens", api.CreateEnrollmentTokenRequest{FolderID: folder.ID}, &tok); status != http.StatusCreated {
		t.Fatalf("creating an org enrollment token: %d", status)
	}
	e.EnrollAgent("web1", tok.Token)
	dev := e.Device("web1")
	devPath := "/api/v1/orgs/" + org.ID + "/devices/" + dev.ID

	// Bob adds the echo service and publishes it, loopback only.
	target, _ := controlplanetest.EchoServer(t)
	_, tport, _ := net.SplitHostPort(target)
	port, _ := strconv.Atoi(tport)
	if status := asBob("POST", devPath+"/services", api.CreateServiceRequest{Name: "echo", Protocol: "tcp", Port: port, Target: target}, nil); status != http.StatusCreated {
		t.Fatalf("adding a service as bob: %d", status)
	}
	var pub api.DevicePublish
	if status := asBob("POST", devPath+"/publishes", api.CreatePublishRequest{Service: "echo", Listen: freePort(t),
		AllowCIDRs: []string{"127.0.0.0/8"}}, &pub); status != http.StatusCreated {
		t.Fatalf("publishing as bob: %d", status)
	}
	if pub.CreatedBy != bob.ID || pub.ListenAddr == "" || len(pub.AllowCIDRs) != 1 {
		t.Fatalf("publish = %+v, want bob's, open, loopback only", pub)
	}
	var pubs []api.DevicePublish
	if status := asBob("GET", devPath+"/publishes", nil, &pubs); status != http.StatusOK || len(pubs) != 1 || pubs[0].ID != pub.ID {
		t.Errorf("GET publishes = %d %+v, want bob's publish", status, pubs)
	}
	// Taking a port in use fails and leaves no row behind.
	if status := asBob("POST", devPath+"/publishes", api.CreatePublishRequest{Service: "echo", Listen: pub.ListenAddr}, nil); status != http.StatusConflict {
		t.Errorf("publishing on a port in use = %d, want 409", status)
	}

	// A publish limited to 10.0.0.0/8 refuses a loopback client.
	var narrow api.DevicePublish
	if status := asBob("POST", devPath+"/publishes", api.CreatePublishRequest{Service: "echo", Listen: freePort(t),
		AllowCIDRs: []string{"10.0.0.0/8"}}, &narrow); status != http.StatusCreated {
		t.Fatalf("publishing (10.0.0.0/8) as bob: %d", status)
	}

	// A live flow through the loopback-only port.
	var live net.Conn
	controlplanetest.WaitFor(t, 10*time.Second, "echo through the published port", func() bool {
		c, ok := echoThrough(pub.ListenAddr, "hello")
		live = c
		return ok
	})
	defer live.Close()
	wantClosedAtOnce(t, narrow.ListenAddr, "loopback client on a 10.0.0.0/8 publish")

	// Revoke: the live flow ends within 5 s, new flows are refused at once.
	start := time.Now()
	if err := e.Authz().Revoke(ctx, org.ID, grant.ID); err != nil {
		t.Fatalf("Revoke() = %v", err)
	}
	live.SetReadDeadline(start.Add(5 * time.Second))
	n, err := live.Read(make([]byte, 16))
	if ne, ok := err.(net.Error); (ok && ne.Timeout()) || err == nil || n > 0 {
		t.Fatalf("live flow after revocation: read %d bytes, %v; want it closed within 5 s", n, err)
	}
	t.Logf("live flow closed %v after the revocation", time.Since(start))
	wantClosedAtOnce(t, pub.ListenAddr, "new connection after revocation")

	controlplanetest.WaitFor(t, 5*time.Second, "publish.flows_closed audit event", func() bool {
		evs, _, err := e.Store().ListAudit(ctx, store.AuditFilter{OrgID: org.ID, Action: "publish.flows_closed"})
		return err == nil && slices.ContainsFunc(evs, func(ev store.AuditEvent) bool {
			return ev.ObjectID == pub.ID && ev.Result == store.AuditDenied && ev.Reason == "access revoked"
		})
	})
	// Bob can no longer publish; the refusal is audited.
	if status := asBob("POST", devPath+"/publishes", api.CreatePublishRequest{Service: "echo", Listen: freePort(t)}, nil); status != http.StatusNotFound {
		t.Errorf("publishing after revocation = %d, want 404", status)
	}
	evs, _, err := e.Store().ListAudit(ctx, store.AuditFilter{OrgID: org.ID, ActorID: bob.ID, Action: "publish.create"})
	if err != nil || !slices.ContainsFunc(evs, func(ev store.AuditEvent) bool { return ev.Result == store.AuditDenied }) ||
		!slices.ContainsFunc(evs, func(ev store.AuditEvent) bool { return ev.Result == store.AuditAllowed }) {
		t.Errorf("publish.create audit events of bob = %+v, %v; want allowed and denied", evs, err)
	}
}

// TestFilterFollowsACL: the engine's packet filter opens a service port of
// an organization's device only while some user may reach it: granting
// connect opens it, revoking closes it again.
func TestFilterFollowsACL(t *testing.T) {
	ctx := context.Background()
	e := controlplanetest.NewEngine(t, controlplanetest.Options{})
	org, folder := newOrg(t, e)
	bob := newMember(t, e, org, "bob", store.RoleMember)
	e.NewAgent("web1")
	dev := e.Device("web1")
	if err := e.Authz().AssignDeviceOrg(ctx, dev.ID, org.ID, folder.ID); err != nil {
		t.Fatal(err)
	}
	target, _ := controlplanetest.EchoServer(t)
	addService(t, e, "web1", "echo", 7000, target)

	reachable := func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		defer cancel()
		c, err := e.Dial(ctx, "web1", 7000)
		if err != nil {
			return false
		}
		c.Close()
		return true
	}
	if reachable() {
		t.Fatal("port 7000 reachable while no user may connect")
	}
	grant, err := e.Authz().Grant(ctx, store.Grant{OrgID: org.ID, SubjectType: store.SubjectUser, SubjectID: bob.ID,
		Relation: acl.RelationConnect, ObjectType: store.ObjectFolder, ObjectID: folder.ID})
	if err != nil {
		t.Fatal(err)
	}
	controlplanetest.WaitFor(t, 5*time.Second, "port open after the grant", reachable)
	if err := e.Authz().Revoke(ctx, org.ID, grant.ID); err != nil {
		t.Fatal(err)
	}
	controlplanetest.WaitFor(t, 5*time.Second, "port closed after the revocation", func() bool { return !reachable() })
}

// TestFirstAdminGetsDefaultOrg: completing the setup link on an engine with
// no organization gives the new admin one ("default", as its admin) holding
// the devices enrolled before it existed (make run's local agent), which
// they can then reach; a second organization is never made this way.
func TestFirstAdminGetsDefaultOrg(t *testing.T) {
	e := controlplanetest.NewEngine(t, controlplanetest.Options{})
	ctx := context.Background()
	a := e.NewAgent("local")
	a.Start()
	e.WaitOnline("local")
	link, err := e.SetupLink(ctx)
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(link)
	if err != nil {
		t.Fatal(err)
	}
	form := url.Values{"token": {u.Query().Get("token")}, "email": {"first@example.com"},
		"password": {"correct horse battery"}, "password_confirm": {"correct horse battery"}}
	resp, err := http.PostForm(e.URL+"/setup", form)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST /setup = %d", resp.StatusCode)
	}
	orgs, err := e.Store().ListOrgs(ctx)
	if err != nil || len(orgs) != 1 || orgs[0].Slug != "default" {
		t.Fatalf("orgs after setup = %+v, %v; want just default", orgs, err)
	}
	ms, err := e.Store().ListMembers(ctx, orgs[0].ID)
	if err != nil || len(ms) != 1 || ms[0].Role != store.RoleAdmin {
		t.Fatalf("members of default = %+v, %v; want the first admin as admin", ms, err)
	}
	d, err := e.Store().GetDevice(ctx, e.Device("local").ID)
	if err != nil || d.OrgID != orgs[0].ID || d.FolderID != "" {
		t.Fatalf("local device = %+v, %v; want at the top level of default", d, err)
	}
	if _, err := e.Admin().AddService(ctx, "local", api.Service{Name: "ssh", Protocol: "ssh", Port: 22}); err != nil {
		t.Fatal(err)
	}
	controlplanetest.WaitFor(t, 10*time.Second, "the org admin reaching the top-level device", func() bool {
		return e.Authz().Allowed(ms[0].UserID, d.ID, 22)
	})
}
