package broker

import (
	"context"
	"maps"
	"slices"
	"time"

	"github.com/warrenhq/warren/controlplane/authz"
	"github.com/warrenhq/warren/controlplane/store"
	"github.com/warrenhq/warren/controlplane/wire"
)

// Reasons the engine ends a session itself.
const (
	// EndAgentLost: the agent no longer lists a session it had (it
	// restarted, or forgot it).
	EndAgentLost = "agent_lost"
	// EndAccessRevoked: the owner lost access to the service's port.
	EndAccessRevoked = "access_revoked"
)

// AgentSessions takes a device's session report (the agent sends one after
// every reconnect of its stream and whenever a session changes). It only
// records the report and wakes the reconciler: it never blocks, so the
// overlay can call it from its read loop.
func (b *Broker) AgentSessions(deviceID string, l wire.SessionList) {
	r := report{at: b.now(), sessions: make(map[string]wire.SessionInfo, len(l.Sessions))}
	for _, s := range l.Sessions {
		r.sessions[s.ID] = s
	}
	b.mu.Lock()
	b.reports[deviceID] = r
	b.pending[deviceID] = true
	b.mu.Unlock()
	select {
	case b.kick <- struct{}{}:
	default:
	}
}

// reconcilePending reconciles every device with a report waiting.
func (b *Broker) reconcilePending(ctx context.Context) {
	b.mu.Lock()
	devices := slices.Sorted(maps.Keys(b.pending))
	clear(b.pending)
	b.mu.Unlock()
	for _, id := range devices {
		b.mu.Lock()
		r := b.reports[id]
		b.mu.Unlock()
		rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		b.reconcile(rctx, id, r)
		cancel()
	}
}

// reconcile brings the records of a device's sessions in step with its
// agent's report, the source of truth: a session the agent lists as ended,
// or no longer lists, ends; a live one is seen now (and gets its recorder,
// after an engine restart); a session the engine ended but the agent still
// runs is terminated there. Sessions the engine does not know, or that
// belong to another organization than the device's, are ignored.
func (b *Broker) reconcile(ctx context.Context, deviceID string, r report) {
	d, err := b.cfg.Store.GetDevice(ctx, deviceID)
	if err != nil {
		b.log.Warn("reconciling sessions: unknown device", "device_id", deviceID, "err", err)
		return
	}
	rows, err := b.cfg.Store.ListDeviceRemoteSessions(ctx, deviceID, "live")
	if err != nil {
		b.log.Error("reconciling sessions", "device_id", deviceID, "err", err)
		return
	}
	live := map[string]store.RemoteSession{}
	for _, rs := range rows {
		live[rs.ID] = rs
	}
	var seen []string
	seenSet := map[string]bool{}
	for _, s := range r.sessions {
		rs, ok := live[s.ID]
		if !ok {
			b.unknownOnAgent(ctx, d, s)
			continue
		}
		if rs.OrgID != d.OrgID || s.OrgID != rs.OrgID {
			b.log.Warn("ignoring a session the agent reports for another organization", "device_id", deviceID,
				"session_id", s.ID)
			delete(live, s.ID) // not reported, as far as the engine is concerned
			continue
		}
		if s.State == wire.SessionEnded {
			b.end(ctx, rs, reasonOr(s.EndReason, "ended"), "")
			delete(live, s.ID)
			continue
		}
		seen = append(seen, s.ID)
		seenSet[s.ID] = true
		if rs.Recorded {
			b.startRecorder(rs)
		}
	}
	if err := b.cfg.Store.TouchRemoteSessions(ctx, seen, b.now()); err != nil {
		b.log.Error("recording when sessions were seen", "device_id", deviceID, "err", err)
	}
	for id, rs := range live {
		if seenSet[id] {
			continue
		}
		if b.isOpening(id) || (rs.LastSeen.IsZero() && b.now().Sub(rs.StartedAt) < openGrace) {
			continue
		}
		b.end(ctx, rs, EndAgentLost, "")
	}
}

// unknownOnAgent handles a session the agent lists but the engine has no
// live record of: one the engine ended meanwhile is terminated on the agent;
// anything else is ignored.
func (b *Broker) unknownOnAgent(ctx context.Context, d store.Device, s wire.SessionInfo) {
	if s.State != wire.SessionRunning {
		return
	}
	rs, err := b.cfg.Store.GetRemoteSession(ctx, d.OrgID, s.ID)
	if err != nil || rs.DeviceID != d.ID {
		b.log.Warn("ignoring a session the engine does not know", "device_id", d.ID, "session_id", s.ID)
		return
	}
	if !rs.Live() {
		b.log.Info("terminating on its agent a session the engine ended", "session_id", rs.ID, "reason", rs.EndReason)
		b.killOnAgent(rs)
	}
}

func (b *Broker) isOpening(id string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.opening[id]
}

func reasonOr(reason, def string) string {
	if reason == "" || len(reason) > 64 {
		return def
	}
	return reason
}

// revoked ends the live sessions whose owner lost access to their service's
// port. It runs under authz's recompile lock, so the work goes to the
// background.
func (b *Broker) revoked(ch authz.Change) {
	if len(ch.Lost) == 0 {
		return
	}
	lost := slices.Clone(ch.Lost)
	b.goBackground(func(ctx context.Context) {
		ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		for _, a := range lost {
			rows, err := b.cfg.Store.ListDeviceRemoteSessions(ctx, a.DeviceID, "live")
			if err != nil {
				b.log.Error("ending sessions after a revocation", "device_id", a.DeviceID, "err", err)
				continue
			}
			for _, rs := range rows {
				if rs.OwnerID != a.UserID {
					continue
				}
				svc, err := b.cfg.Store.GetService(ctx, rs.DeviceID, rs.Service)
				if err == nil && (!slices.Contains(a.Ports, uint16(svc.Port)) || b.cfg.Authz.Allowed(rs.OwnerID, rs.DeviceID, uint16(svc.Port))) {
					continue
				}
				b.end(ctx, rs, EndAccessRevoked, "")
				b.killOnAgent(rs)
			}
		}
	})
}
