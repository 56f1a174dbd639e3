// Service edits as the REST API allows them, and their validation. The API
// has create and delete only, so an edit re-creates the service (putting the
// old one back if the new one is refused); the form warns that credentials
// and gateway ports bound to the old service go with it.

import { del, orgPath, post } from './api'
import { describe as describeField, parsePort, type FieldError } from './portspec'
import type { Service } from './types'

export interface ServiceDraft {
  name: string
  protocol: string
  port: string
  target: string
}

export interface ServiceBody {
  name: string
  protocol: string
  port: number
  target?: string
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
  return { body: { name, protocol: d.protocol, port: port.value, target: target || undefined }, errors }
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

/**
 * Replaces old by body: delete, then create; if the engine refuses the new
 * one, the old one is created again and the refusal is thrown.
 */
export async function replaceService(org: string, device: string, old: Service, body: ServiceBody): Promise<Service> {
  await deleteService(org, device, old.id)
  try {
    return await createService(org, device, body)
  } catch (err) {
    try {
      await createService(org, device, { name: old.name, protocol: old.protocol, port: old.port, target: old.target })
    } catch {
      // Reported below: the original error is what the person needs.
    }
    throw err
  }
}
