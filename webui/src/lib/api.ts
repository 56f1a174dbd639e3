// The console's only way to the engine: the public REST API under /api/v1
// (same origin, session cookie, X-CSRF-Token on state-changing requests).
// Failures become ApiError with a message a person understands; the code and
// trace id stay available for a bug report.

import type { Me } from './types'

/** A failed API call. */
export class ApiError extends Error {
  readonly status: number
  readonly code: string
  readonly traceId?: string
  constructor(status: number, code: string, message: string, traceId?: string) {
    super(message)
    this.name = 'ApiError'
    this.status = status
    this.code = code
    this.traceId = traceId
  }
}

let csrfToken = ''
let onSignedOut: (() => void) | null = null
let pending = 0
const pendingListeners = new Set<(n: number) => void>()

/** Sets the CSRF token from GET /api/v1/auth/me. */
export function setCSRF(token: string | undefined) {
  csrfToken = token ?? ''
}

/** Called when a request answers 401: the session is gone. */
export function onUnauthenticated(f: (() => void) | null) {
  onSignedOut = f
}

/** Subscribes to the number of requests in flight (for the progress bar). */
export function watchPending(f: (n: number) => void): () => void {
  pendingListeners.add(f)
  return () => pendingListeners.delete(f)
}

function setPending(d: number) {
  pending += d
  for (const f of pendingListeners) f(pending)
}

const MAX_RESPONSE = 16 * 1024 * 1024

/** Calls the API. body, when given, is sent as JSON. 204 answers undefined. */
export async function api<T>(method: string, path: string, body?: unknown, init?: { signal?: AbortSignal; quiet?: boolean }): Promise<T> {
  const headers: Record<string, string> = { Accept: 'application/json' }
  if (body !== undefined) headers['Content-Type'] = 'application/json'
  if (method !== 'GET' && method !== 'HEAD' && csrfToken) headers['X-CSRF-Token'] = csrfToken
  if (!init?.quiet) setPending(1)
  let resp: Response
  try {
    resp = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'same-origin',
      signal: init?.signal,
    })
  } catch (err) {
    if ((err as Error)?.name === 'AbortError') throw err
    throw new ApiError(0, 'network', 'Cannot reach the engine. Check your connection; the console retries on its own.')
  } finally {
    if (!init?.quiet) setPending(-1)
  }
  if (resp.status === 204) return undefined as T
  const text = await resp.text()
  if (text.length > MAX_RESPONSE) throw new ApiError(resp.status, 'too_large', 'The engine sent more than the console can show.')
  let data: unknown = undefined
  if (text !== '') {
    try {
      data = JSON.parse(text)
    } catch {
      data = undefined
    }
  }
  if (!resp.ok) {
    const env = (data as { error?: { code?: string; message?: string; trace_id?: string } } | undefined)?.error
    const code = env?.code ?? `http_${resp.status}`
    const err = new ApiError(resp.status, code, humanMessage(resp.status, code, env?.message ?? ''), env?.trace_id)
    if (resp.status === 401 && onSignedOut && !path.startsWith('/api/v1/auth/login')) onSignedOut()
    throw err
  }
  if (data === undefined) throw new ApiError(resp.status, 'bad_response', 'The engine sent an answer the console cannot read.')
  return data as T
}

export const get = <T>(path: string, init?: { signal?: AbortSignal; quiet?: boolean }) => api<T>('GET', path, undefined, init)
export const post = <T>(path: string, body: unknown = {}) => api<T>('POST', path, body)
export const patch = <T>(path: string, body: unknown) => api<T>('PATCH', path, body)
export const del = (path: string) => api<void>('DELETE', path)

/** Builds /api/v1/orgs/{org}/... with each path segment escaped. */
export function orgPath(org: string, ...segments: string[]): string {
  return ['/api/v1/orgs', org, ...segments].map((s, i) => (i === 0 ? s : encodeURIComponent(s))).join('/')
}

/** Appends a query string built from the defined, non-empty values. */
export function withQuery(path: string, q: Record<string, string | number | undefined>): string {
  const p = new URLSearchParams()
  for (const [k, v] of Object.entries(q)) if (v !== undefined && v !== '') p.set(k, String(v))
  const s = p.toString()
  return s ? `${path}?${s}` : path
}

/**
 * Loads the signed-in user; an ApiError with status 401 means: show the login
 * page. It asks with ?optional=1, so being signed out is a 204, not an error
 * in the browser's console.
 */
export async function loadMe(): Promise<Me> {
  const me = await get<Me | undefined>('/api/v1/auth/me?optional=1', { quiet: true })
  if (!me) throw new ApiError(401, 'unauthenticated', 'You are signed out.')
  setCSRF(me.csrf_token)
  return me
}

const FRIENDLY: Record<string, string> = {
  network: 'Cannot reach the engine. Check your connection.',
  unauthenticated: 'You are signed out. Sign in again to continue.',
  csrf_token_invalid: 'This page is out of date with your session. Reload the page and try again.',
  origin_mismatch: 'The request did not come from this console. Reload the page and try again.',
  body_too_large: 'That is too much data for one request.',
  malformed_json: 'The console sent a request the engine could not read. Reload the page and try again.',
  method_not_allowed: 'The engine does not support this action.',
  route_not_found: 'This engine does not have that feature (it may be an older version).',
  user_disabled: 'This account is disabled. Ask an administrator.',
  no_idp: 'No identity provider signs in this email address. Check the address, or ask your administrator.',
  org_not_found: 'That organization does not exist, or you are not a member of it.',
  internal: 'Something went wrong in the engine.',
}

/**
 * Turns an error envelope into a sentence for a person. The engine's
 * messages are written for people already ("port: must be between 1 and
 * 65535"); known codes get a clearer one, and internal errors keep their
 * trace id so an operator can find the cause in the engine's log.
 */
export function humanMessage(status: number, code: string, message: string): string {
  if (code === 'forbidden') {
    const why = message.replace(/^you may not do this:\s*/i, '')
    return `You don't have permission to do this${why && why !== message ? ` (${why})` : ''}.`
  }
  if (code.endsWith('_not_found') && !FRIENDLY[code]) {
    const what = code.slice(0, -'_not_found'.length).replace(/_/g, ' ')
    return `The ${what} was not found. It may have been deleted, or you may not have access to it.`
  }
  if (code.endsWith('_taken')) {
    const what = code.slice(0, -'_taken'.length).replace(/_/g, ' ')
    return `That ${what} is already in use. Choose another.`
  }
  if (code === 'invalid_field' || code === 'unknown_field') return sentence(message)
  if (FRIENDLY[code]) return FRIENDLY[code]
  // Other codes come with a message written for people ("the SSH server
  // refused the stored credential"); internal errors never do.
  if (message) return sentence(message)
  if (status >= 500) return 'Something went wrong in the engine. Try again; if it persists, tell your operator.'
  return `The engine refused the request (${status}).`
}

function sentence(s: string): string {
  if (!s) return s
  const t = s.charAt(0).toUpperCase() + s.slice(1)
  return /[.!?]$/.test(t) ? t : t + '.'
}

/** A message for any caught error, with the trace id when there is one. */
export function describeError(err: unknown): string {
  if (err instanceof ApiError) return err.traceId && err.status >= 500 ? `${err.message} (reference ${err.traceId})` : err.message
  if (err instanceof Error) return err.message
  return String(err)
}
