package netstack

import (
	"context"
	"net"
	"testing"

	"golang.org/x/net/nettest"
)

// TestOverlayConn runs x/net's net.Conn conformance suite on a TCP
// connection across the overlay.
func TestOverlayConn(t *testing.T) {
	a := newTestDevice(t, "100.96.0.1")
	b := newTestDevice(t, "100.96.0.2")
	connect(t, a, b)
	l, err := b.Listen("tcp", ":0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	nettest.TestConn(t, func() (c1, c2 net.Conn, stop func(), err error) {
		accepted := make(chan net.Conn, 1)
		go func() {
			c, _ := l.Accept()
			accepted <- c
		}()
		ctx, cancel := context.WithTimeout(context.Background(), patience)
		defer cancel()
		c1, err = a.DialContext(ctx, "tcp", l.Addr().String())
		c2 = <-accepted
		if err != nil || c2 == nil {
			if c2 != nil {
				c2.Close()
			}
			return nil, nil, nil, err
		}
		return c1, c2, func() { c1.Close(); c2.Close() }, nil
	})
}
