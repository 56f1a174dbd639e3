// Package netstack runs Warren's overlay endpoint: a userspace WireGuard
// device (wireguard-go) whose only network interface is an in-process gVisor
// netstack holding one IPv4 /32. It needs no TUN device, no root and no route
// on the host; WireGuard itself travels over a real UDP socket. The link
// between the two is this package's own (see stackTUN), a race-free version
// of wireguard-go's tun/netstack.
//
// A Device dials and listens on the overlay (DialContext, Listen,
// ListenPacket), replaces its peer set in one step (SetPeers) and puts a
// stateless port Filter between the netstack and WireGuard. Cryptokey
// routing authenticates sources: a packet arriving from a peer is delivered
// only if its inner source address lies in that peer's AllowedIPs, so on the
// overlay a source /32 is a device identity.
//
// This is the only package of Warren that imports wireguard-go or gVisor, and
// it must import no other package of Warren.
package netstack
