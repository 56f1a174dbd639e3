package api

import "net/http"

// routes is the route table: Handler registers exactly these, and the
// OpenAPI document describes exactly these.
func (v *V1) routes() []*route {
	const (
		o   = "/api/v1/orgs/{org}"
		dev = o + "/devices/{device}"
	)
	get := func(path, action, summary string, acc access, resp any, h func(*call) error) *route {
		return &route{method: http.MethodGet, path: path, action: action, summary: summary, access: acc,
			resp: resp, status: http.StatusOK, h: h}
	}
	list := func(path, action, summary string, acc access, resp any, h func(*call) error) *route {
		r := get(path, action, summary, acc, resp, h)
		r.list = true
		return r
	}
	post := func(path, action, summary string, acc access, req, resp any, h func(*call) error) *route {
		return &route{method: http.MethodPost, path: path, action: action, summary: summary, access: acc,
			req: req, resp: resp, status: http.StatusCreated, h: h}
	}
	patch := func(path, action, summary string, acc access, req, resp any, h func(*call) error) *route {
		return &route{method: http.MethodPatch, path: path, action: action, summary: summary, access: acc,
			req: req, resp: resp, status: http.StatusOK, h: h}
	}
	del := func(path, action, summary string, acc access, h func(*call) error) *route {
		return &route{method: http.MethodDelete, path: path, action: action, summary: summary, access: acc,
			status: http.StatusNoContent, h: h}
	}
	withQuery := func(r *route, q ...string) *route {
		r.query = q
		return r
	}

	return []*route{
		get("/api/v1/openapi.json", "openapi.get", "This document", accessAuthenticated, map[string]any{}, v.getOpenAPI),

		// Organizations and their members.
		list("/api/v1/orgs", "org.list", "Organizations of the caller (every one for platform admins)", accessAuthenticated, []Organization{}, v.listOrgs),
		post("/api/v1/orgs", "org.create", "Create an organization (platform admins)", accessAuthenticated, CreateOrgRequest{}, Organization{}, v.createOrg),
		list("/api/v1/users", "user.list", "Every user (platform admins)", accessAuthenticated, []User{}, v.listUsers),
		patch("/api/v1/users/{user}", "user.update", "Disable or enable a user (disabling signs them out everywhere at once), or grant or take the platform admin role (platform admins)", accessAuthenticated, UpdateUserRequest{}, User{}, v.updateUser),
		del("/api/v1/users/{user}/sessions", "user.sessions.revoke", "Sign a user out of every browser session at once (platform admins)", accessAuthenticated, v.revokeUserSessions),
		get(o, "org.get", "An organization", accessMember, Organization{}, v.getOrg),
		del(o, "org.delete", "Delete an organization without devices (platform admins)", accessMember, v.deleteOrg),
		list(o+"/members", "member.list", "Members of the organization", accessMember, []Member{}, v.listMembers),
		post(o+"/members", "member.add", "Add a user to the organization (org admins)", accessAdmin, AddMemberRequest{}, Member{}, v.addMember),
		patch(o+"/members/{user}", "member.set_role", "Change a member's role (org admins)", accessAdmin, SetRoleRequest{}, Member{}, v.setMemberRole),
		del(o+"/members/{user}", "member.remove", "Remove a member (org admins)", accessAdmin, v.removeMember),

		// Groups.
		list(o+"/groups", "group.list", "Groups of the organization", accessMember, []Group{}, v.listGroups),
		post(o+"/groups", "group.create", "Create a group (org admins)", accessAdmin, CreateGroupRequest{}, Group{}, v.createGroup),
		get(o+"/groups/{group}", "group.get", "A group", accessMember, Group{}, v.getGroup),
		del(o+"/groups/{group}", "group.delete", "Delete a group and the grants to it (org admins)", accessAdmin, v.deleteGroup),
		list(o+"/groups/{group}/members", "group.member.list", "Members of a group", accessMember, []GroupMember{}, v.listGroupMembers),
		post(o+"/groups/{group}/members", "group.member.add", "Add a user or a group to a group (org admins)", accessAdmin, AddGroupMemberRequest{}, GroupMember{}, v.addGroupMember),
		del(o+"/groups/{group}/members/{member}", "group.member.remove", "Remove a user or a group (by id) from a group (org admins)", accessAdmin, v.removeGroupMember),

		// Folders.
		list(o+"/folders", "folder.list", "Folders the caller may view", accessMember, []Folder{}, v.listFolders),
		post(o+"/folders", "folder.create", "Create a folder (manage on the parent; org admins at the top level)", accessMember, CreateFolderRequest{}, Folder{}, v.createFolder),
		get(o+"/folders/{folder}", "folder.get", "A folder (view)", accessMember, Folder{}, v.getFolder),
		post(o+"/folders/{folder}/move", "folder.move", "Move a folder (manage on it and on the new parent)", accessMember, MoveFolderRequest{}, Folder{}, v.moveFolder),
		del(o+"/folders/{folder}", "folder.delete", "Delete an empty folder (delete)", accessMember, v.deleteFolder),

		// Devices and their services.
		list(o+"/devices", "device.list", "Devices the caller may view", accessMember, []OrgDevice{}, v.listDevices),
		get(dev, "device.get", "A device (view)", accessMember, OrgDevice{}, v.getDevice),
		patch(dev, "device.update", "Move a device to a folder (manage) or disable it (edit)", accessMember, UpdateDeviceRequest{}, OrgDevice{}, v.updateDevice),
		del(dev, "device.delete", "Delete a device (delete)", accessMember, v.deleteDevice),
		list(dev+"/services", "service.list", "Services of a device (view)", accessMember, []DeviceService{}, v.listServices),
		post(dev+"/services", "service.create", "Add a service to a device (manage)", accessMember, CreateServiceRequest{}, DeviceService{}, v.createService),
		patch(dev+"/services/{service}", "service.update", "Change a service in place: name, protocol, port, target, recording (manage); its credentials, gateway ports and host key stay", accessMember, UpdateServiceRequest{}, DeviceService{}, v.updateService),
		del(dev+"/services/{service}", "service.delete", "Delete a service (manage)", accessMember, v.deleteService),
		list(dev+"/publishes", "publish.list", "Gateway ports publishing the device's services (view)", accessMember, []DevicePublish{}, v.listPublishes),
		post(dev+"/publishes", "publish.create", "Publish a service on a gateway port, optionally limited to source CIDRs (manage)", accessMember, CreatePublishRequest{}, DevicePublish{}, v.createPublish),
		del(dev+"/publishes/{publish}", "publish.delete", "Remove a gateway port (manage)", accessMember, v.deletePublish),

		// Credentials: write-only secrets.
		list(o+"/credentials", "credential.list", "Credentials (metadata only) on objects the caller may view", accessMember, []Credential{}, v.listCredentials),
		post(o+"/credentials", "credential.create", "Store a credential; its secret is write-only (manage on the scope)", accessMember, CreateCredentialRequest{}, Credential{}, v.createCredential),
		get(o+"/credentials/{credential}", "credential.get", "A credential's metadata (view on the scope)", accessMember, Credential{}, v.getCredential),
		del(o+"/credentials/{credential}", "credential.delete", "Delete a credential (manage on the scope)", accessMember, v.deleteCredential),

		// Grants and explanations.
		withQuery(list(o+"/grants", "grant.list", "Grants (all for org admins; on objects the caller manages otherwise)", accessMember, []Grant{}, v.listGrants),
			"subject_type", "subject_id", "relation", "object_type", "object_id"),
		post(o+"/grants", "grant.create", "Grant an action (manage on the object, holding the action; org admins for the organization)", accessMember, CreateGrantRequest{}, Grant{}, v.createGrant),
		del(o+"/grants/{grant}", "grant.delete", "Revoke a grant (manage on the object; org admins for the organization)", accessMember, v.deleteGrant),
		withQuery(get(o+"/acl/explain", "acl.explain", "Why a user may or may not reach a port of a device (org admins for anyone; members for themselves)", accessMember, Explanation{}, v.explain),
			"user", "device", "port"),

		// Identity providers.
		list(o+"/idps", "idp.list", "Identity providers (org admins)", accessAdmin, []IdP{}, v.listIdPs),
		post(o+"/idps", "idp.create", "Add an identity provider; the client secret is write-only (org admins)", accessAdmin, CreateIdPRequest{}, IdP{}, v.createIdP),
		get(o+"/idps/{idp}", "idp.get", "An identity provider (org admins)", accessAdmin, IdP{}, v.getIdP),
		del(o+"/idps/{idp}", "idp.delete", "Delete an identity provider (org admins)", accessAdmin, v.deleteIdP),

		// API tokens.
		list(o+"/tokens", "token.list", "The caller's API tokens (every member's for org admins)", accessMember, []APIToken{}, v.listTokens),
		post(o+"/tokens", "token.create", "Mint an API token for the caller; the secret is shown once", accessMember, CreateTokenRequest{}, CreatedToken{}, v.createToken),
		del(o+"/tokens/{token}", "token.revoke", "Revoke an API token (the caller's own; any for org admins)", accessMember, v.revokeToken),

		// Enrollment tokens.
		list(o+"/enrollment-tokens", "enrollment_token.list", "Enrollment tokens (org admins)", accessAdmin, []EnrollmentToken{}, v.listEnrollmentTokens),
		post(o+"/enrollment-tokens", "enrollment_token.create", "Create a single-use enrollment token; the secret is shown once (org admins)", accessAdmin, CreateEnrollmentTokenRequest{}, CreatedEnrollmentToken{}, v.createEnrollmentToken),
		del(o+"/enrollment-tokens/{enrollment_token}", "enrollment_token.delete", "Revoke an enrollment token (org admins)", accessAdmin, v.deleteEnrollmentToken),

		// Terminal sessions on devices (they live on the agents) and their recordings.
		withQuery(list(o+"/sessions", "session.list", "Sessions: the caller's own and those shared with them; every one with scope=all (org admins)", accessMember, []Session{}, v.listSessions),
			"scope", "state"),
		post(o+"/sessions", "session.open", "Open a terminal session on an ssh service of a device (connect on its port); answers the session and a driver ticket", accessMember, OpenSessionRequest{}, OpenedSession{}, v.openSession),
		get(o+"/sessions/{session}", "session.get", "A session (owner, observer, org admin, or view on its device)", accessMember, Session{}, v.getSession),
		del(o+"/sessions/{session}", "session.terminate", "Terminate a session (its owner, an org admin, or manage on its device)", accessMember, v.terminateSession),
		post(o+"/sessions/{session}/tickets", "session.ticket.create", "A single-use attach ticket valid 30 s: driver (the owner) or observer", accessMember, NewTicketRequest{}, Ticket{}, v.newTicket),
		withQuery(&route{method: http.MethodGet, path: o + "/sessions/{session}/attach", action: "session.attach",
			summary: "Attach to a session (WebSocket; ticket auth)", access: accessTicket, status: http.StatusSwitchingProtocols},
			"ticket", "offset", "takeover"),
		list(o+"/sessions/{session}/observers", "session.observer.list", "Users and groups a session is shared with", accessMember, []SessionObserver{}, v.listObservers),
		post(o+"/sessions/{session}/observers", "session.share", "Share a session read-only with a user or group of the organization (its owner or an org admin)", accessMember, ShareSessionRequest{}, SessionObserver{}, v.shareSession),
		del(o+"/sessions/{session}/observers/{subject}", "session.unshare", "Stop sharing a session with a user or group (its owner or an org admin)", accessMember, v.unshareSession),
		&route{method: http.MethodGet, path: o + "/sessions/{session}/recording", action: "session.recording.get",
			summary: "Download a session's recording (asciicast v2)", access: accessMember, status: http.StatusOK,
			contentType: "application/x-asciicast", h: v.getRecording},
		list(o+"/recordings", "recording.list", "Recorded sessions the caller may see (all for org admins)", accessMember, []Session{}, v.listRecordings),
		withQuery(list(dev+"/sessions", "device.session.list", "Sessions on a device (view)", accessMember, []Session{}, v.listDeviceSessions), "state"),
		get(dev+"/services/{service}/host-key", "host_key.get", "The SSH host key trusted for a service, and any key offered instead (view)", accessMember, HostKey{}, v.getHostKey),
		post(dev+"/services/{service}/host-key/accept", "host_key.accept", "Trust the host key a service now offers; the fingerprint must be the pending one (manage)", accessMember, AcceptHostKeyRequest{}, HostKey{}, v.acceptHostKey),
		get(o+"/settings/sessions", "session_settings.get", "The organization's session settings", accessMember, SessionSettings{}, v.getSessionSettings),
		patch(o+"/settings/sessions", "session_settings.update", "Change timeouts, buffer size and session limits (org admins)", accessAdmin, UpdateSessionSettingsRequest{}, SessionSettings{}, v.updateSessionSettings),

		// Audit.
		withQuery(list(o+"/audit", "audit.list", "Audit events, newest first, paginated (org admins)", accessAdmin, AuditPage{}, v.listAudit),
			"actor", "action", "object", "result", "since", "until", "limit", "cursor"),
	}
}

func (v *V1) getOpenAPI(c *call) error {
	return c.reply(openAPI(v.routes()))
}
