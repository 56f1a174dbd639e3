package main

// This file is the one documented exception to the import rule that only our
// netstack package may import wireguard-go and gVisor. The baseline must be
// the stock thing a user would otherwise pick (wireguard-go's tun/netstack
// with its default bind and the MTU of its examples), not our wrapper around
// it, or the comparison would measure Warren against itself.

import (
	"context"
	"crypto/ecdh"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"golang.zx2c4.com/wireguard/conn"
	"golang.zx2c4.com/wireguard/device"
	"golang.zx2c4.com/wireguard/tun/netstack"
)

// stockMTU is the MTU of wireguard-go's netstack examples.
const stockMTU = 1420

var (
	stockAddrA = netip.MustParseAddr("10.77.0.1")
	stockAddrB = netip.MustParseAddr("10.77.0.2")
)

// stockPeer is one stock wireguard-go device on a gVisor netstack.
type stockPeer struct {
	dev  *device.Device
	tnet *netstack.Net
	addr netip.Addr
	pub  []byte
	port int
}

// stockPair is two stock devices peered over UDP loopback, with a bench
// server listening on b. Clients dial from a.
type stockPair struct {
	a, b   *stockPeer
	server *benchServer
}

func newStockPair(log *slog.Logger) (_ *stockPair, err error) {
	p := &stockPair{}
	defer func() {
		if err != nil {
			p.Close()
		}
	}()
	if p.a, err = newStockPeer(stockAddrA, log.With("peer", "a")); err != nil {
		return nil, err
	}
	if p.b, err = newStockPeer(stockAddrB, log.With("peer", "b")); err != nil {
		return nil, err
	}
	if err := p.a.addPeer(p.b); err != nil {
		return nil, err
	}
	if err := p.b.addPeer(p.a); err != nil {
		return nil, err
	}
	ln, err := p.b.tnet.ListenTCPAddrPort(netip.AddrPortFrom(stockAddrB, benchPort))
	if err != nil {
		return nil, fmt.Errorf("listening on the stock netstack: %w", err)
	}
	p.server = serveBench(ln)
	return p, nil
}

// Addr is the bench server's address as seen from a.
func (p *stockPair) Addr() string { return p.server.Addr() }

// Dial dials from a. It has the shape of a dialFunc.
func (p *stockPair) Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return nil, err
	}
	// gonet leaks its endpoint when ctx is already done.
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c, err := p.a.tnet.DialContextTCPAddrPort(ctx, ap)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// Close closes the server and both devices; safe on a partly built pair.
func (p *stockPair) Close() error {
	var errs []error
	if p.server != nil {
		errs = append(errs, p.server.Close())
	}
	for _, peer := range []*stockPeer{p.a, p.b} {
		if peer != nil {
			peer.dev.Close()
		}
	}
	return errors.Join(errs...)
}

func newStockPeer(addr netip.Addr, log *slog.Logger) (*stockPeer, error) {
	key, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	tun, tnet, err := netstack.CreateNetTUN([]netip.Addr{addr}, nil, stockMTU)
	if err != nil {
		return nil, fmt.Errorf("creating stock netstack: %w", err)
	}
	dev := device.NewDevice(tun, conn.NewDefaultBind(), wgLogger(log))
	p := &stockPeer{dev: dev, tnet: tnet, addr: addr, pub: key.PublicKey().Bytes()}
	if err := p.configure(key.Bytes()); err != nil {
		dev.Close()
		return nil, err
	}
	return p, nil
}

// configure sets the key, brings the device up on a random UDP port and
// reads back which port it got.
func (p *stockPeer) configure(private []byte) error {
	if err := p.dev.IpcSet("private_key=" + hex.EncodeToString(private) + "\nlisten_port=0\n"); err != nil {
		return fmt.Errorf("configuring stock device: %w", err)
	}
	if err := p.dev.Up(); err != nil {
		return fmt.Errorf("bringing stock device up: %w", err)
	}
	state, err := p.dev.IpcGet()
	if err != nil {
		return fmt.Errorf("reading stock device state: %w", err)
	}
	for line := range strings.Lines(state) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "listen_port="); ok {
			p.port, err = strconv.Atoi(v)
			return err
		}
	}
	return errors.New("stock device reports no listen port")
}

// addPeer makes other reachable at its /32 through UDP loopback.
func (p *stockPeer) addPeer(other *stockPeer) error {
	cfg := fmt.Sprintf("public_key=%s\nendpoint=127.0.0.1:%d\nallowed_ip=%s/32\n",
		hex.EncodeToString(other.pub), other.port, other.addr)
	if err := p.dev.IpcSet(cfg); err != nil {
		return fmt.Errorf("adding stock peer: %w", err)
	}
	return nil
}

// wgLogger sends wireguard-go's log to log: its verbose lines at Debug.
func wgLogger(log *slog.Logger) *device.Logger {
	return &device.Logger{
		Verbosef: func(format string, args ...any) {
			if log.Enabled(context.Background(), slog.LevelDebug) {
				log.Debug(fmt.Sprintf(format, args...))
			}
		},
		Errorf: func(format string, args ...any) { log.Error(fmt.Sprintf(format, args...)) },
	}
}
