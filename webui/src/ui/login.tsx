// The sign-in page: email first; the engine finds the IdP that signs in that
// email's domain (an organization's, or the built-in one) and the browser
// goes there. The IdP sends it back to the console signed in.

import { useState } from 'preact/hooks'
import { post } from '../lib/api'
import { Button, ErrorBox, Field, useAction } from './common'
import { Logo } from './icons'

const LAST_EMAIL = 'warren.lastEmail'

export function Login({ notice }: { notice?: string }) {
  const [email, setEmail] = useState(() => localStorage.getItem(LAST_EMAIL) ?? '')
  const [fieldError, setFieldError] = useState('')
  const [busy, error, run] = useAction()

  const submit = async (e: Event) => {
    e.preventDefault()
    const v = email.trim()
    if (!/^[^\s@]+@[^\s@]+\.?[^\s@]*$/.test(v) || v.length > 254) {
      setFieldError('Enter your work email address, like alice@example.com.')
      return
    }
    setFieldError('')
    await run(async () => {
      const r = await post<{ redirect_url: string }>('/api/v1/auth/login', { email: v })
      localStorage.setItem(LAST_EMAIL, v)
      const u = new URL(r.redirect_url, location.href)
      if (u.protocol !== 'https:' && u.protocol !== 'http:') throw new Error('The engine sent an unusable sign-in address.')
      location.assign(u.toString())
      await new Promise(() => {}) // keep the button busy while the browser leaves
    })
  }

  return (
    <main class="login">
      <form class="login-card" onSubmit={submit} noValidate>
        <div class="login-brand">
          <Logo />
          <h1>Sign in to Warren</h1>
        </div>
        <p class="dim">Enter your email. You continue with your organization's identity provider.</p>
        {notice && <div class="notice">{notice}</div>}
        <Field label="Email" error={fieldError}>
          <input
            type="email"
            name="email"
            autocomplete="username"
            autofocus
            value={email}
            onInput={(e) => setEmail((e.target as HTMLInputElement).value)}
            maxLength={254}
            placeholder="you@example.com"
          />
        </Field>
        <ErrorBox error={error} />
        <Button type="submit" kind="primary" busy={busy} class="wide">
          Continue
        </Button>
        <p class="dim small">
          First start? The engine prints a one-time setup link that creates the first administrator.
        </p>
      </form>
    </main>
  )
}
