package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"reflect"
	"strings"
	"time"

	"github.com/warrenhq/warren/acl"
	"github.com/warrenhq/warren/controlplane/authz"
	"github.com/warrenhq/warren/controlplane/broker"
	"github.com/warrenhq/warren/controlplane/gateway"
	"github.com/warrenhq/warren/controlplane/overlay"
	"github.com/warrenhq/warren/controlplane/store"
	"github.com/warrenhq/warren/controlplane/vault"
	"github.com/warrenhq/warren/controlplane/web"
	"github.com/warrenhq/warren/controlplane/wire"
)

// V1Prefix is where the REST API lives; V1.Handler serves every path under it
// (other than those of package web, which the engine mounts beside it).
const V1Prefix = "/api/v1/"

// V1 serves the REST API of the browser console and of scripts: orgs,
// members, groups, folders, devices, services, credentials, grants, IdPs,
// API tokens, enrollment tokens, audit events and ACL explanations.
//
// Every request is authenticated by Authn (a session cookie with its CSRF
// token, or an API token) and every route decides on a relation: the
// caller's membership and admin role in the path's organization (asked of
// Authorizer as organization#admin), or an action on the folder or device
// concerned (Authorizer.Check). The organization comes from the path only;
// ids of another organization's rows read as missing (404), exactly like
// ids that exist nowhere. Denials and successful writes are audited.
//
// Platform admins administer every organization. An API token acts only in
// its own organization and never carries the platform admin role.
//
// Fields are set once before Handler; a V1 is then safe for concurrent use.
type V1 struct {
	Store *store.Store
	// Authz writes every row OpenFGA mirrors (members, group members,
	// folders, device placement, grants) with its tuples.
	Authz *authz.Service
	// Authorizer answers Check and ListObjects: the OpenFGA that Authz
	// writes to.
	Authorizer acl.Authorizer
	// Compiler explains access; it must be the one Authz recompiles.
	Compiler *acl.Compiler
	Vault    *vault.Vault
	Authn    *web.Authn
	// Overlay gives devices' online state and is synced after a change of
	// devices or services. nil: devices read offline, nothing is synced.
	Overlay *overlay.Overlay
	// Gateway is synced after services or devices go (their publishes go
	// with them). nil: not synced.
	Gateway *gateway.Gateway
	// Broker opens, lists and relays terminal sessions. nil: the session
	// routes answer 503 sessions_unavailable.
	Broker *broker.Broker
	// PublicURL is what agents enroll against, for the install command,
	// and the origin browsers' WebSockets must come from.
	PublicURL string
	Now       func() time.Time // nil = time.Now
	Logger    *slog.Logger     // nil = discard
}

func (v *V1) log() *slog.Logger {
	if v.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return v.Logger
}

func (v *V1) now() time.Time {
	if v.Now == nil {
		return time.Now()
	}
	return v.Now()
}

// Route is a registered method and path pattern, as the OpenAPI document
// lists it.
type Route struct {
	Method string
	Path   string // a net/http pattern path: /api/v1/orgs/{org}/groups
	Action string // the audit action and OpenAPI operationId, e.g. "group.create"
	// Body is the request body's Go type; nil for none.
	Body reflect.Type
	// Status is the status of a success.
	Status int
	// List marks a route that answers a list of rows.
	List bool
}

// Routes lists every route Handler registers, in registration order.
func (v *V1) Routes() []Route {
	var out []Route
	for _, rt := range v.routes() {
		r := Route{Method: rt.method, Path: rt.path, Action: rt.action, Status: rt.status, List: rt.list}
		if rt.req != nil {
			r.Body = reflect.TypeOf(rt.req)
		}
		out = append(out, r)
	}
	return out
}

// Handler returns the API's routes behind Authn.Authenticate. Paths under
// V1Prefix that no route serves get route_not_found (or
// method_not_allowed) envelopes.
func (v *V1) Handler() http.Handler {
	log := v.log()
	routes := v.routes()
	mux := http.NewServeMux()
	outer := http.NewServeMux() // routes outside Authn (ticket auth), then everything else
	paths := http.NewServeMux() // every path pattern, any method: tells 405 from 404
	seen := map[string]bool{}
	for _, rt := range routes {
		if rt.access == accessTicket {
			outer.Handle(rt.method+" "+rt.path, v.serveAttach(rt))
		} else {
			mux.Handle(rt.method+" "+rt.path, v.serve(rt))
		}
		if !seen[rt.path] {
			seen[rt.path] = true
			paths.Handle(rt.path, http.NotFoundHandler())
		}
	}
	mux.Handle(V1Prefix, handle(log, func(w http.ResponseWriter, r *http.Request) error {
		if _, pattern := paths.Handler(r); pattern != "" {
			return &Error{http.StatusMethodNotAllowed, "method_not_allowed", r.Method + " is not allowed here"}
		}
		return &Error{http.StatusNotFound, "route_not_found", "no such route"}
	}))
	outer.Handle("/", v.Authn.Authenticate(mux))
	return outer
}

// access is what a route asks of the caller before its handler runs.
type access int

const (
	// anyone authenticated; the handler decides (no {org} in the path).
	accessAuthenticated access = iota
	// a member of the path's organization (or a platform admin).
	accessMember
	// an admin of the path's organization (or a platform admin).
	accessAdmin
	// a single-use ticket in the query (WebSocket attach): served outside
	// Authn by its own handler.
	accessTicket
)

// route is one entry of the route table: what Handler registers and what
// the OpenAPI document describes.
type route struct {
	method, path string
	action       string // audit action, operationId
	summary      string
	access       access
	query        []string // documented query parameters
	req          any      // request body (a zero value of its type); nil = none
	resp         any      // success body (a zero value of its type); nil = none (204)
	status       int      // success status
	list         bool     // answers rows of one organization
	// contentType, when set, is the media type of a success body that is
	// not JSON (a file); the handler writes it itself.
	contentType string
	h           func(c *call) error
}

// call is one request being served.
type call struct {
	v  *V1
	rt *route
	w  http.ResponseWriter
	r  *http.Request
	p  web.Principal

	org  store.Org // the path's organization; zero on routes without one
	role string    // the caller's membership role in org; "" if none

	adminKnown, adminVal bool // cached isAdmin

	// The object the request acts on, for the audit log.
	objType, objID string
}

func (v *V1) serve(rt *route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		p, ok := web.PrincipalFrom(r.Context())
		c := &call{v: v, rt: rt, w: w, r: r, p: p}
		var err error
		if !ok { // Handler always wraps the mux in Authenticate
			err = errors.New("no principal in the request context")
		}
		if err == nil {
			err = c.enter()
		}
		if err == nil {
			err = rt.h(c)
		}
		v.finish(c, err)
	})
}

// finish audits the outcome that needs it and answers errors.
func (v *V1) finish(c *call, err error) {
	var d *denial
	switch {
	case err == nil:
		if c.rt.method != http.MethodGet {
			c.audit(store.AuditAllowed, "")
		}
		return
	case errors.As(err, &d):
		c.audit(store.AuditDenied, d.reason)
	}
	writeError(v.log(), c.w, c.r, err)
}

// denial is a refusal the audit log records; the client sees resp.
type denial struct {
	resp   *Error
	reason string
}

func (d *denial) Error() string { return d.resp.Error() + " (" + d.reason + ")" }

// Unwrap lets classify find the envelope.
func (d *denial) Unwrap() error { return d.resp }

// deny refuses with 403: the caller may see the object but not do this.
func (c *call) deny(reason string) error {
	return &denial{resp: &Error{http.StatusForbidden, "forbidden", "you may not do this: " + reason}, reason: reason}
}

// hide refuses with the same 404 a missing object of kind what gets, so
// the caller learns nothing about it.
func (c *call) hide(what, reason string) error {
	return &denial{resp: notFound(what), reason: reason}
}

// enter resolves the path's organization and checks the route's access.
func (c *call) enter() error {
	if c.rt.access == accessAuthenticated {
		return nil
	}
	o, err := c.v.Store.GetOrg(c.r.Context(), c.r.PathValue("org"))
	if errors.Is(err, store.ErrNotFound) {
		return notFound("org")
	}
	if err != nil {
		return err
	}
	c.org = o
	c.on("organization", o.ID)
	if c.p.Via == web.ViaToken && c.p.OrgID != o.ID {
		return c.hide("org", "the API token belongs to another organization")
	}
	m, err := c.v.Store.GetMembership(c.r.Context(), o.ID, c.p.UserID)
	switch {
	case err == nil:
		c.role = m.Role
	case !errors.Is(err, store.ErrNotFound):
		return err
	case !c.p.PlatformAdmin:
		return c.hide("org", "not a member of the organization")
	}
	if c.rt.access == accessAdmin {
		return c.requireAdmin()
	}
	return nil
}

// isAdmin reports whether the caller administers the path's organization:
// a platform admin, or a holder of organization#admin (by role or grant).
func (c *call) isAdmin() (bool, error) {
	if c.adminKnown {
		return c.adminVal, nil
	}
	ok := c.p.PlatformAdmin
	if !ok {
		var err error
		ok, err = c.v.Authorizer.Check(c.r.Context(), acl.Tuple{User: acl.User(c.p.UserID), Relation: acl.RelationAdmin,
			Object: acl.Organization(c.org.ID)})
		if err != nil {
			return false, fmt.Errorf("checking organization admin: %w", err)
		}
	}
	c.adminKnown, c.adminVal = true, ok
	return ok, nil
}

func (c *call) requireAdmin() error {
	ok, err := c.isAdmin()
	if err != nil || ok {
		return err
	}
	return c.deny("organization admin role required")
}

// on names the object the request acts on, for the audit log.
func (c *call) on(typ, id string) { c.objType, c.objID = typ, id }

// can reports whether the caller holds action (acl.RelationView, ...) on
// the folder or device typ:id. Organization admins hold every action.
func (c *call) can(action, typ, id string) (bool, error) {
	if ok, err := c.isAdmin(); err != nil || ok {
		return ok, err
	}
	ok, err := c.v.Authorizer.Check(c.r.Context(), acl.Tuple{User: acl.User(c.p.UserID), Relation: action, Object: acl.Object(typ, id)})
	if err != nil {
		return false, fmt.Errorf("checking %s on %s:%s: %w", action, typ, id, err)
	}
	return ok, nil
}

// require fails unless the caller holds action on typ:id. A caller who
// cannot even view the object gets the object's 404.
func (c *call) require(action, typ, id string) error {
	c.on(typ, id)
	ok, err := c.can(action, typ, id)
	if err != nil || ok {
		return err
	}
	reason := action + " on " + acl.Object(typ, id) + " required"
	if action != acl.RelationView {
		visible, err := c.can(acl.RelationView, typ, id)
		if err != nil {
			return err
		}
		if visible {
			return c.deny(reason)
		}
	}
	return c.hide(typ, reason)
}

// visible returns a filter of the objects of typ the caller may view.
func (c *call) visible(typ string) (func(id string) bool, error) {
	if ok, err := c.isAdmin(); err != nil || ok {
		return func(string) bool { return ok }, err
	}
	objs, err := c.v.Authorizer.ListObjects(c.r.Context(), acl.User(c.p.UserID), acl.RelationView, typ)
	if err != nil {
		return nil, fmt.Errorf("listing the %ss the caller may view: %w", typ, err)
	}
	set := make(map[string]bool, len(objs))
	for _, o := range objs {
		set[strings.TrimPrefix(o, typ+":")] = true
	}
	return func(id string) bool { return set[id] }, nil
}

// audit appends an event about the call. The request has been served
// either way: a failure to audit is logged for the operator.
func (c *call) audit(result, reason string) {
	details, _ := json.Marshal(map[string]string{"via": c.p.Via, "token_id": c.p.TokenID, "method": c.r.Method, "path": c.r.URL.Path})
	e := store.AuditEvent{
		OrgID: c.org.ID, ActorID: c.p.UserID, ActorType: "user", Action: c.rt.action,
		ObjectType: c.objType, ObjectID: c.objID, Result: result, Reason: reason,
		SourceIP: remoteIP(c.r), Details: string(details),
	}
	if _, err := c.v.Store.AppendAudit(context.WithoutCancel(c.r.Context()), e); err != nil {
		c.v.log().Error("appending audit event", "action", e.Action, "result", result, "org_id", e.OrgID, "err", err)
	}
}

// remoteIP is the peer's address; forwarding headers are not trusted.
func remoteIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// errOrgIDInBody refuses a body that names an organization: the path
// decides which one a request acts in.
func (c *call) errOrgIDInBody() error {
	return &denial{
		resp:   badRequest("unknown_field", `unknown field "org_id": the organization is the one in the path`),
		reason: "org_id in the request body",
	}
}

// decode reads the route's JSON body into v, a pointer to the route's
// documented request type: at most MaxBody bytes (413 beyond), one value,
// no unknown fields (400), and never an org_id (400, audited).
func (c *call) decode(v any) error {
	if reflect.TypeOf(v) != reflect.PointerTo(reflect.TypeOf(c.rt.req)) {
		return fmt.Errorf("route %s decodes %T but documents %T", c.rt.action, v, c.rt.req)
	}
	data, err := io.ReadAll(http.MaxBytesReader(c.w, c.r.Body, MaxBody))
	if err != nil {
		return fmt.Errorf("reading body: %w", err)
	}
	var fields map[string]json.RawMessage
	if json.Unmarshal(data, &fields) == nil {
		for k := range fields {
			if strings.EqualFold(k, "org_id") {
				return c.errOrgIDInBody()
			}
		}
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if field, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
			return badRequest("unknown_field", "unknown field "+field)
		}
		return fmt.Errorf("%w: %v", wire.ErrMalformed, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("%w: trailing data", wire.ErrMalformed)
	}
	return nil
}

// reply answers with the route's success status and body v, which must
// be of the route's documented response type.
func (c *call) reply(v any) error {
	if c.rt.resp == nil {
		if v != nil {
			return fmt.Errorf("route %s answers %T but documents no body", c.rt.action, v)
		}
		c.w.WriteHeader(c.rt.status)
		return nil
	}
	if reflect.TypeOf(v) != reflect.TypeOf(c.rt.resp) {
		return fmt.Errorf("route %s answers %T but documents %T", c.rt.action, v, c.rt.resp)
	}
	writeJSON(c.w, c.rt.status, v)
	return nil
}

// query returns the query parameter name, which must be documented.
func (c *call) query(name string) string {
	for _, q := range c.rt.query {
		if q == name {
			return c.r.URL.Query().Get(name)
		}
	}
	panic("api: route " + c.rt.action + " reads undocumented query parameter " + name)
}

// syncOverlay pushes device and service changes to the overlay and the
// gateway, where the engine has them.
func (c *call) syncOverlay() error {
	ctx := context.WithoutCancel(c.r.Context())
	if c.v.Overlay != nil {
		if err := c.v.Overlay.Sync(ctx); err != nil {
			return fmt.Errorf("syncing the overlay: %w", err)
		}
	}
	if c.v.Gateway != nil {
		if err := SyncGateway(ctx, c.v.Store, c.v.Gateway); err != nil {
			return fmt.Errorf("syncing gateway ports: %w", err)
		}
	}
	return nil
}

// notFoundAs turns the store's ErrNotFound into the 404 of kind what.
func notFoundAs(err error, what string) error {
	if errors.Is(err, store.ErrNotFound) {
		return notFound(what)
	}
	return err
}

// parseTTL parses an optional Go duration.
func parseTTL(s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, badRequest("invalid_field", "ttl: must be a non-negative duration such as 15m or 720h")
	}
	return d, nil
}

// Register mounts the REST API on mux under V1Prefix. More specific patterns
// registered by others (/api/v1/auth/, POST /api/v1/enroll) keep precedence.
func (v *V1) Register(mux *http.ServeMux) {
	mux.Handle(V1Prefix, v.Handler())
}
