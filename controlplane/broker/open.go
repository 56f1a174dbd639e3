package broker

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/warrenhq/warren/acl"
	"github.com/warrenhq/warren/controlplane/secrets"
	"github.com/warrenhq/warren/controlplane/store"
	"github.com/warrenhq/warren/controlplane/wire"
)

// OpenRequest names what to open: a device of the organization (ID or
// name), one of its services (name) and the terminal size (0: 80x24).
type OpenRequest struct {
	Device  string
	Service string
	Cols    int
	Rows    int
}

// Open opens a terminal session on a device's SSH service for the caller
// and returns it with a driver ticket. It checks, in order: the device is
// in org and visible to the caller (else 404), the service exists (404) and
// speaks ssh (400 unsupported_protocol), the compiled port ACL lets the
// caller connect to its port (403), the agent is online (503
// agent_offline), the limits (429 session_limit), a credential exists (400
// no_credential); then it asks the agent, which checks the host key (409
// host_key_changed on a mismatch, the offered key kept for an admin to
// accept).
func (b *Broker) Open(ctx context.Context, c Caller, org store.Org, req OpenRequest) (Session, Ticket, error) {
	if req.Cols < 0 || req.Cols > MaxCols || req.Rows < 0 || req.Rows > MaxRows {
		return Session{}, Ticket{}, badRequest("invalid_field", fmt.Sprintf("cols and rows: must be 0 to %d", MaxCols))
	}
	d, svc, err := b.openTarget(ctx, c, org, req)
	if err != nil {
		return Session{}, Ticket{}, err
	}
	if !b.online(d.ID) {
		return Session{}, Ticket{}, &Error{Status: http.StatusServiceUnavailable, Code: "agent_offline",
			Message: "the agent of device " + d.Name + " is offline"}
	}
	settings, err := b.cfg.Store.GetSessionSettings(ctx, org.ID)
	if err != nil {
		return Session{}, Ticket{}, err
	}
	cred, secret, err := b.credential(ctx, org.ID, d, svc)
	if err != nil {
		return Session{}, Ticket{}, err
	}
	defer secret.Clear()
	hostKey := ""
	if k, err := b.cfg.Store.GetHostKey(ctx, d.ID, svc.Name); err == nil {
		hostKey = k.Fingerprint
	} else if !errors.Is(err, store.ErrNotFound) {
		return Session{}, Ticket{}, err
	}

	rs, err := b.cfg.Store.CreateRemoteSession(ctx, store.RemoteSession{
		ID: store.NewRemoteSessionID(), OrgID: org.ID, DeviceID: d.ID, Service: svc.Name, Protocol: string(svc.Protocol),
		OwnerID: c.UserID, StartedAt: b.now(), Recorded: svc.Record, Cols: req.Cols, Rows: req.Rows,
	}, store.SessionLimits{PerUser: settings.MaxUserSessions, PerDevice: settings.MaxDeviceSessions})
	var limit *store.LimitError
	if errors.As(err, &limit) {
		return Session{}, Ticket{}, limitError(limit)
	}
	if err != nil {
		return Session{}, Ticket{}, err
	}
	b.setOpening(rs.ID, true)
	defer b.setOpening(rs.ID, false)

	open := wire.OpenSession{
		ID: rs.ID, OrgID: org.ID, OwnerID: c.UserID, Service: svc.Name, Username: cred.Username, HostKey: hostKey,
		Cols: uint16(rs.Cols), Rows: uint16(rs.Rows), BufferSize: settings.BufferSize,
		DetachedTimeoutSec: int64(settings.DetachedTimeout.Seconds()), IdleTimeoutSec: int64(settings.IdleTimeout.Seconds()),
	}
	if cred.Kind == store.KindPrivateKey {
		open.PrivateKey = string(secret)
	} else {
		open.Password = string(secret)
	}
	var info wire.SessionInfo
	err = b.agents.do(ctx, d.ID, http.MethodPost, wire.SessionsPath, open, &info)
	open.Password, open.PrivateKey = "", ""
	if err != nil {
		b.forget(org.ID, rs.ID)
		return Session{}, Ticket{}, b.openError(ctx, d, svc, hostKey, err)
	}
	if hostKey == "" && store.ValidFingerprint(info.HostKey) {
		if _, err := b.cfg.Store.TrustHostKeyOnFirstUse(ctx, d.ID, svc.Name, info.HostKey, b.now()); err != nil {
			b.log.Error("recording a host key on first use", "device_id", d.ID, "service", svc.Name, "err", err)
		}
	}
	if err := b.cfg.Authz.SessionOwner(ctx, rs.ID, c.UserID); err != nil {
		b.abandon(d.ID, rs)
		return Session{}, Ticket{}, fmt.Errorf("writing the owner of session %s: %w", rs.ID, err)
	}
	b.noteOpened(d.ID, info)
	if rs.Recorded {
		b.startRecorder(rs)
	}
	t, err := b.mintTicket(ctx, rs, c.UserID, store.TicketDriver)
	if err != nil {
		return Session{}, Ticket{}, err
	}
	b.log.Info("session opened", "session_id", rs.ID, "org_id", org.ID, "device_id", d.ID, "service", svc.Name,
		"user_id", c.UserID, "recorded", rs.Recorded)
	return b.session(rs, d.Name, true), t, nil
}

// openTarget resolves and checks the device and service of an open.
func (b *Broker) openTarget(ctx context.Context, c Caller, org store.Org, req OpenRequest) (store.Device, store.Service, error) {
	d, err := b.cfg.Store.GetOrgDevice(ctx, org.ID, req.Device)
	if errors.Is(err, store.ErrNotFound) {
		return store.Device{}, store.Service{}, notFound("device")
	}
	if err != nil {
		return store.Device{}, store.Service{}, err
	}
	if ok, err := b.can(ctx, c, acl.RelationView, acl.TypeDevice, d.ID); err != nil || !ok {
		return store.Device{}, store.Service{}, errors.Join(err, hidden("device", "view on "+acl.Device(d.ID)+" required"))
	}
	svc, err := b.cfg.Store.GetService(ctx, d.ID, req.Service)
	if errors.Is(err, store.ErrNotFound) {
		return store.Device{}, store.Service{}, notFound("service")
	}
	if err != nil {
		return store.Device{}, store.Service{}, err
	}
	if svc.Protocol != store.ProtocolSSH {
		return store.Device{}, store.Service{}, badRequest("unsupported_protocol",
			fmt.Sprintf("service %s speaks %s: only ssh services open terminal sessions", svc.Name, svc.Protocol))
	}
	if d.Disabled {
		return store.Device{}, store.Service{}, &Error{Status: http.StatusConflict, Code: "device_disabled",
			Message: "device " + d.Name + " is disabled"}
	}
	if !b.cfg.Authz.Allowed(c.UserID, d.ID, uint16(svc.Port)) {
		return store.Device{}, store.Service{}, forbidden(fmt.Sprintf("connect to port %d of %s required", svc.Port, acl.Device(d.ID)))
	}
	return d, svc, nil
}

func limitError(l *store.LimitError) *Error {
	name := map[string]string{"per_user": "max_user_sessions", "per_device": "max_device_sessions"}[l.Limit]
	what := map[string]string{"per_user": "you have", "per_device": "the device has"}[l.Limit]
	return &Error{Status: http.StatusTooManyRequests, Code: "session_limit",
		Message: fmt.Sprintf("session limit reached: %s %d live sessions, the organization's limit %s is %d", what, l.Max, name, l.Max)}
}

// credential returns the credential for a service: one scoped to the
// service, else one of the nearest folder up the device's folder chain,
// decrypted for this request only.
func (b *Broker) credential(ctx context.Context, orgID string, d store.Device, svc store.Service) (store.Credential, secrets.Secret, error) {
	creds, err := b.cfg.Store.ListCredentials(ctx, orgID)
	if err != nil {
		return store.Credential{}, nil, err
	}
	pick := func(scopeType, scopeID string) (store.Credential, bool) {
		for _, c := range creds { // ordered by scope and name: the first name wins
			if c.ScopeType == scopeType && c.ScopeID == scopeID {
				return c, true
			}
		}
		return store.Credential{}, false
	}
	found, ok := pick(store.ScopeService, svc.ID)
	for folder, depth := d.FolderID, 0; !ok && folder != "" && depth < 64; depth++ {
		if found, ok = pick(store.ScopeFolder, folder); ok {
			break
		}
		f, err := b.cfg.Store.GetFolder(ctx, orgID, folder)
		if err != nil {
			return store.Credential{}, nil, fmt.Errorf("walking the folders of device %s: %w", d.ID, err)
		}
		folder = f.ParentID
	}
	if !ok {
		return store.Credential{}, nil, badRequest("no_credential",
			fmt.Sprintf("no credential for service %s of %s: store one on the service or on a folder above the device", svc.Name, d.Name))
	}
	c, secret, err := b.cfg.Vault.OpenCredential(ctx, orgID, found.ID)
	if err != nil {
		return store.Credential{}, nil, fmt.Errorf("opening credential %s: %w", found.ID, err)
	}
	if c.Username == "" {
		secret.Clear()
		return store.Credential{}, nil, badRequest("no_credential", "credential "+c.Name+" has no username")
	}
	return c, secret, nil
}

// fingerprintRE finds a fingerprint in an agent's error message.
var fingerprintRE = regexp.MustCompile(`SHA256:[A-Za-z0-9+/=]{20,100}`)

// openError turns an agent's refusal into the client's error.
func (b *Broker) openError(ctx context.Context, d store.Device, svc store.Service, want string, err error) error {
	var ae *agentError
	if !errors.As(err, &ae) {
		if errors.Is(err, errAgentOffline) {
			return &Error{Status: http.StatusServiceUnavailable, Code: "agent_offline", Message: "the agent of device " + d.Name + " cannot be reached"}
		}
		return err
	}
	switch ae.Code {
	case wire.CodeHostKeyMismatch:
		offered := ""
		for _, fp := range fingerprintRE.FindAllString(ae.Message, -1) {
			if fp != want {
				offered = fp
			}
		}
		if offered != "" {
			if err := b.cfg.Store.SetPendingHostKey(ctx, d.ID, svc.Name, offered, b.now()); err != nil {
				b.log.Error("recording a pending host key", "device_id", d.ID, "service", svc.Name, "err", err)
			}
		}
		b.log.Warn("host key changed", "device_id", d.ID, "service", svc.Name, "trusted", want, "offered", offered)
		return &Error{Status: http.StatusConflict, Code: "host_key_changed", Message: fmt.Sprintf(
			"the host key of %s on %s changed: trusted %s, offered %s; an administrator must accept the new key before sessions can open",
			svc.Name, d.Name, want, orUnknown(offered))}
	case wire.CodeSSHAuthFailed:
		return &Error{Status: http.StatusBadGateway, Code: "ssh_auth_failed", Message: "the SSH server refused the stored credential"}
	case wire.CodeDialFailed:
		return &Error{Status: http.StatusBadGateway, Code: "dial_failed", Message: "the agent could not reach the service's target"}
	case wire.CodeSessionLimit:
		return &Error{Status: http.StatusTooManyRequests, Code: "session_limit", Message: "session limit reached: the agent holds its maximum of sessions"}
	}
	return &Error{Status: http.StatusBadGateway, Code: "agent_error", Message: "the agent refused the session (" + sanitize(ae.Code) + ")"}
}

func orUnknown(s string) string {
	if s == "" {
		return "(unknown)"
	}
	return s
}

// sanitize keeps an agent-provided code printable and short.
func sanitize(s string) string {
	s = strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_' {
			return r
		}
		return -1
	}, s)
	if len(s) > 40 {
		s = s[:40]
	}
	return s
}

func (b *Broker) setOpening(id string, on bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if on {
		b.opening[id] = true
	} else {
		delete(b.opening, id)
	}
}

// forget deletes the record of a session that never opened.
func (b *Broker) forget(orgID, id string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(b.ctx), 10*time.Second)
	defer cancel()
	if err := b.cfg.Store.DeleteRemoteSession(ctx, orgID, id); err != nil {
		b.log.Error("forgetting a session that did not open", "session_id", id, "err", err)
	}
}

// abandon terminates a session that opened on the agent but cannot be
// used, and forgets it.
func (b *Broker) abandon(deviceID string, rs store.RemoteSession) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(b.ctx), agentTimeout)
	defer cancel()
	if err := b.agents.do(ctx, deviceID, http.MethodDelete, wire.SessionsPath+"/"+rs.ID, nil, nil); err != nil {
		b.log.Error("terminating an abandoned session", "session_id", rs.ID, "err", err)
	}
	b.forget(rs.OrgID, rs.ID)
}
