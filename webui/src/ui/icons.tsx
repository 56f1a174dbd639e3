// Inline SVG icons (no icon font, nothing from a CDN).

import type { SVGAttributes } from 'preact'

function Svg({ d, size = 20, ...rest }: { d: string; size?: number } & SVGAttributes<SVGSVGElement>) {
  return (
    <svg width={size} height={size} viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="1.7" stroke-linecap="round" stroke-linejoin="round" aria-hidden="true" {...rest}>
      <path d={d} />
    </svg>
  )
}

export const Logo = () => (
  <svg width="28" height="28" viewBox="0 0 32 32" aria-hidden="true">
    <rect width="32" height="32" rx="7" fill="#2f81f7" />
    <path d="M7 10l4 13 5-9 5 9 4-13" fill="none" stroke="#fff" stroke-width="2.6" stroke-linecap="round" stroke-linejoin="round" />
  </svg>
)
export const IconExplorer = () => <Svg d="M3 6h6l2 2h10v10a2 2 0 0 1-2 2H5a2 2 0 0 1-2-2z" />
export const IconSessions = () => <Svg d="M4 5h16v14H4zM7 9l3 3-3 3M12 15h5" />
export const IconAdmin = () => <Svg d="M12 3l8 3v6c0 5-3.5 8-8 9-4.5-1-8-4-8-9V6z M9 12l2 2 4-4" />
export const IconAudit = () => <Svg d="M8 6h12M8 12h12M8 18h12M4 6h.01M4 12h.01M4 18h.01" />
export const IconFolder = () => <Svg size={16} d="M3 6h6l2 2h10v10a2 2 0 0 1-2 2H5a2 2 0 0 1-2-2z" />
export const IconDevice = () => <Svg size={16} d="M4 5h16v11H4zM9 20h6M12 16v4" />
export const IconTerminal = () => <Svg size={16} d="M4 5h16v14H4zM7 9l3 3-3 3M12 15h5" />
export const IconPort = () => <Svg size={16} d="M5 12h14M12 5v14" />
export const IconRefresh = () => <Svg size={16} d="M20 11a8 8 0 1 0-2 5.3M20 4v7h-7" />
export const IconPlus = () => <Svg size={16} d="M12 5v14M5 12h14" />
export const IconChevron = ({ open }: { open: boolean }) => (
  <Svg size={14} d="M9 6l6 6-6 6" style={{ transform: open ? 'rotate(90deg)' : undefined, transition: 'transform .1s' }} />
)
export const IconClose = () => <Svg size={14} d="M6 6l12 12M18 6L6 18" />
export const IconMenu = () => <Svg d="M4 7h16M4 12h16M4 17h16" />
export const IconUser = () => <Svg size={16} d="M12 12a4 4 0 1 0 0-8 4 4 0 0 0 0 8zM4 21c1-4 4-6 8-6s7 2 8 6" />
export const IconPlay = () => <Svg size={16} d="M7 4l13 8-13 8z" />
