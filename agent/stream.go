package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"time"

	"github.com/coder/websocket"

	"github.com/warrenhq/warren/controlplane/wire"
	"github.com/warrenhq/warren/netstack"
)

// Netmap stream timing. An engine restart leaves our TCP connection to it
// stale, and that only shows when we send: pinging every pingInterval with a
// pingTimeout bounds how long the agent looks online to itself but is not.
const (
	pingInterval = 2 * time.Second
	pingTimeout  = 3 * time.Second
	dialTimeout  = 10 * time.Second
	writeTimeout = 5 * time.Second
	// handshakePoll is how often a reconnecting agent looks for a new
	// handshake from the engine.
	handshakePoll = 100 * time.Millisecond
)

// streamLoop keeps one netmap stream up to an engine, cycling through the
// engines, until ctx ends.
func (a *Agent) streamLoop(ctx context.Context, rs *runState) {
	failures := 0
	for i := 0; ; i++ {
		engine := a.engine(i)
		key, _ := netstack.ParseKey(engine.PublicKey) // validated with the state
		before := lastHandshake(rs.dev, key)
		up, got, err := a.stream(ctx, rs, engine, before)
		if ctx.Err() != nil {
			return
		}
		if got {
			failures = 0
		}
		if up {
			before = lastHandshake(rs.dev, key)
		}
		// Say it once per outage, not once per attempt.
		if up || failures == 0 {
			a.log.Warn("netmap stream down", keyEngine, engine.OverlayIP, "err", err)
		} else {
			a.log.Debug("netmap stream still down", keyEngine, engine.OverlayIP, "err", err)
		}
		// The engine may have moved: look its name up again.
		if err := rs.peers.set(ctx, rs.dev, a.State().Engines, true); err != nil {
			a.log.Warn("updating engine peers", "err", err)
		}
		if !sleepUntilHandshake(ctx, rs.dev, key, before, backoff(failures)) {
			return
		}
		failures++
	}
}

// sleepUntilHandshake waits for d, or less if the engine completes a
// handshake newer than before (a restarted engine calls its agents first:
// it is up, try now). It reports false if ctx ended.
func sleepUntilHandshake(ctx context.Context, dev *netstack.Device, key netstack.Key, before time.Time, d time.Duration) bool {
	wctx, stop := untilHandshake(ctx, dev, key, before)
	defer stop()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-wctx.Done():
	}
	return ctx.Err() == nil
}

// untilHandshake returns a context that ends with ctx or as soon as the peer
// key has a handshake newer than before. stop releases it and waits for its
// watcher.
func untilHandshake(ctx context.Context, dev *netstack.Device, key netstack.Key, before time.Time) (_ context.Context, stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(handshakePoll)
		defer t.Stop()
		for {
			if lastHandshake(dev, key).After(before) {
				cancel()
				return
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return ctx, func() { cancel(); <-done }
}

func lastHandshake(dev *netstack.Device, key netstack.Key) time.Time {
	ps, _ := dev.Peer(key)
	return ps.LastHandshake
}

// engine returns the engine for connection attempt i.
func (a *Agent) engine(i int) wire.Engine {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.state.Engines[i%len(a.state.Engines)]
}

// stream runs one netmap stream until it fails or ctx ends. It reports
// whether the stream came up, and whether it delivered a netmap, which
// resets the backoff.
//
// The dial gives up early when the engine completes a handshake newer than
// before: the SYNs sent over the old session while the engine was away are
// lost, and TCP would retransmit only seconds later.
func (a *Agent) stream(ctx context.Context, rs *runState, engine wire.Engine, before time.Time) (up, gotNetmap bool, err error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	c, err := dialStream(ctx, rs, engine, before)
	if err != nil {
		return false, false, err
	}
	defer c.CloseNow()
	c.SetReadLimit(wire.MaxMessage)
	if err := a.sendHealth(ctx, c); err != nil {
		return false, false, err
	}
	a.setStreaming(engine.OverlayIP)
	defer a.setStreaming("")
	a.log.Info("netmap stream up", keyEngine, engine.OverlayIP)

	pingErr := make(chan error, 1)
	go func() { pingErr <- pingLoop(ctx, c) }()
	reportErr := make(chan error, 1)
	go func() {
		err := a.reportSessions(ctx, c, rs.sess)
		if err != nil {
			c.CloseNow() // ends the read loop
		}
		reportErr <- err
	}()
	err = a.readLoop(ctx, rs, c, &gotNetmap)
	reportDone := false
	select {
	case rerr := <-reportErr:
		reportDone = true
		if rerr != nil {
			err = rerr // the read failed because the report closed the conn
		}
	default:
	}
	cancel()
	c.CloseNow()
	if perr := <-pingErr; perr != nil {
		err = perr // the read failed because the ping closed the conn
	}
	if !reportDone {
		<-reportErr
	}
	return true, gotNetmap, err
}

// dialStream opens the netmap stream to engine through the overlay.
func dialStream(ctx context.Context, rs *runState, engine wire.Engine, before time.Time) (*websocket.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	if !before.IsZero() {
		// With no session yet, WireGuard holds the SYN until the first
		// handshake and sends it then: nothing to cut short.
		key, _ := netstack.ParseKey(engine.PublicKey)
		var stop func()
		ctx, stop = untilHandshake(ctx, rs.dev, key, before)
		defer stop()
	}
	u := "http://" + netip.AddrPortFrom(netip.MustParseAddr(engine.OverlayIP), wire.EnginePort).String() + wire.StreamPath
	c, _, err := websocket.Dial(ctx, u, &websocket.DialOptions{HTTPClient: rs.client})
	return c, err
}

// pingLoop pings the engine until ctx ends; on a failed ping it closes c,
// which ends the read loop.
func pingLoop(ctx context.Context, c *websocket.Conn) error {
	t := time.NewTicker(pingInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		pctx, cancel := context.WithTimeout(ctx, pingTimeout)
		err := c.Ping(pctx)
		cancel()
		if err != nil && ctx.Err() == nil {
			c.CloseNow()
			return fmt.Errorf("engine did not answer ping: %w", err)
		}
	}
}

// readLoop applies the netmaps the engine sends until the stream fails.
func (a *Agent) readLoop(ctx context.Context, rs *runState, c *websocket.Conn, gotNetmap *bool) error {
	for {
		typ, data, err := c.Read(ctx)
		if err != nil {
			return err
		}
		if typ != websocket.MessageText {
			c.Close(websocket.StatusUnsupportedData, "text messages only")
			return errors.New("engine sent a binary message")
		}
		m, err := wire.DecodeMessage(data)
		if err != nil {
			c.Close(websocket.StatusPolicyViolation, "bad message")
			return fmt.Errorf("engine sent a bad message: %w", err)
		}
		if m.Type != wire.TypeNetmap {
			continue
		}
		if err := a.applyNetmap(ctx, rs, m.Netmap); err != nil {
			c.Close(websocket.StatusPolicyViolation, "netmap rejected")
			return err
		}
		*gotNetmap = true
		if err := a.sendHealth(ctx, c); err != nil {
			return err
		}
	}
}

func (a *Agent) sendHealth(ctx context.Context, c *websocket.Conn) error {
	a.mu.Lock()
	var version int64
	if a.netmap != nil {
		version = a.netmap.Version
	}
	a.mu.Unlock()
	m := wire.Message{Type: wire.TypeHealth, Health: &wire.Health{
		Version:       a.cfg.Version,
		Hostname:      a.cfg.Hostname,
		OS:            runtime.GOOS,
		NetmapVersion: version,
	}}
	data, err := json.Marshal(m)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, writeTimeout)
	defer cancel()
	if err := c.Write(ctx, websocket.MessageText, data); err != nil {
		return fmt.Errorf("sending health: %w", err)
	}
	return nil
}

func (a *Agent) setStreaming(engineIP string) {
	a.mu.Lock()
	a.streaming = engineIP
	a.mu.Unlock()
	a.notify()
}

// applyNetmap makes nm the agent's configuration: services, filter, and the
// engine peers if they changed. Older versions than the applied one are
// ignored. It is called only from the stream goroutine.
func (a *Agent) applyNetmap(ctx context.Context, rs *runState, nm *wire.Netmap) error {
	a.mu.Lock()
	cur := a.netmap
	st := a.state
	a.mu.Unlock()
	if nm.DeviceID != "" && nm.DeviceID != st.DeviceID {
		return fmt.Errorf("netmap is for device %q, we are %q", nm.DeviceID, st.DeviceID)
	}
	if cur != nil && nm.Version < cur.Version {
		a.log.Debug("ignoring old netmap", keyVersion, nm.Version, "applied", cur.Version)
		return nil
	}
	engines, err := a.updateEngines(ctx, rs, st, nm.Engines)
	if err != nil {
		return err
	}
	rs.svcs.apply(nm.Services)
	rs.dev.SetFilter(filterFor(rs.ip, engines, nm.Services))
	a.mu.Lock()
	a.netmap = nm
	a.mu.Unlock()
	a.notify()
	if cur == nil || !reflect.DeepEqual(cur, nm) {
		if err := writeJSON(a.cfg.StateDir, netmapFile, nm); err != nil {
			a.log.Warn("saving netmap", "err", err)
		}
		a.log.Info("netmap applied", keyVersion, nm.Version, "services", len(nm.Services), "engines", len(engines))
	}
	return nil
}

// updateEngines adopts the netmap's engine list when it differs from ours:
// new peers, persisted in the state file for the next start. An empty list
// keeps ours: an agent with no engine could never be told otherwise.
func (a *Agent) updateEngines(ctx context.Context, rs *runState, st State, engines []wire.Engine) ([]wire.Engine, error) {
	if len(engines) == 0 || slices.Equal(engines, st.Engines) {
		return st.Engines, nil
	}
	for i, e := range engines {
		if err := validEngine(e); err != nil {
			return nil, fmt.Errorf("netmap engines[%d]: %w", i, err)
		}
	}
	if err := rs.peers.set(ctx, rs.dev, engines, false); err != nil {
		return nil, err
	}
	a.mu.Lock()
	a.state.Engines = slices.Clone(engines)
	st = a.state
	a.mu.Unlock()
	if err := SaveState(a.cfg.StateDir, st); err != nil {
		a.log.Error("saving engines to state", "path", filepath.Join(a.cfg.StateDir, stateFile), "err", err)
	}
	a.log.Info("engines changed", "engines", len(engines))
	return engines, nil
}
