// The port allowlist: the ports of a device the agent accepts, written as
// port specs ("22, 8000-8010"). The allowlist is the set of the device's
// service ports; adding a port adds a plain TCP service for it, removing one
// deletes the service on it (after confirmation).

import { useEffect, useState } from 'preact/hooks'
import { compress, describe, expand, formatRange, parseSpecList } from '../lib/portspec'
import { createService, deleteService } from '../lib/services'
import type { Device, Service } from '../lib/types'
import { Button, Dialog, ErrorBox, Field, useAction } from './common'
import { useConsole } from './context'

const FIELD = 'Allowed ports'

interface Plan {
  add: number[]
  remove: Service[]
}

export function PortAllowlist({ device, services, canManage, onChange }: { device: Device; services: Service[]; canManage: boolean; onChange: () => void }) {
  const c = useConsole()
  const current = compress(services.map((s) => s.port)).map(formatRange).join(', ')
  const [text, setText] = useState(current)
  const [errors, setErrors] = useState<string[]>([])
  const [plan, setPlan] = useState<Plan | null>(null)
  const [progress, setProgress] = useState('')
  const [busy, error, run] = useAction()

  useEffect(() => setText(current), [current])

  const check = (e: Event) => {
    e.preventDefault()
    const r = parseSpecList(text, FIELD)
    if (!r.ok) {
      setErrors(r.errors.map(describe))
      return
    }
    setErrors([])
    const want = new Set(expand(r.value))
    const have = new Set(services.map((s) => s.port))
    const p = { add: [...want].filter((x) => !have.has(x)), remove: services.filter((s) => !want.has(s.port)) }
    if (p.add.length === 0 && p.remove.length === 0) {
      c.notify('The allowlist is unchanged.')
      return
    }
    setPlan(p)
  }

  const apply = async (p: Plan) => {
    const total = p.add.length + p.remove.length
    let done = 0
    const ok = await run(async () => {
      for (const s of p.remove) {
        setProgress(`Removing ${s.name} (${++done} of ${total})…`)
        await deleteService(c.org.id, device.id, s.id)
      }
      for (const port of p.add) {
        setProgress(`Adding port ${port} (${++done} of ${total})…`)
        await createService(c.org.id, device.id, { name: `tcp-${port}`, protocol: 'tcp', port })
      }
    })
    setProgress('')
    setPlan(null)
    onChange()
    if (ok) c.notify('Allowlist saved.')
  }

  return (
    <div class="allowlist">
      <p class="dim">
        Ports the agent accepts on its overlay address. Write single ports or ranges, separated by commas: <code>22, 8000-8010</code>. Each new port becomes a
        TCP service.
      </p>
      <form onSubmit={check} class="allowlist-form">
        <Field label={FIELD}>
          <input name="allowlist" value={text} disabled={!canManage} onInput={(e) => {
              setText((e.target as HTMLInputElement).value)
              setErrors([])
            }} maxLength={4096} aria-invalid={errors.length > 0} />
        </Field>
        {canManage && (
          <Button type="submit" busy={busy}>
            Review changes
          </Button>
        )}
      </form>
      {errors.length > 0 && (
        <ul class="field-errors" role="alert" data-testid="allowlist-errors">
          {errors.map((e) => (
            <li>{e}</li>
          ))}
        </ul>
      )}
      <ErrorBox error={error} />
      {progress && (
        <div class="loading" role="status">
          <span class="spinner" /> {progress}
        </div>
      )}
      {plan && (
        <Dialog title="Change the allowlist?" onClose={() => !busy && setPlan(null)}>
          {plan.add.length > 0 && (
            <p>
              Add {plan.add.length} TCP service{plan.add.length > 1 ? 's' : ''}: {compress(plan.add).map(formatRange).join(', ')}.
            </p>
          )}
          {plan.remove.length > 0 && (
            <p>
              Delete {plan.remove.map((s) => `${s.name} (${s.port})`).join(', ')}: these ports stop being reachable at once, and their credentials and gateway ports are
              deleted.
            </p>
          )}
          <div class="actions">
            <Button onClick={() => setPlan(null)} disabled={busy}>
              Cancel
            </Button>
            <Button kind={plan.remove.length ? 'danger' : 'primary'} busy={busy} onClick={() => void apply(plan)}>
              Apply
            </Button>
          </div>
        </Dialog>
      )}
    </div>
  )
}
