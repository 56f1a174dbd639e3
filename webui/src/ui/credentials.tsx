// Credentials of a device's services: what the engine logs in with when it
// opens a session. Secrets are write-only: the console sends them once and
// only ever shows their metadata.

import { useState } from 'preact/hooks'
import { del, get, orgPath, post } from '../lib/api'
import type { Credential, Device, Service } from '../lib/types'
import { Button, Empty, ErrorBox, Field, Time, useAction, useAsync } from './common'
import { useConsole } from './context'

const MAX_SECRET = 16 * 1024

export function CredentialsSection({ device, services, canManage }: { device: Device; services: Service[]; canManage: boolean }) {
  const c = useConsole()
  const creds = useAsync((signal) => get<Credential[]>(orgPath(c.org.id, 'credentials'), { signal }), [device.id, services.length])
  const byId = new Map(services.map((s) => [s.id, s]))
  const mine = (creds.data ?? []).filter((x) => x.scope_type === 'service' && byId.has(x.scope_id))
  const [adding, setAdding] = useState(false)
  const [busy, error, run] = useAction()
  return (
    <div>
      <p class="dim">Sessions on a service log in with its credential. Secrets are write-only.</p>
      <ErrorBox error={creds.error || error} />
      {mine.length === 0 && creds.data && <Empty>No credentials.</Empty>}
      {mine.length > 0 && (
        <table class="table">
          <thead>
            <tr>
              <th>Service</th>
              <th>Name</th>
              <th>User name</th>
              <th>Kind</th>
              <th>Updated</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {mine.map((x) => (
              <tr>
                <td>{byId.get(x.scope_id)?.name}</td>
                <td>{x.name}</td>
                <td>{x.username}</td>
                <td>{x.kind === 'private_key' ? 'private key' : 'password'}</td>
                <td>
                  <Time at={x.updated_at} />
                </td>
                <td>
                  {canManage && (
                    <Button kind="danger" busy={busy} onClick={() => void run(async () => { await del(orgPath(c.org.id, 'credentials', x.id)); creds.reload() })}>
                      Delete
                    </Button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {canManage && services.length > 0 && !adding && <Button onClick={() => setAdding(true)}>Add credential</Button>}
      {adding && <CredentialForm services={services} onDone={(ok) => { setAdding(false); if (ok) creds.reload() }} />}
    </div>
  )
}

function CredentialForm({ services, onDone }: { services: Service[]; onDone: (ok: boolean) => void }) {
  const c = useConsole()
  const [service, setService] = useState(services.find((s) => s.protocol === 'ssh')?.id ?? services[0].id)
  const [name, setName] = useState('login')
  const [username, setUsername] = useState('')
  const [kind, setKind] = useState('password')
  const [secret, setSecret] = useState('')
  const [errors, setErrors] = useState<Record<string, string>>({})
  const [busy, error, run] = useAction()
  const submit = async (e: Event) => {
    e.preventDefault()
    const errs: Record<string, string> = {}
    if (!/^[A-Za-z0-9._-]{1,63}$/.test(name.trim())) errs.name = 'Name: 1 to 63 letters, digits, “-”, “_” or “.”'
    if (!username.trim()) errs.username = 'User name: enter the account to log in as'
    if (!secret) errs.secret = kind === 'password' ? 'Password: enter it' : 'Private key: paste it (OpenSSH or PEM format)'
    if (secret.length > MAX_SECRET) errs.secret = 'Secret: too long'
    setErrors(errs)
    if (Object.keys(errs).length) return
    const ok = await run(() =>
      post(orgPath(c.org.id, 'credentials'), { scope_type: 'service', scope_id: service, name: name.trim(), username: username.trim(), kind, secret }),
    )
    if (ok) {
      setSecret('')
      onDone(true)
    }
  }
  return (
    <form class="card form-grid" onSubmit={submit}>
      <Field label="Service">
        <select name="cred-service" value={service} onChange={(e) => setService((e.target as HTMLSelectElement).value)}>
          {services.map((s) => (
            <option value={s.id}>
              {s.name} ({s.protocol}:{s.port})
            </option>
          ))}
        </select>
      </Field>
      <Field label="Name" error={errors.name}>
        <input name="cred-name" value={name} maxLength={63} onInput={(e) => setName((e.target as HTMLInputElement).value)} />
      </Field>
      <Field label="User name" error={errors.username}>
        <input name="cred-username" value={username} maxLength={256} autocomplete="off" onInput={(e) => setUsername((e.target as HTMLInputElement).value)} />
      </Field>
      <Field label="Kind">
        <select name="cred-kind" value={kind} onChange={(e) => setKind((e.target as HTMLSelectElement).value)}>
          <option value="password">Password</option>
          <option value="private_key">Private key</option>
        </select>
      </Field>
      <Field label={kind === 'password' ? 'Password' : 'Private key'} error={errors.secret}>
        {kind === 'password' ? (
          <input name="cred-secret" type="password" autocomplete="new-password" value={secret} maxLength={MAX_SECRET} onInput={(e) => setSecret((e.target as HTMLInputElement).value)} />
        ) : (
          <textarea name="cred-secret" rows={6} value={secret} maxLength={MAX_SECRET} spellcheck={false} onInput={(e) => setSecret((e.target as HTMLTextAreaElement).value)} />
        )}
      </Field>
      <ErrorBox error={error} />
      <div class="actions">
        <Button onClick={() => onDone(false)}>Cancel</Button>
        <Button type="submit" kind="primary" busy={busy}>
          Save credential
        </Button>
      </div>
    </form>
  )
}
