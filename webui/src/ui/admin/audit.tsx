// The audit log, newest first, with filters and "load more" pagination.

import { useState } from 'preact/hooks'
import { get, orgPath, withQuery } from '../../lib/api'
import type { AuditEvent, AuditPage as Page } from '../../lib/types'
import { Button, Empty, ErrorBox, Field, Id, Loading, useAction } from '../common'
import { useConsole, userName } from '../context'
import { useEffect } from 'preact/hooks'

interface Filters {
  actor: string
  action: string
  object: string
  result: string
  since: string
  until: string
}

const empty: Filters = { actor: '', action: '', object: '', result: '', since: '', until: '' }

export function AuditPage() {
  const c = useConsole()
  const [draft, setDraft] = useState<Filters>(empty)
  const [filters, setFilters] = useState<Filters>(empty)
  const [events, setEvents] = useState<AuditEvent[] | null>(null)
  const [cursor, setCursor] = useState<string | undefined>()
  const [busy, error, run] = useAction()
  const set = (k: keyof Filters) => (e: Event) => setDraft({ ...draft, [k]: (e.target as HTMLInputElement).value })

  const load = (f: Filters, after?: string) =>
    run(async () => {
      const page = await get<Page>(
        withQuery(orgPath(c.org.id, 'audit'), {
          actor: f.actor,
          action: f.action,
          object: f.object,
          result: f.result,
          since: rfc3339(f.since),
          until: rfc3339(f.until),
          limit: 100,
          cursor: after,
        }),
      )
      setEvents((cur) => (after && cur ? [...cur, ...page.events] : page.events))
      setCursor(page.next_cursor || undefined)
    })

  useEffect(() => void load(filters), [filters])

  return (
    <div class="page">
      <h1>Audit log</h1>
      <form
        class="toolbar wrap"
        onSubmit={(e) => {
          e.preventDefault()
          setFilters({ ...draft })
        }}
      >
        <Field label="Actor">
          <select name="audit-actor" value={draft.actor} onChange={set('actor')}>
            <option value="">anyone</option>
            {Object.values(c.members).map((m) => (
              <option value={m.user_id}>{m.email}</option>
            ))}
          </select>
        </Field>
        <Field label="Action">
          <input name="audit-action" value={draft.action} placeholder="e.g. service.create" maxLength={100} onInput={set('action')} />
        </Field>
        <Field label="Object ID">
          <input name="audit-object" value={draft.object} maxLength={128} onInput={set('object')} />
        </Field>
        <Field label="Result">
          <select name="audit-result" value={draft.result} onChange={set('result')}>
            <option value="">any</option>
            <option value="allowed">allowed</option>
            <option value="denied">denied</option>
            <option value="error">error</option>
          </select>
        </Field>
        <Field label="Since">
          <input name="audit-since" type="datetime-local" value={draft.since} onInput={set('since')} />
        </Field>
        <Field label="Until">
          <input name="audit-until" type="datetime-local" value={draft.until} onInput={set('until')} />
        </Field>
        <Button type="submit" kind="primary" busy={busy}>
          Apply filters
        </Button>
        <Button
          onClick={() => {
            setDraft(empty)
            setFilters(empty)
          }}
        >
          Clear
        </Button>
      </form>
      <ErrorBox error={error} />
      {!events && !error && <Loading what="events" />}
      {events?.length === 0 && <Empty>No events match.</Empty>}
      {events && events.length > 0 && (
        <table class="table audit">
          <thead>
            <tr>
              <th>When</th>
              <th>Actor</th>
              <th>Action</th>
              <th>Object</th>
              <th>Result</th>
              <th>Source</th>
            </tr>
          </thead>
          <tbody>
            {events.map((e) => (
              <tr class={`result-${e.result}`}>
                <td class="nowrap" title={e.created_at}>
                  {new Date(e.created_at).toLocaleString()}
                </td>
                <td>{e.actor_id ? userName(c, e.actor_id) : <span class="dim">{e.actor_type}</span>}</td>
                <td class="mono">{e.action}</td>
                <td>
                  {e.object_type} <Id id={e.object_id} />
                </td>
                <td>
                  <span class={`pill pill-${e.result === 'allowed' ? 'online' : 'error'}`}>{e.result}</span>
                  {e.reason && <div class="dim small">{e.reason}</div>}
                </td>
                <td class="mono small">{e.source_ip}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {cursor && (
        <Button busy={busy} onClick={() => void load(filters, cursor)}>
          Load more
        </Button>
      )}
    </div>
  )
}

/** datetime-local ("2026-01-02T15:04") in local time to RFC 3339. */
function rfc3339(local: string): string | undefined {
  if (!local) return undefined
  const d = new Date(local)
  return Number.isNaN(d.getTime()) ? undefined : d.toISOString().replace(/\.\d{3}Z$/, 'Z')
}
