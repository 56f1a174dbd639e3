package controlplanetest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// EnvRequire turns skips for missing test parts into failures: "all", or a
// comma-separated list naming the part ("sshd").
const EnvRequire = "WARREN_TEST_REQUIRE"

// SSHD is a real OpenSSH server started for one test, on 127.0.0.1 at a
// free high port, stopped when the test ends.
type SSHD struct {
	Addr string // "127.0.0.1:port"
	Port uint16
	User string // the login user ("root")
	// Password logs User in. Empty when the server could not be given a
	// private password (no mount namespace or no openssl): key login only.
	Password string
	// KeyPEM is an unencrypted OpenSSH private key (ed25519) that logs User in.
	KeyPEM []byte
	// Signer is KeyPEM parsed.
	Signer ssh.Signer
	// HostKey is the server's host public key and HostKeyFingerprint its
	// ssh.FingerprintSHA256 ("SHA256:...").
	HostKey            ssh.PublicKey
	HostKeyFingerprint string

	dir      string
	cmd      *exec.Cmd
	exited   chan struct{} // closed when cmd has been waited for
	stopOnce sync.Once
}

// SSHDOptions tune StartSSHDWith.
type SSHDOptions struct {
	// Port to listen on (0: a free port). Restarting a server on the same
	// port with a new host key is how tests change a host key.
	Port uint16
	// HostKeyPEM reuses a host key (an OpenSSH private key) instead of
	// generating one.
	HostKeyPEM []byte
	// ClientKeyPEM reuses a client key (SSHD.KeyPEM of another server)
	// instead of generating one.
	ClientKeyPEM []byte
}

// Required reports whether WARREN_TEST_REQUIRE makes part mandatory.
func Required(part string) bool {
	v := os.Getenv(EnvRequire)
	if v == "all" {
		return true
	}
	for _, p := range strings.Split(v, ",") {
		if strings.TrimSpace(p) == part {
			return true
		}
	}
	return false
}

// SkipUnlessRequired skips t with a loud reason, or fails it when
// WARREN_TEST_REQUIRE names part (or is "all").
func SkipUnlessRequired(t testing.TB, part, reason string) {
	t.Helper()
	if Required(part) {
		t.Fatalf("%s is required (%s=%q) but unavailable: %s", part, EnvRequire, os.Getenv(EnvRequire), reason)
	}
	t.Skipf("SKIPPING: %s unavailable: %s (set %s=all to fail instead)", part, reason, EnvRequire)
}

// StartSSHD starts a real sshd (/usr/sbin/sshd) that accepts root with
// KeyPEM, and with Password where possible. It skips the test when sshd or
// ssh-keygen is missing (fails under WARREN_TEST_REQUIRE=all or "sshd").
func StartSSHD(t testing.TB) *SSHD {
	t.Helper()
	return StartSSHDWith(t, SSHDOptions{})
}

// StartSSHDWith is StartSSHD with options.
func StartSSHDWith(t testing.TB, opts SSHDOptions) *SSHD {
	t.Helper()
	sshdBin := "/usr/sbin/sshd"
	if _, err := os.Stat(sshdBin); err != nil {
		SkipUnlessRequired(t, "sshd", "no /usr/sbin/sshd (apt-get install openssh-server)")
	}
	if _, err := exec.LookPath("ssh-keygen"); err != nil {
		SkipUnlessRequired(t, "sshd", "no ssh-keygen")
	}
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
		SkipUnlessRequired(t, "sshd", "cannot create /run/sshd: "+err.Error())
	}
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	s := &SSHD{User: "root", dir: dir}

	// Host key: reuse or make one with ssh-keygen.
	hostKeyPath := filepath.Join(dir, "ssh_host_ed25519_key")
	if opts.HostKeyPEM != nil {
		if err := os.WriteFile(hostKeyPath, opts.HostKeyPEM, 0o600); err != nil {
			t.Fatal(err)
		}
	} else if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "warren-test-host",
		"-f", hostKeyPath).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v: %s", err, out)
	}
	hostPEM, err := os.ReadFile(hostKeyPath)
	if err != nil {
		t.Fatal(err)
	}
	hostSigner, err := ssh.ParsePrivateKey(hostPEM)
	if err != nil {
		t.Fatalf("parsing host key: %v", err)
	}
	s.HostKey = hostSigner.PublicKey()
	s.HostKeyFingerprint = ssh.FingerprintSHA256(s.HostKey)

	// Client key.
	if opts.ClientKeyPEM != nil {
		s.KeyPEM = opts.ClientKeyPEM
	} else {
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		block, err := ssh.MarshalPrivateKey(priv, "warren-test-client")
		if err != nil {
			t.Fatal(err)
		}
		s.KeyPEM = pem.EncodeToMemory(block)
	}
	if s.Signer, err = ssh.ParsePrivateKey(s.KeyPEM); err != nil {
		t.Fatal(err)
	}
	authKeys := filepath.Join(dir, "authorized_keys")
	if err := os.WriteFile(authKeys, ssh.MarshalAuthorizedKey(s.Signer.PublicKey()), 0o600); err != nil {
		t.Fatal(err)
	}

	// Password: a private /etc/shadow bind-mounted in the server's own mount
	// namespace, so the system's accounts are never touched.
	shadow, password := privateShadow(t, dir)

	port := opts.Port
	if port == 0 {
		port = freePort(t)
	}
	s.Port = port
	s.Addr = fmt.Sprintf("127.0.0.1:%d", port)
	home := filepath.Join(dir, "home")
	if err := os.Mkdir(home, 0o700); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "sshd_config")
	conf := strings.Join([]string{
		"ListenAddress " + s.Addr,
		"HostKey " + hostKeyPath,
		"PidFile none",
		"UsePAM no",
		"StrictModes no",
		"PermitRootLogin yes",
		"PubkeyAuthentication yes",
		"PasswordAuthentication " + yesNo(password != ""),
		"KbdInteractiveAuthentication no",
		"AuthorizedKeysFile " + authKeys,
		"PermitTTY yes",
		"PrintMotd no",
		"PrintLastLog no",
		"UseDNS no",
		"LogLevel VERBOSE",
		"MaxStartups 100",
		"MaxSessions 100",
		"ClientAliveInterval 0",
		"AcceptEnv LANG LC_*",
		// A home of its own: the test's shells read none of the machine
		// user's dotfiles (which may be slow, e.g. a stale pyenv lock
		// makes every root login wait 60 s).
		"SetEnv HOME=" + home,
		"",
	}, "\n")
	if err := os.WriteFile(cfg, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}

	var cmd *exec.Cmd
	if shadow != "" {
		script := `mount --bind "$1" /etc/shadow && exec "$2" -D -e -f "$3"`
		cmd = exec.Command("unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh", shadow, sshdBin, cfg)
		s.Password = password
	} else {
		cmd = exec.Command(sshdBin, "-D", "-e", "-f", cfg)
	}
	logw := &testLogWriter{t: t, prefix: "sshd: "}
	cmd.Stdout = logw
	cmd.Stderr = logw
	// Own process group, so Stop and cleanup end the per-connection
	// children too; WaitDelay bounds Wait if one still holds the pipe.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting sshd: %v", err)
	}
	s.cmd = cmd
	s.exited = make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(s.exited) }()
	t.Cleanup(func() {
		s.Stop()
		logw.stop()
	})

	// Ready when it answers with an SSH banner.
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case <-s.exited:
			t.Fatalf("sshd exited at start: %v (see sshd: lines in the log)", waitErr)
		default:
		}
		if banner(s.Addr) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("sshd on %s not ready after 30s", s.Addr)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return s
}

// Dial logs in to the server with the client key, checking the host key.
func (s *SSHD) Dial(ctx context.Context) (*ssh.Client, error) {
	d := net.Dialer{}
	conn, err := d.DialContext(ctx, "tcp", s.Addr)
	if err != nil {
		return nil, fmt.Errorf("dialing sshd: %w", err)
	}
	cc, chans, reqs, err := ssh.NewClientConn(conn, s.Addr, &ssh.ClientConfig{
		User:            s.User,
		Auth:            []ssh.AuthMethod{ssh.PublicKeys(s.Signer)},
		HostKeyCallback: ssh.FixedHostKey(s.HostKey),
		Timeout:         30 * time.Second,
	})
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("ssh handshake: %w", err)
	}
	return ssh.NewClient(cc, chans, reqs), nil
}

// Stop kills the server and its connections and waits for it to exit (it
// is also stopped when the test ends). The port is free again afterwards.
func (s *SSHD) Stop() {
	s.stopOnce.Do(func() {
		if s.cmd != nil && s.cmd.Process != nil {
			_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
			<-s.exited
		}
	})
}

// HostKeyPEM returns the server's host private key, to start another
// server with the same key (SSHDOptions.HostKeyPEM).
func (s *SSHD) HostKeyPEM() ([]byte, error) {
	return os.ReadFile(filepath.Join(s.dir, "ssh_host_ed25519_key"))
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// banner reports whether addr answers with an SSH identification line.
func banner(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	return err == nil && strings.HasPrefix(line, "SSH-")
}

// freePort returns a free TCP port on 127.0.0.1 (>= 1024, from the kernel).
func freePort(t testing.TB) uint16 {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return uint16(l.Addr().(*net.TCPAddr).Port)
}

var (
	unshareOnce sync.Once
	unshareOK   bool
)

// canUnshare reports whether this process may run a command in a new mount
// namespace with a bind mount (root, and not forbidden by the container).
func canUnshare() bool {
	unshareOnce.Do(func() {
		if os.Geteuid() != 0 {
			return
		}
		if _, err := exec.LookPath("unshare"); err != nil {
			return
		}
		err := exec.Command("unshare", "--mount", "--propagation", "private", "sh", "-c",
			"mount --bind /etc/hostname /etc/hostname").Run()
		unshareOK = err == nil
	})
	return unshareOK
}

// privateShadow writes a copy of /etc/shadow in which root's password is a
// fresh random one, and returns its path and the password; ("", "") when that
// is not possible here.
func privateShadow(t testing.TB, dir string) (path, password string) {
	t.Helper()
	if !canUnshare() {
		t.Logf("sshd: no mount namespace: password login disabled")
		return "", ""
	}
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Logf("sshd: no openssl to hash a password: password login disabled")
		return "", ""
	}
	raw := make([]byte, 18)
	if _, err := rand.Read(raw); err != nil {
		t.Fatal(err)
	}
	password = base64.RawURLEncoding.EncodeToString(raw)
	cmd := exec.Command("openssl", "passwd", "-6", "-stdin")
	cmd.Stdin = strings.NewReader(password + "\n")
	hashOut, err := cmd.Output()
	if err != nil {
		t.Logf("sshd: openssl passwd: %v: password login disabled", err)
		return "", ""
	}
	hash := strings.TrimSpace(string(hashOut))
	orig, err := os.ReadFile("/etc/shadow")
	if err != nil {
		t.Logf("sshd: reading /etc/shadow: %v: password login disabled", err)
		return "", ""
	}
	var out bytes.Buffer
	found := false
	for _, line := range strings.Split(strings.TrimRight(string(orig), "\n"), "\n") {
		f := strings.Split(line, ":")
		if len(f) >= 3 && f[0] == "root" {
			f[1] = hash
			f[2] = "19000" // last change: long ago but not "must change now"
			line = strings.Join(f, ":")
			found = true
		}
		out.WriteString(line + "\n")
	}
	if !found {
		t.Logf("sshd: no root entry in /etc/shadow: password login disabled")
		return "", ""
	}
	path = filepath.Join(dir, "shadow")
	if err := os.WriteFile(path, out.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return path, password
}

// testLogWriter forwards a process's output to the test log, line by line,
// until stop.
type testLogWriter struct {
	t      testing.TB
	prefix string
	mu     sync.Mutex
	buf    []byte
	done   bool
}

func (w *testLogWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.done {
		return len(p), nil
	}
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		w.t.Log(w.prefix + string(w.buf[:i]))
		w.buf = w.buf[i+1:]
	}
	if len(w.buf) > 64<<10 {
		w.buf = w.buf[:0]
	}
	return len(p), nil
}

func (w *testLogWriter) stop() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.done = true
}
