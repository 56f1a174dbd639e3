import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { ACK_EVERY, StreamClient, type Role, type SocketLike, type StreamStatus, type Ticket } from './client'
import { decodeFrame, encodeFrame, Kind, type Frame } from './frames'

const enc = new TextEncoder()
const dec = new TextDecoder()

// FakeSocket is the browser WebSocket as the client sees it; the test plays
// the engine's side.
class FakeSocket implements SocketLike {
  binaryType = 'blob'
  readyState = 0
  onopen: ((ev: unknown) => void) | null = null
  onmessage: ((ev: { data: unknown }) => void) | null = null
  onclose: ((ev: { code: number; reason: string }) => void) | null = null
  onerror: ((ev: unknown) => void) | null = null
  sent: Frame[] = []
  closedWith: number | null = null
  constructor(readonly url: string) {}
  send(data: Uint8Array) {
    this.sent.push(decodeFrame(data))
  }
  close(code = 1000) {
    if (this.readyState === 3) return
    this.closedWith = code
    this.readyState = 3
  }
  // Engine side: accept the attach; the first frame is the viewer's state.
  open(role: Role = 'driver') {
    this.readyState = 1
    this.onopen?.({})
    this.control({ state: 'attached', role })
  }
  frame(f: Frame) {
    const b = encodeFrame(f)
    this.onmessage?.({ data: b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) })
  }
  output(offset: number, text: string) {
    this.frame({ kind: Kind.Output, offset, data: enc.encode(text) })
  }
  control(c: Record<string, unknown>) {
    this.frame({ kind: Kind.Control, control: { type: 'state', ...c } })
  }
  drop() {
    this.readyState = 3
    this.onclose?.({ code: 1006, reason: '' })
  }
  inputs(): string {
    return this.sent.filter((f) => f.kind === Kind.Input).map((f) => dec.decode((f as { data: Uint8Array }).data)).join('')
  }
  param(name: string) {
    return new URL(this.url).searchParams.get(name)
  }
}

interface Harness {
  client: StreamClient
  sockets: FakeSocket[]
  screen: () => string
  states: StreamStatus[]
  notices: string[]
  tickets: Role[]
  ticketError: { status?: number } | null
  last: () => FakeSocket
}

function harness(opts: { role?: Role; offset?: number } = {}): Harness {
  const h: Harness = {
    sockets: [],
    states: [],
    notices: [],
    tickets: [],
    ticketError: null,
    screen: () => '',
    last: () => h.sockets[h.sockets.length - 1],
    client: undefined as unknown as StreamClient,
  }
  let screen = ''
  let n = 0
  h.screen = () => screen
  h.client = new StreamClient({
    role: opts.role ?? 'driver',
    offset: opts.offset,
    baseURL: 'ws://engine.test',
    backoffMs: [100, 200, 400],
    ticket: async (role) => {
      h.tickets.push(role)
      if (h.ticketError) throw h.ticketError
      return { ticket: `t${++n}`, role, attach_path: '/api/v1/orgs/o1/sessions/s1/attach' } satisfies Ticket
    },
    open: (url) => {
      const s = new FakeSocket(url)
      h.sockets.push(s)
      return s
    },
    events: {
      output: (d) => (screen += dec.decode(d)),
      reset: () => (screen = ''),
      notice: (t) => h.notices.push(t),
      state: (s) => h.states.push(s),
    },
  })
  return h
}

// Lets the ticket promise resolve and the socket be opened.
async function settle() {
  for (let i = 0; i < 5; i++) await Promise.resolve()
}

describe('StreamClient', () => {
  beforeEach(() => vi.useFakeTimers())
  afterEach(() => vi.useRealTimers())

  it('attaches with a ticket and the offset it holds', async () => {
    const h = harness({ offset: 42 })
    h.client.connect()
    await settle()
    const s = h.last()
    expect(s.url).toBe('ws://engine.test/api/v1/orgs/o1/sessions/s1/attach?ticket=t1&offset=42')
    expect(s.binaryType).toBe('arraybuffer')
    s.open()
    expect(h.client.current.state).toBe('attached')
  })

  it('resumes from the written offset after a drop and writes each byte once', async () => {
    const h = harness()
    h.client.connect()
    await settle()
    let s = h.last()
    s.open()
    s.output(0, 'hello ')
    s.output(6, 'wor')
    expect(h.screen()).toBe('hello wor')
    s.drop()
    expect(h.client.current.state).toBe('reconnecting')
    expect(h.client.current.offset).toBe(9)

    await vi.advanceTimersByTimeAsync(100)
    s = h.last()
    expect(h.sockets).toHaveLength(2)
    expect(s.param('offset')).toBe('9')
    expect(s.param('ticket')).toBe('t2') // tickets are single use: a fresh one per attach
    s.open()
    s.output(6, 'world') // the engine resends from an older offset: overlap dropped
    s.output(11, '!')
    s.output(0, 'hello ') // entirely old
    expect(h.screen()).toBe('hello world!')
    expect(h.client.current.offset).toBe(12)
  })

  it('reconnects with growing backoff and resets it after a frame', async () => {
    const h = harness()
    h.client.connect()
    await settle()
    h.last().drop()
    await vi.advanceTimersByTimeAsync(99)
    expect(h.sockets).toHaveLength(1)
    await vi.advanceTimersByTimeAsync(1)
    expect(h.sockets).toHaveLength(2)
    h.last().drop()
    await vi.advanceTimersByTimeAsync(199)
    expect(h.sockets).toHaveLength(2)
    await vi.advanceTimersByTimeAsync(1)
    expect(h.sockets).toHaveLength(3)
    expect(h.client.current.attempt).toBe(2)
    h.last().open()
    h.last().output(0, 'x')
    expect(h.client.current.attempt).toBe(0)
  })

  it('queues input while reconnecting and sends it after the resize once attached', async () => {
    const h = harness()
    h.client.connect()
    await settle()
    h.client.resize(100, 30)
    expect(h.client.input('ls\r')).toBe(true) // not open yet: queued
    h.last().readyState = 1
    h.last().onopen?.({})
    expect(h.last().sent).toEqual([]) // nothing before the engine says attached
    h.last().control({ state: 'attached', role: 'driver' })
    expect(h.last().sent.map((f) => f.kind)).toEqual([Kind.Resize, Kind.Input])
    expect(h.last().inputs()).toBe('ls\r')

    h.last().drop()
    expect(h.client.input('echo hello\r')).toBe(true)
    await vi.advanceTimersByTimeAsync(100)
    const s = h.last()
    expect(s.sent).toEqual([])
    s.open()
    expect(s.sent[0]).toEqual({ kind: Kind.Resize, cols: 100, rows: 30 })
    expect(s.inputs()).toBe('echo hello\r')
  })

  it('bounds the input queue', async () => {
    const h = harness()
    h.client.connect()
    await settle()
    expect(h.client.input('x'.repeat(64 * 1024))).toBe(true)
    expect(h.client.input('y')).toBe(false)
    expect(h.notices.at(-1)).toContain('too much typed')
  })

  it('holds input while the agent is offline and sends it when attached again', async () => {
    const h = harness()
    h.client.connect()
    await settle()
    const s = h.last()
    s.open()
    s.control({ state: 'agent_offline', role: 'driver' })
    expect(h.client.current.state).toBe('agent_offline')
    h.client.input('pwd\r')
    expect(s.inputs()).toBe('')
    s.control({ state: 'attached', role: 'driver' })
    expect(s.inputs()).toBe('pwd\r')
  })

  it('answers pings with the same nonce', async () => {
    const h = harness()
    h.client.connect()
    await settle()
    const s = h.last()
    s.open()
    s.frame({ kind: Kind.Ping, nonce: 123456789012345678n })
    expect(s.sent).toContainEqual({ kind: Kind.Pong, nonce: 123456789012345678n })
  })

  it('acks every 64 KiB consumed', async () => {
    const h = harness()
    h.client.connect()
    await settle()
    const s = h.last()
    s.open()
    const chunk = 'a'.repeat(32 * 1024)
    s.output(0, chunk)
    expect(s.sent.filter((f) => f.kind === Kind.Ack)).toEqual([])
    s.output(chunk.length, chunk)
    expect(s.sent.filter((f) => f.kind === Kind.Ack)).toEqual([{ kind: Kind.Ack, offset: ACK_EVERY }])
  })

  it('skips a gap with a notice and continues after it', async () => {
    const h = harness({ offset: 10 })
    h.client.connect()
    await settle()
    const s = h.last()
    s.open()
    s.frame({ kind: Kind.Gap, from: 4, to: 50 })
    s.output(50, 'tail')
    expect(h.screen()).toBe('tail')
    expect(h.client.current.offset).toBe(54)
    expect(h.notices[0]).toContain('40 bytes')
  })

  it('never writes output beyond its offset without a gap: it reconnects instead', async () => {
    const h = harness()
    h.client.connect()
    await settle()
    const s = h.last()
    s.open()
    s.output(0, 'abc')
    s.output(10, 'garbage')
    expect(h.screen()).toBe('abc')
    expect(s.closedWith).toBe(4002)
    await vi.advanceTimersByTimeAsync(100)
    expect(h.last().param('offset')).toBe('3')
  })

  it('replaces the screen with a snapshot assembled from chunks, then continues at its offset', async () => {
    const h = harness()
    h.client.connect()
    await settle()
    const s = h.last()
    s.open()
    s.output(0, 'old')
    s.frame({ kind: Kind.Snapshot, offset: 5000, final: false, data: enc.encode('\x1b[Hscreen ') })
    expect(h.screen()).toBe('old')
    s.frame({ kind: Kind.Snapshot, offset: 5000, final: true, data: enc.encode('state') })
    expect(h.screen()).toBe('\x1b[Hscreen state')
    expect(h.client.current.offset).toBe(5000)
    s.output(4990, '0123456789more') // overlaps what the snapshot stands for
    expect(h.screen()).toBe('\x1b[Hscreen statemore')
  })

  it('discards a half snapshot when the socket drops', async () => {
    const h = harness()
    h.client.connect()
    await settle()
    h.last().open()
    h.last().frame({ kind: Kind.Snapshot, offset: 7, final: false, data: enc.encode('half') })
    h.last().drop()
    await vi.advanceTimersByTimeAsync(100)
    const s = h.last()
    expect(s.param('offset')).toBe('0')
    s.open()
    s.frame({ kind: Kind.Snapshot, offset: 7, final: true, data: enc.encode('whole') })
    expect(h.screen()).toBe('whole')
  })

  it('stops for good when the session ends', async () => {
    const h = harness()
    h.client.connect()
    await settle()
    const s = h.last()
    s.open()
    s.control({ state: 'ended', reason: 'logged out' })
    expect(h.client.current).toMatchObject({ state: 'ended', reason: 'logged out' })
    expect(s.closedWith).toBe(1000)
    s.drop()
    await vi.advanceTimersByTimeAsync(10_000)
    expect(h.sockets).toHaveLength(1)
    expect(h.client.input('x')).toBe(false)
  })

  it('ends when the engine no longer knows the session', async () => {
    const h = harness()
    h.client.connect()
    await settle()
    h.last().drop()
    h.ticketError = { status: 404 }
    await vi.advanceTimersByTimeAsync(100)
    expect(h.client.current.state).toBe('ended')
    await vi.advanceTimersByTimeAsync(10_000)
    expect(h.sockets).toHaveLength(1)
  })

  it('keeps retrying through transient ticket failures', async () => {
    const h = harness()
    h.client.connect()
    await settle()
    h.last().drop()
    h.ticketError = { status: 503 }
    await vi.advanceTimersByTimeAsync(100 + 200)
    expect(h.client.current.state).toBe('reconnecting')
    h.ticketError = null
    await vi.advanceTimersByTimeAsync(400)
    expect(h.sockets).toHaveLength(2)
  })

  it('observers cannot type; take over re-attaches with a driver ticket', async () => {
    const h = harness({ role: 'observer' })
    h.client.connect()
    await settle()
    let s = h.last()
    s.open('observer')
    s.output(0, 'prompt$ ')
    expect(h.client.current.role).toBe('observer')
    expect(h.client.input('rm -rf /\r')).toBe(false)
    expect(s.sent).toEqual([])

    h.client.takeover()
    await settle()
    expect(h.tickets).toEqual(['observer', 'driver'])
    s = h.last()
    expect(s.param('takeover')).toBe('1')
    expect(s.param('offset')).toBe('8')
    s.open('driver')
    expect(h.client.current.role).toBe('driver')
    expect(h.client.input('ls\r')).toBe(true)
    expect(s.inputs()).toBe('ls\r')
  })

  it('a driver that lost the role takes it back with a control frame', async () => {
    const h = harness()
    h.client.connect()
    await settle()
    const s = h.last()
    s.open()
    s.control({ state: 'attached', role: 'observer' })
    expect(h.client.input('x')).toBe(false)
    h.client.takeover()
    expect(s.sent).toContainEqual({ kind: Kind.Control, control: { type: 'takeover' } })
    s.control({ state: 'attached', role: 'driver' })
    expect(h.client.input('x')).toBe(true)
  })

  it('reports a refused input and becomes an observer', async () => {
    const h = harness()
    h.client.connect()
    await settle()
    const s = h.last()
    s.open()
    s.frame({ kind: Kind.Control, control: { type: 'error', code: 'not_driver', message: 'someone else is driving' } })
    expect(h.client.current.role).toBe('observer')
    expect(h.notices).toContain('someone else is driving')
  })

  it('close() stops reconnecting', async () => {
    const h = harness()
    h.client.connect()
    await settle()
    h.last().open()
    h.client.close()
    expect(h.last().closedWith).toBe(1000)
    await vi.advanceTimersByTimeAsync(10_000)
    expect(h.sockets).toHaveLength(1)
  })

  it('treats a text message as a protocol error', async () => {
    const h = harness()
    h.client.connect()
    await settle()
    const s = h.last()
    s.open()
    s.onmessage?.({ data: 'hello' })
    expect(h.screen()).toBe('')
    expect(s.closedWith).toBe(4002)
  })
})
