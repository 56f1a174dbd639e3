package api

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// OpenSession opens a terminal session on service (by name) of device (ID
// or name) and returns it with a driver ticket.
func (c *V1Client) OpenSession(ctx context.Context, org string, req OpenSessionRequest) (OpenedSession, error) {
	var out OpenedSession
	return out, c.do(ctx, http.MethodPost, orgPath(org, "sessions"), req, &out)
}

// ListSessions lists sessions: scope "mine" (default) or "all" (org
// admins), state "live" (default), "ended" or "all".
func (c *V1Client) ListSessions(ctx context.Context, org, scope, state string) ([]Session, error) {
	q := url.Values{}
	if scope != "" {
		q.Set("scope", scope)
	}
	if state != "" {
		q.Set("state", state)
	}
	p := orgPath(org, "sessions")
	if len(q) > 0 {
		p += "?" + q.Encode()
	}
	var out []Session
	return out, c.do(ctx, http.MethodGet, p, nil, &out)
}

// ListDeviceSessions lists the sessions on a device (state as in
// ListSessions).
func (c *V1Client) ListDeviceSessions(ctx context.Context, org, device, state string) ([]Session, error) {
	p := orgPath(org, "devices", device, "sessions")
	if state != "" {
		p += "?state=" + url.QueryEscape(state)
	}
	var out []Session
	return out, c.do(ctx, http.MethodGet, p, nil, &out)
}

// GetSession returns a session.
func (c *V1Client) GetSession(ctx context.Context, org, id string) (Session, error) {
	var out Session
	return out, c.do(ctx, http.MethodGet, orgPath(org, "sessions", id), nil, &out)
}

// TerminateSession ends a session.
func (c *V1Client) TerminateSession(ctx context.Context, org, id string) error {
	return c.do(ctx, http.MethodDelete, orgPath(org, "sessions", id), nil, nil)
}

// NewTicket mints a single-use attach ticket in role "driver" or
// "observer".
func (c *V1Client) NewTicket(ctx context.Context, org, id, role string) (Ticket, error) {
	var out Ticket
	return out, c.do(ctx, http.MethodPost, orgPath(org, "sessions", id, "tickets"), NewTicketRequest{Role: role}, &out)
}

// ShareSession shares a session read-only with a user or a group (one of
// userID and groupID).
func (c *V1Client) ShareSession(ctx context.Context, org, id, userID, groupID string) (SessionObserver, error) {
	var out SessionObserver
	return out, c.do(ctx, http.MethodPost, orgPath(org, "sessions", id, "observers"),
		ShareSessionRequest{UserID: userID, GroupID: groupID}, &out)
}

// UnshareSession stops sharing a session with a user or group (its ID).
func (c *V1Client) UnshareSession(ctx context.Context, org, id, subject string) error {
	return c.do(ctx, http.MethodDelete, orgPath(org, "sessions", id, "observers", subject), nil, nil)
}

// ListRecordings lists the recorded sessions the caller may see.
func (c *V1Client) ListRecordings(ctx context.Context, org string) ([]Session, error) {
	var out []Session
	return out, c.do(ctx, http.MethodGet, orgPath(org, "recordings"), nil, &out)
}

// MaxRecordingDownload bounds what DownloadRecording copies.
const MaxRecordingDownload = 1 << 30

// DownloadRecording writes a session's asciicast v2 recording to w and
// returns the number of bytes written.
func (c *V1Client) DownloadRecording(ctx context.Context, org, id string, w io.Writer) (int64, error) {
	if _, err := c.checkServer(); err != nil {
		return 0, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet,
		strings.TrimRight(c.Server, "/")+orgPath(org, "sessions", id, "recording"), nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+c.Token)
	hc := c.HTTPClient
	if hc == nil {
		hc = &http.Client{} // a recording may take longer than V1ClientTimeout; ctx bounds it
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		return 0, responseError(resp, data)
	}
	n, err := io.Copy(w, io.LimitReader(resp.Body, MaxRecordingDownload))
	if err != nil {
		return n, fmt.Errorf("downloading the recording: %w", err)
	}
	return n, nil
}

// GetHostKey returns the host key trusted for a device's service.
func (c *V1Client) GetHostKey(ctx context.Context, org, device, service string) (HostKey, error) {
	var out HostKey
	return out, c.do(ctx, http.MethodGet, orgPath(org, "devices", device, "services", service, "host-key"), nil, &out)
}

// AcceptHostKey trusts the pending host key of a device's service.
func (c *V1Client) AcceptHostKey(ctx context.Context, org, device, service, fingerprint string) (HostKey, error) {
	var out HostKey
	return out, c.do(ctx, http.MethodPost, orgPath(org, "devices", device, "services", service, "host-key", "accept"),
		AcceptHostKeyRequest{Fingerprint: fingerprint}, &out)
}

// GetSessionSettings returns the organization's session settings.
func (c *V1Client) GetSessionSettings(ctx context.Context, org string) (SessionSettings, error) {
	var out SessionSettings
	return out, c.do(ctx, http.MethodGet, orgPath(org, "settings", "sessions"), nil, &out)
}

// UpdateSessionSettings changes the organization's session settings.
func (c *V1Client) UpdateSessionSettings(ctx context.Context, org string, req UpdateSessionSettingsRequest) (SessionSettings, error) {
	var out SessionSettings
	return out, c.do(ctx, http.MethodPatch, orgPath(org, "settings", "sessions"), req, &out)
}

// AttachURL returns the WebSocket URL (ws:// or wss://) that attaches with
// ticket t; resume sends offset (the bytes the viewer holds); takeover asks
// for the driver role at once. Dial it without the API token: the ticket
// authenticates.
func (c *V1Client) AttachURL(t Ticket, offset uint64, resume, takeover bool) (string, error) {
	u, err := c.checkServer()
	if err != nil {
		return "", err
	}
	p, err := url.Parse(t.AttachPath)
	if err != nil || !strings.HasPrefix(p.Path, "/api/v1/orgs/") || p.Host != "" || p.Scheme != "" {
		return "", fmt.Errorf("ticket attach path %q is not an attach path", t.AttachPath)
	}
	q := p.Query()
	q.Set("ticket", t.Ticket)
	if resume {
		q.Set("offset", strconv.FormatUint(offset, 10))
	}
	if takeover {
		q.Set("takeover", "1")
	}
	scheme := "wss"
	if u.Scheme == "http" {
		scheme = "ws"
	}
	return scheme + "://" + u.Host + strings.TrimRight(u.Path, "/") + p.EscapedPath() + "?" + q.Encode(), nil
}
