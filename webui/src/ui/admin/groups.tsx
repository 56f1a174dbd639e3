// Groups: create, delete, and their members (users and nested groups).

import { useState } from 'preact/hooks'
import { del, get, orgPath, post } from '../../lib/api'
import type { Group, GroupMember } from '../../lib/types'
import { Button, Dialog, Empty, ErrorBox, Field, Loading, Time, useAction, useAsync } from '../common'
import { useConsole } from '../context'

export function GroupsSection() {
  const c = useConsole()
  const list = useAsync((signal) => get<Group[]>(orgPath(c.org.id, 'groups'), { signal }), [])
  const [name, setName] = useState('')
  const [open, setOpen] = useState<Group | null>(null)
  const [busy, error, run] = useAction()
  const create = async (e: Event) => {
    e.preventDefault()
    if (await run(() => post(orgPath(c.org.id, 'groups'), { name: name.trim() }))) {
      setName('')
      list.reload()
    }
  }
  return (
    <div>
      <form class="toolbar" onSubmit={create}>
        <Field label="Name">
          <input name="group-name" value={name} maxLength={100} onInput={(e) => setName((e.target as HTMLInputElement).value)} />
        </Field>
        <Button type="submit" kind="primary" busy={busy} disabled={!name.trim()}>
          Create group
        </Button>
      </form>
      <ErrorBox error={error || list.error} />
      {!list.data && !list.error && <Loading what="groups" />}
      {list.data?.length === 0 && <Empty>No groups.</Empty>}
      {list.data && list.data.length > 0 && (
        <table class="table">
          <thead>
            <tr>
              <th>Name</th>
              <th>Created</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {list.data.map((g) => (
              <tr>
                <td>{g.name}</td>
                <td>
                  <Time at={g.created_at} />
                </td>
                <td class="row-actions">
                  <Button onClick={() => setOpen(g)}>Members</Button>
                  <Button kind="danger" onClick={() => void run(async () => { await del(orgPath(c.org.id, 'groups', g.id)); list.reload() })}>
                    Delete
                  </Button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {open && <GroupMembers group={open} groups={list.data ?? []} onClose={() => setOpen(null)} />}
    </div>
  )
}

function GroupMembers({ group, groups, onClose }: { group: Group; groups: Group[]; onClose: () => void }) {
  const c = useConsole()
  const path = orgPath(c.org.id, 'groups', group.id, 'members')
  const list = useAsync((signal) => get<GroupMember[]>(path, { signal }), [group.id])
  const [who, setWho] = useState('')
  const [busy, error, run] = useAction()
  const add = async (e: Event) => {
    e.preventDefault()
    const [kind, id] = who.split(':')
    if (await run(() => post(path, kind === 'group' ? { group_id: id } : { user_id: id }))) {
      setWho('')
      list.reload()
    }
  }
  return (
    <Dialog title={`Members of ${group.name}`} onClose={onClose}>
      <ErrorBox error={error || list.error} />
      {!list.data && <Loading what="members" />}
      {list.data?.length === 0 && <Empty>Nobody yet.</Empty>}
      <ul class="plain-list">
        {(list.data ?? []).map((m) => (
          <li>
            {m.group_id ? `Group: ${m.name}` : m.name}
            <Button kind="danger" onClick={() => void run(async () => { await del(`${path}/${encodeURIComponent(m.user_id ?? m.group_id ?? '')}`); list.reload() })}>
              Remove
            </Button>
          </li>
        ))}
      </ul>
      <form class="toolbar" onSubmit={add}>
        <Field label="Add">
          <select name="group-member" value={who} onChange={(e) => setWho((e.target as HTMLSelectElement).value)}>
            <option value="">Choose a member or group…</option>
            {Object.values(c.members).map((m) => (
              <option value={`user:${m.user_id}`}>{m.email}</option>
            ))}
            {groups
              .filter((g) => g.id !== group.id)
              .map((g) => (
                <option value={`group:${g.id}`}>Group: {g.name}</option>
              ))}
          </select>
        </Field>
        <Button type="submit" kind="primary" busy={busy} disabled={!who}>
          Add
        </Button>
      </form>
    </Dialog>
  )
}
