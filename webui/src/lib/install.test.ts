import { describe, expect, it } from 'vitest'
import { installCommands, shQuote } from './install'

describe('installCommands', () => {
  it('builds the three commands with the token and server', () => {
    const cmds = installCommands('https://warren.example.com', 'wrn_enroll_abc', 'warren-agent enroll --server https://warren.example.com --token wrn_enroll_abc')
    expect(cmds.map((c) => c.id)).toEqual(['deb', 'msi', 'binary'])
    for (const c of cmds) expect(c.command).toContain('wrn_enroll_abc')
    expect(cmds[1].command).toContain('ENROLLTOKEN="wrn_enroll_abc"')
    expect(cmds[0].command).not.toContain('--insecure')
  })
  it('keeps --insecure when the engine asks for it', () => {
    const cmds = installCommands('http://10.0.0.5:8080', 't', 'warren-agent enroll --server http://10.0.0.5:8080 --token t --insecure')
    expect(cmds[0].command).toContain('--insecure')
  })
  it('quotes for the shell', () => {
    expect(shQuote("a'b c")).toBe(`'a'\\''b c'`)
    expect(shQuote('https://x.example/p')).toBe('https://x.example/p')
  })
})
