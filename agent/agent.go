// Package agent is what runs on a customer machine: it enrolls with the
// engine, joins the WireGuard overlay on a userspace netstack (no TUN, no
// root), keeps a netmap stream to the engine, forwards the device's service
// ports to their targets on the host and serves the agent API on its overlay
// address only. The agent API holds the device's SSH sessions (sessions*.go):
// the shell lives here, viewers come and go through the engine.
//
// It imports only the standard library, netstack, controlplane/wire,
// protocols and coder/websocket: never pgx, OpenFGA, go-oidc or any other
// controlplane package.
package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/warrenhq/warren/controlplane/wire"
	"github.com/warrenhq/warren/netstack"
)

// Log attribute keys.
const (
	keyDeviceID = "device_id"
	keyEngine   = "engine"
	keyService  = "service"
	keyPort     = "port"
	keyTarget   = "target"
	keyVersion  = "netmap_version"
)

// keepalive is the persistent keepalive towards engines: it keeps NAT
// mappings open so the engine can reach the agent at any time.
const keepalive = 25 * time.Second

// DialFunc dials a network address.
type DialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

// Config configures an Agent. Zero values are the documented defaults.
type Config struct {
	// StateDir holds the enrollment ("" = DefaultStateDir()).
	StateDir string
	// Logger receives the agent's logs (nil = discard).
	Logger *slog.Logger
	// Version is reported to the engine ("" = "dev").
	Version string
	// Hostname is reported to the engine ("" = os.Hostname()).
	Hostname string
	// ListenAddr is the WireGuard UDP address (zero = all interfaces, a
	// random port). Tests use 127.0.0.1:0.
	ListenAddr netip.AddrPort
	// DialTarget dials service targets on the host (nil = a net.Dialer with
	// a 10 s timeout).
	DialTarget DialFunc
}

// Agent is an enrolled agent. Run it once at a time; it may be run again
// after Run returns.
type Agent struct {
	cfg     Config
	log     *slog.Logger
	changed chan struct{} // wakes the status writer; capacity 1

	mu sync.Mutex
	// guarded by mu
	state     State
	netmap    *wire.Netmap // last applied or loaded from disk; nil if none
	streaming string       // overlay IP of the engine the stream is up to, "" if down
	running   bool
	dev       *netstack.Device // the running device; nil when not running
}

// New loads the enrollment from cfg.StateDir. It fails with an error
// wrapping ErrNotEnrolled when there is none.
func New(cfg Config) (*Agent, error) {
	if cfg.StateDir == "" {
		cfg.StateDir = DefaultStateDir()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.Version == "" {
		cfg.Version = "dev"
	}
	if cfg.Hostname == "" {
		cfg.Hostname, _ = os.Hostname()
	}
	if cfg.DialTarget == nil {
		d := &net.Dialer{Timeout: 10 * time.Second}
		cfg.DialTarget = d.DialContext
	}
	st, err := LoadState(cfg.StateDir)
	if err != nil {
		return nil, err
	}
	a := &Agent{
		cfg:     cfg,
		log:     cfg.Logger.With(keyDeviceID, st.DeviceID),
		changed: make(chan struct{}, 1),
		state:   st,
	}
	a.netmap = a.loadNetmap()
	return a, nil
}

// loadNetmap reads the netmap saved by a previous run, so services are served
// before the engine answers. A missing or bad file only means waiting.
func (a *Agent) loadNetmap() *wire.Netmap {
	var nm wire.Netmap
	path := filepath.Join(a.cfg.StateDir, netmapFile)
	if err := readJSON(path, &nm); err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			a.log.Warn("ignoring saved netmap", "err", err)
		}
		return nil
	}
	if err := nm.Validate(); err != nil {
		a.log.Warn("ignoring saved netmap", "err", err)
		return nil
	}
	if nm.DeviceID != "" && nm.DeviceID != a.state.DeviceID {
		a.log.Warn("ignoring saved netmap of another device", "netmap_device_id", nm.DeviceID)
		return nil
	}
	return &nm
}

// State returns the current enrollment (engines follow the netmap).
func (a *Agent) State() State {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.state
}

// runState holds what one Run owns.
type runState struct {
	dev    *netstack.Device
	ip     netip.Addr
	svcs   *services
	client *http.Client // dials through the overlay
	peers  *peers
	sess   *sessions
}

// Run joins the overlay and serves until ctx is cancelled. It returns nil
// after a clean shutdown, once every goroutine it started has exited, or an
// error if the agent could not start.
func (a *Agent) Run(ctx context.Context) error {
	st, saved, err := a.start()
	if err != nil {
		return err
	}
	defer a.stop()
	dev, err := netstack.New(netstack.Config{
		PrivateKey: st.PrivateKey.Key(),
		Address:    st.OverlayIP,
		ListenAddr: a.cfg.ListenAddr,
		Logger:     a.log,
	})
	if err != nil {
		return fmt.Errorf("starting overlay: %w", err)
	}
	a.mu.Lock()
	a.dev = dev
	a.mu.Unlock()
	rs := &runState{dev: dev, ip: st.OverlayIP, peers: newPeers(a.log)}
	rs.svcs = newServices(dev, st.OverlayIP, a.cfg.DialTarget, a.log)
	rs.sess = newSessions(a.log, a.cfg.DialTarget, a.service, sessionOpts{})
	rs.client = &http.Client{Transport: &http.Transport{
		DialContext:       dev.DialContext,
		ForceAttemptHTTP2: false,
		MaxIdleConns:      1,
		IdleConnTimeout:   30 * time.Second,
	}}
	err = a.serve(ctx, rs, st, saved)
	rs.sess.shutdown() // after a failed start; a no-op after serve's own
	rs.client.CloseIdleConnections()
	rs.svcs.close()
	a.writeStatus(rs, true)
	return errors.Join(err, dev.Close())
}

// start marks the agent running and snapshots what Run starts from.
func (a *Agent) start() (State, *wire.Netmap, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.running {
		return State{}, nil, errors.New("agent already running")
	}
	a.running = true
	return a.state, a.netmap, nil
}

func (a *Agent) stop() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.running = false
	a.streaming = ""
	a.dev = nil
}

// Device returns the agent's overlay device while Run runs, else nil. It is
// for diagnostics and tests; the agent owns and closes it.
func (a *Agent) Device() *netstack.Device {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.dev
}

// serve programs the device, starts the API, stream and status goroutines
// and waits for them after ctx ends.
func (a *Agent) serve(ctx context.Context, rs *runState, st State, saved *wire.Netmap) error {
	var services []wire.Service
	if saved != nil {
		services = saved.Services
	}
	// Filter first: a device without one lets everything through.
	rs.dev.SetFilter(filterFor(rs.ip, st.Engines, services))
	if err := rs.peers.set(ctx, rs.dev, st.Engines, false); err != nil {
		return err
	}
	rs.svcs.apply(services)

	api, err := rs.dev.Listen("tcp", netip.AddrPortFrom(rs.ip, wire.AgentAPIPort).String())
	if err != nil {
		return fmt.Errorf("listening on agent API port: %w", err)
	}
	srv := a.apiServer(rs.sess)
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := srv.Serve(api); err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.log.Error("agent API stopped", "err", err)
		}
	})
	wg.Go(func() { a.streamLoop(ctx, rs) })
	wg.Go(func() { a.statusLoop(ctx, rs) })
	a.log.Info("agent running", "overlay_ip", rs.ip, "listen_port", rs.dev.ListenPort(),
		"engines", len(st.Engines), "services", len(services))

	<-ctx.Done()
	// Sessions first: their viewers are hijacked connections that
	// srv.Close would not wait for.
	rs.sess.shutdown()
	srv.Close()
	wg.Wait()
	a.log.Info("agent stopped")
	return nil
}

// filterFor is the device's packet filter: inbound only the agent API and
// the service ports on our own address, outbound only the engines' agent
// port. Replies are let through by the filter itself.
func filterFor(ip netip.Addr, engines []wire.Engine, services []wire.Service) *netstack.Filter {
	in := []netstack.Rule{{Addr: ip, Proto: netstack.ProtoTCP, PortLo: wire.AgentAPIPort, PortHi: wire.AgentAPIPort}}
	for _, s := range services {
		in = append(in, netstack.Rule{Addr: ip, Proto: netstack.ProtoTCP, PortLo: s.Port, PortHi: s.Port})
	}
	var out []netstack.Rule
	for _, e := range engines {
		addr, err := netip.ParseAddr(e.OverlayIP)
		if err != nil {
			continue // validated before it got here
		}
		out = append(out, netstack.Rule{Addr: addr, Proto: netstack.ProtoTCP, PortLo: wire.EnginePort, PortHi: wire.EnginePort})
	}
	return netstack.NewFilter(in, out)
}

// service returns the named service of the current netmap.
func (a *Agent) service(name string) (wire.Service, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.netmap == nil {
		return wire.Service{}, false
	}
	for _, s := range a.netmap.Services {
		if s.Name == name {
			return s, true
		}
	}
	return wire.Service{}, false
}

// notify wakes the status writer.
func (a *Agent) notify() {
	select {
	case a.changed <- struct{}{}:
	default:
	}
}
