// Package controlplanetest starts a real Warren engine in process on
// 127.0.0.1:0 and real agents against it over real UDP loopback, for
// end-to-end tests. Nothing is mocked: the engine has its own store (SQLite
// in a temp dir unless a database URL is given), WireGuard device and HTTP
// listeners; agents enroll through the public API and keep their netmap
// stream over the overlay.
package controlplanetest

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/warrenhq/warren/agent"
	"github.com/warrenhq/warren/controlplane"
	"github.com/warrenhq/warren/controlplane/api"
)

// Clock is a settable clock for expiry tests. The zero value reads
// time.Now; Advance moves it forward.
type Clock struct {
	mu     sync.Mutex
	offset time.Duration // guarded by mu
}

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset += d
}

// Options configure an Engine.
type Options struct {
	// DatabaseURL selects the store ("" = SQLite in the data dir).
	DatabaseURL string
	// Clock drives token expiry (nil = a fresh Clock).
	Clock *Clock
	// Verbose sends engine logs to the test log.
	Verbose bool
}

// Engine is an engine running in the test process.
type Engine struct {
	*controlplane.Engine
	Clock   *Clock
	DataDir string
	URL     string // public URL, http://127.0.0.1:port

	t      testing.TB
	cfg    controlplane.Config
	cancel context.CancelFunc
	done   chan error
}

// NewEngine starts an engine and stops it when the test ends.
func NewEngine(t testing.TB, opts Options) *Engine {
	t.Helper()
	if opts.Clock == nil {
		opts.Clock = &Clock{}
	}
	e := &Engine{Clock: opts.Clock, DataDir: t.TempDir(), t: t}
	e.cfg = controlplane.Config{
		DataDir:     e.DataDir,
		Listen:      "127.0.0.1:0",
		WGListen:    "127.0.0.1:0",
		DatabaseURL: opts.DatabaseURL,
		Now:         opts.Clock.Now,
		Logger:      Logger(t, "engine", opts.Verbose),
	}
	e.Start()
	// Restarts keep the ports agents know.
	e.cfg.Listen = e.Addr().String()
	e.cfg.WGListen = fmt.Sprintf("127.0.0.1:%d", e.WGPort())
	e.cfg.PublicURL = e.URL
	t.Cleanup(e.Stop)
	return e
}

// Start starts the engine (again, after Stop) on the same data dir and ports.
func (e *Engine) Start() {
	e.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	eng, err := controlplane.New(ctx, e.cfg)
	if err != nil {
		cancel()
		e.t.Fatalf("starting engine: %v", err)
	}
	e.Engine, e.cancel, e.done = eng, cancel, make(chan error, 1)
	e.URL = "http://" + eng.Addr().String()
	go func() { e.done <- eng.Run(ctx) }()
	WaitFor(e.t, 10*time.Second, "engine healthy", e.Healthy)
}

// Stop stops the engine and waits for it to release everything. Calling it
// on a stopped engine does nothing.
func (e *Engine) Stop() {
	if e.cancel == nil {
		return
	}
	e.cancel()
	if err := <-e.done; err != nil {
		e.t.Errorf("engine stopped with: %v", err)
	}
	e.cancel = nil
}

// Healthy reports whether GET /healthz answers 200.
func (e *Engine) Healthy() bool {
	resp, err := http.Get(e.URL + "/healthz")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// Admin returns a client of the engine's admin socket.
func (e *Engine) Admin() *api.Client { return api.NewClient(e.DataDir) }

// Token issues an enrollment token.
func (e *Engine) Token(ttl time.Duration) string {
	e.t.Helper()
	ttlText := ""
	if ttl != 0 {
		ttlText = ttl.String()
	}
	tok, err := e.Admin().CreateToken(context.Background(), ttlText)
	if err != nil {
		e.t.Fatalf("creating token: %v", err)
	}
	return tok.Token
}

// Agent is an agent running in the test process.
type Agent struct {
	*agent.Agent
	StateDir string
	Name     string

	t      testing.TB
	cfg    agent.Config
	cancel context.CancelFunc
	done   chan error
}

// NewAgent enrolls a device called name with a fresh token and runs its
// agent until the test ends. It returns once the engine sees it online.
func (e *Engine) NewAgent(name string) *Agent {
	e.t.Helper()
	return e.EnrollAgent(name, e.Token(0))
}

// EnrollAgent is NewAgent with a given enrollment token (for example an
// organization's, from the REST API).
func (e *Engine) EnrollAgent(name, token string) *Agent {
	e.t.Helper()
	dir := filepath.Join(e.t.TempDir(), "agent-"+name)
	_, err := agent.Enroll(context.Background(), agent.EnrollConfig{
		Server: e.URL, Token: token, StateDir: dir, Name: name, Hostname: name, Version: "test",
	})
	if err != nil {
		e.t.Fatalf("enrolling %s: %v", name, err)
	}
	a := &Agent{StateDir: dir, Name: name, t: e.t, cfg: agent.Config{
		StateDir:   dir,
		Logger:     Logger(e.t, "agent "+name, false),
		Version:    "test",
		Hostname:   name,
		ListenAddr: netip.MustParseAddrPort("127.0.0.1:0"),
	}}
	a.Start()
	e.t.Cleanup(a.Stop)
	e.WaitOnline(name)
	return a
}

// Start runs the agent (again, after Stop).
func (a *Agent) Start() {
	a.t.Helper()
	ag, err := agent.New(a.cfg)
	if err != nil {
		a.t.Fatalf("starting agent %s: %v", a.Name, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	a.Agent, a.cancel, a.done = ag, cancel, make(chan error, 1)
	go func() { a.done <- ag.Run(ctx) }()
}

// Stop stops the agent and waits for it. Calling it twice does nothing.
func (a *Agent) Stop() {
	if a.cancel == nil {
		return
	}
	a.cancel()
	<-a.done
	a.cancel = nil
}

// Device returns the enrolled device as the engine lists it.
func (e *Engine) Device(name string) api.Device {
	e.t.Helper()
	ds, err := e.Admin().ListDevices(context.Background())
	if err != nil {
		e.t.Fatalf("listing devices: %v", err)
	}
	for _, d := range ds {
		if d.Name == name {
			return d
		}
	}
	e.t.Fatalf("device %s is not enrolled", name)
	return api.Device{}
}

// WaitOnline waits until the engine sees the device's netmap stream.
func (e *Engine) WaitOnline(name string) {
	e.t.Helper()
	WaitFor(e.t, 15*time.Second, name+" online", func() bool { return e.Device(name).Online })
}

// Dial opens a connection from the engine over the overlay to a device port.
func (e *Engine) Dial(ctx context.Context, name string, port int) (net.Conn, error) {
	d := e.Device(name)
	return e.Overlay().Device().DialContext(ctx, "tcp", net.JoinHostPort(d.OverlayIP, fmt.Sprint(port)))
}

// WaitFor polls cond every 20 ms until it holds, failing the test after
// timeout. It is bounded polling for state that changes asynchronously, not
// a performance assertion.
func WaitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Logger returns a logger writing to the test log when verbose (or when
// WARREN_TEST_VERBOSE is set), else discarding.
func Logger(t testing.TB, name string, verbose bool) *slog.Logger {
	if !verbose && os.Getenv("WARREN_TEST_VERBOSE") == "" {
		return slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug})).With("who", name)
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	return len(p), nil
}

// EchoServer starts a TCP echo server on 127.0.0.1 and returns its address
// and a counter of accepted connections. At cleanup it closes every
// connection it holds rather than waiting for peers to hang up: a flow whose
// overlay side was abandoned mid-dial would otherwise never end.
func EchoServer(t testing.TB) (addr string, accepted func() int) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		n     int
		conns = map[net.Conn]struct{}{}
		wg    sync.WaitGroup
	)
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			n++
			conns[c] = struct{}{}
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				io.Copy(c, c)
				c.Close()
				mu.Lock()
				delete(conns, c)
				mu.Unlock()
			}()
		}
	}()
	return ln.Addr().String(), func() int { mu.Lock(); defer mu.Unlock(); return n }
}
