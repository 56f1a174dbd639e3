// A terminal tab: xterm.js attached to a session through StreamClient. It
// shows the stream's state honestly (reconnecting, agent offline, detached,
// ended), a read-only badge for observers with a take-over button, and an
// on-screen key bar on phones. Loaded lazily (see shell.tsx).

import { useEffect, useRef, useState } from 'preact/hooks'
import { get, orgPath, post } from '../lib/api'
import type { Session, SessionTicket } from '../lib/types'
import { StreamClient, type StreamStatus } from '../stream/client'
import { Button } from './common'
import { useConsole } from './context'
import { clipboardKeys, createTerminal, type Terminal } from './xterm'

interface Props {
  tabKey: string
  id: string
  role: 'driver' | 'observer'
  active: boolean
}

const STATE_TEXT: Record<string, string> = {
  connecting: 'Connecting…',
  attached: 'Connected',
  reconnecting: 'Connection lost — reconnecting',
  detached: 'Detached by the engine — reconnecting',
  agent_offline: 'The device is offline — waiting for it to come back',
  ended: 'Session ended',
}

export function TerminalTab({ tabKey, id, role, active }: Props) {
  const c = useConsole()
  const host = useRef<HTMLDivElement>(null)
  const termRef = useRef<Terminal | null>(null)
  const fitRef = useRef<() => void>(() => {})
  const clientRef = useRef<StreamClient | null>(null)
  const mods = useRef({ ctrl: false, alt: false })
  const [modState, setModState] = useState({ ctrl: false, alt: false })
  const [status, setStatus] = useState<StreamStatus>({ state: 'connecting', role, offset: 0, attempt: 0 })
  const [notice, setNotice] = useState('')
  const [session, setSession] = useState<Session | null>(null)
  const title = session ? `${session.device_name}/${session.service}` : 'Terminal'

  useEffect(() => {
    get<Session>(orgPath(c.org.id, 'sessions', id), { quiet: true }).then(setSession, () => {})
  }, [id])

  useEffect(() => {
    const badge = status.state === 'attached' ? (status.role === 'observer' ? 'observer' : 'live') : status.state
    c.setTabTitle(tabKey, title, badge)
  }, [title, status.state, status.role])

  useEffect(() => {
    const el = host.current!
    const { term, fit } = createTerminal(el)
    termRef.current = term
    fitRef.current = fit
    clipboardKeys(term)
    const client = new StreamClient({
      role,
      initialTicket: c.takeTicket(id),
      ticket: (r) => post<SessionTicket>(orgPath(c.org.id, 'sessions', id, 'tickets'), { role: r }),
      events: {
        output: (d) => term.write(d),
        reset: () => term.reset(),
        notice: (t) => setNotice(t),
        state: (s) => {
          setStatus(s)
          term.options.disableStdin = s.role !== 'driver' || s.state === 'ended'
        },
      },
    })
    clientRef.current = client
    term.onData((d) => client.input(applyModifiers(d)))
    term.onBinary((d) => client.input(Uint8Array.from(d, (ch) => ch.charCodeAt(0) & 0xff)))
    term.onResize(({ cols, rows }) => client.resize(cols, rows))
    client.resize(term.cols, term.rows)
    let frame = 0
    const ro = new ResizeObserver(() => {
      cancelAnimationFrame(frame)
      frame = requestAnimationFrame(fit)
    })
    ro.observe(el)
    client.connect()
    return () => {
      ro.disconnect()
      cancelAnimationFrame(frame)
      client.close()
      term.dispose()
      termRef.current = null
      clientRef.current = null
    }
  }, [id])

  useEffect(() => {
    if (!active) return
    requestAnimationFrame(() => {
      fitRef.current()
      termRef.current?.focus()
    })
  }, [active])

  // Sticky Ctrl and Alt from the key bar apply to the next key typed.
  function applyModifiers(d: string): string {
    const m = mods.current
    if (!m.ctrl && !m.alt) return d
    let out = d
    if (m.ctrl && d.length === 1) {
      const code = d.toUpperCase().charCodeAt(0)
      if (code >= 64 && code <= 95) out = String.fromCharCode(code - 64)
      else if (d === ' ') out = '\0'
    }
    if (m.alt) out = '\x1b' + out
    mods.current = { ctrl: false, alt: false }
    setModState(mods.current)
    return out
  }

  const send = (seq: string) => {
    clientRef.current?.input(seq)
    termRef.current?.focus()
  }
  const arrow = (k: string) => {
    const app = termRef.current?.modes.applicationCursorKeysMode
    send((app ? '\x1bO' : '\x1b[') + k)
  }
  const toggleMod = (k: 'ctrl' | 'alt') => {
    mods.current = { ...mods.current, [k]: !mods.current[k] }
    setModState(mods.current)
    termRef.current?.focus()
  }

  const observer = status.role === 'observer'
  const canDrive = session ? session.can_drive : role === 'driver'
  const bad = status.state !== 'attached' && status.state !== 'connecting'
  return (
    <div class="terminal-tab" data-term-state={status.state} data-term-role={status.role}>
      <div class="term-bar">
        <span class={`term-state term-${status.state}`} role="status">
          <span class={`dot dot-${status.state === 'attached' ? 'online' : status.state === 'ended' ? 'offline' : 'warn'}`} aria-hidden="true" />
          {STATE_TEXT[status.state]}
          {status.state === 'reconnecting' && status.attempt > 1 && ` (attempt ${status.attempt})`}
          {status.reason && ` — ${status.reason}`}
        </span>
        {observer && (
          <span class="badge-readonly" title="You are observing: your keystrokes are not sent">
            Read-only
          </span>
        )}
        <span class="status-spacer" />
        {observer && canDrive && status.state !== 'ended' && (
          <Button kind="primary" onClick={() => clientRef.current?.takeover()}>
            Take over
          </Button>
        )}
        {status.state === 'ended' && <Button onClick={() => c.open({ kind: 'sessions' })}>Sessions</Button>}
      </div>
      {notice && (
        <div class="term-notice" role="status">
          {notice}
          <button class="icon-btn" aria-label="Dismiss" onClick={() => setNotice('')}>
            ×
          </button>
        </div>
      )}
      <div class={`term-host ${bad ? 'term-dim' : ''}`} ref={host} />
      <div class="keybar" aria-label="Terminal keys" onMouseDown={(e) => e.preventDefault()}>
        <button onClick={() => send('\x1b')}>Esc</button>
        <button aria-pressed={modState.ctrl} onClick={() => toggleMod('ctrl')}>
          Ctrl
        </button>
        <button aria-pressed={modState.alt} onClick={() => toggleMod('alt')}>
          Alt
        </button>
        <button onClick={() => send('\t')}>Tab</button>
        <button aria-label="Left" onClick={() => arrow('D')}>
          ←
        </button>
        <button aria-label="Up" onClick={() => arrow('A')}>
          ↑
        </button>
        <button aria-label="Down" onClick={() => arrow('B')}>
          ↓
        </button>
        <button aria-label="Right" onClick={() => arrow('C')}>
          →
        </button>
        <button onClick={() => send('\x03')}>^C</button>
      </div>
    </div>
  )
}
