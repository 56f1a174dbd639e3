package api

import (
	"time"

	"github.com/warrenhq/warren/acl"
	"github.com/warrenhq/warren/controlplane/store"
)

// Folder is a node of the organization's folder tree.
type Folder struct {
	ID        string    `json:"id"`
	ParentID  string    `json:"parent_id,omitempty"` // "" at the top level
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
}

// CreateFolderRequest creates a folder under ParentID ("" = top level).
type CreateFolderRequest struct {
	Name     string `json:"name"`
	ParentID string `json:"parent_id,omitempty"`
}

// MoveFolderRequest moves a folder under ParentID ("" = top level).
type MoveFolderRequest struct {
	ParentID string `json:"parent_id"`
}

func folder(f store.Folder) Folder {
	return Folder{ID: f.ID, ParentID: f.ParentID, Name: f.Name, CreatedAt: f.CreatedAt}
}

func (v *V1) listFolders(c *call) error {
	fs, err := v.Store.ListFolders(c.r.Context(), c.org.ID)
	if err != nil {
		return err
	}
	visible, err := c.visible(acl.TypeFolder)
	if err != nil {
		return err
	}
	out := []Folder{}
	for _, f := range fs {
		if visible(f.ID) {
			out = append(out, folder(f))
		}
	}
	return c.reply(out)
}

// pathFolder returns the path's folder of the organization if the caller
// holds action on it.
func (v *V1) pathFolder(c *call, action string) (store.Folder, error) {
	return v.orgFolder(c, c.r.PathValue("folder"), action)
}

// orgFolder returns the organization's folder id if the caller holds
// action on it.
func (v *V1) orgFolder(c *call, id, action string) (store.Folder, error) {
	c.on(acl.TypeFolder, id)
	f, err := v.Store.GetFolder(c.r.Context(), c.org.ID, id)
	if err != nil {
		return store.Folder{}, notFoundAs(err, "folder")
	}
	return f, c.require(action, acl.TypeFolder, f.ID)
}

// mayPlaceIn fails unless the caller may put things into parentID: manage
// on it, or organization admin for the top level ("").
func (v *V1) mayPlaceIn(c *call, parentID string) error {
	if parentID == "" {
		return c.requireAdmin()
	}
	_, err := v.orgFolder(c, parentID, acl.RelationManage)
	return err
}

func (v *V1) createFolder(c *call) error {
	var req CreateFolderRequest
	if err := c.decode(&req); err != nil {
		return err
	}
	if err := v.mayPlaceIn(c, req.ParentID); err != nil {
		return err
	}
	f, err := v.Authz.CreateFolder(c.r.Context(), store.Folder{OrgID: c.org.ID, ParentID: req.ParentID, Name: req.Name})
	if err != nil {
		return notFoundAs(err, "folder")
	}
	c.on(acl.TypeFolder, f.ID)
	return c.reply(folder(f))
}

func (v *V1) getFolder(c *call) error {
	f, err := v.pathFolder(c, acl.RelationView)
	if err != nil {
		return err
	}
	return c.reply(folder(f))
}

func (v *V1) moveFolder(c *call) error {
	f, err := v.pathFolder(c, acl.RelationManage)
	if err != nil {
		return err
	}
	var req MoveFolderRequest
	if err := c.decode(&req); err != nil {
		return err
	}
	if err := v.mayPlaceIn(c, req.ParentID); err != nil {
		return err
	}
	c.on(acl.TypeFolder, f.ID)
	if err := v.Authz.MoveFolder(c.r.Context(), c.org.ID, f.ID, req.ParentID); err != nil {
		return notFoundAs(err, "folder")
	}
	f.ParentID = req.ParentID
	return c.reply(folder(f))
}

func (v *V1) deleteFolder(c *call) error {
	f, err := v.pathFolder(c, acl.RelationDelete)
	if err != nil {
		return err
	}
	if err := v.Authz.DeleteFolder(c.r.Context(), c.org.ID, f.ID); err != nil {
		return notFoundAs(err, "folder")
	}
	return c.reply(nil)
}

// OrgDevice is a device of the organization with its live tunnel state.
type OrgDevice struct {
	ID            string     `json:"id"`
	Name          string     `json:"name"`
	FolderID      string     `json:"folder_id,omitempty"` // "" at the top level
	OverlayIP     string     `json:"overlay_ip"`
	Online        bool       `json:"online"`
	Disabled      bool       `json:"disabled"`
	LastHandshake *time.Time `json:"last_handshake,omitempty"`
	// Endpoint is the agent's WireGuard endpoint (host:port) as the engine
	// last saw it; "" before the first handshake.
	Endpoint     string    `json:"endpoint,omitempty"`
	Hostname     string    `json:"hostname"`
	OS           string    `json:"os"`
	AgentVersion string    `json:"agent_version"`
	CreatedAt    time.Time `json:"created_at"`
}

// UpdateDeviceRequest moves a device into FolderID ("" = top level; manage
// on the device and on the folder) and/or sets Disabled (edit). Absent
// fields stay as they are.
type UpdateDeviceRequest struct {
	FolderID *string `json:"folder_id,omitempty"`
	Disabled *bool   `json:"disabled,omitempty"`
}

func (v *V1) orgDevice(d store.Device) OrgDevice {
	out := OrgDevice{ID: d.ID, Name: d.Name, FolderID: d.FolderID, OverlayIP: d.OverlayIP.String(),
		Disabled: d.Disabled, Endpoint: d.LastEndpoint, Hostname: d.Hostname, OS: d.OS, AgentVersion: d.AgentVersion,
		CreatedAt: d.CreatedAt}
	hs := d.LastHandshake
	if v.Overlay != nil {
		st := v.Overlay.State(d.ID)
		out.Online = st.Online
		if st.Endpoint.IsValid() {
			out.Endpoint = st.Endpoint.String()
		}
		if st.LastHandshake.After(hs) {
			hs = st.LastHandshake
		}
		if st.AgentVersion != "" {
			out.AgentVersion = st.AgentVersion
		}
	}
	if !hs.IsZero() {
		out.LastHandshake = &hs
	}
	return out
}

func (v *V1) listDevices(c *call) error {
	ds, err := v.Store.ListOrgDevices(c.r.Context(), c.org.ID)
	if err != nil {
		return err
	}
	visible, err := c.visible(acl.TypeDevice)
	if err != nil {
		return err
	}
	out := []OrgDevice{}
	for _, d := range ds {
		if visible(d.ID) {
			out = append(out, v.orgDevice(d))
		}
	}
	return c.reply(out)
}

// pathDevice returns the path's device of the organization if the caller
// holds action on it.
func (v *V1) pathDevice(c *call, action string) (store.Device, error) {
	id := c.r.PathValue("device")
	c.on(acl.TypeDevice, id)
	d, err := v.Store.GetOrgDevice(c.r.Context(), c.org.ID, id)
	if err != nil {
		return store.Device{}, notFoundAs(err, "device")
	}
	return d, c.require(action, acl.TypeDevice, d.ID)
}

func (v *V1) getDevice(c *call) error {
	d, err := v.pathDevice(c, acl.RelationView)
	if err != nil {
		return err
	}
	return c.reply(v.orgDevice(d))
}

func (v *V1) updateDevice(c *call) error {
	d, err := v.pathDevice(c, acl.RelationView)
	if err != nil {
		return err
	}
	var req UpdateDeviceRequest
	if err := c.decode(&req); err != nil {
		return err
	}
	if req.FolderID != nil {
		if err := c.require(acl.RelationManage, acl.TypeDevice, d.ID); err != nil {
			return err
		}
		if err := v.mayPlaceIn(c, *req.FolderID); err != nil {
			return err
		}
	}
	if req.Disabled != nil {
		if err := c.require(acl.RelationEdit, acl.TypeDevice, d.ID); err != nil {
			return err
		}
	}
	c.on(acl.TypeDevice, d.ID)
	if req.FolderID != nil {
		if err := v.Authz.SetDeviceFolder(c.r.Context(), c.org.ID, d.ID, *req.FolderID); err != nil {
			return notFoundAs(err, "folder")
		}
	}
	if req.Disabled != nil {
		if err := v.Store.SetDeviceDisabled(c.r.Context(), d.ID, *req.Disabled); err != nil {
			return notFoundAs(err, "device")
		}
		if err := c.syncOverlay(); err != nil {
			return err
		}
	}
	d, err = v.Store.GetOrgDevice(c.r.Context(), c.org.ID, d.ID)
	if err != nil {
		return notFoundAs(err, "device")
	}
	return c.reply(v.orgDevice(d))
}

func (v *V1) deleteDevice(c *call) error {
	d, err := v.pathDevice(c, acl.RelationDelete)
	if err != nil {
		return err
	}
	if err := v.Authz.DeleteDevice(c.r.Context(), c.org.ID, d.ID); err != nil {
		return notFoundAs(err, "device")
	}
	if err := c.syncOverlay(); err != nil {
		return err
	}
	return c.reply(nil)
}

// DeviceService is a port on a device's overlay address that the agent
// forwards to Target.
type DeviceService struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Protocol  string    `json:"protocol"`
	Port      int       `json:"port"`
	Target    string    `json:"target"`
	Record    bool      `json:"record"` // terminal sessions to it are recorded
	CreatedAt time.Time `json:"created_at"`
}

// CreateServiceRequest adds a service; Target defaults to 127.0.0.1:<port>.
// Record makes the engine record every terminal session to it.
type CreateServiceRequest struct {
	Name     string `json:"name"`
	Protocol string `json:"protocol"`
	Port     int    `json:"port"`
	Target   string `json:"target,omitempty"`
	Record   bool   `json:"record,omitempty"`
}

// UpdateServiceRequest replaces a service's settings (every field; an empty
// target means 127.0.0.1:<port>).
type UpdateServiceRequest CreateServiceRequest

func deviceService(s store.Service) DeviceService {
	return DeviceService{ID: s.ID, Name: s.Name, Protocol: string(s.Protocol), Port: s.Port, Target: s.Target, Record: s.Record,
		CreatedAt: s.CreatedAt}
}

func (v *V1) listServices(c *call) error {
	d, err := v.pathDevice(c, acl.RelationView)
	if err != nil {
		return err
	}
	ss, err := v.Store.ListServices(c.r.Context(), d.ID)
	if err != nil {
		return err
	}
	out := make([]DeviceService, 0, len(ss))
	for _, s := range ss {
		out = append(out, deviceService(s))
	}
	return c.reply(out)
}

func (v *V1) createService(c *call) error {
	d, err := v.pathDevice(c, acl.RelationManage)
	if err != nil {
		return err
	}
	var req CreateServiceRequest
	if err := c.decode(&req); err != nil {
		return err
	}
	s, err := v.Store.CreateService(c.r.Context(), store.Service{DeviceID: d.ID, Name: req.Name,
		Protocol: store.Protocol(req.Protocol), Port: req.Port, Target: req.Target, Record: req.Record})
	if err != nil {
		return notFoundAs(err, "device")
	}
	c.on("service", s.ID)
	if err := v.servicesChanged(c); err != nil {
		return err
	}
	return c.reply(deviceService(s))
}

func (v *V1) updateService(c *call) error {
	d, err := v.pathDevice(c, acl.RelationManage)
	if err != nil {
		return err
	}
	id := c.r.PathValue("service")
	c.on("service", id)
	var req UpdateServiceRequest
	if err := c.decode(&req); err != nil {
		return err
	}
	s, err := v.Store.UpdateService(c.r.Context(), d.ID, id, store.Service{Name: req.Name,
		Protocol: store.Protocol(req.Protocol), Port: req.Port, Target: req.Target, Record: req.Record})
	if err != nil {
		return notFoundAs(err, "service")
	}
	if err := v.servicesChanged(c); err != nil {
		return err
	}
	return c.reply(deviceService(s))
}

// servicesChanged recompiles the port ACLs and pushes the new services to
// the overlay.
func (v *V1) servicesChanged(c *call) error {
	if err := v.Authz.Rebuild(c.r.Context()); err != nil {
		return err
	}
	return c.syncOverlay()
}

func (v *V1) deleteService(c *call) error {
	d, err := v.pathDevice(c, acl.RelationManage)
	if err != nil {
		return err
	}
	id := c.r.PathValue("service")
	c.on("service", id)
	ss, err := v.Store.ListServices(c.r.Context(), d.ID)
	if err != nil {
		return err
	}
	for _, s := range ss {
		if s.ID != id {
			continue
		}
		if err := v.Store.DeleteService(c.r.Context(), d.ID, s.Name); err != nil {
			return notFoundAs(err, "service")
		}
		if err := v.servicesChanged(c); err != nil {
			return err
		}
		return c.reply(nil)
	}
	return notFound("service")
}
