package broker

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"time"

	"github.com/coder/websocket"

	"github.com/warrenhq/warren/controlplane/overlay"
	"github.com/warrenhq/warren/controlplane/wire"
	"github.com/warrenhq/warren/protocols/stream"
)

// agentTimeout bounds one agent API call (an open includes the agent's SSH
// handshake, itself bounded at 15 s).
const agentTimeout = 30 * time.Second

// maxAgentResponse bounds an agent API response body.
const maxAgentResponse = 1 << 20

// errAgentOffline: the device's agent cannot be reached on the overlay.
var errAgentOffline = errors.New("agent offline")

// agentError is an error answer of an agent's API.
type agentError struct {
	Status  int
	Code    string
	Message string
}

func (e *agentError) Error() string {
	return fmt.Sprintf("agent answered %d %s: %s", e.Status, e.Code, e.Message)
}

// agentClient calls agents' APIs over the engine's overlay device.
type agentClient struct {
	o    *overlay.Overlay
	tr   *http.Transport
	http *http.Client // bounded calls
	ws   *http.Client // WebSocket upgrades (no overall timeout)
}

func newAgentClient(o *overlay.Overlay) *agentClient {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			if o == nil {
				return nil, errAgentOffline
			}
			return o.Device().DialContext(ctx, network, addr)
		},
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       90 * time.Second,
		ResponseHeaderTimeout: agentTimeout,
		DisableCompression:    true,
	}
	return &agentClient{o: o, tr: tr, http: &http.Client{Transport: tr, Timeout: agentTimeout}, ws: &http.Client{Transport: tr}}
}

func (a *agentClient) close() { a.tr.CloseIdleConnections() }

// base returns http://<overlay ip>:<agent API port> of the device.
func (a *agentClient) base(deviceID string) (string, error) {
	if a.o == nil {
		return "", errAgentOffline
	}
	ip, ok := a.o.DeviceAddr(deviceID)
	if !ok {
		return "", errAgentOffline
	}
	return "http://" + netip.AddrPortFrom(ip, wire.AgentAPIPort).String(), nil
}

// do calls the device's agent API; an error answer is *agentError.
func (a *agentClient) do(ctx context.Context, deviceID, method, path string, in, out any) error {
	base, err := a.base(deviceID)
	if err != nil {
		return err
	}
	var body io.Reader
	if in != nil {
		data, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, base+path, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := a.http.Do(req)
	if err != nil {
		return fmt.Errorf("%w: %v", errAgentOffline, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxAgentResponse))
	if err != nil {
		return fmt.Errorf("%w: reading the answer: %v", errAgentOffline, err)
	}
	if resp.StatusCode >= 300 {
		return decodeAgentError(resp.StatusCode, data)
	}
	if out == nil || resp.StatusCode == http.StatusNoContent {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("decoding the agent's answer to %s %s: %w", method, path, err)
	}
	return nil
}

func decodeAgentError(status int, data []byte) *agentError {
	var eb wire.ErrorBody
	if json.Unmarshal(data, &eb) == nil && eb.Error.Code != "" {
		msg := eb.Error.Message
		if len(msg) > 512 {
			msg = msg[:512]
		}
		return &agentError{Status: status, Code: eb.Error.Code, Message: msg}
	}
	return &agentError{Status: status, Code: "http_" + strconv.Itoa(status)}
}

// attachParams are the query parameters of an agent attach.
type attachParams struct {
	role     string // stream.RoleDriver or stream.RoleObserver
	viewer   string
	offset   uint64
	resume   bool // send offset
	takeover bool
	hidden   bool
}

// errSessionGone: the agent does not know the session (it ended and was
// forgotten, or the agent restarted).
var errSessionGone = errors.New("the agent does not have the session")

// attach opens a stream to the session on the device's agent. A 404 is
// errSessionGone; other refusals are *agentError; failing to reach the
// agent wraps errAgentOffline.
func (a *agentClient) attach(ctx context.Context, deviceID, sessionID string, p attachParams) (stream.Conn, error) {
	base, err := a.base(deviceID)
	if err != nil {
		return nil, err
	}
	q := url.Values{"role": {p.role}}
	if p.viewer != "" {
		q.Set("viewer", p.viewer)
	}
	if p.resume {
		q.Set("offset", strconv.FormatUint(p.offset, 10))
	}
	if p.takeover {
		q.Set("takeover", "1")
	}
	if p.hidden {
		q.Set("hidden", "1")
	}
	u := "ws" + base[len("http"):] + wire.SessionsPath + "/" + url.PathEscape(sessionID) + "/attach?" + q.Encode()
	dctx, cancel := context.WithTimeout(ctx, agentTimeout)
	defer cancel()
	c, resp, err := websocket.Dial(dctx, u, &websocket.DialOptions{HTTPClient: a.ws})
	if err != nil {
		if resp != nil {
			if resp.StatusCode == http.StatusNotFound {
				return nil, errSessionGone
			}
			data, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
			return nil, decodeAgentError(resp.StatusCode, data)
		}
		return nil, fmt.Errorf("%w: %v", errAgentOffline, err)
	}
	return stream.WebSocketConn(c), nil
}
