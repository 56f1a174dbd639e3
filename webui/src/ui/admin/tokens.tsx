// Enrollment tokens: create one (shown once, with the install commands for
// .deb, .msi and a plain binary), list and revoke.

import { useState } from 'preact/hooks'
import { del, get, orgPath, post } from '../../lib/api'
import { installCommands } from '../../lib/install'
import type { CreatedEnrollmentToken, EnrollmentToken } from '../../lib/types'
import { Button, CopyField, Empty, ErrorBox, Field, Id, Loading, Time, useAction, useAsync } from '../common'
import { useConsole } from '../context'

const TTLS = [
  ['15m', '15 minutes'],
  ['1h', '1 hour'],
  ['8h', '8 hours'],
  ['24h', '24 hours'],
] as const

export function TokensSection() {
  const c = useConsole()
  const list = useAsync((signal) => get<EnrollmentToken[]>(orgPath(c.org.id, 'enrollment-tokens'), { signal }), [])
  const [folder, setFolder] = useState('')
  const [ttl, setTtl] = useState('1h')
  const [created, setCreated] = useState<CreatedEnrollmentToken | null>(null)
  const [busy, error, run] = useAction()
  const folderName = (id?: string) => (id ? (c.folders.find((f) => f.id === id)?.name ?? id) : 'top level')
  const deviceName = (id?: string) => (id ? (c.devices.find((d) => d.id === id)?.name ?? id) : '')

  const create = async (e: Event) => {
    e.preventDefault()
    setCreated(null)
    await run(async () => {
      setCreated(await post<CreatedEnrollmentToken>(orgPath(c.org.id, 'enrollment-tokens'), { folder_id: folder || undefined, ttl }))
      list.reload()
    })
  }

  return (
    <div>
      <p class="dim">A token enrolls one device, once, before it expires. Run one of the commands below on the new device.</p>
      <form class="toolbar" onSubmit={create}>
        <Field label="Folder">
          <select name="token-folder" value={folder} onChange={(e) => setFolder((e.target as HTMLSelectElement).value)}>
            <option value="">(top level)</option>
            {c.folders.map((f) => (
              <option value={f.id}>{f.name}</option>
            ))}
          </select>
        </Field>
        <Field label="Valid for">
          <select name="token-ttl" value={ttl} onChange={(e) => setTtl((e.target as HTMLSelectElement).value)}>
            {TTLS.map(([v, l]) => (
              <option value={v}>{l}</option>
            ))}
          </select>
        </Field>
        <Button type="submit" kind="primary" busy={busy}>
          Create enrollment token
        </Button>
      </form>
      <ErrorBox error={error} />
      {created && (
        <div class="card created-token" data-testid="created-token">
          <h2>Token created</h2>
          <p>
            It is shown only now. It expires <Time at={created.expires_at} /> and enrolls into {folderName(created.folder_id)}.
          </p>
          <CopyField label="Token" value={created.token} />
          {installCommands(/--server (\S+)/.exec(created.command)?.[1] ?? location.origin, created.token, created.command).map((cmd) => (
            <CopyField key={cmd.id} label={cmd.label} value={cmd.command} multiline />
          ))}
        </div>
      )}
      <h2>Tokens</h2>
      <ErrorBox error={list.error} />
      {!list.data && !list.error && <Loading what="tokens" />}
      {list.data?.length === 0 && <Empty>No enrollment tokens.</Empty>}
      {list.data && list.data.length > 0 && (
        <table class="table">
          <thead>
            <tr>
              <th>Token</th>
              <th>Folder</th>
              <th>Created</th>
              <th>Expires</th>
              <th>Used</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {list.data.map((t) => (
              <tr>
                <td>
                  <Id id={t.id} />
                </td>
                <td>{folderName(t.folder_id)}</td>
                <td>
                  <Time at={t.created_at} />
                </td>
                <td>
                  <Time at={t.expires_at} />
                </td>
                <td>{t.used_at ? <>enrolled {deviceName(t.device_id)} <Time at={t.used_at} /></> : <span class="dim">unused</span>}</td>
                <td>
                  {!t.used_at && (
                    <Button kind="danger" onClick={() => void run(async () => { await del(orgPath(c.org.id, 'enrollment-tokens', t.id)); list.reload() })}>
                      Revoke
                    </Button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  )
}
