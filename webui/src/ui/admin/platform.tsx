// Platform administration: every organization and every user (platform
// admins only).

import { useState } from 'preact/hooks'
import { get, orgPath, patch, post } from '../../lib/api'
import type { Organization, User } from '../../lib/types'
import { Button, ErrorBox, Field, Loading, Time, useAction, useAsync } from '../common'
import { useConsole } from '../context'

export function OrgsSection() {
  const c = useConsole()
  const list = useAsync((signal) => get<Organization[]>('/api/v1/orgs', { signal }), [])
  const [name, setName] = useState('')
  const [slug, setSlug] = useState('')
  const [busy, error, run] = useAction()
  const create = async (e: Event) => {
    e.preventDefault()
    const ok = await run(async () => {
      const o = await post<Organization>('/api/v1/orgs', { name: name.trim(), slug: slug.trim() })
      // The creator administers it, so it shows in their organization switcher.
      await post(orgPath(o.id, 'members'), { user_id: c.me.user.id, role: 'admin' })
    })
    if (ok) {
      setName('')
      setSlug('')
      list.reload()
      c.notify('Organization created. Switch to it in the status bar after reloading.')
    }
  }
  return (
    <div>
      <form class="toolbar" onSubmit={create}>
        <Field label="Name">
          <input name="org-name" value={name} maxLength={100} onInput={(e) => setName((e.target as HTMLInputElement).value)} />
        </Field>
        <Field label="Slug">
          <input name="org-slug" value={slug} maxLength={63} placeholder="acme" onInput={(e) => setSlug((e.target as HTMLInputElement).value)} />
        </Field>
        <Button type="submit" kind="primary" busy={busy} disabled={!name.trim() || !slug.trim()}>
          Create organization
        </Button>
      </form>
      <ErrorBox error={error || list.error} />
      {!list.data && !list.error && <Loading what="organizations" />}
      {list.data && (
        <table class="table">
          <thead>
            <tr>
              <th>Name</th>
              <th>Slug</th>
              <th>Your role</th>
              <th>Created</th>
            </tr>
          </thead>
          <tbody>
            {list.data.map((o) => (
              <tr>
                <td>{o.name}</td>
                <td class="mono">{o.slug}</td>
                <td>{o.role || <span class="dim">not a member</span>}</td>
                <td>
                  <Time at={o.created_at} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  )
}

export function UsersSection() {
  const c = useConsole()
  const list = useAsync((signal) => get<User[]>('/api/v1/users', { signal }), [])
  const [busy, error, run] = useAction()
  const update = (u: User, body: { disabled?: boolean; platform_admin?: boolean }) =>
    run(async () => {
      await patch(`/api/v1/users/${encodeURIComponent(u.id)}`, body)
      list.reload()
    })
  return (
    <div>
      <p class="dim">Disabling a user signs them out everywhere at once.</p>
      <ErrorBox error={error || list.error} />
      {!list.data && !list.error && <Loading what="users" />}
      {list.data && (
        <table class="table">
          <thead>
            <tr>
              <th>Email</th>
              <th>Name</th>
              <th>Signs in with</th>
              <th>Last sign-in</th>
              <th>Platform admin</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {list.data.map((u) => (
              <tr class={u.disabled ? 'row-disabled' : ''}>
                <td>{u.email}</td>
                <td>{u.display_name}</td>
                <td class="mono small">{u.issuer}</td>
                <td>
                  <Time at={u.last_login_at} never="never" />
                </td>
                <td>{u.platform_admin ? 'yes' : 'no'}</td>
                <td class="row-actions">
                  {u.id !== c.me.user.id && (
                    <>
                      <Button busy={busy} onClick={() => void update(u, { disabled: !u.disabled })}>
                        {u.disabled ? 'Enable' : 'Disable'}
                      </Button>
                      <Button busy={busy} onClick={() => void update(u, { platform_admin: !u.platform_admin })}>
                        {u.platform_admin ? 'Revoke platform admin' : 'Make platform admin'}
                      </Button>
                    </>
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
