package netstack

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"sync"

	"golang.zx2c4.com/wireguard/conn"
	"golang.zx2c4.com/wireguard/tun"
	"gvisor.dev/gvisor/pkg/buffer"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	gvheader "gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/link/channel"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/transport/icmp"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
	"gvisor.dev/gvisor/pkg/tcpip/transport/udp"
)

// nicID is the netstack's only interface.
const nicID tcpip.NICID = 1

// stackTUN is a tun.Device whose far side is an IPv4-only gVisor netstack
// holding one address. It does what wireguard-go's tun/netstack does, but
// reads the link endpoint's queue directly: the stock version hands packets
// over an unbuffered channel that its Close closes while the netstack may
// still be sending on it, a data race (and an occasional "send on closed
// channel" panic) whenever a device closes with traffic in flight.
type stackTUN struct {
	stack  *stack.Stack
	ep     *channel.Endpoint
	mtu    int
	events chan tun.Event

	ctx       context.Context // cancelled by Close; ends a blocked Read
	cancel    context.CancelFunc
	closeOnce sync.Once
}

var _ tun.Device = (*stackTUN)(nil)

// outboundQueue is how many packets the netstack may queue for WireGuard.
const outboundQueue = 1024

func newStackTUN(addr netip.Addr, mtu int) (*stackTUN, error) {
	s := stack.New(stack.Options{
		NetworkProtocols:   []stack.NetworkProtocolFactory{ipv4.NewProtocol},
		TransportProtocols: []stack.TransportProtocolFactory{tcp.NewProtocol, udp.NewProtocol, icmp.NewProtocol4},
		HandleLocal:        true,
	})
	ctx, cancel := context.WithCancel(context.Background())
	t := &stackTUN{
		stack:  s,
		ep:     channel.New(outboundQueue, uint32(mtu), ""),
		mtu:    mtu,
		events: make(chan tun.Event, 1),
		ctx:    ctx,
		cancel: cancel,
	}
	if err := t.configure(addr); err != nil {
		t.Close()
		return nil, fmt.Errorf("creating netstack: %w", err)
	}
	t.events <- tun.EventUp
	return t, nil
}

func (t *stackTUN) configure(addr netip.Addr) error {
	sack := tcpip.TCPSACKEnabled(true) // off by default in gVisor
	if err := t.stack.SetTransportProtocolOption(tcp.ProtocolNumber, &sack); err != nil {
		return fmt.Errorf("enabling TCP SACK: %v", err)
	}
	if err := t.stack.CreateNIC(nicID, t.ep); err != nil {
		return fmt.Errorf("creating NIC: %v", err)
	}
	pa := tcpip.ProtocolAddress{
		Protocol:          ipv4.ProtocolNumber,
		AddressWithPrefix: tcpip.AddrFrom4(addr.As4()).WithPrefix(),
	}
	if err := t.stack.AddProtocolAddress(nicID, pa, stack.AddressProperties{}); err != nil {
		return fmt.Errorf("adding address %s: %v", addr, err)
	}
	t.stack.AddRoute(tcpip.Route{Destination: gvheader.IPv4EmptySubnet, NIC: nicID})
	return nil
}

func (t *stackTUN) File() *os.File           { return nil }
func (t *stackTUN) Name() (string, error)    { return "warren", nil }
func (t *stackTUN) MTU() (int, error)        { return t.mtu, nil }
func (t *stackTUN) Events() <-chan tun.Event { return t.events }

// BatchSize lets wireguard-go take up to a full UDP batch of packets the
// netstack has queued in one Read.
func (t *stackTUN) BatchSize() int { return conn.IdealBatchSize }

// Read blocks for one packet from the netstack, then takes whatever else is
// already queued, up to len(bufs).
func (t *stackTUN) Read(bufs [][]byte, sizes []int, offset int) (int, error) {
	pkt := t.ep.ReadContext(t.ctx)
	if pkt == nil {
		return 0, os.ErrClosed
	}
	n := 0
	for pkt != nil {
		if size, ok := copyPacket(bufs[n][offset:], pkt); ok {
			sizes[n] = size
			n++
		}
		pkt.DecRef()
		if n == len(bufs) {
			break
		}
		pkt = t.ep.Read()
	}
	return n, nil
}

// copyPacket copies pkt into buf; a packet that does not fit is dropped.
func copyPacket(buf []byte, pkt *stack.PacketBuffer) (int, bool) {
	if pkt.Size() > len(buf) {
		return 0, false
	}
	n := 0
	for _, s := range pkt.AsSlices() {
		n += copy(buf[n:], s)
	}
	return n, true
}

// Write hands IPv4 packets to the netstack. The filter in front of it has
// already dropped everything that is not well-formed IPv4.
func (t *stackTUN) Write(bufs [][]byte, offset int) (int, error) {
	for _, b := range bufs {
		pkt := stack.NewPacketBuffer(stack.PacketBufferOptions{Payload: buffer.MakeWithData(b[offset:])})
		t.ep.InjectInbound(ipv4.ProtocolNumber, pkt)
		pkt.DecRef()
	}
	return len(bufs), nil
}

// Close stops the netstack: endpoints are aborted, the outbound queue is
// closed (so late sends fail instead of racing) and gVisor's workers are
// waited for. It is idempotent.
func (t *stackTUN) Close() error {
	t.closeOnce.Do(func() {
		t.cancel()
		t.stack.Close()
		t.ep.Close()
		t.stack.Wait()
		close(t.events)
	})
	return nil
}

func (t *stackTUN) fullAddr(ap netip.AddrPort) tcpip.FullAddress {
	return tcpip.FullAddress{NIC: nicID, Addr: tcpip.AddrFrom4(ap.Addr().As4()), Port: ap.Port()}
}

func (t *stackTUN) dialTCP(ctx context.Context, raddr netip.AddrPort) (*gonet.TCPConn, error) {
	return gonet.DialContextTCP(ctx, t.stack, t.fullAddr(raddr), ipv4.ProtocolNumber)
}

func (t *stackTUN) dialUDP(laddr, raddr netip.AddrPort) (*gonet.UDPConn, error) {
	l, r := t.fullAddr(laddr), t.fullAddr(raddr)
	return gonet.DialUDP(t.stack, &l, &r, ipv4.ProtocolNumber)
}

func (t *stackTUN) listenTCP(laddr netip.AddrPort) (*gonet.TCPListener, error) {
	return gonet.ListenTCP(t.stack, t.fullAddr(laddr), ipv4.ProtocolNumber)
}

func (t *stackTUN) listenUDP(laddr netip.AddrPort) (*gonet.UDPConn, error) {
	l := t.fullAddr(laddr)
	return gonet.DialUDP(t.stack, &l, nil, ipv4.ProtocolNumber)
}
