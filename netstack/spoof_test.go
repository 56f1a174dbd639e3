package netstack

import (
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"
)

// hub is an engine E with two agents A and B, each peered only with E.
type hub struct{ e, a, b *Device }

func newHub(t *testing.T) hub {
	h := hub{
		e: newTestDevice(t, "100.96.0.1"),
		a: newTestDevice(t, "100.96.0.2"),
		b: newTestDevice(t, "100.96.0.3"),
	}
	setPeers(t, h.a, peerOf(h.e))
	setPeers(t, h.b, peerOf(h.e))
	setPeers(t, h.e, peerOf(h.a), peerOf(h.b))
	return h
}

// TestSpoofedSourceDropped forges, on A, a packet with B's source address:
// WireGuard on E must drop it (cryptokey routing) before E's netstack sees it.
func TestSpoofedSourceDropped(t *testing.T) {
	h := newHub(t)
	pc, err := h.e.ListenPacket("udp", ":5000")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	dst := netip.MustParseAddrPort("100.96.0.1:5000")
	before := h.e.Stats().InPackets

	h.a.injectOutbound(t, udpPacket(netip.MustParseAddrPort("100.96.0.3:1000"), dst, "spoofed"))
	h.a.injectOutbound(t, udpPacket(netip.MustParseAddrPort("100.96.0.2:1000"), dst, "genuine"))

	// Both travel in order on A's one session with E, so once the genuine
	// datagram is here the spoofed one has been judged.
	buf := make([]byte, 100)
	pc.SetReadDeadline(time.Now().Add(patience))
	n, from, err := pc.ReadFrom(buf)
	if err != nil {
		t.Fatalf("ReadFrom = %v", err)
	}
	if got := string(buf[:n]); got != "genuine" || from.String() != "100.96.0.2:1000" {
		t.Fatalf("ReadFrom = %q from %v, want \"genuine\" from 100.96.0.2:1000", got, from)
	}
	if got := h.e.Stats().InPackets - before; got != 1 {
		t.Errorf("E's netstack received %d packets, want 1 (the genuine one)", got)
	}
	pc.SetReadDeadline(time.Now()) // already past: only reports what is queued
	if n, from, err := pc.ReadFrom(buf); !isTimeout(err) {
		t.Errorf("second ReadFrom = %q from %v, %v; want nothing queued", buf[:n], from, err)
	}
}

// TestAgentsCannotReachEachOther gives A a hostile config that routes the
// whole overlay to E: A's packets to B reach E's netstack, which does not
// forward them, and B receives nothing.
func TestAgentsCannotReachEachOther(t *testing.T) {
	h := newHub(t)
	serveEcho(t, h.b, "7")

	t.Run("no route on A", func(t *testing.T) {
		mustNotConnect(t, h.a, "100.96.0.3:7")
	})
	t.Run("E does not forward", func(t *testing.T) {
		hostile := peerOf(h.e)
		hostile.AllowedIPs = []netip.Prefix{netip.MustParsePrefix("100.96.0.0/12")}
		setPeers(t, h.a, hostile)
		before := h.e.Stats().InPackets
		mustNotConnect(t, h.a, "100.96.0.3:7")
		eventually(t, "E's netstack to receive A's SYN", func() bool { return h.e.Stats().InPackets > before })
	})
	if s := h.b.Stats(); s.InPackets != 0 {
		t.Errorf("B's Stats = %+v, want no packets in", s)
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
