package netstack

import (
	"sync/atomic"

	"golang.zx2c4.com/wireguard/tun"
)

// Stats counts the packets that crossed the filter (the In/Out counters,
// bytes being whole IP packets) and those it dropped. In is from WireGuard
// to the netstack, Out the other way.
type Stats struct {
	InPackets, InBytes, OutPackets, OutBytes uint64
	InDropped, OutDropped                    uint64
}

// counters is the live form of Stats.
type counters struct {
	inPackets, inBytes, outPackets, outBytes atomic.Uint64
	inDropped, outDropped                    atomic.Uint64
}

func (c *counters) snapshot() Stats {
	return Stats{
		InPackets:  c.inPackets.Load(),
		InBytes:    c.inBytes.Load(),
		OutPackets: c.outPackets.Load(),
		OutBytes:   c.outBytes.Load(),
		InDropped:  c.inDropped.Load(),
		OutDropped: c.outDropped.Load(),
	}
}

// add records one batch: a few atomic adds per batch, not per packet.
func (c *counters) add(dir direction, packets, bytes, dropped int) {
	pk, by, dr := &c.outPackets, &c.outBytes, &c.outDropped
	if dir == dirIn {
		pk, by, dr = &c.inPackets, &c.inBytes, &c.inDropped
	}
	if packets > 0 {
		pk.Add(uint64(packets))
		by.Add(uint64(bytes))
	}
	if dropped > 0 {
		dr.Add(uint64(dropped))
	}
}

// filterTUN wraps the netstack's tun.Device and applies the Filter to every
// packet: Read carries packets from the netstack to WireGuard, Write from
// WireGuard to the netstack.
type filterTUN struct {
	tun.Device
	filter atomic.Pointer[Filter] // nil: every well-formed IPv4 packet
	stats  counters

	// inject carries raw packets that Read hands to WireGuard as if the
	// netstack had sent them, bypassing the filter. Tests use it (through
	// Device.injectOutbound) to forge packets the netstack would never send.
	inject chan []byte
}

var _ tun.Device = (*filterTUN)(nil)

func newFilterTUN(inner tun.Device) *filterTUN {
	return &filterTUN{Device: inner, inject: make(chan []byte, 16)}
}

// Read returns the next packets the filter lets out. It never returns an
// empty batch without an error: a batch that was all dropped is read again.
func (t *filterTUN) Read(bufs [][]byte, sizes []int, offset int) (int, error) {
	for {
		if n := t.readInjected(bufs, sizes, offset); n > 0 {
			return n, nil
		}
		n, err := t.Device.Read(bufs, sizes, offset)
		if n = t.filterRead(bufs[:n], sizes, offset); n > 0 || err != nil {
			return n, err
		}
	}
}

func (t *filterTUN) readInjected(bufs [][]byte, sizes []int, offset int) int {
	n := 0
	for n < len(bufs) {
		select {
		case pkt := <-t.inject:
			sizes[n] = copy(bufs[n][offset:], pkt)
			n++
		default:
			return n
		}
	}
	return n
}

// filterRead compacts the batch to the packets the filter accepts and
// returns how many there are. It copies bytes rather than swapping the
// slices in bufs: wireguard-go ties bufs[i] to its own element i.
func (t *filterTUN) filterRead(bufs [][]byte, sizes []int, offset int) int {
	f := t.filter.Load()
	kept, bytes := 0, 0
	for i := range bufs {
		size := sizes[i]
		pkt := bufs[i][offset : offset+size]
		if !f.match(pkt, dirOut) {
			continue
		}
		if kept != i {
			copy(bufs[kept][offset:], pkt)
			sizes[kept] = size
		}
		kept++
		bytes += size
	}
	t.stats.add(dirOut, kept, bytes, len(bufs)-kept)
	return kept
}

// Write hands the packets the filter accepts to the netstack. Dropped
// packets count as written. It may be called from several goroutines at
// once (one per peer), so it shares no scratch space.
func (t *filterTUN) Write(bufs [][]byte, offset int) (int, error) {
	f := t.filter.Load()
	var kept [][]byte // nil until the first drop; then the accepted packets
	bytes := 0
	for i, b := range bufs {
		if f.match(b[offset:], dirIn) {
			bytes += len(b) - offset
			if kept != nil {
				kept = append(kept, b)
			}
			continue
		}
		if kept == nil {
			kept = append(make([][]byte, 0, len(bufs)), bufs[:i]...)
		}
	}
	if kept == nil {
		kept = bufs
	}
	dropped := len(bufs) - len(kept)
	t.stats.add(dirIn, len(kept), bytes, dropped)
	if len(kept) == 0 {
		return dropped, nil
	}
	n, err := t.Device.Write(kept, offset)
	return n + dropped, err
}
