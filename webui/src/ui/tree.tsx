// The explorer: folders, devices (online state, overlay IP) and their
// services as children. Keyboard: Up/Down move, Right expands, Left
// collapses, Enter opens (a device's page; a terminal for an SSH service).

import { useEffect, useMemo, useRef, useState } from 'preact/hooks'
import { orgPath, post } from '../lib/api'
import type { Device, Folder, Service } from '../lib/types'
import { Button, Dialog, ErrorBox, Field, useAction } from './common'
import { useConsole } from './context'
import { IconChevron, IconDevice, IconFolder, IconPlus, IconRefresh, IconTerminal, IconPort } from './icons'

type Row =
  | { kind: 'folder'; key: string; depth: number; folder: Folder; open: boolean; count: number }
  | { kind: 'device'; key: string; depth: number; device: Device; open: boolean }
  | { kind: 'service'; key: string; depth: number; device: Device; service: Service }
  | { kind: 'note'; key: string; depth: number; text: string }

const EXPANDED = 'warren.tree.collapsed'

export function Tree() {
  const c = useConsole()
  const [filter, setFilter] = useState('')
  // Collapsed keys are remembered; everything starts expanded.
  const [collapsed, setCollapsed] = useState<Set<string>>(() => new Set(JSON.parse(localStorage.getItem(EXPANDED) ?? '[]')))
  const [focus, setFocus] = useState(0)
  const [newFolder, setNewFolder] = useState(false)
  const ref = useRef<HTMLDivElement>(null)

  useEffect(() => localStorage.setItem(EXPANDED, JSON.stringify([...collapsed].slice(0, 500))), [collapsed])

  const rows = useMemo(() => buildRows(c.folders, c.devices, c.services, collapsed, filter.trim().toLowerCase()), [c.folders, c.devices, c.services, collapsed, filter])

  // Services of expanded devices.
  useEffect(() => {
    for (const r of rows) if (r.kind === 'device' && r.open) c.loadServices(r.device.id)
  }, [rows])

  const toggle = (key: string, open?: boolean) =>
    setCollapsed((s) => {
      const n = new Set(s)
      const isOpen = !n.has(key)
      if (open === undefined ? isOpen : !open) n.add(key)
      else n.delete(key)
      return n
    })

  const activate = (r: Row) => {
    if (r.kind === 'folder') toggle(r.key)
    else if (r.kind === 'device') c.open({ kind: 'device', id: r.device.id })
    else if (r.kind === 'service') {
      if (r.service.protocol === 'ssh') void c.openTerminal(r.device, r.service)
      else c.open({ kind: 'device', id: r.device.id })
    }
  }

  const onKey = (e: KeyboardEvent) => {
    const r = rows[focus]
    let next = focus
    switch (e.key) {
      case 'ArrowDown':
        next = Math.min(rows.length - 1, focus + 1)
        break
      case 'ArrowUp':
        next = Math.max(0, focus - 1)
        break
      case 'Home':
        next = 0
        break
      case 'End':
        next = rows.length - 1
        break
      case 'ArrowRight':
        if (r && (r.kind === 'folder' || r.kind === 'device') && !r.open) toggle(r.key, true)
        else next = Math.min(rows.length - 1, focus + 1)
        break
      case 'ArrowLeft':
        if (r && (r.kind === 'folder' || r.kind === 'device') && r.open) toggle(r.key, false)
        else {
          for (let i = focus - 1; i >= 0; i--) if (rows[i].depth < (r?.depth ?? 0)) { next = i; break }
        }
        break
      case 'Enter':
      case ' ':
        if (r) activate(r)
        break
      default:
        return
    }
    e.preventDefault()
    setFocus(next)
    ref.current?.querySelector<HTMLElement>(`[data-row="${next}"]`)?.focus()
  }

  const online = c.devices.filter((d) => d.online).length
  return (
    <div class="tree-wrap">
      <div class="side-head">
        <span class="side-title" title={c.org.name}>
          {c.org.name}
        </span>
        <span class="side-actions">
          {c.isAdmin && (
            <button class="icon-btn" aria-label="New folder" title="New folder" onClick={() => setNewFolder(true)}>
              <IconPlus />
            </button>
          )}
          <button class="icon-btn" aria-label="Refresh devices" title="Refresh" onClick={() => { c.refreshTree(); for (const d of c.devices) c.loadServices(d.id, true) }}>
            <IconRefresh />
          </button>
        </span>
      </div>
      <input class="tree-filter" type="search" placeholder="Filter devices" aria-label="Filter devices" value={filter} onInput={(e) => setFilter((e.target as HTMLInputElement).value)} />
      <div class="tree-summary dim">
        {c.devices.length} {c.devices.length === 1 ? 'device' : 'devices'} · {online} online
      </div>
      {c.treeError && <ErrorBox error={c.treeError} />}
      <div class="tree" role="tree" aria-label="Folders and devices" ref={ref} onKeyDown={onKey}>
        {rows.map((r, i) => (
          <TreeRow key={r.key} row={r} index={i} focused={i === focus} onFocus={() => setFocus(i)} onToggle={() => toggle(r.key)} onActivate={() => activate(r)} />
        ))}
        {c.treeLoaded && c.devices.length === 0 && !filter && (
          <div class="tree-empty">
            <p>No devices yet.</p>
            {c.isAdmin ? (
              <Button kind="primary" onClick={() => c.open({ kind: 'admin', section: 'tokens' })}>
                Enroll a device
              </Button>
            ) : (
              <p class="dim">Ask an administrator for access.</p>
            )}
          </div>
        )}
      </div>
      {newFolder && <NewFolder onClose={() => setNewFolder(false)} />}
    </div>
  )
}

function TreeRow({ row, index, focused, onFocus, onToggle, onActivate }: { row: Row; index: number; focused: boolean; onFocus: () => void; onToggle: () => void; onActivate: () => void }) {
  const pad = { paddingLeft: `${6 + row.depth * 14}px` }
  const common = {
    'data-row': index,
    tabIndex: focused ? 0 : -1,
    onFocus,
    style: pad,
    role: 'treeitem' as const,
    'aria-level': row.depth + 1,
  }
  switch (row.kind) {
    case 'note':
      return (
        <div class="tree-row tree-note dim" style={pad}>
          {row.text}
        </div>
      )
    case 'folder':
      return (
        <div {...common} class="tree-row" aria-expanded={row.open} onClick={onToggle}>
          <IconChevron open={row.open} />
          <IconFolder />
          <span class="tree-name">{row.folder.name}</span>
          <span class="tree-meta">{row.count}</span>
        </div>
      )
    case 'device': {
      const d = row.device
      const state = d.disabled ? 'disabled' : d.online ? 'online' : 'offline'
      return (
        <div {...common} class="tree-row" aria-expanded={row.open} data-device={d.name} data-state={state} onClick={onActivate} title={`${d.name} · ${state} · ${d.overlay_ip}`}>
          <span
            class="chev"
            onClick={(e) => {
              e.stopPropagation()
              onToggle()
            }}
          >
            <IconChevron open={row.open} />
          </span>
          <IconDevice />
          <span class={`dot dot-${state}`} aria-label={state} />
          <span class="tree-name">{d.name}</span>
          <span class="tree-meta mono">{d.overlay_ip}</span>
        </div>
      )
    }
    case 'service': {
      const s = row.service
      return (
        <div {...common} class="tree-row" data-service={`${row.device.name}/${s.name}`} onClick={onActivate} title={s.protocol === 'ssh' ? `Open a terminal on ${s.name}` : `${s.protocol} on port ${s.port}`}>
          <span class="chev" />
          {s.protocol === 'ssh' ? <IconTerminal /> : <IconPort />}
          <span class="tree-name">{s.name}</span>
          <span class="tree-meta mono">
            {s.protocol}:{s.port}
          </span>
        </div>
      )
    }
  }
}

function buildRows(folders: Folder[], devices: Device[], services: Record<string, Service[] | undefined>, collapsed: Set<string>, filter: string): Row[] {
  const rows: Row[] = []
  const byParent = new Map<string, Folder[]>()
  const folderIds = new Set(folders.map((f) => f.id))
  for (const f of folders) {
    const p = f.parent_id && folderIds.has(f.parent_id) ? f.parent_id : ''
    byParent.set(p, [...(byParent.get(p) ?? []), f])
  }
  const match = (d: Device) => !filter || d.name.toLowerCase().includes(filter) || d.overlay_ip.includes(filter) || d.hostname.toLowerCase().includes(filter)
  const devs = new Map<string, Device[]>()
  for (const d of devices) {
    if (!match(d)) continue
    const p = d.folder_id && folderIds.has(d.folder_id) ? d.folder_id : ''
    devs.set(p, [...(devs.get(p) ?? []), d])
  }
  const count = (id: string, seen = new Set<string>()): number => {
    if (seen.has(id)) return 0
    seen.add(id)
    return (devs.get(id)?.length ?? 0) + (byParent.get(id) ?? []).reduce((n, f) => n + count(f.id, seen), 0)
  }
  const walk = (parent: string, depth: number, seen: Set<string>) => {
    for (const f of (byParent.get(parent) ?? []).sort((a, b) => a.name.localeCompare(b.name))) {
      if (seen.has(f.id)) continue // a cycle would be a server bug; never loop
      seen.add(f.id)
      const n = count(f.id)
      if (filter && n === 0) continue
      const key = `f:${f.id}`
      const open = !collapsed.has(key) || !!filter
      rows.push({ kind: 'folder', key, depth, folder: f, open, count: n })
      if (open) walk(f.id, depth + 1, seen)
    }
    for (const d of (devs.get(parent) ?? []).sort((a, b) => a.name.localeCompare(b.name))) {
      const key = `d:${d.id}`
      const open = !collapsed.has(key)
      rows.push({ kind: 'device', key, depth, device: d, open })
      if (!open) continue
      const ss = services[d.id]
      if (!ss) rows.push({ kind: 'note', key: `n:${d.id}`, depth: depth + 1, text: 'Loading services…' })
      else if (ss.length === 0) rows.push({ kind: 'note', key: `n:${d.id}`, depth: depth + 1, text: 'No services' })
      else for (const s of [...ss].sort((a, b) => a.port - b.port)) rows.push({ kind: 'service', key: `s:${d.id}:${s.id}`, depth: depth + 1, device: d, service: s })
    }
  }
  walk('', 0, new Set())
  return rows
}

function NewFolder({ onClose }: { onClose: () => void }) {
  const c = useConsole()
  const [name, setName] = useState('')
  const [parent, setParent] = useState('')
  const [busy, error, run] = useAction()
  const submit = async (e: Event) => {
    e.preventDefault()
    if (await run(() => post(orgPath(c.org.id, 'folders'), { name: name.trim(), parent_id: parent || undefined }))) {
      c.refreshTree()
      onClose()
    }
  }
  return (
    <Dialog title="New folder" onClose={onClose}>
      <form onSubmit={submit}>
        <Field label="Name">
          <input value={name} maxLength={100} required onInput={(e) => setName((e.target as HTMLInputElement).value)} />
        </Field>
        <Field label="Inside">
          <select value={parent} onChange={(e) => setParent((e.target as HTMLSelectElement).value)}>
            <option value="">(top level)</option>
            {c.folders.map((f) => (
              <option value={f.id}>{f.name}</option>
            ))}
          </select>
        </Field>
        <ErrorBox error={error} />
        <div class="actions">
          <Button onClick={onClose}>Cancel</Button>
          <Button type="submit" kind="primary" busy={busy} disabled={!name.trim()}>
            Create folder
          </Button>
        </div>
      </form>
    </Dialog>
  )
}
