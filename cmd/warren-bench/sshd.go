package main

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
)

// sshdBin is Debian's OpenSSH server (package openssh-server).
const sshdBin = "/usr/sbin/sshd"

// benchSSHD is a real OpenSSH server on a free port of 127.0.0.1 that logs
// the current user in with a key made for this run: the peer of both
// measured session paths.
type benchSSHD struct {
	Addr    string
	User    string
	KeyPEM  []byte // unencrypted OpenSSH private key of User
	Signer  ssh.Signer
	HostKey ssh.PublicKey

	dir    string
	cmd    *exec.Cmd
	exited chan error
}

// startSSHD starts sshd in a temporary directory and returns once it
// answers with an SSH banner.
func startSSHD(ctx context.Context) (_ *benchSSHD, err error) {
	if _, err := os.Stat(sshdBin); err != nil {
		return nil, fmt.Errorf("no OpenSSH server at %s (apt-get install openssh-server)", sshdBin)
	}
	u, err := user.Current()
	if err != nil {
		return nil, fmt.Errorf("finding the current user: %w", err)
	}
	dir, err := os.MkdirTemp("", "warren-bench-sshd-*")
	if err != nil {
		return nil, err
	}
	s := &benchSSHD{User: u.Username, dir: dir}
	defer func() {
		if err != nil {
			err = errors.Join(err, s.Close())
		}
	}()
	if os.Geteuid() == 0 {
		// Privilege separation needs its empty directory.
		if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
			return nil, err
		}
	}
	hostKey, err := s.writeKeys()
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s.Addr = ln.Addr().String()
	ln.Close()
	// A home of its own: the shell reads no dotfiles of the machine's user
	// (which may do anything, slowly), so both paths measure the same
	// clean shell.
	home := filepath.Join(dir, "home")
	if err := os.Mkdir(home, 0o700); err != nil {
		return nil, err
	}
	conf := filepath.Join(dir, "sshd_config")
	if err := os.WriteFile(conf, []byte(strings.Join([]string{
		"ListenAddress " + s.Addr,
		"HostKey " + hostKey,
		"PidFile none",
		"UsePAM no",
		"StrictModes no",
		"PermitRootLogin yes",
		"PubkeyAuthentication yes",
		"PasswordAuthentication no",
		"KbdInteractiveAuthentication no",
		"AuthorizedKeysFile " + filepath.Join(dir, "authorized_keys"),
		"PermitTTY yes",
		"PrintMotd no",
		"PrintLastLog no",
		"UseDNS no",
		"MaxStartups 200",
		"MaxSessions 200",
		"SetEnv HOME=" + home,
		"",
	}, "\n")), 0o600); err != nil {
		return nil, err
	}
	s.cmd = exec.Command(sshdBin, "-D", "-e", "-f", conf)
	s.cmd.Stderr = &tailWriter{}
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting sshd: %w", err)
	}
	s.exited = make(chan error, 1)
	go func() { s.exited <- s.cmd.Wait() }()
	return s, s.waitBanner(ctx)
}

// writeKeys makes the host key (ssh-keygen, as an operator would) and the
// client key, and authorizes the client key.
func (s *benchSSHD) writeKeys() (hostKeyPath string, err error) {
	hostKeyPath = filepath.Join(s.dir, "ssh_host_ed25519_key")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", hostKeyPath).CombinedOutput(); err != nil {
		return "", fmt.Errorf("ssh-keygen: %v: %s", err, out)
	}
	hostPEM, err := os.ReadFile(hostKeyPath)
	if err != nil {
		return "", err
	}
	hostSigner, err := ssh.ParsePrivateKey(hostPEM)
	if err != nil {
		return "", fmt.Errorf("parsing the host key: %w", err)
	}
	s.HostKey = hostSigner.PublicKey()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return "", err
	}
	block, err := ssh.MarshalPrivateKey(priv, "warren-bench")
	if err != nil {
		return "", err
	}
	s.KeyPEM = pem.EncodeToMemory(block)
	if s.Signer, err = ssh.ParsePrivateKey(s.KeyPEM); err != nil {
		return "", err
	}
	return hostKeyPath, os.WriteFile(filepath.Join(s.dir, "authorized_keys"), ssh.MarshalAuthorizedKey(s.Signer.PublicKey()), 0o600)
}

func (s *benchSSHD) waitBanner(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	for {
		select {
		case err := <-s.exited:
			s.exited <- err
			return fmt.Errorf("sshd exited at start: %v: %s", err, s.cmd.Stderr)
		case <-ctx.Done():
			return fmt.Errorf("sshd on %s not answering: %w", s.Addr, ctx.Err())
		case <-time.After(20 * time.Millisecond): // polling interval
		}
		if banner(s.Addr) {
			return nil
		}
	}
}

// banner reports whether addr answers with an SSH identification line.
func banner(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	return err == nil && strings.HasPrefix(line, "SSH-")
}

// Dial logs in with the client key, checking the host key.
func (s *benchSSHD) Dial(ctx context.Context) (*ssh.Client, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", s.Addr)
	if err != nil {
		return nil, err
	}
	cc, chans, reqs, err := ssh.NewClientConn(conn, s.Addr, &ssh.ClientConfig{
		User:            s.User,
		Auth:            []ssh.AuthMethod{ssh.PublicKeys(s.Signer)},
		HostKeyCallback: ssh.FixedHostKey(s.HostKey),
		Timeout:         readyTimeout,
	})
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("ssh handshake: %w", err)
	}
	return ssh.NewClient(cc, chans, reqs), nil
}

// Close kills the server and removes its directory. Safe on a partly
// started server.
func (s *benchSSHD) Close() error {
	if s.cmd != nil && s.cmd.Process != nil {
		s.cmd.Process.Kill()
		<-s.exited
	}
	return os.RemoveAll(s.dir)
}

// tailWriter keeps the last 4 KiB written: sshd's log, for error messages.
type tailWriter struct{ buf []byte }

func (w *tailWriter) Write(p []byte) (int, error) {
	w.buf = append(w.buf, p...)
	if len(w.buf) > 4096 {
		w.buf = w.buf[len(w.buf)-4096:]
	}
	return len(p), nil
}

func (w *tailWriter) String() string { return string(w.buf) }
