// The page shown when no tab is open: what is where, at a glance.

import { Button } from './common'
import { useConsole } from './context'

export function Home() {
  const c = useConsole()
  const online = c.devices.filter((d) => d.online)
  return (
    <div class="page home">
      <h1>{c.org.name}</h1>
      <p class="dim">
        {c.devices.length} devices, {online.length} online. Pick a device in the explorer, or open a terminal from an SSH service.
      </p>
      <div class="home-cards">
        <div class="card">
          <h2>Sessions</h2>
          <p>Terminals keep running on the device when you close the tab. Resume them from any browser.</p>
          <Button onClick={() => c.open({ kind: 'sessions' })}>Open sessions</Button>
        </div>
        {c.isAdmin && (
          <div class="card">
            <h2>Add a device</h2>
            <p>Create a single-use enrollment token and run the install command on the device.</p>
            <Button kind="primary" onClick={() => c.open({ kind: 'admin', section: 'tokens' })}>
              Enroll a device
            </Button>
          </div>
        )}
      </div>
      <h2>Keyboard</h2>
      <ul class="keys dim">
        <li>
          <kbd>↑</kbd> <kbd>↓</kbd> move in the explorer, <kbd>→</kbd> <kbd>←</kbd> expand and collapse, <kbd>Enter</kbd> opens.
        </li>
        <li>
          <kbd>←</kbd> <kbd>→</kbd> on a tab switch tabs, <kbd>Delete</kbd> closes it.
        </li>
        <li>
          In a terminal: <kbd>Ctrl</kbd>+<kbd>Shift</kbd>+<kbd>C</kbd> copies the selection, <kbd>Ctrl</kbd>+<kbd>Shift</kbd>+<kbd>V</kbd> pastes.
        </li>
      </ul>
    </div>
  )
}
