import { afterEach, describe, expect, it, vi } from 'vitest'
import { updateService, validateService } from './services'
import type { Service } from './types'

const svc = (id: string, name: string, port: number): Service => ({
  id,
  name,
  protocol: 'ssh',
  port,
  target: `127.0.0.1:${port}`,
  created_at: '2026-01-01T00:00:00Z',
})

describe('validateService', () => {
  const others = [svc('svc_2', 'web', 8080)]

  it('builds the body; an empty target is left to the engine', () => {
    expect(validateService({ name: ' ssh ', protocol: 'ssh', port: '22', target: '' }, others)).toEqual({
      body: { name: 'ssh', protocol: 'ssh', port: 22, target: undefined, record: false },
      errors: {},
    })
  })

  it.each([
    [{ name: 'a b', port: '22', target: '' }, 'name', /Name: 1 to 63/],
    [{ name: 'web', port: '22', target: '' }, 'name', /web is already a service/],
    [{ name: 'ssh', port: '0', target: '' }, 'port', /Port of ssh: 0 is out of range/],
    [{ name: 'ssh', port: '8080', target: '' }, 'port', /8080 is already used by web/],
    [{ name: 'ssh', port: '22', target: 'host' }, 'target', /Target of ssh/],
    [{ name: 'ssh', port: '22', target: 'host:65536' }, 'target', /Target of ssh/],
  ])('refuses %j naming the %s field', (draft, field, want) => {
    const v = validateService({ protocol: 'ssh', ...draft }, others)
    expect(v.body).toBeUndefined()
    expect(v.errors[field]).toMatch(want)
  })
})

describe('updateService', () => {
  afterEach(() => vi.unstubAllGlobals())

  it('PATCHes the service in place under its id', async () => {
    const answer = { ...svc('svc_1', 'ssh', 2222), record: true }
    const fetch = vi.fn(async () => new Response(JSON.stringify(answer), { status: 200, headers: { 'Content-Type': 'application/json' } }))
    vi.stubGlobal('fetch', fetch)
    const body = { name: 'ssh', protocol: 'ssh', port: 2222, record: true }
    await expect(updateService('org_1', 'dev_1', 'svc_1', body)).resolves.toEqual(answer)
    expect(fetch).toHaveBeenCalledOnce()
    const [url, init] = fetch.mock.calls[0] as unknown as [string, RequestInit]
    expect(url).toBe('/api/v1/orgs/org_1/devices/dev_1/services/svc_1')
    expect(init.method).toBe('PATCH')
    expect(JSON.parse(init.body as string)).toEqual(body)
  })
})
