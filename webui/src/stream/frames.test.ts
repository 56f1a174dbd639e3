import { describe, expect, it } from 'vitest'
import { decodeFrame, encodeFrame, FrameError, Kind, MAX_FRAME, MAX_OUTPUT, type Frame } from './frames'

const bytes = (...n: number[]) => new Uint8Array(n)

describe('frames', () => {
  const frames: Frame[] = [
    { kind: Kind.Output, offset: 0, data: new TextEncoder().encode('hello') },
    { kind: Kind.Output, offset: 2 ** 40, data: new Uint8Array() },
    { kind: Kind.Input, data: bytes(3, 4) },
    { kind: Kind.Resize, cols: 80, rows: 24 },
    { kind: Kind.Ack, offset: 65536 },
    { kind: Kind.Ping, nonce: 0xffffffffffffffffn },
    { kind: Kind.Pong, nonce: 7n },
    { kind: Kind.Gap, from: 1, to: 9 },
    { kind: Kind.Control, control: { type: 'state', state: 'attached', role: 'driver', offset: 5 } },
    { kind: Kind.Snapshot, offset: 12, final: true, data: bytes(27, 99) },
    { kind: Kind.Snapshot, offset: 12, final: false, data: new Uint8Array() },
  ]
  it.each(frames.map((f) => [Kind[f.kind], f] as const))('round-trips %s', (_, f) => {
    expect(decodeFrame(encodeFrame(f))).toEqual(f)
  })

  it('matches the Go encoding byte for byte', () => {
    // stream.AppendFrame(nil, stream.Output{Offset: 258, Data: []byte("hi")})
    expect(encodeFrame({ kind: Kind.Output, offset: 258, data: new TextEncoder().encode('hi') })).toEqual(
      bytes(1, 0, 0, 0, 0, 0, 0, 1, 2, 0x68, 0x69),
    )
    // stream.Resize{Cols: 80, Rows: 24}
    expect(encodeFrame({ kind: Kind.Resize, cols: 80, rows: 24 })).toEqual(bytes(3, 0, 80, 0, 24))
    // stream.Control{Type: "takeover"}
    expect(new TextDecoder().decode(encodeFrame({ kind: Kind.Control, control: { type: 'takeover' } }).subarray(1))).toBe(
      '{"type":"takeover"}',
    )
  })

  it.each([
    ['empty', bytes()],
    ['unknown type', bytes(42)],
    ['short output', bytes(1, 0, 0)],
    ['short resize', bytes(3, 0, 80)],
    ['zero resize', bytes(3, 0, 0, 0, 24)],
    ['long ack', bytes(4, 0, 0, 0, 0, 0, 0, 0, 0, 0)],
    ['empty gap', bytes(7, 0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0, 5)],
    ['offset beyond 2^53', bytes(4, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff)],
    ['control not an object', new Uint8Array([8, ...new TextEncoder().encode('[1]')])],
    ['control without type', new Uint8Array([8, ...new TextEncoder().encode('{"state":"x"}')])],
    ['control bad utf-8', bytes(8, 0x7b, 0xff, 0x7d)],
    ['short snapshot', bytes(9, 0, 0, 0, 0, 0, 0, 0, 0)],
    ['snapshot reserved flags', bytes(9, 0, 0, 0, 0, 0, 0, 0, 1, 2)],
    ['oversized frame', new Uint8Array(MAX_FRAME + 2)],
    ['oversized output', (() => { const b = new Uint8Array(9 + MAX_OUTPUT + 1); b[0] = 1; return b })()],
  ])('rejects %s', (_, b) => {
    expect(() => decodeFrame(b)).toThrow(FrameError)
  })

  it('never throws anything but FrameError on random input', () => {
    let seed = 1
    const rnd = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff)
    for (let i = 0; i < 5000; i++) {
      const b = new Uint8Array(Math.floor(rnd() * 40))
      for (let j = 0; j < b.length; j++) b[j] = Math.floor(rnd() * 256)
      if (b.length > 0) b[0] = 1 + Math.floor(rnd() * 10)
      try {
        decodeFrame(b)
      } catch (err) {
        expect(err).toBeInstanceOf(FrameError)
      }
    }
  })

  it('refuses to encode what a decoder would reject', () => {
    expect(() => encodeFrame({ kind: Kind.Resize, cols: 0, rows: 1 })).toThrow(FrameError)
    expect(() => encodeFrame({ kind: Kind.Gap, from: 5, to: 5 })).toThrow(FrameError)
    expect(() => encodeFrame({ kind: Kind.Output, offset: 0, data: new Uint8Array(MAX_OUTPUT + 1) })).toThrow(FrameError)
    expect(() => encodeFrame({ kind: Kind.Control, control: { type: '' } })).toThrow(FrameError)
  })
})
