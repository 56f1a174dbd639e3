import { describe, expect, it } from 'vitest'
import { compress, expand, formatRange, parsePort, parseSpec, parseSpecList, MAX_LIST_PORTS } from './portspec'

describe('parsePort', () => {
  it.each([
    ['22', 22],
    [' 1 ', 1],
    ['65535', 65535],
    ['0022', 22],
  ])('accepts %j', (text, want) => {
    expect(parsePort(text, 'Port')).toEqual({ ok: true, value: want })
  })

  it.each([
    ['0', 'out of range'],
    ['65536', 'out of range'],
    ['99999999999999999999', 'out of range'],
    ['', 'enter a port number'],
    ['-1', 'not a port number'],
    ['+22', 'not a port number'],
    ['22.0', 'not a port number'],
    ['1e3', 'not a port number'],
    ['ssh', 'not a port number'],
    ['0x16', 'not a port number'],
  ])('rejects %j naming the field', (text, want) => {
    const r = parsePort(text, 'Port of ssh')
    expect(r.ok).toBe(false)
    if (r.ok) return
    expect(r.errors).toHaveLength(1)
    expect(r.errors[0].field).toBe('Port of ssh')
    expect(r.errors[0].message).toContain(want)
  })
})

describe('parseSpec', () => {
  it('parses single ports and ranges', () => {
    expect(parseSpec('22', 'F')).toEqual({ ok: true, value: { from: 22, to: 22 } })
    expect(parseSpec('8000-8010', 'F')).toEqual({ ok: true, value: { from: 8000, to: 8010 } })
    expect(parseSpec('5-5', 'F')).toEqual({ ok: true, value: { from: 5, to: 5 } })
  })

  it.each([
    ['8010-8000', 'reversed'],
    ['0-10', 'out of range'],
    ['1-65536', 'out of range'],
    ['8000-', 'enter a port number'],
    ['-8000', 'enter a port number'],
    ['1-2-3', 'not a range'],
  ])('rejects %j', (text, want) => {
    const r = parseSpec(text, 'Allowed ports')
    expect(r.ok).toBe(false)
    if (r.ok) return
    expect(r.errors[0].field).toBe('Allowed ports')
    expect(r.errors.map((e) => e.message).join(' ')).toContain(want)
  })
})

describe('parseSpecList', () => {
  it('accepts commas, spaces and an empty list, and sorts', () => {
    expect(parseSpecList('8000-8010, 22 80', 'F')).toEqual({
      ok: true,
      value: [
        { from: 22, to: 22 },
        { from: 80, to: 80 },
        { from: 8000, to: 8010 },
      ],
    })
    expect(parseSpecList('  ', 'F')).toEqual({ ok: true, value: [] })
  })

  it('rejects duplicates naming both items', () => {
    const r = parseSpecList('22, 80, 22', 'Allowed ports')
    expect(r.ok).toBe(false)
    if (r.ok) return
    expect(r.errors).toEqual([{ field: 'Allowed ports, item 3 (“22”)', message: 'duplicates item 1 (22)' }])
  })

  it('rejects overlapping ranges', () => {
    const r = parseSpecList('8000-8010 8005', 'Allowed ports')
    expect(r.ok).toBe(false)
    if (r.ok) return
    expect(r.errors[0].field).toBe('Allowed ports, item 2 (“8005”)')
    expect(r.errors[0].message).toContain('overlaps item 1 (8000-8010)')
  })

  it('reports every bad item, each with its own field', () => {
    const r = parseSpecList('0, 22, 65536, 10-5', 'Allowed ports')
    expect(r.ok).toBe(false)
    if (r.ok) return
    expect(r.errors.map((e) => e.field)).toEqual([
      'Allowed ports, item 1 (“0”)',
      'Allowed ports, item 3 (“65536”)',
      'Allowed ports, item 4 (“10-5”)',
    ])
  })

  it('bounds the number of ports', () => {
    const r = parseSpecList(`1-${MAX_LIST_PORTS + 1}`, 'Allowed ports')
    expect(r.ok).toBe(false)
    expect(parseSpecList(`1-${MAX_LIST_PORTS}`, 'Allowed ports').ok).toBe(true)
  })

  it('bounds the input', () => {
    expect(parseSpecList('1,'.repeat(5000), 'F').ok).toBe(false)
    expect(parseSpecList(Array.from({ length: 65 }, (_, i) => i + 1).join(','), 'F').ok).toBe(false)
  })
})

describe('expand and compress', () => {
  it('round-trip', () => {
    const ranges = [
      { from: 22, to: 22 },
      { from: 80, to: 82 },
    ]
    expect(expand(ranges)).toEqual([22, 80, 81, 82])
    expect(compress([82, 22, 80, 81, 80])).toEqual(ranges)
    expect(compress([]).map(formatRange)).toEqual([])
    expect(compress([1, 3]).map(formatRange)).toEqual(['1', '3'])
  })
})
