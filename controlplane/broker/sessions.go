package broker

import (
	"context"
	"errors"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/warrenhq/warren/acl"
	"github.com/warrenhq/warren/controlplane/store"
	"github.com/warrenhq/warren/controlplane/wire"
)

// Session states as the API shows them.
const (
	StateRunning      = "running"
	StateAgentOffline = "agent_offline"
	StateEnded        = "ended"
)

// Session is a session's record merged with the agent's live view.
type Session struct {
	store.RemoteSession
	DeviceName   string
	State        string // StateRunning, StateAgentOffline or StateEnded
	LastActivity time.Time
	Viewers      []wire.ViewerInfo
	Offset       uint64
	CanDrive     bool // the caller holds drive on it
}

// session merges a record with the last report of its agent.
func (b *Broker) session(rs store.RemoteSession, deviceName string, canDrive bool) Session {
	s := Session{RemoteSession: rs, DeviceName: deviceName, CanDrive: canDrive && rs.Live(), Viewers: []wire.ViewerInfo{}}
	switch {
	case !rs.Live():
		s.State = StateEnded
	case !b.online(rs.DeviceID):
		s.State = StateAgentOffline
	default:
		s.State = StateRunning
	}
	b.mu.Lock()
	info, ok := b.reports[rs.DeviceID].sessions[rs.ID]
	b.mu.Unlock()
	if ok && info.OrgID == rs.OrgID {
		s.LastActivity, s.Offset = info.LastActivity, info.Offset
		if rs.Live() {
			s.Viewers = append(s.Viewers, info.Viewers...)
		}
	}
	if s.LastActivity.IsZero() {
		s.LastActivity = rs.StartedAt
	}
	return s
}

// noteOpened records an open's SessionInfo in the device's view until its
// agent's next report.
func (b *Broker) noteOpened(deviceID string, info wire.SessionInfo) {
	b.mu.Lock()
	defer b.mu.Unlock()
	r := b.reports[deviceID]
	// Copy on write: the reconciler reads a report's map without the lock.
	sessions := make(map[string]wire.SessionInfo, len(r.sessions)+1)
	maps.Copy(sessions, r.sessions)
	sessions[info.ID] = info
	r.sessions = sessions
	b.reports[deviceID] = r
}

// visibleSession returns session id of org if the caller may see it: an
// owner or observer (view), an organization admin, or a viewer of its
// device. Anything else is 404, exactly like a session that does not exist.
func (b *Broker) visibleSession(ctx context.Context, c Caller, org store.Org, id string) (store.RemoteSession, error) {
	rs, err := b.cfg.Store.GetRemoteSession(ctx, org.ID, id)
	if errors.Is(err, store.ErrNotFound) {
		return store.RemoteSession{}, notFound("session")
	}
	if err != nil {
		return store.RemoteSession{}, err
	}
	if c.OrgAdmin {
		return rs, nil
	}
	for _, chk := range []struct{ rel, typ, id string }{
		{acl.RelationView, acl.TypeSession, rs.ID}, {acl.RelationView, acl.TypeDevice, rs.DeviceID},
	} {
		ok, err := b.can(ctx, c, chk.rel, chk.typ, chk.id)
		if err != nil || ok {
			return rs, err
		}
	}
	return store.RemoteSession{}, hidden("session", "view on the session or its device required")
}

// ListFilter selects sessions for List.
type ListFilter struct {
	// Scope "mine" (default): the caller's own and those shared with them;
	// "all": every session of the organization (organization admins).
	Scope string
	// State "live" (default), "ended" or "all".
	State string
	// Recorded lists recorded sessions only.
	Recorded bool
}

func storeState(state string) (string, error) {
	switch state {
	case "", "live":
		return "live", nil
	case "ended":
		return "ended", nil
	case "all":
		return "", nil
	}
	return "", badRequest("invalid_field", "state: must be live, ended or all")
}

// List returns the organization's sessions the filter selects, newest
// first.
func (b *Broker) List(ctx context.Context, c Caller, org store.Org, f ListFilter) ([]Session, error) {
	state, err := storeState(f.State)
	if err != nil {
		return nil, err
	}
	sf := store.RemoteSessionFilter{State: state, Recorded: f.Recorded}
	var rows []store.RemoteSession
	switch f.Scope {
	case "all":
		if !c.OrgAdmin {
			return nil, forbidden("listing every session of the organization requires the organization admin role")
		}
		rows, err = b.cfg.Store.ListRemoteSessions(ctx, org.ID, sf)
	case "", "mine":
		rows, err = b.mine(ctx, c, org, sf)
	default:
		return nil, badRequest("invalid_field", "scope: must be mine or all")
	}
	if err != nil {
		return nil, err
	}
	return b.merge(ctx, c, org, rows)
}

// mine returns the sessions the caller owns or observes.
func (b *Broker) mine(ctx context.Context, c Caller, org store.Org, f store.RemoteSessionFilter) ([]store.RemoteSession, error) {
	objs, err := b.cfg.Authorizer.ListObjects(ctx, acl.User(c.UserID), acl.RelationView, acl.TypeSession)
	if err != nil {
		return nil, err
	}
	ids := []string{}
	for _, o := range objs {
		ids = append(ids, strings.TrimPrefix(o, acl.TypeSession+":"))
	}
	if len(ids) > 1000 {
		ids = ids[len(ids)-1000:]
	}
	f.IDs = ids
	own := f
	own.IDs, own.OwnerID = nil, c.UserID
	owned, err := b.cfg.Store.ListRemoteSessions(ctx, org.ID, own)
	if err != nil {
		return nil, err
	}
	shared, err := b.cfg.Store.ListRemoteSessions(ctx, org.ID, f)
	if err != nil {
		return nil, err
	}
	out := owned
	for _, s := range shared {
		if !slices.ContainsFunc(out, func(o store.RemoteSession) bool { return o.ID == s.ID }) {
			out = append(out, s)
		}
	}
	slices.SortFunc(out, func(a, b store.RemoteSession) int { return b.StartedAt.Compare(a.StartedAt) })
	return out, nil
}

// merge turns records into Sessions with device names and drive rights.
func (b *Broker) merge(ctx context.Context, c Caller, org store.Org, rows []store.RemoteSession) ([]Session, error) {
	names := map[string]string{}
	out := make([]Session, 0, len(rows))
	for _, rs := range rows {
		name, ok := names[rs.DeviceID]
		if !ok {
			if d, err := b.cfg.Store.GetOrgDevice(ctx, org.ID, rs.DeviceID); err == nil {
				name = d.Name
			}
			names[rs.DeviceID] = name
		}
		drive := false
		if rs.Live() {
			var err error
			if drive, err = b.can(ctx, c, acl.RelationDrive, acl.TypeSession, rs.ID); err != nil {
				return nil, err
			}
		}
		out = append(out, b.session(rs, name, drive))
	}
	return out, nil
}

// Get returns session id of org if the caller may see it.
func (b *Broker) Get(ctx context.Context, c Caller, org store.Org, id string) (Session, error) {
	rs, err := b.visibleSession(ctx, c, org, id)
	if err != nil {
		return Session{}, err
	}
	ss, err := b.merge(ctx, c, org, []store.RemoteSession{rs})
	if err != nil {
		return Session{}, err
	}
	return ss[0], nil
}

// ListDevice returns the sessions on a device of org (ID or name), for a
// caller who may view the device.
func (b *Broker) ListDevice(ctx context.Context, c Caller, org store.Org, device, state string) ([]Session, error) {
	d, err := b.orgDevice(ctx, c, org, device, acl.RelationView)
	if err != nil {
		return nil, err
	}
	st, err := storeState(state)
	if err != nil {
		return nil, err
	}
	rows, err := b.cfg.Store.ListRemoteSessions(ctx, org.ID, store.RemoteSessionFilter{DeviceID: d.ID, State: st})
	if err != nil {
		return nil, err
	}
	return b.merge(ctx, c, org, rows)
}

// orgDevice returns the device of org (ID or name) if the caller holds
// relation on it; a device the caller cannot even view is 404.
func (b *Broker) orgDevice(ctx context.Context, c Caller, org store.Org, ref, relation string) (store.Device, error) {
	d, err := b.cfg.Store.GetOrgDevice(ctx, org.ID, ref)
	if errors.Is(err, store.ErrNotFound) {
		return store.Device{}, notFound("device")
	}
	if err != nil {
		return store.Device{}, err
	}
	ok, err := b.can(ctx, c, relation, acl.TypeDevice, d.ID)
	if err != nil || ok {
		return d, err
	}
	reason := relation + " on " + acl.Device(d.ID) + " required"
	if relation != acl.RelationView {
		if v, err := b.can(ctx, c, acl.RelationView, acl.TypeDevice, d.ID); err != nil || v {
			return store.Device{}, errors.Join(err, forbidden(reason))
		}
	}
	return store.Device{}, hidden("device", reason)
}

// Terminate ends a session: its owner, an organization admin or a manager
// of its device may. The record ends at once (reason "terminated"); the
// agent is told now, or when it is next reachable. Ending an ended session
// does nothing.
func (b *Broker) Terminate(ctx context.Context, c Caller, org store.Org, id string) error {
	rs, err := b.visibleSession(ctx, c, org, id)
	if err != nil {
		return err
	}
	if rs.OwnerID != c.UserID && !c.OrgAdmin {
		ok, err := b.can(ctx, c, acl.RelationManage, acl.TypeDevice, rs.DeviceID)
		if err != nil {
			return err
		}
		if !ok {
			return forbidden("terminating another user's session requires manage on its device or the organization admin role")
		}
	}
	if !rs.Live() {
		return nil
	}
	b.end(ctx, rs, wire.EndTerminated, c.UserID)
	b.killOnAgent(rs)
	return nil
}

// killOnAgent asks the agent to terminate a session, in the background.
func (b *Broker) killOnAgent(rs store.RemoteSession) {
	b.goBackground(func(ctx context.Context) {
		ctx, cancel := context.WithTimeout(ctx, agentTimeout)
		defer cancel()
		err := b.agents.do(ctx, rs.DeviceID, http.MethodDelete, wire.SessionsPath+"/"+rs.ID, nil, nil)
		var ae *agentError
		switch {
		case err == nil, errors.As(err, &ae) && ae.Status == http.StatusNotFound:
		case errors.Is(err, errAgentOffline):
			b.log.Info("agent offline: the session ends on the agent when it reconnects", "session_id", rs.ID)
		default:
			b.log.Warn("terminating a session on its agent", "session_id", rs.ID, "err", err)
		}
	})
}

// end marks a live session ended for reason and audits "session.end"
// (actor "" = the system). Viewers and the recorder learn it from the
// agent's stream (or, when the agent is gone, from the record).
func (b *Broker) end(ctx context.Context, rs store.RemoteSession, reason, actor string) {
	ended, err := b.cfg.Store.EndRemoteSession(context.WithoutCancel(ctx), rs.ID, reason, b.now())
	if err != nil {
		b.log.Error("ending a session", "session_id", rs.ID, "err", err)
		return
	}
	if !ended {
		return
	}
	b.log.Info("session ended", "session_id", rs.ID, "org_id", rs.OrgID, "reason", reason)
	ev := store.AuditEvent{OrgID: rs.OrgID, ActorID: actor, Action: "session.end", ObjectID: rs.ID,
		Result: store.AuditAllowed, Reason: reason}
	if actor == "" {
		ev.ActorID, ev.ActorType = "system", "system"
	}
	b.audit(ctx, ev, map[string]any{"device_id": rs.DeviceID, "service": rs.Service, "owner_id": rs.OwnerID})
	if reason == EndAgentLost {
		// The agent will never tell the recorder; otherwise the recorder
		// ends on its own once it has every byte. (In the background: end
		// may run on the recorder's own goroutine.)
		b.goBackground(func(context.Context) { b.stopRecorder(rs.ID) })
	}
}

// Observer is a subject a session is shared with.
type Observer struct {
	SubjectType string // "user" or "group"
	SubjectID   string
}

// Share makes a user or a group of the organization an observer of the
// session: its owner or an organization admin may.
func (b *Broker) Share(ctx context.Context, c Caller, org store.Org, id string, o Observer) error {
	rs, err := b.shareable(ctx, c, org, id)
	if err != nil {
		return err
	}
	subject, err := b.subject(ctx, org, o)
	if err != nil {
		return err
	}
	return b.cfg.Authz.ShareSession(ctx, rs.ID, subject)
}

// Unshare removes an observer (a user or group ID) of the session and cuts
// the relays of viewers who can no longer view it.
func (b *Broker) Unshare(ctx context.Context, c Caller, org store.Org, id, subjectID string) error {
	rs, err := b.shareable(ctx, c, org, id)
	if err != nil {
		return err
	}
	o := Observer{SubjectType: "user", SubjectID: subjectID}
	if strings.HasPrefix(subjectID, "grp_") {
		o.SubjectType = "group"
	}
	subject, err := b.subject(ctx, org, o)
	if err != nil {
		return err
	}
	current, err := b.cfg.Authz.SessionObservers(ctx, rs.ID)
	if err != nil {
		return err
	}
	if !slices.Contains(current, subject) {
		return notFound("observer")
	}
	if err := b.cfg.Authz.UnshareSession(ctx, rs.ID, subject); err != nil {
		return err
	}
	b.cutRelays(rs.ID, func(r *relay) bool {
		ok, err := b.can(ctx, Caller{UserID: r.a.UserID}, acl.RelationView, acl.TypeSession, rs.ID)
		return err == nil && !ok
	})
	return nil
}

// Observers lists the subjects a session is shared with.
func (b *Broker) Observers(ctx context.Context, c Caller, org store.Org, id string) ([]Observer, error) {
	rs, err := b.visibleSession(ctx, c, org, id)
	if err != nil {
		return nil, err
	}
	subjects, err := b.cfg.Authz.SessionObservers(ctx, rs.ID)
	if err != nil {
		return nil, err
	}
	out := []Observer{}
	for _, s := range subjects {
		typ, id, _, _ := acl.Split(s)
		out = append(out, Observer{SubjectType: typ, SubjectID: id})
	}
	return out, nil
}

func (b *Broker) shareable(ctx context.Context, c Caller, org store.Org, id string) (store.RemoteSession, error) {
	rs, err := b.visibleSession(ctx, c, org, id)
	if err != nil {
		return store.RemoteSession{}, err
	}
	if rs.OwnerID != c.UserID && !c.OrgAdmin {
		return store.RemoteSession{}, forbidden("only the session's owner or an organization admin may share it")
	}
	return rs, nil
}

// subject returns the OpenFGA subject of an observer of org.
func (b *Broker) subject(ctx context.Context, org store.Org, o Observer) (string, error) {
	switch o.SubjectType {
	case "user":
		if _, err := b.cfg.Store.GetMembership(ctx, org.ID, o.SubjectID); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return "", notFound("user")
			}
			return "", err
		}
		return acl.User(o.SubjectID), nil
	case "group":
		g, err := b.cfg.Store.GetGroup(ctx, org.ID, o.SubjectID)
		if err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return "", notFound("group")
			}
			return "", err
		}
		return acl.GroupMembers(g.ID), nil
	}
	return "", badRequest("invalid_field", "exactly one of user_id and group_id is required")
}

// HostKey returns the trusted (and any pending) host key of a service of a
// device the caller may view.
func (b *Broker) HostKey(ctx context.Context, c Caller, org store.Org, device, service string) (store.HostKey, error) {
	d, err := b.orgDevice(ctx, c, org, device, acl.RelationView)
	if err != nil {
		return store.HostKey{}, err
	}
	svc, err := b.deviceService(ctx, d, service)
	if err != nil {
		return store.HostKey{}, err
	}
	k, err := b.cfg.Store.GetHostKey(ctx, d.ID, svc.Name)
	if errors.Is(err, store.ErrNotFound) {
		return store.HostKey{}, notFound("host_key")
	}
	return k, err
}

// AcceptHostKey trusts the pending host key of a service (manage on the
// device); fingerprint must be the pending one.
func (b *Broker) AcceptHostKey(ctx context.Context, c Caller, org store.Org, device, service, fingerprint string) (store.HostKey, error) {
	d, err := b.orgDevice(ctx, c, org, device, acl.RelationManage)
	if err != nil {
		return store.HostKey{}, err
	}
	svc, err := b.deviceService(ctx, d, service)
	if err != nil {
		return store.HostKey{}, err
	}
	k, err := b.cfg.Store.AcceptHostKey(ctx, d.ID, svc.Name, fingerprint, c.UserID, b.now())
	switch {
	case errors.Is(err, store.ErrNotFound):
		return store.HostKey{}, notFound("host_key")
	case errors.Is(err, store.ErrInvalid):
		return store.HostKey{}, &Error{Status: http.StatusConflict, Code: "host_key_not_pending",
			Message: "fingerprint: is not the host key pending acceptance"}
	}
	return k, err
}

// deviceService finds a service of d by ID or name.
func (b *Broker) deviceService(ctx context.Context, d store.Device, ref string) (store.Service, error) {
	ss, err := b.cfg.Store.ListServices(ctx, d.ID)
	if err != nil {
		return store.Service{}, err
	}
	for _, s := range ss {
		if s.ID == ref {
			return s, nil
		}
	}
	for _, s := range ss {
		if s.Name == ref {
			return s, nil
		}
	}
	return store.Service{}, notFound("service")
}
