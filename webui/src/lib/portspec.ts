// Port specs: what a person types to name ports, validated before anything
// is sent to the engine. A spec is a single port ("22") or an inclusive range
// ("8000-8010"); a list separates specs with commas or spaces. Every error
// names the field (and, in a list, the item) it is about, so the form can say
// exactly what to fix.

/** Lowest and highest valid TCP port. 0 is not a port one can connect to. */
export const MIN_PORT = 1
export const MAX_PORT = 65535

/** Bounds a list so a typo ("1-65535") cannot ask for tens of thousands of services. */
export const MAX_ITEMS = 64
export const MAX_LIST_PORTS = 256
const MAX_TEXT = 4096

/** An inclusive range of ports; from === to for a single port. */
export interface PortRange {
  from: number
  to: number
}

/** A validation error that names the field (and item) at fault. */
export interface FieldError {
  field: string
  message: string
}

/** The outcome of a parse: a value, or the errors that prevent it. */
export type Parsed<T> = { ok: true; value: T } | { ok: false; errors: FieldError[] }

const digits = /^[0-9]+$/

/** Formats a range the way a person writes it: "22" or "8000-8010". */
export function formatRange(r: PortRange): string {
  return r.from === r.to ? String(r.from) : `${r.from}-${r.to}`
}

/** Parses one port number for the field named field. */
export function parsePort(text: string, field: string): Parsed<number> {
  const s = text.trim()
  if (s === '') return fail(field, 'enter a port number (1 to 65535)')
  if (!digits.test(s)) return fail(field, `“${clip(s)}” is not a port number: use digits only, 1 to 65535`)
  // Digits only, so a long string cannot be a valid port; avoid huge numbers.
  const n = s.length > 6 ? Infinity : Number(s)
  if (n < MIN_PORT || n > MAX_PORT) return fail(field, `${clip(s)} is out of range: a port is 1 to 65535`)
  return { ok: true, value: n }
}

/** Parses one spec: a port or a range "from-to" with from <= to. */
export function parseSpec(text: string, field: string): Parsed<PortRange> {
  const s = text.trim()
  const dash = s.indexOf('-')
  if (dash < 0) {
    const p = parsePort(s, field)
    return p.ok ? { ok: true, value: { from: p.value, to: p.value } } : p
  }
  const a = parsePort(s.slice(0, dash), field)
  const b = parsePort(s.slice(dash + 1), field)
  if (!a.ok || !b.ok) {
    if (s.slice(dash + 1).includes('-')) return fail(field, `“${clip(s)}” is not a range: write it as 8000-8010`)
    return { ok: false, errors: [...(a.ok ? [] : a.errors), ...(b.ok ? [] : b.errors)] }
  }
  if (a.value > b.value) {
    return fail(field, `${a.value}-${b.value} is reversed: write the lower port first (${b.value}-${a.value})`)
  }
  return { ok: true, value: { from: a.value, to: b.value } }
}

/**
 * Parses a list of specs ("22, 80 8000-8010"). Duplicates and overlaps are
 * errors naming both items. The list is bounded by MAX_ITEMS and
 * MAX_LIST_PORTS. An empty list is valid (no ports). The result is sorted.
 */
export function parseSpecList(text: string, field: string): Parsed<PortRange[]> {
  if (text.length > MAX_TEXT) return fail(field, `the list is too long (at most ${MAX_TEXT} characters)`)
  const items = text.split(/[\s,]+/).filter((s) => s !== '')
  if (items.length > MAX_ITEMS) return fail(field, `too many items (${items.length}); at most ${MAX_ITEMS}`)
  const errors: FieldError[] = []
  const seen: { range: PortRange; item: number; text: string }[] = []
  items.forEach((item, i) => {
    const name = `${field}, item ${i + 1} (“${clip(item)}”)`
    const r = parseSpec(item, name)
    if (!r.ok) {
      errors.push(...r.errors)
      return
    }
    const clash = seen.find((s) => s.range.from <= r.value.to && r.value.from <= s.range.to)
    if (clash) {
      const same = clash.range.from === r.value.from && clash.range.to === r.value.to
      errors.push({
        field: name,
        message: same
          ? `duplicates item ${clash.item} (${clash.text})`
          : `overlaps item ${clash.item} (${clash.text}); list each port once`,
      })
      return
    }
    seen.push({ range: r.value, item: i + 1, text: clip(item) })
  })
  if (errors.length > 0) return { ok: false, errors }
  const ranges = seen.map((s) => s.range).sort((a, b) => a.from - b.from)
  const total = ranges.reduce((n, r) => n + r.to - r.from + 1, 0)
  if (total > MAX_LIST_PORTS) {
    return fail(field, `names ${total} ports; at most ${MAX_LIST_PORTS} (each port becomes a service)`)
  }
  return { ok: true, value: ranges }
}

/** Expands ranges into their ports, ascending. */
export function expand(ranges: PortRange[]): number[] {
  const out: number[] = []
  for (const r of ranges) for (let p = r.from; p <= r.to; p++) out.push(p)
  return out
}

/** Compresses ports into the fewest ranges, e.g. [22, 80, 81, 82] -> 22, 80-82. */
export function compress(ports: number[]): PortRange[] {
  const sorted = [...new Set(ports)].sort((a, b) => a - b)
  const out: PortRange[] = []
  for (const p of sorted) {
    const last = out[out.length - 1]
    if (last && last.to + 1 === p) last.to = p
    else out.push({ from: p, to: p })
  }
  return out
}

/** Formats an error for display: "Field: message". */
export function describe(e: FieldError): string {
  return `${e.field}: ${e.message}`
}

function fail<T>(field: string, message: string): Parsed<T> {
  return { ok: false, errors: [{ field, message }] }
}

function clip(s: string): string {
  return s.length > 24 ? s.slice(0, 21) + '…' : s
}
