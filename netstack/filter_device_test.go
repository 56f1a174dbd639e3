package netstack

import (
	"net/netip"
	"testing"
)

// TestFilterOnDevice runs B with a filter that admits TCP 7 inbound and
// lets B reach A's TCP 9 outbound.
func TestFilterOnDevice(t *testing.T) {
	a := newTestDevice(t, "100.96.0.1")
	b := newTestDevice(t, "100.96.0.2")
	connect(t, a, b)
	b.SetFilter(NewFilter(
		[]Rule{{Addr: b.Address(), Proto: ProtoTCP, PortLo: 7}},
		[]Rule{{Addr: a.Address(), Proto: ProtoTCP, PortLo: 9}},
	))
	serveEcho(t, b, "7")
	closedB := serveEcho(t, b, "8")
	serveEcho(t, a, "9")
	serveEcho(t, a, "10")

	t.Run("inbound allowed port", func(t *testing.T) {
		echo(t, a, "100.96.0.2:7")
	})
	t.Run("inbound other port dropped", func(t *testing.T) {
		before := b.Stats().InDropped
		mustNotConnect(t, a, "100.96.0.2:8")
		eventually(t, "B to count the dropped SYN", func() bool { return b.Stats().InDropped > before })
		if n := closedB.acceptedCount(); n != 0 {
			t.Errorf("B:8 accepted %d connections, want 0", n)
		}
	})
	t.Run("outbound allowed port and its replies", func(t *testing.T) {
		echo(t, b, "100.96.0.1:9")
	})
	t.Run("outbound other port dropped", func(t *testing.T) {
		before := b.Stats().OutDropped
		mustNotConnect(t, b, "100.96.0.1:10")
		if got := b.Stats().OutDropped; got <= before {
			t.Errorf("OutDropped = %d, want more than %d", got, before)
		}
	})
	t.Run("forged SYN from an allowed source port dropped", func(t *testing.T) {
		// A claims to answer from port 9 (which B may dial) to reach B:8.
		before := b.Stats().InDropped
		a.injectOutbound(t, tcpPacket(netip.MustParseAddrPort("100.96.0.1:9"), netip.MustParseAddrPort("100.96.0.2:8"), tcpFlagSYN))
		// Packets on one session arrive in order: once this echo is back,
		// the forged SYN has been judged.
		echo(t, a, "100.96.0.2:7")
		if got := b.Stats().InDropped; got <= before {
			t.Errorf("InDropped = %d, want more than %d", got, before)
		}
		if n := closedB.acceptedCount(); n != 0 {
			t.Errorf("B:8 accepted %d connections, want 0", n)
		}
	})
	t.Run("nil filter allows all again", func(t *testing.T) {
		b.SetFilter(nil)
		echo(t, a, "100.96.0.2:8")
	})
}
