// Service edits through the REST API, and their validation. An edit is a
// PATCH in place: the service keeps its ID, so its credentials, gateway
// ports and trusted host key stay with it.

import { del, orgPath, patch, post } from './api'
import { describe as describeField, parsePort, type FieldError } from './portspec'
import type { Service } from './types'

export interface ServiceDraft {
  name: string
  protocol: string
  port: string
  target: string
  /** Record every session of the service. */
  record?: boolean
}

export interface ServiceBody {
  name: string
  protocol: string
  port: number
  target?: string
  /** Record every session (PATCH replaces every field). */
  record?: boolean
}

const NAME = /^[A-Za-z0-9._-]{1,63}$/

/** Validates a draft; errors are keyed by form field. */
export function validateService(d: ServiceDraft, others: Service[]): { body?: ServiceBody; errors: Record<string, string> } {
  const errors: Record<string, string> = {}
  const label = d.name.trim() || 'the service'
  const name = d.name.trim()
  if (!NAME.test(name)) errors.name = 'Name: 1 to 63 letters, digits, “-”, “_” or “.”'
  else if (others.some((s) => s.name === name)) errors.name = `Name: ${name} is already a service of this device`
  const port = parsePort(d.port, `Port of ${label}`)
  if (!port.ok) errors.port = describeField(port.errors[0])
  else if (others.some((s) => s.port === port.value)) {
    const o = others.find((s) => s.port === port.value)!
    errors.port = `Port of ${label}: ${port.value} is already used by ${o.name}`
  }
  const target = d.target.trim()
  if (target !== '') {
    const e = validateTarget(target, label)
    if (e) errors.target = describeField(e)
  }
  if (Object.keys(errors).length > 0 || !port.ok) return { errors }
  return { body: { name, protocol: d.protocol, port: port.value, target: target || undefined, record: !!d.record }, errors }
}

/** Checks host:port ("127.0.0.1:22", "[::1]:22", "db.lan:5432"). */
export function validateTarget(t: string, label: string): FieldError | null {
  const field = `Target of ${label}`
  const m = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):([^:]*)$/.exec(t)
  if (!m) return { field, message: 'write it as host:port, e.g. 127.0.0.1:22' }
  const p = parsePort(m[2], field)
  return p.ok ? null : p.errors[0]
}

/** Creates a service. */
export function createService(org: string, device: string, body: ServiceBody): Promise<Service> {
  return post<Service>(orgPath(org, 'devices', device, 'services'), body)
}

/** Deletes a service. */
export function deleteService(org: string, device: string, id: string): Promise<void> {
  return del(orgPath(org, 'devices', device, 'services', id))
}

/** Changes a service in place (every field of body). */
export function updateService(org: string, device: string, id: string, body: ServiceBody): Promise<Service> {
  return patch<Service>(orgPath(org, 'devices', device, 'services', id), body)
}
