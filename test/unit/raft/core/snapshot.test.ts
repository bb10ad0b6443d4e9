/**
 * Log compaction and snapshot transfer (§7): compact(index, data) drops the log through an
 * applied index and records the configuration in force there; a follower that needs compacted
 * entries receives the snapshot in chunks of snapshotChunkBytes, one chunk per round trip, and
 * hands it to its shell in a Ready (snapshot, then the entries after it).
 */
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import type { Message, SnapshotMeta, SnapshotRequest } from '../../../../src/raft/core/types.js'
import {
  Network, acceptAppends, bytes, configurationOf, drain, makeCommittedLeader, makeLeader, newCore, nodeIds, ofType, only, text
} from './helpers.js'

function chunk (meta: SnapshotMeta, data: string, offset: number, size: number, to = 'n2'): SnapshotRequest {
  const all = bytes(data)
  const end = Math.min(all.byteLength, offset + size)
  return { type: 'snapshot', from: 'n1', to, term: 2, meta, offset, chunk: all.subarray(offset, end), totalBytes: all.byteLength, done: end === all.byteLength }
}

describe('compaction (§7)', () => {
  test('compact drops the log through the index and records its term and the configuration in force', () => {
    const core = makeCommittedLeader()
    core.propose(bytes('x'))
    core.propose(bytes('y'))
    acceptAppends(core, drain(core).messages, ['n2'])
    drain(core)
    assert.equal(core.status().appliedIndex, 4)
    const snapshot = core.compact(3, bytes('state@3'))
    assert.deepEqual(snapshot.meta, { index: 3, term: 2, configuration: configurationOf(nodeIds(3)) })
    assert.equal(text(snapshot.data), 'state@3')
    assert.equal(core.latestSnapshot(), snapshot)
    assert.equal(core.status().snapshotIndex, 3)
    assert.equal(core.termAt(2), undefined)
    assert.equal(core.termAt(3), 2, 'the snapshot keeps the term of its last entry')
    assert.equal(core.entryAt(3), undefined)
    assert.equal(core.entryAt(4)?.index, 4)
    assert.equal(core.lastIndex, 4)
  })

  test('compact refuses an index that is not applied yet, or already compacted', () => {
    const core = makeCommittedLeader()
    assert.throws(() => core.compact(3, bytes('')), /only 2 is applied/)
    core.compact(2, bytes(''))
    assert.throws(() => core.compact(2, bytes('')), /already compacted/)
  })
})

describe('sending a snapshot: InstallSnapshot in chunks (§7, Figure 13)', () => {
  /** n3 never answered; the log through 5 is compacted into a 10-byte snapshot. */
  function leaderNeedingSnapshotForN3 (): ReturnType<typeof newCore> {
    const core = newCore({ tunables: { snapshotChunkBytes: 4 } })
    const elected = makeLeader(core)
    acceptAppends(core, elected.messages, ['n2'])
    drain(core)
    for (const value of ['a', 'b', 'c']) core.propose(bytes(value))
    acceptAppends(core, drain(core).messages, ['n2'])
    drain(core)
    assert.equal(core.status().appliedIndex, 5)
    core.compact(5, bytes('abcdefghij'))
    return core
  }

  test('a follower that needs compacted entries gets the snapshot one chunk per answer, resuming at its offset', () => {
    const core = leaderNeedingSnapshotForN3()
    core.step({ type: 'heartbeatResponse', from: 'n3', to: 'n1', term: 2, readContext: 0 })
    const first = drain(core).messages
    assert.deepEqual(ofType(first, 'append', 'n3'), [])
    const chunk0 = only(ofType(first, 'snapshot', 'n3'), 'snapshot chunk')
    assert.deepEqual([chunk0.offset, text(chunk0.chunk), chunk0.totalBytes, chunk0.done, chunk0.meta.index, chunk0.meta.term], [0, 'abcd', 10, false, 5, 2])
    assert.equal(core.status().progress.get('n3')?.state, 'snapshot')

    const answer = (nextOffset: number, success: boolean): Message => ({ type: 'snapshotResponse', from: 'n3', to: 'n1', term: 2, snapshotIndex: 5, nextOffset, success })
    core.step(answer(4, false))
    const chunk1 = only(ofType(drain(core).messages, 'snapshot', 'n3'), 'snapshot chunk')
    assert.deepEqual([chunk1.offset, text(chunk1.chunk), chunk1.done], [4, 'efgh', false])
    core.step({ type: 'heartbeatResponse', from: 'n3', to: 'n1', term: 2, readContext: 0 })
    const resent = only(ofType(drain(core).messages, 'snapshot', 'n3'), 'snapshot chunk')
    assert.equal(resent.offset, 4, 'a heartbeat answer resends the current chunk in case it was lost')
    core.step(answer(8, false))
    const chunk2 = only(ofType(drain(core).messages, 'snapshot', 'n3'), 'snapshot chunk')
    assert.deepEqual([chunk2.offset, text(chunk2.chunk), chunk2.done], [8, 'ij', true])

    core.step(answer(10, true))
    const after = drain(core).messages
    const progress = core.status().progress.get('n3')
    assert.deepEqual([progress?.match, progress?.state], [5, 'probe'])
    const resume = only(ofType(after, 'append', 'n3'), 'append after the snapshot')
    assert.deepEqual([resume.prevLogIndex, resume.prevLogTerm], [5, 2])
  })
})

describe('receiving a snapshot (§7, Figure 13 receiver rules)', () => {
  const meta: SnapshotMeta = { index: 5, term: 2, configuration: configurationOf(nodeIds(3), ['n4']) }

  test('chunks are acknowledged with the next offset; a gap is answered with the offset to resend from', () => {
    const core = newCore({ id: 'n2', terms: [1, 2], term: 2 })
    const answers = (): Array<[number, boolean]> => ofType(core.takeUrgentMessages(), 'snapshotResponse').map(r => [r.nextOffset, r.success])
    core.step(chunk(meta, 'abcdefghij', 0, 4))
    assert.deepEqual(answers(), [[4, false]])
    core.step(chunk(meta, 'abcdefghij', 8, 4))
    assert.deepEqual(answers(), [[4, false]], 'offset 8 skips a chunk: resend from 4')
    core.step(chunk(meta, 'abcdefghij', 4, 4))
    assert.deepEqual(answers(), [[8, false]])
    core.step(chunk(meta, 'abcdefghij', 8, 4))
    assert.deepEqual(answers(), [], 'the final answer waits until the snapshot is persisted')

    const ready = core.ready()
    assert.ok(ready.snapshot !== null)
    assert.deepEqual(ready.snapshot.meta, meta)
    assert.equal(text(ready.snapshot.data), 'abcdefghij')
    assert.equal(ready.hardState?.commit, 5)
    assert.deepEqual(ready.committedEntries, [], 'the snapshot replaces applying entries through 5')
    const final = only(ofType(ready.messages, 'snapshotResponse'), 'final answer')
    assert.deepEqual([final.nextOffset, final.success, final.snapshotIndex], [10, true, 5])
    core.advance(ready)
    assert.equal(core.commitIndex, 5)
    assert.equal(core.lastIndex, 5)
    assert.equal(core.status().snapshotIndex, 5)
    assert.equal(core.status().appliedIndex, 5)
    assert.deepEqual(core.currentConfiguration.learners, ['n4'], 'the configuration comes from the snapshot')
  })

  test('a chunk sequence that does not start at offset 0 is answered with offset 0', () => {
    const core = newCore({ id: 'n2', terms: [1, 2], term: 2 })
    core.step(chunk(meta, 'abcdefghij', 4, 4))
    const answer = only(ofType(core.takeUrgentMessages(), 'snapshotResponse'), 'answer')
    assert.deepEqual([answer.nextOffset, answer.success], [0, false])
  })

  test('a snapshot at or below the commit index is acknowledged at once without installing it', () => {
    const core = newCore({ id: 'n2', terms: [1, 2, 2, 2, 2, 2], term: 2, commit: 6 })
    core.step(chunk(meta, 'abcdefghij', 0, 4))
    const answer = only(ofType(core.takeUrgentMessages(), 'snapshotResponse'), 'answer')
    assert.deepEqual([answer.nextOffset, answer.success], [10, true])
    const out = drain(core)
    assert.deepEqual(out.snapshots, [])
    assert.equal(core.lastIndex, 6)
  })

  test('a snapshot ending at an entry the follower already holds only advances its commit index', () => {
    const core = newCore({ id: 'n2', terms: [1, 2, 2, 2, 2, 2, 2], term: 2, commit: 1 })
    core.step(chunk(meta, 'abcdefghij', 0, 100))
    const out = drain(core)
    assert.deepEqual(out.snapshots, [])
    assert.equal(core.commitIndex, 5)
    assert.equal(core.lastIndex, 7, 'entries after the snapshot are kept')
    assert.deepEqual(out.committed.map(e => e.index), [2, 3, 4, 5])
  })
})

describe('snapshot transfer end to end (§7)', () => {
  test('a follower behind the leader\'s first index installs the chunked snapshot, then replicates normally and restarts from it', () => {
    const network = new Network({ voters: nodeIds(3), tunables: { snapshotChunkBytes: 4 } })
    network.isolate('n3')
    const leader = network.elect('n1')
    for (const value of ['a', 'b', 'c']) network.propose('n1', value)
    assert.equal(leader.status().appliedIndex, 5)
    const snapshot = leader.compact(5, bytes('abcdefghij'))
    network.disks.get('n1')!.compact(snapshot)
    const start = network.delivered.length
    network.heal()
    network.tick(1)

    const chunks = ofType(network.delivered.slice(start), 'snapshot', 'n3')
    assert.deepEqual(chunks.map(c => [c.offset, c.chunk.byteLength, c.done]), [[0, 4, false], [4, 4, false], [8, 2, true]])
    const n3 = network.core('n3')
    const installed = only(network.snapshotsInstalled.get('n3') ?? [], 'installed snapshot')
    assert.equal(installed.meta.index, 5)
    assert.equal(text(installed.data), 'abcdefghij')
    assert.deepEqual([n3.status().snapshotIndex, n3.commitIndex, n3.lastIndex], [5, 5, 5])

    network.propose('n1', 'd')
    network.tick(1)
    assert.deepEqual(network.appliedCommands('n3'), ['d'], 'entries after the snapshot are applied normally')
    assert.equal(leader.status().progress.get('n3')?.state, 'replicate')

    const restarted = network.restart('n3')
    network.stabilize()
    assert.deepEqual([restarted.status().snapshotIndex, restarted.lastIndex], [5, 6])
    assert.deepEqual(network.appliedCommands('n3'), ['d'], 'a restart re-applies only what follows the snapshot')
  })
})
