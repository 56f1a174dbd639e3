package ssh

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/ssh"
)

// terminalModes are the PTY modes requested: a cooked UTF-8 terminal with
// echo, CR->NL on input, NL->CRNL on output and DEL as erase, as OpenSSH's
// own client would ask for from a typical local terminal.
var terminalModes = ssh.TerminalModes{
	ssh.ECHO:          1,
	ssh.ICRNL:         1,
	ssh.ONLCR:         1,
	ssh.OPOST:         1,
	ssh.ISIG:          1,
	ssh.ICANON:        1,
	ssh.IEXTEN:        1,
	ssh.IUTF8:         1,
	ssh.VERASE:        0x7f,
	ssh.TTY_OP_ISPEED: 38400,
	ssh.TTY_OP_OSPEED: 38400,
}

// Session is a login shell on a PTY. Read, Write and WindowChange may be
// called concurrently with each other (one reader at a time); Close is
// idempotent and may be called from any goroutine. The caller owns the
// Session and must Close it.
type Session struct {
	client  *ssh.Client
	sess    *ssh.Session
	stdin   io.WriteCloser
	out     *io.PipeReader
	outW    *io.PipeWriter
	hostKey string
	log     *slog.Logger

	done      chan struct{} // closed when the remote session has ended
	closeOnce sync.Once
	closed    atomic.Bool // Close was called
	lost      atomic.Bool // keepalives failed
	wg        sync.WaitGroup

	// Set before done is closed.
	status  int
	waitErr error
}

// Open dials cfg.Addr, authenticates, checks the host key, requests a PTY
// and starts the login shell. Errors: *HostKeyMismatchError, ErrAuthFailed,
// ErrBadKey (all testable with errors.As / errors.Is), or a wrapped dial or
// protocol error. ctx bounds the whole opening, together with cfg.Timeout;
// it does not bound the session's life.
func Open(ctx context.Context, cfg Config) (*Session, error) {
	cfg.setDefaults()
	auth, err := authMethod(cfg)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	conn, err := cfg.Dial(ctx, "tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("dialing %s: %w", cfg.Addr, err)
	}
	// Until the shell runs, ctx ending (cfg.Timeout included) closes the
	// connection, which ends any blocked step below.
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	hk := &hostKeyCheck{want: cfg.HostKey}
	cc, chans, reqs, err := ssh.NewClientConn(conn, cfg.Addr, &ssh.ClientConfig{
		User:            cfg.User,
		Auth:            []ssh.AuthMethod{auth},
		HostKeyCallback: hk.check,
	})
	auth = nil // the credential is not needed any more
	if err != nil {
		stop()
		conn.Close()
		if ctx.Err() != nil && hk.mismatch == nil {
			return nil, fmt.Errorf("ssh handshake with %s: %w", cfg.Addr, ctx.Err())
		}
		return nil, handshakeError(cfg.Addr, hk, err)
	}
	client := ssh.NewClient(cc, chans, reqs)
	s, err := start(client, cfg, hk.got)
	if !stop() {
		err = errors.Join(err, fmt.Errorf("starting shell on %s: %w", cfg.Addr, ctx.Err()))
	}
	if err != nil {
		if s != nil {
			s.Close()
		}
		client.Close()
		return nil, err
	}
	s.wg.Go(func() { s.keepalive(cfg.KeepaliveInterval, cfg.KeepaliveFailures) })
	return s, nil
}

// start opens the session channel, the PTY and the shell.
func start(client *ssh.Client, cfg Config, hostKey string) (*Session, error) {
	sess, err := client.NewSession()
	if err != nil {
		return nil, fmt.Errorf("opening session on %s: %w", cfg.Addr, err)
	}
	if err := sess.RequestPty(cfg.Term, int(cfg.Rows), int(cfg.Cols), terminalModes); err != nil {
		sess.Close()
		return nil, fmt.Errorf("requesting pty on %s: %w", cfg.Addr, err)
	}
	stdin, err := sess.StdinPipe()
	if err != nil {
		sess.Close()
		return nil, fmt.Errorf("stdin on %s: %w", cfg.Addr, err)
	}
	pr, pw := io.Pipe()
	// One pipe for both: the PTY merges them anyway, and stderr must be
	// read too, or the channel's shared window would stall stdout.
	sess.Stdout, sess.Stderr = pw, pw
	if err := sess.Shell(); err != nil {
		sess.Close()
		return nil, fmt.Errorf("starting shell on %s: %w", cfg.Addr, err)
	}
	s := &Session{
		client: client, sess: sess, stdin: stdin, out: pr, outW: pw, hostKey: hostKey,
		log: cfg.Logger, done: make(chan struct{}),
	}
	s.wg.Go(s.wait)
	return s, nil
}

// wait records how the remote session ended and ends the output.
func (s *Session) wait() {
	err := s.sess.Wait()
	var exit *ssh.ExitError
	switch {
	case errors.As(err, &exit):
		s.status = exit.ExitStatus()
	case err == nil:
	case s.lost.Load():
		s.waitErr = ErrConnectionLost
	case s.closed.Load():
		s.waitErr = ErrClosed
	default:
		s.log.Debug("ssh session ended without exit status", "err", err)
		s.waitErr = ErrConnectionLost
	}
	close(s.done)
	s.outW.CloseWithError(io.EOF)
	s.client.Close()
}

// keepalive sends keepalive@openssh.com every interval; failures in a row
// close the connection as lost.
func (s *Session) keepalive(interval time.Duration, failures int) {
	t := time.NewTicker(interval)
	defer t.Stop()
	failed := 0
	for {
		select {
		case <-s.done:
			return
		case <-t.C:
		}
		if s.ping(interval) {
			failed = 0
			continue
		}
		failed++
		s.log.Debug("ssh keepalive failed", "failures", failed)
		if failed >= failures {
			s.lost.Store(true)
			s.client.Close()
			return
		}
	}
}

// ping sends one keepalive and reports whether the server answered (either
// way) within timeout. A request still pending at the timeout returns once
// the connection is closed.
func (s *Session) ping(timeout time.Duration) bool {
	res := make(chan error, 1)
	s.wg.Go(func() {
		_, _, err := s.client.SendRequest("keepalive@openssh.com", true, nil)
		res <- err
	})
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case err := <-res:
		return err == nil
	case <-t.C:
		return false
	case <-s.done:
		return true
	}
}

// HostKey returns the fingerprint of the key the server offered
// ("SHA256:...").
func (s *Session) HostKey() string { return s.hostKey }

// Read reads the shell's output (stdout and stderr merged). It returns
// io.EOF once the session has ended and all output was read, or ErrClosed
// after Close.
func (s *Session) Read(p []byte) (int, error) {
	n, err := s.out.Read(p)
	if errors.Is(err, io.ErrClosedPipe) {
		err = ErrClosed
	}
	return n, err
}

// Write sends input to the shell.
func (s *Session) Write(p []byte) (int, error) { return s.stdin.Write(p) }

// WindowChange tells the server the terminal's new size.
func (s *Session) WindowChange(cols, rows uint16) error {
	if err := s.sess.WindowChange(int(rows), int(cols)); err != nil {
		return fmt.Errorf("ssh window change: %w", err)
	}
	return nil
}

// Done is closed when the remote session has ended (shell exit, lost
// connection or Close).
func (s *Session) Done() <-chan struct{} { return s.done }

// Wait waits for the session to end. It returns the shell's exit status
// (128+n for a signal) and a nil error when the shell exited; otherwise
// ErrConnectionLost or ErrClosed.
func (s *Session) Wait() (status int, err error) {
	<-s.done
	return s.status, s.waitErr
}

// Close ends the session and the connection and waits for the session's
// goroutines. Reads in progress return ErrClosed.
func (s *Session) Close() error {
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		s.out.CloseWithError(ErrClosed)
		s.client.Close()
	})
	s.wg.Wait()
	return nil
}
