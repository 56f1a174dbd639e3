package api

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/warrenhq/warren/controlplane/enroll"
	"github.com/warrenhq/warren/controlplane/secrets"
	"github.com/warrenhq/warren/controlplane/store"
)

// IdP is an organization's OpenID Connect provider. The client secret is
// write-only: HasClientSecret says whether one is stored.
type IdP struct {
	ID              string    `json:"id"`
	Name            string    `json:"name"`
	Issuer          string    `json:"issuer"`
	ClientID        string    `json:"client_id"`
	HasClientSecret bool      `json:"has_client_secret"`
	Domains         []string  `json:"domains"`
	GroupClaim      string    `json:"group_claim,omitempty"`
	CreatedAt       time.Time `json:"created_at"`
	UpdatedAt       time.Time `json:"updated_at"`
}

// CreateIdPRequest adds an IdP. Users whose email is in Domains sign in
// through it.
type CreateIdPRequest struct {
	Name         string         `json:"name"`
	Issuer       string         `json:"issuer"`
	ClientID     string         `json:"client_id"`
	ClientSecret secrets.Secret `json:"client_secret,omitempty"`
	Domains      []string       `json:"domains"`
	GroupClaim   string         `json:"group_claim,omitempty"`
}

func idp(p store.IdP) IdP {
	return IdP{ID: p.ID, Name: p.Name, Issuer: p.Issuer, ClientID: p.ClientID, HasClientSecret: len(p.ClientSecretSealed) > 0,
		Domains: orEmpty(p.Domains), GroupClaim: p.GroupClaim, CreatedAt: p.CreatedAt, UpdatedAt: p.UpdatedAt}
}

func (v *V1) listIdPs(c *call) error {
	ps, err := v.Store.ListIdPs(c.r.Context(), c.org.ID)
	if err != nil {
		return err
	}
	out := make([]IdP, 0, len(ps))
	for _, p := range ps {
		out = append(out, idp(p))
	}
	return c.reply(out)
}

func (v *V1) createIdP(c *call) error {
	var req CreateIdPRequest
	if err := c.decode(&req); err != nil {
		return err
	}
	defer req.ClientSecret.Clear()
	if u, err := url.Parse(req.Issuer); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return badRequest("invalid_field", "issuer: must be an absolute http(s) URL")
	}
	p := store.IdP{ID: store.NewIdPID(), OrgID: c.org.ID, Name: req.Name, Issuer: req.Issuer, ClientID: req.ClientID,
		Version: 1, Domains: req.Domains, GroupClaim: req.GroupClaim}
	if len(req.ClientSecret) > 0 {
		var err error
		if p.ClientSecretSealed, p.KEKID, err = v.Vault.SealIdPSecret(p, req.ClientSecret); err != nil {
			return err
		}
	}
	p, err := v.Store.CreateIdP(c.r.Context(), p)
	if err != nil {
		return err
	}
	c.on("idp", p.ID)
	return c.reply(idp(p))
}

func (v *V1) pathIdP(c *call) (store.IdP, error) {
	id := c.r.PathValue("idp")
	c.on("idp", id)
	p, err := v.Store.GetIdP(c.r.Context(), c.org.ID, id)
	return p, notFoundAs(err, "idp")
}

func (v *V1) getIdP(c *call) error {
	p, err := v.pathIdP(c)
	if err != nil {
		return err
	}
	return c.reply(idp(p))
}

func (v *V1) deleteIdP(c *call) error {
	p, err := v.pathIdP(c)
	if err != nil {
		return err
	}
	if err := v.Store.DeleteIdP(c.r.Context(), c.org.ID, p.ID); err != nil {
		return notFoundAs(err, "idp")
	}
	return c.reply(nil)
}

// APIToken is an API token's record; its secret was shown once, at
// creation.
type APIToken struct {
	ID         string     `json:"id"`
	Name       string     `json:"name"`
	UserID     string     `json:"user_id"`
	CreatedAt  time.Time  `json:"created_at"`
	ExpiresAt  *time.Time `json:"expires_at,omitempty"`
	LastUsedAt *time.Time `json:"last_used_at,omitempty"`
	RevokedAt  *time.Time `json:"revoked_at,omitempty"`
}

// CreateTokenRequest mints an API token for the caller in the
// organization, valid for TTL (a Go duration; "" = until revoked).
type CreateTokenRequest struct {
	Name string `json:"name"`
	TTL  string `json:"ttl,omitempty"`
}

// CreatedToken is a new API token with its secret, shown this once.
type CreatedToken struct {
	ID        string     `json:"id"`
	Name      string     `json:"name"`
	Token     string     `json:"token"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func apiToken(t store.APIToken) APIToken {
	return APIToken{ID: t.ID, Name: t.Name, UserID: t.UserID, CreatedAt: t.CreatedAt,
		ExpiresAt: timePtr(t.ExpiresAt), LastUsedAt: timePtr(t.LastUsedAt), RevokedAt: timePtr(t.RevokedAt)}
}

func (v *V1) listTokens(c *call) error {
	admin, err := c.isAdmin()
	if err != nil {
		return err
	}
	owner := c.p.UserID
	if admin {
		owner = ""
	}
	ts, err := v.Authn.ListAPITokens(c.r.Context(), c.org.ID, owner)
	if err != nil {
		return err
	}
	out := make([]APIToken, 0, len(ts))
	for _, t := range ts {
		out = append(out, apiToken(t))
	}
	return c.reply(out)
}

func (v *V1) createToken(c *call) error {
	if c.role == "" {
		return c.deny("only members hold API tokens of the organization")
	}
	var req CreateTokenRequest
	if err := c.decode(&req); err != nil {
		return err
	}
	ttl, err := parseTTL(req.TTL)
	if err != nil {
		return err
	}
	secret, t, err := v.Authn.CreateAPIToken(c.r.Context(), c.org.ID, c.p.UserID, req.Name, ttl)
	if err != nil {
		return err
	}
	c.on("api_token", t.ID)
	return c.reply(CreatedToken{ID: t.ID, Name: t.Name, Token: secret, ExpiresAt: timePtr(t.ExpiresAt)})
}

func (v *V1) revokeToken(c *call) error {
	id := c.r.PathValue("token")
	c.on("api_token", id)
	ts, err := v.Authn.ListAPITokens(c.r.Context(), c.org.ID, "")
	if err != nil {
		return err
	}
	for _, t := range ts {
		if t.ID != id {
			continue
		}
		if t.UserID != c.p.UserID {
			admin, err := c.isAdmin()
			if err != nil {
				return err
			}
			if !admin {
				return c.hide("token", "revoking another member's API token requires the organization admin role")
			}
		}
		if err := v.Authn.RevokeAPIToken(c.r.Context(), c.org.ID, t.ID); err != nil {
			return notFoundAs(err, "token")
		}
		return c.reply(nil)
	}
	return notFound("token")
}

// EnrollmentToken is an enrollment token's record; its secret was shown
// once, at creation.
type EnrollmentToken struct {
	ID        string     `json:"id"`
	FolderID  string     `json:"folder_id,omitempty"`
	CreatedAt time.Time  `json:"created_at"`
	ExpiresAt time.Time  `json:"expires_at"`
	UsedAt    *time.Time `json:"used_at,omitempty"`
	DeviceID  string     `json:"device_id,omitempty"` // the device it enrolled
}

// CreateEnrollmentTokenRequest creates a single-use token that enrolls one
// device into the organization, in FolderID ("" = top level), within TTL
// (a Go duration; "" = 15m, at most 24h).
type CreateEnrollmentTokenRequest struct {
	FolderID string `json:"folder_id,omitempty"`
	TTL      string `json:"ttl,omitempty"`
}

// CreatedEnrollmentToken is a new enrollment token with its secret, shown
// this once, and the command that enrolls a device with it.
type CreatedEnrollmentToken struct {
	ID        string    `json:"id"`
	Token     string    `json:"token"`
	FolderID  string    `json:"folder_id,omitempty"`
	ExpiresAt time.Time `json:"expires_at"`
	Command   string    `json:"command"`
}

func (v *V1) listEnrollmentTokens(c *call) error {
	ts, err := v.Store.ListOrgEnrollTokens(c.r.Context(), c.org.ID)
	if err != nil {
		return err
	}
	out := make([]EnrollmentToken, 0, len(ts))
	for _, t := range ts {
		out = append(out, EnrollmentToken{ID: t.ID, FolderID: t.FolderID, CreatedAt: t.CreatedAt, ExpiresAt: t.ExpiresAt,
			UsedAt: timePtr(t.UsedAt), DeviceID: t.DeviceID})
	}
	return c.reply(out)
}

func (v *V1) createEnrollmentToken(c *call) error {
	var req CreateEnrollmentTokenRequest
	if err := c.decode(&req); err != nil {
		return err
	}
	ttl, err := parseTTL(req.TTL)
	if err != nil {
		return err
	}
	if ttl == 0 {
		ttl = enroll.DefaultTTL
	}
	if ttl < time.Second || ttl > enroll.MaxTTL {
		return badRequest("invalid_field", "ttl: must be between 1s and 24h")
	}
	if req.FolderID != "" {
		c.on("folder", req.FolderID)
		if _, err := v.Store.GetFolder(c.r.Context(), c.org.ID, req.FolderID); err != nil {
			return notFoundAs(err, "folder")
		}
	}
	var raw [32]byte
	rand.Read(raw[:]) // never fails (crypto/rand documents it)
	secret := enroll.TokenPrefix + base64.RawURLEncoding.EncodeToString(raw[:])
	t, err := v.Store.CreateEnrollToken(c.r.Context(), store.EnrollToken{Hash: enroll.HashToken(secret),
		ExpiresAt: v.now().Add(ttl), OrgID: c.org.ID, FolderID: req.FolderID})
	if err != nil {
		return notFoundAs(err, "folder")
	}
	c.on("enrollment_token", t.ID)
	return c.reply(CreatedEnrollmentToken{ID: t.ID, Token: secret, FolderID: t.FolderID, ExpiresAt: t.ExpiresAt,
		Command: EnrollCommand(v.PublicURL, secret)})
}

func (v *V1) deleteEnrollmentToken(c *call) error {
	id := c.r.PathValue("enrollment_token")
	c.on("enrollment_token", id)
	if err := v.Store.DeleteOrgEnrollToken(c.r.Context(), c.org.ID, id); err != nil {
		return notFoundAs(err, "enrollment_token")
	}
	return c.reply(nil)
}

// AuditEvent is an audit log entry.
type AuditEvent struct {
	ID         int64           `json:"id"`
	ActorID    string          `json:"actor_id"`
	ActorType  string          `json:"actor_type"`
	Action     string          `json:"action"`
	ObjectType string          `json:"object_type,omitempty"`
	ObjectID   string          `json:"object_id,omitempty"`
	Result     string          `json:"result"` // allowed, denied or error
	Reason     string          `json:"reason,omitempty"`
	SourceIP   string          `json:"source_ip,omitempty"`
	Details    json.RawMessage `json:"details,omitempty"`
	CreatedAt  time.Time       `json:"created_at"`
}

// AuditPage is one page of audit events, newest first. NextCursor, when
// set, continues the listing with the same filter.
type AuditPage struct {
	Events     []AuditEvent `json:"events"`
	NextCursor string       `json:"next_cursor,omitempty"`
}

func (c *call) timeQuery(name string) (time.Time, error) {
	s := c.query(name)
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, badRequest("invalid_field", name+": must be an RFC 3339 time")
	}
	return t, nil
}

func (v *V1) listAudit(c *call) error {
	f := store.AuditFilter{OrgID: c.org.ID, ActorID: c.query("actor"), Action: c.query("action"),
		ObjectID: c.query("object"), Result: c.query("result"), Cursor: c.query("cursor")}
	var err error
	if f.Since, err = c.timeQuery("since"); err != nil {
		return err
	}
	if f.Until, err = c.timeQuery("until"); err != nil {
		return err
	}
	if s := c.query("limit"); s != "" {
		if f.Limit, err = strconv.Atoi(s); err != nil || f.Limit < 1 || f.Limit > store.MaxAuditLimit {
			return badRequest("invalid_field", "limit: must be 1 to "+strconv.Itoa(store.MaxAuditLimit))
		}
	}
	es, next, err := v.Store.ListAudit(c.r.Context(), f)
	var inv *store.InvalidError
	if errors.As(err, &inv) {
		return &Error{http.StatusBadRequest, "invalid_field", inv.Field + ": " + inv.Reason}
	}
	if err != nil {
		return err
	}
	page := AuditPage{Events: make([]AuditEvent, 0, len(es)), NextCursor: next}
	for _, e := range es {
		ev := AuditEvent{ID: e.ID, ActorID: e.ActorID, ActorType: e.ActorType, Action: e.Action, ObjectType: e.ObjectType,
			ObjectID: e.ObjectID, Result: e.Result, Reason: e.Reason, SourceIP: e.SourceIP, CreatedAt: e.CreatedAt}
		if e.Details != "" {
			ev.Details = json.RawMessage(e.Details)
		}
		page.Events = append(page.Events, ev)
	}
	return c.reply(page)
}
