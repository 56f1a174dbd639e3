package stream

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"io"
	"net"
	"sync"
	"testing"

	"golang.org/x/net/nettest"
)

// tcpPair returns both ends of a real TCP loopback connection.
func tcpPair(t testing.TB) (a, b net.Conn) {
	ln, err := nettest.NewLocalListener("tcp")
	if err != nil {
		t.Fatalf("listening: %v", err)
	}
	defer ln.Close()
	type result struct {
		c   net.Conn
		err error
	}
	accepted := make(chan result, 1)
	go func() {
		c, err := ln.Accept()
		accepted <- result{c, err}
	}()
	a, err = net.Dial(ln.Addr().Network(), ln.Addr().String())
	if err != nil {
		t.Fatalf("dialing: %v", err)
	}
	r := <-accepted
	if r.err != nil {
		a.Close()
		t.Fatalf("accepting: %v", r.err)
	}
	return a, r.c
}

func TestByteConnNettest(t *testing.T) {
	tests := []struct {
		name   string
		r1, r2 Role
	}{
		{"viewer-agent", RoleViewer, RoleAgent},
		{"agent-viewer", RoleAgent, RoleViewer},
		{"peer-peer", RolePeer, RolePeer},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			nettest.TestConn(t, func() (c1, c2 net.Conn, stop func(), err error) {
				a, b := tcpPair(t)
				c1 = NewByteConn(NewFrameConn(a), tt.r1, nil)
				c2 = NewByteConn(NewFrameConn(b), tt.r2, nil)
				stop = func() {
					var wg sync.WaitGroup
					wg.Go(func() { c1.Close() })
					wg.Go(func() { c2.Close() })
					wg.Wait()
				}
				return c1, c2, stop, nil
			})
		})
	}
}

// TestByteConnAcks streams 1 MiB agent -> viewer and checks content and that
// the viewer acked what it consumed.
func TestByteConnAcks(t *testing.T) {
	a, b := tcpPair(t)
	viewer := NewByteConn(NewFrameConn(a), RoleViewer, nil)
	agent := NewByteConn(NewFrameConn(b), RoleAgent, nil)
	defer viewer.Close()
	defer agent.Close()
	src := source(1<<20, 4)
	var wg sync.WaitGroup
	wg.Go(func() {
		if _, err := agent.Write(src); err != nil {
			t.Errorf("agent Write() error: %v", err)
		}
		// Read so the agent processes the viewer's Acks; the viewer's
		// Input "done" ends it.
		buf := make([]byte, 16)
		if n, err := agent.Read(buf); err != nil || string(buf[:n]) != "done" {
			t.Errorf("agent Read() = %q, %v, want done", buf[:n], err)
		}
	})
	got := make([]byte, len(src))
	if _, err := io.ReadFull(viewer, got); err != nil {
		t.Fatalf("viewer ReadFull() error: %v", err)
	}
	if _, err := viewer.Write([]byte("done")); err != nil {
		t.Fatalf("viewer Write() error: %v", err)
	}
	wg.Wait()
	if sha256.Sum256(got) != sha256.Sum256(src) {
		t.Errorf("viewer got different bytes than the agent wrote")
	}
	if got, want := agent.Acked(), uint64(len(src))-uint64(len(src))%AckEvery; got != want {
		t.Errorf("agent.Acked() = %d, want %d", got, want)
	}
}

// TestByteConnFrames drives a viewer with raw frames: resent bytes are
// dropped, a Gap surfaces as *GapError, a Ping is answered, unconsumed frames
// reach the handler and "ended" reads as io.EOF.
func TestByteConnFrames(t *testing.T) {
	a, b := tcpPair(t)
	var handled []Frame
	viewer := NewByteConn(NewFrameConn(a), RoleViewer, func(f Frame) { handled = append(handled, f) })
	agent := NewFrameConn(b)
	defer viewer.Close()
	defer agent.Close()
	frames := []Frame{
		Output{Offset: 0, Data: []byte("hello ")},
		Output{Offset: 3, Data: []byte("lo world")}, // resend overlapping 3 bytes
		Ping{Nonce: 9},
		Resize{Cols: 100, Rows: 40},
		Gap{From: 11, To: 20},
		Output{Offset: 20, Data: []byte("!")},
		Control{Type: ControlState, State: StateEnded},
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() {
		for _, f := range frames {
			if err := agent.WriteFrame(f); err != nil {
				t.Errorf("WriteFrame() error: %v", err)
			}
		}
	})
	var got bytes.Buffer
	var gap *GapError
	buf := make([]byte, 64)
	for {
		n, err := viewer.Read(buf)
		got.Write(buf[:n])
		if errors.As(err, &gap) {
			continue
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("Read() error: %v", err)
		}
	}
	if got.String() != "hello world!" {
		t.Errorf("Read() data = %q, want %q", got.String(), "hello world!")
	}
	if gap == nil || *gap != (GapError{From: 11, To: 20}) {
		t.Errorf("gap = %v, want [11,20)", gap)
	}
	if len(handled) != 2 || handled[0] != (Resize{Cols: 100, Rows: 40}) || handled[1].Kind() != KindControl {
		t.Errorf("handled = %v, want the Resize and the Control", handled)
	}
	f, err := agent.ReadFrame()
	if err != nil || f != (Pong{Nonce: 9}) {
		t.Errorf("agent ReadFrame() = %v, %v, want Pong{9}", f, err)
	}
}

func TestByteConnRejectsHole(t *testing.T) {
	a, b := tcpPair(t)
	viewer := NewByteConn(NewFrameConn(a), RoleViewer, nil)
	agent := NewFrameConn(b)
	defer viewer.Close()
	defer agent.Close()
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() { agent.WriteFrame(Output{Offset: 5, Data: []byte("x")}) })
	if _, err := viewer.Read(make([]byte, 8)); !errors.Is(err, ErrBadFrame) {
		t.Errorf("Read() error = %v, want ErrBadFrame", err)
	}
}
