// xterm.js set up the way every terminal of the console uses it. Imported
// only by lazily loaded modules, so xterm stays out of the initial bundle.

import { FitAddon } from '@xterm/addon-fit'
import { Terminal, type ITerminalInitOnlyOptions, type ITerminalOptions } from '@xterm/xterm'
import '@xterm/xterm/css/xterm.css'

export { Terminal }

const theme = {
  background: '#111318',
  foreground: '#d6dae0',
  cursor: '#e6e6e6',
  selectionBackground: '#2f81f766',
  black: '#1b1e24',
  brightBlack: '#5c6370',
}

/** Creates a terminal in host with a fit addon; fit() resizes it to host. */
export function createTerminal(host: HTMLElement, opts: ITerminalOptions & ITerminalInitOnlyOptions = {}): { term: Terminal; fit: () => void } {
  const phone = window.matchMedia('(max-width: 700px)').matches
  const term = new Terminal({
    cursorBlink: true,
    fontFamily: 'ui-monospace, "JetBrains Mono", "DejaVu Sans Mono", Menlo, Consolas, monospace',
    fontSize: phone ? 12 : 14,
    scrollback: 5000,
    theme,
    allowProposedApi: false,
    ...opts,
  })
  const addon = new FitAddon()
  term.loadAddon(addon)
  term.open(host)
  const fit = () => {
    // A hidden tab has no size; fitting it would shrink the remote pty.
    if (host.clientWidth === 0 || host.clientHeight === 0) return
    try {
      addon.fit()
    } catch {
      // Not rendered yet.
    }
  }
  fit()
  return { term, fit }
}

/** Copy and paste with Ctrl+Shift+C and Ctrl+Shift+V (plain Ctrl+C is for the shell). */
export function clipboardKeys(term: Terminal) {
  term.attachCustomKeyEventHandler((e) => {
    if (e.type !== 'keydown' || !e.ctrlKey || !e.shiftKey) return true
    if (e.code === 'KeyC') {
      const sel = term.getSelection()
      if (sel) void navigator.clipboard?.writeText(sel).catch(() => {})
      return false
    }
    if (e.code === 'KeyV') {
      void navigator.clipboard
        ?.readText()
        .then((t) => term.paste(t))
        .catch(() => {})
      return false
    }
    return true
  })
}
