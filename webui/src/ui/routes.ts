// Routes are hash fragments (#/device/dev_1), so the engine serves one page
// and every deep link survives a reload. A route is also a tab's identity.

export type Route =
  | { kind: 'home' }
  | { kind: 'device'; id: string }
  | { kind: 'sessions' }
  | { kind: 'admin'; section: AdminSection }
  | { kind: 'audit' }
  | { kind: 'term'; id: string; role?: 'driver' | 'observer' }
  | { kind: 'rec'; id: string }

export const ADMIN_SECTIONS = ['tokens', 'members', 'groups', 'grants', 'idps', 'sessions', 'orgs', 'users'] as const
export type AdminSection = (typeof ADMIN_SECTIONS)[number]

const ID = /^[A-Za-z0-9_.:-]{1,128}$/

/** Parses a location hash; anything unknown is home. */
export function parseRoute(hash: string): Route {
  const [path, query = ''] = hash.replace(/^#\/?/, '').split('?')
  const [kind, arg = ''] = path.split('/').map((s) => safeDecode(s))
  const q = new URLSearchParams(query)
  switch (kind) {
    case 'device':
      return ID.test(arg) ? { kind, id: arg } : { kind: 'home' }
    case 'sessions':
    case 'audit':
      return { kind }
    case 'admin':
      return { kind, section: (ADMIN_SECTIONS as readonly string[]).includes(arg) ? (arg as AdminSection) : 'tokens' }
    case 'term':
      if (!ID.test(arg)) return { kind: 'home' }
      return q.get('role') === 'observer' ? { kind, id: arg, role: 'observer' } : { kind, id: arg }
    case 'rec':
      return ID.test(arg) ? { kind, id: arg } : { kind: 'home' }
  }
  return { kind: 'home' }
}

/** Formats a route as a hash. */
export function formatRoute(r: Route): string {
  switch (r.kind) {
    case 'home':
      return '#/'
    case 'device':
    case 'rec':
      return `#/${r.kind}/${encodeURIComponent(r.id)}`
    case 'term':
      return `#/term/${encodeURIComponent(r.id)}${r.role === 'observer' ? '?role=observer' : ''}`
    case 'admin':
      return `#/admin/${r.section}`
    default:
      return `#/${r.kind}`
  }
}

/** The identity of the tab that shows a route (admin sections share one tab). */
export function tabKey(r: Route): string {
  switch (r.kind) {
    case 'device':
    case 'term':
    case 'rec':
      return `${r.kind}:${r.id}`
    default:
      return r.kind
  }
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s)
  } catch {
    return ''
  }
}
