// Grants: who (a user or group) holds which action on the organization, a
// folder or a device. Actions inherit org -> folder -> sub-folder -> device.

import { useState } from 'preact/hooks'
import { del, get, orgPath, post, withQuery } from '../../lib/api'
import { ACTIONS, type Grant, type Group } from '../../lib/types'
import { Button, Empty, ErrorBox, Field, Loading, Time, useAction, useAsync } from '../common'
import { useConsole, userName } from '../context'

export function GrantsSection() {
  const c = useConsole()
  const [filterObject, setFilterObject] = useState('')
  const list = useAsync(
    (signal) => {
      const [object_type, object_id] = filterObject ? filterObject.split(':') : []
      return get<Grant[]>(withQuery(orgPath(c.org.id, 'grants'), { object_type, object_id }), { signal })
    },
    [filterObject],
  )
  const groups = useAsync((signal) => get<Group[]>(orgPath(c.org.id, 'groups'), { signal }), [])
  const [subject, setSubject] = useState('')
  const [relation, setRelation] = useState('connect')
  const [object, setObject] = useState('organization:')
  const [busy, error, run] = useAction()

  const objectName = (type: string, id: string) => {
    if (type === 'organization') return `Organization ${c.org.name}`
    if (type === 'folder') return `Folder ${c.folders.find((f) => f.id === id)?.name ?? id}`
    if (type === 'device') return `Device ${c.devices.find((d) => d.id === id)?.name ?? id}`
    return `${type} ${id}`
  }
  const subjectName = (type: string, id: string) => (type === 'group' ? `Group ${groups.data?.find((g) => g.id === id)?.name ?? id}` : userName(c, id))
  const relations = object.startsWith('organization') ? ['admin', 'member', ...ACTIONS] : [...ACTIONS]

  const create = async (e: Event) => {
    e.preventDefault()
    const [subject_type, subject_id] = subject.split(':')
    const [object_type, object_id] = object.split(':')
    if (await run(() => post(orgPath(c.org.id, 'grants'), { subject_type, subject_id, relation, object_type, object_id: object_id || undefined }))) {
      list.reload()
    }
  }
  const objects = (
    <>
      <option value="organization:">Organization {c.org.name}</option>
      {c.folders.map((f) => (
        <option value={`folder:${f.id}`}>Folder {f.name}</option>
      ))}
      {c.devices.map((d) => (
        <option value={`device:${d.id}`}>Device {d.name}</option>
      ))}
    </>
  )
  return (
    <div>
      <p class="dim">Actions: view, connect (open sessions), edit, delete, manage (services, placement, grants), view_secrets.</p>
      <form class="toolbar" onSubmit={create}>
        <Field label="Who">
          <select name="grant-subject" value={subject} onChange={(e) => setSubject((e.target as HTMLSelectElement).value)}>
            <option value="">Choose…</option>
            {Object.values(c.members).map((m) => (
              <option value={`user:${m.user_id}`}>{m.email}</option>
            ))}
            {(groups.data ?? []).map((g) => (
              <option value={`group:${g.id}`}>Group {g.name}</option>
            ))}
          </select>
        </Field>
        <Field label="May">
          <select name="grant-relation" value={relation} onChange={(e) => setRelation((e.target as HTMLSelectElement).value)}>
            {relations.map((r) => (
              <option value={r}>{r}</option>
            ))}
          </select>
        </Field>
        <Field label="On">
          <select name="grant-object" value={object} onChange={(e) => setObject((e.target as HTMLSelectElement).value)}>
            {objects}
          </select>
        </Field>
        <Button type="submit" kind="primary" busy={busy} disabled={!subject}>
          Grant
        </Button>
      </form>
      <ErrorBox error={error || list.error} />
      <div class="toolbar">
        <Field label="Show grants on">
          <select value={filterObject} onChange={(e) => setFilterObject((e.target as HTMLSelectElement).value)}>
            <option value="">everything</option>
            {objects}
          </select>
        </Field>
      </div>
      {!list.data && !list.error && <Loading what="grants" />}
      {list.data?.length === 0 && <Empty>No grants.</Empty>}
      {list.data && list.data.length > 0 && (
        <table class="table">
          <thead>
            <tr>
              <th>Who</th>
              <th>May</th>
              <th>On</th>
              <th>Since</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {list.data.map((g) => (
              <tr>
                <td>{subjectName(g.subject_type, g.subject_id)}</td>
                <td>{g.relation}</td>
                <td>{objectName(g.object_type, g.object_id)}</td>
                <td>
                  <Time at={g.created_at} />
                </td>
                <td>
                  <Button kind="danger" onClick={() => void run(async () => { await del(orgPath(c.org.id, 'grants', g.id)); list.reload() })}>
                    Revoke
                  </Button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  )
}
