// Package overlay is the engine's side of the WireGuard overlay: the engine's
// own userspace WireGuard device, the peer set (one /32 per enrolled device),
// the packet filter that limits the engine to the agent API and configured
// service ports, the netmap stream every agent keeps open, and the persistence
// of peer endpoints so that an engine restart re-handshakes with every agent
// at once.
//
// It never imports agent code; it reaches devices only through netstack.
package overlay

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/warrenhq/warren/controlplane/store"
	"github.com/warrenhq/warren/controlplane/wire"
	"github.com/warrenhq/warren/netstack"
)

// PersistentKeepalive is set on both ends of every tunnel. On the engine it
// also makes wireguard-go handshake with every known endpoint as soon as the
// peer is configured, which is what brings agents back right after a restart.
const PersistentKeepalive = 25 * time.Second

// Store is what the overlay needs from persistence.
type Store interface {
	ListDevices(ctx context.Context) ([]store.Device, error)
	ListAllServices(ctx context.Context) ([]store.Service, error)
	UpdateDeviceEndpoint(ctx context.Context, id, endpoint string, lastHandshake time.Time) error
}

// Config configures an Overlay. Zero values are documented defaults.
type Config struct {
	PrivateKey netstack.Key
	Prefix     netip.Prefix   // overlay prefix; required
	Replica    int            // engine replica number; its /32 is EngineAddr(Prefix, Replica)
	ListenAddr netip.AddrPort // WireGuard UDP listener; zero = all interfaces, random port
	Endpoint   string         // host:port agents use to reach ListenAddr; see SetEndpoint
	Store      Store
	Logger     *slog.Logger // nil = discard
	// PersistEvery is how often peer endpoints are written to the store;
	// 0 = 5 s.
	PersistEvery time.Duration
	// Ports, when set, narrows which service ports of a device the engine's
	// packet filter lets the engine open: it returns a predicate for the
	// device, or nil for "every service port". The engine passes the port
	// ACLs compiled from OpenFGA, so a port nobody may reach stays closed
	// at the packet level.
	Ports func(d store.Device) func(port uint16) bool
	// OnSessions, when set, receives each agent's session report
	// (wire.TypeSessions, validated). It is called on the stream's read
	// loop: it must not block.
	OnSessions func(deviceID string, l wire.SessionList)
}

// Overlay owns the engine's WireGuard device. It is safe for concurrent use;
// Close releases the device after Run has returned.
type Overlay struct {
	cfg      Config
	log      *slog.Logger
	dev      *netstack.Device
	addr     netip.Addr
	snap     atomic.Pointer[snapshot]
	hub      *hub
	endpoint atomic.Pointer[string]
	syncMu   sync.Mutex // serialises Sync
}

// snapshot is an immutable view of the peers and their services, swapped
// whole by Sync so that lookups on the hot path take no lock.
type snapshot struct {
	version  int64
	byIP     map[netip.Addr]*peer
	byID     map[string]*peer
	byKey    map[netstack.Key]*peer
	engines  []wire.Engine
	services map[string][]wire.Service // by device id
}

type peer struct {
	device store.Device
	key    netstack.Key
	ip     netip.Addr
}

// New creates the engine's WireGuard device. Call Sync to load peers and Run
// to serve agents.
func New(cfg Config) (*Overlay, error) {
	if !cfg.Prefix.IsValid() || !cfg.Prefix.Addr().Is4() {
		return nil, fmt.Errorf("overlay prefix %v: must be an IPv4 prefix", cfg.Prefix)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.PersistEvery == 0 {
		cfg.PersistEvery = 5 * time.Second
	}
	addr := EngineAddr(cfg.Prefix, cfg.Replica)
	dev, err := netstack.New(netstack.Config{
		PrivateKey: cfg.PrivateKey,
		Address:    addr,
		ListenAddr: cfg.ListenAddr,
		Logger:     cfg.Logger.With("component", "wireguard"),
	})
	if err != nil {
		return nil, fmt.Errorf("starting engine wireguard device: %w", err)
	}
	o := &Overlay{cfg: cfg, log: cfg.Logger, dev: dev, addr: addr}
	o.hub = newHub(o)
	o.SetEndpoint(cfg.Endpoint)
	o.snap.Store(&snapshot{byIP: map[netip.Addr]*peer{}, byID: map[string]*peer{}, byKey: map[netstack.Key]*peer{}})
	o.dev.SetFilter(netstack.NewFilter(o.inboundRules(), nil))
	return o, nil
}

// Device returns the engine's WireGuard device (for dialing devices).
func (o *Overlay) Device() *netstack.Device { return o.dev }

// Addr returns the engine's own overlay address.
func (o *Overlay) Addr() netip.Addr { return o.addr }

// SetEndpoint sets the host:port agents are told to reach the engine at; it
// is known only once the UDP port is bound. Connected agents learn it with
// the next Sync.
func (o *Overlay) SetEndpoint(hostport string) { o.endpoint.Store(&hostport) }

// Engines lists the engine replicas agents should peer with.
func (o *Overlay) Engines() []wire.Engine {
	return []wire.Engine{{
		PublicKey: o.dev.PublicKey().String(),
		Endpoint:  *o.endpoint.Load(),
		OverlayIP: o.addr.String(),
	}}
}

// Sync reloads devices and services from the store and applies them: the
// peer set, the packet filter and the netmaps of connected agents.
func (o *Overlay) Sync(ctx context.Context) error {
	o.syncMu.Lock()
	defer o.syncMu.Unlock()
	devices, err := o.cfg.Store.ListDevices(ctx)
	if err != nil {
		return fmt.Errorf("listing devices: %w", err)
	}
	services, err := o.cfg.Store.ListAllServices(ctx)
	if err != nil {
		return fmt.Errorf("listing services: %w", err)
	}
	next := o.buildSnapshot(devices, services)
	if err := o.dev.SetPeers(o.peerConfigs(next)); err != nil {
		return fmt.Errorf("configuring peers: %w", err)
	}
	o.dev.SetFilter(netstack.NewFilter(o.inboundRules(), outboundRules(next, o.cfg.Ports)))
	o.snap.Store(next)
	o.hub.notifyAll()
	return nil
}

func (o *Overlay) buildSnapshot(devices []store.Device, services []store.Service) *snapshot {
	prev := o.snap.Load()
	s := &snapshot{
		version:  max(prev.version+1, time.Now().UnixNano()),
		byIP:     make(map[netip.Addr]*peer, len(devices)),
		byID:     make(map[string]*peer, len(devices)),
		byKey:    make(map[netstack.Key]*peer, len(devices)),
		engines:  o.Engines(),
		services: make(map[string][]wire.Service),
	}
	for _, d := range devices {
		if d.Disabled {
			continue
		}
		key, err := netstack.ParseKey(d.PublicKey)
		if err != nil {
			o.log.Error("device has an unusable public key; skipping it", "device_id", d.ID, "err", err)
			continue
		}
		ip := d.OverlayIP
		p := &peer{device: d, key: key, ip: ip}
		s.byIP[ip], s.byID[d.ID], s.byKey[key] = p, p, p
	}
	for _, svc := range services {
		s.services[svc.DeviceID] = append(s.services[svc.DeviceID], wire.Service{
			Name: svc.Name, Protocol: string(svc.Protocol), Port: uint16(svc.Port), Target: svc.Target,
		})
	}
	for _, list := range s.services {
		slices.SortFunc(list, func(a, b wire.Service) int { return int(a.Port) - int(b.Port) })
	}
	return s
}

// peerConfigs keeps the endpoint wireguard-go currently knows for a peer (it
// may have roamed since it was persisted) and falls back to the stored one.
func (o *Overlay) peerConfigs(s *snapshot) []netstack.Peer {
	out := make([]netstack.Peer, 0, len(s.byKey))
	for key, p := range s.byKey {
		ep, _ := netip.ParseAddrPort(p.device.LastEndpoint)
		if st, ok := o.dev.Peer(key); ok && st.Endpoint.IsValid() {
			ep = st.Endpoint
		}
		out = append(out, netstack.Peer{
			PublicKey:           key,
			AllowedIPs:          []netip.Prefix{netip.PrefixFrom(p.ip, 32)},
			Endpoint:            ep,
			PersistentKeepalive: PersistentKeepalive,
		})
	}
	return out
}

// inboundRules: agents may open connections to the engine's agent port only.
func (o *Overlay) inboundRules() []netstack.Rule {
	return []netstack.Rule{{Addr: o.addr, Proto: netstack.ProtoTCP, PortLo: wire.EnginePort, PortHi: wire.EnginePort}}
}

// outboundRules: the engine may open connections to each device's agent API
// and to those of its configured service ports that ports allows (all of
// them when ports is nil or has no opinion on the device), nothing else.
func outboundRules(s *snapshot, ports func(store.Device) func(uint16) bool) []netstack.Rule {
	var rules []netstack.Rule
	for id, p := range s.byID {
		rules = append(rules, netstack.Rule{Addr: p.ip, Proto: netstack.ProtoTCP, PortLo: wire.AgentAPIPort, PortHi: wire.AgentAPIPort})
		var allow func(uint16) bool
		if ports != nil {
			allow = ports(p.device)
		}
		for _, svc := range s.services[id] {
			if allow != nil && !allow(svc.Port) {
				continue
			}
			rules = append(rules, netstack.Rule{Addr: p.ip, Proto: netstack.ProtoTCP, PortLo: svc.Port, PortHi: svc.Port})
		}
	}
	return rules
}

// netmapFor returns the netmap of a device and its content (without the
// version) for change detection.
func (s *snapshot) netmapFor(deviceID string) (wire.Netmap, []byte) {
	nm := wire.Netmap{DeviceID: deviceID, Engines: s.engines, Services: s.services[deviceID]}
	if nm.Services == nil {
		nm.Services = []wire.Service{}
	}
	content, _ := json.Marshal(nm)
	nm.Version = s.version
	return nm, content
}

// DeviceAddr returns the overlay address of an enrolled, enabled device.
func (o *Overlay) DeviceAddr(deviceID string) (netip.Addr, bool) {
	p, ok := o.snap.Load().byID[deviceID]
	if !ok {
		return netip.Addr{}, false
	}
	return p.ip, true
}

// PeerState is the live state of one device's tunnel.
type PeerState struct {
	Online        bool // the agent's netmap stream is connected
	Endpoint      netip.AddrPort
	LastHandshake time.Time
	RxBytes       uint64
	TxBytes       uint64
	AgentVersion  string // as last reported on the stream
}

// State returns the live tunnel state of a device.
func (o *Overlay) State(deviceID string) PeerState {
	p, ok := o.snap.Load().byID[deviceID]
	if !ok {
		return PeerState{}
	}
	st := PeerState{}
	if ps, ok := o.dev.Peer(p.key); ok {
		st.Endpoint, st.LastHandshake, st.RxBytes, st.TxBytes = ps.Endpoint, ps.LastHandshake, ps.RxBytes, ps.TxBytes
	}
	st.Online, st.AgentVersion = o.hub.state(deviceID)
	return st
}

// Run serves the netmap stream on the engine's overlay address and persists
// peer endpoints until ctx is done. It returns after its goroutines exit.
func (o *Overlay) Run(ctx context.Context) error {
	ln, err := o.dev.Listen("tcp", netip.AddrPortFrom(o.addr, wire.EnginePort).String())
	if err != nil {
		return fmt.Errorf("listening on the overlay: %w", err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		o.persistLoop(ctx)
	}()
	err = o.hub.serve(ctx, ln)
	wg.Wait()
	return err
}

func (o *Overlay) persistLoop(ctx context.Context) {
	t := time.NewTicker(o.cfg.PersistEvery)
	defer t.Stop()
	saved := map[string]saved{}
	for {
		select {
		case <-ctx.Done():
			o.persistEndpoints(context.WithoutCancel(ctx), saved)
			return
		case <-t.C:
			o.persistEndpoints(ctx, saved)
		}
	}
}

// saved is what the store holds for a device's endpoint, as far as
// persistLoop knows.
type saved struct {
	endpoint  string
	handshake time.Time
}

// persistEndpoints writes endpoints and handshake times that changed, so a
// restarted engine knows where every agent is. Handshake times are refreshed
// at most once a minute per device.
func (o *Overlay) persistEndpoints(ctx context.Context, done map[string]saved) {
	s := o.snap.Load()
	for _, ps := range o.dev.Peers() {
		p, ok := s.byKey[ps.PublicKey]
		if !ok || !ps.Endpoint.IsValid() {
			continue
		}
		last, ok := done[p.device.ID]
		if !ok {
			last = saved{p.device.LastEndpoint, p.device.LastHandshake}
		}
		ep := ps.Endpoint.String()
		if ep == last.endpoint && ps.LastHandshake.Sub(last.handshake).Abs() < time.Minute {
			continue
		}
		if err := o.cfg.Store.UpdateDeviceEndpoint(ctx, p.device.ID, ep, ps.LastHandshake); err != nil {
			o.log.Warn("persisting peer endpoint", "device_id", p.device.ID, "err", err)
			continue
		}
		done[p.device.ID] = saved{ep, ps.LastHandshake}
	}
}

// persistPeer writes one device's current endpoint and handshake time.
func (o *Overlay) persistPeer(ctx context.Context, p *peer) {
	ps, ok := o.dev.Peer(p.key)
	if !ok || !ps.Endpoint.IsValid() {
		return
	}
	if err := o.cfg.Store.UpdateDeviceEndpoint(ctx, p.device.ID, ps.Endpoint.String(), ps.LastHandshake); err != nil {
		o.log.Warn("persisting peer endpoint", "device_id", p.device.ID, "err", err)
	}
}

// Close shuts the WireGuard device down. Call it after Run has returned.
func (o *Overlay) Close() error {
	return o.dev.Close()
}
