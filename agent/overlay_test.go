package agent

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/warrenhq/warren/netstack"
)

var (
	engineIP = netip.MustParseAddr("100.96.0.1")
	agentIP  = netip.MustParseAddr("100.96.0.2")
	loopback = netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), 0)
)

// testLogger logs to the test's output at Debug.
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func newKey(t *testing.T) netstack.Key {
	t.Helper()
	k, err := netstack.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// newDevice starts a real netstack device on loopback UDP.
func newDevice(t *testing.T, key netstack.Key, ip netip.Addr) *netstack.Device {
	t.Helper()
	dev, err := netstack.New(netstack.Config{PrivateKey: key, Address: ip, ListenAddr: loopback})
	if err != nil {
		t.Fatalf("netstack.New: %v", err)
	}
	t.Cleanup(func() { dev.Close() })
	return dev
}

func peerOf(key netstack.Key, ip netip.Addr, endpoint netip.AddrPort) netstack.Peer {
	return netstack.Peer{
		PublicKey:  key.Public(),
		AllowedIPs: []netip.Prefix{netip.PrefixFrom(ip, 32)},
		Endpoint:   endpoint,
	}
}

// newDevicePair returns an agent-side and an engine-side device peered with
// each other over loopback UDP.
func newDevicePair(t *testing.T) (agentDev, engineDev *netstack.Device) {
	t.Helper()
	ak, ek := newKey(t), newKey(t)
	agentDev = newDevice(t, ak, agentIP)
	engineDev = newDevice(t, ek, engineIP)
	if err := agentDev.SetPeers([]netstack.Peer{peerOf(ek, engineIP, udpAddr(engineDev))}); err != nil {
		t.Fatal(err)
	}
	if err := engineDev.SetPeers([]netstack.Peer{peerOf(ak, agentIP, udpAddr(agentDev))}); err != nil {
		t.Fatal(err)
	}
	return agentDev, engineDev
}

func udpAddr(d *netstack.Device) netip.AddrPort {
	return netip.AddrPortFrom(loopback.Addr(), d.ListenPort())
}

// testCtx is a context that ends with the test; the deadline only turns a
// hang into a failure.
func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// finalTarget is a host-side TCP server that reads everything a client sends
// until EOF, then answers "got:<data>" and closes: it only answers if the
// client's half-close reached it.
func finalTarget(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { ln.Close(); <-done })
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			data, _ := io.ReadAll(c)
			c.Write(append([]byte("got:"), data...))
			c.Close()
		}
	}()
	return ln.Addr().String()
}

// deadAddr is a loopback TCP address nothing listens on.
func deadAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// roundTrip dials addr through dev, sends msg, half-closes and returns all
// it reads back until EOF.
func roundTrip(ctx context.Context, dev *netstack.Device, addr, msg string) (string, error) {
	c, err := dev.DialContext(ctx, "tcp", addr)
	if err != nil {
		return "", err
	}
	defer c.Close()
	if _, err := io.WriteString(c, msg); err != nil {
		return "", err
	}
	if err := c.(interface{ CloseWrite() error }).CloseWrite(); err != nil {
		return "", err
	}
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	data, err := io.ReadAll(c)
	if err != nil && !errors.Is(err, net.ErrClosed) {
		return string(data), err
	}
	return string(data), ctx.Err()
}
