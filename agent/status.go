package agent

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/warrenhq/warren/netstack"
)

// Status timing: the running agent rewrites status.json every
// statusInterval and on changes; a file older than staleAfter means the
// agent is not running.
const (
	statusInterval = 5 * time.Second
	staleAfter     = 30 * time.Second
)

// Status is what a running agent reports in status.json, for
// `warren-agent status`.
type Status struct {
	PID             int             `json:"pid"`
	UpdatedAt       time.Time       `json:"updated_at"`
	Stopped         bool            `json:"stopped,omitempty"` // written on clean shutdown
	DeviceID        string          `json:"device_id"`
	Name            string          `json:"name"`
	OverlayIP       string          `json:"overlay_ip"`
	EngineEndpoint  string          `json:"engine_endpoint"` // underlay address of the engine in use, "" if unknown
	LastHandshake   time.Time       `json:"last_handshake,omitzero"`
	StreamConnected bool            `json:"stream_connected"`
	NetmapVersion   int64           `json:"netmap_version"`
	Services        []ServiceStatus `json:"services"`
}

// Running reports whether the agent that wrote s is running at now.
func (s Status) Running(now time.Time) bool {
	return !s.Stopped && now.Sub(s.UpdatedAt) <= staleAfter
}

// ReadStatus reads the status the agent last wrote in stateDir. The error
// wraps os.ErrNotExist if the agent never ran there.
func ReadStatus(stateDir string) (Status, error) {
	var s Status
	if err := readJSON(filepath.Join(stateDir, statusFile), &s); err != nil {
		return Status{}, err
	}
	return s, nil
}

// WriteText prints s for people, with ages relative to now.
func (s Status) WriteText(w io.Writer, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	if s.Running(now) {
		fmt.Fprintf(tw, "Agent:\trunning (pid %d)\n", s.PID)
	} else {
		fmt.Fprintf(tw, "Agent:\tNOT RUNNING (last update %s)\n", age(s.UpdatedAt, now))
	}
	fmt.Fprintf(tw, "Device:\t%s (%s)\n", s.Name, s.DeviceID)
	fmt.Fprintf(tw, "Overlay IP:\t%s\n", s.OverlayIP)
	fmt.Fprintf(tw, "Engine endpoint:\t%s\n", orNone(s.EngineEndpoint, "unknown"))
	if s.LastHandshake.IsZero() {
		fmt.Fprintf(tw, "Last handshake:\tnever\n")
	} else {
		fmt.Fprintf(tw, "Last handshake:\t%s (%s)\n", s.LastHandshake.Local().Format(time.DateTime), age(s.LastHandshake, now))
	}
	fmt.Fprintf(tw, "Netmap stream:\t%s\n", map[bool]string{true: "connected", false: "disconnected"}[s.StreamConnected])
	fmt.Fprintf(tw, "Netmap version:\t%d\n", s.NetmapVersion)
	if len(s.Services) == 0 {
		fmt.Fprintf(tw, "Services:\tnone\n")
		return tw.Flush()
	}
	fmt.Fprintf(tw, "Services:\n")
	if err := tw.Flush(); err != nil {
		return err
	}
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "  NAME\tPROTOCOL\tPORT\tTARGET\tSTATE\n")
	for _, svc := range s.Services {
		state := "listening"
		if !svc.Listening {
			state = "NOT LISTENING: " + svc.Error
		}
		fmt.Fprintf(tw, "  %s\t%s\t%d\t%s\t%s\n", svc.Name, svc.Protocol, svc.Port, svc.Target, state)
	}
	return tw.Flush()
}

func age(t, now time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return now.Sub(t).Round(time.Second).String() + " ago"
}

func orNone(s, none string) string {
	if s == "" {
		return none
	}
	return s
}

// statusLoop rewrites status.json periodically and on changes until ctx ends.
func (a *Agent) statusLoop(ctx context.Context, rs *runState) {
	t := time.NewTicker(statusInterval)
	defer t.Stop()
	for {
		a.writeStatus(rs, false)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-a.changed:
		}
	}
}

func (a *Agent) writeStatus(rs *runState, stopped bool) {
	s := a.status(rs)
	s.Stopped = stopped
	if err := writeJSON(a.cfg.StateDir, statusFile, s); err != nil {
		a.log.Warn("writing status", "err", err)
	}
}

func (a *Agent) status(rs *runState) Status {
	a.mu.Lock()
	s := Status{
		PID:             os.Getpid(),
		UpdatedAt:       time.Now().UTC(),
		DeviceID:        a.state.DeviceID,
		Name:            a.state.Name,
		OverlayIP:       a.state.OverlayIP.String(),
		StreamConnected: a.streaming != "",
	}
	if a.netmap != nil {
		s.NetmapVersion = a.netmap.Version
	}
	key, haveKey := a.streamingKeyLocked()
	a.mu.Unlock()
	if ps, ok := a.enginePeer(rs.dev, key, haveKey); ok {
		if ps.Endpoint.IsValid() {
			s.EngineEndpoint = ps.Endpoint.String()
		}
		s.LastHandshake = ps.LastHandshake.UTC()
	}
	s.Services = rs.svcs.status()
	return s
}

// streamingKeyLocked returns the key of the engine the stream is up to.
func (a *Agent) streamingKeyLocked() (netstack.Key, bool) {
	for _, e := range a.state.Engines {
		if e.OverlayIP == a.streaming {
			k, err := netstack.ParseKey(e.PublicKey)
			return k, err == nil
		}
	}
	return netstack.Key{}, false
}

// enginePeer is the engine the stream uses, or else the one with the most
// recent handshake.
func (a *Agent) enginePeer(dev *netstack.Device, key netstack.Key, haveKey bool) (netstack.PeerStatus, bool) {
	if haveKey {
		return dev.Peer(key)
	}
	var best netstack.PeerStatus
	found := false
	for _, ps := range dev.Peers() {
		if !found || ps.LastHandshake.After(best.LastHandshake) {
			best, found = ps, true
		}
	}
	return best, found
}
