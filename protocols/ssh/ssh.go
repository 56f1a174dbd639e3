// Package ssh opens interactive SSH sessions for the agent: one login shell
// on a PTY, its output (stdout and stderr, which the PTY merges) as one
// reader, its input as one writer, window changes, keepalives and the exit
// status. The host key is checked against an expected SHA-256 fingerprint,
// or recorded on first use.
//
// The caller dials: Config.Dial is the network seam (the agent dials its
// targets on its host network). Credentials are used for the handshake only
// and never appear in an error or a log.
//
// It imports only the standard library and golang.org/x/crypto; it must
// never import the agent, the engine or netstack.
package ssh

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
)

// DialFunc dials a network address.
type DialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

// Defaults of Config's zero values.
const (
	DefaultTimeout           = 15 * time.Second
	DefaultKeepaliveInterval = 30 * time.Second
	DefaultKeepaliveFailures = 3
	DefaultTerm              = "xterm-256color"
	DefaultCols              = 80
	DefaultRows              = 24
)

// Config describes one session. Zero values are the documented defaults.
type Config struct {
	// Addr is the target's host:port.
	Addr string
	// User logs in with Password or PrivateKey (exactly one).
	User     string
	Password string
	// PrivateKey is an unencrypted PEM private key (OpenSSH, PKCS#1,
	// PKCS#8 or SEC1). Open does not keep it: the caller may zero it once
	// Open returns.
	PrivateKey []byte
	// HostKey is the expected fingerprint, as ssh.FingerprintSHA256 prints
	// it ("SHA256:..."). Empty: accept the offered key (first use); read it
	// back with Session.HostKey.
	HostKey string
	// Term, Cols and Rows describe the PTY ("": DefaultTerm; 0: 80x24).
	Term       string
	Cols, Rows uint16
	// Dial dials the target (nil: a net.Dialer).
	Dial DialFunc
	// Timeout bounds dialing, the handshake, authentication and starting
	// the shell (0: DefaultTimeout).
	Timeout time.Duration
	// KeepaliveInterval is how often a keepalive@openssh.com request is
	// sent (0: DefaultKeepaliveInterval); a request not answered within
	// one interval is a failure, and KeepaliveFailures failures in a row
	// (0: DefaultKeepaliveFailures) close the session as lost.
	KeepaliveInterval time.Duration
	KeepaliveFailures int
	// Logger receives debug logs (nil: discard).
	Logger *slog.Logger
}

// LogValue keeps credentials out of logs.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(slog.String("addr", c.Addr), slog.String("user", c.User),
		slog.String("host_key", c.HostKey), slog.String("credential", "REDACTED"))
}

// String keeps credentials out of %v and %+v.
func (c Config) String() string {
	return fmt.Sprintf("ssh.Config{addr=%s user=%s credential=REDACTED}", c.Addr, c.User)
}

// GoString keeps credentials out of %#v.
func (c Config) GoString() string { return c.String() }

var _ slog.LogValuer = Config{}

func (c *Config) setDefaults() {
	if c.Term == "" {
		c.Term = DefaultTerm
	}
	if c.Cols == 0 {
		c.Cols = DefaultCols
	}
	if c.Rows == 0 {
		c.Rows = DefaultRows
	}
	if c.Dial == nil {
		c.Dial = (&net.Dialer{}).DialContext
	}
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeout
	}
	if c.KeepaliveInterval <= 0 {
		c.KeepaliveInterval = DefaultKeepaliveInterval
	}
	if c.KeepaliveFailures <= 0 {
		c.KeepaliveFailures = DefaultKeepaliveFailures
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// Errors callers branch on.
var (
	// ErrAuthFailed: the server refused the credential.
	ErrAuthFailed = errors.New("ssh: authentication failed")
	// ErrBadKey: the private key could not be used (malformed, encrypted).
	ErrBadKey = errors.New("ssh: unusable private key")
	// ErrConnectionLost: the connection broke or stopped answering
	// keepalives before the shell exited.
	ErrConnectionLost = errors.New("ssh: connection lost")
	// ErrClosed: the session was closed by Close.
	ErrClosed = errors.New("ssh: session closed")
)

// HostKeyMismatchError reports a host key that is not the expected one. Got
// is the fingerprint the server offered.
type HostKeyMismatchError struct {
	Want, Got string
}

func (e *HostKeyMismatchError) Error() string {
	return fmt.Sprintf("ssh: host key mismatch: server offered %s, expected %s", e.Got, e.Want)
}

// authMethod builds the one auth method the config names.
func authMethod(c Config) (ssh.AuthMethod, error) {
	switch {
	case c.Password != "" && len(c.PrivateKey) > 0:
		return nil, errors.New("ssh: both a password and a private key given")
	case c.Password != "":
		return ssh.Password(c.Password), nil
	case len(c.PrivateKey) > 0:
		signer, err := ssh.ParsePrivateKey(c.PrivateKey)
		var missing *ssh.PassphraseMissingError
		if errors.As(err, &missing) {
			return nil, fmt.Errorf("%w: encrypted keys are not supported", ErrBadKey)
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrBadKey, err)
		}
		return ssh.PublicKeys(signer), nil
	}
	return nil, errors.New("ssh: no password or private key given")
}

// hostKeyCheck verifies the offered host key and remembers it.
type hostKeyCheck struct {
	want     string
	got      string
	mismatch *HostKeyMismatchError
}

func (h *hostKeyCheck) check(_ string, _ net.Addr, key ssh.PublicKey) error {
	h.got = ssh.FingerprintSHA256(key)
	if h.want == "" || subtle.ConstantTimeCompare([]byte(h.want), []byte(h.got)) == 1 {
		return nil
	}
	h.mismatch = &HostKeyMismatchError{Want: h.want, Got: h.got}
	return h.mismatch
}

// handshakeError turns a failed handshake into one of our typed errors.
// x/crypto has no typed error for a refused credential: its message is
// stable ("ssh: unable to authenticate").
func handshakeError(addr string, hk *hostKeyCheck, err error) error {
	switch {
	case hk.mismatch != nil:
		return hk.mismatch
	case strings.Contains(err.Error(), "unable to authenticate"):
		return fmt.Errorf("ssh handshake with %s: %w", addr, ErrAuthFailed)
	}
	return fmt.Errorf("ssh handshake with %s: %w", addr, err)
}
