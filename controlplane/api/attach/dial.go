package attach

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"

	"github.com/coder/websocket"

	"github.com/warrenhq/warren/controlplane/api"
	"github.com/warrenhq/warren/controlplane/wire"
	"github.com/warrenhq/warren/protocols/stream"
)

// Dialer attaches to one session through the engine: every Dial asks the
// REST API for a new single-use ticket (tickets cannot be reused, and live
// 30 s at most) and opens the attach WebSocket with it. Set the fields
// before the first Dial; Dial is then safe for concurrent use.
type Dialer struct {
	Client  *api.V1Client
	Org     string // organization id or slug
	Session string // session id
	// Role of the tickets: stream.RoleDriver (default) or
	// stream.RoleObserver.
	Role string

	mu    sync.Mutex
	first *api.Ticket // guarded by mu
}

// UseTicket makes the next Dial use t (for example the ticket that came
// with a newly opened session) instead of asking for one.
func (d *Dialer) UseTicket(t api.Ticket) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.first = &t
}

// Dial has the shape of a DialFunc. Refusals that retrying cannot change
// (unknown session, no permission, a refused ticket) are stream.Permanent;
// a session that has ended is a permanent *EndedError.
func (d *Dialer) Dial(ctx context.Context, offset uint64, resume, takeover bool) (stream.Conn, error) {
	t, err := d.ticket(ctx)
	if err != nil {
		return nil, d.classify(ctx, fmt.Errorf("asking for an attach ticket: %w", err))
	}
	u, err := d.Client.AttachURL(t, offset, resume, takeover)
	if err != nil {
		return nil, stream.Permanent(err)
	}
	opts := &websocket.DialOptions{HTTPClient: d.Client.HTTPClient}
	ws, resp, err := websocket.Dial(ctx, u, opts)
	if err != nil {
		var uerr *url.Error
		if apiErr := responseError(resp); apiErr != nil {
			err = apiErr
		} else if errors.As(err, &uerr) {
			err = uerr.Err // its text holds the URL, and so the ticket
		}
		return nil, d.classify(ctx, fmt.Errorf("attaching to %s: %w", d.Client.Server, err))
	}
	return stream.WebSocketConn(ws), nil
}

func (d *Dialer) ticket(ctx context.Context) (api.Ticket, error) {
	d.mu.Lock()
	t := d.first
	d.first = nil
	d.mu.Unlock()
	if t != nil {
		return *t, nil
	}
	role := d.Role
	if role == "" {
		role = stream.RoleDriver
	}
	return d.Client.NewTicket(ctx, d.Org, d.Session, role)
}

// responseError decodes the API's error envelope from a refused upgrade
// (coder/websocket keeps the first KiB of the body); nil when there is
// none.
func responseError(resp *http.Response) *api.Error {
	if resp == nil || resp.Body == nil {
		return nil
	}
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	var eb wire.ErrorBody
	if json.Unmarshal(data, &eb) != nil || eb.Error.Code == "" {
		return nil
	}
	return &api.Error{Status: resp.StatusCode, Code: eb.Error.Code, Message: eb.Error.Message}
}

// classify marks err permanent when the API refused for a reason that
// retrying cannot change; a network error, an engine restarting (5xx) or a
// limit (429) are worth retrying.
func (d *Dialer) classify(ctx context.Context, err error) error {
	var apiErr *api.Error
	if !errors.As(err, &apiErr) {
		return err
	}
	switch {
	case apiErr.Code == "session_ended":
		return stream.Permanent(&EndedError{Reason: d.endReason(ctx), err: err})
	case apiErr.Status == http.StatusTooManyRequests || apiErr.Status == http.StatusRequestTimeout || apiErr.Status >= 500:
		return err
	case apiErr.Status >= 400:
		return stream.Permanent(err)
	}
	return err
}

// endReason asks why the session ended ("" if that fails).
func (d *Dialer) endReason(ctx context.Context) string {
	s, err := d.Client.GetSession(ctx, d.Org, d.Session)
	if err != nil {
		return ""
	}
	return s.EndReason
}

// EndedError is a Dial error for a session that has ended. It matches
// stream.ErrSessionEnded with errors.Is.
type EndedError struct {
	Reason string // wire's End* reasons; "" if unknown
	err    error
}

func (e *EndedError) Error() string {
	if e.Reason == "" {
		return "the session has ended"
	}
	return "the session has ended: " + e.Reason
}

// Is makes errors.Is(err, stream.ErrSessionEnded) hold.
func (e *EndedError) Is(target error) bool { return target == stream.ErrSessionEnded }

func (e *EndedError) Unwrap() error { return e.err }
