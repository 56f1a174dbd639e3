// Frames of the session stream (protocols/stream/README.md): one frame per
// binary WebSocket message, `type (1 byte) | fixed fields (big-endian) |
// payload`. Decoding checks every length and never trusts the peer: a bad
// frame is a FrameError, never a partial result.

/** Largest payload (bytes after the type byte) of any frame. */
export const MAX_FRAME = 64 * 1024
/** Largest data of an Output frame. */
export const MAX_OUTPUT = 32 * 1024

export enum Kind {
  Output = 1,
  Input = 2,
  Resize = 3,
  Ack = 4,
  Ping = 5,
  Pong = 6,
  Gap = 7,
  Control = 8,
  Snapshot = 9,
}

/** A JSON control frame: state changes, errors, and the viewer's takeover request. */
export interface Control {
  type: string
  state?: string
  role?: string
  offset?: number
  reason?: string
  code?: string
  message?: string
}

export type Frame =
  | { kind: Kind.Output; offset: number; data: Uint8Array }
  | { kind: Kind.Input; data: Uint8Array }
  | { kind: Kind.Resize; cols: number; rows: number }
  | { kind: Kind.Ack; offset: number }
  | { kind: Kind.Ping; nonce: bigint }
  | { kind: Kind.Pong; nonce: bigint }
  | { kind: Kind.Gap; from: number; to: number }
  | { kind: Kind.Control; control: Control }
  | { kind: Kind.Snapshot; offset: number; final: boolean; data: Uint8Array }

/** A malformed or oversized frame. */
export class FrameError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'FrameError'
  }
}

const utf8 = new TextEncoder()
const strictUTF8 = new TextDecoder('utf-8', { fatal: true })

/** Encodes a frame; it throws FrameError for a frame a decoder would reject. */
export function encodeFrame(f: Frame): Uint8Array {
  switch (f.kind) {
    case Kind.Output:
      if (f.data.length > MAX_OUTPUT) throw new FrameError(`output of ${f.data.length} bytes`)
      return withHeader(Kind.Output, 8, f.data, (v) => setOffset(v, 1, f.offset))
    case Kind.Input:
      if (f.data.length > MAX_FRAME) throw new FrameError(`input of ${f.data.length} bytes`)
      return withHeader(Kind.Input, 0, f.data)
    case Kind.Resize:
      if (!validDim(f.cols) || !validDim(f.rows)) throw new FrameError(`resize to ${f.cols}x${f.rows}`)
      return withHeader(Kind.Resize, 4, undefined, (v) => {
        v.setUint16(1, f.cols)
        v.setUint16(3, f.rows)
      })
    case Kind.Ack:
      return withHeader(Kind.Ack, 8, undefined, (v) => setOffset(v, 1, f.offset))
    case Kind.Ping:
    case Kind.Pong:
      return withHeader(f.kind, 8, undefined, (v) => v.setBigUint64(1, BigInt.asUintN(64, f.nonce)))
    case Kind.Gap:
      if (!(f.from < f.to)) throw new FrameError(`gap [${f.from},${f.to})`)
      return withHeader(Kind.Gap, 16, undefined, (v) => {
        setOffset(v, 1, f.from)
        setOffset(v, 9, f.to)
      })
    case Kind.Control: {
      if (!f.control.type) throw new FrameError('control without type')
      const body = utf8.encode(JSON.stringify(f.control))
      if (body.length > MAX_FRAME) throw new FrameError(`control of ${body.length} bytes`)
      return withHeader(Kind.Control, 0, body)
    }
    case Kind.Snapshot:
      if (f.data.length > MAX_OUTPUT) throw new FrameError(`snapshot chunk of ${f.data.length} bytes`)
      return withHeader(Kind.Snapshot, 9, f.data, (v) => {
        setOffset(v, 1, f.offset)
        v.setUint8(9, f.final ? 1 : 0)
      })
  }
}

/** Decodes one frame (one WebSocket message). The result does not alias b. */
export function decodeFrame(input: ArrayBuffer | Uint8Array): Frame {
  const b = input instanceof Uint8Array ? input : new Uint8Array(input)
  if (b.length === 0) throw new FrameError('empty frame')
  if (b.length > 1 + MAX_FRAME) throw new FrameError(`frame of ${b.length} bytes`)
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength)
  const p = b.length - 1 // payload length
  const kind = b[0]
  switch (kind) {
    case Kind.Output: {
      need(p >= 8, 'output header')
      const offset = getOffset(v, 1)
      const data = b.slice(9)
      if (data.length > MAX_OUTPUT) throw new FrameError(`output of ${data.length} bytes`)
      need(Number.isSafeInteger(offset + data.length), 'output offset overflows')
      return { kind, offset, data }
    }
    case Kind.Input:
      return { kind, data: b.slice(1) }
    case Kind.Resize: {
      need(p === 4, 'resize length')
      const cols = v.getUint16(1)
      const rows = v.getUint16(3)
      need(cols > 0 && rows > 0, 'resize to zero')
      return { kind, cols, rows }
    }
    case Kind.Ack:
      need(p === 8, 'ack length')
      return { kind, offset: getOffset(v, 1) }
    case Kind.Ping:
    case Kind.Pong:
      need(p === 8, 'ping length')
      return { kind, nonce: v.getBigUint64(1) }
    case Kind.Gap: {
      need(p === 16, 'gap length')
      const from = getOffset(v, 1)
      const to = getOffset(v, 9)
      need(from < to, 'empty gap')
      return { kind, from, to }
    }
    case Kind.Control:
      return { kind, control: decodeControl(b.subarray(1)) }
    case Kind.Snapshot: {
      need(p >= 9, 'snapshot header')
      const flags = v.getUint8(9)
      need((flags & ~1) === 0, 'snapshot flags')
      const data = b.slice(10)
      if (data.length > MAX_OUTPUT) throw new FrameError(`snapshot chunk of ${data.length} bytes`)
      return { kind, offset: getOffset(v, 1), final: (flags & 1) === 1, data }
    }
  }
  throw new FrameError(`unknown frame type ${kind}`)
}

function decodeControl(p: Uint8Array): Control {
  if (p.length === 0 || p[0] !== 0x7b) throw new FrameError('control is not a JSON object')
  let parsed: unknown
  try {
    parsed = JSON.parse(strictUTF8.decode(p))
  } catch {
    throw new FrameError('control is not UTF-8 JSON')
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new FrameError('control is not a JSON object')
  }
  const o = parsed as Record<string, unknown>
  if (typeof o.type !== 'string' || o.type === '') throw new FrameError('control without type')
  const c: Control = { type: o.type }
  for (const k of ['state', 'role', 'reason', 'code', 'message'] as const) {
    if (typeof o[k] === 'string') c[k] = o[k] as string
  }
  if (typeof o.offset === 'number' && Number.isSafeInteger(o.offset) && o.offset >= 0) c.offset = o.offset
  return c
}

function withHeader(kind: Kind, fixed: number, data?: Uint8Array, set?: (v: DataView) => void): Uint8Array {
  const out = new Uint8Array(1 + fixed + (data?.length ?? 0))
  out[0] = kind
  if (set) set(new DataView(out.buffer))
  if (data) out.set(data, 1 + fixed)
  return out
}

function setOffset(v: DataView, at: number, n: number) {
  if (!Number.isSafeInteger(n) || n < 0) throw new FrameError(`offset ${n}`)
  v.setBigUint64(at, BigInt(n))
}

// Offsets are u64 on the wire; beyond 2^53 (petabytes of output) they are
// refused rather than silently rounded.
function getOffset(v: DataView, at: number): number {
  const n = v.getBigUint64(at)
  if (n > BigInt(Number.MAX_SAFE_INTEGER)) throw new FrameError('offset beyond 2^53')
  return Number(n)
}

function validDim(n: number): boolean {
  return Number.isInteger(n) && n > 0 && n <= 0xffff
}

function need(ok: boolean, what: string) {
  if (!ok) throw new FrameError(`bad frame: ${what}`)
}
