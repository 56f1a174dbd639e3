package stream

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// TestWebSocketConn: frames round-trip as binary messages; a text message
// or an oversized one is refused.
func TestWebSocketConn(t *testing.T) {
	checkLeaks(t)
	got := make(chan error, 3)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer ws.CloseNow()
		ctx := r.Context()
		conn := WebSocketConn(ws)
		for _, tt := range sampleFrames() {
			if err := conn.WriteFrame(ctx, tt.f); err != nil {
				t.Errorf("WriteFrame(%s) error: %v", tt.name, err)
				return
			}
		}
		ws.Write(ctx, websocket.MessageText, []byte("hello"))
		ws.Write(ctx, websocket.MessageBinary, append([]byte{2}, make([]byte, MaxFrame+100)...))
		_, err = conn.ReadFrame(ctx) // until the client closes
		got <- err
	}))
	defer srv.Close()
	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()

	ctx, cancel := context.WithTimeout(context.Background(), testDeadline)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http"), &websocket.DialOptions{HTTPClient: client})
	if err != nil {
		t.Fatal(err)
	}
	conn := WebSocketConn(ws)
	for _, tt := range sampleFrames() {
		f, err := conn.ReadFrame(ctx)
		if err != nil || !reflect.DeepEqual(f, tt.f) {
			t.Fatalf("ReadFrame() = %v, %v, want %s", f, err, tt.name)
		}
	}
	if _, err := conn.ReadFrame(ctx); !errors.Is(err, ErrBadFrame) {
		t.Errorf("ReadFrame(text message) error = %v, want ErrBadFrame", err)
	}
	if _, err := conn.ReadFrame(ctx); err == nil || !strings.Contains(err.Error(), "too big") {
		t.Errorf("ReadFrame(oversized message) error = %v, want \"message too big\"", err)
	}
	conn.Close()
	<-got
}

// TestLengthPrefixedConn: frames round-trip, and a ctx that ends
// interrupts a blocked ReadFrame without breaking the stream.
func TestLengthPrefixedConn(t *testing.T) {
	checkLeaks(t)
	c1, c2 := net.Pipe()
	a, b := LengthPrefixedConn(c1), LengthPrefixedConn(c2)
	defer a.Close()
	defer b.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := b.ReadFrame(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("ReadFrame() with an ended ctx = %v, want context.DeadlineExceeded", err)
	}

	ctx = context.Background()
	go func() {
		for _, tt := range sampleFrames() {
			if err := a.WriteFrame(ctx, tt.f); err != nil {
				t.Errorf("WriteFrame(%s) error: %v", tt.name, err)
			}
		}
	}()
	for _, tt := range sampleFrames() {
		f, err := b.ReadFrame(ctx)
		if err != nil || !reflect.DeepEqual(f, tt.f) {
			t.Fatalf("ReadFrame() = %v, %v, want %s", f, err, tt.name)
		}
	}
}

// TestViewerOverLengthPrefixedConn: a Viewer runs over a plain byte stream
// too (engine <-> agent style), with real TCP.
func TestViewerOverLengthPrefixedConn(t *testing.T) {
	checkLeaks(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	src := source(300<<10, 5)
	done := make(chan struct{})
	go func() {
		defer close(done)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		conn := LengthPrefixedConn(c)
		defer conn.Close()
		ctx := context.Background()
		for off := 0; off < len(src); off += MaxOutput {
			conn.WriteFrame(ctx, Output{Offset: uint64(off), Data: src[off:min(off+MaxOutput, len(src))]})
		}
		conn.WriteFrame(ctx, Control{Type: ControlState, State: StateEnded})
		for {
			if _, err := conn.ReadFrame(ctx); err != nil {
				return
			}
		}
	}()
	var got []byte
	v := NewViewer(ViewerConfig{
		Dial: func(ctx context.Context, offset uint64, resume bool) (Conn, error) {
			c, err := (&net.Dialer{}).DialContext(ctx, "tcp", ln.Addr().String())
			if err != nil {
				return nil, err
			}
			return LengthPrefixedConn(c), nil
		},
		OnOutput: func(p []byte) { got = append(got, p...) },
	})
	stop, vdone := runViewer(v)
	if err := waitRun(t, stop, vdone); !errors.Is(err, ErrSessionEnded) {
		t.Fatalf("Run() = %v, want ErrSessionEnded", err)
	}
	<-done
	if string(got) != string(src) {
		t.Errorf("viewer got %d bytes, want the %d sent", len(got), len(src))
	}
}
