package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/coder/websocket"

	"github.com/warrenhq/warren/controlplane/wire"
)

// reportEvery coalesces session reports: at most one per period.
const reportEvery = 250 * time.Millisecond

// reportSessions sends the session list on the netmap stream now, and again
// whenever it changes (at most once per reportEvery), until ctx ends or a
// write fails.
func (a *Agent) reportSessions(ctx context.Context, c *websocket.Conn, m *sessions) error {
	select {
	case <-m.changes: // the first report covers it
	default:
	}
	t := time.NewTimer(reportEvery)
	defer t.Stop()
	for {
		if err := a.sendSessions(ctx, c, m); err != nil {
			return err
		}
		t.Reset(reportEvery)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		select {
		case <-ctx.Done():
			return nil
		case <-m.changes:
		}
	}
}

func (a *Agent) sendSessions(ctx context.Context, c *websocket.Conn, m *sessions) error {
	l := m.list()
	data, err := json.Marshal(wire.Message{Type: wire.TypeSessions, Sessions: &l})
	if err != nil {
		return err
	}
	if len(data) > wire.MaxMessage {
		// Cannot happen within the viewer and session caps; never send
		// what the engine must refuse.
		a.log.Error("session list too large to report", "bytes", len(data), "sessions", len(l.Sessions))
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, writeTimeout)
	defer cancel()
	if err := c.Write(ctx, websocket.MessageText, data); err != nil {
		return fmt.Errorf("sending sessions: %w", err)
	}
	return nil
}
