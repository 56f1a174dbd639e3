// Members of the organization: roles, add (by user id, or picked from every
// user for platform admins), remove.

import { useState } from 'preact/hooks'
import { del, get, orgPath, patch, post } from '../../lib/api'
import type { Member, User } from '../../lib/types'
import { Button, Empty, ErrorBox, Field, Loading, Time, useAction, useAsync } from '../common'
import { useConsole } from '../context'

export function MembersSection() {
  const c = useConsole()
  const list = useAsync((signal) => get<Member[]>(orgPath(c.org.id, 'members'), { signal }), [])
  const users = useAsync(
    (signal) => (c.me.user.platform_admin ? get<User[]>('/api/v1/users', { signal }) : Promise.resolve([] as User[])),
    [],
  )
  const [userId, setUserId] = useState('')
  const [role, setRole] = useState('member')
  const [busy, error, run] = useAction()
  const members = list.data ?? []
  const candidates = (users.data ?? []).filter((u) => !members.some((m) => m.user_id === u.id) && !u.disabled)

  const add = async (e: Event) => {
    e.preventDefault()
    if (await run(() => post(orgPath(c.org.id, 'members'), { user_id: userId.trim(), role }))) {
      setUserId('')
      list.reload()
    }
  }
  const setMemberRole = (m: Member, r: string) => run(async () => { await patch(orgPath(c.org.id, 'members', m.user_id), { role: r }); list.reload() })
  const remove = (m: Member) => run(async () => { await del(orgPath(c.org.id, 'members', m.user_id)); list.reload() })

  return (
    <div>
      <form class="toolbar" onSubmit={add}>
        <Field label="User" hint={c.me.user.platform_admin ? undefined : 'The user id (users appear after their first sign-in).'}>
          {candidates.length > 0 ? (
            <select name="member-user" value={userId} onChange={(e) => setUserId((e.target as HTMLSelectElement).value)}>
              <option value="">Choose a user…</option>
              {candidates.map((u) => (
                <option value={u.id}>{u.email}</option>
              ))}
            </select>
          ) : (
            <input name="member-user" value={userId} placeholder="usr_…" maxLength={128} onInput={(e) => setUserId((e.target as HTMLInputElement).value)} />
          )}
        </Field>
        <Field label="Role">
          <select name="member-role" value={role} onChange={(e) => setRole((e.target as HTMLSelectElement).value)}>
            <option value="member">member</option>
            <option value="admin">admin</option>
          </select>
        </Field>
        <Button type="submit" kind="primary" busy={busy} disabled={!userId.trim()}>
          Add member
        </Button>
      </form>
      <ErrorBox error={error || list.error} />
      {!list.data && !list.error && <Loading what="members" />}
      {list.data?.length === 0 && <Empty>No members.</Empty>}
      {members.length > 0 && (
        <table class="table">
          <thead>
            <tr>
              <th>Email</th>
              <th>Name</th>
              <th>Role</th>
              <th>Since</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {members.map((m) => (
              <tr>
                <td>{m.email}</td>
                <td>{m.display_name}</td>
                <td>
                  <select aria-label={`Role of ${m.email}`} value={m.role} disabled={busy} onChange={(e) => void setMemberRole(m, (e.target as HTMLSelectElement).value)}>
                    <option value="member">member</option>
                    <option value="admin">admin</option>
                  </select>
                </td>
                <td>
                  <Time at={m.created_at} />
                </td>
                <td>
                  {m.user_id !== c.me.user.id && (
                    <Button kind="danger" onClick={() => void remove(m)}>
                      Remove
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
