package overlay

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/warrenhq/warren/controlplane/wire"
)

// pingEvery is how often the engine checks that an agent's stream is alive;
// a dead agent shows offline within two periods.
const pingEvery = 5 * time.Second

// hub keeps one netmap stream per connected agent and pushes each agent its
// netmap whenever it changes.
type hub struct {
	o *Overlay

	handlers sync.WaitGroup // stream handlers still running

	mu     sync.Mutex
	conns  map[string]*agentConn // by device id; guarded by mu
	closed bool                  // guarded by mu
}

type agentConn struct {
	deviceID string
	changed  chan struct{} // buffered(1): the snapshot changed
	cancel   context.CancelFunc

	mu     sync.Mutex
	health wire.Health // guarded by mu
}

func newHub(o *Overlay) *hub {
	return &hub{o: o, conns: map[string]*agentConn{}}
}

// serve runs the engine's overlay HTTP server on ln until ctx is done.
func (h *hub) serve(ctx context.Context, ln net.Listener) error {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+wire.StreamPath, h.handleStream)
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return ctx },
		ErrorLog:          nil,
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	<-ctx.Done()
	// Streams are hijacked connections: Close does not wait for them, so
	// cancel each one and wait for its handler through the hub.
	srv.Close()
	h.closeAll()
	h.handlers.Wait()
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// handleStream identifies the agent by its overlay source address (which
// cryptokey routing has authenticated) and keeps its netmap current.
func (h *hub) handleStream(w http.ResponseWriter, r *http.Request) {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		http.Error(w, "bad remote address", http.StatusBadRequest)
		return
	}
	p, ok := h.o.snap.Load().byIP[ap.Addr()]
	if !ok {
		http.Error(w, "unknown device", http.StatusForbidden)
		return
	}
	if !h.enter() {
		http.Error(w, "shutting down", http.StatusServiceUnavailable)
		return
	}
	defer h.handlers.Done()
	c, err := websocket.Accept(w, r, nil)
	if err != nil {
		return
	}
	c.SetReadLimit(wire.MaxMessage)
	ctx, cancel := context.WithCancel(r.Context())
	ac := &agentConn{deviceID: p.device.ID, changed: make(chan struct{}, 1), cancel: cancel}
	h.register(ac)
	defer h.unregister(ac)
	// Persist where the agent is right away: if the engine is killed a
	// second from now, the next start must know whom to handshake with.
	h.o.persistPeer(ctx, p)
	h.o.log.Info("agent connected", "device_id", ac.deviceID, "remote", ap.String())
	err = h.runStream(ctx, c, ac)
	h.o.log.Info("agent disconnected", "device_id", ac.deviceID, "err", err)
	c.CloseNow()
}

func (h *hub) runStream(ctx context.Context, c *websocket.Conn, ac *agentConn) error {
	defer ac.cancel()
	readErr := make(chan error, 1)
	go func() { readErr <- h.readLoop(ctx, c, ac) }()
	var sent []byte
	ac.notify() // the first netmap goes out at once
	ping := time.NewTicker(pingEvery)
	defer ping.Stop()
	for {
		select {
		case <-ctx.Done():
			<-readErr
			return ctx.Err()
		case err := <-readErr:
			return err
		case <-ping.C:
			// An agent killed without a FIN leaves a half-open stream: only a
			// ping that goes unanswered shows it is gone.
			pctx, cancel := context.WithTimeout(ctx, pingEvery)
			err := c.Ping(pctx)
			cancel()
			if err != nil {
				ac.cancel()
				<-readErr
				return fmt.Errorf("agent stopped answering pings: %w", err)
			}
		case <-ac.changed:
			nm, content := h.o.snap.Load().netmapFor(ac.deviceID)
			if bytes.Equal(content, sent) {
				continue
			}
			if err := writeMessage(ctx, c, wire.Message{Type: wire.TypeNetmap, Netmap: &nm}); err != nil {
				ac.cancel()
				<-readErr
				return err
			}
			sent = content
		}
	}
}

func (h *hub) readLoop(ctx context.Context, c *websocket.Conn, ac *agentConn) error {
	for {
		_, data, err := c.Read(ctx)
		if err != nil {
			return err
		}
		m, err := wire.DecodeMessage(data)
		if err != nil {
			c.Close(websocket.StatusPolicyViolation, "malformed message")
			return err
		}
		switch {
		case m.Type == wire.TypeHealth:
			ac.mu.Lock()
			ac.health = *m.Health
			ac.mu.Unlock()
		case m.Type == wire.TypeSessions && h.o.cfg.OnSessions != nil:
			h.o.cfg.OnSessions(ac.deviceID, *m.Sessions)
		}
	}
}

func writeMessage(ctx context.Context, c *websocket.Conn, m wire.Message) error {
	data, err := json.Marshal(m)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return c.Write(ctx, websocket.MessageText, data)
}

// register makes ac the device's stream, ending any older one: after an
// agent restart the old TCP connection may linger half-open.
func (h *hub) register(ac *agentConn) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if old, ok := h.conns[ac.deviceID]; ok {
		old.cancel()
	}
	h.conns[ac.deviceID] = ac
}

func (h *hub) unregister(ac *agentConn) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.conns[ac.deviceID] == ac {
		delete(h.conns, ac.deviceID)
	}
}

func (h *hub) notifyAll() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, ac := range h.conns {
		ac.notify()
	}
}

// notify wakes the stream's writer; a wake-up already pending is enough.
func (ac *agentConn) notify() {
	select {
	case ac.changed <- struct{}{}:
	default:
	}
}

// enter counts a stream handler in, unless the hub is shutting down.
func (h *hub) enter() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return false
	}
	h.handlers.Add(1)
	return true
}

func (h *hub) closeAll() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	for _, ac := range h.conns {
		ac.cancel()
	}
}

// state reports whether a device's stream is connected and the agent version
// it last reported.
func (h *hub) state(deviceID string) (online bool, version string) {
	h.mu.Lock()
	ac, ok := h.conns[deviceID]
	h.mu.Unlock()
	if !ok {
		return false, ""
	}
	ac.mu.Lock()
	defer ac.mu.Unlock()
	return true, ac.health.Version
}

// connected returns the number of connected agents.
func (h *hub) connected() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.conns)
}
