// What every page of a signed-in console can reach: who is signed in, the
// current organization, the device tree's data and the tab actions.

import { createContext } from 'preact'
import { useContext } from 'preact/hooks'
import type { Device, Folder, Me, MeOrg, Member, Service, Session, SessionTicket } from '../lib/types'
import type { Route } from './routes'

export interface ConsoleCtx {
  me: Me
  org: MeOrg
  /** Admin of the current organization (by role) or platform admin. */
  isAdmin: boolean
  devices: Device[]
  folders: Folder[]
  treeError: string
  treeLoaded: boolean
  refreshTree: () => void
  /** Services by device id, loaded on demand. */
  services: Record<string, Service[] | undefined>
  loadServices: (deviceId: string, force?: boolean) => void
  /** Members of the organization, by user id (loaded once, for names). */
  members: Record<string, Member>
  open: (r: Route) => void
  /** Opens a new terminal session on a device's service in a tab. */
  openTerminal: (device: Device, service: Service) => Promise<void>
  /** Opens a tab attached to an existing session. */
  attach: (s: Session, role: 'driver' | 'observer') => void
  /** Takes the ticket a new session came with (once). */
  takeTicket: (sessionId: string) => SessionTicket | undefined
  closeTab: (key: string) => void
  setTabTitle: (key: string, title: string, badge?: string) => void
  notify: (text: string, kind?: 'info' | 'error') => void
}

export const Ctx = createContext<ConsoleCtx | null>(null)

export function useConsole(): ConsoleCtx {
  const c = useContext(Ctx)
  if (!c) throw new Error('useConsole outside the console')
  return c
}

/** The display name of a user id: their email when known. */
export function userName(c: ConsoleCtx, id: string): string {
  if (id === c.me.user.id) return `${c.me.user.email} (you)`
  return c.members[id]?.email ?? id
}
