// StreamClient keeps one viewer of a session attached: it opens the attach
// WebSocket with a fresh ticket and the output offset it holds, writes output
// exactly once and in order (dropping resent bytes, honouring gaps and
// snapshots), answers pings, acks what it consumed, queues the driver's input
// while it reconnects, and reconnects by itself with backoff until the
// session ends or close() is called.
//
// It knows nothing of xterm or of the REST API: output goes to events, and
// tickets come from the ticket function, so tests drive it with a fake
// socket.

import { decodeFrame, encodeFrame, FrameError, Kind, MAX_FRAME, type Control, type Frame } from './frames'

export type Role = 'driver' | 'observer'

/** What the viewer is doing; agent_offline and detached come from the engine. */
export type ConnState = 'connecting' | 'attached' | 'reconnecting' | 'detached' | 'agent_offline' | 'ended'

/** A single-use attach ticket (POST .../sessions/{id}/tickets). */
export interface Ticket {
  ticket: string
  role: Role
  expires_at?: string
  attach_path: string
}

/** The part of the browser's WebSocket the client uses. */
export interface SocketLike {
  binaryType: string
  readonly readyState: number
  onopen: ((ev: unknown) => void) | null
  onmessage: ((ev: { data: unknown }) => void) | null
  onclose: ((ev: { code: number; reason: string }) => void) | null
  onerror: ((ev: unknown) => void) | null
  send(data: Uint8Array): void
  close(code?: number, reason?: string): void
}

export interface StreamStatus {
  state: ConnState
  role: Role
  /** Bytes of output written so far (the resume point). */
  offset: number
  /** Why the session ended or the engine detached us, when it said. */
  reason?: string
  /** Reconnect attempts since the last successful attach. */
  attempt: number
}

export interface StreamEvents {
  /** Output to write to the terminal, in order, each byte once. */
  output(data: Uint8Array): void
  /** A snapshot follows: clear the terminal first. */
  reset(): void
  /** Something a person should see (lost output, refused input). */
  notice(text: string): void
  state(s: StreamStatus): void
}

export interface StreamOptions {
  role: Role
  /** Fetches a fresh ticket; rejects with an error whose status 401/403/404 ends the stream. */
  ticket: (role: Role) => Promise<Ticket>
  /** A ticket already in hand (from creating the session). */
  initialTicket?: Ticket
  /** The offset already written (0 for a fresh terminal). */
  offset?: number
  /** ws:// or wss:// origin; default: this page's. */
  baseURL?: string
  open?: (url: string) => SocketLike
  backoffMs?: number[]
  /** Bytes of input kept while reconnecting. */
  maxQueue?: number
  events: StreamEvents
}

/** Bytes consumed between two acks. */
export const ACK_EVERY = 64 * 1024
/** Largest snapshot assembled from chunks. */
export const MAX_SNAPSHOT = 8 * 1024 * 1024
const OPEN = 1
const DEFAULT_BACKOFF = [250, 500, 1000, 2000, 4000, 8000]

const utf8 = new TextEncoder()

export class StreamClient {
  private readonly opts: StreamOptions
  private ws: SocketLike | null = null
  private timer: ReturnType<typeof setTimeout> | null = null
  private closed = false
  private status: StreamStatus
  private ticketRole: Role
  private takeoverPending = false
  private queue: Uint8Array[] = []
  private queued = 0
  private size: { cols: number; rows: number } | null = null
  private sinceAck = 0
  private snapshot: { offset: number; chunks: Uint8Array[]; bytes: number } | null = null
  private gen = 0 // dial generation: a newer dial abandons an older one waiting for its ticket
  private started = false

  constructor(opts: StreamOptions) {
    this.opts = opts
    this.ticketRole = opts.role
    this.status = { state: 'connecting', role: opts.role, offset: opts.offset ?? 0, attempt: 0 }
  }

  /** The current status (also delivered to events.state on every change). */
  get current(): StreamStatus {
    return { ...this.status }
  }

  /** Starts attaching. */
  connect(): void {
    if (this.closed || this.started) return
    this.started = true
    void this.dial(this.opts.initialTicket)
  }

  /** Stops for good: no reconnect, the socket is closed. */
  close(): void {
    this.closed = true
    this.clearTimer()
    const ws = this.ws
    this.ws = null
    ws?.close(1000, 'closed by the viewer')
  }

  /**
   * Sends keystrokes (driver only). While the socket is down they are kept,
   * up to maxQueue bytes, and sent once attached again. Returns false when
   * the input was refused (observer, ended, queue full).
   */
  input(data: string | Uint8Array): boolean {
    if (this.status.role !== 'driver' || this.status.state === 'ended' || this.closed) return false
    const bytes = typeof data === 'string' ? utf8.encode(data) : data
    if (bytes.length === 0) return true
    if (this.canSend()) {
      this.sendInput(bytes)
      return true
    }
    const max = this.opts.maxQueue ?? 64 * 1024
    if (this.queued + bytes.length > max) {
      this.opts.events.notice('Input not sent: too much typed while disconnected.')
      return false
    }
    this.queue.push(bytes)
    this.queued += bytes.length
    return true
  }

  /** Sets the terminal size; sent now when driving, else on the next attach. */
  resize(cols: number, rows: number): void {
    if (!(cols > 0 && rows > 0 && cols <= 0xffff && rows <= 0xffff)) return
    this.size = { cols, rows }
    if (this.canSend()) this.send({ kind: Kind.Resize, cols, rows })
  }

  /** Asks to become the driver. */
  takeover(): void {
    if (this.closed || this.status.state === 'ended') return
    if (this.ws && this.ws.readyState === OPEN && this.ticketRole === 'driver') {
      this.send({ kind: Kind.Control, control: { type: 'takeover' } })
      return
    }
    // An observer ticket cannot drive: attach again with a driver ticket.
    this.takeoverPending = true
    this.ticketRole = 'driver'
    this.reconnectNow()
  }

  private canSend(): boolean {
    return this.ws !== null && this.ws.readyState === OPEN && this.status.state === 'attached' && this.status.role === 'driver'
  }

  private async dial(given?: Ticket): Promise<void> {
    const gen = ++this.gen
    let t: Ticket
    try {
      t = given ?? (await this.opts.ticket(this.ticketRole))
    } catch (err) {
      if (this.closed || gen !== this.gen) return
      const status = (err as { status?: number }).status
      if (status === 401 || status === 403 || status === 404) {
        this.end(err instanceof Error ? err.message : 'the session is gone')
        return
      }
      this.retry()
      return
    }
    if (this.closed || gen !== this.gen || this.status.state === 'ended') return
    this.ticketRole = t.role
    const takeover = this.takeoverPending
    this.takeoverPending = false
    const open = this.opts.open ?? ((u: string) => new WebSocket(u) as unknown as SocketLike)
    let ws: SocketLike
    try {
      ws = open(this.url(t, takeover))
    } catch {
      this.retry()
      return
    }
    ws.binaryType = 'arraybuffer'
    this.ws = ws
    // Attached once the stream says so (its first frame is the state with
    // this viewer's role); nothing is sent before.
    ws.onopen = () => {}
    ws.onmessage = (ev) => {
      if (this.ws === ws) this.receive(ev.data)
    }
    ws.onerror = () => {}
    ws.onclose = () => {
      if (this.ws !== ws) return
      this.ws = null
      this.snapshot = null
      if (!this.closed && this.status.state !== 'ended') this.retry()
    }
  }

  private url(t: Ticket, takeover: boolean): string {
    const base = this.opts.baseURL ?? pageOrigin()
    const u = new URL(t.attach_path, base)
    u.searchParams.set('ticket', t.ticket)
    u.searchParams.set('offset', String(this.status.offset))
    if (takeover) u.searchParams.set('takeover', '1')
    return u.toString()
  }

  private retry(): void {
    if (this.closed || this.timer || this.status.state === 'ended') return
    const backoff = this.opts.backoffMs ?? DEFAULT_BACKOFF
    const delay = backoff[Math.min(this.status.attempt, backoff.length - 1)]
    const keep = this.status.state === 'agent_offline' || this.status.state === 'detached'
    this.setState({ state: keep ? this.status.state : 'reconnecting', attempt: this.status.attempt + 1 })
    this.timer = setTimeout(() => {
      this.timer = null
      void this.dial()
    }, delay)
  }

  private reconnectNow(): void {
    this.clearTimer()
    const ws = this.ws
    this.ws = null
    this.snapshot = null
    ws?.close(1000, 'reattaching')
    this.setState({ state: 'reconnecting' })
    void this.dial()
  }

  private clearTimer(): void {
    if (this.timer) clearTimeout(this.timer)
    this.timer = null
  }

  private end(reason?: string): void {
    this.clearTimer()
    this.queue = []
    this.queued = 0
    this.setState({ state: 'ended', reason })
    const ws = this.ws
    this.ws = null
    ws?.close(1000, 'session ended')
  }

  private receive(data: unknown): void {
    if (!(data instanceof ArrayBuffer) && !(data instanceof Uint8Array)) {
      this.protocolError('a text message on a binary stream')
      return
    }
    let f: Frame
    try {
      f = decodeFrame(data)
    } catch (err) {
      this.protocolError(err instanceof FrameError ? err.message : 'undecodable frame')
      return
    }
    if (this.status.attempt !== 0) this.setState({ attempt: 0 })
    switch (f.kind) {
      case Kind.Output:
        return this.onOutput(f.offset, f.data)
      case Kind.Gap:
        return this.onGap(f.from, f.to)
      case Kind.Snapshot:
        return this.onSnapshot(f.offset, f.final, f.data)
      case Kind.Ping:
        this.send({ kind: Kind.Pong, nonce: f.nonce })
        return
      case Kind.Control:
        return this.onControl(f.control)
    }
    // Input, Resize, Ack and Pong are not sent to viewers; ignore them.
  }

  private onOutput(offset: number, data: Uint8Array): void {
    const have = this.status.offset
    if (offset > have) {
      this.protocolError(`output at ${offset} while holding ${have}, without a gap`)
      return
    }
    const end = offset + data.length
    if (end <= have) return // a resend of bytes already written
    const fresh = data.subarray(have - offset)
    this.opts.events.output(fresh)
    this.advance(end, fresh.length)
  }

  private onGap(from: number, to: number): void {
    const have = this.status.offset
    if (to <= have) return
    if (from > have) {
      this.protocolError(`gap from ${from} while holding ${have}`)
      return
    }
    this.opts.events.notice(`${to - have} bytes of earlier output are no longer kept and were skipped.`)
    this.advance(to, 0)
  }

  private onSnapshot(offset: number, final: boolean, data: Uint8Array): void {
    if (!this.snapshot || this.snapshot.offset !== offset) this.snapshot = { offset, chunks: [], bytes: 0 }
    const s = this.snapshot
    s.bytes += data.length
    if (s.bytes > MAX_SNAPSHOT) {
      this.snapshot = null
      this.protocolError('snapshot too large')
      return
    }
    s.chunks.push(data)
    if (!final) return
    this.snapshot = null
    const all = new Uint8Array(s.bytes)
    let at = 0
    for (const c of s.chunks) {
      all.set(c, at)
      at += c.length
    }
    this.opts.events.reset()
    if (all.length > 0) this.opts.events.output(all)
    // The snapshot stands for everything before offset.
    this.advance(offset, all.length)
  }

  private advance(offset: number, consumed: number): void {
    this.setState({ offset })
    this.sinceAck += consumed
    if (this.sinceAck >= ACK_EVERY) {
      this.sinceAck = 0
      this.send({ kind: Kind.Ack, offset })
    }
  }

  private onControl(c: Control): void {
    if (c.type === 'state') {
      const role = c.role === 'driver' || c.role === 'observer' ? c.role : this.status.role
      switch (c.state) {
        case 'ended':
          this.end(c.reason)
          return
        case 'attached':
          this.setState({ state: 'attached', role, reason: undefined })
          this.flush()
          return
        case 'detached':
        case 'agent_offline':
          this.setState({ state: c.state, role, reason: c.reason })
          return
      }
      this.setState({ role })
      return
    }
    if (c.type === 'error') {
      if (c.code === 'not_driver') this.setState({ role: 'observer' })
      this.opts.events.notice(c.message || `The engine refused: ${c.code ?? 'error'}.`)
    }
  }

  private flush(): void {
    if (!this.canSend()) return
    if (this.size) this.send({ kind: Kind.Resize, cols: this.size.cols, rows: this.size.rows })
    const q = this.queue
    this.queue = []
    this.queued = 0
    for (const b of q) this.sendInput(b)
  }

  private sendInput(b: Uint8Array): void {
    for (let i = 0; i < b.length; i += MAX_FRAME) this.send({ kind: Kind.Input, data: b.subarray(i, i + MAX_FRAME) })
  }

  private send(f: Frame): void {
    if (!this.ws || this.ws.readyState !== OPEN) return
    try {
      this.ws.send(encodeFrame(f))
    } catch {
      // A socket closing under us: onclose reconnects.
    }
  }

  // protocolError drops the socket and resumes from what was written: never
  // write bytes that cannot be placed.
  private protocolError(what: string): void {
    this.opts.events.notice(`Stream error (${what}); reconnecting.`)
    const ws = this.ws
    this.ws = null
    this.snapshot = null
    ws?.close(4002, 'protocol error')
    this.retry()
  }

  private setState(p: Partial<StreamStatus>): void {
    const next = { ...this.status, ...p }
    const s = this.status
    if (next.state === s.state && next.role === s.role && next.offset === s.offset && next.reason === s.reason && next.attempt === s.attempt) return
    this.status = next
    this.opts.events.state({ ...next })
  }
}

function pageOrigin(): string {
  const l = globalThis.location
  if (!l) return 'ws://localhost'
  return (l.protocol === 'https:' ? 'wss://' : 'ws://') + l.host
}
