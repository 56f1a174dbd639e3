package netstack

import (
	"encoding/binary"
	"net/netip"
	"slices"
	"testing"
)

var (
	addrE = netip.MustParseAddr("100.96.0.1") // the device the filter is on
	addrA = netip.MustParseAddr("100.96.0.2")
	addrZ = netip.MustParseAddr("100.96.0.9") // in no rule
)

func ap(a netip.Addr, port uint16) netip.AddrPort { return netip.AddrPortFrom(a, port) }

// testFilter lets A reach E's TCP 7 and 20-29 and UDP 53, and ICMP to E;
// E may reach A's TCP 22 and 3389 and UDP 123, and any GRE (47) to A.
func testFilter() *Filter {
	return NewFilter(
		[]Rule{
			{Addr: addrE, Proto: ProtoTCP, PortLo: 7},
			{Addr: addrE, Proto: ProtoTCP, PortLo: 20, PortHi: 29},
			{Addr: addrE, Proto: ProtoUDP, PortLo: 53, PortHi: 53},
			{Addr: addrE, Proto: ProtoICMP},
			{Addr: netip.MustParseAddr("fd00::1"), Proto: ProtoTCP, PortLo: 1, PortHi: 65535},
		},
		[]Rule{
			{Addr: addrA, Proto: ProtoTCP, PortLo: 22, PortHi: 22},
			{Addr: addrA, Proto: ProtoTCP, PortLo: 3389, PortHi: 3389},
			{Addr: addrA, Proto: ProtoUDP, PortLo: 123, PortHi: 123},
			{Addr: addrA, Proto: 47},
		},
	)
}

const (
	syn    = tcpFlagSYN
	synAck = tcpFlagSYN | tcpFlagACK
	ack    = tcpFlagACK
)

func TestFilterMatch(t *testing.T) {
	f := testFilter()
	tests := []struct {
		name string
		pkt  []byte
		dir  direction
		want bool
	}{
		{"in tcp to allowed port", tcpPacket(ap(addrA, 40000), ap(addrE, 7), syn), dirIn, true},
		{"in tcp to closed port", tcpPacket(ap(addrA, 40000), ap(addrE, 8), syn), dirIn, false},
		{"in tcp range low edge", tcpPacket(ap(addrA, 40000), ap(addrE, 20), syn), dirIn, true},
		{"in tcp range high edge", tcpPacket(ap(addrA, 40000), ap(addrE, 29), syn), dirIn, true},
		{"in tcp below range", tcpPacket(ap(addrA, 40000), ap(addrE, 19), syn), dirIn, false},
		{"in tcp above range", tcpPacket(ap(addrA, 40000), ap(addrE, 30), syn), dirIn, false},
		{"in tcp to other address", tcpPacket(ap(addrA, 40000), ap(addrZ, 7), syn), dirIn, false},
		{"in udp to allowed port", udpPacket(ap(addrA, 5000), ap(addrE, 53), "q"), dirIn, true},
		{"in udp to tcp-only port", udpPacket(ap(addrA, 5000), ap(addrE, 7), "q"), dirIn, false},
		{"in icmp to allowed address", icmpEcho(addrA, addrE), dirIn, true},
		{"in icmp to other address", icmpEcho(addrA, addrZ), dirIn, false},
		{"in reply from dialled service", tcpPacket(ap(addrA, 22), ap(addrE, 40000), synAck), dirIn, true},
		{"in ack from dialled service", tcpPacket(ap(addrA, 3389), ap(addrE, 40000), ack), dirIn, true},
		{"in syn forged from dialled port", tcpPacket(ap(addrA, 22), ap(addrE, 40000), syn), dirIn, false},
		{"in udp reply from dialled service", udpPacket(ap(addrA, 123), ap(addrE, 40000), "t"), dirIn, true},
		{"in reply from undialled port", tcpPacket(ap(addrA, 23), ap(addrE, 40000), synAck), dirIn, false},
		{"out tcp to allowed service", tcpPacket(ap(addrE, 40000), ap(addrA, 22), syn), dirOut, true},
		{"out tcp to other port", tcpPacket(ap(addrE, 40000), ap(addrA, 21), syn), dirOut, false},
		{"out reply from our listener", tcpPacket(ap(addrE, 7), ap(addrA, 40000), synAck), dirOut, true},
		{"out syn from listener port", tcpPacket(ap(addrE, 7), ap(addrA, 40000), syn), dirOut, false},
		{"out icmp reply from our address", icmpEcho(addrE, addrA), dirOut, true},
		{"out gre to allowed address", ipv4Packet(addrE, addrA, 47, []byte{0, 0, 8, 0}), dirOut, true},
		{"out gre to other address", ipv4Packet(addrE, addrZ, 47, []byte{0, 0, 8, 0}), dirOut, false},
		{"out udp to allowed service", udpPacket(ap(addrE, 40000), ap(addrA, 123), "t"), dirOut, true},
		{"in inbound rule does not open outbound", tcpPacket(ap(addrA, 40000), ap(addrE, 7), syn), dirOut, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := f.match(tt.pkt, tt.dir); got != tt.want {
				t.Errorf("match() = %v, want %v", got, tt.want)
			}
			if got := (*Filter)(nil).match(tt.pkt, tt.dir); !got {
				t.Errorf("nil filter match() = false, want true for a well-formed packet")
			}
		})
	}
}

func TestFilterMalformed(t *testing.T) {
	good := tcpPacket(ap(addrA, 40000), ap(addrE, 7), syn)
	mutate := func(fn func([]byte) []byte) []byte { return fn(slices.Clone(good)) }
	tests := []struct {
		name string
		pkt  []byte
	}{
		{"empty", nil},
		{"shorter than an IPv4 header", good[:19]},
		{"IPv6", mutate(func(p []byte) []byte { p[0] = 0x60; return p })},
		{"IHL below 5", mutate(func(p []byte) []byte { p[0] = 0x44; return p })},
		{"IHL beyond packet", mutate(func(p []byte) []byte { p[0] = 0x4f; return p[:40] })},
		{"total length beyond packet", good[:len(good)-1]},
		{"total length below IHL", mutate(func(p []byte) []byte { binary.BigEndian.PutUint16(p[2:], 19); return p })},
		{"first fragment", mutate(func(p []byte) []byte { p[6] |= 0x20; return p })},
		{"later fragment", mutate(func(p []byte) []byte { p[7] = 1; return p })},
		{"truncated TCP header", mutate(func(p []byte) []byte {
			binary.BigEndian.PutUint16(p[2:], 39)
			return p[:39]
		})},
		{"truncated UDP header", udpPacket(ap(addrA, 1), ap(addrE, 53), "")[:27]},
		{"truncated UDP by total length", mutate(func(p []byte) []byte {
			p[9] = byte(ProtoUDP)
			binary.BigEndian.PutUint16(p[2:], 27)
			return p
		})},
		{"truncated ICMP header", icmpEcho(addrA, addrE)[:27]},
	}
	f := testFilter()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, dir := range []direction{dirIn, dirOut} {
				if f.match(tt.pkt, dir) {
					t.Errorf("match(dir %d) = true, want false", dir)
				}
				if (*Filter)(nil).match(tt.pkt, dir) {
					t.Errorf("nil filter match(dir %d) = true, want false", dir)
				}
			}
		})
	}
}

func TestFilterIPv4Options(t *testing.T) {
	base := tcpPacket(ap(addrA, 40000), ap(addrE, 7), syn)
	// Insert 4 bytes of options (NOPs... end of list) after the header.
	pkt := append(slices.Clone(base[:20]), 1, 1, 1, 0)
	pkt = append(pkt, base[20:]...)
	pkt[0] = 0x46
	binary.BigEndian.PutUint16(pkt[2:], uint16(len(pkt)))
	if !testFilter().match(pkt, dirIn) {
		t.Errorf("match(packet with options) = false, want true")
	}
	binary.BigEndian.PutUint16(pkt[24+2:], 8) // destination port 8
	if testFilter().match(pkt, dirIn) {
		t.Errorf("match(packet with options to port 8) = true, want false")
	}
}

func TestMergeRanges(t *testing.T) {
	got := mergeRanges([]portRange{{30, 40}, {1, 5}, {6, 10}, {35, 50}, {100, 100}, {65535, 65535}, {60000, 65535}})
	want := []portRange{{1, 10}, {30, 50}, {100, 100}, {60000, 65535}}
	if !slices.Equal(got, want) {
		t.Errorf("mergeRanges() = %v, want %v", got, want)
	}
}

func TestRulePortRange(t *testing.T) {
	f := NewFilter([]Rule{
		{Addr: addrE, Proto: ProtoTCP, PortLo: 0, PortHi: 65535},
		{Addr: netip.MustParseAddr("::ffff:100.96.0.2"), Proto: ProtoUDP, PortLo: 9},
	}, nil)
	for _, port := range []uint16{0, 1, 65535} {
		if !f.match(tcpPacket(ap(addrA, 1), ap(addrE, port), syn), dirIn) {
			t.Errorf("full range: match(port %d) = false, want true", port)
		}
	}
	if !f.match(udpPacket(ap(addrE, 1), ap(addrA, 9), ""), dirIn) {
		t.Errorf("4in6 rule address: match() = false, want true")
	}
	if f.match(udpPacket(ap(addrE, 1), ap(addrA, 10), ""), dirIn) {
		t.Errorf("PortHi < PortLo: match(port 10) = true, want false")
	}
}

func FuzzFilter(f *testing.F) {
	f.Add(tcpPacket(ap(addrA, 40000), ap(addrE, 7), syn), true)
	f.Add(tcpPacket(ap(addrA, 22), ap(addrE, 40000), synAck), true)
	f.Add(udpPacket(ap(addrE, 40000), ap(addrA, 123), "ntp"), false)
	f.Add(icmpEcho(addrA, addrE), true)
	f.Add(ipv4Packet(addrE, addrA, 47, []byte{0, 0, 8, 0}), false)
	f.Add([]byte{0x4f, 0, 0, 20}, true)
	f.Add([]byte{}, false)
	filter := testFilter()
	f.Fuzz(func(t *testing.T, pkt []byte, in bool) {
		dir := dirOut
		if in {
			dir = dirIn
		}
		got := filter.match(pkt, dir)
		if got && !(*Filter)(nil).match(pkt, dir) {
			t.Errorf("filter accepts a packet the nil filter rejects as malformed")
		}
	})
}

func BenchmarkFilterMatch(b *testing.B) {
	var in, out []Rule
	for i := range 1000 { // an engine with a thousand devices
		a := netip.AddrFrom4([4]byte{100, 96, byte(i >> 8), byte(i)})
		out = append(out, Rule{Addr: a, Proto: ProtoTCP, PortLo: 22}, Rule{Addr: a, Proto: ProtoTCP, PortLo: 3389})
	}
	in = append(in, Rule{Addr: addrE, Proto: ProtoTCP, PortLo: 443})
	f := NewFilter(in, out)
	pkt := tcpPacket(ap(netip.AddrFrom4([4]byte{100, 96, 2, 7}), 3389), ap(addrE, 40000), ack)
	b.SetBytes(int64(len(pkt)))
	for b.Loop() {
		if !f.match(pkt, dirIn) {
			b.Fatal("match() = false")
		}
	}
}
