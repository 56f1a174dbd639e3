//go:build linux

package netstack

import (
	"net"
	"syscall"
)

// setSocketBuffers enlarges c's buffers so that bursts of WireGuard packets
// (a whole batch at a time) are not dropped by the kernel. As root (or with
// CAP_NET_ADMIN) the size is forced past net.core.rmem_max, as wireguard-go
// does for its own sockets; otherwise the kernel caps it. Errors are
// ignored: a smaller buffer still works, only with more loss under load.
func setSocketBuffers(c *net.UDPConn) {
	c.SetReadBuffer(socketBuffer)
	c.SetWriteBuffer(socketBuffer)
	rc, err := c.SyscallConn()
	if err != nil {
		return
	}
	rc.Control(func(fd uintptr) {
		syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUFFORCE, socketBuffer)
		syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_SNDBUFFORCE, socketBuffer)
	})
}
