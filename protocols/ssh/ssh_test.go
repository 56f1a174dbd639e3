package ssh_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	xssh "golang.org/x/crypto/ssh"

	"github.com/warrenhq/warren/controlplane/controlplanetest"
	"github.com/warrenhq/warren/protocols/ssh"
	"github.com/warrenhq/warren/protocols/ssh/sshtest"
)

// output collects a session's output in the background.
type output struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	err  error // the final Read error
	done chan struct{}
}

func collect(s *ssh.Session) *output {
	o := &output{done: make(chan struct{})}
	go func() {
		defer close(o.done)
		b := make([]byte, 32<<10)
		for {
			n, err := s.Read(b)
			o.mu.Lock()
			o.buf.Write(b[:n])
			if err != nil {
				o.err = err
			}
			o.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	return o
}

func (o *output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.String()
}

// waitFor waits until the output contains want.
func (o *output) waitFor(t *testing.T, want string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(o.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("output never contained %q; got %q", want, o.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// TestOpenWithKey: key login to a real sshd on first use reports the host
// key; the PTY has the asked size and follows window changes; the exit
// status comes back and output ends with io.EOF.
func TestOpenWithKey(t *testing.T) {
	sshd := controlplanetest.StartSSHD(t)
	ctx := testCtx(t)
	s, err := ssh.Open(ctx, ssh.Config{Addr: sshd.Addr, User: sshd.User, PrivateKey: sshd.KeyPEM, Cols: 91, Rows: 27})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer s.Close()
	if s.HostKey() != sshd.HostKeyFingerprint {
		t.Errorf("HostKey() = %q, want %q", s.HostKey(), sshd.HostKeyFingerprint)
	}
	out := collect(s)
	io.WriteString(s, "echo term=$TERM size=$(stty size) x$((6*7))\n")
	out.waitFor(t, "term=xterm-256color size=27 91 x42")
	if err := s.WindowChange(120, 40); err != nil {
		t.Fatal(err)
	}
	io.WriteString(s, "echo now=$(stty size)\n")
	out.waitFor(t, "now=40 120")
	io.WriteString(s, "echo to-stderr-$((1+1)) >&2; exit 3\n")
	out.waitFor(t, "to-stderr-2")
	status, err := s.Wait()
	if status != 3 || err != nil {
		t.Errorf("Wait() = %d, %v; want 3, nil", status, err)
	}
	<-out.done
	if out.err != io.EOF {
		t.Errorf("final Read error = %v, want io.EOF", out.err)
	}
}

// TestOpenWithPassword: password login to a real sshd, with the expected
// host key.
func TestOpenWithPassword(t *testing.T) {
	sshd := controlplanetest.StartSSHD(t)
	if sshd.Password == "" {
		controlplanetest.SkipUnlessRequired(t, "sshd", "this sshd has no password login (no mount namespace)")
	}
	ctx := testCtx(t)
	s, err := ssh.Open(ctx, ssh.Config{Addr: sshd.Addr, User: sshd.User, Password: sshd.Password, HostKey: sshd.HostKeyFingerprint})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer s.Close()
	out := collect(s)
	io.WriteString(s, "echo pw-$((2*21))\n")
	out.waitFor(t, "pw-42")
	s.Close()
	if _, err := s.Wait(); !errors.Is(err, ssh.ErrClosed) {
		t.Errorf("Wait() after Close = %v, want ErrClosed", err)
	}
	<-out.done
	if !errors.Is(out.err, ssh.ErrClosed) {
		t.Errorf("Read after Close = %v, want ErrClosed", out.err)
	}
}

// TestHostKeyMismatch: a different expected key is refused with the offered
// fingerprint, before any credential is sent.
func TestHostKeyMismatch(t *testing.T) {
	sshd := controlplanetest.StartSSHD(t)
	want := "SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	_, err := ssh.Open(testCtx(t), ssh.Config{Addr: sshd.Addr, User: sshd.User, PrivateKey: sshd.KeyPEM, HostKey: want})
	var mm *ssh.HostKeyMismatchError
	if !errors.As(err, &mm) || mm.Got != sshd.HostKeyFingerprint || mm.Want != want {
		t.Fatalf("Open() = %v, want HostKeyMismatchError{Want: %s, Got: %s}", err, want, sshd.HostKeyFingerprint)
	}
}

// TestAuthFailed: a wrong password or key is ErrAuthFailed, and the error
// never carries the credential.
func TestAuthFailed(t *testing.T) {
	sshd := controlplanetest.StartSSHD(t)
	ctx := testCtx(t)
	secret := "hunter2-not-the-password"
	_, err := ssh.Open(ctx, ssh.Config{Addr: sshd.Addr, User: sshd.User, Password: secret})
	if !errors.Is(err, ssh.ErrAuthFailed) {
		t.Errorf("Open(wrong password) = %v, want ErrAuthFailed", err)
	}
	if err != nil && strings.Contains(err.Error(), secret) {
		t.Errorf("error %q contains the password", err)
	}
	_, other := newKey(t)
	_, err = ssh.Open(ctx, ssh.Config{Addr: sshd.Addr, User: sshd.User, PrivateKey: other})
	if !errors.Is(err, ssh.ErrAuthFailed) {
		t.Errorf("Open(unknown key) = %v, want ErrAuthFailed", err)
	}
}

// TestBadKey: malformed and encrypted keys are ErrBadKey; nothing is dialed.
func TestBadKey(t *testing.T) {
	ctx := testCtx(t)
	priv, _ := newKey(t)
	block, err := xssh.MarshalPrivateKeyWithPassphrase(priv, "", []byte("pass"))
	if err != nil {
		t.Fatal(err)
	}
	dial := func(context.Context, string, string) (net.Conn, error) {
		t.Error("dialed with a bad key")
		return nil, errors.New("no")
	}
	for name, key := range map[string][]byte{
		"garbage":   []byte("-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----\n"),
		"encrypted": pem.EncodeToMemory(block),
	} {
		_, err := ssh.Open(ctx, ssh.Config{Addr: "127.0.0.1:1", User: "u", PrivateKey: key, Dial: dial})
		if !errors.Is(err, ssh.ErrBadKey) {
			t.Errorf("%s: Open() = %v, want ErrBadKey", name, err)
		}
	}
}

// TestKeepaliveDetectsDeadServer: a server that stops answering keepalives
// is given up after the configured failures.
func TestKeepaliveDetectsDeadServer(t *testing.T) {
	srv := sshtest.Start(t, sshtest.Options{User: "u", Password: "p", IgnoreKeepalives: true,
		Shell: func(sh *sshtest.Shell) { <-sh.Done() }})
	s, err := ssh.Open(testCtx(t), ssh.Config{Addr: srv.Addr, User: "u", Password: "p",
		KeepaliveInterval: 50 * time.Millisecond, KeepaliveFailures: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Wait(); !errors.Is(err, ssh.ErrConnectionLost) {
		t.Errorf("Wait() = %v, want ErrConnectionLost", err)
	}
}

// TestKeepaliveAnswered: keepalives are sent, and a server that answers
// them keeps the session. (Failing needs 10 unanswered intervals in a row,
// which a loaded machine does not produce.)
func TestKeepaliveAnswered(t *testing.T) {
	srv := sshtest.Start(t, sshtest.Options{User: "u", Password: "p"})
	s, err := ssh.Open(testCtx(t), ssh.Config{Addr: srv.Addr, User: "u", Password: "p",
		KeepaliveInterval: 20 * time.Millisecond, KeepaliveFailures: 10})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	out := collect(s)
	deadline := time.Now().Add(time.Minute)
	for i := 0; srv.GlobalRequests() < 10; i++ {
		if time.Now().After(deadline) {
			t.Fatalf("only %d keepalives sent in a minute", srv.GlobalRequests())
		}
		fmt.Fprintf(s, "ping-%d;", i)
		out.waitFor(t, fmt.Sprintf("ping-%d;", i))
	}
	select {
	case <-s.Done():
		t.Fatal("session ended although the server answered keepalives")
	default:
	}
}

// TestHandshakeTimeout: a target that accepts but never speaks SSH fails
// the open within the timeout instead of hanging.
func TestHandshakeTimeout(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var held []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c)
			mu.Unlock()
		}
	}()
	defer func() {
		mu.Lock()
		for _, c := range held {
			c.Close()
		}
		mu.Unlock()
	}()
	_, err = ssh.Open(testCtx(t), ssh.Config{Addr: ln.Addr().String(), User: "u", Password: "p", Timeout: 200 * time.Millisecond})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Open() = %v, want a deadline error", err)
	}
}

// TestConfigRedacted: the config never prints its credentials.
func TestConfigRedacted(t *testing.T) {
	c := ssh.Config{Addr: "h:22", User: "u", Password: "s3cret-pw", PrivateKey: []byte("s3cret-key")}
	var logged bytes.Buffer
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("x", "cfg", c)
	for _, s := range []string{fmt.Sprint(c), fmt.Sprintf("%+v", c), fmt.Sprintf("%#v", c), logged.String()} {
		if strings.Contains(s, "s3cret") {
			t.Errorf("config printed a credential: %s", s)
		}
	}
}

func newKey(t *testing.T) (ed25519.PrivateKey, []byte) {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := xssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	return priv, pem.EncodeToMemory(block)
}
