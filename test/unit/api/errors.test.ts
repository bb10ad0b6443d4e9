/**
 * The code → status table (src/api/errors.ts, spec §1.2) end to end: a ServerApi rejection with
 * each code reaches the client as the right status and text/plain body; anything unknown is a
 * generic 500 whose real error goes to the error log and not to the client.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { ControlPlaneError, type ErrorCode } from '../../../src/util/errors.js'
import { request, startApiFor } from '../../support/api-harness.js'

const cases: Array<{ code: ErrorCode, message: string, status: number, body: string }> = [
  { code: 'ERR_INVALID_INPUT', message: 'Node.Address must be an IP, got "x"', status: 400, body: 'Node.Address must be an IP, got "x"' },
  { code: 'ERR_PERMISSION_DENIED', message: 'token lacks key:read', status: 403, body: 'Permission denied' },
  { code: 'ERR_PERMISSION_DENIED', message: 'Permission denied: token with AccessorID \'a1\' lacks permission \'key:read\' on "x"', status: 403, body: 'Permission denied: token with AccessorID \'a1\' lacks permission \'key:read\' on "x"' },
  { code: 'ERR_PERMISSION_DENIED', message: 'ACL not found', status: 403, body: 'ACL not found' },
  { code: 'ERR_NOT_FOUND', message: 'Session id \'s1\' not found', status: 404, body: 'Session id \'s1\' not found' },
  { code: 'ERR_CONFLICT', message: 'node ID is held by node "b"', status: 409, body: 'node ID is held by node "b"' },
  { code: 'ERR_TOO_LARGE', message: 'entry too large', status: 413, body: 'entry too large' },
  { code: 'ERR_OVERLOADED', message: '4096 proposals pending', status: 429, body: 'Rate limit reached, try again later' },
  { code: 'ERR_NO_LEADER', message: 'no leader after 2000 ms', status: 500, body: 'No cluster leader' },
  { code: 'ERR_STOPPED', message: 'server is shutting down', status: 503, body: 'server is shutting down' },
  { code: 'ERR_TIMEOUT', message: 'proposal not applied within 5000 ms; outcome unknown', status: 504, body: 'proposal not applied within 5000 ms; outcome unknown' }
]

test('each ControlPlaneError code maps to its status and text/plain body', async (t) => {
  const h = await startApiFor(t)
  for (const { code, message, status, body } of cases) {
    h.server.failNext('kvGet', new ControlPlaneError(code, message))
    const response = await request(`${h.base}/v1/kv/a`)
    assert.equal(response.status, status, code)
    assert.equal(response.text, body, code)
    assert.equal(response.headers.get('content-type'), 'text/plain; charset=utf-8')
  }
})

test('other codes and non-ControlPlane errors are a generic 500, logged with the real error', async (t) => {
  const h = await startApiFor(t)
  const failures: Error[] = [
    new ControlPlaneError('ERR_CAS_MISMATCH', 'internal cas detail'),
    new ControlPlaneError('ERR_CORRUPT_STORAGE', 'crc mismatch at offset 42'),
    new TypeError('cannot read properties of undefined (reading "Key")')
  ]
  for (const failure of failures) {
    h.server.failNext('kvPut', failure)
    const response = await request(`${h.base}/v1/kv/a`, { method: 'PUT', body: 'v' })
    assert.equal(response.status, 500)
    assert.equal(response.text, 'Internal server error')
    const logged = h.logLines.map(line => JSON.parse(line) as { level: number, msg: string, err?: { message: string } })
      .find(entry => entry.level === 50 && entry.err?.message === failure.message)
    assert.ok(logged !== undefined, `error log for ${failure.message}`)
    assert.equal(logged.msg, 'request failed')
  }
})

test('the server keeps serving after errors', async (t) => {
  const h = await startApiFor(t)
  h.server.failNext('statusLeader', new Error('boom'))
  assert.equal((await request(`${h.base}/v1/status/leader`)).status, 500)
  const after = await request(`${h.base}/v1/status/leader`)
  assert.equal(after.status, 200)
  assert.equal(after.text, '"127.0.0.1:8300"')
})
