// The organization's session settings: how long a session lives without
// viewers or without activity, its output buffer, and session limits.

import { useEffect, useState } from 'preact/hooks'
import { get, orgPath, patch } from '../../lib/api'
import { Button, ErrorBox, Field, Loading, useAction, useAsync } from '../common'
import { useConsole } from '../context'

interface Settings {
  detached_timeout_sec: number
  idle_timeout_sec: number
  buffer_size: number
  max_user_sessions: number
  max_device_sessions: number
}

const FIELDS: { key: keyof Settings; label: string; hint: string; max: number }[] = [
  { key: 'detached_timeout_sec', label: 'Detached timeout (seconds)', hint: 'A session with no viewer ends after this long.', max: 30 * 86400 },
  { key: 'idle_timeout_sec', label: 'Idle timeout (seconds)', hint: 'A session without input or output ends after this long.', max: 30 * 86400 },
  { key: 'buffer_size', label: 'Output buffer (bytes)', hint: 'Output kept on the agent for resuming; older output is replaced by a screen snapshot.', max: 1 << 30 },
  { key: 'max_user_sessions', label: 'Sessions per user', hint: 'Live sessions one user may hold.', max: 10000 },
  { key: 'max_device_sessions', label: 'Sessions per device', hint: 'Live sessions one device may hold.', max: 10000 },
]

export function SessionSettingsSection() {
  const c = useConsole()
  const path = orgPath(c.org.id, 'settings', 'sessions')
  const cur = useAsync((signal) => get<Settings>(path, { signal }), [])
  const [draft, setDraft] = useState<Record<string, string>>({})
  const [errors, setErrors] = useState<Record<string, string>>({})
  const [busy, error, run] = useAction()
  useEffect(() => {
    if (cur.data) setDraft(Object.fromEntries(FIELDS.map((f) => [f.key, String(cur.data![f.key])])))
  }, [cur.data])

  const save = async (e: Event) => {
    e.preventDefault()
    const body: Partial<Settings> = {}
    const errs: Record<string, string> = {}
    for (const f of FIELDS) {
      const v = (draft[f.key] ?? '').trim()
      if (!/^[0-9]{1,10}$/.test(v) || Number(v) > f.max) {
        errs[f.key] = `${f.label}: a whole number from 0 to ${f.max}`
        continue
      }
      if (Number(v) !== cur.data?.[f.key]) body[f.key] = Number(v)
    }
    setErrors(errs)
    if (Object.keys(errs).length || Object.keys(body).length === 0) return
    if (await run(() => patch(path, body))) {
      cur.reload()
      c.notify('Session settings saved. They apply to new sessions.')
    }
  }
  if (!cur.data) return cur.error ? <ErrorBox error={cur.error} /> : <Loading what="settings" />
  return (
    <form class="card form-grid" onSubmit={save}>
      {FIELDS.map((f) => (
        <Field label={f.label} hint={f.hint} error={errors[f.key]}>
          <input name={f.key} inputMode="numeric" value={draft[f.key] ?? ''} maxLength={10} onInput={(e) => setDraft({ ...draft, [f.key]: (e.target as HTMLInputElement).value })} />
        </Field>
      ))}
      <ErrorBox error={error} />
      <div class="actions">
        <Button type="submit" kind="primary" busy={busy}>
          Save
        </Button>
      </div>
    </form>
  )
}
