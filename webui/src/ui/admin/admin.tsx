// The admin tab: one page per section, with a section list on the left.

import { useConsole } from '../context'
import type { AdminSection } from '../routes'
import { GrantsSection } from './grants'
import { GroupsSection } from './groups'
import { IdPsSection } from './idps'
import { MembersSection } from './members'
import { OrgsSection, UsersSection } from './platform'
import { SessionSettingsSection } from './sessionsettings'
import { TokensSection } from './tokens'

const SECTIONS: { id: AdminSection; label: string; platform?: boolean }[] = [
  { id: 'tokens', label: 'Enrollment tokens' },
  { id: 'members', label: 'Members' },
  { id: 'groups', label: 'Groups' },
  { id: 'grants', label: 'Grants' },
  { id: 'idps', label: 'Identity providers' },
  { id: 'sessions', label: 'Session settings' },
  { id: 'orgs', label: 'Organizations', platform: true },
  { id: 'users', label: 'All users', platform: true },
]

export function AdminPage({ section }: { section: AdminSection }) {
  const c = useConsole()
  const visible = SECTIONS.filter((s) => !s.platform || c.me.user.platform_admin)
  const current = visible.find((s) => s.id === section) ?? visible[0]
  return (
    <div class="admin">
      <nav class="admin-nav" aria-label="Admin sections">
        {visible.map((s) => (
          <button class={s.id === current.id ? 'active' : ''} aria-current={s.id === current.id ? 'page' : undefined} onClick={() => c.open({ kind: 'admin', section: s.id })}>
            {s.label}
          </button>
        ))}
      </nav>
      <div class="page admin-body">
        <h1>{current.label}</h1>
        <Section id={current.id} />
      </div>
    </div>
  )
}

function Section({ id }: { id: AdminSection }) {
  switch (id) {
    case 'tokens':
      return <TokensSection />
    case 'members':
      return <MembersSection />
    case 'groups':
      return <GroupsSection />
    case 'grants':
      return <GrantsSection />
    case 'idps':
      return <IdPsSection />
    case 'sessions':
      return <SessionSettingsSection />
    case 'orgs':
      return <OrgsSection />
    case 'users':
      return <UsersSection />
  }
}
