/**
 * Blocking queries and consistency modes at the HTTP edge (spec §1.5, §1.6): ?index/?wait reach
 * the server as minQueryIndex/maxQueryTimeMs (capped, defaulted, jittered by up to wait/16); a
 * blocked read wakes on a change (including a delete) and returns at the wait otherwise; bad
 * values get Consul's exact 400 texts; ?stale/?consistent pass through and conflict.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import type { QueryOptions } from '../../../src/rpc/types.js'
import { waitFor } from '../../../src/util/wait-for.js'
import { request, startApiFor, type ApiHarness } from '../../support/api-harness.js'

function lastQuery (h: ApiHarness): QueryOptions {
  const args = h.server.lastCall('kvGet')
  assert.ok(args !== undefined)
  return args[2] as QueryOptions
}

test('a blocked GET wakes when the key changes and returns the new index and value', async (t) => {
  const h = await startApiFor(t)
  await request(`${h.base}/v1/kv/watched`, { method: 'PUT', body: 'v1' })
  const blocked = request(`${h.base}/v1/kv/watched?index=2&wait=30s`)
  await waitFor(() => h.server.waiterCount > 0, { timeoutMs: 5000, what: 'the GET to block on the server' })
  await request(`${h.base}/v1/kv/watched`, { method: 'PUT', body: 'v2' })
  const response = await blocked
  assert.equal(response.status, 200)
  assert.equal(response.headers.get('x-consul-index'), '3')
  assert.equal((JSON.parse(response.text) as Array<{ Value: string }>)[0]?.Value, Buffer.from('v2').toString('base64'))
})

test('a blocked GET wakes on a delete and answers 404 with a higher index', async (t) => {
  const h = await startApiFor(t)
  await request(`${h.base}/v1/kv/doomed`, { method: 'PUT', body: 'v' })
  const blocked = request(`${h.base}/v1/kv/doomed?index=2`)
  await waitFor(() => h.server.waiterCount > 0, { timeoutMs: 5000, what: 'the GET to block on the server' })
  await request(`${h.base}/v1/kv/doomed`, { method: 'DELETE' })
  const response = await blocked
  assert.equal(response.status, 404)
  assert.equal(response.headers.get('x-consul-index'), '3')
})

test('a blocked GET with nothing changing returns at ?wait with the same index', async (t) => {
  const h = await startApiFor(t)
  await request(`${h.base}/v1/kv/quiet`, { method: 'PUT', body: 'v' })
  const startedMs = Date.now()
  const response = await request(`${h.base}/v1/kv/quiet?index=2&wait=200ms`)
  assert.equal(response.status, 200)
  assert.equal(response.headers.get('x-consul-index'), '2')
  assert.equal(lastQuery(h).maxQueryTimeMs, 200)
  assert.ok(Date.now() - startedMs >= 150, 'the server waited for the wait time')
})

test('?index=0 and an index behind the table never block', async (t) => {
  const h = await startApiFor(t)
  await request(`${h.base}/v1/kv/k`, { method: 'PUT', body: 'v' })
  assert.equal((await request(`${h.base}/v1/kv/k?index=0&wait=10m`)).status, 200)
  assert.equal(lastQuery(h).minQueryIndex, 0)
  assert.equal((await request(`${h.base}/v1/kv/k?index=1&wait=10m`)).status, 200)
  assert.equal(lastQuery(h).minQueryIndex, 1)
})

test('?wait is parsed as a Go duration, defaulted to 5m and capped at 10m', async (t) => {
  const h = await startApiFor(t)
  await request(`${h.base}/v1/kv/k`, { method: 'PUT', body: 'v' })
  // ?index=1 is behind the table index (2), so none of these block; the server still sees the wait.
  const cases: Array<[string, number]> = [
    ['?index=1&wait=1m30s', 90_000],
    ['?index=1&wait=500ms', 500],
    ['?index=1&wait=1h', 600_000],
    ['?index=1', 300_000],
    ['?index=1&wait=0s', 300_000],
    ['?wait=10s', 10_000]
  ]
  for (const [query, expectedMs] of cases) {
    assert.equal((await request(`${h.base}/v1/kv/k${query}`)).status, 200, query)
    assert.equal(lastQuery(h).maxQueryTimeMs, expectedMs, query)
  }
})

test('blocking waits get up to wait/16 of jitter', async (t) => {
  const h = await startApiFor(t, { random: () => 0.5 })
  await request(`${h.base}/v1/kv/k`, { method: 'PUT', body: 'v' })
  await request(`${h.base}/v1/kv/k?index=1&wait=16s`)
  assert.equal(lastQuery(h).maxQueryTimeMs, 16_000 + 500)
  await request(`${h.base}/v1/kv/k?wait=16s`)
  assert.equal(lastQuery(h).maxQueryTimeMs, 16_000, 'no jitter without ?index')
})

test('bad ?index and ?wait get Consul\'s texts; ?wait is checked first', async (t) => {
  const h = await startApiFor(t)
  const cases: Array<[string, string]> = [
    ['?index=abc', 'Invalid index'],
    ['?index=-1', 'Invalid index'],
    ['?index=1.5', 'Invalid index'],
    ['?wait=abc', 'Invalid wait time'],
    ['?wait=10', 'Invalid wait time'],
    ['?index=1&wait=5 minutes', 'Invalid wait time'],
    ['?index=bad&wait=bad', 'Invalid wait time']
  ]
  for (const [query, message] of cases) {
    for (const path of ['/v1/kv/k', '/v1/catalog/services', '/v1/health/service/web']) {
      const response = await request(`${h.base}${path}${query}`)
      assert.equal(response.status, 400, `${path}${query}`)
      assert.equal(response.text, message)
    }
  }
  assert.equal(h.server.calls.length, 0)
})

test('consistency modes pass through and show in X-Consul-Effective-Consistency', async (t) => {
  const h = await startApiFor(t)
  await request(`${h.base}/v1/kv/k`, { method: 'PUT', body: 'v' })
  const cases: Array<[string, QueryOptions['consistency'], string]> = [
    ['', 'default', 'leader'],
    ['?leader', 'default', 'leader'],
    ['?stale', 'stale', 'stale'],
    ['?stale=false', 'stale', 'stale'],
    ['?max_stale=5s', 'stale', 'stale'],
    ['?consistent', 'consistent', 'consistent'],
    ['?consistent=1', 'consistent', 'consistent']
  ]
  for (const [query, consistency, effective] of cases) {
    const response = await request(`${h.base}/v1/kv/k${query}`)
    assert.equal(lastQuery(h).consistency, consistency, query)
    assert.equal(response.headers.get('x-consul-effective-consistency'), effective, query)
  }
})

test('?stale with ?consistent, or a bad ?max_stale, is 400', async (t) => {
  const h = await startApiFor(t)
  const cases: Array<[string, string]> = [
    ['?stale&consistent', 'Cannot specify ?stale with ?consistent, conflicting semantics.'],
    ['?max_stale=1s&consistent', 'Cannot specify ?stale with ?consistent, conflicting semantics.'],
    ['?cached&consistent', 'Cannot specify ?cached with ?consistent, conflicting semantics.'],
    ['?max_stale=soon', 'Invalid max_stale value "soon"']
  ]
  for (const [query, message] of cases) {
    const response = await request(`${h.base}/v1/kv/k${query}`)
    assert.equal(response.status, 400, query)
    assert.equal(response.text, message)
  }
})

test('KnownLeader and LastContact come from the server\'s query meta', async (t) => {
  const h = await startApiFor(t)
  h.server.knownLeader = false
  h.server.lastContactMs = 87.6
  const response = await request(`${h.base}/v1/catalog/nodes?stale`)
  assert.equal(response.headers.get('x-consul-knownleader'), 'false')
  assert.equal(response.headers.get('x-consul-lastcontact'), '88')
  assert.equal(response.headers.get('x-consul-index'), '1')
})
