// The status bar: whether the engine answers and how fast, the current
// organization (a switcher when the user has several), the user, sign out.

import { useEffect, useState } from 'preact/hooks'
import { useConsole } from './context'

const PING_EVERY_MS = 10_000

type Link = { state: 'connected' | 'slow' | 'offline' | 'checking'; ms?: number }

/** Measures the round trip of GET /healthz, the engine's cheapest answer. */
function useEngineLink(): Link {
  const [link, setLink] = useState<Link>({ state: 'checking' })
  useEffect(() => {
    let live = true
    const ping = async () => {
      if (document.visibilityState !== 'visible') return
      const t0 = performance.now()
      try {
        const r = await fetch('/healthz', { cache: 'no-store', credentials: 'same-origin' })
        const ms = Math.round(performance.now() - t0)
        if (live) setLink({ state: r.ok ? (ms > 500 ? 'slow' : 'connected') : 'offline', ms })
      } catch {
        if (live) setLink({ state: 'offline' })
      }
    }
    void ping()
    const id = setInterval(ping, PING_EVERY_MS)
    const online = () => void ping()
    window.addEventListener('online', online)
    window.addEventListener('offline', online)
    return () => {
      live = false
      clearInterval(id)
      window.removeEventListener('online', online)
      window.removeEventListener('offline', online)
    }
  }, [])
  return link
}

export function StatusBar({ onSignOut, onSwitchOrg }: { onSignOut: () => void; onSwitchOrg: (id: string) => void; activeTab?: string }) {
  const c = useConsole()
  const link = useEngineLink()
  const label = { connected: 'Connected', slow: 'Slow connection', offline: 'Engine unreachable — retrying', checking: 'Connecting…' }[link.state]
  return (
    <footer class={`status status-${link.state}`} aria-label="Status bar">
      <span class="status-item" role="status" data-link={link.state} title="Connection to the engine">
        <span class={`dot dot-${link.state === 'connected' ? 'online' : link.state === 'offline' ? 'error' : 'offline'}`} aria-hidden="true" />
        {label}
        {link.ms !== undefined && link.state !== 'offline' && <span class="status-latency" title="Round trip to the engine"> · {link.ms} ms</span>}
      </span>
      <span class="status-spacer" />
      <span class="status-item">
        {c.me.memberships.length > 1 ? (
          <select class="org-switch" aria-label="Organization" value={c.org.id} onChange={(e) => onSwitchOrg((e.target as HTMLSelectElement).value)}>
            {c.me.memberships.map((m) => (
              <option value={m.id}>{m.name}</option>
            ))}
          </select>
        ) : (
          <span title="Organization">{c.org.name}</span>
        )}
      </span>
      <span class="status-item status-user" title={c.me.user.email}>
        {c.me.user.email}
      </span>
      <button class="status-btn" onClick={onSignOut}>
        Sign out
      </button>
    </footer>
  )
}
