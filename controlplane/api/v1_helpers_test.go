package api_test

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/warrenhq/warren/acl"
	"github.com/warrenhq/warren/controlplane/api"
	"github.com/warrenhq/warren/controlplane/authz"
	"github.com/warrenhq/warren/controlplane/broker"
	"github.com/warrenhq/warren/controlplane/secrets"
	"github.com/warrenhq/warren/controlplane/store"
	"github.com/warrenhq/warren/controlplane/store/storetest"
	"github.com/warrenhq/warren/controlplane/vault"
	"github.com/warrenhq/warren/controlplane/web"
)

// Everything here is real: the store on SQLite (and PostgreSQL), OpenFGA
// embedded on its memory datastore, the authz Service and Compiler, the
// vault, web.Authn resolving real API tokens, HTTP over httptest.

func TestMain(m *testing.M) { storetest.Main(m) }

// eachBackend runs fn against a fresh store on SQLite and on PostgreSQL.
func eachBackend(t *testing.T, fn func(t *testing.T, st *store.Store)) {
	for _, b := range storetest.Backends {
		t.Run(b.Name, func(t *testing.T) { fn(t, storetest.Open(t, b.URL(t))) })
	}
}

// logBuffer collects the API's log lines.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer // guarded by mu
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// env is a V1 API served over httptest on real parts.
type env struct {
	t     testing.TB
	st    *store.Store
	fga   *acl.Embedded
	az    *authz.Service
	vault *vault.Vault
	authn *web.Authn
	// broker has no overlay: every device reads offline, and sessions are
	// made directly in the store (e2e tests open real ones).
	broker  *broker.Broker
	dataDir string
	skew    atomic.Int64 // nanoseconds the broker's clock is ahead
	v1      *api.V1
	url     string
	logs    *logBuffer
}

func newEnv(t testing.TB, st *store.Store) *env {
	t.Helper()
	fga, err := acl.NewEmbedded(t.Context(), acl.EmbeddedConfig{})
	if err != nil {
		t.Fatalf("acl.NewEmbedded() = %v", err)
	}
	t.Cleanup(func() { fga.Close() })
	kek, err := secrets.GenerateKEK()
	if err != nil {
		t.Fatalf("GenerateKEK() = %v", err)
	}
	kr, err := secrets.NewKeyring(kek)
	if err != nil {
		t.Fatalf("NewKeyring() = %v", err)
	}
	comp := acl.NewCompiler(fga, nil)
	e := &env{t: t, st: st, fga: fga, az: authz.New(st, fga, comp, nil), vault: vault.New(st, kr), logs: &logBuffer{}}
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	e.url = srv.URL
	logger := slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	e.authn, err = web.New(web.Config{Store: st, Keyring: kr, PublicURL: srv.URL, DisableBuiltinIdP: true, Logger: logger})
	if err != nil {
		t.Fatalf("web.New() = %v", err)
	}
	e.dataDir = t.TempDir()
	e.broker, err = broker.New(broker.Config{Store: st, Authz: e.az, Authorizer: fga, Vault: e.vault, DataDir: e.dataDir,
		Logger: logger, Now: func() time.Time { return time.Now().Add(time.Duration(e.skew.Load())) },
		PingEvery: 500 * time.Millisecond})
	if err != nil {
		t.Fatalf("broker.New() = %v", err)
	}
	t.Cleanup(func() { e.broker.Close() })
	e.v1 = &api.V1{Store: st, Authz: e.az, Authorizer: fga, Compiler: comp, Vault: e.vault, Authn: e.authn,
		Broker: e.broker, PublicURL: srv.URL, Logger: logger}
	mux.Handle(api.V1Prefix, e.v1.Handler())
	return e
}

// response is what a call got back.
type response struct {
	status int
	body   []byte
}

func (r response) decode(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decoding %s: %v", r.body, err)
	}
}

// code returns the error envelope's code, "" if there is none.
func (r response) code() string {
	var env struct {
		Error struct{ Code string } `json:"error"`
	}
	json.Unmarshal(r.body, &env)
	return env.Error.Code
}

// do sends method path with body (nil: none; []byte or string: as is;
// else JSON) and the API token tok ("" = none).
func (e *env) do(tok, method, path string, body any) response {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	case string:
		rd = strings.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			e.t.Fatalf("encoding body: %v", err)
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(e.t.Context(), method, e.url+path, rd)
	if err != nil {
		e.t.Fatalf("NewRequest(%s %s) = %v", method, path, err)
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatalf("%s %s: reading body: %v", method, path, err)
	}
	return response{status: resp.StatusCode, body: data}
}

// must sends like do and fails the test unless the status is want.
func (e *env) must(want int, tok, method, path string, body any) response {
	e.t.Helper()
	r := e.do(tok, method, path, body)
	if r.status != want {
		e.t.Fatalf("%s %s = %d %s, want %d", method, path, r.status, r.body, want)
	}
	return r
}

var testPrefix = netip.MustParsePrefix("100.96.0.0/24")

// tenant is one organization with a row of every kind, all reachable
// through the API. Every tenant has the same shape.
type tenant struct {
	slug                  string
	org                   store.Org
	admin, member, loner  store.User // admin; member in group; loner in no group
	outsider              store.User // a user of the platform in no organization
	adminTok, memberTok   string     // API token secrets
	lonerTok              string
	adminPAT, memberPAT   store.APIToken
	group                 store.Group
	folder, sub           store.Folder // sub is in folder
	device                store.Device // in sub
	service               store.Service
	publish               store.Publish // of service
	cred, folderCred      store.Credential
	credSecret, keySecret string
	idp                   store.IdP
	idpSecret             string
	grant                 store.Grant // group connect on folder
	enroll                store.EnrollToken
	session               store.RemoteSession // live, recorded, owned by admin, shared with group
	hostKey               store.HostKey       // of service, with a pending key
}

func (e *env) user(subject string) store.User {
	e.t.Helper()
	u, _, err := e.st.UpsertUserIdentity(e.t.Context(), "https://idp.test", subject, subject+"@example.test", "User "+subject)
	if err != nil {
		e.t.Fatalf("UpsertUserIdentity(%s) = %v", subject, err)
	}
	return u
}

func (e *env) member(orgID string, u store.User, role string) {
	e.t.Helper()
	if _, err := e.az.AddMember(e.t.Context(), store.Membership{OrgID: orgID, UserID: u.ID, Role: role}); err != nil {
		e.t.Fatalf("AddMember(%s) = %v", u.Subject, err)
	}
}

func (e *env) token(orgID string, u store.User) (string, store.APIToken) {
	e.t.Helper()
	tok, rec, err := e.authn.CreateAPIToken(e.t.Context(), orgID, u.ID, "test", 0)
	if err != nil {
		e.t.Fatalf("CreateAPIToken(%s) = %v", u.Subject, err)
	}
	return tok, rec
}

func hashOf(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

// enrollDevice enrolls a device named name into the org's folder.
func (e *env) enrollDevice(orgID, folderID, name string) store.Device {
	e.t.Helper()
	ctx := e.t.Context()
	secret := rand.Text()
	if _, err := e.st.CreateEnrollToken(ctx, store.EnrollToken{Hash: hashOf(secret), ExpiresAt: time.Now().Add(time.Hour),
		OrgID: orgID, FolderID: folderID}); err != nil {
		e.t.Fatalf("CreateEnrollToken() = %v", err)
	}
	d, err := e.st.Enroll(ctx, store.EnrollRequest{TokenHash: hashOf(secret), Prefix: testPrefix,
		Reserved: []netip.Addr{testPrefix.Addr()}, NameExplicit: true,
		Device: store.Device{Name: name, PublicKey: "key-" + rand.Text(), Hostname: name, OS: "linux"}})
	if err != nil {
		e.t.Fatalf("Enroll(%s) = %v", name, err)
	}
	if err := e.az.DeviceAdded(ctx, orgID, d.ID); err != nil {
		e.t.Fatalf("DeviceAdded(%s) = %v", name, err)
	}
	return d
}

func (e *env) newTenant(slug string) *tenant {
	e.t.Helper()
	t, ctx := e.t, e.t.Context()
	tn := &tenant{slug: slug}
	var err error
	if tn.org, err = e.st.CreateOrg(ctx, store.Org{Name: "Org " + slug, Slug: slug}); err != nil {
		t.Fatalf("CreateOrg(%s) = %v", slug, err)
	}
	id := tn.org.ID
	tn.admin, tn.member, tn.loner = e.user(slug+"-admin"), e.user(slug+"-member"), e.user(slug+"-loner")
	e.member(id, tn.admin, store.RoleAdmin)
	e.member(id, tn.member, store.RoleMember)
	e.member(id, tn.loner, store.RoleMember)
	tn.outsider = e.user(slug + "-outsider")
	if tn.group, err = e.st.CreateGroup(ctx, store.Group{OrgID: id, Name: "ops"}); err != nil {
		t.Fatalf("CreateGroup() = %v", err)
	}
	if err := e.az.AddGroupMember(ctx, id, tn.group.ID, store.GroupMember{UserID: tn.member.ID}); err != nil {
		t.Fatalf("AddGroupMember() = %v", err)
	}
	if tn.folder, err = e.az.CreateFolder(ctx, store.Folder{OrgID: id, Name: "prod"}); err != nil {
		t.Fatalf("CreateFolder(prod) = %v", err)
	}
	if tn.sub, err = e.az.CreateFolder(ctx, store.Folder{OrgID: id, ParentID: tn.folder.ID, Name: "db"}); err != nil {
		t.Fatalf("CreateFolder(db) = %v", err)
	}
	tn.device = e.enrollDevice(id, tn.sub.ID, slug+"-db-1")
	if tn.service, err = e.st.CreateService(ctx, store.Service{DeviceID: tn.device.ID, Name: "ssh", Protocol: store.ProtocolSSH, Port: 22}); err != nil {
		t.Fatalf("CreateService() = %v", err)
	}
	if tn.publish, err = e.st.CreatePublish(ctx, store.Publish{ServiceID: tn.service.ID, Listen: nextListen(),
		CreatedBy: tn.admin.ID}); err != nil {
		t.Fatalf("CreatePublish() = %v", err)
	}
	if err := e.az.Rebuild(ctx); err != nil {
		t.Fatalf("Rebuild() = %v", err)
	}
	tn.credSecret, tn.keySecret, tn.idpSecret = "pw-"+rand.Text(), "key-"+rand.Text(), "idp-"+rand.Text()
	if tn.cred, err = e.vault.CreateCredential(ctx, store.Credential{OrgID: id, ScopeType: store.ScopeService, ScopeID: tn.service.ID,
		Name: "root", Username: "root", Kind: store.KindPassword}, secrets.Secret(tn.credSecret)); err != nil {
		t.Fatalf("CreateCredential(service) = %v", err)
	}
	if tn.folderCred, err = e.vault.CreateCredential(ctx, store.Credential{OrgID: id, ScopeType: store.ScopeFolder, ScopeID: tn.folder.ID,
		Name: "deploy", Username: "deploy", Kind: store.KindPrivateKey}, secrets.Secret(tn.keySecret)); err != nil {
		t.Fatalf("CreateCredential(folder) = %v", err)
	}
	p := store.IdP{ID: store.NewIdPID(), OrgID: id, Name: "corp", Issuer: "https://login." + slug + ".test", ClientID: "warren",
		Version: 1, Domains: []string{slug + ".test"}}
	if p.ClientSecretSealed, p.KEKID, err = e.vault.SealIdPSecret(p, secrets.Secret(tn.idpSecret)); err != nil {
		t.Fatalf("SealIdPSecret() = %v", err)
	}
	if tn.idp, err = e.st.CreateIdP(ctx, p); err != nil {
		t.Fatalf("CreateIdP() = %v", err)
	}
	if tn.grant, err = e.az.Grant(ctx, store.Grant{OrgID: id, SubjectType: store.SubjectGroup, SubjectID: tn.group.ID,
		Relation: acl.RelationConnect, ObjectType: store.ObjectFolder, ObjectID: tn.folder.ID}); err != nil {
		t.Fatalf("Grant() = %v", err)
	}
	tn.adminTok, tn.adminPAT = e.token(id, tn.admin)
	tn.memberTok, tn.memberPAT = e.token(id, tn.member)
	tn.lonerTok, _ = e.token(id, tn.loner)
	if tn.enroll, err = e.st.CreateEnrollToken(ctx, store.EnrollToken{Hash: hashOf(rand.Text()), ExpiresAt: time.Now().Add(time.Hour),
		OrgID: id, FolderID: tn.folder.ID}); err != nil {
		t.Fatalf("CreateEnrollToken() = %v", err)
	}
	if _, err := e.st.AppendAudit(ctx, store.AuditEvent{OrgID: id, ActorID: tn.admin.ID, ActorType: "user",
		Action: "org.setup", Result: store.AuditAllowed}); err != nil {
		t.Fatalf("AppendAudit() = %v", err)
	}
	tn.session = e.remoteSession(tn, tn.admin, true)
	if err := e.az.ShareSession(ctx, tn.session.ID, acl.GroupMembers(tn.group.ID)); err != nil {
		t.Fatalf("ShareSession() = %v", err)
	}
	if _, err := e.st.TrustHostKeyOnFirstUse(ctx, tn.device.ID, tn.service.Name, "SHA256:firstFirstFirstFirst"+slug, time.Now()); err != nil {
		t.Fatalf("TrustHostKeyOnFirstUse() = %v", err)
	}
	if err := e.st.SetPendingHostKey(ctx, tn.device.ID, tn.service.Name, "SHA256:pendingPendingPending"+slug, time.Now()); err != nil {
		t.Fatalf("SetPendingHostKey() = %v", err)
	}
	if tn.hostKey, err = e.st.GetHostKey(ctx, tn.device.ID, tn.service.Name); err != nil {
		t.Fatalf("GetHostKey() = %v", err)
	}
	return tn
}

// remoteSession records a live session of owner on the tenant's ssh
// service, as the broker does when an agent opened it (this API has no
// agents), with its owner tuple; a recorded one gets a recording file.
func (e *env) remoteSession(tn *tenant, owner store.User, recorded bool) store.RemoteSession {
	e.t.Helper()
	ctx := e.t.Context()
	rs, err := e.st.CreateRemoteSession(ctx, store.RemoteSession{OrgID: tn.org.ID, DeviceID: tn.device.ID,
		Service: tn.service.Name, Protocol: "ssh", OwnerID: owner.ID, Recorded: recorded}, store.SessionLimits{})
	if err != nil {
		e.t.Fatalf("CreateRemoteSession() = %v", err)
	}
	if err := e.az.SessionOwner(ctx, rs.ID, owner.ID); err != nil {
		e.t.Fatalf("SessionOwner() = %v", err)
	}
	if recorded {
		path := broker.RecordingPath(e.dataDir, tn.org.ID, rs.ID)
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			e.t.Fatal(err)
		}
		cast := `{"version":2,"width":80,"height":24,"timestamp":1}` + "\n" + `[0.5, "o", "hello ` + tn.slug + `\r\n"]` + "\n"
		if err := os.WriteFile(path, []byte(cast), 0o600); err != nil {
			e.t.Fatal(err)
		}
	}
	return rs
}

// ids returns every id of the tenant's rows: none may ever show up in
// another tenant's answers.
func (tn *tenant) ids() []string {
	return []string{tn.org.ID, tn.admin.ID, tn.member.ID, tn.loner.ID, tn.group.ID, tn.folder.ID, tn.sub.ID,
		tn.device.ID, tn.service.ID, tn.publish.ID, tn.cred.ID, tn.folderCred.ID, tn.idp.ID, tn.grant.ID, tn.adminPAT.ID,
		tn.memberPAT.ID, tn.enroll.ID, tn.session.ID}
}

// param returns the tenant's id for a path parameter.
func (tn *tenant) param(t testing.TB, name string) string {
	t.Helper()
	switch name {
	case "org":
		return tn.org.ID
	case "user", "member":
		return tn.member.ID
	case "group":
		return tn.group.ID
	case "folder":
		return tn.sub.ID
	case "device":
		return tn.device.ID
	case "service":
		return tn.service.ID
	case "publish":
		return tn.publish.ID
	case "credential":
		return tn.cred.ID
	case "grant":
		return tn.grant.ID
	case "idp":
		return tn.idp.ID
	case "token":
		return tn.memberPAT.ID
	case "enrollment_token":
		return tn.enroll.ID
	case "session":
		return tn.session.ID
	case "subject":
		return tn.group.ID // the session is shared with the group
	}
	t.Fatalf("no fixture for path parameter {%s}: add one to tenant.param", name)
	return ""
}

// listenPort makes the listen addresses of test publishes unique (the test
// API has no gateway: nothing listens on them).
var listenPort atomic.Int32

func nextListen() string {
	return fmt.Sprintf("127.0.0.1:%d", 20000+listenPort.Add(1))
}

// path fills a route path's parameters with fill's values.
func path(t testing.TB, pattern string, fill func(name string) string) string {
	t.Helper()
	out := pattern
	for _, p := range api.PathParams(pattern) {
		out = strings.Replace(out, "{"+p+"}", fill(p), 1)
	}
	return out
}

// exampleBody is a valid request body for the route with action, naming
// tn's rows wherever a body names rows. Every route with a body has one.
func exampleBody(t testing.TB, action string, tn *tenant) any {
	t.Helper()
	switch action {
	case "org.create":
		return map[string]any{"name": "New", "slug": "new-" + strings.ToLower(rand.Text()[:6])}
	case "member.add":
		return map[string]any{"user_id": tn.outsider.ID, "role": "member"}
	case "user.update":
		return map[string]any{"disabled": false}
	case "member.set_role":
		return map[string]any{"role": "admin"}
	case "group.create":
		return map[string]any{"name": "g-" + rand.Text()[:6]}
	case "group.member.add":
		return map[string]any{"user_id": tn.loner.ID}
	case "folder.create":
		return map[string]any{"name": "f-" + rand.Text()[:6], "parent_id": tn.folder.ID}
	case "folder.move":
		return map[string]any{"parent_id": ""}
	case "device.update":
		return map[string]any{"folder_id": tn.folder.ID}
	case "service.create":
		return map[string]any{"name": "web", "protocol": "http", "port": 8080}
	case "service.update":
		return map[string]any{"name": tn.service.Name, "protocol": string(tn.service.Protocol), "port": tn.service.Port,
			"target": "127.0.0.1:2200"}
	case "publish.create":
		return map[string]any{"service": tn.service.Name, "listen": nextListen(), "allow_cidrs": []string{"127.0.0.0/8"}}
	case "credential.create":
		return map[string]any{"scope_type": "service", "scope_id": tn.service.ID, "name": "c-" + rand.Text()[:6],
			"username": "u", "kind": "password", "secret": "s3cret"}
	case "grant.create":
		return map[string]any{"subject_type": "group", "subject_id": tn.group.ID, "relation": "view",
			"object_type": "device", "object_id": tn.device.ID}
	case "idp.create":
		return map[string]any{"name": "i-" + rand.Text()[:6], "issuer": "https://idp.example", "client_id": "c",
			"client_secret": "x", "domains": []string{strings.ToLower(rand.Text()[:8]) + ".test"}}
	case "token.create":
		return map[string]any{"name": "t"}
	case "enrollment_token.create":
		return map[string]any{"folder_id": tn.folder.ID}
	case "session.open":
		return map[string]any{"device": tn.device.ID, "service": tn.service.Name, "cols": 100, "rows": 30}
	case "session.ticket.create":
		return map[string]any{"role": "driver"}
	case "session.share":
		return map[string]any{"user_id": tn.member.ID}
	case "host_key.accept":
		return map[string]any{"fingerprint": tn.hostKey.Pending}
	case "session_settings.update":
		return map[string]any{"max_user_sessions": 5}
	}
	t.Fatalf("no example body for %s: add one to exampleBody", action)
	return nil
}
