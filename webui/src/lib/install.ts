// Install commands shown with a new enrollment token, ready to copy. The
// plain-binary command is the engine's own (its `command` field); the package
// commands install the package file the operator downloaded from the release
// (the engine does not serve packages), then enroll: on Debian with the same
// enroll command into the service's state dir, on Windows through the MSI's
// SERVER and ENROLLTOKEN properties.

export interface InstallCommand {
  id: 'deb' | 'msi' | 'binary'
  label: string
  command: string
}

/** Single-quotes s for a POSIX shell. */
export function shQuote(s: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`
}

/** Double-quotes s for cmd.exe / PowerShell msiexec arguments. */
function winQuote(s: string): string {
  return `"${s.replace(/"/g, '""')}"`
}

export function installCommands(server: string, token: string, engineCommand: string): InstallCommand[] {
  const insecure = /\s--insecure(\s|$)/.test(engineCommand) ? ' --insecure' : ''
  return [
    {
      id: 'deb',
      label: 'Debian or Ubuntu (.deb, in the folder holding the package)',
      command:
        `sudo apt-get install -y ./warren-agent_*.deb && ` +
        `sudo warren-agent enroll --server ${shQuote(server)} --token ${shQuote(token)} --state-dir /var/lib/warren-agent${insecure} && ` +
        `sudo systemctl enable --now warren-agent`,
    },
    {
      id: 'msi',
      label: 'Windows (.msi, in an administrator prompt in the folder holding it)',
      command: `msiexec /i warren-agent.msi /qn SERVER=${winQuote(server)} ENROLLTOKEN=${winQuote(token)}`,
    },
    { id: 'binary', label: 'Plain binary (any OS)', command: engineCommand },
  ]
}
