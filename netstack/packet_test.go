package netstack

import (
	"encoding/binary"
	"net/netip"
	"testing"
)

// injectOutbound hands pkt to d's WireGuard as if d's netstack had sent it,
// bypassing the filter: the way to forge what a hostile peer could send.
func (d *Device) injectOutbound(t testing.TB, pkt []byte) {
	t.Helper()
	d.tun.inject <- pkt
	// The tun reader may be blocked in the netstack's Read; make the
	// netstack send something so it returns and picks up the injected
	// packet. The wake-up datagram goes to TEST-NET-1, which no peer
	// routes, so WireGuard drops it.
	c, err := d.stack.dialUDP(netip.AddrPortFrom(d.addr, 0), netip.MustParseAddrPort("192.0.2.1:9"))
	if err != nil {
		t.Fatalf("waking the tun reader: %v", err)
	}
	defer c.Close()
	if _, err := c.Write([]byte{0}); err != nil {
		t.Fatalf("waking the tun reader: %v", err)
	}
}

// ipv4Packet builds an IPv4 packet around a transport header and payload,
// with valid IPv4 and transport checksums.
func ipv4Packet(src, dst netip.Addr, proto Proto, l4 []byte) []byte {
	pkt := make([]byte, 20+len(l4))
	pkt[0] = 0x45
	binary.BigEndian.PutUint16(pkt[2:], uint16(len(pkt)))
	pkt[8] = 64
	pkt[9] = byte(proto)
	copy(pkt[12:16], src.AsSlice())
	copy(pkt[16:20], dst.AsSlice())
	binary.BigEndian.PutUint16(pkt[10:], checksum(pkt[:20], 0))
	copy(pkt[20:], l4)
	if off := transportChecksumOffset(proto); off >= 0 && len(l4) >= off+2 {
		pseudo := pseudoHeaderSum(src, dst, proto, len(l4))
		binary.BigEndian.PutUint16(pkt[20+off:], checksum(pkt[20:], pseudo))
	}
	return pkt
}

func transportChecksumOffset(p Proto) int {
	switch p {
	case ProtoTCP:
		return 16
	case ProtoUDP:
		return 6
	case ProtoICMP:
		return 2
	}
	return -1
}

func pseudoHeaderSum(src, dst netip.Addr, proto Proto, length int) uint32 {
	if proto == ProtoICMP {
		return 0
	}
	var sum uint32
	for _, a := range [][]byte{src.AsSlice(), dst.AsSlice()} {
		sum += uint32(binary.BigEndian.Uint16(a[0:2])) + uint32(binary.BigEndian.Uint16(a[2:4]))
	}
	return sum + uint32(proto) + uint32(length)
}

func checksum(b []byte, sum uint32) uint16 {
	for ; len(b) >= 2; b = b[2:] {
		sum += uint32(binary.BigEndian.Uint16(b))
	}
	if len(b) == 1 {
		sum += uint32(b[0]) << 8
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	return ^uint16(sum)
}

func udpPacket(src, dst netip.AddrPort, payload string) []byte {
	l4 := make([]byte, 8+len(payload))
	binary.BigEndian.PutUint16(l4[0:], src.Port())
	binary.BigEndian.PutUint16(l4[2:], dst.Port())
	binary.BigEndian.PutUint16(l4[4:], uint16(len(l4)))
	copy(l4[8:], payload)
	return ipv4Packet(src.Addr(), dst.Addr(), ProtoUDP, l4)
}

func tcpPacket(src, dst netip.AddrPort, flags uint8) []byte {
	l4 := make([]byte, 20)
	binary.BigEndian.PutUint16(l4[0:], src.Port())
	binary.BigEndian.PutUint16(l4[2:], dst.Port())
	binary.BigEndian.PutUint32(l4[4:], 1000) // sequence number
	l4[12] = 5 << 4                          // data offset: 5 words
	l4[13] = flags
	binary.BigEndian.PutUint16(l4[14:], 65535) // window
	return ipv4Packet(src.Addr(), dst.Addr(), ProtoTCP, l4)
}

func icmpEcho(src, dst netip.Addr) []byte {
	l4 := []byte{8, 0, 0, 0, 0, 1, 0, 1}
	return ipv4Packet(src, dst, ProtoICMP, l4)
}
