import { describe, expect, it } from 'vitest'
import { humanMessage, orgPath, withQuery } from './api'

describe('humanMessage', () => {
  it.each([
    [403, 'forbidden', 'you may not do this: manage on device:dev_1 required', "You don't have permission to do this (manage on device:dev_1 required)."],
    [404, 'device_not_found', 'device not found', 'The device was not found. It may have been deleted, or you may not have access to it.'],
    [409, 'slug_taken', 'slug is already in use', 'That slug is already in use. Choose another.'],
    [400, 'invalid_field', 'port: must be between 1 and 65535', 'Port: must be between 1 and 65535.'],
    [401, 'unauthenticated', 'sign in or present a valid API token', 'You are signed out. Sign in again to continue.'],
    [502, 'ssh_auth_failed', 'the SSH server refused the stored credential', 'The SSH server refused the stored credential.'],
    [500, 'internal', 'internal error; the engine log has the details under this trace id', 'Something went wrong in the engine.'],
    [503, 'http_503', '', 'Something went wrong in the engine. Try again; if it persists, tell your operator.'],
  ])('%i %s', (status, code, message, want) => {
    expect(humanMessage(status, code, message)).toBe(want)
  })
})

describe('paths', () => {
  it('escapes segments and drops empty query values', () => {
    expect(orgPath('org 1', 'devices', 'a/b')).toBe('/api/v1/orgs/org%201/devices/a%2Fb')
    expect(withQuery('/x', { a: 'b c', d: '', e: undefined, n: 3 })).toBe('/x?a=b+c&n=3')
  })
})
