package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/warrenhq/warren/controlplane/wire"
	"github.com/warrenhq/warren/netstack"
)

// resolveTimeout bounds one DNS resolution of an engine endpoint.
const resolveTimeout = 3 * time.Second

// peers programs the engines as the device's WireGuard peers, resolving their
// endpoints. Safe for concurrent use.
type peers struct {
	log *slog.Logger

	mu sync.Mutex
	// guarded by mu
	resolved map[string]netip.AddrPort // endpoint as given -> last good address
	current  []netstack.Peer
}

func newPeers(log *slog.Logger) *peers {
	return &peers{log: log, resolved: make(map[string]netip.AddrPort)}
}

// set makes engines the device's peers. Endpoints are resolved the first
// time they are seen, and again when reresolve is set (after a failed
// connection: the name may point elsewhere now). A name that does not
// resolve keeps its last address, or none: the engine can still reach us
// at the endpoint it learned. The device is touched only on a change, so
// established sessions survive.
func (p *peers) set(ctx context.Context, dev *netstack.Device, engines []wire.Engine, reresolve bool) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	next := make([]netstack.Peer, 0, len(engines))
	for _, e := range engines {
		peer, err := p.peerLocked(ctx, e, reresolve)
		if err != nil {
			return fmt.Errorf("engine %s: %w", e.OverlayIP, err)
		}
		next = append(next, peer)
	}
	if slices.EqualFunc(next, p.current, equalPeer) {
		return nil
	}
	if err := dev.SetPeers(next); err != nil {
		return fmt.Errorf("setting peers: %w", err)
	}
	p.current = next
	return nil
}

func (p *peers) peerLocked(ctx context.Context, e wire.Engine, reresolve bool) (netstack.Peer, error) {
	key, err := netstack.ParseKey(e.PublicKey)
	if err != nil {
		return netstack.Peer{}, err
	}
	ip, err := netip.ParseAddr(e.OverlayIP)
	if err != nil {
		return netstack.Peer{}, err
	}
	ep, ok := p.resolved[e.Endpoint]
	if !ok || reresolve {
		ep = p.resolveLocked(ctx, e.Endpoint)
	}
	return netstack.Peer{
		PublicKey:           key,
		AllowedIPs:          []netip.Prefix{netip.PrefixFrom(ip, ip.BitLen())},
		Endpoint:            ep,
		PersistentKeepalive: keepalive,
	}, nil
}

func (p *peers) resolveLocked(ctx context.Context, endpoint string) netip.AddrPort {
	ctx, cancel := context.WithTimeout(ctx, resolveTimeout)
	defer cancel()
	ap, err := resolveEndpoint(ctx, endpoint)
	if err != nil {
		p.log.Warn("resolving engine endpoint", "endpoint", endpoint, "err", err)
		return p.resolved[endpoint]
	}
	if old, ok := p.resolved[endpoint]; ok && old != ap {
		p.log.Info("engine endpoint moved", "endpoint", endpoint, "from", old, "to", ap)
	}
	p.resolved[endpoint] = ap
	return ap
}

func equalPeer(a, b netstack.Peer) bool {
	return a.PublicKey == b.PublicKey && a.Endpoint == b.Endpoint &&
		a.PersistentKeepalive == b.PersistentKeepalive && slices.Equal(a.AllowedIPs, b.AllowedIPs)
}

// resolveEndpoint turns an engine's host:port into an address, resolving a
// DNS name (an IPv4 answer preferred, as the underlay is most often IPv4).
func resolveEndpoint(ctx context.Context, hostport string) (netip.AddrPort, error) {
	if ap, err := netip.ParseAddrPort(hostport); err == nil {
		return ap, nil
	}
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		return netip.AddrPort{}, err
	}
	portNum, err := net.DefaultResolver.LookupPort(ctx, "udp", port)
	if err != nil {
		return netip.AddrPort{}, err
	}
	addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return netip.AddrPort{}, err
	}
	if len(addrs) == 0 {
		return netip.AddrPort{}, errors.New("no addresses for " + host)
	}
	best := addrs[0].Unmap()
	for _, a := range addrs {
		if a.Unmap().Is4() {
			best = a.Unmap()
			break
		}
	}
	return netip.AddrPortFrom(best, uint16(portNum)), nil
}
