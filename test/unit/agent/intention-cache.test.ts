/**
 * The agent's intention cache (src/agent/intention-cache.ts): it loads, follows changes through
 * its blocking query (authorize flips as soon as the query wakes), keeps serving the last list
 * while fetches fail, retries with growing back-off and logs each failure and the recovery, and
 * stops at once. Both fetches are covered: over the ServerApi (client agents) and against a
 * server's own state (localIntentionFetch).
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { IntentionCache, localIntentionFetch, rpcIntentionFetch, type IntentionFetch } from '../../../src/agent/intention-cache.js'
import { ControlPlaneError } from '../../../src/util/errors.js'
import { waitFor } from '../../../src/util/wait-for.js'
import type { IntentionDefault } from '../../../src/rpc/intentions.js'
import { MemoryServerApi } from '../../support/api-memory-server.js'

const aclsOff: IntentionDefault = { aclsEnabled: false, aclDefaultPolicy: 'allow' }
const write = { token: null }

type Level = 'debug' | 'info' | 'warn'
interface LogLine { level: Level, fields: Record<string, unknown>, message: string }
type LogFunction = (fields: Record<string, unknown>, message: string) => void

function recordingLogger (): { lines: LogLine[], debug: LogFunction, info: LogFunction, warn: LogFunction } {
  const lines: LogLine[] = []
  const at = (level: Level): LogFunction => (fields, message) => { lines.push({ level, fields, message }) }
  return { lines, debug: at('debug'), info: at('info'), warn: at('warn') }
}

test('the cache follows intention changes through its blocking query, and authorize flips with them', async (t) => {
  const server = new MemoryServerApi()
  const cache = new IntentionCache({ fetch: rpcIntentionFetch(server), logger: recordingLogger(), waitMs: 30_000 })
  cache.start()
  t.after(async () => { cache.stop(); server.releaseWaiters(); await cache.stopped() })
  const question = { source: 'web', destination: 'db' }
  assert.deepEqual(await cache.authorize(question, aclsOff, { timeoutMs: 5_000 }), {
    authorized: true, reason: 'ACLs disabled, access is allowed by default', matched: null
  })
  await waitFor(() => server.intentions.waiterCount > 0, { timeoutMs: 5_000, what: 'the cache to block on the server' })

  const { ID } = await server.intentionCreate({ SourceName: 'web', DestinationName: 'db', Action: 'deny' }, write)
  const denied = await waitFor(async () => {
    const decision = await cache.authorize(question, aclsOff, { timeoutMs: 1_000 })
    return decision.authorized ? undefined : decision
  }, { timeoutMs: 5_000, what: 'authorize to deny' })
  assert.equal(denied.reason, 'Matched L4 intention: web => db (deny)')
  assert.equal(denied.matched?.ID, ID)

  await server.intentionUpdate(ID, { SourceName: 'web', DestinationName: 'db', Action: 'allow' }, write)
  const allowed = await waitFor(async () => {
    const decision = await cache.authorize(question, { aclsEnabled: true, aclDefaultPolicy: 'deny' }, { timeoutMs: 1_000 })
    return decision.authorized ? decision : undefined
  }, { timeoutMs: 5_000, what: 'authorize to allow' })
  assert.equal(allowed.reason, 'Matched L4 intention: web => db (allow)')

  await server.intentionDelete({ By: 'id', ID }, write)
  const fallback = await waitFor(async () => {
    const decision = await cache.authorize(question, { aclsEnabled: true, aclDefaultPolicy: 'deny' }, { timeoutMs: 1_000 })
    return decision.matched === null ? decision : undefined
  }, { timeoutMs: 5_000, what: 'the deleted intention to leave the cache' })
  assert.deepEqual([fallback.authorized, fallback.reason], [false, 'Default behavior configured by ACLs'])
  assert.equal(cache.index, 4)
})

test('fetch errors are retried with growing back-off and logged; the last list keeps serving', async (t) => {
  const logger = recordingLogger()
  let calls = 0
  let failing = false
  const fetch: IntentionFetch = async (minIndex) => {
    calls += 1
    if (calls === 1) return { index: 5, intentions: [] }
    if (calls <= 4 || failing) throw new ControlPlaneError('ERR_NO_LEADER', 'No cluster leader')
    if (minIndex === 5) return { index: 6, intentions: [] }
    failing = true
    throw new ControlPlaneError('ERR_NO_LEADER', 'No cluster leader')
  }
  const cache = new IntentionCache({ fetch, logger, backoffInitialMs: 5, backoffMaxMs: 20, random: () => 1 })
  cache.start()
  t.after(async () => { cache.stop(); await cache.stopped() })
  await waitFor(() => cache.index === 6, { timeoutMs: 5_000, what: 'the cache to recover and load index 6' })
  const failures = logger.lines.filter(line => line.message === 'intention watch failed; retrying')
  assert.deepEqual(failures.slice(0, 3).map(line => [line.level, line.fields.attempt, line.fields.retryInMs, line.fields.err]), [
    ['warn', 1, 5, 'No cluster leader'],
    ['debug', 2, 10, 'No cluster leader'],
    ['debug', 3, 20, 'No cluster leader']
  ])
  const recovered = logger.lines.find(line => line.level === 'info')
  assert.deepEqual([recovered?.message, recovered?.fields.attempts], ['intention watch recovered', 3])
  // Failing again: the cached list still answers, the back-off stays capped, every 10th failure warns.
  await waitFor(() => logger.lines.filter(line => line.fields.attempt === 10).length > 0, { timeoutMs: 5_000, what: '10 more failures' })
  assert.equal((await cache.intentions(100)).length, 0)
  assert.ok(logger.lines.every(line => (line.fields.retryInMs as number | undefined ?? 0) <= 20))
  assert.deepEqual(logger.lines.filter(line => line.level === 'warn').map(line => line.fields.attempt), [1, 1, 10])
})

test('before the first load, intentions() fails with the last error once its wait ends', async (t) => {
  const fetch: IntentionFetch = async () => { throw new ControlPlaneError('ERR_NO_LEADER', 'No known Consul servers') }
  const cache = new IntentionCache({ fetch, logger: recordingLogger(), backoffInitialMs: 5, backoffMaxMs: 10 })
  cache.start()
  t.after(async () => { cache.stop(); await cache.stopped() })
  await assert.rejects(cache.intentions(50), (err: unknown) => (err as Error).message === 'No known Consul servers')
})

test('localIntentionFetch blocks on the server\'s own state and ends at once when aborted', async () => {
  const server = new MemoryServerApi()
  const reader = server.intentions.fsm.reader
  const fetch = localIntentionFetch(reader)
  const first = await fetch(0, 10_000, new AbortController().signal)
  assert.deepEqual(first, { index: 1, intentions: [] })

  const waiting = fetch(first.index, 10_000, new AbortController().signal)
  await server.intentionCreate({ SourceName: 'web', DestinationName: 'db', Action: 'allow' }, write)
  const next = await waiting
  assert.equal(next.index, 2)
  assert.deepEqual(next.intentions.map(i => i.SourceName), ['web'])

  const abort = new AbortController()
  const started = performance.now()
  const aborted = fetch(next.index, 60_000, abort.signal)
  abort.abort()
  assert.equal((await aborted).index, 2)
  assert.ok(performance.now() - started < 5_000, 'an aborted wait ends at once')
})

test('stop ends the loop while a server-side wait is pending', async () => {
  const server = new MemoryServerApi()
  const cache = new IntentionCache({ fetch: localIntentionFetch(server.intentions.fsm.reader), logger: recordingLogger(), waitMs: 60_000 })
  cache.start()
  await cache.intentions(5_000)
  cache.stop()
  await cache.stopped()
})
