package tcp_test

import (
	"io"
	"net"
	"testing"

	"github.com/warrenhq/warren/protocols/tcp"
)

// listen returns a connected pair of real loopback TCP connections.
func pair(t *testing.T) (client, server net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	done := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		done <- c
	}()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server = <-done
	if server == nil {
		t.Fatal("accept failed")
	}
	return client, server
}

// TestJoinHalfClose proves that a client's FIN travels through the pipe while
// the reply still flows back: the request-then-EOF-then-response pattern.
func TestJoinHalfClose(t *testing.T) {
	client, proxyIn := pair(t)
	proxyOut, target := pair(t)
	joined := make(chan error, 1)
	go func() {
		_, _, err := tcp.Join(proxyIn, proxyOut)
		joined <- err
	}()

	if _, err := client.Write([]byte("request")); err != nil {
		t.Fatal(err)
	}
	client.(*net.TCPConn).CloseWrite()

	got, err := io.ReadAll(target)
	if err != nil || string(got) != "request" {
		t.Fatalf("target read %q, %v; want %q", got, err, "request")
	}
	if _, err := target.Write([]byte("response")); err != nil {
		t.Fatal(err)
	}
	target.Close()

	got, err = io.ReadAll(client)
	if err != nil || string(got) != "response" {
		t.Fatalf("client read %q, %v; want %q", got, err, "response")
	}
	if err := <-joined; err != nil {
		t.Errorf("Join() = %v, want nil", err)
	}
	client.Close()
}

// TestJoinReset proves a broken side ends the whole flow instead of hanging.
func TestJoinReset(t *testing.T) {
	client, proxyIn := pair(t)
	proxyOut, target := pair(t)
	joined := make(chan struct{})
	go func() {
		tcp.Join(proxyIn, proxyOut)
		close(joined)
	}()
	target.(*net.TCPConn).SetLinger(0)
	target.Close() // RST towards the proxy
	if _, err := io.ReadAll(client); err != nil {
		t.Logf("client saw %v", err)
	}
	<-joined
	client.Close()
}
