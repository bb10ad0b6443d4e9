/**
 * The Raft shell with everything real: three nodes in one process over ZeroMQ CURVE and
 * LevelDB with fsync. Elections, replication, forwarding, reads, transfer, membership, snapshot
 * catch-up and a slow disk.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { TestCluster } from '../../support/raft-cluster.js'
import { waitFor } from '../../../src/util/wait-for.js'
import { formatPeerAddress } from '../../../src/raft/node.js'
import type { RaftStorage, SaveBatch } from '../../../src/raft/storage.js'

const encoder = new TextEncoder()

test('a three-node cluster elects one leader and commits on every node', async (t) => {
  const cluster = await TestCluster.start({ size: 3 })
  t.after(async () => await cluster.stop())
  const leader = await waitFor(() => cluster.leader(), { timeoutMs: 10_000, what: 'a leader' })
  const outcome = await leader.node.propose(encoder.encode('hello'))
  assert.equal(outcome.result, `${outcome.index}:hello`)
  await waitFor(() => [...cluster.nodes.values()].every(n => n.machine.values.some(v => v.value === 'hello')), { timeoutMs: 5_000, what: 'hello applied everywhere' })
  assert.equal([...cluster.nodes.values()].filter(n => n.node.isLeader).length, 1)
})

test('a follower forwards proposals and read barriers to the leader', async (t) => {
  const cluster = await TestCluster.start({ size: 3 })
  t.after(async () => await cluster.stop())
  await waitFor(() => cluster.leader(), { timeoutMs: 10_000, what: 'a leader' })
  const follower = await waitFor(() => cluster.followers().find(f => f.node.leaderId !== null), { timeoutMs: 5_000, what: 'a follower that knows the leader' })
  const outcome = await follower.node.propose(encoder.encode('via-follower'))
  assert.equal(outcome.result, `${outcome.index}:via-follower`)
  await follower.node.readBarrier()
  assert.ok(follower.node.applied >= outcome.index, 'a read barrier on the follower sees the write')
  assert.ok(follower.machine.values.some(v => v.value === 'via-follower'))
})

test('a proposal with no known leader fails at once with ERR_NO_LEADER', async (t) => {
  const cluster = await TestCluster.start({ size: 3, nodeOptions: { electionTicks: 100000, heartbeatTicks: 2 } })
  t.after(async () => await cluster.stop())
  const node = cluster.get('n1').node
  const started = Date.now()
  await assert.rejects(node.propose(encoder.encode('x')), (err: { code?: string }) => err.code === 'ERR_NO_LEADER')
  assert.ok(Date.now() - started < 1000, 'answered without waiting')
})

test('leadership transfer hands over to the chosen voter', async (t) => {
  const cluster = await TestCluster.start({ size: 3 })
  t.after(async () => await cluster.stop())
  const leader = await waitFor(() => cluster.leader(), { timeoutMs: 10_000, what: 'a leader' })
  await leader.node.propose(encoder.encode('before'))
  const target = cluster.followers()[0]!
  const newLeader = await leader.node.transferLeadership(target.id)
  assert.equal(newLeader, target.id)
  await waitFor(() => target.node.isLeader, { timeoutMs: 5_000, what: 'target leads' })
  const outcome = await target.node.propose(encoder.encode('after'))
  assert.equal(outcome.result, `${outcome.index}:after`)
})

test('a new server joins as a learner, catches up from a snapshot, is promoted, and a voter is removed', async (t) => {
  const cluster = await TestCluster.start({ size: 3, nodeOptions: { snapshotEveryEntries: 20 } })
  t.after(async () => await cluster.stop())
  const leader = await waitFor(() => cluster.leader(), { timeoutMs: 10_000, what: 'a leader' })
  for (let i = 0; i < 60; i += 1) await leader.node.propose(encoder.encode(`v${i}`))
  assert.ok((leader.node.status().snapshotIndex) > 0, 'the leader compacted its log')
  const knownPeers = Object.fromEntries([...cluster.nodes.values()].map(n => [n.id, n.address]))
  const joiner = await cluster.create('n4', { endpoint: 'tcp://127.0.0.1:0', knownPeers })
  const endpoint = await joiner.node.listen()
  joiner.address = formatPeerAddress({ endpoint, publicKey: joiner.keyPair.publicKey })
  await joiner.node.start()
  await leader.node.proposeConfChange({ type: 'addLearner', nodeId: 'n4', address: joiner.address })
  await waitFor(() => joiner.machine.values.some(v => v.value === 'v59'), { timeoutMs: 10_000, what: 'the learner caught up' })
  await leader.node.proposeConfChange({ type: 'promote', nodeId: 'n4' })
  assert.deepEqual([...leader.node.status().configuration.voters].sort(), ['n1', 'n2', 'n3', 'n4'])
  const removed = cluster.followers().find(f => f.id !== 'n4')!
  await leader.node.proposeConfChange({ type: 'remove', nodeId: removed.id })
  assert.ok(!leader.node.status().configuration.voters.includes(removed.id))
  const outcome = await leader.node.propose(encoder.encode('after-membership'))
  await waitFor(() => joiner.machine.values.some(v => v.index === outcome.index), { timeoutMs: 5_000, what: 'the promoted node applies new writes' })
})

test('a restarted node recovers its log from LevelDB and rejoins', async (t) => {
  const cluster = await TestCluster.start({ size: 3 })
  t.after(async () => await cluster.stop())
  const leader = await waitFor(() => cluster.leader(), { timeoutMs: 10_000, what: 'a leader' })
  for (let i = 0; i < 10; i += 1) await leader.node.propose(encoder.encode(`r${i}`))
  const follower = cluster.followers()[0]!
  await waitFor(() => follower.machine.values.length >= 10, { timeoutMs: 5_000, what: 'follower caught up' })
  const restarted = await cluster.restart(follower.id)
  await waitFor(() => restarted.machine.values.filter(v => v.value.startsWith('r')).length === 10, { timeoutMs: 5_000, what: 'restarted node re-applied its log' })
  const outcome = await cluster.leader()!.node.propose(encoder.encode('after-restart'))
  await waitFor(() => restarted.machine.values.some(v => v.index === outcome.index), { timeoutMs: 5_000, what: 'restarted node follows again' })
})

/** Delays every durable write on one node, as a slow or overloaded disk would. */
class SlowStorage implements RaftStorage {
  saves = 0
  entriesSaved = 0
  constructor (private readonly inner: RaftStorage, private readonly delayMs: () => number) {}
  async load (): ReturnType<RaftStorage['load']> { return await this.inner.load() }
  async save (batch: SaveBatch): Promise<void> {
    this.saves += 1
    this.entriesSaved += batch.entries.length
    await new Promise(resolve => setTimeout(resolve, this.delayMs()))
    await this.inner.save(batch)
  }
  async compact (snapshot: Parameters<RaftStorage['compact']>[0]): Promise<void> { await this.inner.compact(snapshot) }
  async close (): Promise<void> { await this.inner.close() }
}

test('a slow disk on every node causes no election storm, and one fsync covers many proposals', async (t) => {
  // Election timeout is 20-40 ticks of 10 ms (200-400 ms). Once a leader is elected, every
  // fsync takes 500 ms, longer than an election timeout: heartbeats must not wait behind them.
  const slow = new Map<string, SlowStorage>()
  let delayMs = 0
  const cluster = await TestCluster.start({
    size: 3,
    wrapStorage: (inner, id) => {
      const wrapped = new SlowStorage(inner, () => delayMs)
      slow.set(id, wrapped)
      return wrapped
    }
  })
  t.after(async () => await cluster.stop())
  const leader = await waitFor(() => cluster.leader(), { timeoutMs: 20_000, what: 'a leader' })
  await leader.node.propose(encoder.encode('warm-up'))
  const term = leader.node.status().term
  delayMs = 500
  const leaderSlow = slow.get(leader.id)!
  const savesBefore = leaderSlow.saves
  const outcomes = await Promise.all(Array.from({ length: 200 }, async (_, i) => await leader.node.propose(encoder.encode(`slow${i}`), { timeoutMs: 30_000 })))
  assert.equal(outcomes.length, 200)
  for (const test of cluster.nodes.values()) {
    assert.equal(test.node.status().term, term, `${test.id} moved to another term: heartbeats queued behind fsync`)
  }
  const saves = leaderSlow.saves - savesBefore
  assert.ok(saves <= 20, `200 proposals took ${saves} fsyncs on the leader; group commit should need only a few`)
})
