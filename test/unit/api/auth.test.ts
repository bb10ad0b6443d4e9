/**
 * Token resolution (spec §1.3: ?token, then X-Consul-Token, then Authorization: Bearer), the
 * authorize hook every routed request passes through, and the guarantee that no token value
 * reaches the logs, whichever way it was sent and whatever the outcome.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import type { AuthorizeRequest } from '../../../src/api/types.js'
import type { QueryOptions } from '../../../src/rpc/types.js'
import { ControlPlaneError } from '../../../src/util/errors.js'
import { request, startApiFor, type ApiHarness } from '../../support/api-harness.js'

async function tokenSeen (h: ApiHarness, query: string, headers: Record<string, string>): Promise<string | null> {
  const response = await request(`${h.base}/v1/kv/k${query}`, { headers })
  assert.equal(response.status, 404)
  return (h.server.lastCall('kvGet')?.[2] as QueryOptions).token
}

test('the token comes from ?token, then X-Consul-Token, then Authorization: Bearer', async (t) => {
  const h = await startApiFor(t)
  const all = { 'X-Consul-Token': 'from-header', Authorization: 'Bearer from-bearer' }
  assert.equal(await tokenSeen(h, '?token=from-query', all), 'from-query')
  assert.equal(await tokenSeen(h, '?token=', all), 'from-header', 'an empty ?token is no token')
  assert.equal(await tokenSeen(h, '', all), 'from-header')
  assert.equal(await tokenSeen(h, '', { Authorization: 'Bearer from-bearer' }), 'from-bearer')
  assert.equal(await tokenSeen(h, '', { Authorization: 'bEaReR  spaced  extra' }), 'spaced', 'scheme case-insensitive, first word')
  assert.equal(await tokenSeen(h, '', { Authorization: 'Basic dXNlcjpwYXNz' }), null)
  assert.equal(await tokenSeen(h, '', { Authorization: 'Bearer' }), null)
  assert.equal(await tokenSeen(h, '', {}), null)
  assert.equal(await tokenSeen(h, '?token=a&token=b', {}), 'a', 'the first ?token')
})

test('every routed request passes the authorize hook before its body is read', async (t) => {
  const seen: AuthorizeRequest[] = []
  const h = await startApiFor(t, {
    authorize: async (authorizeRequest) => {
      seen.push(authorizeRequest)
      if (authorizeRequest.token === 'denied') throw new ControlPlaneError('ERR_PERMISSION_DENIED', 'token lacks key:write')
      return authorizeRequest.token ?? 'default-token'
    }
  })
  await request(`${h.base}/v1/kv/a/b`, { method: 'PUT', body: 'v', headers: { 'X-Consul-Token': 'writer' } })
  assert.deepEqual(seen.at(-1), { method: 'PUT', route: '/v1/kv/', token: 'writer' })
  assert.deepEqual(h.server.lastCall('kvPut')?.[3], { token: 'writer' })

  await request(`${h.base}/v1/status/leader`)
  assert.deepEqual(seen.at(-1), { method: 'GET', route: '/v1/status/leader', token: null })
  await request(`${h.base}/v1/kv/a/b`)
  assert.equal((h.server.lastCall('kvGet')?.[2] as QueryOptions).token, 'default-token', 'the hook can substitute the token')

  const denied = await request(`${h.base}/v1/kv/big`, { method: 'PUT', body: 'x'.repeat(600_000), headers: { 'X-Consul-Token': 'denied' } })
  assert.equal(denied.status, 403, 'denied before the oversized body is looked at')
  assert.equal(denied.text, 'Permission denied')

  const countBefore = seen.length
  await request(`${h.base}/v1/kv/a`, { method: 'OPTIONS' })
  await request(`${h.base}/v1/kv/a`, { method: 'POST' })
  await request(`${h.base}/v1/nope`)
  assert.equal(seen.length, countBefore, 'OPTIONS, 405 and 404 do not reach the hook')
})

test('tokens never reach the logs', async (t) => {
  const h = await startApiFor(t)
  const secrets = ['q-5ecret-one', 'h-5ecret-two', 'b-5ecret-three']
  h.server.failNext('kvPut', new Error('backend exploded'))
  await request(`${h.base}/v1/kv/a?token=${secrets[0]}`, { method: 'PUT', body: 'v' })
  await request(`${h.base}/v1/kv/a?recurse&cas=1&token=${secrets[0]}`, { method: 'DELETE' })
  await request(`${h.base}/v1/kv/a?index=bad&token=${secrets[0]}`)
  await request(`${h.base}/v1/kv/a`, { headers: { 'X-Consul-Token': secrets[1] ?? '' } })
  await request(`${h.base}/v1/catalog/register?token=${secrets[0]}`, { method: 'PUT', body: '{', headers: { Authorization: `Bearer ${secrets[2] ?? ''}` } })
  await request(`${h.base}/v1/nope?token=${secrets[0]}`)
  const logs = h.logLines.join('')
  assert.ok(h.logLines.length >= 6, 'requests were logged')
  for (const secret of secrets) assert.equal(logs.includes(secret), false, `${secret} leaked into the logs`)
  assert.ok(logs.includes('token=<hidden>'), 'the query token is shown redacted')
  assert.ok(logs.includes('"level":50'), 'the 500 was logged at error level')
})
