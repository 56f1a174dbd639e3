// Package sshtest runs an SSH server built on golang.org/x/crypto/ssh inside
// a test, for what a real OpenSSH server cannot be made to do on demand:
// hostile output, keepalives left unanswered, a scripted shell. Tests of
// normal behaviour use a real sshd (controlplanetest.StartSSHD).
//
// It imports only the standard library and x/crypto.
package sshtest

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"testing"

	"golang.org/x/crypto/ssh"
)

// Options configure a Server.
type Options struct {
	// User and Password allow password login when Password is set.
	User, Password string
	// AuthorizedKey allows key login for User when set.
	AuthorizedKey ssh.PublicKey
	// HostKey is the server's key (nil: a fresh ed25519 key).
	HostKey ssh.Signer
	// IgnoreKeepalives leaves global requests (keepalive@openssh.com)
	// unanswered: to a client, the server looks dead.
	IgnoreKeepalives bool
	// Shell runs each session's shell; when it returns the session ends
	// with exit status sh.ExitStatus. nil: echo input back until EOF.
	Shell func(sh *Shell)
}

// Shell is one session's shell: read the client's input from it and write
// output to it (the embedded ssh.Channel).
type Shell struct {
	ssh.Channel
	Term       string
	ExitStatus uint32
	done       <-chan struct{}

	mu         sync.Mutex
	cols, rows uint32 // guarded by mu
}

// Size returns the PTY size the client last asked for.
func (sh *Shell) Size() (cols, rows uint32) {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return sh.cols, sh.rows
}

// Done is closed when the client's connection ends.
func (sh *Shell) Done() <-chan struct{} { return sh.done }

// Server is a running test SSH server on 127.0.0.1. It stops when the test
// ends.
type Server struct {
	Addr               string
	HostKey            ssh.PublicKey
	HostKeyFingerprint string

	opts Options
	cfg  *ssh.ServerConfig
	ln   net.Listener
	wg   sync.WaitGroup

	globalRequests atomic.Int64

	mu     sync.Mutex
	conns  map[net.Conn]struct{} // guarded by mu
	closed bool                  // guarded by mu
}

// GlobalRequests returns how many global requests (keepalives) clients
// sent.
func (s *Server) GlobalRequests() int64 { return s.globalRequests.Load() }

// Start starts a server and registers its Close with t.Cleanup.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	if opts.HostKey == nil {
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		if opts.HostKey, err = ssh.NewSignerFromKey(priv); err != nil {
			t.Fatal(err)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{
		Addr: ln.Addr().String(), HostKey: opts.HostKey.PublicKey(),
		HostKeyFingerprint: ssh.FingerprintSHA256(opts.HostKey.PublicKey()),
		opts:               opts, ln: ln, conns: map[net.Conn]struct{}{},
	}
	s.cfg = &ssh.ServerConfig{PasswordCallback: s.password, PublicKeyCallback: s.publicKey}
	s.cfg.AddHostKey(opts.HostKey)
	s.wg.Go(s.accept)
	t.Cleanup(s.Close)
	return s
}

var errDenied = errors.New("denied")

func (s *Server) password(c ssh.ConnMetadata, pw []byte) (*ssh.Permissions, error) {
	if s.opts.Password == "" || c.User() != s.opts.User ||
		subtle.ConstantTimeCompare(pw, []byte(s.opts.Password)) != 1 {
		return nil, errDenied
	}
	return nil, nil
}

func (s *Server) publicKey(c ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
	if s.opts.AuthorizedKey == nil || c.User() != s.opts.User ||
		subtle.ConstantTimeCompare(key.Marshal(), s.opts.AuthorizedKey.Marshal()) != 1 {
		return nil, errDenied
	}
	return nil, nil
}

// Close stops the server, closes every connection and waits for every
// goroutine, shells included (a shell must return once its channel fails or
// Done is closed).
func (s *Server) Close() {
	s.mu.Lock()
	s.closed = true
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.ln.Close()
	s.wg.Wait()
}

func (s *Server) accept() {
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			c.Close()
			return
		}
		s.conns[c] = struct{}{}
		s.mu.Unlock()
		s.wg.Go(func() {
			s.serveConn(c)
			c.Close()
			s.mu.Lock()
			delete(s.conns, c)
			s.mu.Unlock()
		})
	}
}

func (s *Server) serveConn(c net.Conn) {
	sc, chans, reqs, err := ssh.NewServerConn(c, s.cfg)
	if err != nil {
		return
	}
	defer sc.Close()
	done := make(chan struct{})
	s.wg.Go(func() {
		for r := range reqs {
			s.globalRequests.Add(1)
			if s.opts.IgnoreKeepalives {
				continue // never replied: the client's keepalives time out
			}
			if r.WantReply {
				r.Reply(false, nil)
			}
		}
	})
	var chWG sync.WaitGroup
	for nc := range chans {
		if nc.ChannelType() != "session" {
			nc.Reject(ssh.UnknownChannelType, "session only")
			continue
		}
		ch, creqs, err := nc.Accept()
		if err != nil {
			continue
		}
		chWG.Go(func() { s.serveSession(ch, creqs, done) })
	}
	// The connection is gone: shells waiting on Done return.
	sc.Close()
	close(done)
	chWG.Wait()
}

// serveSession answers pty-req, window-change and shell, and runs the
// shell.
func (s *Server) serveSession(ch ssh.Channel, reqs <-chan *ssh.Request, done <-chan struct{}) {
	sh := &Shell{Channel: ch, done: done}
	var shellWG sync.WaitGroup
	defer shellWG.Wait()
	defer ch.Close()
	for r := range reqs {
		ok := true
		switch r.Type {
		case "pty-req":
			var p struct {
				Term             string
				Cols, Rows, W, H uint32
				Modes            string
			}
			if ok = ssh.Unmarshal(r.Payload, &p) == nil; ok {
				sh.Term = p.Term
				sh.setSize(p.Cols, p.Rows)
			}
		case "window-change":
			var p struct{ Cols, Rows, W, H uint32 }
			if ok = ssh.Unmarshal(r.Payload, &p) == nil; ok {
				sh.setSize(p.Cols, p.Rows)
			}
		case "shell":
			shellWG.Go(func() { s.runShell(sh) })
		case "env":
		default:
			ok = false
		}
		if r.WantReply {
			r.Reply(ok, nil)
		}
	}
}

func (sh *Shell) setSize(cols, rows uint32) {
	sh.mu.Lock()
	sh.cols, sh.rows = cols, rows
	sh.mu.Unlock()
}

func (s *Server) runShell(sh *Shell) {
	if s.opts.Shell != nil {
		s.opts.Shell(sh)
	} else {
		buf := make([]byte, 4096)
		for {
			n, err := sh.Read(buf)
			if n > 0 {
				sh.Write(buf[:n])
			}
			if err != nil {
				break
			}
		}
	}
	status := struct{ Status uint32 }{sh.ExitStatus}
	sh.SendRequest("exit-status", false, ssh.Marshal(&status))
	sh.Close()
}
