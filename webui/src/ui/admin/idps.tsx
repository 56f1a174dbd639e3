// Identity providers of the organization: users whose email is in an IdP's
// domains sign in there. The client secret is write-only.

import { useState } from 'preact/hooks'
import { del, get, orgPath, post } from '../../lib/api'
import type { IdP } from '../../lib/types'
import { Button, Empty, ErrorBox, Field, Loading, Time, useAction, useAsync } from '../common'
import { useConsole } from '../context'

export function IdPsSection() {
  const c = useConsole()
  const list = useAsync((signal) => get<IdP[]>(orgPath(c.org.id, 'idps'), { signal }), [])
  const [f, setF] = useState({ name: '', issuer: '', client_id: '', client_secret: '', domains: '', group_claim: '' })
  const [errors, setErrors] = useState<Record<string, string>>({})
  const [busy, error, run] = useAction()
  const set = (k: keyof typeof f) => (e: Event) => setF({ ...f, [k]: (e.target as HTMLInputElement).value })

  const create = async (e: Event) => {
    e.preventDefault()
    const errs: Record<string, string> = {}
    if (!f.name.trim()) errs.name = 'Name: enter a name people recognise, e.g. "Okta"'
    try {
      const u = new URL(f.issuer.trim())
      if (u.protocol !== 'https:' && u.hostname !== 'localhost' && u.hostname !== '127.0.0.1') errs.issuer = 'Issuer: must be an https:// URL'
    } catch {
      errs.issuer = 'Issuer: enter the issuer URL, e.g. https://login.example.com'
    }
    if (!f.client_id.trim()) errs.client_id = 'Client ID: enter the client ID registered at the IdP'
    const domains = f.domains.split(/[\s,]+/).filter(Boolean)
    if (domains.length === 0) errs.domains = 'Domains: enter at least one email domain, e.g. example.com'
    else if (domains.some((d) => !/^[a-z0-9.-]+\.[a-z]{2,}$/i.test(d))) errs.domains = 'Domains: each must look like example.com'
    setErrors(errs)
    if (Object.keys(errs).length) return
    const body = {
      name: f.name.trim(),
      issuer: f.issuer.trim(),
      client_id: f.client_id.trim(),
      client_secret: f.client_secret || undefined,
      domains: domains.map((d) => d.toLowerCase()),
      group_claim: f.group_claim.trim() || undefined,
    }
    if (await run(() => post(orgPath(c.org.id, 'idps'), body))) {
      setF({ name: '', issuer: '', client_id: '', client_secret: '', domains: '', group_claim: '' })
      list.reload()
    }
  }

  return (
    <div>
      <p class="dim">
        Register the console at the IdP with the redirect URI <code>{location.origin}/api/v1/auth/callback</code>.
      </p>
      <ErrorBox error={list.error} />
      {!list.data && !list.error && <Loading what="identity providers" />}
      {list.data?.length === 0 && <Empty>No identity providers: members sign in with local accounts.</Empty>}
      {list.data && list.data.length > 0 && (
        <table class="table">
          <thead>
            <tr>
              <th>Name</th>
              <th>Issuer</th>
              <th>Client ID</th>
              <th>Domains</th>
              <th>Secret</th>
              <th>Updated</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {list.data.map((p) => (
              <tr>
                <td>{p.name}</td>
                <td class="mono">{p.issuer}</td>
                <td class="mono">{p.client_id}</td>
                <td>{p.domains.join(', ')}</td>
                <td>{p.has_client_secret ? 'set' : 'none (public client)'}</td>
                <td>
                  <Time at={p.updated_at} />
                </td>
                <td>
                  <Button kind="danger" onClick={() => void run(async () => { await del(orgPath(c.org.id, 'idps', p.id)); list.reload() })}>
                    Delete
                  </Button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <h2>Add an identity provider</h2>
      <form class="card form-grid" onSubmit={create}>
        <Field label="Name" error={errors.name}>
          <input name="idp-name" value={f.name} maxLength={100} onInput={set('name')} />
        </Field>
        <Field label="Issuer URL" error={errors.issuer}>
          <input name="idp-issuer" value={f.issuer} maxLength={500} placeholder="https://login.example.com" onInput={set('issuer')} />
        </Field>
        <Field label="Client ID" error={errors.client_id}>
          <input name="idp-client-id" value={f.client_id} maxLength={500} onInput={set('client_id')} />
        </Field>
        <Field label="Client secret" hint="Write-only: stored sealed, never shown again.">
          <input name="idp-client-secret" type="password" autocomplete="new-password" value={f.client_secret} maxLength={4096} onInput={set('client_secret')} />
        </Field>
        <Field label="Email domains" error={errors.domains} hint="Comma-separated; a domain belongs to one IdP.">
          <input name="idp-domains" value={f.domains} maxLength={2000} placeholder="example.com" onInput={set('domains')} />
        </Field>
        <Field label="Group claim" hint="Optional: the ID token claim that lists the user's groups.">
          <input name="idp-group-claim" value={f.group_claim} maxLength={100} onInput={set('group_claim')} />
        </Field>
        <ErrorBox error={error} />
        <div class="actions">
          <Button type="submit" kind="primary" busy={busy}>
            Add identity provider
          </Button>
        </div>
      </form>
    </div>
  )
}
