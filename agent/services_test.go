package agent

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"testing"

	"github.com/warrenhq/warren/controlplane/wire"
	"github.com/warrenhq/warren/netstack"
)

func addr(port uint16) string { return netip.AddrPortFrom(agentIP, port).String() }

func TestForwardHalfClose(t *testing.T) {
	ctx := testCtx(t)
	agentDev, engineDev := newDevicePair(t)
	d := &net.Dialer{}
	svcs := newServices(agentDev, agentIP, d.DialContext, testLogger(t))
	defer svcs.close()
	svcs.apply([]wire.Service{{Name: "echo", Protocol: "tcp", Port: 2000, Target: finalTarget(t)}})

	// The target answers only after it saw our FIN, and we read its answer
	// after our half-close, then EOF: both directions half-close.
	got, err := roundTrip(ctx, engineDev, addr(2000), "hello")
	if err != nil || got != "got:hello" {
		t.Fatalf("roundTrip() = %q, %v; want %q, nil", got, err, "got:hello")
	}
	// Large payload both ways.
	big := string(make([]byte, 1<<20))
	got, err = roundTrip(ctx, engineDev, addr(2000), big)
	if err != nil || got != "got:"+big {
		t.Fatalf("roundTrip(1 MiB) = %d bytes, %v; want %d bytes", len(got), err, len(big)+4)
	}
	if st := svcs.status(); len(st) != 1 || !st[0].Listening || st[0].Port != 2000 {
		t.Errorf("status() = %+v, want one listening service on 2000", st)
	}
}

func TestForwardTargetDown(t *testing.T) {
	ctx := testCtx(t)
	agentDev, engineDev := newDevicePair(t)
	d := &net.Dialer{}
	svcs := newServices(agentDev, agentIP, d.DialContext, testLogger(t))
	defer svcs.close()
	svcs.apply([]wire.Service{{Name: "down", Protocol: "tcp", Port: 2000, Target: deadAddr(t)}})

	c, err := engineDev.DialContext(ctx, "tcp", addr(2000))
	if err != nil {
		return // refused outright is fine too
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	n, err := c.Read(make([]byte, 16))
	if n != 0 || err == nil || ctx.Err() != nil {
		t.Errorf("Read() from a service whose target is down = %d, %v; want 0 and EOF or reset", n, err)
	}
}

func TestForwardUnknownPortRefused(t *testing.T) {
	ctx := testCtx(t)
	agentDev, engineDev := newDevicePair(t)
	d := &net.Dialer{}
	svcs := newServices(agentDev, agentIP, d.DialContext, testLogger(t))
	defer svcs.close()
	svcs.apply([]wire.Service{{Name: "echo", Protocol: "tcp", Port: 2000, Target: finalTarget(t)}})

	c, err := engineDev.DialContext(ctx, "tcp", addr(2001))
	if err == nil {
		c.Close()
		t.Fatalf("DialContext(port 2001, not a service) succeeded, want refused")
	}
	if ctx.Err() != nil {
		t.Fatalf("DialContext(port 2001) = %v only when the test timed out; want refused at once", err)
	}
}

func TestServicesApply(t *testing.T) {
	ctx := testCtx(t)
	agentDev, engineDev := newDevicePair(t)
	d := &net.Dialer{}
	svcs := newServices(agentDev, agentIP, d.DialContext, testLogger(t))
	defer svcs.close()

	// A target that says who it is, then echoes.
	named := func(name string) string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		t.Cleanup(func() { ln.Close(); <-done })
		go func() {
			defer close(done)
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				io.WriteString(c, name)
				io.Copy(c, c)
				c.Close()
			}
		}()
		return ln.Addr().String()
	}
	a, b := named("a"), named("b")

	svcs.apply([]wire.Service{{Name: "one", Protocol: "tcp", Port: 2000, Target: a}})
	if got, err := roundTrip(ctx, engineDev, addr(2000), ""); got != "a" {
		t.Fatalf("port 2000 -> %q, %v; want a", got, err)
	}

	// A long-lived flow opened before the changes.
	live, err := engineDev.DialContext(ctx, "tcp", addr(2000))
	if err != nil {
		t.Fatal(err)
	}
	defer live.Close()
	if _, err := io.ReadFull(live, make([]byte, 1)); err != nil {
		t.Fatalf("live flow: %v", err)
	}

	// New target: the listener is replaced and new conns reach b.
	svcs.apply([]wire.Service{{Name: "one", Protocol: "tcp", Port: 2000, Target: b}})
	if got, err := roundTrip(ctx, engineDev, addr(2000), ""); got != "b" {
		t.Fatalf("after retarget, port 2000 -> %q, %v; want b", got, err)
	}

	// Removed: the port is refused, the live flow keeps working.
	svcs.apply(nil)
	if c, err := engineDev.DialContext(ctx, "tcp", addr(2000)); err == nil {
		c.Close()
		t.Fatalf("DialContext(removed service) succeeded, want refused")
	}
	if len(svcs.status()) != 0 {
		t.Errorf("status() after removal = %+v, want none", svcs.status())
	}
	io.WriteString(live, "still here")
	live.(interface{ CloseWrite() error }).CloseWrite()
	if data, err := io.ReadAll(live); string(data) != "still here" || err != nil {
		t.Errorf("flow opened before removal echoed %q, %v; want %q", data, err, "still here")
	}
}

func TestServicesCloseEndsFlows(t *testing.T) {
	ctx := testCtx(t)
	agentDev, engineDev := newDevicePair(t)
	d := &net.Dialer{}
	svcs := newServices(agentDev, agentIP, d.DialContext, testLogger(t))

	// A target that never answers nor closes: only close can end the flow.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			accepted <- c
		}
	}()
	svcs.apply([]wire.Service{{Name: "hang", Protocol: "tcp", Port: 2000, Target: ln.Addr().String()}})
	c, err := engineDev.DialContext(ctx, "tcp", addr(2000))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var target net.Conn
	select {
	case target = <-accepted:
		defer target.Close()
	case <-ctx.Done():
		t.Fatal("target never saw the forwarded connection")
	}
	svcs.close() // returns only once the flow's goroutines are gone
	if _, err := target.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Errorf("target Read after close = %v, want EOF", err)
	}
}

// TestFilter: with the agent's filter, the engine reaches only the agent API
// and service ports, and the agent reaches only the engine's agent port,
// whatever else listens.
func TestFilter(t *testing.T) {
	ctx := testCtx(t)
	agentDev, engineDev := newDevicePair(t)
	listen := func(dev interface {
		Listen(string, string) (net.Listener, error)
	}, ip netip.Addr, port uint16) {
		ln, err := dev.Listen("tcp", netip.AddrPortFrom(ip, port).String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ln.Close() })
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				c.Close()
			}
		}()
	}
	for _, port := range []uint16{wire.AgentAPIPort, 2000, 2001} {
		listen(agentDev, agentIP, port)
	}
	for _, port := range []uint16{wire.EnginePort, 22} {
		listen(engineDev, engineIP, port)
	}
	engines := []wire.Engine{{OverlayIP: engineIP.String()}}
	services := []wire.Service{{Name: "s", Protocol: "tcp", Port: 2000, Target: "127.0.0.1:1"}}
	agentDev.SetFilter(filterFor(agentIP, engines, services))

	tests := []struct {
		name string
		dev  interface {
			DialContext(context.Context, string, string) (net.Conn, error)
		}
		addr string
		ok   bool
	}{
		{"engine to agent API", engineDev, addr(wire.AgentAPIPort), true},
		{"engine to service", engineDev, addr(2000), true},
		{"engine to other listener", engineDev, addr(2001), false},
		{"agent to engine port", agentDev, netip.AddrPortFrom(engineIP, wire.EnginePort).String(), true},
		{"agent to engine ssh", agentDev, netip.AddrPortFrom(engineIP, 22).String(), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.ok {
				c, err := tt.dev.DialContext(ctx, "tcp", tt.addr)
				if err != nil {
					t.Fatalf("DialContext(%s) = %v, want connected", tt.addr, err)
				}
				c.Close()
				return
			}
			if !refused(ctx, tt.dev.(*netstack.Device), tt.addr) {
				t.Errorf("DialContext(%s) connected through the filter", tt.addr)
			}
		})
	}
}
