// The per-device page: state of the agent, services (editable with manage),
// the port allowlist, credentials and "explain access".

import { useEffect, useState } from 'preact/hooks'
import { del, get, orgPath, patch, withQuery } from '../lib/api'
import { createService, deleteService, updateService, validateService, type ServiceDraft } from '../lib/services'
import type { Device, Explanation, Service } from '../lib/types'
import { PROTOCOLS } from '../lib/types'
import { Button, Dialog, Empty, ErrorBox, Id, Loading, Time, useAction, useAsync } from './common'
import { useConsole } from './context'
import { CredentialsSection } from './credentials'
import { ExplainPanel } from './explain'
import { HostKeyButton } from './hostkey'
import { PortAllowlist } from './ports'

export function DevicePage({ id, active }: { id: string; active: boolean }) {
  const c = useConsole()
  const dev = useAsync((signal) => get<Device>(orgPath(c.org.id, 'devices', id), { signal }), [id], active ? 10_000 : 0)
  const svc = useAsync((signal) => get<Service[]>(orgPath(c.org.id, 'devices', id, 'services'), { signal }), [id])
  // Whether the caller holds manage: org admins do; others are asked of the
  // explain route, which lists the actions the caller holds on the device.
  const holds = useAsync(
    async (signal) => {
      if (c.isAdmin) return ['view', 'connect', 'edit', 'delete', 'manage', 'view_secrets']
      const x = await get<Explanation>(withQuery(orgPath(c.org.id, 'acl', 'explain'), { device: id, port: 22 }), { signal, quiet: true })
      return x.holds
    },
    [id],
  )
  const canManage = holds.data?.includes('manage') ?? false
  const canEdit = holds.data?.includes('edit') ?? false
  const canDelete = holds.data?.includes('delete') ?? false

  const reloadServices = () => {
    svc.reload()
    c.loadServices(id, true)
  }

  if (dev.error && !dev.data) return <div class="page"><ErrorBox error={dev.error} /></div>
  if (!dev.data) return <div class="page"><Loading what="the device" /></div>
  const d = dev.data
  const state = d.disabled ? 'disabled' : d.online ? 'online' : 'offline'
  return (
    <div class="page device-page" data-device-page={d.name}>
      <header class="page-head">
        <h1>
          <span class={`dot dot-${state}`} aria-hidden="true" /> {d.name}
        </h1>
        <span class={`pill pill-${state}`} data-testid="device-state">
          {state}
        </span>
      </header>
      <dl class="facts">
        <Fact label="Overlay IP">
          <code>{d.overlay_ip}</code>
        </Fact>
        <Fact label="Hostname">{d.hostname || '—'}</Fact>
        <Fact label="OS">{d.os || '—'}</Fact>
        <Fact label="Agent version">{d.agent_version || '—'}</Fact>
        <Fact label="Last handshake">
          <Time at={d.last_handshake} never="never" />
        </Fact>
        <Fact label="Endpoint">{d.endpoint ? <code>{d.endpoint}</code> : <span class="dim">not reported</span>}</Fact>
        <Fact label="Enrolled">
          <Time at={d.created_at} />
        </Fact>
        <Fact label="Device ID">
          <Id id={d.id} />
        </Fact>
      </dl>
      <DeviceActions device={d} canManage={canManage} canEdit={canEdit} canDelete={canDelete} onChange={dev.reload} />

      <section class="section">
        <h2>Services</h2>
        <p class="dim">
          Ports on the device's overlay address that the agent forwards to a target on its side. Nothing else is reachable.
          {!canManage && holds.data && ' You need the manage action on this device to change them.'}
        </p>
        <ErrorBox error={svc.error} />
        {svc.data ? (
          <ServicesTable device={d} services={svc.data} canManage={canManage} onChange={reloadServices} />
        ) : (
          <Loading what="services" />
        )}
      </section>

      {svc.data && (
        <section class="section">
          <h2>Port allowlist</h2>
          <PortAllowlist device={d} services={svc.data} canManage={canManage} onChange={reloadServices} />
        </section>
      )}

      {svc.data && (
        <section class="section">
          <h2>Credentials</h2>
          <CredentialsSection device={d} services={svc.data} canManage={canManage} />
        </section>
      )}

      <section class="section">
        <h2>Explain access</h2>
        <ExplainPanel device={d} services={svc.data ?? []} />
      </section>
    </div>
  )
}

function Fact({ label, children }: { label: string; children: preact.ComponentChildren }) {
  return (
    <div class="fact">
      <dt>{label}</dt>
      <dd>{children}</dd>
    </div>
  )
}

function DeviceActions({ device, canManage, canEdit, canDelete, onChange }: { device: Device; canManage: boolean; canEdit: boolean; canDelete: boolean; onChange: () => void }) {
  const c = useConsole()
  const [busy, error, run] = useAction()
  const [confirm, setConfirm] = useState(false)
  const path = orgPath(c.org.id, 'devices', device.id)
  const move = (folder: string) =>
    run(async () => {
      await patch(path, { folder_id: folder })
      onChange()
      c.refreshTree()
    })
  const toggle = () =>
    run(async () => {
      await patch(path, { disabled: !device.disabled })
      onChange()
      c.refreshTree()
    })
  const remove = () =>
    run(async () => {
      await del(path)
      c.refreshTree()
      c.closeTab(`device:${device.id}`)
    })
  if (!canManage && !canEdit && !canDelete) return null
  return (
    <div class="toolbar">
      {canManage && (
        <label class="inline-field">
          Folder{' '}
          <select value={device.folder_id ?? ''} onChange={(e) => void move((e.target as HTMLSelectElement).value)} disabled={busy}>
            <option value="">(top level)</option>
            {c.folders.map((f) => (
              <option value={f.id}>{f.name}</option>
            ))}
          </select>
        </label>
      )}
      {canEdit && (
        <Button onClick={() => void toggle()} busy={busy}>
          {device.disabled ? 'Enable device' : 'Disable device'}
        </Button>
      )}
      {canDelete && (
        <Button kind="danger" onClick={() => setConfirm(true)}>
          Delete device
        </Button>
      )}
      <ErrorBox error={error} />
      {confirm && (
        <Dialog title={`Delete ${device.name}?`} onClose={() => setConfirm(false)}>
          <p>The device leaves the overlay at once and its agent can no longer connect. Its services, credentials and grants are deleted.</p>
          <div class="actions">
            <Button onClick={() => setConfirm(false)}>Cancel</Button>
            <Button kind="danger" busy={busy} onClick={() => void remove()}>
              Delete {device.name}
            </Button>
          </div>
        </Dialog>
      )}
    </div>
  )
}

const emptyDraft: ServiceDraft = { name: '', protocol: 'ssh', port: '', target: '', record: false }

function ServicesTable({ device, services, canManage, onChange }: { device: Device; services: Service[]; canManage: boolean; onChange: () => void }) {
  const c = useConsole()
  const [editing, setEditing] = useState<string | null>(null)
  const [adding, setAdding] = useState(false)
  const sorted = [...services].sort((a, b) => a.port - b.port)
  return (
    <>
      {sorted.length === 0 && !adding && <Empty>No services yet.</Empty>}
      {(sorted.length > 0 || adding) && (
        <table class="table services">
          <thead>
            <tr>
              <th>Name</th>
              <th>Protocol</th>
              <th>Port</th>
              <th>Target</th>
              <th>Requires</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {sorted.map((s) =>
              editing === s.id ? (
                <ServiceForm key={s.id} device={device} services={services} old={s} onDone={(changed) => { setEditing(null); if (changed) onChange() }} />
              ) : (
                <tr key={s.id} data-service-row={s.name}>
                  <td>
                    {s.name}
                    {s.record && (
                      <span class="pill pill-recorded" title="Every session is recorded">
                        recorded
                      </span>
                    )}
                  </td>
                  <td>{s.protocol}</td>
                  <td class="mono">{s.port}</td>
                  <td class="mono">{s.target}</td>
                  <td>{s.relation || 'connect'}</td>
                  <td class="row-actions">
                    {s.protocol === 'ssh' && device.online && (
                      <Button kind="primary" onClick={() => void c.openTerminal(device, s)}>
                        Open terminal
                      </Button>
                    )}
                    {s.protocol === 'ssh' && <HostKeyButton device={device} service={s} canManage={canManage} />}
                    {canManage && <Button onClick={() => setEditing(s.id)}>Edit</Button>}
                    {canManage && <DeleteService device={device} service={s} onDone={onChange} />}
                  </td>
                </tr>
              ),
            )}
            {adding && <ServiceForm device={device} services={services} onDone={(changed) => { setAdding(false); if (changed) onChange() }} />}
          </tbody>
        </table>
      )}
      {canManage && !adding && (
        <Button onClick={() => setAdding(true)} class="add-service">
          Add service
        </Button>
      )}
    </>
  )
}

/** A table row that edits (old given) or adds a service. */
function ServiceForm({ device, services, old, onDone }: { device: Device; services: Service[]; old?: Service; onDone: (changed: boolean) => void }) {
  const c = useConsole()
  const [d, setD] = useState<ServiceDraft>(
    old ? { name: old.name, protocol: old.protocol, port: String(old.port), target: old.target, record: !!old.record } : emptyDraft,
  )
  const [errors, setErrors] = useState<Record<string, string>>({})
  const [busy, error, run] = useAction()
  const set = (k: keyof ServiceDraft) => (e: Event) => setD({ ...d, [k]: (e.target as HTMLInputElement).value })
  const save = async (e: Event) => {
    e.preventDefault()
    const v = validateService(d, services.filter((s) => s.id !== old?.id))
    setErrors(v.errors)
    if (!v.body) return
    const body = v.body
    const ok = await run(() =>
      old ? updateService(c.org.id, device.id, old.id, body) : createService(c.org.id, device.id, body),
    )
    if (ok) onDone(true)
  }
  useEffect(() => {
    const first = document.querySelector<HTMLInputElement>(`[data-editing="${old?.id ?? 'new'}"] input`)
    first?.focus()
  }, [])
  const errorList = Object.values(errors)
  const formId = `svc-form-${old?.id ?? 'new'}`
  return (
    <tr class="editing" data-editing={old?.id ?? 'new'}>
      <td>
        <input aria-label="Name" name="service-name" form={formId} value={d.name} onInput={set('name')} maxLength={63} aria-invalid={!!errors.name} />
      </td>
      <td>
        <select aria-label="Protocol" name="service-protocol" form={formId} value={d.protocol} onChange={set('protocol')}>
          {PROTOCOLS.map((p) => (
            <option value={p}>{p}</option>
          ))}
        </select>
      </td>
      <td>
        <input aria-label="Port" name="service-port" form={formId} inputMode="numeric" value={d.port} onInput={set('port')} maxLength={12} class="port-input" aria-invalid={!!errors.port} />
      </td>
      <td>
        <input aria-label="Target" name="service-target" form={formId} value={d.target} onInput={set('target')} placeholder={`127.0.0.1:${d.port || 'port'}`} maxLength={300} aria-invalid={!!errors.target} />
      </td>
      <td colSpan={2}>
        <form id={formId} onSubmit={save} class="row-actions">
          <label class="check" title="Record every session of this service (asciicast, playable from the sessions page)">
            <input type="checkbox" name="service-record" checked={!!d.record} onChange={(e) => setD({ ...d, record: (e.target as HTMLInputElement).checked })} />
            Record
          </label>
          <Button type="submit" kind="primary" busy={busy}>
            {old ? 'Save' : 'Add'}
          </Button>
          <Button onClick={() => onDone(false)}>Cancel</Button>
        </form>
        {errorList.length > 0 && (
          <ul class="field-errors" role="alert">
            {errorList.map((e) => (
              <li>{e}</li>
            ))}
          </ul>
        )}
        <ErrorBox error={error} />
      </td>
    </tr>
  )
}

function DeleteService({ device, service, onDone }: { device: Device; service: Service; onDone: () => void }) {
  const c = useConsole()
  const [open, setOpen] = useState(false)
  const [busy, error, run] = useAction()
  return (
    <>
      <Button kind="danger" onClick={() => setOpen(true)}>
        Delete
      </Button>
      {open && (
        <Dialog title={`Delete ${service.name}?`} onClose={() => setOpen(false)}>
          <p>
            Port {service.port} on {device.name} stops being reachable at once; live sessions to it end. Its credentials and gateway ports are deleted.
          </p>
          <ErrorBox error={error} />
          <div class="actions">
            <Button onClick={() => setOpen(false)}>Cancel</Button>
            <Button
              kind="danger"
              busy={busy}
              onClick={async () => {
                if (await run(() => deleteService(c.org.id, device.id, service.id))) {
                  setOpen(false)
                  onDone()
                }
              }}
            >
              Delete {service.name}
            </Button>
          </div>
        </Dialog>
      )}
    </>
  )
}
