// Plays a session's recording (asciicast v2) in xterm.js, with pause, speed
// and a download link. Loaded lazily (see shell.tsx).

import { useEffect, useRef, useState } from 'preact/hooks'
import { orgPath } from '../lib/api'
import { delays, MAX_CAST_BYTES, parseCast, type Cast } from '../lib/asciicast'
import { Button, ErrorBox, Loading } from './common'
import { useConsole } from './context'
import { createTerminal, type Terminal } from './xterm'

export function RecordingTab({ id, active }: { id: string; active: boolean }) {
  const c = useConsole()
  const url = orgPath(c.org.id, 'sessions', id, 'recording')
  const [cast, setCast] = useState<Cast | null>(null)
  const [error, setError] = useState('')
  const [playing, setPlaying] = useState(true)
  const [speed, setSpeed] = useState(1)
  const [pos, setPos] = useState(0) // index of the next event
  const host = useRef<HTMLDivElement>(null)
  const term = useRef<Terminal | null>(null)

  useEffect(() => {
    const ac = new AbortController()
    fetch(url, { credentials: 'same-origin', signal: ac.signal })
      .then(async (r) => {
        if (!r.ok) throw new Error(r.status === 404 ? 'This session has no recording.' : `The engine answered ${r.status}.`)
        const len = Number(r.headers.get('Content-Length') ?? 0)
        if (len > MAX_CAST_BYTES) throw new Error('The recording is too large to play here; download it instead.')
        setCast(parseCast(await r.text()))
      })
      .catch((err) => !ac.signal.aborted && setError(`Cannot play the recording: ${(err as Error).message}`))
    return () => ac.abort()
  }, [url])

  useEffect(() => {
    if (!cast || !host.current) return
    const t = createTerminal(host.current, { cols: cast.width, rows: cast.height, disableStdin: true, cursorBlink: false })
    term.current = t.term
    return () => {
      t.term.dispose()
      term.current = null
    }
  }, [cast])

  // Plays from pos: one timer at a time, rescheduled on every change.
  useEffect(() => {
    if (!cast || !playing || !active || pos >= cast.events.length) return
    const wait = delays(cast.events, speed)[pos] ?? 0
    const timer = setTimeout(() => {
      const ev = cast.events[pos]
      if (ev.code === 'o') term.current?.write(ev.data)
      setPos(pos + 1)
    }, wait * 1000)
    return () => clearTimeout(timer)
  }, [cast, playing, active, pos, speed])

  const restart = () => {
    term.current?.reset()
    setPos(0)
    setPlaying(true)
  }
  const toEnd = () => {
    if (!cast) return
    for (let i = pos; i < cast.events.length; i++) if (cast.events[i].code === 'o') term.current?.write(cast.events[i].data)
    setPos(cast.events.length)
  }

  if (error) return <div class="page"><ErrorBox error={error} /></div>
  if (!cast) return <div class="page"><Loading what="the recording" /></div>
  const done = pos >= cast.events.length
  const at = pos > 0 ? cast.events[pos - 1].time : 0
  return (
    <div class="terminal-tab recording">
      <div class="term-bar">
        <Button onClick={() => (done ? restart() : setPlaying(!playing))}>{done ? 'Replay' : playing ? 'Pause' : 'Play'}</Button>
        <label class="inline-field">
          Speed{' '}
          <select value={speed} onChange={(e) => setSpeed(Number((e.target as HTMLSelectElement).value))}>
            {[0.5, 1, 2, 4, 8].map((s) => (
              <option value={s}>{s}×</option>
            ))}
          </select>
        </label>
        <Button onClick={toEnd} disabled={done}>
          Skip to end
        </Button>
        <span class="dim mono">
          {fmt(at)} / {fmt(cast.duration)}
        </span>
        <span class="status-spacer" />
        <a class="btn btn-plain" href={url} download={`${id}.cast`}>
          Download
        </a>
      </div>
      <div class="term-host" ref={host} />
    </div>
  )
}

function fmt(s: number): string {
  const m = Math.floor(s / 60)
  return `${m}:${String(Math.floor(s % 60)).padStart(2, '0')}`
}
