package netstack

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"syscall"

	"golang.zx2c4.com/wireguard/conn"
	"golang.zx2c4.com/wireguard/device"
	"gvisor.dev/gvisor/pkg/tcpip"
)

// DefaultMTU is the inner (overlay) MTU when Config.MTU is zero. WireGuard
// adds 60 bytes over IPv4 (80 over IPv6), so full-size packets become
// 1340-byte UDP datagrams on the underlay; a narrower underlay path
// fragments them.
const DefaultMTU = 1280

// minMTU is the smallest MTU every IPv4 host must accept (RFC 791).
const minMTU = 576

// Config describes a Device. Zero values are the documented defaults.
type Config struct {
	// PrivateKey is the device's WireGuard key (required). Never log it;
	// Config's LogValue leaves it out.
	PrivateKey Key
	// Address is the device's own /32 on the overlay (required, IPv4).
	Address netip.Addr
	// ListenAddr is the UDP address WireGuard listens on. The zero value
	// listens on every interface (IPv4 and IPv6) on a random port; an
	// invalid Addr with a port listens on every interface on that port; a
	// valid Addr (even 0.0.0.0) binds one socket to exactly that address.
	ListenAddr netip.AddrPort
	// MTU is the inner (overlay) MTU; 0 means DefaultMTU.
	MTU int
	// Logger receives lifecycle events and, at Debug, wireguard-go's own
	// log. Nil discards.
	Logger *slog.Logger
}

// LogValue describes the config without its private key.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("public_key", c.PrivateKey.Public().String()),
		slog.String("address", c.Address.String()),
		slog.String("listen_addr", listenString(c.ListenAddr)),
		slog.Int("mtu", c.MTU),
	)
}

func listenString(ap netip.AddrPort) string {
	if !ap.Addr().IsValid() {
		return "*:" + strconv.Itoa(int(ap.Port()))
	}
	return ap.String()
}

func (c Config) withDefaults() (Config, error) {
	if c.PrivateKey.IsZero() {
		return c, errors.New("config: private key is not set")
	}
	c.Address = c.Address.Unmap()
	if !c.Address.IsValid() {
		return c, errors.New("config: address is not set")
	}
	if !c.Address.Is4() {
		return c, fmt.Errorf("config: address %v is not an IPv4 address", c.Address)
	}
	if c.MTU == 0 {
		c.MTU = DefaultMTU
	}
	if c.MTU < minMTU || c.MTU > device.MaxContentSize {
		return c, fmt.Errorf("config: mtu %d is outside [%d, %d]", c.MTU, minMTU, device.MaxContentSize)
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c, nil
}

// Device is a WireGuard device on a gVisor netstack. Its methods are safe
// for concurrent use. The creator owns it and must Close it; conns and
// listeners it handed out stop working at Close.
type Device struct {
	addr netip.Addr
	pub  Key
	port uint16
	log  *slog.Logger

	wg    *device.Device
	tun   *filterTUN
	stack *stackTUN

	// mu serialises SetPeers.
	mu    sync.Mutex
	peers map[Key]Peer // guarded by mu; the peer set last configured

	closeOnce sync.Once
}

// New creates a device, binds its UDP socket and brings it up. It has no
// peers until SetPeers.
func New(cfg Config) (*Device, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	st, err := newStackTUN(cfg.Address, cfg.MTU)
	if err != nil {
		return nil, err
	}
	ft := newFilterTUN(st)
	d := &Device{
		addr:  cfg.Address,
		pub:   cfg.PrivateKey.Public(),
		log:   cfg.Logger,
		wg:    device.NewDevice(ft, newBind(cfg.ListenAddr), wgLogger(cfg.Logger)),
		tun:   ft,
		stack: st,
		peers: map[Key]Peer{},
	}
	if err := d.up(cfg); err != nil {
		d.wg.Close()
		return nil, err
	}
	d.log.Info("overlay device up", "config", cfg, "listen_port", d.port)
	return d, nil
}

func newBind(listen netip.AddrPort) conn.Bind {
	if listen.Addr().IsValid() {
		return newAddrBind(listen.Addr().Unmap())
	}
	return conn.NewDefaultBind()
}

func (d *Device) up(cfg Config) error {
	uapi := fmt.Sprintf("private_key=%s\nlisten_port=%d\n", cfg.PrivateKey.hex(), cfg.ListenAddr.Port())
	if err := d.wg.IpcSet(uapi); err != nil {
		return fmt.Errorf("configuring device: %w", err)
	}
	// The netstack's EventUp brings the device up asynchronously as well;
	// Up is idempotent, and calling it here reports a bind failure.
	if err := d.wg.Up(); err != nil {
		return fmt.Errorf("bringing device up: %w", err)
	}
	st, err := d.state()
	if err != nil {
		return err
	}
	if st.listenPort == 0 {
		return errors.New("bringing device up: no UDP port bound")
	}
	d.port = st.listenPort
	return nil
}

// Address returns the device's own overlay address.
func (d *Device) Address() netip.Addr { return d.addr }

// PublicKey returns the device's public key.
func (d *Device) PublicKey() Key { return d.pub }

// ListenPort returns the UDP port WireGuard is bound to.
func (d *Device) ListenPort() uint16 { return d.port }

// SetFilter installs f for every packet from now on; nil lets every
// well-formed IPv4 packet through. Packets already queued are not rechecked.
func (d *Device) SetFilter(f *Filter) { d.tun.filter.Store(f) }

// Stats returns the filter's packet counters.
func (d *Device) Stats() Stats { return d.tun.stats.snapshot() }

// Close shuts the device down: the UDP socket, wireguard-go's goroutines and
// the netstack with every conn and listener on it (their blocked calls
// return errors). It is idempotent and returns once wireguard-go's workers
// have stopped; gVisor's TCP workers and wireguard-go's TUN event reader
// exit on their own a moment later.
func (d *Device) Close() error {
	d.closeOnce.Do(func() {
		d.wg.Close()
		d.log.Info("overlay device closed", "address", d.addr)
	})
	return nil
}

// DialContext connects to addr ("100.96.0.2:22") on the overlay. network is
// "tcp", "tcp4", "udp" or "udp4"; addr must be a literal IPv4 address and
// port. It has the shape of a DialFunc. Errors are *net.OpError; a refused
// connection matches syscall.ECONNREFUSED and a cancelled or expired ctx
// matches ctx.Err() under errors.Is.
func (d *Device) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	ap, err := parseRemote(addr)
	if err != nil {
		return nil, &net.OpError{Op: "dial", Net: network, Err: fmt.Errorf("%s: %w", addr, err)}
	}
	c, err := d.dial(ctx, network, ap)
	if err != nil {
		return nil, &net.OpError{Op: "dial", Net: network, Addr: addrOf(network, ap), Err: dialCause(err)}
	}
	return c, nil
}

func (d *Device) dial(ctx context.Context, network string, ap netip.AddrPort) (net.Conn, error) {
	// gonet leaks its endpoint when ctx is already done; check first.
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	switch network {
	case "tcp", "tcp4":
		c, err := d.stack.dialTCP(ctx, ap)
		if err != nil {
			return nil, err
		}
		return c, nil
	case "udp", "udp4":
		c, err := d.stack.dialUDP(netip.AddrPortFrom(d.addr, 0), ap)
		if err != nil {
			return nil, err
		}
		return c, nil
	}
	return nil, net.UnknownNetworkError(network)
}

func addrOf(network string, ap netip.AddrPort) net.Addr {
	if network == "udp" || network == "udp4" {
		return net.UDPAddrFromAddrPort(ap)
	}
	return net.TCPAddrFromAddrPort(ap)
}

// netstackErrnos maps gVisor's error texts (gonet passes on only the text)
// to the errnos a kernel dial would report.
var netstackErrnos = map[string]syscall.Errno{
	(&tcpip.ErrConnectionRefused{}).String():  syscall.ECONNREFUSED,
	(&tcpip.ErrConnectionReset{}).String():    syscall.ECONNRESET,
	(&tcpip.ErrTimeout{}).String():            syscall.ETIMEDOUT,
	(&tcpip.ErrHostUnreachable{}).String():    syscall.EHOSTUNREACH,
	(&tcpip.ErrNetworkUnreachable{}).String(): syscall.ENETUNREACH,
}

// dialCause strips gonet's own OpError and turns a known netstack error
// into an errno.
func dialCause(err error) error {
	var op *net.OpError
	if errors.As(err, &op) {
		err = op.Err
	}
	if errno, ok := netstackErrnos[err.Error()]; ok {
		return errno
	}
	return err
}

func parseRemote(addr string) (netip.AddrPort, error) {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("parsing address: %w", err)
	}
	ap = unmapAddrPort(ap)
	if !ap.Addr().Is4() || ap.Port() == 0 {
		return netip.AddrPort{}, errors.New("address must be an IPv4 address and a non-zero port")
	}
	return ap, nil
}

// Listen listens for TCP on the device's own address. network is "tcp" or
// "tcp4"; addr is ":port" or "<own address>:port" (port 0 picks one).
func (d *Device) Listen(network, addr string) (net.Listener, error) {
	if network != "tcp" && network != "tcp4" {
		return nil, fmt.Errorf("listening on %s: %w", network, net.UnknownNetworkError(network))
	}
	port, err := d.localPort(addr)
	if err != nil {
		return nil, fmt.Errorf("listening on %s: %w", addr, err)
	}
	l, err := d.stack.listenTCP(netip.AddrPortFrom(d.addr, port))
	if err != nil {
		return nil, fmt.Errorf("listening on %s: %w", addr, err)
	}
	return l, nil
}

// ListenPacket listens for UDP on the device's own address. network is
// "udp" or "udp4"; addr is as for Listen.
func (d *Device) ListenPacket(network, addr string) (net.PacketConn, error) {
	if network != "udp" && network != "udp4" {
		return nil, fmt.Errorf("listening on %s: %w", network, net.UnknownNetworkError(network))
	}
	port, err := d.localPort(addr)
	if err != nil {
		return nil, fmt.Errorf("listening on %s: %w", addr, err)
	}
	c, err := d.stack.listenUDP(netip.AddrPortFrom(d.addr, port))
	if err != nil {
		return nil, fmt.Errorf("listening on %s: %w", addr, err)
	}
	return c, nil
}

// localPort parses ":port" or "<own address>:port".
func (d *Device) localPort(addr string) (uint16, error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return 0, err
	}
	if host != "" {
		ip, err := netip.ParseAddr(host)
		if err != nil {
			return 0, fmt.Errorf("parsing host: %w", err)
		}
		if ip.Unmap() != d.addr {
			return 0, fmt.Errorf("%s is not this device's address %s", ip, d.addr)
		}
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil {
		return 0, fmt.Errorf("parsing port: %w", err)
	}
	return uint16(port), nil
}

// Log attribute keys. This package may not import Warren's shared keys.
const (
	keyComponent = "component"
	keyWGLevel   = "wg_level"
)

// wgLogger routes wireguard-go's log to l at Debug, formatting only when
// Debug is enabled.
func wgLogger(l *slog.Logger) *device.Logger {
	logf := func(level string) func(string, ...any) {
		return func(format string, args ...any) {
			if !l.Enabled(context.Background(), slog.LevelDebug) {
				return
			}
			l.Debug(fmt.Sprintf(format, args...), keyComponent, "wireguard", keyWGLevel, level)
		}
	}
	return &device.Logger{Verbosef: logf("verbose"), Errorf: logf("error")}
}
