package netstack

import (
	"cmp"
	"encoding/binary"
	"net/netip"
	"slices"
	"strconv"
)

// Proto is an IP protocol number (IANA).
type Proto uint8

// The protocols a Rule usually names.
const (
	ProtoICMP Proto = 1
	ProtoTCP  Proto = 6
	ProtoUDP  Proto = 17
)

// String returns "icmp", "tcp", "udp" or the number.
func (p Proto) String() string {
	switch p {
	case ProtoICMP:
		return "icmp"
	case ProtoTCP:
		return "tcp"
	case ProtoUDP:
		return "udp"
	}
	return strconv.Itoa(int(p))
}

// hasPorts reports whether packets of p carry ports the filter looks at.
func (p Proto) hasPorts() bool {
	return p == ProtoTCP || p == ProtoUDP
}

// Rule lets one address (a /32) be reached on a protocol and an inclusive
// port range. Ports are compared for TCP and UDP only; for any other protocol
// (ICMP) the rule covers the whole protocol. PortHi < PortLo means the single
// port PortLo, so Rule{Addr: a, Proto: ProtoTCP, PortLo: 22} allows port 22.
// A rule whose Addr is not IPv4 matches nothing: the overlay is IPv4 only.
type Rule struct {
	Addr           netip.Addr
	Proto          Proto
	PortLo, PortHi uint16
}

// Filter decides which packets cross between the netstack and WireGuard.
// It is stateless and immutable after NewFilter, so one Filter may be shared
// by several devices and read concurrently without locks.
//
// A packet is let through if
//
//   - outbound (netstack to WireGuard): its (dst, proto, dst port) matches an
//     outbound rule, or its (src, proto, src port) matches an inbound rule
//     (a reply from one of our listeners);
//   - inbound (WireGuard to netstack): its (dst, proto, dst port) matches an
//     inbound rule, or its (src, proto, src port) matches an outbound rule
//     (a reply from a service we dialled).
//
// The reply clauses never let a TCP SYN without ACK through: a reply never
// opens a connection, so a peer cannot reach an arbitrary port of ours by
// choosing a source port we dial to. Non-IPv4 packets, malformed packets and
// IP fragments are always dropped (TCP never fragments under its MSS; UDP
// datagrams must fit the MTU).
type Filter struct {
	inbound  ruleSet
	outbound ruleSet
}

// ruleSet maps (IPv4 address, protocol) to the sorted, merged port ranges
// allowed on it; for protocols without ports the ranges are empty and the
// key's presence is the whole answer.
type ruleSet map[uint64][]portRange

type portRange struct{ lo, hi uint16 }

func ruleKey(addr uint32, proto Proto) uint64 {
	return uint64(addr)<<8 | uint64(proto)
}

// NewFilter builds a Filter from inbound rules (what may reach this device)
// and outbound rules (what this device may reach). The slices are not kept.
func NewFilter(inbound, outbound []Rule) *Filter {
	return &Filter{inbound: newRuleSet(inbound), outbound: newRuleSet(outbound)}
}

func newRuleSet(rules []Rule) ruleSet {
	set := make(ruleSet)
	for _, r := range rules {
		a := r.Addr.Unmap()
		if !a.Is4() {
			continue
		}
		k := ruleKey(binary.BigEndian.Uint32(a.AsSlice()), r.Proto)
		ranges := set[k]
		if r.Proto.hasPorts() {
			ranges = append(ranges, r.portRange())
		}
		set[k] = ranges
	}
	for k, ranges := range set {
		set[k] = mergeRanges(ranges)
	}
	return set
}

func (r Rule) portRange() portRange {
	if r.PortHi < r.PortLo {
		return portRange{r.PortLo, r.PortLo}
	}
	return portRange{r.PortLo, r.PortHi}
}

// mergeRanges sorts ranges and joins those that overlap or touch.
func mergeRanges(ranges []portRange) []portRange {
	if len(ranges) == 0 {
		return []portRange{}
	}
	slices.SortFunc(ranges, func(a, b portRange) int { return cmp.Compare(a.lo, b.lo) })
	out := ranges[:1]
	for _, r := range ranges[1:] {
		last := &out[len(out)-1]
		if uint32(r.lo) <= uint32(last.hi)+1 {
			last.hi = max(last.hi, r.hi)
			continue
		}
		out = append(out, r)
	}
	return slices.Clip(out)
}

// allows reports whether the set lets (addr, proto, port) through.
func (s ruleSet) allows(addr uint32, proto Proto, port uint16) bool {
	ranges, ok := s[ruleKey(addr, proto)]
	if !ok {
		return false
	}
	if !proto.hasPorts() {
		return true
	}
	i, _ := slices.BinarySearchFunc(ranges, port, func(r portRange, p uint16) int {
		return cmp.Compare(r.hi, p)
	})
	return i < len(ranges) && ranges[i].lo <= port
}

// direction says which way a packet crosses the filter.
type direction uint8

const (
	dirOut direction = iota // netstack to WireGuard
	dirIn                   // WireGuard to netstack
)

// match reports whether f lets pkt, a whole IPv4 packet, through in
// direction dir. A nil Filter lets every well-formed IPv4 packet through.
func (f *Filter) match(pkt []byte, dir direction) bool {
	h, ok := parseIPv4(pkt)
	if !ok {
		return false
	}
	if f == nil {
		return true
	}
	forward, reverse := f.outbound, f.inbound
	if dir == dirIn {
		forward, reverse = f.inbound, f.outbound
	}
	if forward.allows(h.dst, h.proto, h.dstPort) {
		return true
	}
	return !h.synOnly() && reverse.allows(h.src, h.proto, h.srcPort)
}

// header is what the filter needs of a packet.
type header struct {
	src, dst         uint32
	proto            Proto
	srcPort, dstPort uint16
	tcpFlags         uint8
}

const (
	tcpFlagSYN = 0x02
	tcpFlagACK = 0x10
)

func (h header) synOnly() bool {
	return h.proto == ProtoTCP && h.tcpFlags&(tcpFlagSYN|tcpFlagACK) == tcpFlagSYN
}

const (
	ipv4MinHeader = 20
	ipv4FlagMF    = 0x2000
	ipv4OffMask   = 0x1fff
)

// minTransport is the shortest transport header accepted per protocol.
func minTransport(p Proto) int {
	switch p {
	case ProtoTCP:
		return 20
	case ProtoUDP, ProtoICMP:
		return 8
	}
	return 0
}

// parseIPv4 decodes the IPv4 and transport headers of pkt. It fails on
// anything that is not a whole, unfragmented IPv4 packet whose transport
// header is complete.
func parseIPv4(pkt []byte) (header, bool) {
	if len(pkt) < ipv4MinHeader || pkt[0]>>4 != 4 {
		return header{}, false
	}
	ihl := int(pkt[0]&0x0f) * 4
	total := int(binary.BigEndian.Uint16(pkt[2:4]))
	if ihl < ipv4MinHeader || total < ihl || total > len(pkt) {
		return header{}, false
	}
	if frag := binary.BigEndian.Uint16(pkt[6:8]); frag&(ipv4FlagMF|ipv4OffMask) != 0 {
		return header{}, false
	}
	h := header{
		proto: Proto(pkt[9]),
		src:   binary.BigEndian.Uint32(pkt[12:16]),
		dst:   binary.BigEndian.Uint32(pkt[16:20]),
	}
	l4 := pkt[ihl:total]
	if len(l4) < minTransport(h.proto) {
		return header{}, false
	}
	if h.proto.hasPorts() {
		h.srcPort = binary.BigEndian.Uint16(l4[0:2])
		h.dstPort = binary.BigEndian.Uint16(l4[2:4])
	}
	if h.proto == ProtoTCP {
		h.tcpFlags = l4[13]
	}
	return h, true
}
