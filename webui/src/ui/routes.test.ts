import { describe, expect, it } from 'vitest'
import { formatRoute, parseRoute, tabKey, type Route } from './routes'

describe('routes', () => {
  const routes: Route[] = [
    { kind: 'home' },
    { kind: 'device', id: 'dev_abc' },
    { kind: 'sessions' },
    { kind: 'admin', section: 'grants' },
    { kind: 'audit' },
    { kind: 'term', id: 'rs_1' },
    { kind: 'term', id: 'rs_1', role: 'observer' },
    { kind: 'rec', id: 'rs_2' },
  ]
  it.each(routes.map((r) => [formatRoute(r), r] as const))('round-trips %s', (_, r) => {
    expect(parseRoute(formatRoute(r))).toEqual(r)
  })
  it('treats anything odd as home', () => {
    for (const h of ['', '#', '#/nope', '#/device/', '#/device/a b', '#/term/%E0%A4%A', '#/device/' + 'x'.repeat(200)]) {
      expect(parseRoute(h)).toEqual({ kind: 'home' })
    }
    expect(parseRoute('#/admin/bogus')).toEqual({ kind: 'admin', section: 'tokens' })
  })
  it('gives one tab per device and per session, one for admin', () => {
    expect(tabKey({ kind: 'admin', section: 'users' })).toBe(tabKey({ kind: 'admin', section: 'tokens' }))
    expect(tabKey({ kind: 'term', id: 'a' })).toBe(tabKey({ kind: 'term', id: 'a', role: 'observer' }))
    expect(tabKey({ kind: 'device', id: 'a' })).not.toBe(tabKey({ kind: 'device', id: 'b' }))
  })
})
