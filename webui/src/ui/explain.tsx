// "Explain access": who can reach which port of this device, and why
// (GET /api/v1/orgs/{org}/acl/explain). Admins can ask for any member;
// members for themselves.

import { useState } from 'preact/hooks'
import { get, orgPath, withQuery } from '../lib/api'
import { parsePort, describe } from '../lib/portspec'
import type { Device, Explanation, Service } from '../lib/types'
import { Button, ErrorBox, Field, useAction } from './common'
import { useConsole, userName } from './context'

export function ExplainPanel({ device, services }: { device: Device; services: Service[] }) {
  const c = useConsole()
  const [user, setUser] = useState(c.me.user.id)
  const [port, setPort] = useState(services[0] ? String(services[0].port) : '22')
  const [portError, setPortError] = useState('')
  const [result, setResult] = useState<Explanation | null>(null)
  const [busy, error, run] = useAction()
  const members = Object.values(c.members).sort((a, b) => a.email.localeCompare(b.email))
  // "folder:fld_x" -> "folder Servers": names where the console knows them.
  const label = (obj: string) => {
    const [type, id] = obj.split(':')
    const name =
      type === 'device' ? c.devices.find((d) => d.id === id)?.name : type === 'folder' ? c.folders.find((f) => f.id === id)?.name : type === 'organization' && id === c.org.id ? c.org.name : undefined
    return name ? `${type} ${name}` : obj
  }

  const ask = async (e: Event) => {
    e.preventDefault()
    const p = parsePort(port, 'Port')
    if (!p.ok) {
      setPortError(describe(p.errors[0]))
      return
    }
    setPortError('')
    setResult(null)
    await run(async () => {
      setResult(await get<Explanation>(withQuery(orgPath(c.org.id, 'acl', 'explain'), { user, device: device.id, port: p.value })))
    })
  }

  return (
    <div class="explain">
      <form class="explain-form" onSubmit={ask}>
        <Field label="User">
          {c.isAdmin ? (
            <select name="explain-user" value={user} onChange={(e) => setUser((e.target as HTMLSelectElement).value)}>
              <option value={c.me.user.id}>{c.me.user.email} (you)</option>
              {members
                .filter((m) => m.user_id !== c.me.user.id)
                .map((m) => (
                  <option value={m.user_id}>{m.email}</option>
                ))}
            </select>
          ) : (
            <input value={`${c.me.user.email} (you)`} disabled />
          )}
        </Field>
        <Field label="Port" error={portError}>
          <input name="explain-port" list={`ports-${device.id}`} value={port} inputMode="numeric" maxLength={12} onInput={(e) => setPort((e.target as HTMLInputElement).value)} />
          <datalist id={`ports-${device.id}`}>
            {services.map((s) => (
              <option value={String(s.port)}>{s.name}</option>
            ))}
          </datalist>
        </Field>
        <Button type="submit" busy={busy}>
          Explain
        </Button>
      </form>
      <ErrorBox error={error} />
      {result && (
        <div class={`explain-result ${result.allowed ? 'allowed' : 'denied'}`} data-testid="explain-result">
          <div class="explain-verdict">
            {result.allowed ? '✓ Allowed' : '✗ Denied'}: {userName(c, result.user_id)} → {device.name}:{result.port}
            {result.service && ` (${result.service})`}
          </div>
          <p>{result.reason}</p>
          <dl class="facts">
            {result.relation && (
              <div class="fact">
                <dt>Requires</dt>
                <dd>{result.relation} on the device</dd>
              </div>
            )}
            <div class="fact">
              <dt>Holds</dt>
              <dd>{result.holds.length ? result.holds.join(', ') : 'nothing'}</dd>
            </div>
            {result.granted_on && (
              <div class="fact">
                <dt>Granted on</dt>
                <dd title={result.granted_on}>{label(result.granted_on)}</dd>
              </div>
            )}
            <div class="fact">
              <dt>Inherits through</dt>
              <dd>
                {result.chain.map((x, i) => (
                  <span title={x}>
                    {i > 0 && ' → '}
                    {label(x)}
                  </span>
                ))}
              </dd>
            </div>
          </dl>
          {result.allowed !== result.compiled && <p class="dim">The compiled port table has not caught up yet; it will within a moment.</p>}
        </div>
      )}
    </div>
  )
}
