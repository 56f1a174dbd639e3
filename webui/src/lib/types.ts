// Shapes of the REST API's JSON (GET /api/v1/openapi.json is the reference).

export interface MeOrg {
  id: string
  name: string
  slug: string
  role: string
}

export interface Me {
  user: { id: string; email: string; display_name: string; platform_admin: boolean }
  org: MeOrg | null
  memberships: MeOrg[]
  csrf_token?: string
  via: string
}

export interface Organization {
  id: string
  name: string
  slug: string
  role?: string
  created_at?: string
}

export interface Folder {
  id: string
  parent_id?: string
  name: string
  created_at: string
}

export interface Device {
  id: string
  name: string
  folder_id?: string
  overlay_ip: string
  online: boolean
  disabled: boolean
  last_handshake?: string
  /** The agent's last WireGuard endpoint, where the engine reports it. */
  endpoint?: string
  hostname: string
  os: string
  agent_version: string
  created_at: string
}

export interface Service {
  id: string
  name: string
  protocol: string
  port: number
  target: string
  /** Every session is recorded (asciicast). */
  record?: boolean
  /** The action a user must hold on the device to reach the port; "" = connect. */
  relation?: string
  created_at: string
}

export interface Member {
  user_id: string
  email: string
  display_name: string
  role: string
  created_at: string
}

export interface User {
  id: string
  email: string
  display_name: string
  issuer: string
  platform_admin: boolean
  disabled: boolean
  created_at: string
  last_login_at?: string
}

export interface Group {
  id: string
  name: string
  created_at: string
}

export interface GroupMember {
  user_id?: string
  group_id?: string
  name: string
  created_at?: string
}

export interface Grant {
  id: string
  subject_type: string
  subject_id: string
  relation: string
  object_type: string
  object_id: string
  created_at: string
}

export interface Explanation {
  user_id: string
  device_id: string
  port: number
  allowed: boolean
  compiled: boolean
  service?: string
  relation?: string
  chain: string[]
  granted_on?: string
  holds: string[]
  reason: string
}

export interface IdP {
  id: string
  name: string
  issuer: string
  client_id: string
  has_client_secret: boolean
  domains: string[]
  group_claim?: string
  created_at: string
  updated_at: string
}

export interface EnrollmentToken {
  id: string
  folder_id?: string
  created_at: string
  expires_at: string
  used_at?: string
  device_id?: string
}

export interface CreatedEnrollmentToken {
  id: string
  token: string
  folder_id?: string
  expires_at: string
  command: string
}

export interface AuditEvent {
  id: number
  actor_id: string
  actor_type: string
  action: string
  object_type?: string
  object_id?: string
  result: string
  reason?: string
  source_ip?: string
  details?: unknown
  created_at: string
}

export interface AuditPage {
  events: AuditEvent[]
  next_cursor?: string
}

export interface Credential {
  id: string
  scope_type: string
  scope_id: string
  name: string
  username: string
  kind: string
  version: number
  created_at: string
  updated_at: string
}

export interface Viewer {
  id: string
  role: string
  attached_at: string
}

/** A terminal session (issue 4's REST contract). */
export interface Session {
  id: string
  org_id: string
  device_id: string
  device_name: string
  service: string
  protocol: string
  owner_id: string
  state: string
  end_reason?: string
  started_at: string
  ended_at?: string
  last_activity?: string
  viewers: Viewer[]
  offset: number
  recorded: boolean
  can_drive: boolean
}

export interface SessionTicket {
  ticket: string
  role: 'driver' | 'observer'
  expires_at: string
  attach_path: string
}

export const ACTIONS = ['view', 'connect', 'edit', 'delete', 'manage', 'view_secrets'] as const
export const PROTOCOLS = ['ssh', 'tcp', 'rdp', 'vnc', 'http', 'host'] as const
