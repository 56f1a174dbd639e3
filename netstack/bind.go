package netstack

import (
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"

	"golang.zx2c4.com/wireguard/conn"
)

// socketBuffer is the UDP socket buffer size wireguard-go asks for too.
const socketBuffer = 7 << 20

// addrBind is a conn.Bind on one UDP socket bound to one local address. It
// serves Config.ListenAddr when an address is given: wireguard-go's
// StdNetBind always binds every interface.
type addrBind struct {
	addr netip.Addr

	mu   sync.Mutex                  // serialises Open and Close
	conn atomic.Pointer[net.UDPConn] // nil while closed; written under mu
}

var _ conn.Bind = (*addrBind)(nil)

func newAddrBind(addr netip.Addr) *addrBind {
	return &addrBind{addr: addr}
}

// Open binds addr:port; port 0 picks a free port.
func (b *addrBind) Open(port uint16) ([]conn.ReceiveFunc, uint16, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.conn.Load() != nil {
		return nil, 0, conn.ErrBindAlreadyOpen
	}
	network := "udp4"
	if b.addr.Is6() {
		network = "udp6"
	}
	c, err := net.ListenUDP(network, net.UDPAddrFromAddrPort(netip.AddrPortFrom(b.addr, port)))
	if err != nil {
		return nil, 0, fmt.Errorf("binding %s: %w", netip.AddrPortFrom(b.addr, port), err)
	}
	setSocketBuffers(c)
	b.conn.Store(c)
	actual := c.LocalAddr().(*net.UDPAddr).AddrPort().Port()
	return []conn.ReceiveFunc{receiveFunc(c)}, actual, nil
}

// receiveFunc reads one datagram per call; after Close it returns an error
// wrapping net.ErrClosed, which is how wireguard-go's receive loop ends.
func receiveFunc(c *net.UDPConn) conn.ReceiveFunc {
	return func(packets [][]byte, sizes []int, eps []conn.Endpoint) (int, error) {
		n, from, err := c.ReadFromUDPAddrPort(packets[0])
		if err != nil {
			return 0, err
		}
		sizes[0] = n
		eps[0] = &addrEndpoint{dst: unmapAddrPort(from)}
		return 1, nil
	}
}

func (b *addrBind) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	c := b.conn.Swap(nil)
	if c == nil {
		return nil
	}
	return c.Close()
}

func (b *addrBind) SetMark(uint32) error { return nil }

func (b *addrBind) BatchSize() int { return 1 }

func (b *addrBind) Send(bufs [][]byte, ep conn.Endpoint) error {
	e, ok := ep.(*addrEndpoint)
	if !ok {
		return conn.ErrWrongEndpointType
	}
	c := b.conn.Load()
	if c == nil {
		return net.ErrClosed
	}
	for _, buf := range bufs {
		if _, err := c.WriteToUDPAddrPort(buf, e.dst); err != nil {
			return err
		}
	}
	return nil
}

func (b *addrBind) ParseEndpoint(s string) (conn.Endpoint, error) {
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		return nil, fmt.Errorf("parsing endpoint: %w", err)
	}
	return &addrEndpoint{dst: unmapAddrPort(ap)}, nil
}

func unmapAddrPort(ap netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

// addrEndpoint is a peer's UDP address. It has no sticky source: the socket
// is bound to one address already.
type addrEndpoint struct {
	dst netip.AddrPort
}

var _ conn.Endpoint = (*addrEndpoint)(nil)

func (e *addrEndpoint) ClearSrc()           {}
func (e *addrEndpoint) SrcToString() string { return "" }
func (e *addrEndpoint) SrcIP() netip.Addr   { return netip.Addr{} }
func (e *addrEndpoint) DstToString() string { return e.dst.String() }
func (e *addrEndpoint) DstIP() netip.Addr   { return e.dst.Addr() }

func (e *addrEndpoint) DstToBytes() []byte {
	b, _ := e.dst.MarshalBinary()
	return b
}
