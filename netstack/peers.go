package netstack

import (
	"bufio"
	"cmp"
	"errors"
	"fmt"
	"maps"
	"math"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Peer is the configuration of one WireGuard peer.
type Peer struct {
	PublicKey Key
	// AllowedIPs are the inner source addresses accepted from the peer and
	// the destinations routed to it; normally its one /32.
	AllowedIPs []netip.Prefix
	// Endpoint is the peer's UDP address; zero means unknown (the peer must
	// contact us first, and we follow it when it roams).
	Endpoint netip.AddrPort
	// PersistentKeepalive sends a keepalive after this much idle time,
	// rounded up to whole seconds; 0 is off.
	PersistentKeepalive time.Duration
}

// PeerStatus is the live state of a peer as wireguard-go reports it.
type PeerStatus struct {
	PublicKey     Key
	Endpoint      netip.AddrPort // current endpoint (zero if none)
	LastHandshake time.Time      // zero if never
	RxBytes       uint64
	TxBytes       uint64
}

// maxKeepalive is the largest interval the uapi accepts (a uint16 of seconds).
const maxKeepalive = math.MaxUint16 * time.Second

// SetPeers replaces the whole peer set with peers, in one uapi operation.
//
// It applies the difference to the current set: peers absent from peers are
// removed, new ones added, changed ones updated in place. A peer given again
// unchanged is left alone and keeps its session, so calling SetPeers with
// the same set is free.
//
// Giving a peer a PersistentKeepalive it did not have (this includes every
// new peer that has one) makes wireguard-go send a keepalive at once, which
// starts a handshake with the peer's Endpoint. The engine relies on this to
// re-handshake with every known endpoint after a restart.
//
// Changing the Endpoint of a known peer to an address that is neither the
// old configured one nor where wireguard-go currently reaches the peer
// (it follows roaming peers) re-creates the peer: its old session is
// dropped, so the next packet, or the keepalive when PersistentKeepalive is
// set, starts a handshake with the new endpoint at once instead of after
// WireGuard's 15 s retry timers. Push a new endpoint only when the peer
// really moved (it restarted on a new port), never a stale one read back
// from the database. A zero Endpoint never clears a known one.
//
// On error nothing is guaranteed about which peers were applied; the
// device's view of its set is re-read from wireguard-go, so a later SetPeers
// converges.
func (d *Device) SetPeers(peers []Peer) error {
	next, err := d.normalizePeers(peers)
	if err != nil {
		return fmt.Errorf("setting peers: %w", err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	var current map[Key]netip.AddrPort
	if endpointChanged(d.peers, next) {
		if current, err = d.currentEndpoints(); err != nil {
			return fmt.Errorf("setting peers: %w", err)
		}
	}
	if uapi := peerDiff(d.peers, next, current); uapi != "" {
		if err := d.wg.IpcSet(uapi); err != nil {
			d.resyncLocked()
			return fmt.Errorf("setting peers: %w", err)
		}
	}
	d.peers = next
	return nil
}

// normalizePeers validates peers and returns them keyed, with allowed IPs
// masked, sorted and unique, endpoints unmapped and keepalives in seconds.
func (d *Device) normalizePeers(peers []Peer) (map[Key]Peer, error) {
	out := make(map[Key]Peer, len(peers))
	for _, p := range peers {
		if err := d.checkPeer(p); err != nil {
			return nil, fmt.Errorf("peer %s: %w", p.PublicKey, err)
		}
		if _, dup := out[p.PublicKey]; dup {
			return nil, fmt.Errorf("peer %s: listed twice", p.PublicKey)
		}
		out[p.PublicKey] = normalizePeer(p)
	}
	return out, nil
}

func (d *Device) checkPeer(p Peer) error {
	switch {
	case p.PublicKey.IsZero():
		return errors.New("public key is not set")
	case p.PublicKey == d.pub:
		return errors.New("public key is this device's own")
	case p.PersistentKeepalive < 0 || p.PersistentKeepalive > maxKeepalive:
		return fmt.Errorf("persistent keepalive %v is outside [0, %v]", p.PersistentKeepalive, maxKeepalive)
	case p.Endpoint != (netip.AddrPort{}) && (!p.Endpoint.Addr().IsValid() || p.Endpoint.Port() == 0):
		return fmt.Errorf("endpoint %v needs an address and a port", p.Endpoint)
	}
	for _, pfx := range p.AllowedIPs {
		if !pfx.IsValid() {
			return fmt.Errorf("allowed ip %v is not a valid prefix", pfx)
		}
	}
	return nil
}

func normalizePeer(p Peer) Peer {
	allowed := make([]netip.Prefix, 0, len(p.AllowedIPs))
	for _, pfx := range p.AllowedIPs {
		allowed = append(allowed, netip.PrefixFrom(pfx.Addr().Unmap(), pfx.Bits()).Masked())
	}
	slices.SortFunc(allowed, comparePrefix)
	p.AllowedIPs = slices.Compact(allowed)
	p.Endpoint = unmapAddrPort(p.Endpoint)
	if !p.Endpoint.Addr().IsValid() {
		p.Endpoint = netip.AddrPort{}
	}
	secs := (p.PersistentKeepalive + time.Second - 1) / time.Second
	p.PersistentKeepalive = secs * time.Second
	return p
}

func comparePrefix(a, b netip.Prefix) int {
	if c := a.Addr().Compare(b.Addr()); c != 0 {
		return c
	}
	return cmp.Compare(a.Bits(), b.Bits())
}

// endpointChanged reports whether a known peer is given a new endpoint.
func endpointChanged(old, next map[Key]Peer) bool {
	for k, p := range next {
		if o, ok := old[k]; ok && p.Endpoint.IsValid() && p.Endpoint != o.Endpoint {
			return true
		}
	}
	return false
}

// peerDiff returns the uapi text that turns old into next; current holds
// where wireguard-go reaches each peer now (needed only when an endpoint
// changed). Keys are visited in order so the text is deterministic.
func peerDiff(old, next map[Key]Peer, current map[Key]netip.AddrPort) string {
	var b strings.Builder
	for _, k := range sortedKeys(old) {
		if _, ok := next[k]; !ok {
			writeRemove(&b, k)
		}
	}
	for _, k := range sortedKeys(next) {
		p := next[k]
		o, had := old[k]
		switch {
		case !had:
			writeNewPeer(&b, p)
		case p.Endpoint.IsValid() && p.Endpoint != o.Endpoint && p.Endpoint != current[k]:
			writeRemove(&b, k)
			writeNewPeer(&b, p)
		default:
			writePeerUpdate(&b, o, p)
		}
	}
	return b.String()
}

func sortedKeys(m map[Key]Peer) []Key {
	return slices.SortedFunc(maps.Keys(m), func(a, b Key) int { return slices.Compare(a[:], b[:]) })
}

func writeRemove(b *strings.Builder, k Key) {
	fmt.Fprintf(b, "public_key=%s\nremove=true\n", k.hex())
}

// writeNewPeer writes a full peer. wireguard-go sends the keepalive (if
// any) once the peer's lines end, after its endpoint and allowed IPs are set.
func writeNewPeer(b *strings.Builder, p Peer) {
	fmt.Fprintf(b, "public_key=%s\n", p.PublicKey.hex())
	if p.Endpoint.IsValid() {
		fmt.Fprintf(b, "endpoint=%s\n", p.Endpoint)
	}
	if p.PersistentKeepalive > 0 {
		fmt.Fprintf(b, "persistent_keepalive_interval=%d\n", p.PersistentKeepalive/time.Second)
	}
	writeAllowedIPs(b, p.AllowedIPs)
}

// writePeerUpdate writes the fields of p that differ from o, if any. An
// endpoint that changed here is already where wireguard-go reaches the
// peer, or zero (which the uapi cannot express): nothing to write.
func writePeerUpdate(b *strings.Builder, o, p Peer) {
	allowed := !slices.Equal(o.AllowedIPs, p.AllowedIPs)
	keepalive := o.PersistentKeepalive != p.PersistentKeepalive
	if !allowed && !keepalive {
		return
	}
	fmt.Fprintf(b, "public_key=%s\nupdate_only=true\n", p.PublicKey.hex())
	if keepalive {
		fmt.Fprintf(b, "persistent_keepalive_interval=%d\n", p.PersistentKeepalive/time.Second)
	}
	if allowed {
		writeAllowedIPs(b, p.AllowedIPs)
	}
}

func writeAllowedIPs(b *strings.Builder, allowed []netip.Prefix) {
	b.WriteString("replace_allowed_ips=true\n")
	for _, pfx := range allowed {
		fmt.Fprintf(b, "allowed_ip=%s\n", pfx)
	}
}

// resyncLocked re-reads the configured peers from wireguard-go after a
// failed IpcSet. d.mu must be held.
func (d *Device) resyncLocked() {
	st, err := d.state()
	if err != nil {
		d.log.Warn("re-reading peers after a failed update", "error", err)
		return
	}
	d.peers = make(map[Key]Peer, len(st.peers))
	for _, p := range st.peers {
		d.peers[p.PublicKey] = p.config()
	}
}

func (d *Device) currentEndpoints() (map[Key]netip.AddrPort, error) {
	st, err := d.state()
	if err != nil {
		return nil, err
	}
	eps := make(map[Key]netip.AddrPort, len(st.peers))
	for _, p := range st.peers {
		eps[p.PublicKey] = p.Endpoint
	}
	return eps, nil
}

// Peers returns the status of every configured peer, ordered by public key.
func (d *Device) Peers() []PeerStatus {
	st, err := d.state()
	if err != nil {
		d.log.Warn("reading peer status", "error", err)
	}
	out := make([]PeerStatus, 0, len(st.peers))
	for _, p := range st.peers {
		out = append(out, p.PeerStatus)
	}
	slices.SortFunc(out, func(a, b PeerStatus) int { return slices.Compare(a.PublicKey[:], b.PublicKey[:]) })
	return out
}

// Peer returns the status of the peer with public key k, if configured.
func (d *Device) Peer(k Key) (PeerStatus, bool) {
	for _, p := range d.Peers() {
		if p.PublicKey == k {
			return p, true
		}
	}
	return PeerStatus{}, false
}

// ipcState is what wireguard-go's uapi "get" reports, minus the private key.
type ipcState struct {
	listenPort uint16
	peers      []peerState
}

type peerState struct {
	PeerStatus
	allowedIPs []netip.Prefix
	keepalive  time.Duration
}

func (p peerState) config() Peer {
	return normalizePeer(Peer{
		PublicKey:           p.PublicKey,
		AllowedIPs:          p.allowedIPs,
		Endpoint:            p.Endpoint,
		PersistentKeepalive: p.keepalive,
	})
}

func (d *Device) state() (ipcState, error) {
	text, err := d.wg.IpcGet()
	if err != nil {
		return ipcState{}, fmt.Errorf("reading device state: %w", err)
	}
	st, err := parseIpcState(text)
	if err != nil {
		return st, fmt.Errorf("reading device state: %w", err)
	}
	return st, nil
}

// parseIpcState parses uapi "get" output. The text holds the private key;
// it is skipped and never part of an error.
func parseIpcState(text string) (ipcState, error) {
	var p ipcParser
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		key, value, ok := strings.Cut(sc.Text(), "=")
		if !ok {
			continue
		}
		if err := p.line(key, value); err != nil {
			return p.st, fmt.Errorf("parsing %s: %w", key, err)
		}
	}
	p.endPeer()
	return p.st, nil
}

// ipcParser accumulates uapi "get" lines; the current peer is the last one
// in st.peers.
type ipcParser struct {
	st        ipcState
	inPeer    bool
	sec, nsec int64 // last handshake of the current peer
}

func (p *ipcParser) line(key, value string) error {
	if key == "public_key" {
		p.endPeer()
		p.st.peers = append(p.st.peers, peerState{})
		p.inPeer, p.sec, p.nsec = true, 0, 0
	}
	if !p.inPeer {
		return p.deviceLine(key, value)
	}
	return p.peerLine(&p.st.peers[len(p.st.peers)-1], key, value)
}

func (p *ipcParser) endPeer() {
	if p.inPeer && (p.sec != 0 || p.nsec != 0) {
		p.st.peers[len(p.st.peers)-1].LastHandshake = time.Unix(p.sec, p.nsec)
	}
}

func (p *ipcParser) deviceLine(key, value string) error {
	if key != "listen_port" {
		return nil // private_key, fwmark
	}
	port, err := strconv.ParseUint(value, 10, 16)
	p.st.listenPort = uint16(port)
	return err
}

func (p *ipcParser) peerLine(peer *peerState, key, value string) error {
	var err error
	switch key {
	case "public_key":
		peer.PublicKey, err = parseHexKey(value)
	case "endpoint":
		var ap netip.AddrPort
		ap, err = netip.ParseAddrPort(value)
		peer.Endpoint = unmapAddrPort(ap)
	case "last_handshake_time_sec":
		p.sec, err = strconv.ParseInt(value, 10, 64)
	case "last_handshake_time_nsec":
		p.nsec, err = strconv.ParseInt(value, 10, 64)
	case "rx_bytes":
		peer.RxBytes, err = strconv.ParseUint(value, 10, 64)
	case "tx_bytes":
		peer.TxBytes, err = strconv.ParseUint(value, 10, 64)
	case "persistent_keepalive_interval":
		var secs uint64
		secs, err = strconv.ParseUint(value, 10, 16)
		peer.keepalive = time.Duration(secs) * time.Second
	case "allowed_ip":
		var pfx netip.Prefix
		pfx, err = netip.ParsePrefix(value)
		peer.allowedIPs = append(peer.allowedIPs, pfx)
	}
	return err
}
