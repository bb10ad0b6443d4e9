/**
 * Snapshot save, wipe, restore on real processes (127.0.55.x): KV keys (binary values, empty
 * values, flags up to 2^64-1's safe range, nested and unicode keys) and catalog entries (nodes,
 * services, node and service checks) are written; `weft snapshot save` takes a snapshot through
 * the client agent; every agent is stopped and its data directory deleted; a fresh cluster is
 * started in the same addresses (and shown to be empty); `weft snapshot restore` loads the file
 * through a follower; then everything a user can read back (KV with ?recurse and ?raw, catalog
 * nodes, services, service instances, health entries, node listings) is identical to before,
 * indexes aside, on every server, and the restored cluster accepts writes.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { AgentCluster, type AgentProcess } from './agent-cluster.js'
import { http, runWeft, type KvEntry } from './http-client.js'
import { waitFor } from '../../src/util/wait-for.js'

/** Every byte value, so no encoding step can hide behind text. */
const allBytes = Uint8Array.from({ length: 256 }, (_, i) => i)
const binaryWithNul = Uint8Array.from([0, 255, 0, 1, 0xc3, 0x28, 0xa0, 0xa1, 0xe2, 0x28, 0xa1, 0xf0, 0x28, 0x8c, 0xbc, 0x0a, 0x0d, 0x00])

const kvWrites: ReadonlyArray<{ key: string, value: string | Uint8Array, flags?: number }> = [
  { key: 'app/config/name', value: 'weft' },
  { key: 'app/config/json', value: JSON.stringify({ replicas: 3, tags: ['a', 'b'] }) },
  { key: 'app/binary/all-bytes', value: allBytes, flags: 7 },
  { key: 'app/binary/invalid-utf8', value: binaryWithNul, flags: 4294967295 },
  { key: 'app/empty', value: '', flags: 1 },
  { key: 'app/flags/max-safe', value: 'big flags', flags: Number.MAX_SAFE_INTEGER },
  { key: 'app/dir/', value: '' },
  { key: 'unicode/ключ/値', value: 'ünïcödé ✓' },
  { key: 'top', value: 'level' }
]

const registrations = [
  {
    Node: 'db-1', Address: '10.0.4.7', ID: '6f1a2c9e-2b7d-4f0c-9d4a-1e5b7c3a9f10', NodeMeta: { external: 'true' },
    TaggedAddresses: { lan: '10.0.4.7', wan: '203.0.113.7' },
    Service: { ID: 'pg-1', Service: 'postgres', Tags: ['primary'], Port: 5432, Meta: { version: '15' }, Weights: { Passing: 3, Warning: 1 } },
    Checks: [
      { CheckID: 'pg-1-alive', Name: 'pg tcp', Status: 'passing', ServiceID: 'pg-1', Definition: { TCP: '10.0.4.7:5432', Interval: '10s', Timeout: '2s' } },
      { CheckID: 'db-1-disk', Name: 'disk', Status: 'warning', Notes: 'node-level', Output: '91% used' }
    ]
  },
  {
    Node: 'web-1', Address: '10.0.5.1',
    Service: { ID: 'web-a', Service: 'web', Tags: ['v1', 'edge'], Port: 8080, Address: '10.0.5.11' },
    Check: { Name: 'web http', Status: 'critical', ServiceID: 'web-a', Output: 'connection refused' }
  },
  { Node: 'web-1', Address: '10.0.5.1', Service: { Service: 'web', Tags: ['v2'], Port: 8081 } },
  { Node: 'cache-1', Address: '10.0.6.1', Service: { ID: 'redis-1', Service: 'redis', Port: 6379 } }
]

/** Drops CreateIndex/ModifyIndex at every depth: they are Raft indexes, which a restore may change. */
function withoutIndexes (value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutIndexes)
  if (typeof value !== 'object' || value === null) return value
  return Object.fromEntries(Object.entries(value)
    .filter(([key]) => key !== 'CreateIndex' && key !== 'ModifyIndex')
    .map(([key, inner]) => [key, withoutIndexes(inner)]))
}

async function getJson (agent: AgentProcess, path: string): Promise<unknown> {
  const answer = await http(agent, 'GET', path)
  assert.equal(answer.status, 200, `GET ${path} on ${agent.name}: ${answer.status} ${answer.text}`)
  return answer.json
}

const agentNodes = new Set(['s1', 's2', 's3', 'c1'])

/** Everything a user can read back, indexes aside, as one comparable value. */
async function userVisibleState (agent: AgentProcess, consistency: '?consistent' | '?stale'): Promise<Record<string, unknown>> {
  const and = `&${consistency.slice(1)}`
  const kvAnswer = await http(agent, 'GET', `/v1/kv/?recurse${and}`)
  const kv = kvAnswer.status === 404 ? [] : kvAnswer.json as KvEntry[]
  assert.ok(kvAnswer.status === 200 || kvAnswer.status === 404, kvAnswer.text)
  const raw: Record<string, string> = {}
  for (const entry of kv) {
    const value = await http(agent, 'GET', `/v1/kv/${encodeURI(entry.Key)}?raw${and}`)
    assert.equal(value.status, 200)
    raw[entry.Key] = value.body.toString('base64')
  }
  const services = await getJson(agent, `/v1/catalog/services${consistency}`) as Record<string, string[]>
  // The agents' own nodes (s1..s3, c1) are kept by the live cluster itself (anti-entropy and the
  // leader's serfHealth reconciliation) and carry new node IDs after a wipe: compare the rest.
  const nodes = (await getJson(agent, `/v1/catalog/nodes${consistency}`) as Array<{ Node: string }>).filter(node => !agentNodes.has(node.Node))
  const instances: Record<string, unknown> = {}
  const health: Record<string, unknown> = {}
  for (const name of Object.keys(services).sort()) {
    instances[name] = await getJson(agent, `/v1/catalog/service/${name}${consistency}`)
    health[name] = await getJson(agent, `/v1/health/service/${name}${consistency}`)
  }
  const nodeListings: Record<string, unknown> = {}
  for (const node of nodes) nodeListings[node.Node] = await getJson(agent, `/v1/catalog/node/${node.Node}${consistency}`)
  return withoutIndexes({ kv, raw, services, nodes, instances, health, nodeListings }) as Record<string, unknown>
}

test('snapshot save, wipe every agent, restore into a fresh cluster gives back identical KV and catalog contents', { timeout: 90_000 }, async (t) => {
  const workDir = await mkdtemp(join(tmpdir(), 'weft-e2e-snapshot-'))
  let cluster = await AgentCluster.start({ block: 55, servers: 3, clients: 1 })
  let passed = false
  t.after(async () => {
    if (!passed) t.diagnostic(cluster.logs())
    await cluster.stop()
    await rm(workDir, { recursive: true, force: true })
  })
  const snapshotFile = join(workDir, 'backup.snap')
  const [s1, s2, s3] = cluster.servers() as [AgentProcess, AgentProcess, AgentProcess]
  const writers = [s1, s2, s3, cluster.get('c1')]

  for (const [i, write] of kvWrites.entries()) {
    const query = write.flags === undefined ? '' : `?flags=${write.flags}`
    const answer = await http(writers[i % writers.length]!, 'PUT', `/v1/kv/${encodeURI(write.key)}${query}`, { body: write.value })
    assert.equal(answer.status, 200, `PUT ${write.key}: ${answer.text}`)
  }
  // A key written then overwritten and one written then deleted: only the final state may come back.
  assert.equal((await http(s1, 'PUT', '/v1/kv/app/overwritten?flags=3', { body: 'old' })).status, 200)
  assert.equal((await http(s2, 'PUT', '/v1/kv/app/overwritten?flags=9', { body: 'new' })).status, 200)
  assert.equal((await http(s3, 'PUT', '/v1/kv/app/deleted', { body: 'gone' })).status, 200)
  assert.equal((await http(s1, 'DELETE', '/v1/kv/app/deleted')).status, 200)
  for (const [i, registration] of registrations.entries()) {
    const answer = await http(writers[i % writers.length]!, 'PUT', '/v1/catalog/register', { body: JSON.stringify(registration) })
    assert.equal(answer.status, 200, `register ${registration.Node}: ${answer.text}`)
  }

  const before = await userVisibleState(s2, '?consistent')
  // The fixture really is in there (a comparison of two empty stores would prove nothing).
  assert.equal((before.kv as unknown[]).length, kvWrites.length + 1)
  assert.deepEqual(Object.keys(before.services as object).sort(), ['postgres', 'redis', 'web'])
  assert.equal((before.instances as Record<string, unknown[]>).web!.length, 2)
  assert.equal((before.raw as Record<string, string>)['app/binary/all-bytes'], Buffer.from(allBytes).toString('base64'))
  assert.equal((before.raw as Record<string, string>)['app/binary/invalid-utf8'], Buffer.from(binaryWithNul).toString('base64'))

  const saved = await runWeft(['snapshot', 'save', `-http-addr=${cluster.get('c1').ip}:8500`, snapshotFile])
  assert.equal(saved.code, 0, `snapshot save failed: ${saved.stderr}${saved.stdout}`)
  assert.match(saved.stdout, /^Saved and verified snapshot to index \d+\n$/)
  assert.ok((await stat(snapshotFile)).size > 0)

  // Wipe: every agent stopped, every data directory deleted, a new cluster on the same addresses.
  await cluster.stop()
  cluster = await AgentCluster.start({ block: 55, servers: 3, clients: 1 })
  const fresh = cluster.servers() as [AgentProcess, AgentProcess, AgentProcess]
  const empty = await userVisibleState(fresh[0], '?consistent')
  assert.deepEqual(empty.kv, [], 'the fresh cluster is not empty')
  assert.deepEqual(empty.services, {})
  assert.deepEqual(empty.nodes, [])

  const leader = await cluster.waitForLeader()
  const follower = fresh.find(s => s !== leader)!
  const restored = await runWeft(['snapshot', 'restore', `-http-addr=${follower.ip}:8500`, snapshotFile])
  assert.equal(restored.code, 0, `snapshot restore failed: ${restored.stderr}${restored.stdout}`)
  assert.equal(restored.stdout, 'Restored snapshot\n')

  const after = await userVisibleState(fresh[2], '?consistent')
  assert.deepEqual(after, before)
  // Every server holds the restored state, not only the one that answered.
  for (const server of fresh) {
    await waitFor(async () => {
      const local = await userVisibleState(server, '?stale')
      try { assert.deepEqual(local, before); return true } catch { return false }
    }, { timeoutMs: 20_000, what: `${server.name} to serve the restored state` })
  }

  // The restored cluster keeps serving: a write after the restore lands on top of it.
  assert.equal((await http(follower, 'PUT', '/v1/kv/after/restore', { body: 'ok' })).status, 200)
  const read = await http(leader, 'GET', '/v1/kv/after/restore?raw&consistent')
  assert.equal(read.text, 'ok')
  assert.equal((await http(leader, 'GET', '/v1/kv/app/config/name?raw&consistent')).text, 'weft')
  passed = true
})
