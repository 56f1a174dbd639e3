// asciicast v2 (https://docs.asciinema.org/manual/asciicast/v2/): a JSON
// header line, then one JSON array [time, code, data] per line. The engine's
// recordings are in this format; the player writes the "o" events to xterm.

/** One recorded event: seconds since the start, its code ("o" output, "i" input, "r" resize), data. */
export interface CastEvent {
  time: number
  code: string
  data: string
}

export interface Cast {
  width: number
  height: number
  title?: string
  events: CastEvent[]
  /** Seconds until the last event. */
  duration: number
}

/** A recording larger than this is offered for download only. */
export const MAX_CAST_BYTES = 32 * 1024 * 1024

/** Parses a recording; it throws an Error naming the line at fault. */
export function parseCast(text: string): Cast {
  if (text.length > MAX_CAST_BYTES) throw new Error('the recording is too large to play here; download it instead')
  const lines = text.split('\n')
  let header: Record<string, unknown>
  try {
    header = JSON.parse(lines[0] ?? '')
  } catch {
    throw new Error('line 1: the header is not JSON')
  }
  if (typeof header !== 'object' || header === null || header.version !== 2) {
    throw new Error('line 1: not an asciicast v2 header')
  }
  const width = dim(header.width)
  const height = dim(header.height)
  if (!width || !height) throw new Error('line 1: width and height must be positive integers')
  const events: CastEvent[] = []
  let last = 0
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i].trim()
    if (line === '') continue
    let ev: unknown
    try {
      ev = JSON.parse(line)
    } catch {
      throw new Error(`line ${i + 1}: not JSON`)
    }
    if (!Array.isArray(ev) || ev.length !== 3 || typeof ev[0] !== 'number' || typeof ev[1] !== 'string' || typeof ev[2] !== 'string') {
      throw new Error(`line ${i + 1}: an event is [time, code, data]`)
    }
    if (!(ev[0] >= last) || !Number.isFinite(ev[0])) throw new Error(`line ${i + 1}: time goes backwards`)
    last = ev[0]
    events.push({ time: ev[0], code: ev[1], data: ev[2] })
  }
  return { width, height, title: typeof header.title === 'string' ? header.title : undefined, events, duration: last }
}

/**
 * Schedules playback: returns the delay in seconds before each event, with
 * idle stretches capped at maxIdle and the whole scaled by 1/speed.
 */
export function delays(events: CastEvent[], speed = 1, maxIdle = 2): number[] {
  let prev = 0
  return events.map((e) => {
    const d = Math.min(Math.max(e.time - prev, 0), maxIdle) / speed
    prev = e.time
    return d
  })
}

function dim(v: unknown): number {
  return typeof v === 'number' && Number.isInteger(v) && v > 0 && v <= 10000 ? v : 0
}
