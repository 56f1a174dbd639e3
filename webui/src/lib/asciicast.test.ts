import { describe, expect, it } from 'vitest'
import { delays, parseCast } from './asciicast'

describe('parseCast', () => {
  it('parses a recording', () => {
    const c = parseCast('{"version":2,"width":80,"height":24}\n[0.5,"o","$ "]\n[1.25,"i","l"]\n\n[9,"o","done\\r\\n"]\n')
    expect(c.width).toBe(80)
    expect(c.height).toBe(24)
    expect(c.duration).toBe(9)
    expect(c.events.map((e) => e.data)).toEqual(['$ ', 'l', 'done\r\n'])
  })

  it.each([
    ['', 'line 1'],
    ['{"version":1,"width":80,"height":24}', 'line 1'],
    ['{"version":2,"width":0,"height":24}', 'line 1'],
    ['{"version":2,"width":80,"height":24}\n[1,"o"]', 'line 2'],
    ['{"version":2,"width":80,"height":24}\n[2,"o","a"]\n[1,"o","b"]', 'line 3'],
    ['{"version":2,"width":80,"height":24}\nnope', 'line 2'],
  ])('rejects %j naming the line', (text, line) => {
    expect(() => parseCast(text)).toThrow(line)
  })
})

describe('delays', () => {
  it('caps idle time and scales by speed', () => {
    const ev = [0.5, 1, 30].map((time) => ({ time, code: 'o', data: '' }))
    expect(delays(ev)).toEqual([0.5, 0.5, 2])
    expect(delays(ev, 2)).toEqual([0.25, 0.25, 1])
  })
})
