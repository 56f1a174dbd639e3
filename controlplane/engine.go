// Package controlplane assembles the Warren engine: the store, the WireGuard
// overlay, enrollment, gateway ports and the HTTP surfaces (public API and the
// admin socket). Its subpackages hold the parts; this package only wires them
// and owns their lifetime. It must never import agent code.
package controlplane

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/warrenhq/warren/acl"
	"github.com/warrenhq/warren/controlplane/api"
	"github.com/warrenhq/warren/controlplane/authz"
	"github.com/warrenhq/warren/controlplane/broker"
	"github.com/warrenhq/warren/controlplane/enroll"
	"github.com/warrenhq/warren/controlplane/gateway"
	"github.com/warrenhq/warren/controlplane/overlay"
	"github.com/warrenhq/warren/controlplane/store"
	"github.com/warrenhq/warren/controlplane/vault"
	"github.com/warrenhq/warren/controlplane/web"
	"github.com/warrenhq/warren/controlplane/wire"
	"github.com/warrenhq/warren/webui"
)

// Defaults of Config's zero values.
const (
	DefaultDataDir  = "./warren-data"
	DefaultListen   = "127.0.0.1:8080"
	DefaultWGListen = ":51820"
)

// DefaultPrefix is the overlay prefix when Config.OverlayPrefix is zero.
var DefaultPrefix = netip.MustParsePrefix("100.96.0.0/12")

// Config configures an Engine. Zero values are the documented defaults.
type Config struct {
	DataDir       string       // "" = ./warren-data
	Listen        string       // public HTTP listener; "" = 127.0.0.1:8080
	WGListen      string       // WireGuard UDP listener; "" = :51820
	PublicURL     string       // URL agents and browsers use; "" = http://<Listen>
	WGEndpoint    string       // host:port agents send WireGuard to; "" = PublicURL's host + the WG port
	DatabaseURL   string       // "" = SQLite file in DataDir; postgres://... = PostgreSQL
	OverlayPrefix netip.Prefix // zero = 100.96.0.0/12
	KEK           KEKConfig    // zero = a KEK file in DataDir, created on first start
	// OpenFGAURL selects an external OpenFGA (its HTTP API) instead of the
	// embedded one; OpenFGAToken is its preshared key.
	OpenFGAURL, OpenFGAToken string
	// DisableBuiltinIdP turns off the engine's own OIDC provider (local
	// users and the first-admin setup link); only org IdPs sign users in.
	DisableBuiltinIdP bool
	Logger            *slog.Logger // nil = discard
	Now               func() time.Time
}

// Engine is a running Warren engine. New binds every listener, so addresses
// are known before Run; Run serves until its context ends, then releases
// everything.
type Engine struct {
	cfg      Config
	log      *slog.Logger
	store    *store.Store
	overlay  *overlay.Overlay
	enroll   *enroll.Service
	gateway  *gateway.Gateway
	vault    *vault.Vault
	fga      authorizer
	compiler *acl.Compiler
	authz    *authz.Service
	authn    *web.Authn
	broker   *broker.Broker
	public   net.Listener
	admin    net.Listener
	registry *prometheus.Registry

	// stopRevocations unregisters the authz listener that closes the
	// flows of revoked publishers; audits tracks its audit appends.
	stopRevocations func()
	audits          sync.WaitGroup
}

// New opens the store, loads or creates the engine key, brings up the
// overlay and binds the public listener and the admin socket.
func New(ctx context.Context, cfg Config) (_ *Engine, err error) {
	cfg = withDefaults(cfg)
	e := &Engine{cfg: cfg, log: cfg.Logger}
	defer func() {
		if err != nil {
			e.closeAll()
		}
	}()
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("creating data dir: %w", err)
	}
	if e.store, err = store.Open(ctx, cfg.DatabaseURL, cfg.DataDir); err != nil {
		return nil, err
	}
	keys, err := LoadKeyring(cfg.DataDir, cfg.KEK, e.log)
	if err != nil {
		return nil, fmt.Errorf("loading the key-encryption key: %w", err)
	}
	e.vault = vault.New(e.store, keys)
	if err := e.openAuthz(ctx); err != nil {
		return nil, err
	}
	if err := e.openOverlay(ctx); err != nil {
		return nil, err
	}
	e.enroll = enroll.New(enroll.Config{
		Store:    e.store,
		Prefix:   cfg.OverlayPrefix,
		Reserved: overlay.Reserved(cfg.OverlayPrefix),
		Engines:  e.overlay.Engines,
		Now:      cfg.Now,
		Logger:   e.log,
		Enrolled: func(ctx context.Context, d store.Device) {
			if err := e.overlay.Sync(ctx); err != nil {
				e.log.Error("adding enrolled device to the overlay", "err", err)
			}
			if d.OrgID == "" {
				return
			}
			if err := e.authz.DeviceAdded(ctx, d.OrgID, d.ID); err != nil {
				e.log.Error("placing enrolled device in openfga", "device_id", d.ID, "err", err)
			}
		},
	})
	e.gateway = gateway.New(e.overlay.Device().DialContext, e.overlay.DeviceAddr, e.log.With("component", "gateway"))
	// Every flow of a port a user published asks the compiled table
	// whether that user may still reach the device port (O(1)).
	e.gateway.Allow = e.authz.Allowed
	stopRevoked, stopPorts := e.authz.OnChange(e.revoked), e.authz.OnChange(e.portsChanged)
	e.stopRevocations = func() { stopRevoked(); stopPorts() }
	if err := api.SyncGateway(ctx, e.store, e.gateway); err != nil {
		e.log.Error("some gateway ports could not be opened", "err", err)
	}
	// The filter depends on the compiled ACLs and the admin gateway ports,
	// both known only now.
	if err := e.authz.Rebuild(ctx); err != nil {
		return nil, fmt.Errorf("compiling port ACLs: %w", err)
	}
	if err := e.overlay.Sync(ctx); err != nil {
		return nil, err
	}
	if e.public, err = net.Listen("tcp", cfg.Listen); err != nil {
		return nil, fmt.Errorf("listening on %s: %w", cfg.Listen, err)
	}
	if e.admin, err = listenAdmin(cfg.DataDir); err != nil {
		return nil, err
	}
	e.authn, err = web.New(web.Config{
		Store: e.store, Members: e.authz, FirstAdmin: e.firstOrg, Keyring: keys, IdPSecrets: e.vault, PublicURL: e.PublicURL(), DataDir: cfg.DataDir,
		DisableBuiltinIdP: cfg.DisableBuiltinIdP, Now: cfg.Now, Logger: e.log.With("component", "web"),
	})
	if err != nil {
		return nil, fmt.Errorf("starting authentication: %w", err)
	}
	e.broker, err = broker.New(broker.Config{
		Store: e.store, Authz: e.authz, Authorizer: e.fga, Vault: e.vault, Overlay: e.overlay,
		DataDir: cfg.DataDir, Now: cfg.Now, Logger: e.log.With("component", "broker"),
	})
	if err != nil {
		return nil, fmt.Errorf("starting the session broker: %w", err)
	}
	e.registry = prometheus.NewRegistry()
	e.registry.MustRegister(e.overlay.Collector(), collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return e, nil
}

func withDefaults(cfg Config) Config {
	if cfg.DataDir == "" {
		cfg.DataDir = DefaultDataDir
	}
	if cfg.Listen == "" {
		cfg.Listen = DefaultListen
	}
	if cfg.WGListen == "" {
		cfg.WGListen = DefaultWGListen
	}
	if !cfg.OverlayPrefix.IsValid() {
		cfg.OverlayPrefix = DefaultPrefix
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return cfg
}

func (e *Engine) openOverlay(ctx context.Context) error {
	key, err := overlay.LoadOrCreateKey(e.cfg.DataDir)
	if err != nil {
		return err
	}
	wgAddr, err := parseListen(e.cfg.WGListen)
	if err != nil {
		return fmt.Errorf("--wg-listen: %w", err)
	}
	e.overlay, err = overlay.New(overlay.Config{
		PrivateKey: key,
		Prefix:     e.cfg.OverlayPrefix,
		ListenAddr: wgAddr,
		Store:      e.store,
		Ports:      e.filterPorts,
		// Agents' session reports go to the broker (set before Run starts
		// the overlay's streams).
		OnSessions: func(deviceID string, l wire.SessionList) {
			if e.broker != nil {
				e.broker.AgentSessions(deviceID, l)
			}
		},
		Logger: e.log.With("component", "overlay"),
	})
	if err != nil {
		return err
	}
	endpoint, err := e.wgEndpoint()
	if err != nil {
		return err
	}
	e.overlay.SetEndpoint(endpoint)
	if err := e.store.UpsertEngine(ctx, store.Engine{
		ID:        "eng_" + e.overlay.Device().PublicKey().String()[:8],
		PublicKey: e.overlay.Device().PublicKey().String(),
		OverlayIP: e.overlay.Addr(),
		Endpoint:  endpoint,
	}); err != nil {
		return fmt.Errorf("registering engine: %w", err)
	}
	return e.overlay.Sync(ctx)
}

// authorizer is OpenFGA, embedded or remote.
type authorizer interface {
	authz.Tuples
	Close() error
}

// openAuthz starts OpenFGA on the engine's database (PostgreSQL), beside it
// (SQLite: its own file in the data dir, so its writers never wait on the
// engine's) or at OpenFGAURL, then brings its tuples and the compiled port
// ACLs in step with the database.
func (e *Engine) openAuthz(ctx context.Context) error {
	fga, err := e.newAuthorizer(ctx)
	if err != nil {
		return fmt.Errorf("starting openfga: %w", err)
	}
	e.fga = fga
	e.compiler = acl.NewCompiler(e.fga, e.log.With("component", "acl"))
	e.authz = authz.New(e.store, e.fga, e.compiler, e.log.With("component", "authz"))
	added, removed, err := e.authz.Sync(ctx)
	if err != nil {
		return fmt.Errorf("syncing openfga with the database: %w", err)
	}
	if added+removed > 0 {
		e.log.Warn("openfga was out of step with the database; fixed", "added", added, "removed", removed)
	}
	return nil
}

func (e *Engine) newAuthorizer(ctx context.Context) (authorizer, error) {
	log := e.log.With("component", "openfga")
	switch {
	case e.cfg.OpenFGAURL != "":
		return acl.NewRemote(ctx, acl.RemoteConfig{URL: e.cfg.OpenFGAURL, Token: e.cfg.OpenFGAToken})
	case e.store.Dialect() == "postgres":
		return acl.NewEmbedded(ctx, acl.EmbeddedConfig{Datastore: acl.DatastorePostgres, URI: e.cfg.DatabaseURL, Logger: log})
	}
	path := filepath.Join(e.cfg.DataDir, OpenFGAFile)
	// Created 0600 like warren.db; SQLite gives its -wal and -shm the same mode.
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	f.Close()
	return acl.NewEmbedded(ctx, acl.EmbeddedConfig{Datastore: acl.DatastoreSQLite, URI: path, Logger: log})
}

// OpenFGAFile is the embedded OpenFGA's SQLite database in the data dir.
const OpenFGAFile = "openfga.db"

// parseListen accepts "host:port" and ":port".
func parseListen(s string) (netip.AddrPort, error) {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return netip.AddrPort{}, err
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("bad port %q", port)
	}
	if host == "" {
		// No address: wireguard-go's own bind on every interface, IPv4 and
		// IPv6, with its batching.
		return netip.AddrPortFrom(netip.Addr{}, uint16(p)), nil
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("host must be an IP address: %w", err)
	}
	return netip.AddrPortFrom(a, uint16(p)), nil
}

// wgEndpoint is what agents are told to send WireGuard packets to.
func (e *Engine) wgEndpoint() (string, error) {
	if e.cfg.WGEndpoint != "" {
		return e.cfg.WGEndpoint, nil
	}
	u, err := url.Parse(e.PublicURL())
	if err != nil || u.Hostname() == "" {
		return "", fmt.Errorf("--public-url %q: must be an absolute URL", e.PublicURL())
	}
	return net.JoinHostPort(u.Hostname(), strconv.Itoa(int(e.overlay.Device().ListenPort()))), nil
}

// PublicURL is the URL agents enroll against.
func (e *Engine) PublicURL() string {
	if e.cfg.PublicURL != "" {
		return e.cfg.PublicURL
	}
	if e.public != nil {
		return "http://" + e.public.Addr().String()
	}
	return "http://" + e.cfg.Listen
}

// listenAdmin creates the admin socket (0600) in the data dir, refusing to
// start when another engine already serves it.
func listenAdmin(dataDir string) (net.Listener, error) {
	path := filepath.Join(dataDir, api.SocketFile)
	if c, err := net.Dial("unix", path); err == nil {
		c.Close()
		return nil, fmt.Errorf("another engine is running with data dir %s", dataDir)
	}
	os.Remove(path)
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("creating admin socket: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("securing admin socket: %w", err)
	}
	return ln, nil
}

// Run serves until ctx is done, then shuts down: listeners stop accepting,
// live flows end, the overlay and the store are closed. It returns after
// every goroutine it started has exited.
func (e *Engine) Run(ctx context.Context) error {
	adm := &api.Admin{
		Store: e.store, Enroll: e.enroll, Overlay: e.overlay, Gateway: e.gateway, Authz: e.authz, Authn: e.authn,
		PublicURL: e.PublicURL(), Logger: e.log.With("component", "admin"),
	}
	servers := []*http.Server{
		// The browser console (webui) answers GET / and its own files; everything else falls through to the API.
		{Handler: webui.Handler(api.Public(e.enroll, e.registry, e.log.With("component", "api"), e.authn.Register, e.v1().Register)), ReadHeaderTimeout: 10 * time.Second},
		{Handler: adm.Handler(), ReadHeaderTimeout: 10 * time.Second},
	}
	listeners := []net.Listener{e.public, e.admin}
	var wg sync.WaitGroup
	errc := make(chan error, len(servers)+1)
	for i, srv := range servers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := srv.Serve(listeners[i]); !errors.Is(err, http.ErrServerClosed) {
				errc <- err
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := e.overlay.Run(ctx); err != nil {
			errc <- err
		}
	}()
	wg.Add(1)
	go func() {
		defer wg.Done()
		e.broker.Run(ctx)
	}()
	e.log.Info("engine ready", "listen", e.public.Addr().String(), "public_url", e.PublicURL(),
		"wg_port", e.overlay.Device().ListenPort(), "overlay_ip", e.overlay.Addr().String(), "data_dir", e.cfg.DataDir)
	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-errc:
		e.log.Error("engine stopping on error", "err", runErr)
	}
	shutdown, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	for _, srv := range servers {
		srv.Shutdown(shutdown)
	}
	// Relays run on hijacked connections that Shutdown does not wait for.
	e.broker.Close()
	wg.Wait()
	e.closeAll()
	return runErr
}

// filterPorts is the overlay's port policy. A device in an organization is
// reachable at the packet level only on the ports some user may reach (the
// compiled per-device union) and on the ports of admin gateway ports made
// through the socket; a device outside any organization is the socket
// operator's alone and keeps every service port.
func (e *Engine) filterPorts(d store.Device) func(port uint16) bool {
	if d.OrgID == "" || e.authz == nil {
		return nil
	}
	ranges := e.authz.DevicePorts(d.ID)
	var admin []uint16
	if e.gateway != nil {
		for _, p := range e.gateway.Ports() {
			if p.CreatedBy == "" && p.DeviceID == d.ID {
				admin = append(admin, p.Port)
			}
		}
	}
	return func(port uint16) bool {
		for _, r := range ranges {
			if port >= r.From && port <= r.To {
				return true
			}
		}
		return slices.Contains(admin, port)
	}
}

// portsChanged reprograms the overlay's packet filter after the compiled
// port ACLs changed. It runs on its own goroutine: OnChange callbacks hold
// authz's lock and Sync reads the store.
func (e *Engine) portsChanged(ch authz.Change) {
	if len(ch.Devices) == 0 {
		return
	}
	e.audits.Add(1)
	go func() {
		defer e.audits.Done()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := e.overlay.Sync(ctx); err != nil {
			e.log.Error("reprogramming the overlay filter after an ACL change", "err", err)
		}
	}()
}

// revoked closes the live flows of the gateway ports whose publisher lost
// access to the published device port, and audits each. It runs under
// authz's recompile lock: closing connections is quick and done here (so
// flows end before the revoking call returns); the audit appends, which
// write to the database, run on their own goroutine.
func (e *Engine) revoked(ch authz.Change) {
	if len(ch.Lost) == 0 {
		return
	}
	type closed struct {
		port  gateway.Port
		flows int
	}
	var done []closed
	ports := e.gateway.Ports()
	for _, a := range ch.Lost {
		for _, p := range ports {
			if p.CreatedBy != a.UserID || p.DeviceID != a.DeviceID || !slices.Contains(a.Ports, p.Port) {
				continue
			}
			done = append(done, closed{p, e.gateway.CloseFlows(p.ID)})
		}
	}
	if len(done) == 0 {
		return
	}
	e.audits.Add(1)
	go func() {
		defer e.audits.Done()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		for _, c := range done {
			orgID := ""
			if d, err := e.store.GetDevice(ctx, c.port.DeviceID); err == nil {
				orgID = d.OrgID
			}
			details, _ := json.Marshal(map[string]any{"user_id": c.port.CreatedBy, "device_id": c.port.DeviceID,
				"port": c.port.Port, "listen": c.port.Listen, "flows": c.flows})
			if _, err := e.store.AppendAudit(ctx, store.AuditEvent{
				OrgID: orgID, ActorID: "system", ActorType: "system", Action: "publish.flows_closed",
				ObjectType: "publish", ObjectID: c.port.ID, Result: store.AuditDenied, Reason: "access revoked",
				Details: string(details),
			}); err != nil {
				e.log.Error("appending audit event", "action", "publish.flows_closed", "publish_id", c.port.ID, "err", err)
			}
		}
	}()
}

// closeAll releases what New opened, in reverse order. Safe on a partly
// built engine.
func (e *Engine) closeAll() {
	if e.stopRevocations != nil {
		e.stopRevocations()
	}
	if e.gateway != nil {
		e.gateway.Close()
	}
	e.audits.Wait()
	if e.broker != nil {
		e.broker.Close()
	}
	if e.admin != nil {
		e.admin.Close()
	}
	if e.public != nil {
		e.public.Close()
	}
	if e.overlay != nil {
		e.overlay.Close()
	}
	if e.fga != nil {
		e.fga.Close()
	}
	if e.store != nil {
		e.store.Close()
	}
}

// Addr returns the public listener's address.
func (e *Engine) Addr() net.Addr { return e.public.Addr() }

// WGPort returns the WireGuard UDP port.
func (e *Engine) WGPort() uint16 { return e.overlay.Device().ListenPort() }

// Overlay returns the engine's overlay (for tests and the benchmark).
func (e *Engine) Overlay() *overlay.Overlay { return e.overlay }

// Store returns the engine's store.
func (e *Engine) Store() *store.Store { return e.store }

// Enroll returns the enrollment service.
func (e *Engine) Enroll() *enroll.Service { return e.enroll }

// Vault returns the engine's vault of sealed secrets.
func (e *Engine) Vault() *vault.Vault { return e.vault }

// SetupLink returns the one-time link that creates the first platform admin,
// or "" when there is one already or the built-in IdP is disabled. The
// link is a credential: print it to the operator, never to a log.
func (e *Engine) SetupLink(ctx context.Context) (string, error) {
	link, err := e.authn.SetupLink(ctx)
	if errors.Is(err, web.ErrSetupDone) || errors.Is(err, web.ErrBuiltinDisabled) {
		return "", nil
	}
	return link, err
}

// v1 is the REST API for the console and scripts.
func (e *Engine) v1() *api.V1 {
	return &api.V1{
		Store: e.store, Authz: e.authz, Authorizer: e.fga, Compiler: e.compiler, Vault: e.vault,
		Authn: e.authn, Overlay: e.overlay, Gateway: e.gateway, Broker: e.broker, PublicURL: e.PublicURL(), Now: e.cfg.Now,
		Logger: e.log.With("component", "api"),
	}
}

// Broker returns the engine's session broker.
func (e *Engine) Broker() *broker.Broker { return e.broker }

// Authorizer returns the engine's OpenFGA.
func (e *Engine) Authorizer() acl.Authorizer { return e.fga }

// Authz returns the engine's authorization service.
func (e *Engine) Authz() *authz.Service { return e.authz }

// Authn returns the engine's authentication layer.
func (e *Engine) Authn() *web.Authn { return e.authn }

// DataDir returns the engine's data dir.
func (e *Engine) DataDir() string { return e.cfg.DataDir }

// firstOrg gives the first platform admin, created through the setup link,
// an organization to work in when there is none yet: "Default", with them
// as its admin, and every device enrolled before any organization existed
// (such as `make run`'s local agent) at its top level. Once any organization
// exists it does nothing.
func (e *Engine) firstOrg(ctx context.Context, u store.User) error {
	orgs, err := e.store.ListOrgs(ctx)
	if err != nil || len(orgs) > 0 {
		return err
	}
	o, err := e.store.CreateOrg(ctx, store.Org{Name: "Default", Slug: "default"})
	if err != nil {
		return fmt.Errorf("creating the default organization: %w", err)
	}
	if _, err := e.authz.AddMember(ctx, store.Membership{OrgID: o.ID, UserID: u.ID, Role: store.RoleAdmin}); err != nil {
		return fmt.Errorf("making the first admin an admin of %s: %w", o.Slug, err)
	}
	devices, err := e.store.ListDevices(ctx)
	if err != nil {
		return err
	}
	for _, d := range devices {
		if d.OrgID != "" {
			continue
		}
		if err := e.authz.AssignDeviceOrg(ctx, d.ID, o.ID, ""); err != nil {
			return fmt.Errorf("assigning device %s to %s: %w", d.Name, o.Slug, err)
		}
	}
	e.log.Info("created the first organization", "org_id", o.ID, "slug", o.Slug, "admin", u.ID)
	return nil
}
