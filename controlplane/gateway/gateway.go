// Package gateway runs the engine's gateway ports: TCP listeners on the
// engine host that forward every accepted connection over the overlay to one
// service of one device, so native clients (OpenSSH, RDP and VNC viewers, nc)
// reach device services without an agent of their own.
package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/warrenhq/warren/protocols/tcp"
)

// DialFunc opens a connection; the gateway dials the overlay through it.
type DialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

// Resolver finds the overlay address of a device.
type Resolver func(deviceID string) (netip.Addr, bool)

// Port is one gateway port: Listen on the engine host, forwarding to Port on
// device DeviceID.
type Port struct {
	ID       string
	Listen   string
	DeviceID string
	Port     uint16
	// CreatedBy is the user who published the port; when set (and the
	// Gateway has an Allow func) every accepted connection is refused
	// unless that user may still reach Port on DeviceID. "" = no check.
	CreatedBy string
	// AllowCIDRs limits the sources accepted; empty = any. Connections
	// from other sources are closed at accept and counted.
	AllowCIDRs []netip.Prefix
}

func (p Port) equal(q Port) bool {
	return p.ID == q.ID && p.Listen == q.Listen && p.DeviceID == q.DeviceID && p.Port == q.Port &&
		p.CreatedBy == q.CreatedBy && slices.Equal(p.AllowCIDRs, q.AllowCIDRs)
}

// allowsSource reports whether the port accepts a connection from addr.
func (p Port) allowsSource(addr net.Addr) bool {
	if len(p.AllowCIDRs) == 0 {
		return true
	}
	tcp, ok := addr.(*net.TCPAddr)
	if !ok {
		return false
	}
	a := tcp.AddrPort().Addr().Unmap()
	for _, c := range p.AllowCIDRs {
		if c.Contains(a) {
			return true
		}
	}
	return false
}

// AllowFunc reports whether user createdBy may still reach port on the
// device: the engine passes the compiled port ACLs' Allowed (O(1)).
type AllowFunc func(createdBy, deviceID string, port uint16) bool

// Stats counts refused connections.
type Stats struct {
	// RefusedSource counts connections closed at accept because their
	// source is outside the port's AllowCIDRs.
	RefusedSource uint64
	// RefusedAccess counts connections closed because the port's
	// CreatedBy may no longer reach the device port.
	RefusedAccess uint64
	// ClosedFlows counts live flows closed by CloseFlows.
	ClosedFlows uint64
}

// Gateway owns the listeners of the gateway ports. It is safe for concurrent
// use; Close stops every listener and waits for live flows to end.
type Gateway struct {
	dial    DialFunc
	resolve Resolver
	log     *slog.Logger

	// Allow, when set, is asked for every accepted connection of a port
	// with a CreatedBy. Set it before the first Open; nil = no check.
	Allow AllowFunc

	refusedSource, refusedAccess, closedFlows atomic.Uint64

	mu        sync.Mutex
	listeners map[string]*listener // by port id; guarded by mu
	closed    bool                 // guarded by mu
}

type listener struct {
	port  Port
	ln    net.Listener
	done  chan struct{}
	flows sync.WaitGroup

	mu    sync.Mutex
	conns map[net.Conn]struct{} // both ends of live flows; guarded by mu
	// clients are the accepted ends of live flows, one per flow; guarded
	// by mu.
	clients map[net.Conn]struct{}
}

// New returns a Gateway with no ports. logger may be nil.
func New(dial DialFunc, resolve Resolver, logger *slog.Logger) *Gateway {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Gateway{dial: dial, resolve: resolve, log: logger, listeners: map[string]*listener{}}
}

// Open starts listening for one port. It fails if the address is in use.
func (g *Gateway) Open(p Port) error {
	ln, err := net.Listen("tcp", p.Listen)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", p.Listen, err)
	}
	l := &listener{port: p, ln: ln, done: make(chan struct{}), conns: map[net.Conn]struct{}{}, clients: map[net.Conn]struct{}{}}
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		ln.Close()
		return net.ErrClosed
	}
	if old, ok := g.listeners[p.ID]; ok {
		defer old.close()
	}
	g.listeners[p.ID] = l
	g.mu.Unlock()
	go g.accept(l)
	g.log.Info("gateway port open", "publish_id", p.ID, "listen", ln.Addr().String(), "device_id", p.DeviceID, "port", p.Port)
	return nil
}

// Addr returns the bound address of an open port (useful with ":0").
func (g *Gateway) Addr(id string) (net.Addr, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	l, ok := g.listeners[id]
	if !ok {
		return nil, false
	}
	return l.ln.Addr(), true
}

// Remove stops one port and closes its live flows.
func (g *Gateway) Remove(id string) {
	g.mu.Lock()
	l, ok := g.listeners[id]
	delete(g.listeners, id)
	g.mu.Unlock()
	if ok {
		l.close()
	}
}

// Sync makes the open ports exactly ports: new ones are opened, gone ones
// closed, changed ones reopened. It returns the errors of ports it could not
// open; the others are open.
func (g *Gateway) Sync(ports []Port) error {
	want := make(map[string]Port, len(ports))
	for _, p := range ports {
		want[p.ID] = p
	}
	g.mu.Lock()
	var stale []string
	for id, l := range g.listeners {
		if p, ok := want[id]; !ok || !p.equal(l.port) {
			stale = append(stale, id)
		} else {
			delete(want, id)
		}
	}
	g.mu.Unlock()
	for _, id := range stale {
		g.Remove(id)
	}
	var errs []error
	for _, p := range want {
		errs = append(errs, g.Open(p))
	}
	return errors.Join(errs...)
}

// CloseFlows closes the live flows of one port, which keeps listening. It
// returns how many flows it closed.
func (g *Gateway) CloseFlows(id string) int {
	g.mu.Lock()
	l, ok := g.listeners[id]
	g.mu.Unlock()
	if !ok {
		return 0
	}
	l.mu.Lock()
	n := len(l.clients)
	for c := range l.conns {
		c.Close()
	}
	l.mu.Unlock()
	g.closedFlows.Add(uint64(n))
	if n > 0 {
		g.log.Info("gateway flows closed", "publish_id", id, "flows", n)
	}
	return n
}

// Ports returns the open ports, in no particular order.
func (g *Gateway) Ports() []Port {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make([]Port, 0, len(g.listeners))
	for _, l := range g.listeners {
		out = append(out, l.port)
	}
	return out
}

// Stats returns the gateway's counters.
func (g *Gateway) Stats() Stats {
	return Stats{RefusedSource: g.refusedSource.Load(), RefusedAccess: g.refusedAccess.Load(), ClosedFlows: g.closedFlows.Load()}
}

// Close stops every port and waits for their flows to end.
func (g *Gateway) Close() error {
	g.mu.Lock()
	g.closed = true
	ls := g.listeners
	g.listeners = map[string]*listener{}
	g.mu.Unlock()
	for _, l := range ls {
		l.close()
	}
	return nil
}

func (g *Gateway) accept(l *listener) {
	defer close(l.done)
	for {
		c, err := l.ln.Accept()
		if err != nil {
			return
		}
		if !l.port.allowsSource(c.RemoteAddr()) {
			g.refusedSource.Add(1)
			g.log.Info("gateway: source not allowed", "publish_id", l.port.ID, "remote", c.RemoteAddr().String())
			c.Close()
			continue
		}
		if !l.trackClient(c) {
			c.Close()
			return
		}
		l.flows.Add(1)
		go func() {
			defer l.flows.Done()
			defer l.untrackClient(c)
			g.forward(l, c)
		}()
	}
}

// forward dials the device service first, so a client whose target is
// unreachable sees its connection closed instead of a silent black hole.
func (g *Gateway) forward(l *listener, client net.Conn) {
	p := l.port
	// Asked after the client is tracked: a revocation either is in the
	// table already or will find this flow in CloseFlows.
	if p.CreatedBy != "" && g.Allow != nil && !g.Allow(p.CreatedBy, p.DeviceID, p.Port) {
		g.refusedAccess.Add(1)
		g.log.Info("gateway: publisher's access revoked", "publish_id", p.ID, "user_id", p.CreatedBy, "device_id", p.DeviceID, "port", p.Port)
		client.Close()
		return
	}
	addr, ok := g.resolve(p.DeviceID)
	if !ok {
		g.log.Warn("gateway: device not on the overlay", "device_id", p.DeviceID)
		client.Close()
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	target := net.JoinHostPort(addr.String(), strconv.Itoa(int(p.Port)))
	upstream, err := g.dial(ctx, "tcp", target)
	if err != nil {
		g.log.Warn("gateway: dialing device service", "device_id", p.DeviceID, "port", p.Port, "err", err)
		client.Close()
		return
	}
	if !l.track(upstream) {
		upstream.Close()
		client.Close()
		return
	}
	defer l.untrack(upstream)
	up, down, err := tcp.Join(client, upstream)
	g.log.Debug("gateway flow ended", "publish_id", p.ID, "bytes_up", up, "bytes_down", down, "err", err)
}

func (l *listener) track(c net.Conn) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.conns == nil {
		return false
	}
	l.conns[c] = struct{}{}
	return true
}

func (l *listener) untrack(c net.Conn) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.conns, c)
}

// trackClient tracks the accepted end of a flow.
func (l *listener) trackClient(c net.Conn) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.conns == nil {
		return false
	}
	l.conns[c] = struct{}{}
	l.clients[c] = struct{}{}
	return true
}

func (l *listener) untrackClient(c net.Conn) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.conns, c)
	delete(l.clients, c)
}

// close stops accepting, closes both ends of live flows (a half-closed flow
// might otherwise wait forever for its far side) and waits for them.
func (l *listener) close() {
	l.ln.Close()
	<-l.done
	l.mu.Lock()
	for c := range l.conns {
		c.Close()
	}
	l.conns = nil
	l.mu.Unlock()
	l.flows.Wait()
}
