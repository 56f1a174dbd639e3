// The console's browser test, driven by webui/browser_test.go against a real
// engine, a real agent and a real sshd. It runs Debian's Chromium through
// playwright-core and fails on any console error.
//
// Environment (set by the Go test):
//   WARREN_URL       the engine's public URL
//   SETUP_LINK       the one-time link that creates the first platform admin
//   SSHD_ADDR        host:port of the sshd the agent forwards to
//   SSH_USER         the account to log in as
//   SSH_KEY_FILE     its private key (OpenSSH PEM)
//   TERMINAL         "1" when the engine serves sessions: run the terminal part
//   SCREENSHOTS      directory for the screenshots
//   CHROMIUM         the browser binary (default /usr/bin/chromium)
//
// Protocol with the Go test: lines "EVENT <name> <arg>" on stdout. After
// "EVENT token T" the Go test enrolls an agent named "local" with T.

import { readFileSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { chromium } from 'playwright-core'

const env = (k, d) => process.env[k] ?? d
const URL_ = env('WARREN_URL')
const SHOTS = env('SCREENSHOTS', '')
const TIMEOUT = 60_000
const EMAIL = 'admin@example.com'
const PASSWORD = 'correct horse battery staple'

const consoleErrors = []
const wsTrace = []
const event = (name, arg = '') => console.log(`EVENT ${name} ${arg}`.trim())
const step = (what) => event('step', what)

function watch(page, label) {
  page.on('console', (msg) => {
    if (msg.type() !== 'error') return
    const loc = msg.location()?.url ?? ''
    consoleErrors.push(`[${label}] console error: ${msg.text()} (${loc})`)
  })
  page.on('pageerror', (err) => consoleErrors.push(`[${label}] uncaught: ${err.message}`))
  // A short trace of the session WebSockets, printed when a step fails.
  page.on('websocket', (ws) => {
    wsTrace.push(`[${label}] open ${ws.url().replace(/ticket=[^&]+/, 'ticket=…')}`)
    const note = (dir) => (f) => {
      const p = f.payload
      const kind = typeof p === 'string' ? 'text' : p[0]
      if (wsTrace.length < 200) wsTrace.push(`[${label}] ${dir} kind=${kind} len=${p.length}${kind === 8 ? ' ' + p.subarray(1).toString() : ''}`)
    }
    ws.on('framereceived', note('<-'))
    ws.on('framesent', note('->'))
    ws.on('close', () => wsTrace.push(`[${label}] closed`))
  })
  page.setDefaultTimeout(TIMEOUT)
}

async function shot(page, name) {
  if (!SHOTS) return
  mkdirSync(SHOTS, { recursive: true })
  await page.screenshot({ path: join(SHOTS, `${name}.png`) })
  event('screenshot', name)
}

async function signIn(page) {
  await page.goto(URL_ + '/')
  await page.locator('input[name=email]').fill(EMAIL)
  await page.getByRole('button', { name: 'Continue' }).click()
  // The built-in IdP's form.
  await page.locator('#password').waitFor()
  await page.locator('#email').fill(EMAIL)
  await page.locator('#password').fill(PASSWORD)
  await page.getByRole('button', { name: 'Sign in' }).click()
  await page.waitForURL(URL_ + '/**')
}

async function waitText(locator, re, what) {
  const deadline = Date.now() + TIMEOUT
  let last = ''
  while (Date.now() < deadline) {
    last = ((await locator.innerText().catch(() => '')) ?? '').replace(/\u00a0/g, ' ')
    if (re.test(last)) return last
    await new Promise((r) => setTimeout(r, 100))
  }
  throw new Error(`timed out waiting for ${what}: ${re} not in ${JSON.stringify(last.slice(-500))}`)
}

// failOnToast waits for p unless the console shows an error toast first.
async function failOnToast(page, p) {
  const toast = page.locator('.toast-error').first()
  const shown = toast.waitFor().then(async () => {
    throw new Error(`the console reported: ${await toast.textContent()}`)
  })
  shown.catch(() => {})
  return Promise.race([p, shown])
}

const launchArgs = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
]

async function main() {
  const browser = await chromium.launch({ executablePath: env('CHROMIUM', '/usr/bin/chromium'), headless: true, args: launchArgs })
  try {
    await desktop(browser)
    if (env('TERMINAL') === '1') await terminal(browser)
    else event('skip', 'terminal: the engine serves no sessions API')
    await phone(browser)
  } finally {
    await browser.close()
  }
  if (consoleErrors.length) {
    for (const e of consoleErrors) console.error(e)
    throw new Error(`${consoleErrors.length} console error(s)`)
  }
  event('done')
}

async function desktop(browser) {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } })
  const page = await ctx.newPage()
  watch(page, 'desktop')

  step('first admin through the setup link')
  await page.goto(env('SETUP_LINK'))
  await page.locator('#email').fill(EMAIL)
  await page.locator('#password').fill(PASSWORD)
  await page.locator('#password_confirm').fill(PASSWORD)
  await page.getByRole('button', { name: 'Create administrator' }).click()
  await page.getByText('created').waitFor()

  step('sign in through the built-in IdP')
  await page.goto(URL_ + '/')
  await page.getByRole('heading', { name: 'Sign in to Warren' }).waitFor()
  await shot(page, 'login-desktop')
  await signIn(page)

  step('the first admin works in the Default organization setup created')
  await page.getByRole('navigation', { name: 'Activity bar' }).waitFor()

  step('create a folder')
  await page.getByRole('button', { name: 'New folder' }).click()
  const dialog = page.getByRole('dialog', { name: 'New folder' })
  await dialog.locator('input').first().fill('Servers')
  await dialog.getByRole('button', { name: 'Create folder' }).click()
  await page.locator('.tree .tree-row', { hasText: 'Servers' }).waitFor()

  step('create an enrollment token into the folder')
  await page.getByRole('button', { name: 'Admin', exact: true }).click()
  const folderSelect = page.locator('select[name=token-folder]')
  await folderSelect.locator('option', { hasText: 'Servers' }).waitFor({ state: 'attached' })
  await folderSelect.selectOption({ label: 'Servers' })
  await page.getByRole('button', { name: 'Create enrollment token' }).click()
  const created = page.getByTestId('created-token')
  await created.waitFor()
  const token = (await created.locator('.copy-value').first().textContent()).trim()
  if (!token.startsWith('wrn_')) throw new Error(`unexpected token ${token}`)
  for (const want of ['.deb', '.msi', 'Plain binary']) await created.getByText(want, { exact: false }).first().waitFor()
  const commands = await created.locator('.copy-value').allTextContents()
  if (!commands.every((c) => c.includes(token))) throw new Error('an install command lacks the token')
  await shot(page, 'admin-tokens-desktop')
  event('token', token)

  step('the local device shows up online')
  const device = page.locator('.tree [data-device="local"][data-state="online"]')
  const deadline = Date.now() + TIMEOUT
  while (!(await device.isVisible())) {
    if (Date.now() > deadline) throw new Error('device "local" never showed up online in the tree')
    await page.getByRole('button', { name: 'Refresh devices' }).click()
    await page.waitForTimeout(500)
  }
  await device.click()
  const devPage = page.locator('[data-device-page="local"]')
  await devPage.waitFor()
  await devPage.getByTestId('device-state').getByText('online').waitFor()
  await waitText(devPage.locator('.fact', { hasText: 'Endpoint' }).locator('dd'), /^\S+:\d+$/, "the agent's WireGuard endpoint")

  step('add the ssh service')
  const sshd = env('SSHD_ADDR')
  await devPage.getByRole('button', { name: 'Add service' }).click()
  await devPage.locator('input[name=service-name]').fill('ssh')
  await devPage.locator('select[name=service-protocol]').selectOption('ssh')
  await devPage.locator('input[name=service-port]').fill('22')
  await devPage.locator('input[name=service-target]').fill(sshd)
  await devPage.locator('input[name=service-record]').check()
  await devPage.getByRole('button', { name: 'Add', exact: true }).click()
  const row = devPage.locator('tr[data-service-row="ssh"]')
  await row.waitFor()
  // The add form must be gone before the edit form opens: both are tr.editing.
  await devPage.locator('tr.editing').waitFor({ state: 'detached' })

  step('edit the port: validation names the field')
  await row.getByRole('button', { name: 'Edit' }).click()
  const editing = devPage.locator('tr.editing[data-editing]:not([data-editing="new"])')
  await editing.waitFor()
  const port = editing.locator('input[name=service-port]')
  for (const [value, want] of [
    ['0', /Port of ssh: 0 is out of range/],
    ['65536', /Port of ssh: 65536 is out of range/],
    ['ssh', /Port of ssh: “ssh” is not a port number/],
  ]) {
    await port.fill(value)
    await editing.getByRole('button', { name: 'Save' }).click()
    await waitText(editing.locator('.field-errors'), want, `the error for port ${value}`)
  }
  await shot(page, 'device-validation-desktop')
  await devPage.getByRole('button', { name: 'Cancel' }).click()
  await row.waitFor()

  step('the port allowlist rejects reversed ranges, duplicates and 0')
  const allow = devPage.locator('input[name=allowlist]')
  await allow.fill('22, 8010-8000, 22, 0')
  await devPage.getByRole('button', { name: 'Review changes' }).click()
  const errs = devPage.getByTestId('allowlist-errors')
  await waitText(errs, /Allowed ports, item 2 \(“8010-8000”\): 8010-8000 is reversed/, 'reversed range error')
  await waitText(errs, /Allowed ports, item 3 \(“22”\): duplicates item 1/, 'duplicate error')
  await waitText(errs, /Allowed ports, item 4 \(“0”\): 0 is out of range/, 'zero port error')
  await allow.fill('22')

  step('explain access')
  await devPage.locator('input[name=explain-port]').fill('22')
  await devPage.getByRole('button', { name: 'Explain' }).click()
  await waitText(devPage.getByTestId('explain-result'), /Allowed/, 'an explanation')

  step('store the ssh credential')
  await devPage.getByRole('button', { name: 'Add credential' }).click()
  await devPage.locator('input[name=cred-username]').fill(env('SSH_USER', 'root'))
  await devPage.locator('select[name=cred-kind]').selectOption('private_key')
  await devPage.locator('textarea[name=cred-secret]').fill(readFileSync(env('SSH_KEY_FILE'), 'utf8'))
  await devPage.getByRole('button', { name: 'Save credential' }).click()
  await devPage.locator('td', { hasText: 'private key' }).waitFor()
  await page.locator('.tab-panel:not([hidden])').evaluate((el) => el.scrollTo(0, 0))
  await shot(page, 'device-desktop')

  step('edit the service in place: its credential stays')
  await row.getByRole('button', { name: 'Edit' }).click()
  await devPage.locator('tr.editing input[name=service-target]').fill(sshd)
  await devPage.getByRole('button', { name: 'Save' }).click()
  await devPage.locator('tr.editing').waitFor({ state: 'detached' })
  await row.waitFor()
  await devPage.locator('td', { hasText: 'private key' }).waitFor()

  step('audit log lists the changes')
  await page.getByRole('button', { name: 'Audit log' }).click()
  await page.locator('table.audit').getByText('service.create').first().waitFor()
  await page.locator('table.audit').getByText('service.update').first().waitFor()
  await shot(page, 'audit-desktop')

  step('every admin section loads')
  await page.getByRole('button', { name: 'Admin', exact: true }).click()
  const nav = page.getByRole('navigation', { name: 'Admin sections' })
  for (const name of ['Members', 'Groups', 'Grants', 'Identity providers', 'Session settings', 'Organizations', 'All users', 'Enrollment tokens']) {
    await nav.getByRole('button', { name, exact: true }).click()
    await page.locator('.admin-body h1', { hasText: name }).waitFor()
    await page.locator('.admin-body .loading').waitFor({ state: 'detached' })
    const err = page.locator('.admin-body .error-box')
    if (await err.count()) throw new Error(`admin section ${name}: ${await err.first().innerText()}`)
  }
  await nav.getByRole('button', { name: 'Members', exact: true }).click()
  await page.locator('.admin-body td', { hasText: EMAIL }).waitFor()
  await ctx.close()
}

async function terminal(browser) {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } })
  const page = await ctx.newPage()
  watch(page, 'terminal')
  await signIn(page)

  step('open a terminal from the tree and run echo hello')
  await page.locator('.tree [data-service="local/ssh"]').click()
  const term = page.locator('.tab-panel:not([hidden]) .terminal-tab')
  await failOnToast(page, term.waitFor())
  const rows = term.locator('.xterm-rows')
  await waitText(rows, /[#$]\s*$/m, 'a shell prompt').catch(async (err) => {
    throw new Error(`${err.message}; terminal bar: ${await term.locator('.term-bar').innerText()}; notice: ${await term.locator('.term-notice').allInnerTexts()}`)
  })
  await term.locator('.term-host').click()
  await page.keyboard.type('echo hel""lo from warren')
  await page.keyboard.press('Enter')
  await waitText(rows, /^hello from warren\s*$/m, 'the output of echo')
  await shot(page, 'terminal-desktop')

  step('close the tab; the session lives on')
  await page.locator('.tab.active .tab-close').click()
  await ctx.close()

  step('reopen it from the sessions list in a new browser context')
  const ctx2 = await browser.newContext({ viewport: { width: 1280, height: 800 } })
  const page2 = await ctx2.newPage()
  watch(page2, 'resume')
  await signIn(page2)
  await page2.getByRole('button', { name: 'Sessions', exact: true }).click()
  const session = page2.locator('tr[data-session-name="local/ssh"]').first()
  await session.waitFor()
  await shot(page2, 'sessions-desktop')
  await session.getByRole('button', { name: 'Resume' }).click()
  const term2 = page2.locator('.tab-panel:not([hidden]) .terminal-tab')
  await waitText(term2.locator('.xterm-rows'), /^hello from warren\s*$/m, 'the earlier output after resuming')
  await waitText(term2.locator('.term-state'), /Connected/, 'the connected state')

  step('play the recording back from the sessions list')
  await page2.getByRole('button', { name: 'Sessions', exact: true }).click()
  await session.getByRole('button', { name: 'Play recording' }).click()
  const player = page2.locator('.tab-panel:not([hidden]) .xterm-rows')
  await waitText(player, /^hello from warren\s*$/m, 'the recorded output played back')
  await ctx2.close()
}

async function phone(browser) {
  const ctx = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 })
  const page = await ctx.newPage()
  watch(page, 'phone')
  step('phone viewport')
  await page.goto(URL_ + '/')
  await page.getByRole('heading', { name: 'Sign in to Warren' }).waitFor()
  await shot(page, 'login-phone')
  await signIn(page)
  await page.getByRole('navigation', { name: 'Activity bar' }).waitFor()
  const devices = page.getByRole('button', { name: 'Devices', exact: true })
  if (!(await page.locator('.shell.side-open').count())) await devices.click()
  await page.locator('.tree [data-device="local"]').waitFor()
  await shot(page, 'tree-phone')
  await page.locator('.tree [data-device="local"]').click()
  await page.locator('[data-device-page="local"]').waitFor()
  await shot(page, 'device-phone')
  if (env('TERMINAL') === '1') {
    await page.getByRole('button', { name: 'Sessions', exact: true }).click()
    const session = page.locator('tr[data-session-name="local/ssh"]').first()
    await session.getByRole('button', { name: 'Resume' }).click()
    const term = page.locator('.tab-panel:not([hidden]) .terminal-tab')
    await waitText(term.locator('.xterm-rows'), /hello from warren/, 'the terminal on the phone')
    await term.locator('.keybar').getByRole('button', { name: 'Esc' }).waitFor()
    await shot(page, 'terminal-phone')
  }
  await ctx.close()
}

main().catch((err) => {
  for (const e of consoleErrors) console.error(e)
  if (wsTrace.length) console.error('WebSocket trace:\n  ' + wsTrace.join('\n  '))
  console.error(err?.stack ?? String(err))
  process.exit(1)
})
