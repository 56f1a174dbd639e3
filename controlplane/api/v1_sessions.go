package api

import (
	"errors"
	"net/http"
	"time"

	"github.com/warrenhq/warren/controlplane/broker"
	"github.com/warrenhq/warren/controlplane/store"
)

// Session is a terminal session on a device, as its record and its agent's
// live report show it.
type Session struct {
	ID           string          `json:"id"`
	OrgID        string          `json:"org_id"`
	DeviceID     string          `json:"device_id"`
	DeviceName   string          `json:"device_name"`
	Service      string          `json:"service"`
	Protocol     string          `json:"protocol"`
	OwnerID      string          `json:"owner_id"`
	State        string          `json:"state"` // running, agent_offline or ended
	EndReason    string          `json:"end_reason,omitempty"`
	StartedAt    time.Time       `json:"started_at"`
	EndedAt      *time.Time      `json:"ended_at,omitempty"`
	LastActivity time.Time       `json:"last_activity"`
	Viewers      []SessionViewer `json:"viewers"`
	Offset       uint64          `json:"offset"`
	Recorded     bool            `json:"recorded"`
	CanDrive     bool            `json:"can_drive"` // the caller may drive it (its owner, while live)
}

// SessionViewer is a viewer attached to a session.
type SessionViewer struct {
	ID         string    `json:"id"`
	Role       string    `json:"role"` // driver or observer
	AttachedAt time.Time `json:"attached_at"`
}

// Ticket is a single-use attach ticket, valid for at most 30 seconds, for
// the user who asked for it. AttachPath is the WebSocket path to open with
// it.
type Ticket struct {
	Ticket     string    `json:"ticket"`
	Role       string    `json:"role"` // driver or observer
	ExpiresAt  time.Time `json:"expires_at"`
	AttachPath string    `json:"attach_path"`
}

// OpenSessionRequest opens a terminal session on a service (by name) of a
// device (ID or name); Cols and Rows are the terminal size (0: 80x24).
type OpenSessionRequest struct {
	Device  string `json:"device"`
	Service string `json:"service"`
	Cols    int    `json:"cols,omitempty"`
	Rows    int    `json:"rows,omitempty"`
}

// OpenedSession is a new session and the driver ticket to attach to it.
type OpenedSession struct {
	Session Session `json:"session"`
	Ticket  Ticket  `json:"ticket"`
}

// NewTicketRequest asks for a ticket in a role: driver (the owner) or
// observer.
type NewTicketRequest struct {
	Role string `json:"role"`
}

// ShareSessionRequest shares a session, read-only, with a user or a group
// of the organization: exactly one of the two.
type ShareSessionRequest struct {
	UserID  string `json:"user_id,omitempty"`
	GroupID string `json:"group_id,omitempty"`
}

// SessionObserver is a user or group a session is shared with.
type SessionObserver struct {
	SubjectType string `json:"subject_type"` // user or group
	SubjectID   string `json:"subject_id"`
}

// HostKey is the SSH host key trusted for a service, and the one offered
// instead, pending an administrator's acceptance.
type HostKey struct {
	DeviceID    string     `json:"device_id"`
	Service     string     `json:"service"`
	Fingerprint string     `json:"fingerprint"`
	FirstSeen   time.Time  `json:"first_seen"`
	AcceptedBy  string     `json:"accepted_by,omitempty"` // "" = trusted on first use
	Pending     string     `json:"pending_fingerprint,omitempty"`
	PendingSeen *time.Time `json:"pending_seen,omitempty"`
}

// AcceptHostKeyRequest trusts the pending host key; Fingerprint must be
// the pending one (the administrator confirms what they checked).
type AcceptHostKeyRequest struct {
	Fingerprint string `json:"fingerprint"`
}

// SessionSettings are the organization's rules for sessions.
type SessionSettings struct {
	DetachedTimeoutSec int64 `json:"detached_timeout_sec"`
	IdleTimeoutSec     int64 `json:"idle_timeout_sec"`
	BufferSize         int   `json:"buffer_size"`
	MaxUserSessions    int   `json:"max_user_sessions"`
	MaxDeviceSessions  int   `json:"max_device_sessions"`
}

// UpdateSessionSettingsRequest changes the fields it sets.
type UpdateSessionSettingsRequest struct {
	DetachedTimeoutSec *int64 `json:"detached_timeout_sec,omitempty"`
	IdleTimeoutSec     *int64 `json:"idle_timeout_sec,omitempty"`
	BufferSize         *int   `json:"buffer_size,omitempty"`
	MaxUserSessions    *int   `json:"max_user_sessions,omitempty"`
	MaxDeviceSessions  *int   `json:"max_device_sessions,omitempty"`
}

func apiSession(s broker.Session) Session {
	out := Session{ID: s.ID, OrgID: s.OrgID, DeviceID: s.DeviceID, DeviceName: s.DeviceName, Service: s.Service,
		Protocol: s.Protocol, OwnerID: s.OwnerID, State: s.State, EndReason: s.EndReason, StartedAt: s.StartedAt,
		EndedAt: timePtr(s.EndedAt), LastActivity: s.LastActivity, Viewers: []SessionViewer{}, Offset: s.Offset,
		Recorded: s.Recorded, CanDrive: s.CanDrive}
	for _, vw := range s.Viewers {
		out.Viewers = append(out.Viewers, SessionViewer{ID: vw.ID, Role: vw.Role, AttachedAt: vw.AttachedAt})
	}
	return out
}

func apiSessions(ss []broker.Session) []Session {
	out := make([]Session, 0, len(ss))
	for _, s := range ss {
		out = append(out, apiSession(s))
	}
	return out
}

func apiTicket(t broker.Ticket) Ticket {
	return Ticket{Ticket: t.Secret, Role: t.Role, ExpiresAt: t.ExpiresAt, AttachPath: t.AttachPath()}
}

func apiHostKey(k store.HostKey) HostKey {
	return HostKey{DeviceID: k.DeviceID, Service: k.Service, Fingerprint: k.Fingerprint, FirstSeen: k.FirstSeen,
		AcceptedBy: k.AcceptedBy, Pending: k.Pending, PendingSeen: timePtr(k.PendingSeen)}
}

func apiSettings(s store.SessionSettings) SessionSettings {
	return SessionSettings{DetachedTimeoutSec: int64(s.DetachedTimeout / time.Second), IdleTimeoutSec: int64(s.IdleTimeout / time.Second),
		BufferSize: s.BufferSize, MaxUserSessions: s.MaxUserSessions, MaxDeviceSessions: s.MaxDeviceSessions}
}

// broker returns the broker and the caller, or 503 when the engine has no
// broker.
func (c *call) broker() (*broker.Broker, broker.Caller, error) {
	if c.v.Broker == nil {
		return nil, broker.Caller{}, &Error{http.StatusServiceUnavailable, "sessions_unavailable", "this engine serves no sessions"}
	}
	admin, err := c.isAdmin()
	if err != nil {
		return nil, broker.Caller{}, err
	}
	return c.v.Broker, broker.Caller{UserID: c.p.UserID, OrgAdmin: admin, SourceIP: remoteIP(c.r)}, nil
}

// sessionBroker is broker for the routes on one session: it also returns
// the path's session id, noted as the call's object for audit.
func (c *call) sessionBroker() (*broker.Broker, broker.Caller, string, error) {
	b, caller, err := c.broker()
	if err != nil {
		return nil, broker.Caller{}, "", err
	}
	id := c.r.PathValue("session")
	c.on("session", id)
	return b, caller, id, nil
}

// brokerErr turns the broker's refusals into the API's: with a reason, an
// audited denial.
func (c *call) brokerErr(err error) error {
	var be *broker.Error
	if !errors.As(err, &be) {
		return err
	}
	resp := &Error{be.Status, be.Code, be.Message}
	if be.Reason != "" {
		return &denial{resp: resp, reason: be.Reason}
	}
	return resp
}

func (v *V1) openSession(c *call) error {
	var req OpenSessionRequest
	if err := c.decode(&req); err != nil {
		return err
	}
	b, caller, err := c.broker()
	if err != nil {
		return err
	}
	c.on("device", req.Device)
	s, t, err := b.Open(c.r.Context(), caller, c.org, broker.OpenRequest{Device: req.Device, Service: req.Service,
		Cols: req.Cols, Rows: req.Rows})
	if err != nil {
		return c.brokerErr(err)
	}
	c.on("session", s.ID)
	return c.reply(OpenedSession{Session: apiSession(s), Ticket: apiTicket(t)})
}

func (v *V1) listSessions(c *call) error {
	b, caller, err := c.broker()
	if err != nil {
		return err
	}
	ss, err := b.List(c.r.Context(), caller, c.org, broker.ListFilter{Scope: c.query("scope"), State: c.query("state")})
	if err != nil {
		return c.brokerErr(err)
	}
	return c.reply(apiSessions(ss))
}

func (v *V1) getSession(c *call) error {
	b, caller, id, err := c.sessionBroker()
	if err != nil {
		return err
	}
	s, err := b.Get(c.r.Context(), caller, c.org, id)
	if err != nil {
		return c.brokerErr(err)
	}
	return c.reply(apiSession(s))
}

func (v *V1) terminateSession(c *call) error {
	b, caller, id, err := c.sessionBroker()
	if err != nil {
		return err
	}
	if err := b.Terminate(c.r.Context(), caller, c.org, id); err != nil {
		return c.brokerErr(err)
	}
	return c.reply(nil)
}

func (v *V1) newTicket(c *call) error {
	var req NewTicketRequest
	if err := c.decode(&req); err != nil {
		return err
	}
	b, caller, id, err := c.sessionBroker()
	if err != nil {
		return err
	}
	t, err := b.NewTicket(c.r.Context(), caller, c.org, id, req.Role)
	if err != nil {
		return c.brokerErr(err)
	}
	return c.reply(apiTicket(t))
}

func (v *V1) listDeviceSessions(c *call) error {
	b, caller, err := c.broker()
	if err != nil {
		return err
	}
	dev := c.r.PathValue("device")
	c.on("device", dev)
	ss, err := b.ListDevice(c.r.Context(), caller, c.org, dev, c.query("state"))
	if err != nil {
		return c.brokerErr(err)
	}
	return c.reply(apiSessions(ss))
}

func (v *V1) listObservers(c *call) error {
	b, caller, id, err := c.sessionBroker()
	if err != nil {
		return err
	}
	os, err := b.Observers(c.r.Context(), caller, c.org, id)
	if err != nil {
		return c.brokerErr(err)
	}
	out := make([]SessionObserver, 0, len(os))
	for _, o := range os {
		out = append(out, SessionObserver{SubjectType: o.SubjectType, SubjectID: o.SubjectID})
	}
	return c.reply(out)
}

func (v *V1) shareSession(c *call) error {
	var req ShareSessionRequest
	if err := c.decode(&req); err != nil {
		return err
	}
	b, caller, id, err := c.sessionBroker()
	if err != nil {
		return err
	}
	o := broker.Observer{SubjectType: "user", SubjectID: req.UserID}
	switch {
	case (req.UserID == "") == (req.GroupID == ""):
		return badRequest("invalid_field", "exactly one of user_id and group_id is required")
	case req.GroupID != "":
		o = broker.Observer{SubjectType: "group", SubjectID: req.GroupID}
	}
	if err := b.Share(c.r.Context(), caller, c.org, id, o); err != nil {
		return c.brokerErr(err)
	}
	return c.reply(SessionObserver{SubjectType: o.SubjectType, SubjectID: o.SubjectID})
}

func (v *V1) unshareSession(c *call) error {
	b, caller, id, err := c.sessionBroker()
	if err != nil {
		return err
	}
	if err := b.Unshare(c.r.Context(), caller, c.org, id, c.r.PathValue("subject")); err != nil {
		return c.brokerErr(err)
	}
	return c.reply(nil)
}

func (v *V1) listRecordings(c *call) error {
	b, caller, err := c.broker()
	if err != nil {
		return err
	}
	ss, err := b.Recordings(c.r.Context(), caller, c.org)
	if err != nil {
		return c.brokerErr(err)
	}
	return c.reply(apiSessions(ss))
}

// getRecording answers the asciicast file itself (ranges, conditional
// requests), as a download.
func (v *V1) getRecording(c *call) error {
	b, caller, id, err := c.sessionBroker()
	if err != nil {
		return err
	}
	rec, err := b.OpenRecording(c.r.Context(), caller, c.org, id)
	if err != nil {
		return c.brokerErr(err)
	}
	defer rec.Close()
	c.w.Header().Set("Content-Type", c.rt.contentType)
	c.w.Header().Set("Content-Disposition", `attachment; filename="`+rec.Name+`"`)
	c.w.Header().Set("X-Content-Type-Options", "nosniff")
	http.ServeContent(c.w, c.r, "", rec.ModTime, rec.Content)
	return nil
}

func (v *V1) getHostKey(c *call) error {
	b, caller, err := c.broker()
	if err != nil {
		return err
	}
	c.on("device", c.r.PathValue("device"))
	k, err := b.HostKey(c.r.Context(), caller, c.org, c.r.PathValue("device"), c.r.PathValue("service"))
	if err != nil {
		return c.brokerErr(err)
	}
	return c.reply(apiHostKey(k))
}

func (v *V1) acceptHostKey(c *call) error {
	var req AcceptHostKeyRequest
	if err := c.decode(&req); err != nil {
		return err
	}
	b, caller, err := c.broker()
	if err != nil {
		return err
	}
	c.on("device", c.r.PathValue("device"))
	k, err := b.AcceptHostKey(c.r.Context(), caller, c.org, c.r.PathValue("device"), c.r.PathValue("service"), req.Fingerprint)
	if err != nil {
		return c.brokerErr(err)
	}
	return c.reply(apiHostKey(k))
}

func (v *V1) getSessionSettings(c *call) error {
	s, err := v.Store.GetSessionSettings(c.r.Context(), c.org.ID)
	if err != nil {
		return err
	}
	return c.reply(apiSettings(s))
}

func (v *V1) updateSessionSettings(c *call) error {
	var req UpdateSessionSettingsRequest
	if err := c.decode(&req); err != nil {
		return err
	}
	s, err := v.Store.GetSessionSettings(c.r.Context(), c.org.ID)
	if err != nil {
		return err
	}
	const maxSec = int64(1 << 40) // keeps the Duration product in range; the store bounds it
	secs := func(p *int64, d *time.Duration) {
		if p != nil {
			*d = time.Duration(min(max(*p, -1), maxSec)) * time.Second
		}
	}
	secs(req.DetachedTimeoutSec, &s.DetachedTimeout)
	secs(req.IdleTimeoutSec, &s.IdleTimeout)
	for _, f := range []struct {
		p *int
		d *int
	}{{req.BufferSize, &s.BufferSize}, {req.MaxUserSessions, &s.MaxUserSessions}, {req.MaxDeviceSessions, &s.MaxDeviceSessions}} {
		if f.p != nil {
			*f.d = *f.p
		}
	}
	if err := v.Store.SetSessionSettings(c.r.Context(), c.org.ID, s); err != nil {
		return notFoundAs(err, "org")
	}
	return c.reply(apiSettings(s))
}
