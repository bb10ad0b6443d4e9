/**
 * createHttpApi's lifecycle and options: limits are validated once with messages naming the
 * field, listen reports the bound port, and close() does not wait for blocking queries.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { pino } from 'pino'
import { createHttpApi } from '../../../src/api/server.js'
import { isControlPlaneError } from '../../../src/util/errors.js'
import { waitFor } from '../../../src/util/wait-for.js'
import { MemoryServerApi } from '../../support/api-memory-server.js'
import { MemoryAgentApi, request, startApi } from '../../support/api-harness.js'

const logger = pino({ level: 'silent' })

test('bad limits are refused with the field, the value and the expectation', () => {
  const cases: Array<[Record<string, number>, string]> = [
    [{ kvMaxValueSize: 0 }, 'limits.kvMaxValueSize must be a positive integer, got 0'],
    [{ txnMaxOps: 1.5 }, 'limits.txnMaxOps must be a positive integer, got 1.5'],
    [{ blockingWaitDefaultMs: 20_000, blockingWaitMaxMs: 10_000 }, 'limits.blockingWaitDefaultMs must not exceed limits.blockingWaitMaxMs (10000), got 20000']
  ]
  for (const [limits, message] of cases) {
    assert.throws(
      () => createHttpApi({ serverApi: new MemoryServerApi(), agentApi: new MemoryAgentApi(), logger, pretty: false, limits }),
      (err: unknown) => isControlPlaneError(err, 'ERR_INVALID_INPUT') && err.message === message
    )
  }
})

test('listen binds the requested host and reports the chosen port', async (t) => {
  const api = createHttpApi({ serverApi: new MemoryServerApi(), agentApi: new MemoryAgentApi(), logger, pretty: false })
  t.after(async () => { await api.close() })
  const bound = await api.listen('127.0.0.1', 0)
  assert.equal(bound.address, '127.0.0.1')
  assert.ok(bound.port > 0)
  await assert.rejects(api.listen('127.0.0.1', 0), /listen called twice/)
})

test('close() ends blocking queries still waiting instead of waiting for them', async () => {
  const h = await startApi()
  await request(`${h.base}/v1/kv/k`, { method: 'PUT', body: 'v' })
  const blocked = fetch(`${h.base}/v1/kv/k?index=2&wait=10m`).then(async response => await response.text())
  await waitFor(() => h.server.waiterCount > 0, { timeoutMs: 5000, what: 'the GET to block on the server' })
  await h.close()
  await assert.rejects(blocked, 'the client sees the connection close')
})
