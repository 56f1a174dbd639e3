package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/warrenhq/warren/controlplane/wire"
)

// V1ClientTimeout bounds every request of a V1Client.
const V1ClientTimeout = 30 * time.Second

// V1Client is a typed client of the REST API under /api/v1, authenticated
// with an API token. Errors the API answers come back as *Error with the
// envelope's code and message. Set the fields before the first call; a
// V1Client is then safe for concurrent use.
type V1Client struct {
	Server string // base URL, e.g. https://warren.example.com
	Token  string // API token, wrn_pat_...
	// Insecure allows http:// to a host that is not loopback, which sends
	// the token in clear text.
	Insecure bool
	// HTTPClient is used for requests; nil = a client with V1ClientTimeout.
	HTTPClient *http.Client
}

// NewV1Client returns a client of the engine at server using token.
func NewV1Client(server, token string) *V1Client {
	return &V1Client{Server: strings.TrimRight(server, "/"), Token: token}
}

// secretString is a secret the client sends: unlike secrets.Secret it
// marshals to its value, and it never prints.
type secretString string

func (s secretString) MarshalJSON() ([]byte, error) { return json.Marshal(string(s)) }
func (secretString) String() string                 { return redacted }
func (secretString) GoString() string               { return redacted }
func (secretString) Format(f fmt.State, _ rune)     { io.WriteString(f, redacted) }

const redacted = "REDACTED"

// ListOrgs lists the caller's organizations (for a token: its own).
func (c *V1Client) ListOrgs(ctx context.Context) ([]Organization, error) {
	var out []Organization
	return out, c.do(ctx, http.MethodGet, "/api/v1/orgs", nil, &out)
}

// CreateOrg creates an organization (platform admins only).
func (c *V1Client) CreateOrg(ctx context.Context, req CreateOrgRequest) (Organization, error) {
	var out Organization
	return out, c.do(ctx, http.MethodPost, "/api/v1/orgs", req, &out)
}

// ListMembers lists the organization's members.
func (c *V1Client) ListMembers(ctx context.Context, org string) ([]Member, error) {
	var out []Member
	return out, c.do(ctx, http.MethodGet, orgPath(org, "members"), nil, &out)
}

// AddMember adds a user to the organization.
func (c *V1Client) AddMember(ctx context.Context, org string, req AddMemberRequest) (Member, error) {
	var out Member
	return out, c.do(ctx, http.MethodPost, orgPath(org, "members"), req, &out)
}

// ListGroups lists the organization's groups.
func (c *V1Client) ListGroups(ctx context.Context, org string) ([]Group, error) {
	var out []Group
	return out, c.do(ctx, http.MethodGet, orgPath(org, "groups"), nil, &out)
}

// CreateGroup creates a group.
func (c *V1Client) CreateGroup(ctx context.Context, org string, req CreateGroupRequest) (Group, error) {
	var out Group
	return out, c.do(ctx, http.MethodPost, orgPath(org, "groups"), req, &out)
}

// AddGroupMember adds a user or a group to the group.
func (c *V1Client) AddGroupMember(ctx context.Context, org, group string, req AddGroupMemberRequest) (GroupMember, error) {
	var out GroupMember
	return out, c.do(ctx, http.MethodPost, orgPath(org, "groups", group, "members"), req, &out)
}

// ListFolders lists the folders the caller may view.
func (c *V1Client) ListFolders(ctx context.Context, org string) ([]Folder, error) {
	var out []Folder
	return out, c.do(ctx, http.MethodGet, orgPath(org, "folders"), nil, &out)
}

// UpdateDevice moves a device to a folder or disables it.
func (c *V1Client) UpdateDevice(ctx context.Context, org, device string, req UpdateDeviceRequest) (OrgDevice, error) {
	var out OrgDevice
	return out, c.do(ctx, http.MethodPatch, orgPath(org, "devices", device), req, &out)
}

// UpdateService changes a device's service (by ID) in place: every field of
// req replaces the old one, an empty Target meaning 127.0.0.1:<port>. The
// service keeps its ID, credentials, gateway ports and host key.
func (c *V1Client) UpdateService(ctx context.Context, org, device, service string, req UpdateServiceRequest) (DeviceService, error) {
	var out DeviceService
	return out, c.do(ctx, http.MethodPatch, orgPath(org, "devices", device, "services", service), req, &out)
}

// CreateFolder creates a folder.
func (c *V1Client) CreateFolder(ctx context.Context, org string, req CreateFolderRequest) (Folder, error) {
	var out Folder
	return out, c.do(ctx, http.MethodPost, orgPath(org, "folders"), req, &out)
}

// ListGrants lists grants.
func (c *V1Client) ListGrants(ctx context.Context, org string) ([]Grant, error) {
	var out []Grant
	return out, c.do(ctx, http.MethodGet, orgPath(org, "grants"), nil, &out)
}

// CreateGrant creates a grant.
func (c *V1Client) CreateGrant(ctx context.Context, org string, req CreateGrantRequest) (Grant, error) {
	var out Grant
	return out, c.do(ctx, http.MethodPost, orgPath(org, "grants"), req, &out)
}

// DeleteGrant revokes a grant.
func (c *V1Client) DeleteGrant(ctx context.Context, org, id string) error {
	return c.do(ctx, http.MethodDelete, orgPath(org, "grants", id), nil, nil)
}

// Explain says why user may or may not reach port of device.
func (c *V1Client) Explain(ctx context.Context, org, user, device string, port int) (Explanation, error) {
	q := url.Values{"user": {user}, "device": {device}, "port": {strconv.Itoa(port)}}
	var out Explanation
	return out, c.do(ctx, http.MethodGet, orgPath(org, "acl", "explain")+"?"+q.Encode(), nil, &out)
}

// ListCredentials lists credentials' metadata.
func (c *V1Client) ListCredentials(ctx context.Context, org string) ([]Credential, error) {
	var out []Credential
	return out, c.do(ctx, http.MethodGet, orgPath(org, "credentials"), nil, &out)
}

// NewCredential is a credential to store; Secret is sent once and never
// comes back.
type NewCredential struct {
	ScopeType string // service or folder
	ScopeID   string
	Name      string
	Username  string
	Kind      string // password or private_key
	Secret    string
}

// CreateCredential stores a credential.
func (c *V1Client) CreateCredential(ctx context.Context, org string, cr NewCredential) (Credential, error) {
	req := struct {
		ScopeType string       `json:"scope_type"`
		ScopeID   string       `json:"scope_id"`
		Name      string       `json:"name"`
		Username  string       `json:"username,omitempty"`
		Kind      string       `json:"kind"`
		Secret    secretString `json:"secret"`
	}{cr.ScopeType, cr.ScopeID, cr.Name, cr.Username, cr.Kind, secretString(cr.Secret)}
	var out Credential
	return out, c.do(ctx, http.MethodPost, orgPath(org, "credentials"), req, &out)
}

// ListIdPs lists the organization's identity providers.
func (c *V1Client) ListIdPs(ctx context.Context, org string) ([]IdP, error) {
	var out []IdP
	return out, c.do(ctx, http.MethodGet, orgPath(org, "idps"), nil, &out)
}

// NewIdP is an identity provider to add; ClientSecret is write-only.
type NewIdP struct {
	Name         string
	Issuer       string
	ClientID     string
	ClientSecret string
	Domains      []string
	GroupClaim   string
}

// CreateIdP adds an identity provider.
func (c *V1Client) CreateIdP(ctx context.Context, org string, p NewIdP) (IdP, error) {
	req := struct {
		Name         string       `json:"name"`
		Issuer       string       `json:"issuer"`
		ClientID     string       `json:"client_id"`
		ClientSecret secretString `json:"client_secret,omitempty"`
		Domains      []string     `json:"domains"`
		GroupClaim   string       `json:"group_claim,omitempty"`
	}{p.Name, p.Issuer, p.ClientID, secretString(p.ClientSecret), p.Domains, p.GroupClaim}
	var out IdP
	return out, c.do(ctx, http.MethodPost, orgPath(org, "idps"), req, &out)
}

// CreateEnrollmentToken creates a single-use enrollment token.
func (c *V1Client) CreateEnrollmentToken(ctx context.Context, org string, req CreateEnrollmentTokenRequest) (CreatedEnrollmentToken, error) {
	var out CreatedEnrollmentToken
	return out, c.do(ctx, http.MethodPost, orgPath(org, "enrollment-tokens"), req, &out)
}

// orgPath is /api/v1/orgs/{org}/elem..., each element escaped.
func orgPath(org string, elem ...string) string {
	p := "/api/v1/orgs/" + url.PathEscape(org)
	for _, e := range elem {
		p += "/" + url.PathEscape(e)
	}
	return p
}

// checkServer refuses URLs that would send the token in clear text to
// another machine.
func (c *V1Client) checkServer() (*url.URL, error) {
	u, err := url.Parse(c.Server)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("server %q is not a URL such as https://warren.example.com", c.Server)
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !c.Insecure && !isLoopbackURL(c.Server) {
			return nil, fmt.Errorf("refusing to send the API token over plain http to %s (use https, or --insecure)", u.Host)
		}
	default:
		return nil, fmt.Errorf("server %q: the scheme must be https or http", c.Server)
	}
	return u, nil
}

func (c *V1Client) do(ctx context.Context, method, path string, in, out any) error {
	if _, err := c.checkServer(); err != nil {
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
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(c.Server, "/")+path, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Authorization", "Bearer "+c.Token)
	hc := c.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: V1ClientTimeout}
	}
	resp, err := hc.Do(req)
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			return fmt.Errorf("%s %s: %w", method, c.Server, uerr.Err)
		}
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return fmt.Errorf("reading the response: %w", err)
	}
	if resp.StatusCode >= 300 {
		return responseError(resp, data)
	}
	if out == nil || resp.StatusCode == http.StatusNoContent {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("decoding the response to %s %s: %w", method, path, err)
	}
	return nil
}

// responseError decodes the error envelope; anything else (a proxy's page)
// becomes an Error with the status and a bounded excerpt.
func responseError(resp *http.Response, data []byte) error {
	var eb wire.ErrorBody
	if json.Unmarshal(data, &eb) == nil && eb.Error.Code != "" {
		return &Error{resp.StatusCode, eb.Error.Code, eb.Error.Message}
	}
	excerpt := strings.TrimSpace(string(data))
	if len(excerpt) > 200 {
		excerpt = excerpt[:200] + "..."
	}
	return &Error{resp.StatusCode, "http_" + strconv.Itoa(resp.StatusCode), resp.Status + ": " + excerpt}
}
