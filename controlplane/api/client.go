package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"syscall"

	"github.com/warrenhq/warren/controlplane/wire"
)

// SocketFile is the admin socket's name in the data dir.
const SocketFile = "warren.sock"

// Client talks to a running engine's admin API over its unix socket.
type Client struct {
	hc *http.Client
}

// NewClient returns a client for the engine whose data dir is dataDir.
func NewClient(dataDir string) *Client {
	sock := filepath.Join(dataDir, SocketFile)
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			c, err := d.DialContext(ctx, "unix", sock)
			if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ECONNREFUSED) {
				return nil, fmt.Errorf("no engine is running with data dir %s (start one with `warren serve --data-dir %s`)", dataDir, dataDir)
			}
			return c, err
		},
	}
	return &Client{hc: &http.Client{Transport: tr}}
}

// CreateToken issues an enrollment token; ttl "" = the default.
func (c *Client) CreateToken(ctx context.Context, ttl string) (TokenResponse, error) {
	var out TokenResponse
	return out, c.do(ctx, http.MethodPost, "/admin/v1/tokens", TokenRequest{TTL: ttl}, &out)
}

// ListDevices lists enrolled devices with their live state.
func (c *Client) ListDevices(ctx context.Context) ([]Device, error) {
	var out []Device
	return out, c.do(ctx, http.MethodGet, "/admin/v1/devices", nil, &out)
}

// ListServices lists a device's services.
func (c *Client) ListServices(ctx context.Context, device string) ([]Service, error) {
	var out []Service
	return out, c.do(ctx, http.MethodGet, "/admin/v1/devices/"+url.PathEscape(device)+"/services", nil, &out)
}

// AddService defines a service on a device.
func (c *Client) AddService(ctx context.Context, device string, s Service) (Service, error) {
	var out Service
	return out, c.do(ctx, http.MethodPost, "/admin/v1/devices/"+url.PathEscape(device)+"/services", s, &out)
}

// RemoveService deletes a device's service (and its gateway ports).
func (c *Client) RemoveService(ctx context.Context, device, name string) error {
	return c.do(ctx, http.MethodDelete, "/admin/v1/devices/"+url.PathEscape(device)+"/services/"+url.PathEscape(name), nil, nil)
}

// ListPublishes lists gateway ports.
func (c *Client) ListPublishes(ctx context.Context) ([]Publish, error) {
	var out []Publish
	return out, c.do(ctx, http.MethodGet, "/admin/v1/publishes", nil, &out)
}

// AddPublish opens a gateway port.
func (c *Client) AddPublish(ctx context.Context, req PublishRequest) (Publish, error) {
	var out Publish
	return out, c.do(ctx, http.MethodPost, "/admin/v1/publishes", req, &out)
}

// RemovePublish closes a gateway port, by id or listen address.
func (c *Client) RemovePublish(ctx context.Context, idOrListen string) error {
	return c.do(ctx, http.MethodDelete, "/admin/v1/publishes/"+url.PathEscape(idOrListen), nil, nil)
}

// SyncOpenFGA rebuilds OpenFGA's tuples from the database.
func (c *Client) SyncOpenFGA(ctx context.Context) (SyncResult, error) {
	var out SyncResult
	return out, c.do(ctx, http.MethodPost, "/admin/v1/openfga/sync", nil, &out)
}

// CreateUserToken mints an API token for a member of an organization.
func (c *Client) CreateUserToken(ctx context.Context, req UserTokenRequest) (UserTokenResponse, error) {
	var out UserTokenResponse
	return out, c.do(ctx, http.MethodPost, "/admin/v1/users/tokens", req, &out)
}

// ListUsers lists every user.
func (c *Client) ListUsers(ctx context.Context) ([]User, error) {
	var out []User
	return out, c.do(ctx, http.MethodGet, "/admin/v1/users", nil, &out)
}

// SetUserDisabled disables (signing them out everywhere) or enables a user,
// by email or id.
func (c *Client) SetUserDisabled(ctx context.Context, user string, disabled bool) (User, error) {
	verb := "enable"
	if disabled {
		verb = "disable"
	}
	var out User
	return out, c.do(ctx, http.MethodPost, "/admin/v1/users/"+url.PathEscape(user)+"/"+verb, nil, &out)
}

func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		data, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://warren"+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.hc.Do(req)
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			return uerr.Err
		}
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode >= 300 {
		var eb wire.ErrorBody
		if json.Unmarshal(data, &eb) != nil || eb.Error.Code == "" {
			return &Error{resp.StatusCode, "http_" + resp.Status, string(data)}
		}
		return &Error{resp.StatusCode, eb.Error.Code, eb.Error.Message}
	}
	if out == nil || resp.StatusCode == http.StatusNoContent {
		return nil
	}
	return json.Unmarshal(data, out)
}
