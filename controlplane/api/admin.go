package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/warrenhq/warren/controlplane/authz"
	"github.com/warrenhq/warren/controlplane/enroll"
	"github.com/warrenhq/warren/controlplane/gateway"
	"github.com/warrenhq/warren/controlplane/overlay"
	"github.com/warrenhq/warren/controlplane/store"
	"github.com/warrenhq/warren/controlplane/web"
	"github.com/warrenhq/warren/controlplane/wire"
)

// MaxBody caps every admin request body.
const MaxBody = 1 << 20

// AdminStore is what the admin API needs from persistence.
type AdminStore interface {
	ListDevices(ctx context.Context) ([]store.Device, error)
	GetDevice(ctx context.Context, idOrName string) (store.Device, error)
	CreateService(ctx context.Context, s store.Service) (store.Service, error)
	ListServices(ctx context.Context, deviceID string) ([]store.Service, error)
	GetService(ctx context.Context, deviceID, name string) (store.Service, error)
	DeleteService(ctx context.Context, deviceID, name string) error
	CreatePublish(ctx context.Context, p store.Publish) (store.Publish, error)
	ListPublishes(ctx context.Context) ([]store.Publish, error)
	DeletePublish(ctx context.Context, idOrListen string) error
}

// Admin serves the admin API. Whoever can open the unix socket is an
// administrator: the socket is created 0600 in the data dir.
type Admin struct {
	Store   AdminStore
	Enroll  *enroll.Service
	Overlay *overlay.Overlay
	Gateway *gateway.Gateway
	Authz   *authz.Service
	// Authn mints API tokens (POST /admin/v1/users/tokens); nil = that
	// route answers 503.
	Authn     *web.Authn
	PublicURL string       // what agents use to enroll
	Logger    *slog.Logger // nil = discard
}

// Handler returns the admin API's routes.
func (a *Admin) Handler() http.Handler {
	log := a.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	mux := http.NewServeMux()
	route := func(pattern string, h handlerFunc) { mux.Handle(pattern, handle(log, h)) }
	route("POST /admin/v1/tokens", a.createToken)
	route("GET /admin/v1/devices", a.listDevices)
	route("GET /admin/v1/devices/{device}/services", a.listServices)
	route("POST /admin/v1/devices/{device}/services", a.addService)
	route("DELETE /admin/v1/devices/{device}/services/{name}", a.removeService)
	route("GET /admin/v1/publishes", a.listPublishes)
	route("POST /admin/v1/publishes", a.addPublish)
	route("DELETE /admin/v1/publishes/{id}", a.removePublish)
	route("POST /admin/v1/openfga/sync", a.syncOpenFGA)
	route("GET /admin/v1/users", a.listUsers)
	route("POST /admin/v1/users/{user}/disable", a.setUserDisabled(true))
	route("POST /admin/v1/users/{user}/enable", a.setUserDisabled(false))
	route("POST /admin/v1/users/tokens", a.createUserToken)
	route("/", func(w http.ResponseWriter, r *http.Request) error {
		return &Error{http.StatusNotFound, "route_not_found", "no such route"}
	})
	return mux
}

// TokenRequest asks for an enrollment token.
type TokenRequest struct {
	TTL string `json:"ttl,omitempty"` // Go duration; empty = 15m
}

// TokenResponse carries a new enrollment token and the command that uses it.
type TokenResponse struct {
	ID        string    `json:"id"`
	Token     string    `json:"token"`
	ExpiresAt time.Time `json:"expires_at"`
	Command   string    `json:"command"`
}

func (a *Admin) createToken(w http.ResponseWriter, r *http.Request) error {
	var req TokenRequest
	if err := decodeBody(w, r, &req); err != nil {
		return err
	}
	var ttl time.Duration
	if req.TTL != "" {
		d, err := time.ParseDuration(req.TTL)
		if err != nil {
			return badRequest("invalid_ttl", "ttl must be a duration such as 15m or 2h")
		}
		ttl = d
	}
	tok, err := a.Enroll.CreateToken(r.Context(), ttl)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, TokenResponse{
		ID: tok.ID, Token: tok.Secret, ExpiresAt: tok.ExpiresAt,
		Command: EnrollCommand(a.PublicURL, tok.Secret),
	})
	return nil
}

// EnrollCommand is the exact command an operator runs on the new device.
func EnrollCommand(publicURL, token string) string {
	cmd := fmt.Sprintf("warren-agent enroll --server %s --token %s", publicURL, token)
	if strings.HasPrefix(publicURL, "http://") && !isLoopbackURL(publicURL) {
		cmd += " --insecure"
	}
	return cmd
}

func isLoopbackURL(u string) bool {
	host := strings.TrimPrefix(u, "http://")
	host, _, _ = strings.Cut(host, "/")
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return host == "localhost" || (ip != nil && ip.IsLoopback())
}

// Device is a device as the admin API shows it.
type Device struct {
	ID            string     `json:"id"`
	Name          string     `json:"name"`
	OverlayIP     string     `json:"overlay_ip"`
	Online        bool       `json:"online"`
	LastHandshake *time.Time `json:"last_handshake,omitempty"`
	Endpoint      string     `json:"endpoint,omitempty"`
	AgentVersion  string     `json:"agent_version"`
	Hostname      string     `json:"hostname"`
	OS            string     `json:"os"`
	CreatedAt     time.Time  `json:"created_at"`
}

func (a *Admin) listDevices(w http.ResponseWriter, r *http.Request) error {
	devices, err := a.Store.ListDevices(r.Context())
	if err != nil {
		return err
	}
	out := make([]Device, 0, len(devices))
	for _, d := range devices {
		out = append(out, a.device(d))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// device merges the stored record with the live tunnel state.
func (a *Admin) device(d store.Device) Device {
	st := a.Overlay.State(d.ID)
	out := Device{
		ID: d.ID, Name: d.Name, OverlayIP: d.OverlayIP.String(), Online: st.Online,
		Endpoint: d.LastEndpoint, AgentVersion: d.AgentVersion,
		Hostname: d.Hostname, OS: d.OS, CreatedAt: d.CreatedAt,
	}
	hs := d.LastHandshake
	if st.LastHandshake.After(hs) {
		hs = st.LastHandshake
	}
	if !hs.IsZero() {
		out.LastHandshake = &hs
	}
	if st.Endpoint.IsValid() {
		out.Endpoint = st.Endpoint.String()
	}
	if st.AgentVersion != "" {
		out.AgentVersion = st.AgentVersion
	}
	return out
}

// Service is a device service as the admin API shows and accepts it.
type Service struct {
	Name     string `json:"name"`
	Protocol string `json:"protocol"`
	Port     int    `json:"port"`
	Target   string `json:"target,omitempty"` // default 127.0.0.1:<port>
	DeviceID string `json:"device_id,omitempty"`
	// Record makes the engine record every terminal session to the service.
	Record bool `json:"record,omitempty"`
}

func (a *Admin) lookupDevice(ctx context.Context, ref string) (store.Device, error) {
	d, err := a.Store.GetDevice(ctx, ref)
	if errors.Is(err, store.ErrNotFound) {
		return d, notFound("device")
	}
	return d, err
}

func (a *Admin) listServices(w http.ResponseWriter, r *http.Request) error {
	d, err := a.lookupDevice(r.Context(), r.PathValue("device"))
	if err != nil {
		return err
	}
	svcs, err := a.Store.ListServices(r.Context(), d.ID)
	if err != nil {
		return err
	}
	out := make([]Service, 0, len(svcs))
	for _, s := range svcs {
		out = append(out, Service{Name: s.Name, Protocol: string(s.Protocol), Port: s.Port, Target: s.Target, DeviceID: d.ID, Record: s.Record})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (a *Admin) addService(w http.ResponseWriter, r *http.Request) error {
	d, err := a.lookupDevice(r.Context(), r.PathValue("device"))
	if err != nil {
		return err
	}
	var req Service
	if err := decodeBody(w, r, &req); err != nil {
		return err
	}
	if req.Target == "" {
		req.Target = fmt.Sprintf("127.0.0.1:%d", req.Port)
	}
	if req.Port < 1 || req.Port > 65535 {
		return &wire.FieldError{Field: "port", Reason: "must be 1-65535"}
	}
	ws := wire.Service{Name: req.Name, Protocol: req.Protocol, Port: uint16(req.Port), Target: req.Target}
	if err := ws.Validate(); err != nil {
		return err
	}
	s, err := a.Store.CreateService(r.Context(), store.Service{
		DeviceID: d.ID, Name: req.Name, Protocol: store.Protocol(req.Protocol), Port: req.Port, Target: req.Target,
		Record: req.Record,
	})
	if err != nil {
		return err
	}
	if err := a.servicesChanged(r.Context()); err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, Service{Name: s.Name, Protocol: string(s.Protocol), Port: s.Port, Target: s.Target,
		DeviceID: d.ID, Record: s.Record})
	return nil
}

func (a *Admin) removeService(w http.ResponseWriter, r *http.Request) error {
	d, err := a.lookupDevice(r.Context(), r.PathValue("device"))
	if err != nil {
		return err
	}
	if err := a.Store.DeleteService(r.Context(), d.ID, r.PathValue("name")); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return notFound("service")
		}
		return err
	}
	if err := a.syncPublishes(r.Context()); err != nil {
		return err
	}
	if err := a.servicesChanged(r.Context()); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// Publish is a gateway port as the admin API shows it.
type Publish struct {
	ID         string `json:"id"`
	Listen     string `json:"listen"`
	Device     string `json:"device"`
	DeviceID   string `json:"device_id"`
	Service    string `json:"service"`
	Port       int    `json:"port"`
	ListenAddr string `json:"listen_addr,omitempty"` // bound address when open
}

// PublishRequest asks for a gateway port.
type PublishRequest struct {
	Device  string `json:"device"`
	Service string `json:"service"`
	Listen  string `json:"listen"`
}

func (a *Admin) addPublish(w http.ResponseWriter, r *http.Request) error {
	var req PublishRequest
	if err := decodeBody(w, r, &req); err != nil {
		return err
	}
	if _, _, err := net.SplitHostPort(req.Listen); err != nil {
		return &wire.FieldError{Field: "listen", Reason: "must be host:port, e.g. 127.0.0.1:2222 or :2222"}
	}
	d, err := a.lookupDevice(r.Context(), req.Device)
	if err != nil {
		return err
	}
	svc, err := a.Store.GetService(r.Context(), d.ID, req.Service)
	if errors.Is(err, store.ErrNotFound) {
		return notFound("service")
	}
	if err != nil {
		return err
	}
	p, err := a.Store.CreatePublish(r.Context(), store.Publish{ServiceID: svc.ID, Listen: req.Listen})
	if err != nil {
		return err
	}
	port := gateway.Port{ID: p.ID, Listen: p.Listen, DeviceID: d.ID, Port: uint16(svc.Port)}
	if err := a.Gateway.Open(port); err != nil {
		// Nothing half-done: the row goes with the failed listener.
		if derr := a.Store.DeletePublish(context.WithoutCancel(r.Context()), p.ID); derr != nil {
			a.Logger.Error("removing publish after listen failure", "publish_id", p.ID, "err", derr)
		}
		return &Error{http.StatusConflict, "listen_failed", fmt.Sprintf("cannot listen on %s: %v", req.Listen, unwrapAll(err))}
	}
	if err := a.Overlay.Sync(r.Context()); err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, a.publish(p, d, svc))
	return nil
}

func unwrapAll(err error) error {
	for {
		next := errors.Unwrap(err)
		if next == nil {
			return err
		}
		err = next
	}
}

func (a *Admin) publish(p store.Publish, d store.Device, s store.Service) Publish {
	out := Publish{ID: p.ID, Listen: p.Listen, Device: d.Name, DeviceID: d.ID, Service: s.Name, Port: s.Port}
	if addr, ok := a.Gateway.Addr(p.ID); ok {
		out.ListenAddr = addr.String()
	}
	return out
}

func (a *Admin) listPublishes(w http.ResponseWriter, r *http.Request) error {
	pubs, err := a.Store.ListPublishes(r.Context())
	if err != nil {
		return err
	}
	out := make([]Publish, 0, len(pubs))
	for _, p := range pubs {
		out = append(out, a.publish(p, store.Device{ID: p.DeviceID, Name: p.DeviceName}, store.Service{Name: p.ServiceName, Port: p.ServicePort}))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (a *Admin) removePublish(w http.ResponseWriter, r *http.Request) error {
	if err := a.Store.DeletePublish(r.Context(), r.PathValue("id")); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return notFound("publish")
		}
		return err
	}
	if err := a.syncPublishes(r.Context()); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// syncPublishes makes the gateway's open ports match the store, and the
// overlay filter match them (admin gateway ports open their device port).
func (a *Admin) syncPublishes(ctx context.Context) error {
	if err := SyncGateway(ctx, a.Store, a.Gateway); err != nil {
		return err
	}
	return a.Overlay.Sync(ctx)
}

// SyncGateway opens the gateway ports the store lists and closes the others.
// Ports that cannot be opened are reported; the rest are open.
func SyncGateway(ctx context.Context, st interface {
	ListPublishes(context.Context) ([]store.Publish, error)
}, gw *gateway.Gateway) error {
	pubs, err := st.ListPublishes(ctx)
	if err != nil {
		return err
	}
	ports := make([]gateway.Port, 0, len(pubs))
	for _, p := range pubs {
		ports = append(ports, gateway.Port{ID: p.ID, Listen: p.Listen, DeviceID: p.DeviceID, Port: uint16(p.ServicePort),
			CreatedBy: p.CreatedBy, AllowCIDRs: p.AllowCIDRs})
	}
	return gw.Sync(ports)
}

// servicesChanged applies a change of services: the overlay (filter,
// netmaps) and the compiled port ACLs.
func (a *Admin) servicesChanged(ctx context.Context) error {
	if a.Authz != nil {
		if err := a.Authz.Rebuild(ctx); err != nil {
			return err
		}
	}
	return a.Overlay.Sync(ctx)
}

// SyncResult reports what an OpenFGA sync changed.
type SyncResult struct {
	Added   int `json:"added"`
	Removed int `json:"removed"`
}

func (a *Admin) syncOpenFGA(w http.ResponseWriter, r *http.Request) error {
	added, removed, err := a.Authz.Sync(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, SyncResult{Added: added, Removed: removed})
	return nil
}

// decodeBody decodes a JSON body strictly: size-capped, unknown fields
// rejected, exactly one value. An empty body decodes as {}.
func decodeBody(w http.ResponseWriter, r *http.Request, v any) error {
	body := http.MaxBytesReader(w, r.Body, MaxBody)
	data, err := io.ReadAll(body)
	if err != nil {
		return err
	}
	if len(strings.TrimSpace(string(data))) == 0 {
		return nil
	}
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: %v", wire.ErrMalformed, err)
	}
	if dec.More() {
		return fmt.Errorf("%w: trailing data", wire.ErrMalformed)
	}
	return nil
}
