// The SSH host key the engine trusts for a service (pinned on first use)
// and, after the server's key changed, the key it now offers: sessions are
// refused until someone with manage checks and accepts the new one.

import { useState } from 'preact/hooks'
import { ApiError, get, orgPath, post } from '../lib/api'
import type { Device, Service } from '../lib/types'
import { Button, Dialog, ErrorBox, Loading, Time, useAction } from './common'
import { useConsole } from './context'

interface HostKey {
  fingerprint: string
  first_seen: string
  accepted_by?: string
  pending_fingerprint?: string
  pending_seen?: string
}

export function HostKeyButton({ device, service, canManage }: { device: Device; service: Service; canManage: boolean }) {
  const c = useConsole()
  const [open, setOpen] = useState(false)
  const [key, setKey] = useState<HostKey | null | undefined>(undefined) // null: none seen yet
  const [busy, error, run] = useAction()
  const path = orgPath(c.org.id, 'devices', device.id, 'services', service.name, 'host-key')
  const load = () =>
    run(async () => {
      try {
        setKey(await get<HostKey>(path))
      } catch (err) {
        if (err instanceof ApiError && err.status === 404) setKey(null)
        else throw err
      }
    })
  const accept = (fp: string) => run(async () => setKey(await post<HostKey>(`${path}/accept`, { fingerprint: fp })))
  return (
    <>
      <Button
        onClick={() => {
          setOpen(true)
          void load()
        }}
      >
        Host key
      </Button>
      {open && (
        <Dialog title={`SSH host key of ${device.name}/${service.name}`} onClose={() => setOpen(false)}>
          {key === undefined && !error && <Loading what="the host key" />}
          {key === null && <p>No host key seen yet: the first session pins the key the server offers.</p>}
          {key && (
            <>
              <p>
                Trusted: <code>{key.fingerprint}</code> since <Time at={key.first_seen} />
                {key.accepted_by ? ' (accepted by an administrator)' : ' (trusted on first use)'}.
              </p>
              {key.pending_fingerprint && (
                <div class="error-box">
                  The server now offers a different key, <code>{key.pending_fingerprint}</code> (seen <Time at={key.pending_seen} />). Sessions are refused
                  until it is accepted. Accept it only if you know why it changed (a reinstall, a new server).
                  {canManage && (
                    <div class="actions">
                      <Button kind="danger" busy={busy} onClick={() => void accept(key.pending_fingerprint!)}>
                        Accept the new key
                      </Button>
                    </div>
                  )}
                </div>
              )}
            </>
          )}
          <ErrorBox error={error} />
        </Dialog>
      )}
    </>
  )
}
