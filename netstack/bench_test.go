package netstack

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"testing"

	"golang.zx2c4.com/wireguard/conn"
	"golang.zx2c4.com/wireguard/device"
	wgnetstack "golang.zx2c4.com/wireguard/tun/netstack"
)

// BenchmarkThroughput pushes TCP bytes from A to B through the overlay,
// next to baselines measured in the same run: a stock wireguard-go netstack
// pair (no filter, no Device) and kernel loopback TCP.
func BenchmarkThroughput(b *testing.B) {
	b.Run("overlay/addr-bind", func(b *testing.B) {
		benchOverlay(b, netip.AddrPortFrom(loopback, 0), false)
	})
	b.Run("overlay/default-bind", func(b *testing.B) {
		benchOverlay(b, netip.AddrPort{}, false)
	})
	b.Run("overlay/filtered", func(b *testing.B) {
		benchOverlay(b, netip.AddrPortFrom(loopback, 0), true)
	})
	b.Run("baseline/stock-wireguard-netstack", benchStock)
	b.Run("baseline/kernel-loopback", func(b *testing.B) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		benchStream(b, l, func(ctx context.Context) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "tcp", l.Addr().String())
		})
	})
}

func benchOverlay(b *testing.B, listen netip.AddrPort, filtered bool) {
	a := newDeviceWithKey(b, "100.96.0.1", mustKey(b), listen)
	d := newDeviceWithKey(b, "100.96.0.2", mustKey(b), listen)
	connect(b, a, d)
	if filtered {
		a.SetFilter(NewFilter(nil, []Rule{{Addr: d.Address(), Proto: ProtoTCP, PortLo: 5001}}))
		d.SetFilter(NewFilter([]Rule{{Addr: d.Address(), Proto: ProtoTCP, PortLo: 5001}}, nil))
	}
	l, err := d.Listen("tcp", ":5001")
	if err != nil {
		b.Fatal(err)
	}
	benchStream(b, l, func(ctx context.Context) (net.Conn, error) {
		return a.DialContext(ctx, "tcp", "100.96.0.2:5001")
	})
}

// benchStream writes b.N chunks to a conn from dial; the listener's side
// discards them. The clock stops once the receiver has read everything.
func benchStream(b *testing.B, l net.Listener, dial func(context.Context) (net.Conn, error)) {
	defer l.Close()
	received := make(chan int64, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			received <- -1
			return
		}
		n, _ := io.Copy(io.Discard, c)
		c.Close()
		received <- n
	}()
	c, err := dial(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	chunk := make([]byte, 64<<10)
	b.SetBytes(int64(len(chunk)))
	b.ResetTimer()
	for range b.N {
		if _, err := c.Write(chunk); err != nil {
			b.Fatal(err)
		}
	}
	c.Close()
	if n := <-received; n != int64(b.N)*int64(len(chunk)) {
		b.Fatalf("received %d bytes, want %d", n, int64(b.N)*int64(len(chunk)))
	}
}

// benchStock is the same transfer between two bare wireguard-go devices on
// the stock netstack TUN and bind, configured by hand.
func benchStock(b *testing.B) {
	ka, kb := mustKey(b), mustKey(b)
	da, na := stockDevice(b, "100.96.0.1", ka)
	db, nb := stockDevice(b, "100.96.0.2", kb)
	stockPeer(b, da, kb.Public(), db, "100.96.0.2/32")
	stockPeer(b, db, ka.Public(), da, "100.96.0.1/32")
	dst := netip.MustParseAddrPort("100.96.0.2:5001")
	l, err := nb.ListenTCPAddrPort(dst)
	if err != nil {
		b.Fatal(err)
	}
	benchStream(b, l, func(ctx context.Context) (net.Conn, error) {
		return na.DialContextTCPAddrPort(ctx, dst)
	})
}

func stockDevice(b *testing.B, addr string, key Key) (*device.Device, *wgnetstack.Net) {
	tun, tnet, err := wgnetstack.CreateNetTUN([]netip.Addr{netip.MustParseAddr(addr)}, nil, DefaultMTU)
	if err != nil {
		b.Fatal(err)
	}
	dev := device.NewDevice(tun, conn.NewDefaultBind(), device.NewLogger(device.LogLevelSilent, ""))
	b.Cleanup(dev.Close)
	if err := dev.IpcSet("private_key=" + key.hex() + "\n"); err != nil {
		b.Fatal(err)
	}
	if err := dev.Up(); err != nil {
		b.Fatal(err)
	}
	return dev, tnet
}

func stockPeer(b *testing.B, dev *device.Device, pub Key, other *device.Device, allowed string) {
	text, err := other.IpcGet()
	if err != nil {
		b.Fatal(err)
	}
	st, err := parseIpcState(text)
	if err != nil {
		b.Fatal(err)
	}
	uapi := fmt.Sprintf("public_key=%s\nendpoint=127.0.0.1:%d\nallowed_ip=%s\n", pub.hex(), st.listenPort, allowed)
	if err := dev.IpcSet(uapi); err != nil {
		b.Fatal(err)
	}
}
