// The signed-in console: activity bar, side panel with the device tree, tabs
// and the status bar. Tabs stay mounted while hidden so terminals keep their
// screen and their connection when another tab is in front.

import { useCallback, useEffect, useMemo, useRef, useState } from 'preact/hooks'
import { get, orgPath, post, watchPending } from '../lib/api'
import type { Device, Folder, Me, MeOrg, Member, Service, Session, SessionTicket } from '../lib/types'
import { AdminPage } from './admin/admin'
import { AuditPage } from './admin/audit'
import { ErrorBox, Loading, useModule } from './common'
import { Ctx, type ConsoleCtx } from './context'
import { DevicePage } from './device'
import { Home } from './home'
import { IconAdmin, IconAudit, IconClose, IconExplorer, IconSessions, Logo } from './icons'
import { formatRoute, parseRoute, tabKey, type Route } from './routes'
import { SessionsPage } from './sessions'
import { StatusBar } from './statusbar'
import { Tree } from './tree'

// The terminal and the recording player pull in xterm.js: loaded on first use.
const loadTerminal = () => import('./terminal')
const loadRecording = () => import('./recording')

interface Tab {
  key: string
  route: Route
  title: string
  badge?: string
}

const TREE_REFRESH_MS = 10_000

export function Shell({ me, org, onSignOut, onSwitchOrg }: { me: Me; org: MeOrg; onSignOut: () => void; onSwitchOrg: (id: string) => void }) {
  const isAdmin = org.role === 'admin' || me.user.platform_admin
  const [tabs, setTabs] = useState<Tab[]>([])
  const [active, setActive] = useState('')
  const [sideOpen, setSideOpen] = useState(() => window.innerWidth > 700)
  const [devices, setDevices] = useState<Device[]>([])
  const [folders, setFolders] = useState<Folder[]>([])
  const [treeError, setTreeError] = useState('')
  const [treeLoaded, setTreeLoaded] = useState(false)
  const [services, setServices] = useState<Record<string, Service[] | undefined>>({})
  const [members, setMembers] = useState<Record<string, Member>>({})
  const [toasts, setToasts] = useState<{ id: number; text: string; kind: string }[]>([])
  const [pending, setPending] = useState(0)
  const tickets = useRef(new Map<string, SessionTicket>())
  const tabsRef = useRef(tabs)
  tabsRef.current = tabs

  useEffect(() => watchPending(setPending), [])

  const notify = useCallback((text: string, kind: 'info' | 'error' = 'info') => {
    const id = Date.now() + Math.random()
    setToasts((t) => [...t.slice(-3), { id, text, kind }])
    setTimeout(() => setToasts((t) => t.filter((x) => x.id !== id)), kind === 'error' ? 8000 : 4000)
  }, [])

  const refreshTree = useCallback(async () => {
    try {
      const [d, f] = await Promise.all([
        get<Device[]>(orgPath(org.id, 'devices'), { quiet: true }),
        get<Folder[]>(orgPath(org.id, 'folders'), { quiet: true }),
      ])
      setDevices(d)
      setFolders(f)
      setTreeError('')
    } catch (err) {
      setTreeError((err as Error).message)
    } finally {
      setTreeLoaded(true)
    }
  }, [org.id])

  useEffect(() => {
    void refreshTree()
    const id = setInterval(() => document.visibilityState === 'visible' && void refreshTree(), TREE_REFRESH_MS)
    return () => clearInterval(id)
  }, [refreshTree])

  useEffect(() => {
    get<Member[]>(orgPath(org.id, 'members'), { quiet: true }).then(
      (ms) => setMembers(Object.fromEntries(ms.map((m) => [m.user_id, m]))),
      () => {},
    )
  }, [org.id])

  const loadServices = useCallback(
    (deviceId: string, force = false) => {
      setServices((cur) => {
        if (cur[deviceId] && !force) return cur
        get<Service[]>(orgPath(org.id, 'devices', deviceId, 'services'), { quiet: true }).then(
          (s) => setServices((c) => ({ ...c, [deviceId]: s })),
          () => setServices((c) => ({ ...c, [deviceId]: c[deviceId] ?? [] })),
        )
        return cur
      })
    },
    [org.id],
  )

  const titleOf = useCallback(
    (r: Route): string => {
      switch (r.kind) {
        case 'home':
          return 'Welcome'
        case 'device':
          return devices.find((d) => d.id === r.id)?.name ?? 'Device'
        case 'sessions':
          return 'Sessions'
        case 'admin':
          return 'Admin'
        case 'audit':
          return 'Audit log'
        case 'term':
          return 'Terminal'
        case 'rec':
          return 'Recording'
      }
    },
    [devices],
  )

  const open = useCallback(
    (r: Route) => {
      const key = tabKey(r)
      setTabs((ts) => {
        const i = ts.findIndex((t) => t.key === key)
        if (i >= 0) {
          const copy = [...ts]
          copy[i] = { ...copy[i], route: r }
          return copy
        }
        return [...ts, { key, route: r, title: titleOf(r) }]
      })
      setActive(key)
      if (window.innerWidth <= 700) setSideOpen(false)
      const h = formatRoute(r)
      if (location.hash !== h) history.replaceState(null, '', h)
    },
    [titleOf],
  )

  // Follow the hash (reloads, back/forward, links).
  useEffect(() => {
    const onHash = () => open(parseRoute(location.hash))
    onHash()
    window.addEventListener('hashchange', onHash)
    return () => window.removeEventListener('hashchange', onHash)
  }, [])

  // Device tabs get their name once the tree knows it.
  useEffect(() => {
    setTabs((ts) => ts.map((t) => (t.route.kind === 'device' && t.title === 'Device' ? { ...t, title: titleOf(t.route) } : t)))
  }, [devices])

  const closeTab = useCallback((key: string) => {
    const ts = tabsRef.current
    const i = ts.findIndex((t) => t.key === key)
    if (i < 0) return
    const next = ts.filter((t) => t.key !== key)
    setTabs(next)
    setActive((cur) => {
      if (cur !== key) return cur
      const n = next[Math.min(i, next.length - 1)]
      history.replaceState(null, '', n ? formatRoute(n.route) : '#/')
      return n?.key ?? ''
    })
  }, [])

  const setTabTitle = useCallback((key: string, title: string, badge?: string) => {
    setTabs((ts) => ts.map((t) => (t.key === key && (t.title !== title || t.badge !== badge) ? { ...t, title, badge } : t)))
  }, [])

  const openTerminal = useCallback(
    async (device: Device, service: Service) => {
      const term = document.querySelector('.main-body')
      const cols = Math.max(40, Math.floor(((term?.clientWidth ?? 960) - 16) / 8.4))
      const rows = Math.max(10, Math.floor(((term?.clientHeight ?? 600) - 40) / 17))
      try {
        const r = await post<{ session: Session; ticket: SessionTicket }>(orgPath(org.id, 'sessions'), {
          device: device.id,
          service: service.name,
          cols,
          rows,
        })
        tickets.current.set(r.session.id, r.ticket)
        open({ kind: 'term', id: r.session.id, role: r.ticket.role === 'observer' ? 'observer' : undefined })
        setTabTitle(`term:${r.session.id}`, `${device.name}/${service.name}`)
      } catch (err) {
        notify(`Could not open ${device.name}/${service.name}: ${(err as Error).message}`, 'error')
      }
    },
    [org.id, open],
  )

  const attach = useCallback(
    (s: Session, role: 'driver' | 'observer') => {
      open({ kind: 'term', id: s.id, role: role === 'observer' ? 'observer' : undefined })
      setTabTitle(`term:${s.id}`, `${s.device_name}/${s.service}`)
    },
    [open],
  )

  const takeTicket = useCallback((id: string) => {
    const t = tickets.current.get(id)
    tickets.current.delete(id)
    return t
  }, [])

  const ctx: ConsoleCtx = useMemo(
    () => ({
      me, org, isAdmin, devices, folders, treeError, treeLoaded, refreshTree, services, loadServices, members,
      open, openTerminal, attach, takeTicket, closeTab, setTabTitle, notify,
    }),
    [me, org, isAdmin, devices, folders, treeError, treeLoaded, services, members, open, openTerminal, attach],
  )

  const activeTab = tabs.find((t) => t.key === active)
  const activity = activeTab?.route.kind

  const onTabKey = (e: KeyboardEvent, i: number) => {
    if (e.key === 'ArrowRight' || e.key === 'ArrowLeft') {
      const n = tabs[(i + (e.key === 'ArrowRight' ? 1 : tabs.length - 1)) % tabs.length]
      if (n) open(n.route)
      ;(document.querySelector(`[data-tab="${n?.key}"]`) as HTMLElement | null)?.focus()
    } else if (e.key === 'Delete') {
      closeTab(tabs[i].key)
    }
  }

  return (
    <Ctx.Provider value={ctx}>
      <div class={`shell ${sideOpen ? 'side-open' : ''}`}>
        {pending > 0 && <div class="progress" role="progressbar" aria-label="Loading" />}
        <nav class="activity" aria-label="Activity bar">
          <div class="activity-logo">
            <Logo />
          </div>
          <ActivityButton label="Devices" active={sideOpen} onClick={() => setSideOpen((o) => !o)}>
            <IconExplorer />
          </ActivityButton>
          <ActivityButton label="Sessions" active={activity === 'sessions'} onClick={() => open({ kind: 'sessions' })}>
            <IconSessions />
          </ActivityButton>
          {isAdmin && (
            <ActivityButton label="Admin" active={activity === 'admin'} onClick={() => open({ kind: 'admin', section: 'tokens' })}>
              <IconAdmin />
            </ActivityButton>
          )}
          {isAdmin && (
            <ActivityButton label="Audit log" active={activity === 'audit'} onClick={() => open({ kind: 'audit' })}>
              <IconAudit />
            </ActivityButton>
          )}
        </nav>
        <aside class="side" aria-label="Devices">
          <Tree />
        </aside>
        {sideOpen && <div class="side-scrim" onClick={() => setSideOpen(false)} />}
        <main class="main">
          <div class="tabs" role="tablist" aria-label="Open tabs">
            {tabs.map((t, i) => (
              <div class={`tab ${t.key === active ? 'active' : ''}`} key={t.key}>
                <button
                  role="tab"
                  data-tab={t.key}
                  aria-selected={t.key === active}
                  tabIndex={t.key === active ? 0 : -1}
                  class="tab-title"
                  onClick={() => open(t.route)}
                  onKeyDown={(e) => onTabKey(e, i)}
                  onAuxClick={(e) => e.button === 1 && closeTab(t.key)}
                  title={t.title}
                >
                  {t.badge && <span class={`tab-badge badge-${t.badge}`} aria-label={t.badge} />}
                  {t.title}
                </button>
                <button class="tab-close" aria-label={`Close ${t.title}`} onClick={() => closeTab(t.key)}>
                  <IconClose />
                </button>
              </div>
            ))}
          </div>
          <div class="main-body">
            {tabs.length === 0 && <Home />}
            {tabs.map((t) => (
              <section class="tab-panel" key={t.key} hidden={t.key !== active} role="tabpanel" aria-label={t.title}>
                <TabContent tab={t} active={t.key === active} />
              </section>
            ))}
          </div>
        </main>
        <StatusBar onSignOut={onSignOut} onSwitchOrg={onSwitchOrg} activeTab={activeTab?.key} />
        <div class="toasts" aria-live="polite">
          {toasts.map((t) => (
            <div key={t.id} class={`toast toast-${t.kind}`} role={t.kind === 'error' ? 'alert' : 'status'}>
              {t.text}
            </div>
          ))}
        </div>
      </div>
    </Ctx.Provider>
  )
}

function ActivityButton({ label, active, onClick, children }: { label: string; active?: boolean; onClick: () => void; children: preact.ComponentChildren }) {
  return (
    <button class={`activity-btn ${active ? 'active' : ''}`} aria-label={label} title={label} aria-pressed={active} onClick={onClick}>
      {children}
    </button>
  )
}

function TabContent({ tab, active }: { tab: Tab; active: boolean }) {
  const r = tab.route
  switch (r.kind) {
    case 'home':
      return <Home />
    case 'device':
      return <DevicePage id={r.id} active={active} />
    case 'sessions':
      return <SessionsPage active={active} />
    case 'admin':
      return <AdminPage section={r.section} />
    case 'audit':
      return <AuditPage />
    case 'term':
      return <LazyTerminal tabKey={tab.key} id={r.id} role={r.role ?? 'driver'} active={active} />
    case 'rec':
      return <LazyRecording id={r.id} active={active} />
  }
}

function LazyTerminal(props: { tabKey: string; id: string; role: 'driver' | 'observer'; active: boolean }) {
  const [m, err] = useModule(loadTerminal)
  if (err) return <ErrorBox error={`The terminal could not be loaded: ${err}. Reload the page.`} />
  return m ? <m.TerminalTab {...props} /> : <Loading what="the terminal" />
}

function LazyRecording(props: { id: string; active: boolean }) {
  const [m, err] = useModule(loadRecording)
  if (err) return <ErrorBox error={`The player could not be loaded: ${err}. Reload the page.`} />
  return m ? <m.RecordingTab {...props} /> : <Loading what="the player" />
}
