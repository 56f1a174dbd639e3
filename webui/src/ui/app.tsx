// The console's root: finds out who is signed in (GET /api/v1/auth/me) and
// shows the sign-in page, the first-organization page or the console.

import { useCallback, useEffect, useState } from 'preact/hooks'
import { ApiError, describeError, get, loadMe, onUnauthenticated, orgPath, post, setCSRF } from '../lib/api'
import type { Me, Organization } from '../lib/types'
import { Button, ErrorBox, Field, Loading, useAction } from './common'
import { Logo } from './icons'
import { Login } from './login'
import { Shell } from './shell'

type View = { kind: 'loading' } | { kind: 'login'; notice?: string } | { kind: 'error'; error: string } | { kind: 'me'; me: Me }

export function App() {
  const [view, setView] = useState<View>({ kind: 'loading' })

  const refresh = useCallback(async () => {
    try {
      setView({ kind: 'me', me: await loadMe() })
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) setView({ kind: 'login' })
      else setView({ kind: 'error', error: describeError(err) })
    }
  }, [])

  useEffect(() => {
    onUnauthenticated(() => setView({ kind: 'login', notice: 'Your session ended. Sign in again to continue.' }))
    void refresh()
    return () => onUnauthenticated(null)
  }, [])

  const signOut = useCallback(async () => {
    try {
      await post('/api/v1/auth/logout')
    } catch {
      // Signed out already, or the engine is unreachable: show the login page either way.
    }
    setCSRF('')
    setView({ kind: 'login', notice: 'You are signed out.' })
  }, [])

  const switchOrg = useCallback(async (orgId: string) => {
    try {
      const me = await post<Me>('/api/v1/auth/org', { org_id: orgId })
      setCSRF(me.csrf_token)
      history.replaceState(null, '', '#/')
      setView({ kind: 'me', me })
    } catch (err) {
      setView({ kind: 'error', error: describeError(err) })
    }
  }, [])

  switch (view.kind) {
    case 'loading':
      return (
        <div class="splash">
          <Loading what="Warren" />
        </div>
      )
    case 'login':
      return <Login notice={view.notice} />
    case 'error':
      return (
        <div class="splash">
          <div class="login-card">
            <h1>Warren is not answering</h1>
            <ErrorBox error={view.error} />
            <Button kind="primary" onClick={() => void refresh()}>
              Try again
            </Button>
          </div>
        </div>
      )
    case 'me':
      if (!view.me.org) return <NoOrg me={view.me} onSignOut={signOut} onOpen={switchOrg} />
      return <Shell key={view.me.org.id} me={view.me} org={view.me.org} onSignOut={signOut} onSwitchOrg={switchOrg} />
  }
}

/**
 * A user without a current organization. Members of some pick one; a
 * platform admin can create one (and joins it as its admin) or open any.
 */
function NoOrg({ me, onSignOut, onOpen }: { me: Me; onSignOut: () => void; onOpen: (id: string) => Promise<void> }) {
  const [orgs, setOrgs] = useState<Organization[]>([])
  const [name, setName] = useState('')
  const [slug, setSlug] = useState('')
  const [busy, error, run] = useAction()
  const admin = me.user.platform_admin

  useEffect(() => {
    get<Organization[]>('/api/v1/orgs').then(setOrgs, () => {})
  }, [])

  // A platform admin joins an organization as its admin before opening it:
  // the console works in an organization the user is a member of.
  const enter = (o: { id: string; role?: string }) =>
    run(async () => {
      if (!o.role && admin) await post(orgPath(o.id, 'members'), { user_id: me.user.id, role: 'admin' })
      await onOpen(o.id)
    })

  const create = async (e: Event) => {
    e.preventDefault()
    await run(async () => {
      const o = await post<Organization>('/api/v1/orgs', { name: name.trim(), slug: slug.trim() || slugify(name) })
      await post(orgPath(o.id, 'members'), { user_id: me.user.id, role: 'admin' })
      await onOpen(o.id)
    })
  }

  return (
    <main class="login">
      <div class="login-card wide-card">
        <div class="login-brand">
          <Logo />
          <h1>Choose an organization</h1>
        </div>
        <p class="dim">Signed in as {me.user.email}.</p>
        {orgs.length > 0 && (
          <ul class="org-list">
            {orgs.map((o) => (
              <li>
                <span>{o.name}</span> <span class="dim">{o.slug}</span>
                <Button onClick={() => void enter(o)} busy={busy}>
                  Open
                </Button>
              </li>
            ))}
          </ul>
        )}
        {orgs.length === 0 && !admin && <p>You are not a member of any organization yet. Ask an administrator to add you.</p>}
        {admin && (
          <form onSubmit={create}>
            <h2>Create an organization</h2>
            <Field label="Name">
              <input name="org-name" value={name} maxLength={100} required onInput={(e) => setName((e.target as HTMLInputElement).value)} />
            </Field>
            <Field label="Slug" hint="Lowercase letters, digits and dashes; used in URLs.">
              <input name="org-slug" value={slug} placeholder={slugify(name)} maxLength={63} onInput={(e) => setSlug((e.target as HTMLInputElement).value)} />
            </Field>
            <ErrorBox error={error} />
            <Button type="submit" kind="primary" busy={busy} disabled={!name.trim()}>
              Create organization
            </Button>
          </form>
        )}
        {!admin && <ErrorBox error={error} />}
        <p>
          <Button onClick={onSignOut}>Sign out</Button>
        </p>
      </div>
    </main>
  )
}

function slugify(s: string): string {
  return s
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 63)
}
