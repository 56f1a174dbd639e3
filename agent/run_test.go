package agent

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/warrenhq/warren/controlplane/wire"
	"github.com/warrenhq/warren/netstack"
)

// testEngine is the agent-facing side of an engine, reduced to what the wire
// protocol says: a netstack device that peers with the agent and serves the
// netmap stream on its overlay address. The test drives each stream. The
// full engine is exercised by the controlplane harness.
type testEngine struct {
	t       *testing.T
	key     netstack.Key
	dev     *netstack.Device
	streams chan *websocket.Conn
	srv     *http.Server
}

// startTestEngine starts an engine peered with agentKey. port 0 picks one.
func startTestEngine(t *testing.T, key, agentKey netstack.Key, port uint16, agentEndpoint netip.AddrPort) *testEngine {
	t.Helper()
	dev, err := netstack.New(netstack.Config{
		PrivateKey: key, Address: engineIP,
		ListenAddr: netip.AddrPortFrom(loopback.Addr(), port),
	})
	if err != nil {
		t.Fatalf("starting engine device: %v", err)
	}
	peer := peerOf(agentKey, agentIP, agentEndpoint)
	if agentEndpoint.IsValid() {
		peer.PersistentKeepalive = keepalive // a restarted engine calls its agents
	}
	if err := dev.SetPeers([]netstack.Peer{peer}); err != nil {
		t.Fatal(err)
	}
	ln, err := dev.Listen("tcp", netip.AddrPortFrom(engineIP, wire.EnginePort).String())
	if err != nil {
		t.Fatal(err)
	}
	e := &testEngine{t: t, key: key, dev: dev, streams: make(chan *websocket.Conn, 4)}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+wire.StreamPath, func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		e.streams <- c
	})
	e.srv = &http.Server{Handler: mux}
	go e.srv.Serve(ln)
	t.Cleanup(e.stop)
	return e
}

func (e *testEngine) stop() {
	e.srv.Close()
	e.dev.Close()
}

func (e *testEngine) entry() wire.Engine {
	return wire.Engine{
		PublicKey: e.key.Public().String(),
		Endpoint:  udpAddr(e.dev).String(),
		OverlayIP: engineIP.String(),
	}
}

// accept waits for the agent's next stream and its first health report.
func (e *testEngine) accept(ctx context.Context) (*websocket.Conn, wire.Health) {
	e.t.Helper()
	select {
	case c := <-e.streams:
		e.t.Cleanup(func() { c.CloseNow() })
		return c, e.health(ctx, c)
	case <-ctx.Done():
		e.t.Fatal("agent never opened a netmap stream")
		return nil, wire.Health{}
	}
}

// health reads the next health report, skipping session reports.
func (e *testEngine) health(ctx context.Context, c *websocket.Conn) wire.Health {
	e.t.Helper()
	for {
		typ, data, err := c.Read(ctx)
		if err != nil {
			e.t.Fatalf("reading from agent: %v", err)
		}
		m, err := wire.DecodeMessage(data)
		if typ == websocket.MessageText && err == nil && m.Type == wire.TypeSessions {
			continue
		}
		if typ != websocket.MessageText || err != nil || m.Type != wire.TypeHealth {
			e.t.Fatalf("agent sent %v %q (%v), want a health message", typ, data, err)
		}
		return *m.Health
	}
}

// push sends a netmap and returns the health report that acknowledges it.
func (e *testEngine) push(ctx context.Context, c *websocket.Conn, nm wire.Netmap) wire.Health {
	e.t.Helper()
	data, err := json.Marshal(wire.Message{Type: wire.TypeNetmap, Netmap: &nm})
	if err != nil {
		e.t.Fatal(err)
	}
	if err := c.Write(ctx, websocket.MessageText, data); err != nil {
		e.t.Fatalf("sending netmap: %v", err)
	}
	return e.health(ctx, c)
}

// enrolledDir writes an enrollment with one engine and returns the dir.
func enrolledDir(t *testing.T, agentKey netstack.Key, engines ...wire.Engine) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "state")
	st := State{
		ServerURL: "https://warren.example.com", DeviceID: "dev_1", Name: "web-1",
		OverlayIP: agentIP, Prefix: netip.MustParsePrefix("100.96.0.0/12"),
		PrivateKey: PrivateKey(agentKey), Engines: engines,
	}
	if err := SaveState(dir, st); err != nil {
		t.Fatal(err)
	}
	return dir
}

// startAgent runs an agent from dir; the returned stop cancels it and
// returns Run's result.
func startAgent(t *testing.T, dir string) (stop func() error) {
	t.Helper()
	a, err := New(Config{StateDir: dir, Logger: testLogger(t), Version: "test", Hostname: "host-a", ListenAddr: loopback})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	stopped := false
	stop = func() error {
		if stopped {
			return nil
		}
		stopped = true
		cancel()
		return <-done
	}
	t.Cleanup(func() { stop() })
	return stop
}

// waitStatus polls status.json until ok accepts it.
func waitStatus(ctx context.Context, t *testing.T, dir string, ok func(Status) bool) Status {
	t.Helper()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	var last Status
	for {
		if st, err := ReadStatus(dir); err == nil {
			last = st
			if ok(st) {
				return st
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("status.json never reached the wanted state; last %+v", last)
		case <-tick.C:
		}
	}
}

// refused reports that dialling addr through dev fails. A filtered port
// drops the SYN, so the dial is given a short time; only a success fails.
func refused(ctx context.Context, dev *netstack.Device, addr string) bool {
	ctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel()
	c, err := dev.DialContext(ctx, "tcp", addr)
	if err == nil {
		c.Close()
		return false
	}
	return true
}

func TestRunNetmapStream(t *testing.T) {
	ctx := testCtx(t)
	agentKey := newKey(t)
	eng := startTestEngine(t, newKey(t), agentKey, 0, netip.AddrPort{})
	dir := enrolledDir(t, agentKey, eng.entry())
	stop := startAgent(t, dir)

	c, h := eng.accept(ctx)
	if h.Version != "test" || h.Hostname != "host-a" || h.NetmapVersion != 0 {
		t.Errorf("first health = %+v, want version test, host-a, netmap 0", h)
	}
	echo := wire.Service{Name: "echo", Protocol: "tcp", Port: 2000, Target: finalTarget(t)}
	nm := wire.Netmap{Version: 5, DeviceID: "dev_1", Engines: []wire.Engine{eng.entry()}, Services: []wire.Service{echo}}
	if h := eng.push(ctx, c, nm); h.NetmapVersion != 5 {
		t.Fatalf("health after netmap 5 = %+v, want netmap_version 5", h)
	}

	// The service forwards through the overlay with half-close.
	if got, err := roundTrip(ctx, eng.dev, addr(2000), "hi"); got != "got:hi" {
		t.Fatalf("service 2000 -> %q, %v; want got:hi", got, err)
	}
	// Not a service: dropped by the filter.
	if !refused(ctx, eng.dev, addr(2001)) {
		t.Errorf("port 2001 (not a service) accepted a connection")
	}

	// The agent API answers on the overlay.
	client := &http.Client{Transport: &http.Transport{DialContext: eng.dev.DialContext}}
	defer client.CloseIdleConnections()
	var health HealthResponse
	getJSON(ctx, t, client, "http://100.96.0.2:7/v1/health", http.StatusOK, &health)
	if health != (HealthResponse{Version: "test", Hostname: "host-a", DeviceID: "dev_1"}) {
		t.Errorf("GET /v1/health = %+v", health)
	}
	var eb wire.ErrorBody
	getJSON(ctx, t, client, "http://100.96.0.2:7/nope", http.StatusNotFound, &eb)
	if eb.Error.Code != "not_found" {
		t.Errorf("GET /nope = %+v, want not_found", eb)
	}

	// Status and netmap are persisted.
	st := waitStatus(ctx, t, dir, func(s Status) bool { return s.StreamConnected && s.NetmapVersion == 5 })
	if st.OverlayIP != agentIP.String() || st.EngineEndpoint != udpAddr(eng.dev).String() || st.LastHandshake.IsZero() ||
		len(st.Services) != 1 || !st.Services[0].Listening || !st.Running(time.Now()) {
		t.Errorf("status = %+v", st)
	}
	var saved wire.Netmap
	if err := readJSON(filepath.Join(dir, netmapFile), &saved); err != nil || saved.Version != 5 {
		t.Errorf("netmap.json = %+v, %v; want version 5", saved, err)
	}
	assertMode(t, filepath.Join(dir, netmapFile), 0o600)
	assertMode(t, filepath.Join(dir, statusFile), 0o600)

	// An older netmap is ignored.
	if h := eng.push(ctx, c, wire.Netmap{Version: 4, DeviceID: "dev_1"}); h.NetmapVersion != 5 {
		t.Errorf("health after old netmap 4 = %+v, want 5 kept", h)
	}
	if got, _ := roundTrip(ctx, eng.dev, addr(2000), "x"); got != "got:x" {
		t.Errorf("service gone after an old netmap: %q", got)
	}

	// The engine drops the stream: the agent comes back.
	c.Close(websocket.StatusGoingAway, "restart")
	c, h = eng.accept(ctx)
	if h.NetmapVersion != 5 {
		t.Errorf("health on reconnect = %+v, want netmap 5", h)
	}

	// A netmap for another device is refused and the stream reset.
	data, _ := json.Marshal(wire.Message{Type: wire.TypeNetmap, Netmap: &wire.Netmap{Version: 9, DeviceID: "dev_other"}})
	c.Write(ctx, websocket.MessageText, data)
	var err error
	for err == nil { // session reports may come first
		_, _, err = c.Read(ctx)
	}
	if websocket.CloseStatus(err) != websocket.StatusPolicyViolation {
		t.Errorf("after a foreign netmap the agent closed with %v, want policy violation", err)
	}
	c, h = eng.accept(ctx)
	if h.NetmapVersion != 5 {
		t.Errorf("health after foreign netmap = %+v, want netmap 5", h)
	}

	if err := stop(); err != nil {
		t.Errorf("Run() = %v, want nil after cancel", err)
	}
	if st, err := ReadStatus(dir); err != nil || st.Running(time.Now()) || st.StreamConnected {
		t.Errorf("status after stop = %+v, %v; want not running", st, err)
	}

	// Restarted, the agent serves the saved netmap before the engine says
	// anything.
	startAgent(t, dir)
	c, h = eng.accept(ctx)
	if h.NetmapVersion != 5 {
		t.Errorf("health after restart = %+v, want the saved netmap 5", h)
	}
	if got, err := roundTrip(ctx, eng.dev, addr(2000), "again"); got != "got:again" {
		t.Fatalf("service after restart -> %q, %v; want got:again", got, err)
	}

	// Removing the service closes the port.
	if h := eng.push(ctx, c, wire.Netmap{Version: 6, DeviceID: "dev_1", Engines: []wire.Engine{eng.entry()}}); h.NetmapVersion != 6 {
		t.Fatalf("health after netmap 6 = %+v", h)
	}
	if !refused(ctx, eng.dev, addr(2000)) {
		t.Errorf("removed service 2000 still accepts connections")
	}

	// A new engine list is adopted and persisted.
	other := wire.Engine{PublicKey: newKey(t).Public().String(), Endpoint: "127.0.0.1:9", OverlayIP: "100.96.0.3"}
	if h := eng.push(ctx, c, wire.Netmap{Version: 7, DeviceID: "dev_1", Engines: []wire.Engine{eng.entry(), other}}); h.NetmapVersion != 7 {
		t.Fatalf("health after netmap 7 = %+v", h)
	}
	if st, err := LoadState(dir); err != nil || len(st.Engines) != 2 || st.Engines[1] != other {
		t.Errorf("state engines after netmap 7 = %+v, %v; want 2 engines", st.Engines, err)
	}
}

// TestRunReconnectsAfterEngineRestart: the engine restarts with the same key
// and port; the agent's TCP connection to the old engine is stale and only
// the agent's pings can find out.
func TestRunReconnectsAfterEngineRestart(t *testing.T) {
	ctx := testCtx(t)
	agentKey, engineKey := newKey(t), newKey(t)
	eng := startTestEngine(t, engineKey, agentKey, 0, netip.AddrPort{})
	port := eng.dev.ListenPort()
	dir := enrolledDir(t, agentKey, eng.entry())
	startAgent(t, dir)
	c, _ := eng.accept(ctx)
	eng.push(ctx, c, wire.Netmap{Version: 1, DeviceID: "dev_1"})
	ps, ok := eng.dev.Peer(agentKey.Public())
	if !ok || !ps.Endpoint.IsValid() {
		t.Fatalf("engine does not know the agent's endpoint: %+v", ps)
	}

	eng.stop() // no close frame, no FIN: the agent is not told
	eng = startTestEngine(t, engineKey, agentKey, port, ps.Endpoint)
	_, h := eng.accept(ctx)
	if h.NetmapVersion != 1 {
		t.Errorf("health after engine restart = %+v, want netmap 1", h)
	}
}

func getJSON(ctx context.Context, t *testing.T, client *http.Client, url string, wantStatus int, v any) {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != wantStatus {
		t.Fatalf("GET %s = %d, want %d", url, resp.StatusCode, wantStatus)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: decoding: %v", url, err)
	}
}

// TestPingLoopDetectsDeadPeer: a peer that stops answering (it never reads,
// so it never pongs) is found out by pings alone.
func TestPingLoopDetectsDeadPeer(t *testing.T) {
	ctx := testCtx(t)
	hold := make(chan struct{})
	defer close(hold)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		<-hold
	}))
	defer srv.Close()
	c, _, err := websocket.Dial(ctx, srv.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	rctx := c.CloseRead(ctx) // pongs are read by a reader, as in readLoop
	if err := pingLoop(ctx, c); err == nil {
		t.Fatalf("pingLoop() = nil, want an error for a peer that never answers")
	}
	<-rctx.Done() // pingLoop closed the conn, which ends the reader
}
