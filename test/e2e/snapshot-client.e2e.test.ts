/**
 * A snapshot restore larger than the transport's 64 MiB frame limit through a CLIENT agent, on
 * three real servers and one client (127.0.72.x). About 70 MiB of KV values (distinct,
 * incompressible) are written and saved with GET /v1/snapshot from the leader; the KV store is
 * then changed (everything deleted, a new key written); the snapshot is restored with
 * PUT /v1/snapshot sent to the client agent, which streams it to a server chunk by chunk
 * (RpcClient.snapshotRestore). Before the chunk RPCs the whole body went to a server as one RPC
 * frame and a restore this size failed. Every server must then serve exactly the saved keys and
 * values at one X-Consul-Index, and none of the post-save key.
 *
 * Also reports (as a test diagnostic, never asserted) the client's and each server's peak RSS
 * during the restore (process-memory.ts). Linux only; skipped elsewhere.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { AgentCluster, type AgentProcess } from './agent-cluster.js'
import { consulIndex, http } from './http-client.js'
import { resetPeakRss, rssMiB } from './process-memory.js'
import { waitFor } from '../../src/util/wait-for.js'

const valueBytes = 500 * 1024 // under kv_max_value_size (512 KiB)
const keyCount = 145 // 70.8 MiB of values
const frameBytesMax = 64 * 1024 * 1024 // the transport's messageBytesMax

function key (i: number): string {
  return `big/${String(i).padStart(3, '0')}`
}

/** A distinct incompressible value per key, deterministic (SHAKE-256 of the index). */
function value (i: number): Buffer {
  return createHash('shake256', { outputLength: valueBytes }).update(`weft e2e value ${i}`).digest()
}

function sha256 (data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex')
}

/** Runs `work` for 0..count-1, `width` at a time. */
async function forEachLimited (count: number, width: number, work: (i: number) => Promise<void>): Promise<void> {
  let next = 0
  const worker = async (): Promise<void> => {
    for (let i = next++; i < count; i = next++) await work(i)
  }
  await Promise.all(Array.from({ length: width }, worker))
}

/** Every key's value digest as `server` serves it (stale reads: its own state). */
async function digests (server: AgentProcess): Promise<string[]> {
  const result: string[] = []
  await forEachLimited(keyCount, 4, async i => {
    const answer = await http(server, 'GET', `/v1/kv/${key(i)}?raw&stale`, { timeoutMs: 30_000 })
    result[i] = answer.status === 200 ? sha256(answer.body) : `HTTP ${answer.status}`
  })
  return result
}

test('a snapshot over 64 MiB restores through a client agent, chunk by chunk, onto every server', { timeout: 600_000 }, async (t) => {
  const cluster = await AgentCluster.start({ block: 72, servers: 3, clients: 1 })
  let passed = false
  t.after(async () => {
    if (!passed) t.diagnostic(cluster.logs())
    await cluster.stop()
  })
  const leader = await cluster.waitForLeader()
  const client = cluster.get('c1')

  const expected: string[] = []
  await forEachLimited(keyCount, 4, async i => {
    const data = value(i)
    expected[i] = sha256(data)
    const answer = await http(leader, 'PUT', `/v1/kv/${key(i)}`, { body: data, timeoutMs: 60_000 })
    assert.equal(answer.status, 200, answer.text)
  })
  const snapshot = await http(leader, 'GET', '/v1/snapshot', { timeoutMs: 120_000 })
  assert.equal(snapshot.status, 200, snapshot.text.slice(0, 200))
  assert.ok(snapshot.body.length > frameBytesMax, `the snapshot (${snapshot.body.length} bytes) is larger than one RPC frame may be`)

  assert.equal((await http(leader, 'DELETE', '/v1/kv/?recurse', { timeoutMs: 60_000 })).status, 200)
  assert.equal((await http(leader, 'PUT', '/v1/kv/after/save', { body: 'must vanish' })).status, 200)
  // The client agent reaches the servers (gossip found them) before the restore is sent to it.
  await waitFor(async () => (await http(client, 'GET', '/v1/kv/after/save?raw')).text === 'must vanish', { timeoutMs: 30_000, what: 'the client agent to read through a server' })

  const agents = [client, ...cluster.servers()]
  const pids = new Map(agents.map(agent => [agent.name, agent.proc!.child.pid!]))
  const canMeasure = (await Promise.all([...pids.values()].map(resetPeakRss))).every(Boolean)
  const before = canMeasure ? new Map(await Promise.all([...pids].map(async ([name, pid]) => [name, await rssMiB(pid)] as const))) : null
  const started = performance.now()
  const restored = await http(client, 'PUT', '/v1/snapshot', { body: snapshot.body, timeoutMs: 300_000 })
  const elapsedMs = Math.round(performance.now() - started)
  assert.equal(restored.status, 200, restored.text)
  if (before !== null) {
    for (const [name, pid] of pids) {
      const after = await rssMiB(pid)
      const role = name === client.name ? 'client (took the PUT)' : name === leader.name ? 'leader' : 'follower'
      t.diagnostic(`${name} ${role}: RSS ${before.get(name)!.rss} MiB before, peak ${after.peak} MiB during, ${after.rss} MiB after restoring ${(snapshot.body.length / 2 ** 20).toFixed(1)} MiB in ${elapsedMs} ms`)
    }
  }

  const indexes = new Set<number>()
  for (const server of cluster.servers()) {
    await waitFor(async () => (await http(server, 'GET', `/v1/kv/${key(keyCount - 1)}?stale`)).status === 200, { timeoutMs: 60_000, what: `${server.name} to apply the restore` })
    assert.deepEqual(await digests(server), expected, `${server.name} serves the saved values`)
    indexes.add(consulIndex(await http(server, 'GET', `/v1/kv/${key(0)}?stale`)))
    assert.equal((await http(server, 'GET', '/v1/kv/after/save?stale')).status, 404, `${server.name} still has the post-save key`)
  }
  assert.equal(indexes.size, 1, `every server reports the finish entry's index, got ${[...indexes].join(', ')}`)

  // The cluster keeps working on top of the restored state, through the client too.
  assert.equal((await http(client, 'PUT', '/v1/kv/after/restore', { body: 'ok' })).status, 200)
  assert.equal((await http(leader, 'GET', '/v1/kv/after/restore?raw&consistent')).text, 'ok')
  passed = true
})
