/**
 * A snapshot restore larger than one log chunk on three real servers (127.0.58.x): about 6 MiB
 * of KV values (incompressible bytes, binary and flags included) are written and saved with
 * GET /v1/snapshot; the KV store is then changed (everything deleted, a new key written); the
 * snapshot is restored through a follower, so every chunk is forwarded to the leader. Every
 * server must then serve exactly the saved keys, values and flags, at the same X-Consul-Index
 * (the finish entry's index), and none of the post-save key. The restore must have gone out as
 * several chunk entries (the snapshot is larger than restoreChunkBytes several times over).
 *
 * Also reports (as a test diagnostic, never asserted) each server's peak RSS during the restore:
 * the kernel's high-water mark (VmHWM in /proc/<pid>/status) after resetting it through
 * /proc/<pid>/clear_refs just before the PUT. Linux only; skipped elsewhere.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { AgentCluster, type AgentProcess } from './agent-cluster.js'
import { consulIndex, http, type KvEntry } from './http-client.js'
import { resetPeakRss, rssMiB } from './process-memory.js'
import { restoreChunkBytes } from '../../src/rpc/snapshot-restore.js'
import { SeededPrng } from '../../src/util/prng.js'
import { waitFor } from '../../src/util/wait-for.js'

const valueBytes = 200 * 1024
const keyCount = 30

function value (seed: number): Uint8Array {
  const prng = new SeededPrng(seed)
  return Uint8Array.from({ length: valueBytes }, () => prng.nextInt(256))
}

/** Keys, flags and a digest of each value, as one comparable list (indexes left out). */
async function kvDigest (agent: AgentProcess): Promise<Array<{ Key: string, Flags: number, Sha256: string | null }>> {
  const answer = await http(agent, 'GET', '/v1/kv/?recurse&stale', { timeoutMs: 30_000 })
  if (answer.status === 404) return []
  assert.equal(answer.status, 200, answer.text.slice(0, 200))
  return (answer.json as KvEntry[]).map(entry => ({
    Key: entry.Key,
    Flags: entry.Flags,
    Sha256: entry.Value === null ? null : createHash('sha256').update(Buffer.from(entry.Value, 'base64')).digest('hex')
  }))
}

test('a multi-chunk snapshot restore through a follower leaves every server with the same saved contents', { timeout: 180_000 }, async (t) => {
  const cluster = await AgentCluster.start({ block: 58, servers: 3, clients: 0 })
  let passed = false
  t.after(async () => {
    if (!passed) t.diagnostic(cluster.logs())
    await cluster.stop()
  })
  const leader = await cluster.waitForLeader()
  const follower = cluster.servers().find(s => s !== leader)!

  for (let i = 0; i < keyCount; i += 1) {
    const answer = await http(leader, 'PUT', `/v1/kv/big/${String(i).padStart(3, '0')}?flags=${i}`, { body: value(i), timeoutMs: 30_000 })
    assert.equal(answer.status, 200, answer.text)
  }
  assert.equal((await http(leader, 'PUT', '/v1/kv/small/empty', { body: '' })).status, 200)
  const saved = await kvDigest(leader)
  assert.equal(saved.length, keyCount + 1)

  const snapshot = await http(leader, 'GET', '/v1/snapshot', { timeoutMs: 60_000 })
  assert.equal(snapshot.status, 200, snapshot.text.slice(0, 200))
  assert.ok(snapshot.body.length > 4 * restoreChunkBytes, `the snapshot (${snapshot.body.length} bytes) spans several chunks`)

  assert.equal((await http(leader, 'DELETE', '/v1/kv/?recurse')).status, 200)
  assert.equal((await http(leader, 'PUT', '/v1/kv/after/save', { body: 'must vanish' })).status, 200)

  const pids = new Map(cluster.servers().map(server => [server.name, server.proc!.child.pid!]))
  const canMeasure = (await Promise.all([...pids.values()].map(resetPeakRss))).every(Boolean)
  const before = canMeasure ? new Map(await Promise.all([...pids].map(async ([name, pid]) => [name, await rssMiB(pid)] as const))) : null
  const started = performance.now()
  const restored = await http(follower, 'PUT', '/v1/snapshot', { body: snapshot.body, timeoutMs: 120_000 })
  const elapsedMs = Math.round(performance.now() - started)
  assert.equal(restored.status, 200, restored.text)
  if (before !== null) {
    for (const [name, pid] of pids) {
      const after = await rssMiB(pid)
      const role = name === leader.name ? 'leader' : name === follower.name ? 'follower (took the PUT)' : 'follower'
      t.diagnostic(`${name} ${role}: RSS ${before.get(name)!.rss} MiB before, peak ${after.peak} MiB during, ${after.rss} MiB after restoring ${(snapshot.body.length / 2 ** 20).toFixed(1)} MiB in ${elapsedMs} ms`)
    }
  }

  const indexes = new Set<number>()
  for (const server of cluster.servers()) {
    await waitFor(async () => {
      const digest = await kvDigest(server)
      try { assert.deepEqual(digest, saved); return true } catch { return false }
    }, { timeoutMs: 30_000, what: `${server.name} to serve the restored KV store` })
    indexes.add(consulIndex(await http(server, 'GET', '/v1/kv/big/000?stale')))
    assert.equal((await http(server, 'GET', '/v1/kv/after/save?stale')).status, 404, `${server.name} still has the post-save key`)
  }
  assert.equal(indexes.size, 1, `every server reports the finish entry's index, got ${[...indexes].join(', ')}`)

  // The cluster keeps working on top of the restored state.
  assert.equal((await http(follower, 'PUT', '/v1/kv/after/restore', { body: 'ok' })).status, 200)
  assert.equal((await http(leader, 'GET', '/v1/kv/after/restore?raw&consistent')).text, 'ok')
  passed = true
})
