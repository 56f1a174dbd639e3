package netstack

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestEchoBothWays(t *testing.T) {
	a := newTestDevice(t, "100.96.0.1")
	b := newTestDevice(t, "100.96.0.2")
	connect(t, a, b)
	serveEcho(t, a, "7")
	serveEcho(t, b, "7")

	echo(t, a, "100.96.0.2:7")
	echo(t, b, "100.96.0.1:7")

	for _, tc := range []struct{ self, other *Device }{{a, b}, {b, a}} {
		st, ok := tc.self.Peer(tc.other.PublicKey())
		if !ok {
			t.Fatalf("%s: Peer(%s) not found", tc.self.Address(), tc.other.Address())
		}
		if st.Endpoint != endpointOf(tc.other) {
			t.Errorf("%s: Endpoint = %v, want %v", tc.self.Address(), st.Endpoint, endpointOf(tc.other))
		}
		if st.LastHandshake.IsZero() || st.RxBytes == 0 || st.TxBytes == 0 {
			t.Errorf("%s: PeerStatus = %+v, want a handshake and traffic", tc.self.Address(), st)
		}
		s := tc.self.Stats()
		if s.InPackets == 0 || s.OutPackets == 0 || s.InBytes < 20*s.InPackets || s.OutBytes < 20*s.OutPackets {
			t.Errorf("%s: Stats = %+v, want packets both ways", tc.self.Address(), s)
		}
		if s.InDropped != 0 || s.OutDropped != 0 {
			t.Errorf("%s: Stats = %+v, want nothing dropped without a filter", tc.self.Address(), s)
		}
	}
}

func TestUDPEcho(t *testing.T) {
	a := newTestDevice(t, "100.96.0.1")
	b := newTestDevice(t, "100.96.0.2")
	connect(t, a, b)
	pc, err := b.ListenPacket("udp", "100.96.0.2:53")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	c, err := a.DialContext(context.Background(), "udp", "100.96.0.2:53")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("query")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 100)
	pc.SetReadDeadline(time.Now().Add(patience))
	n, from, err := pc.ReadFrom(buf)
	if err != nil || string(buf[:n]) != "query" {
		t.Fatalf("ReadFrom = %q, %v; want \"query\"", buf[:n], err)
	}
	if _, err := pc.WriteTo([]byte("answer"), from); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(patience))
	n, err = c.Read(buf)
	if err != nil || string(buf[:n]) != "answer" {
		t.Fatalf("Read = %q, %v; want \"answer\"", buf[:n], err)
	}
}

// TestDefaultBind uses wireguard-go's own bind (every interface, random
// port), which is what a zero Config.ListenAddr gives.
func TestDefaultBind(t *testing.T) {
	a := newDeviceWithKey(t, "100.96.0.1", mustKey(t), netip.AddrPort{})
	b := newTestDevice(t, "100.96.0.2")
	connect(t, a, b)
	serveEcho(t, b, "7")
	serveEcho(t, a, "7")
	echo(t, a, "100.96.0.2:7")
	echo(t, b, "100.96.0.1:7")
}

func TestSetPeersReplace(t *testing.T) {
	a := newTestDevice(t, "100.96.0.1")
	b := newTestDevice(t, "100.96.0.2")
	connect(t, a, b)
	serveEcho(t, b, "7")

	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	live, err := a.DialContext(ctx, "tcp", "100.96.0.2:7")
	if err != nil {
		t.Fatal(err)
	}
	defer live.Close()
	roundTrip(t, live, "before")
	before, _ := a.Peer(b.PublicKey())

	t.Run("unchanged peer keeps its session", func(t *testing.T) {
		setPeers(t, a, peerOf(b))
		roundTrip(t, live, "after an unchanged upsert")
		after, _ := a.Peer(b.PublicKey())
		if !after.LastHandshake.Equal(before.LastHandshake) {
			t.Errorf("LastHandshake = %v, want %v (no new handshake)", after.LastHandshake, before.LastHandshake)
		}
	})

	t.Run("removed peer is unreachable", func(t *testing.T) {
		setPeers(t, a)
		if got := a.Peers(); len(got) != 0 {
			t.Fatalf("Peers() = %v, want none", got)
		}
		mustNotConnect(t, a, "100.96.0.2:7")
	})

	t.Run("re-added peer is reachable", func(t *testing.T) {
		setPeers(t, a, peerOf(b))
		echo(t, a, "100.96.0.2:7")
	})
}

// TestRestartSameKey restarts a device with the same key on a new port;
// the engine learns the new endpoint through SetPeers and, because its
// peer entry has a keepalive, handshakes at once rather than after
// WireGuard's 15 s timers.
func TestRestartSameKey(t *testing.T) {
	e := newTestDevice(t, "100.96.0.1")
	keyA := mustKey(t)
	a := newDeviceWithKey(t, "100.96.0.2", keyA, netip.AddrPortFrom(loopback, 0))
	engineSide := func(d *Device) Peer {
		p := peerOf(d)
		p.PersistentKeepalive = 25 * time.Second
		return p
	}
	// a first: an initiation reaching a device that does not know the
	// initiator yet is dropped, and wireguard-go retries only after 5 s.
	setPeers(t, a, peerOf(e))
	setPeers(t, e, engineSide(a))
	serveEcho(t, a, "7")
	echo(t, e, "100.96.0.2:7")
	first, _ := e.Peer(a.PublicKey())

	a.Close()
	a2 := restartOnNewPort(t, keyA, a.ListenPort())
	// a2 does not know e's endpoint, so it cannot be the one to handshake.
	setPeers(t, a2, Peer{PublicKey: e.PublicKey(), AllowedIPs: []netip.Prefix{netip.MustParsePrefix("100.96.0.1/32")}})
	serveEcho(t, a2, "7")

	setPeers(t, e, engineSide(a2))
	eventually(t, "a handshake with the restarted device", func() bool {
		st, _ := e.Peer(a2.PublicKey())
		return st.LastHandshake.After(first.LastHandshake)
	})
	echo(t, e, "100.96.0.2:7")
	if st, _ := e.Peer(a2.PublicKey()); st.Endpoint != endpointOf(a2) {
		t.Errorf("Endpoint = %v, want %v", st.Endpoint, endpointOf(a2))
	}
}

func restartOnNewPort(t *testing.T, key Key, oldPort uint16) *Device {
	t.Helper()
	for range 5 {
		d := newDeviceWithKey(t, "100.96.0.2", key, netip.AddrPortFrom(loopback, 0))
		if d.ListenPort() != oldPort {
			return d
		}
		d.Close()
	}
	t.Fatal("the kernel kept handing out the old port")
	return nil
}

// TestEngineRestartHandshakes checks what the engine relies on after a
// restart: configuring a peer with a keepalive starts a handshake at once,
// without any traffic.
func TestEngineRestartHandshakes(t *testing.T) {
	e := newTestDevice(t, "100.96.0.1")
	a := newTestDevice(t, "100.96.0.2")
	setPeers(t, a, Peer{PublicKey: e.PublicKey(), AllowedIPs: []netip.Prefix{netip.MustParsePrefix("100.96.0.1/32")}})
	p := peerOf(a)
	p.PersistentKeepalive = 25 * time.Second
	setPeers(t, e, p)
	eventually(t, "a handshake", func() bool {
		st, _ := a.Peer(e.PublicKey())
		return !st.LastHandshake.IsZero()
	})
}

func TestSetPeersInvalid(t *testing.T) {
	d := newTestDevice(t, "100.96.0.1")
	other := mustKey(t).Public()
	tests := map[string][]Peer{
		"zero key":           {{}},
		"own key":            {{PublicKey: d.PublicKey()}},
		"duplicate":          {{PublicKey: other}, {PublicKey: other}},
		"negative keepalive": {{PublicKey: other, PersistentKeepalive: -time.Second}},
		"huge keepalive":     {{PublicKey: other, PersistentKeepalive: 100000 * time.Second}},
		"invalid prefix":     {{PublicKey: other, AllowedIPs: []netip.Prefix{{}}}},
		"endpoint no port":   {{PublicKey: other, Endpoint: netip.AddrPortFrom(loopback, 0)}},
	}
	for name, peers := range tests {
		t.Run(name, func(t *testing.T) {
			if err := d.SetPeers(peers); err == nil {
				t.Errorf("SetPeers() = nil, want an error")
			}
		})
	}
	if got := d.Peers(); len(got) != 0 {
		t.Errorf("Peers() = %v after rejected updates, want none", got)
	}
}

func TestPeerDiff(t *testing.T) {
	k1, k2, k3 := Key{1}, Key{2}, Key{3}
	ep1 := netip.MustParseAddrPort("127.0.0.1:1001")
	ep2 := netip.MustParseAddrPort("127.0.0.1:1002")
	ips := func(s string) []netip.Prefix { return []netip.Prefix{netip.MustParsePrefix(s)} }
	old := map[Key]Peer{
		k1: {PublicKey: k1, AllowedIPs: ips("100.96.0.1/32"), Endpoint: ep1},
		k2: {PublicKey: k2, AllowedIPs: ips("100.96.0.2/32")},
	}
	t.Run("same set writes nothing", func(t *testing.T) {
		if got := peerDiff(old, old, nil); got != "" {
			t.Errorf("peerDiff() = %q, want empty", got)
		}
	})
	t.Run("remove, add, update", func(t *testing.T) {
		next := map[Key]Peer{
			k2: {PublicKey: k2, AllowedIPs: ips("100.96.0.2/32"), PersistentKeepalive: 25 * time.Second},
			k3: {PublicKey: k3, AllowedIPs: ips("100.96.0.3/32"), Endpoint: ep2},
		}
		want := "public_key=" + k1.hex() + "\nremove=true\n" +
			"public_key=" + k2.hex() + "\nupdate_only=true\npersistent_keepalive_interval=25\n" +
			"public_key=" + k3.hex() + "\nendpoint=127.0.0.1:1002\nreplace_allowed_ips=true\nallowed_ip=100.96.0.3/32\n"
		if got := peerDiff(old, next, nil); got != want {
			t.Errorf("peerDiff() =\n%s\nwant\n%s", got, want)
		}
	})
	t.Run("moved endpoint re-creates the peer", func(t *testing.T) {
		next := map[Key]Peer{k1: {PublicKey: k1, AllowedIPs: ips("100.96.0.1/32"), Endpoint: ep2}, k2: old[k2]}
		want := "public_key=" + k1.hex() + "\nremove=true\n" +
			"public_key=" + k1.hex() + "\nendpoint=127.0.0.1:1002\nreplace_allowed_ips=true\nallowed_ip=100.96.0.1/32\n"
		if got := peerDiff(old, next, map[Key]netip.AddrPort{k1: ep1}); got != want {
			t.Errorf("peerDiff() =\n%s\nwant\n%s", got, want)
		}
		// Already there by roaming: nothing to do.
		if got := peerDiff(old, next, map[Key]netip.AddrPort{k1: ep2}); got != "" {
			t.Errorf("peerDiff(roamed) = %q, want empty", got)
		}
	})
}

func TestParseIpcState(t *testing.T) {
	text := "private_key=" + strings.Repeat("ab", 32) + "\nlisten_port=51820\n" +
		"public_key=" + Key{7}.hex() + "\npreshared_key=" + strings.Repeat("00", 32) + "\nprotocol_version=1\n" +
		"endpoint=127.0.0.1:4242\nlast_handshake_time_sec=1700000000\nlast_handshake_time_nsec=5\n" +
		"tx_bytes=10\nrx_bytes=20\npersistent_keepalive_interval=25\nallowed_ip=100.96.0.7/32\n" +
		"public_key=" + Key{8}.hex() + "\nlast_handshake_time_sec=0\nlast_handshake_time_nsec=0\n"
	st, err := parseIpcState(text)
	if err != nil {
		t.Fatal(err)
	}
	if st.listenPort != 51820 || len(st.peers) != 2 {
		t.Fatalf("parseIpcState() = %+v", st)
	}
	p := st.peers[0]
	if p.PublicKey != (Key{7}) || p.Endpoint != netip.MustParseAddrPort("127.0.0.1:4242") ||
		!p.LastHandshake.Equal(time.Unix(1700000000, 5)) || p.TxBytes != 10 || p.RxBytes != 20 ||
		p.keepalive != 25*time.Second || len(p.allowedIPs) != 1 {
		t.Errorf("peer 0 = %+v", p)
	}
	if !st.peers[1].LastHandshake.IsZero() {
		t.Errorf("peer 1 LastHandshake = %v, want zero", st.peers[1].LastHandshake)
	}
	if _, err := parseIpcState("public_key=zz\n"); err == nil {
		t.Error("parseIpcState(bad key) = nil error")
	}
}

func TestConfigInvalid(t *testing.T) {
	key := mustKey(t)
	tests := map[string]Config{
		"no key":       {Address: netip.MustParseAddr("100.96.0.1")},
		"no address":   {PrivateKey: key},
		"IPv6 address": {PrivateKey: key, Address: netip.MustParseAddr("fd00::1")},
		"tiny MTU":     {PrivateKey: key, Address: netip.MustParseAddr("100.96.0.1"), MTU: 100},
	}
	for name, cfg := range tests {
		t.Run(name, func(t *testing.T) {
			if d, err := New(cfg); err == nil {
				d.Close()
				t.Errorf("New() = nil error, want an error")
			}
		})
	}
}

func TestListenPortInUse(t *testing.T) {
	a := newTestDevice(t, "100.96.0.1")
	_, err := New(Config{PrivateKey: mustKey(t), Address: netip.MustParseAddr("100.96.0.2"), ListenAddr: endpointOf(a)})
	if err == nil {
		t.Fatal("New() on a bound port = nil error, want an error")
	}
}

func TestConfigLogValueRedacts(t *testing.T) {
	key := mustKey(t)
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("x", "config", Config{PrivateKey: key, Address: netip.MustParseAddr("100.96.0.1")})
	out := buf.String()
	if strings.Contains(out, key.String()) || strings.Contains(out, key.hex()) {
		t.Errorf("log = %s, contains the private key", out)
	}
	if !strings.Contains(out, key.Public().String()) {
		t.Errorf("log = %s, want the public key", out)
	}
}

func TestListenOwnAddressOnly(t *testing.T) {
	d := newTestDevice(t, "100.96.0.1")
	for _, addr := range []string{"100.96.0.2:7", "0.0.0.0:7", "127.0.0.1:7", "7", "x:7", ":99999"} {
		if l, err := d.Listen("tcp", addr); err == nil {
			l.Close()
			t.Errorf("Listen(%q) = nil error, want an error", addr)
		}
	}
	if _, err := d.Listen("udp", ":7"); err == nil {
		t.Error("Listen(udp) = nil error, want an error")
	}
	l, err := d.Listen("tcp4", "100.96.0.1:7")
	if err != nil {
		t.Fatalf("Listen(own address) = %v", err)
	}
	defer l.Close()
	if got := l.Addr().String(); got != "100.96.0.1:7" {
		t.Errorf("Addr() = %s, want 100.96.0.1:7", got)
	}
	pc, err := d.ListenPacket("udp", ":0")
	if err != nil {
		t.Fatalf("ListenPacket(:0) = %v", err)
	}
	pc.Close()
}

func TestDialInvalid(t *testing.T) {
	d := newTestDevice(t, "100.96.0.1")
	ctx := context.Background()
	for _, tc := range []struct{ network, addr string }{
		{"tcp6", "100.96.0.2:7"},
		{"unix", "100.96.0.2:7"},
		{"tcp", "host.example:7"},
		{"tcp", "[fd00::1]:7"},
		{"tcp", "100.96.0.2:0"},
	} {
		if c, err := d.DialContext(ctx, tc.network, tc.addr); err == nil {
			c.Close()
			t.Errorf("DialContext(%s, %s) = nil error, want an error", tc.network, tc.addr)
		}
	}
	done, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := d.DialContext(done, "tcp", "100.96.0.2:7"); err == nil {
		t.Error("DialContext(cancelled) = nil error, want an error")
	}
}

func TestDialRefused(t *testing.T) {
	a := newTestDevice(t, "100.96.0.1")
	b := newTestDevice(t, "100.96.0.2")
	connect(t, a, b)
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	_, err := a.DialContext(ctx, "tcp", "100.96.0.2:9")
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("DialContext(no listener) = %v, want ECONNREFUSED", err)
	}
	if want := "dial tcp 100.96.0.2:9: connection refused"; err.Error() != want {
		t.Errorf("error text = %q, want %q", err, want)
	}
}

func TestCloseIdempotent(t *testing.T) {
	d := newTestDevice(t, "100.96.0.1")
	l, err := d.Listen("tcp", ":7")
	if err != nil {
		t.Fatal(err)
	}
	accepted := make(chan error, 1)
	go func() {
		_, err := l.Accept()
		accepted <- err
	}()
	if err := d.Close(); err != nil {
		t.Fatalf("Close() = %v", err)
	}
	if err := d.Close(); err != nil {
		t.Fatalf("second Close() = %v", err)
	}
	if err := <-accepted; err == nil {
		t.Error("Accept() after Close = nil error, want an error")
	}
	l.Close()
}
