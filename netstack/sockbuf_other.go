//go:build !linux

package netstack

import "net"

// setSocketBuffers enlarges c's buffers as far as the system allows.
func setSocketBuffers(c *net.UDPConn) {
	c.SetReadBuffer(socketBuffer)
	c.SetWriteBuffer(socketBuffer)
}
