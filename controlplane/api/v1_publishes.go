package api

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"time"

	"github.com/warrenhq/warren/acl"
	"github.com/warrenhq/warren/controlplane/gateway"
	"github.com/warrenhq/warren/controlplane/store"
)

// DevicePublish is a service of a device published on a gateway port of
// the engine, for native clients.
type DevicePublish struct {
	ID         string    `json:"id"`
	ServiceID  string    `json:"service_id"`
	Service    string    `json:"service"`
	Port       int       `json:"port"`
	Listen     string    `json:"listen"`
	ListenAddr string    `json:"listen_addr,omitempty"` // bound address when open
	AllowCIDRs []string  `json:"allow_cidrs"`           // empty = any source
	CreatedBy  string    `json:"created_by,omitempty"`
	CreatedAt  time.Time `json:"created_at"`
}

// CreatePublishRequest publishes the device's service (by name) on Listen
// ([host]:port on the engine host), accepting connections only from
// AllowCIDRs (empty = any source).
type CreatePublishRequest struct {
	Service    string   `json:"service"`
	Listen     string   `json:"listen"`
	AllowCIDRs []string `json:"allow_cidrs,omitempty"`
}

func (v *V1) devicePublish(p store.Publish) DevicePublish {
	out := DevicePublish{ID: p.ID, ServiceID: p.ServiceID, Service: p.ServiceName, Port: p.ServicePort, Listen: p.Listen,
		AllowCIDRs: make([]string, 0, len(p.AllowCIDRs)), CreatedBy: p.CreatedBy, CreatedAt: p.CreatedAt}
	for _, c := range p.AllowCIDRs {
		out.AllowCIDRs = append(out.AllowCIDRs, c.String())
	}
	if v.Gateway != nil {
		if addr, ok := v.Gateway.Addr(p.ID); ok {
			out.ListenAddr = addr.String()
		}
	}
	return out
}

// devicePublishes returns the publishes of one device.
func (v *V1) devicePublishes(ctx context.Context, deviceID string) ([]store.Publish, error) {
	all, err := v.Store.ListPublishes(ctx)
	if err != nil {
		return nil, err
	}
	var out []store.Publish
	for _, p := range all {
		if p.DeviceID == deviceID {
			out = append(out, p)
		}
	}
	return out, nil
}

func (v *V1) listPublishes(c *call) error {
	d, err := v.pathDevice(c, acl.RelationView)
	if err != nil {
		return err
	}
	ps, err := v.devicePublishes(c.r.Context(), d.ID)
	if err != nil {
		return err
	}
	out := make([]DevicePublish, 0, len(ps))
	for _, p := range ps {
		out = append(out, v.devicePublish(p))
	}
	return c.reply(out)
}

func (v *V1) createPublish(c *call) error {
	d, err := v.pathDevice(c, acl.RelationManage)
	if err != nil {
		return err
	}
	var req CreatePublishRequest
	if err := c.decode(&req); err != nil {
		return err
	}
	if _, _, err := net.SplitHostPort(req.Listen); err != nil {
		return badRequest("invalid_field", "listen: must be [host]:port, e.g. 127.0.0.1:2222 or :2222")
	}
	var cidrs []netip.Prefix
	for _, s := range req.AllowCIDRs {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return badRequest("invalid_field", fmt.Sprintf("allow_cidrs: %q is not a prefix such as 10.0.0.0/8", s))
		}
		cidrs = append(cidrs, p.Masked())
	}
	svc, err := v.Store.GetService(c.r.Context(), d.ID, req.Service)
	if err != nil {
		return notFoundAs(err, "service")
	}
	p, err := v.Store.CreatePublish(c.r.Context(), store.Publish{ServiceID: svc.ID, Listen: req.Listen,
		CreatedBy: c.p.UserID, AllowCIDRs: cidrs})
	if err != nil {
		return notFoundAs(err, "service")
	}
	c.on("publish", p.ID)
	if v.Gateway != nil {
		port := gateway.Port{ID: p.ID, Listen: p.Listen, DeviceID: d.ID, Port: uint16(svc.Port),
			CreatedBy: p.CreatedBy, AllowCIDRs: p.AllowCIDRs}
		if err := v.Gateway.Open(port); err != nil {
			// Nothing half-done: the row goes with the failed listener.
			if derr := v.Store.DeletePublish(context.WithoutCancel(c.r.Context()), p.ID); derr != nil {
				v.log().Error("removing publish after listen failure", "publish_id", p.ID, "err", derr)
			}
			return &Error{http.StatusConflict, "listen_failed", fmt.Sprintf("cannot listen on %s: %v", req.Listen, unwrapAll(err))}
		}
	}
	return c.reply(v.devicePublish(p))
}

func (v *V1) deletePublish(c *call) error {
	d, err := v.pathDevice(c, acl.RelationManage)
	if err != nil {
		return err
	}
	id := c.r.PathValue("publish")
	c.on("publish", id)
	ps, err := v.devicePublishes(c.r.Context(), d.ID)
	if err != nil {
		return err
	}
	for _, p := range ps {
		if p.ID != id {
			continue
		}
		if err := v.Store.DeletePublish(c.r.Context(), p.ID); err != nil {
			return notFoundAs(err, "publish")
		}
		if v.Gateway != nil {
			v.Gateway.Remove(p.ID)
		}
		return c.reply(nil)
	}
	return notFound("publish")
}
