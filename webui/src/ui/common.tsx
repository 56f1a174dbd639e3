// Small building blocks shared by every page: async loading, buttons that
// show progress, error boxes, copy buttons, times, dialogs.

import type { ButtonHTMLAttributes, ComponentChildren } from 'preact'
import { useCallback, useEffect, useRef, useState } from 'preact/hooks'
import { describeError } from '../lib/api'

/** The state of a load: data, its error, whether it runs, and a reload. */
export interface Async<T> {
  data: T | undefined
  error: string
  loading: boolean
  reload: () => void
}

/**
 * Loads with f whenever deps change (and on reload); every refreshMs when
 * given, quietly (keeping the last data on screen).
 */
export function useAsync<T>(f: (signal: AbortSignal) => Promise<T>, deps: unknown[], refreshMs = 0): Async<T> {
  const [data, setData] = useState<T>()
  const [error, setError] = useState('')
  const [loading, setLoading] = useState(true)
  const [tick, setTick] = useState(0)
  const fn = useRef(f)
  fn.current = f
  useEffect(() => {
    const ac = new AbortController()
    setLoading(true)
    fn.current(ac.signal).then(
      (d) => {
        if (ac.signal.aborted) return
        setData(d)
        setError('')
        setLoading(false)
      },
      (err) => {
        if (ac.signal.aborted) return
        setError(describeError(err))
        setLoading(false)
      },
    )
    return () => ac.abort()
  }, [...deps, tick])
  useEffect(() => {
    if (!refreshMs) return
    const id = setInterval(() => {
      if (document.visibilityState === 'visible') setTick((t) => t + 1)
    }, refreshMs)
    return () => clearInterval(id)
  }, [refreshMs])
  const reload = useCallback(() => setTick((t) => t + 1), [])
  return { data, error, loading, reload }
}

/** Runs an action, tracking whether it is in flight and its error. */
export function useAction(): [busy: boolean, error: string, run: (f: () => Promise<unknown>) => Promise<boolean>, setError: (e: string) => void] {
  const [busy, setBusy] = useState(false)
  const [error, setError] = useState('')
  const run = useCallback(async (f: () => Promise<unknown>) => {
    setBusy(true)
    setError('')
    try {
      await f()
      return true
    } catch (err) {
      setError(describeError(err))
      return false
    } finally {
      setBusy(false)
    }
  }, [])
  return [busy, error, run, setError]
}

export function ErrorBox({ error }: { error?: string }) {
  if (!error) return null
  return (
    <div class="error-box" role="alert">
      {error}
    </div>
  )
}

export function Loading({ what }: { what: string }) {
  return (
    <div class="loading" role="status">
      <span class="spinner" aria-hidden="true" /> Loading {what}…
    </div>
  )
}

type ButtonProps = ButtonHTMLAttributes<HTMLButtonElement> & { busy?: boolean; kind?: 'primary' | 'danger' | 'plain'; disabled?: boolean; type?: 'button' | 'submit' }

/** A button that shows a spinner and is disabled while busy. */
export function Button({ busy, kind = 'plain', children, disabled, type = 'button', ...rest }: ButtonProps) {
  return (
    <button {...rest} type={type} class={`btn btn-${kind} ${rest.class ?? ''}`} disabled={disabled || busy} aria-busy={busy ? 'true' : undefined}>
      {busy && <span class="spinner" aria-hidden="true" />}
      {children}
    </button>
  )
}

/** A read-only text with a copy button. */
export function CopyField({ label, value, multiline }: { label: string; value: string; multiline?: boolean }) {
  const [copied, setCopied] = useState(false)
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(value)
    } catch {
      const ta = document.createElement('textarea')
      ta.value = value
      document.body.appendChild(ta)
      ta.select()
      document.execCommand('copy')
      ta.remove()
    }
    setCopied(true)
    setTimeout(() => setCopied(false), 1500)
  }
  return (
    <div class="copy-field">
      <div class="copy-label">{label}</div>
      <div class="copy-row">
        {multiline ? <pre class="copy-value">{value}</pre> : <code class="copy-value">{value}</code>}
        <Button onClick={copy} aria-label={`Copy ${label}`}>
          {copied ? 'Copied' : 'Copy'}
        </Button>
      </div>
    </div>
  )
}

const rtf = typeof Intl !== 'undefined' ? new Intl.RelativeTimeFormat(undefined, { numeric: 'auto' }) : null

/** "3 minutes ago", with the exact time as a tooltip. */
export function Time({ at, never = '—' }: { at?: string | null; never?: string }) {
  if (!at) return <span class="dim">{never}</span>
  const d = new Date(at)
  if (Number.isNaN(d.getTime()) || d.getFullYear() < 1971) return <span class="dim">{never}</span>
  return (
    <time dateTime={at} title={d.toLocaleString()}>
      {relative(d)}
    </time>
  )
}

export function relative(d: Date): string {
  const s = (d.getTime() - Date.now()) / 1000
  const a = Math.abs(s)
  if (!rtf) return d.toLocaleString()
  if (a < 45) return rtf.format(Math.round(s), 'second')
  if (a < 2700) return rtf.format(Math.round(s / 60), 'minute')
  if (a < 64800) return rtf.format(Math.round(s / 3600), 'hour')
  if (a < 2592000) return rtf.format(Math.round(s / 86400), 'day')
  return d.toLocaleDateString()
}

/** A modal dialog; Escape or the backdrop closes it. */
export function Dialog({ title, onClose, children }: { title: string; onClose: () => void; children: ComponentChildren }) {
  const ref = useRef<HTMLDivElement>(null)
  useEffect(() => {
    const prev = document.activeElement as HTMLElement | null
    const first = ref.current?.querySelector<HTMLElement>('input, select, textarea, button')
    first?.focus()
    const onKey = (e: KeyboardEvent) => {
      if (e.key === 'Escape') onClose()
    }
    window.addEventListener('keydown', onKey)
    return () => {
      window.removeEventListener('keydown', onKey)
      prev?.focus?.()
    }
  }, [])
  return (
    <div class="backdrop" onClick={(e) => e.target === e.currentTarget && onClose()}>
      <div class="dialog" role="dialog" aria-modal="true" aria-label={title} ref={ref}>
        <div class="dialog-head">
          <h2>{title}</h2>
          <button class="icon-btn" onClick={onClose} aria-label="Close">
            ×
          </button>
        </div>
        {children}
      </div>
    </div>
  )
}

/** A labelled form field with its error underneath. */
export function Field({ label, error, children, hint }: { label: string; error?: string; hint?: string; children: ComponentChildren }) {
  return (
    <label class={`field ${error ? 'has-error' : ''}`}>
      <span class="field-label">{label}</span>
      {children}
      {hint && !error && <span class="field-hint">{hint}</span>}
      {error && (
        <span class="field-error" role="alert">
          {error}
        </span>
      )}
    </label>
  )
}

export function Empty({ children }: { children: ComponentChildren }) {
  return <div class="empty">{children}</div>
}

/** Shortens long ids for tables; the full id is the tooltip. */
export function Id({ id }: { id?: string }) {
  if (!id) return <span class="dim">—</span>
  return (
    <code class="id" title={id}>
      {id.length > 14 ? id.slice(0, 12) + '…' : id}
    </code>
  )
}

const modules = new Map<() => Promise<unknown>, unknown>()

/** Loads a module with a dynamic import once; [module, error]. */
export function useModule<T>(load: () => Promise<T>): [T | undefined, string] {
  const [m, setM] = useState<T | undefined>(() => modules.get(load) as T | undefined)
  const [err, setErr] = useState('')
  useEffect(() => {
    if (m) return
    let live = true
    load().then(
      (x) => {
        modules.set(load, x)
        if (live) setM(() => x)
      },
      (e) => live && setErr(describeError(e)),
    )
    return () => {
      live = false
    }
  }, [])
  return [m, err]
}
