package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/warrenhq/warren/controlplane/wire"
	"github.com/warrenhq/warren/protocols/ssh/sshtest"
	"github.com/warrenhq/warren/protocols/stream"
)

// These tests drive the agent's session code with an x/crypto SSH server
// (sshtest); the tests against a real OpenSSH sshd and a real engine are in
// sessions_e2e_test.go.

// nextSessions reads stream messages until a session report that
// satisfies ok, skipping health reports and earlier session reports.
func nextSessions(ctx context.Context, t *testing.T, c *websocket.Conn, what string, ok func(wire.SessionList) bool) wire.SessionList {
	t.Helper()
	for {
		_, data, err := c.Read(ctx)
		if err != nil {
			t.Fatalf("waiting for a session report (%s): %v", what, err)
		}
		m, err := wire.DecodeMessage(data) // the engine's own decoder and checks
		if err != nil {
			t.Fatalf("agent sent an invalid message %q: %v", data, err)
		}
		if m.Type == wire.TypeSessions && ok(*m.Sessions) {
			return *m.Sessions
		}
	}
}

// TestSessionReports: the agent reports its sessions on the netmap stream
// right after connecting, and again when a session opens, its viewers
// change (hidden viewers are not listed) and it ends, and after a
// reconnect.
func TestSessionReports(t *testing.T) {
	ctx := testCtx(t)
	srv := sshtest.Start(t, sshtest.Options{User: "u", Password: "p"})
	agentKey := newKey(t)
	eng := startTestEngine(t, newKey(t), agentKey, 0, netip.AddrPort{})
	dir := enrolledDir(t, agentKey, eng.entry())
	startAgent(t, dir)

	c, _ := eng.accept(ctx)
	nextSessions(ctx, t, c, "first, empty", func(l wire.SessionList) bool { return len(l.Sessions) == 0 })
	shell := wire.Service{Name: "shell", Protocol: "ssh", Port: 2222, Target: srv.Addr}
	eng.push(ctx, c, wire.Netmap{Version: 1, DeviceID: "dev_1", Engines: []wire.Engine{eng.entry()}, Services: []wire.Service{shell}})

	client := &http.Client{Transport: &http.Transport{DialContext: eng.dev.DialContext}}
	defer client.CloseIdleConnections()
	base := "http://" + addr(wire.AgentAPIPort)
	body, _ := json.Marshal(wire.OpenSession{ID: "r1", Service: "shell", Username: "u", Password: "p"})
	resp, err := client.Post(base+wire.SessionsPath, "application/json", bytes.NewReader(body))
	if err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST = %v, %v; want 201", resp, err)
	}
	resp.Body.Close()
	nextSessions(ctx, t, c, "r1 running", func(l wire.SessionList) bool {
		return len(l.Sessions) == 1 && l.Sessions[0].ID == "r1" && l.Sessions[0].State == wire.SessionRunning
	})

	dialWS := func(query string) *websocket.Conn {
		ws, _, err := websocket.Dial(ctx, "ws://"+addr(wire.AgentAPIPort)+wire.SessionsPath+"/r1/attach?"+query,
			&websocket.DialOptions{HTTPClient: client})
		if err != nil {
			t.Fatalf("attach: %v", err)
		}
		t.Cleanup(func() { ws.CloseNow() })
		return ws
	}
	rec := dialWS("role=observer&hidden=1&viewer=rec")
	ws := dialWS("role=driver&viewer=v1")
	nextSessions(ctx, t, c, "v1 listed, rec not", func(l wire.SessionList) bool {
		vs := l.Sessions[0].Viewers
		return len(vs) == 1 && vs[0].ID == "v1" && vs[0].Role == stream.RoleDriver
	})
	ws.CloseNow()
	nextSessions(ctx, t, c, "v1 gone", func(l wire.SessionList) bool { return len(l.Sessions[0].Viewers) == 0 })
	rec.CloseNow()

	req, _ := http.NewRequestWithContext(ctx, http.MethodDelete, base+wire.SessionsPath+"/r1", nil)
	if resp, err := client.Do(req); err != nil || resp.StatusCode != http.StatusNoContent {
		t.Fatalf("DELETE = %v, %v", resp, err)
	}
	ended := func(l wire.SessionList) bool {
		return len(l.Sessions) == 1 && l.Sessions[0].State == wire.SessionEnded && l.Sessions[0].EndReason == wire.EndTerminated
	}
	nextSessions(ctx, t, c, "r1 terminated", ended)

	// After a reconnect the first report lists what the agent holds.
	c.Close(websocket.StatusGoingAway, "restart")
	c, _ = eng.accept(ctx)
	nextSessions(ctx, t, c, "r1 listed after reconnect", ended)
}

// testSessions is a session manager whose one service is srv.
func testSessions(t *testing.T, srv *sshtest.Server, opts sessionOpts) *sessions {
	t.Helper()
	svc := wire.Service{Name: "shell", Protocol: "ssh", Port: 22, Target: srv.Addr}
	lookup := func(name string) (wire.Service, bool) { return svc, name == svc.Name }
	m := newSessions(testLogger(t), (&net.Dialer{}).DialContext, lookup, opts)
	t.Cleanup(m.shutdown)
	return m
}

// TestSessionRetention: an ended session stays listed; after
// outputRetention its output is released (a late viewer learns what it
// lost and how the session ended); after wire.EndedRetention it is gone.
func TestSessionRetention(t *testing.T) {
	ctx := testCtx(t)
	srv := sshtest.Start(t, sshtest.Options{User: "u", Password: "p"})
	m := testSessions(t, srv, sessionOpts{})
	s, err := m.open(ctx, wire.OpenSession{ID: "a", Service: "shell", Username: "u", Password: "p"})
	if err != nil {
		t.Fatal(err)
	}
	s.input([]byte("hello")) // the test shell echoes
	buf, _, _, _ := s.output()
	if err := buf.Wait(ctx, 4); err != nil {
		t.Fatal(err)
	}
	m.terminate(ctx, "a")
	if l := m.list(); len(l.Sessions) != 1 || l.Sessions[0].EndReason != wire.EndTerminated || l.Sessions[0].Offset != 5 {
		t.Fatalf("list after terminate = %+v", l)
	}

	m.sweep(time.Now().Add(outputRetention))
	if buf, screen, _, final := s.output(); buf != nil || screen != nil || final != 5 {
		t.Fatalf("after outputRetention: buffer %v, screen %v, final %d; want released, 5", buf, screen, final)
	}
	out := make(chan stream.Frame, 4)
	s.produce(ctx, 2, true, out)
	close(out)
	var got []stream.Frame
	for f := range out {
		got = append(got, f)
	}
	want := []stream.Frame{stream.Gap{From: 2, To: 5},
		stream.Control{Type: stream.ControlState, State: stream.StateEnded, Offset: 5, Reason: wire.EndTerminated}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("late viewer of a released session got %v, want %v", got, want)
	}

	m.sweep(time.Now().Add(wire.EndedRetention))
	if l := m.list(); len(l.Sessions) != 0 {
		t.Errorf("list after EndedRetention = %+v, want empty", l)
	}
}

// TestSessionConnectionLost: a target that stops answering keepalives ends
// the session as connection_lost.
func TestSessionConnectionLost(t *testing.T) {
	ctx := testCtx(t)
	srv := sshtest.Start(t, sshtest.Options{User: "u", Password: "p", IgnoreKeepalives: true})
	m := testSessions(t, srv, sessionOpts{keepaliveInterval: 50 * time.Millisecond, keepaliveFailures: 3})
	s, err := m.open(ctx, wire.OpenSession{ID: "a", Service: "shell", Username: "u", Password: "p"})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.done:
	case <-ctx.Done():
		t.Fatal("session never ended")
	}
	if r := s.endReason(); r != wire.EndConnection {
		t.Errorf("end reason = %q, want %s", r, wire.EndConnection)
	}
}

// TestSessionLimits: the agent's session cap and the viewer caps.
func TestSessionLimits(t *testing.T) {
	ctx := testCtx(t)
	srv := sshtest.Start(t, sshtest.Options{User: "u", Password: "p"})
	m := testSessions(t, srv, sessionOpts{})
	s, err := m.open(ctx, wire.OpenSession{ID: "a", Service: "shell", Username: "u", Password: "p"})
	if err != nil {
		t.Fatal(err)
	}
	m.mu.Lock()
	for i := range wire.MaxAgentSessions - 1 {
		m.opening[fmt.Sprint("pending-", i)] = true
	}
	m.mu.Unlock()
	_, err = m.open(ctx, wire.OpenSession{ID: "b", Service: "shell", Username: "u", Password: "p"})
	if oe, ok := err.(*openError); !ok || oe.status != 429 || oe.code != wire.CodeSessionLimit {
		t.Errorf("open beyond the cap = %v, want 429 session_limit", err)
	}
	for range maxViewers {
		if err := s.addViewer(newViewer("v", false, false), false); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.addViewer(newViewer("v", false, false), false); err != errTooManyViewers {
		t.Errorf("viewer beyond the cap: %v", err)
	}
	for range maxHiddenViewers {
		if err := s.addViewer(newViewer("rec", true, false), false); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.addViewer(newViewer("rec", true, false), false); err != errTooManyViewers {
		t.Errorf("hidden viewer beyond the cap: %v", err)
	}
}

// TestOpenSessionNotLogged: the open request, credential included, never
// reaches the log, even when the open fails.
func TestOpenSessionNotLogged(t *testing.T) {
	ctx := testCtx(t)
	srv := sshtest.Start(t, sshtest.Options{User: "u", Password: "right"})
	var logs bytes.Buffer
	svc := wire.Service{Name: "shell", Protocol: "ssh", Port: 22, Target: srv.Addr}
	m := newSessions(slogTo(&logs), (&net.Dialer{}).DialContext,
		func(string) (wire.Service, bool) { return svc, true }, sessionOpts{})
	defer m.shutdown()
	mux := http.NewServeMux()
	m.routes(mux)
	h := httptest.NewServer(mux)
	defer h.Close()
	for _, req := range []wire.OpenSession{
		{ID: "a", Service: "shell", Username: "u", Password: "wrong-s3cret"},
		{ID: "b", Service: "shell", Username: "u", Password: "right"},
		{ID: "c", Service: "shell", Username: "u", PrivateKey: "-----BEGIN s3cret-key"},
	} {
		body, _ := json.Marshal(req)
		resp, err := http.Post(h.URL+wire.SessionsPath, "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	m.terminate(ctx, "b")
	m.shutdown()
	if s := logs.String(); strings.Contains(s, "s3cret") || strings.Contains(s, "right") || !strings.Contains(s, "REDACTED") {
		t.Errorf("logs leak a credential or lack the redacted request:\n%s", s)
	}
}

func slogTo(w *bytes.Buffer) *slog.Logger {
	return slog.New(slog.NewTextHandler(&lockedWriter{w: w}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// lockedWriter serialises writes from the handler's goroutines.
type lockedWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// FuzzAttachQuery: any attach query is parsed without panicking, and what
// is accepted is within the limits.
func FuzzAttachQuery(f *testing.F) {
	for _, s := range []string{"", "role=driver&offset=12&viewer=v1&takeover=1", "role=observer&hidden=1",
		"offset=-1", "offset=18446744073709551616", "viewer=%00", "role=boss", "viewer=" + strings.Repeat("a", 65), "%zz"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		r := httptest.NewRequest(http.MethodGet, "/x", nil)
		r.URL.RawQuery = raw
		q, bad := parseAttachQuery(r)
		if bad != "" {
			return
		}
		if len(q.viewerID) > wire.MaxSessionIDLen || !visibleASCII(q.viewerID) {
			t.Errorf("accepted viewer id %q", q.viewerID)
		}
		if role := r.URL.Query().Get("role"); q.mayDrive != (role == stream.RoleDriver) {
			t.Errorf("role %q gave mayDrive %v", role, q.mayDrive)
		}
	})
}
