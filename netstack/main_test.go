package netstack

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// Bounds for waits that must succeed; they are never asserted on.
const (
	patience = 10 * time.Second
	// refusal is how long a dial that must fail is given. The test then
	// checks a counter to learn why it failed, so a slow machine cannot
	// turn a pass into a false failure, only a failure into a slower one.
	refusal = 300 * time.Millisecond
)

var loopback = netip.MustParseAddr("127.0.0.1")

func testLogger(t testing.TB) *slog.Logger {
	if _, ok := t.(*testing.B); ok {
		return nil
	}
	level := slog.LevelInfo
	if os.Getenv("WARREN_NETSTACK_DEBUG") != "" {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: level}))
}

func mustKey(t testing.TB) Key {
	t.Helper()
	k, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// newTestDevice starts a device on 127.0.0.1 with a fresh key; it is closed
// when the test ends.
func newTestDevice(t testing.TB, addr string) *Device {
	t.Helper()
	return newDeviceWithKey(t, addr, mustKey(t), netip.AddrPortFrom(loopback, 0))
}

func newDeviceWithKey(t testing.TB, addr string, key Key, listen netip.AddrPort) *Device {
	t.Helper()
	d, err := New(Config{
		PrivateKey: key,
		Address:    netip.MustParseAddr(addr),
		ListenAddr: listen,
		Logger:     testLogger(t),
	})
	if err != nil {
		t.Fatalf("New(%s) = %v", addr, err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

func endpointOf(d *Device) netip.AddrPort {
	return netip.AddrPortFrom(loopback, d.ListenPort())
}

// peerOf is the peer entry others use for d: its /32 at its endpoint.
func peerOf(d *Device) Peer {
	return Peer{
		PublicKey:  d.PublicKey(),
		AllowedIPs: []netip.Prefix{netip.PrefixFrom(d.Address(), 32)},
		Endpoint:   endpointOf(d),
	}
}

func setPeers(t testing.TB, d *Device, peers ...Peer) {
	t.Helper()
	if err := d.SetPeers(peers); err != nil {
		t.Fatalf("SetPeers = %v", err)
	}
}

// connect peers a and b with each other.
func connect(t testing.TB, a, b *Device) {
	t.Helper()
	setPeers(t, a, peerOf(b))
	setPeers(t, b, peerOf(a))
}

// echoServer echoes every TCP connection on one port of a device.
type echoServer struct {
	l        net.Listener
	wg       sync.WaitGroup
	mu       sync.Mutex
	conns    []net.Conn // guarded by mu
	accepted int        // guarded by mu
}

func serveEcho(t testing.TB, d *Device, port string) *echoServer {
	t.Helper()
	l, err := d.Listen("tcp", ":"+port)
	if err != nil {
		t.Fatalf("Listen(:%s) = %v", port, err)
	}
	s := &echoServer{l: l}
	s.wg.Add(1)
	go s.acceptLoop()
	t.Cleanup(s.close)
	return s
}

func (s *echoServer) acceptLoop() {
	defer s.wg.Done()
	for {
		c, err := s.l.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.conns = append(s.conns, c)
		s.accepted++
		s.mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			io.Copy(c, c)
			c.Close()
		}()
	}
}

func (s *echoServer) acceptedCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.accepted
}

func (s *echoServer) close() {
	s.l.Close()
	s.mu.Lock()
	for _, c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// echo dials addr from d, sends a message and checks it comes back.
func echo(t testing.TB, d *Device, addr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		t.Fatalf("DialContext(%s) from %s = %v", addr, d.Address(), err)
	}
	defer c.Close()
	roundTrip(t, c, "hello from "+d.Address().String())
}

func roundTrip(t testing.TB, c net.Conn, msg string) {
	t.Helper()
	c.SetDeadline(time.Now().Add(patience))
	if _, err := io.WriteString(c, msg); err != nil {
		t.Fatalf("Write = %v", err)
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatalf("ReadFull = %v", err)
	}
	if string(got) != msg {
		t.Fatalf("echo = %q, want %q", got, msg)
	}
}

// mustNotConnect dials addr from d and expects the dial to fail.
func mustNotConnect(t testing.TB, d *Device, addr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), refusal)
	defer cancel()
	c, err := d.DialContext(ctx, "tcp", addr)
	if err == nil {
		c.Close()
		t.Fatalf("DialContext(%s) from %s succeeded, want failure", addr, d.Address())
	}
	// Dropped packets get no answer at all: the dial must time out, not
	// be refused.
	if !errors.Is(err, context.DeadlineExceeded) || !isTimeout(err) {
		t.Fatalf("DialContext(%s) = %v, want a timeout", addr, err)
	}
}

// eventually polls cond until it holds or patience runs out.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(patience)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond) // polling interval, not synchronisation
	}
}
