// The sessions page: the caller's sessions (and, for admins, everyone's in
// the organization), live and ended, with resume, observe, share, terminate
// and the recording.

import { useState } from 'preact/hooks'
import { del, get, orgPath, post, withQuery } from '../lib/api'
import type { Group, Session } from '../lib/types'
import { Button, Dialog, Empty, ErrorBox, Field, Loading, Time, useAction, useAsync } from './common'
import { useConsole, userName } from './context'

export function SessionsPage({ active }: { active: boolean }) {
  const c = useConsole()
  const [scope, setScope] = useState<'mine' | 'all'>('mine')
  const [state, setState] = useState<'live' | 'ended' | 'all'>('live')
  const list = useAsync(
    (signal) => get<Session[]>(withQuery(orgPath(c.org.id, 'sessions'), { scope, state }), { signal, quiet: true }),
    [scope, state],
    active ? 5000 : 0,
  )
  const missing = list.error && /does not have that feature/.test(list.error)
  return (
    <div class="page">
      <header class="page-head">
        <h1>Sessions</h1>
        <div class="segmented" role="group" aria-label="Whose sessions">
          <button aria-pressed={scope === 'mine'} onClick={() => setScope('mine')}>
            Mine
          </button>
          {c.isAdmin && (
            <button aria-pressed={scope === 'all'} onClick={() => setScope('all')}>
              Everyone's
            </button>
          )}
        </div>
        <div class="segmented" role="group" aria-label="Session state">
          {(['live', 'ended', 'all'] as const).map((s) => (
            <button aria-pressed={state === s} onClick={() => setState(s)}>
              {s === 'live' ? 'Live' : s === 'ended' ? 'Ended' : 'All'}
            </button>
          ))}
        </div>
      </header>
      <p class="dim">A terminal keeps running on the device after its tab closes. Resume it here, from this or any other browser.</p>
      {missing ? <Empty>This engine does not serve sessions yet.</Empty> : <ErrorBox error={list.error} />}
      {!list.data && !list.error && <Loading what="sessions" />}
      {list.data && list.data.length === 0 && <Empty>No {state === 'all' ? '' : state} sessions.</Empty>}
      {list.data && list.data.length > 0 && (
        <table class="table sessions">
          <thead>
            <tr>
              <th>Session</th>
              <th>Owner</th>
              <th>State</th>
              <th>Started</th>
              <th>Last activity</th>
              <th>Viewers</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {list.data.map((s) => (
              <SessionRow key={s.id} s={s} onChange={list.reload} />
            ))}
          </tbody>
        </table>
      )}
    </div>
  )
}

function SessionRow({ s, onChange }: { s: Session; onChange: () => void }) {
  const c = useConsole()
  const [sharing, setSharing] = useState(false)
  const [confirm, setConfirm] = useState(false)
  const [busy, error, run] = useAction()
  const live = s.state !== 'ended'
  const owner = s.owner_id === c.me.user.id
  const recording = orgPath(c.org.id, 'sessions', s.id, 'recording')
  return (
    <tr data-session={s.id} data-session-name={`${s.device_name}/${s.service}`}>
      <td>
        <strong>
          {s.device_name}/{s.service}
        </strong>
        <div class="dim small mono">{s.id}</div>
      </td>
      <td>{userName(c, s.owner_id)}</td>
      <td>
        <span class={`pill pill-${live ? 'online' : 'offline'}`}>{s.state}</span>
        {s.end_reason && <div class="dim small">{s.end_reason}</div>}
      </td>
      <td>
        <Time at={s.started_at} />
      </td>
      <td>
        <Time at={s.ended_at || s.last_activity} />
      </td>
      <td>
        {s.viewers?.length ? s.viewers.map((v) => v.role).join(', ') : <span class="dim">none</span>}
      </td>
      <td class="row-actions">
        {live && s.can_drive && (
          <Button kind="primary" onClick={() => c.attach(s, 'driver')}>
            Resume
          </Button>
        )}
        {live && <Button onClick={() => c.attach(s, 'observer')}>Observe</Button>}
        {live && (owner || c.isAdmin) && <Button onClick={() => setSharing(true)}>Share</Button>}
        {live && (owner || c.isAdmin) && (
          <Button kind="danger" onClick={() => setConfirm(true)}>
            Terminate
          </Button>
        )}
        {s.recorded && <Button onClick={() => c.open({ kind: 'rec', id: s.id })}>Play recording</Button>}
        {s.recorded && (
          <a class="btn btn-plain" href={recording} download={`${s.device_name}-${s.service}-${s.id}.cast`}>
            Download
          </a>
        )}
        <ErrorBox error={error} />
        {sharing && <ShareDialog s={s} onClose={() => setSharing(false)} />}
        {confirm && (
          <Dialog title="Terminate this session?" onClose={() => setConfirm(false)}>
            <p>
              The shell on {s.device_name} is closed and everyone watching is disconnected. Unsaved work in it is lost.
            </p>
            <div class="actions">
              <Button onClick={() => setConfirm(false)}>Cancel</Button>
              <Button
                kind="danger"
                busy={busy}
                onClick={async () => {
                  if (await run(() => del(orgPath(c.org.id, 'sessions', s.id)))) {
                    setConfirm(false)
                    onChange()
                  }
                }}
              >
                Terminate
              </Button>
            </div>
          </Dialog>
        )}
      </td>
    </tr>
  )
}

function ShareDialog({ s, onClose }: { s: Session; onClose: () => void }) {
  const c = useConsole()
  const groups = useAsync((signal) => get<Group[]>(orgPath(c.org.id, 'groups'), { signal }), [])
  const [who, setWho] = useState('')
  const [busy, error, run] = useAction()
  const members = Object.values(c.members).filter((m) => m.user_id !== c.me.user.id)
  const share = async (e: Event) => {
    e.preventDefault()
    const [kind, id] = who.split(':')
    if (!id) return
    const ok = await run(() => post(orgPath(c.org.id, 'sessions', s.id, 'observers'), kind === 'group' ? { group_id: id } : { user_id: id }))
    if (ok) {
      c.notify('Shared: they can now observe this session from their sessions list.')
      onClose()
    }
  }
  return (
    <Dialog title={`Share ${s.device_name}/${s.service}`} onClose={onClose}>
      <form onSubmit={share}>
        <p class="dim">Observers watch the session live, read-only.</p>
        <Field label="Observer">
          <select name="share-with" value={who} onChange={(e) => setWho((e.target as HTMLSelectElement).value)}>
            <option value="">Choose a member or group…</option>
            {members.map((m) => (
              <option value={`user:${m.user_id}`}>{m.email}</option>
            ))}
            {(groups.data ?? []).map((g) => (
              <option value={`group:${g.id}`}>Group: {g.name}</option>
            ))}
          </select>
        </Field>
        <ErrorBox error={error || groups.error} />
        <div class="actions">
          <Button onClick={onClose}>Cancel</Button>
          <Button type="submit" kind="primary" busy={busy} disabled={!who}>
            Share
          </Button>
        </div>
      </form>
    </Dialog>
  )
}
