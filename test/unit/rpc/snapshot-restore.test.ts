/**
 * The server side of PUT /v1/snapshot (src/rpc/snapshot-restore.ts) against a real FSM behind a
 * fake proposer that can fail the way RaftNode.propose does: the body goes out as in-order
 * chunks of restoreChunkBytes (each entry fits one append) and a finish; a chunk whose outcome
 * was unknown is proposed again and its duplicate is harmless whether or not the first copy was
 * applied; a chunk that keeps failing, or is refused because another upload displaced this one,
 * fails the restore with the state unchanged and the staging dropped; a finish with an unknown
 * outcome is not repeated and says so; a body that is no snapshot is rejected.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { Fsm } from '../../../src/fsm/fsm.js'
import { decodeCommand, encodeCommand, type Command } from '../../../src/fsm/commands.js'
import { defaultCoreLimits } from '../../../src/raft/core/raft.js'
import { restoreChunkBytes, restoreSnapshotThroughLog } from '../../../src/rpc/snapshot-restore.js'
import { ControlPlaneError } from '../../../src/util/errors.js'
import { applyRandomCommands, commandEntry, FsmHarness, readerView } from '../fsm/helpers.js'

/** What the fake does with the n-th proposal (1-based): apply it, or fail before or after applying. */
type Fault = 'timeout-before-apply' | 'timeout-after-apply' | 'dropped' | null

class FakeCluster {
  readonly fsm = new Fsm()
  index = 0
  proposals: Command[] = []
  constructor (private readonly fault: (proposal: number, command: Command) => Fault = () => null) {}

  readonly propose = async (bytes: Uint8Array): Promise<unknown> => {
    const command = decodeCommand(bytes)
    this.proposals.push(command)
    const fault = this.fault(this.proposals.length, command)
    if (fault === 'timeout-before-apply') throw new ControlPlaneError('ERR_TIMEOUT', 'no answer in time; the outcome is unknown')
    if (fault === 'dropped') throw new ControlPlaneError('ERR_PROPOSAL_DROPPED', 'another entry took its index')
    this.index += 1
    const result = this.fsm.apply(commandEntry(this.index, command))
    if (fault === 'timeout-after-apply') throw new ControlPlaneError('ERR_TIMEOUT', 'no answer in time; the outcome is unknown')
    return result
  }

  /** Applies a command as if another client had proposed it. */
  applyForeign (command: Command): void {
    this.index += 1
    this.fsm.apply(commandEntry(this.index, command))
  }

  chunkSeqs (): number[] {
    return this.proposals.flatMap(command => command.type === 'restoreChunk' ? [command.Seq] : [])
  }
}

function sourceSnapshot (seed: number, count = 1500): Uint8Array {
  const source = new FsmHarness()
  applyRandomCommands(source, { seed, count })
  return source.fsm.snapshot({ restoreStaging: false })
}

/** The state a whole-buffer restore of `data` gives, for comparison. */
function expectedView (data: Uint8Array, index: number): unknown {
  const fsm = new Fsm()
  fsm.restore(data, { stampIndex: index })
  return readerView(fsm.reader)
}

const fast = { chunkTimeoutMs: 1_000, retryBackoffMs: 0 }

test('a restoreChunk entry of restoreChunkBytes fits one append (appendBytesMax)', () => {
  const entry = encodeCommand({ type: 'restoreChunk', Session: randomUUID(), Seq: Number.MAX_SAFE_INTEGER, Data: new Uint8Array(restoreChunkBytes) })
  assert.ok(entry.byteLength <= defaultCoreLimits.appendBytesMax, `${entry.byteLength} > ${defaultCoreLimits.appendBytesMax}`)
  assert.ok(restoreChunkBytes >= 1024 * 1024 - 1024)
})

test('the body goes out as in-order chunks and a finish, and restores exactly', async () => {
  const data = sourceSnapshot(61)
  const cluster = new FakeCluster()
  await restoreSnapshotThroughLog(data, { ...fast, session: 's', propose: cluster.propose, chunkBytes: 1_000 })
  const chunkCount = Math.ceil(data.length / 1_000)
  assert.deepEqual(cluster.chunkSeqs(), Array.from({ length: chunkCount }, (_, seq) => seq))
  assert.equal(cluster.proposals.at(-1)?.type, 'restoreFinish')
  assert.deepEqual(readerView(cluster.fsm.reader), expectedView(data, cluster.index))
})

test('a chunk with an unknown outcome is proposed again, harmlessly whether or not it was applied', async () => {
  const data = sourceSnapshot(62)
  for (const fault of ['timeout-after-apply', 'timeout-before-apply', 'dropped'] as const) {
    const cluster = new FakeCluster((proposal, command) => command.type === 'restoreChunk' && (proposal === 3 || proposal === 7) ? fault : null)
    await restoreSnapshotThroughLog(data, { ...fast, session: 's', propose: cluster.propose, chunkBytes: 500 })
    const seqs = cluster.chunkSeqs()
    assert.deepEqual(seqs.slice(0, 4), [0, 1, 2, 2], `${fault}: chunk 2 proposed twice`)
    assert.deepEqual([...new Set(seqs)], Array.from({ length: Math.ceil(data.length / 500) }, (_, seq) => seq), `${fault}: every chunk, in order`)
    assert.deepEqual(readerView(cluster.fsm.reader), expectedView(data, cluster.index), fault)
  }
})

test('a chunk that keeps failing fails the restore after a bounded number of attempts, with the staging dropped', async () => {
  const data = sourceSnapshot(63)
  const cluster = new FakeCluster((_, command) => command.type === 'restoreChunk' && command.Seq === 2 ? 'timeout-before-apply' : null)
  cluster.applyForeign({ type: 'kvSet', Key: 'live', Value: new Uint8Array([1]), Flags: 0 })
  const before = readerView(cluster.fsm.reader) as Record<string, unknown>
  await assert.rejects(restoreSnapshotThroughLog(data, { ...fast, session: 's', propose: cluster.propose, chunkBytes: 500 }), (err: ControlPlaneError) => {
    assert.equal(err.code, 'ERR_TIMEOUT')
    assert.match(err.message, /^snapshot restore failed at chunk 3 of \d+: no answer in time.*; the state is unchanged; the staged upload was dropped$/)
    return true
  })
  assert.deepEqual(cluster.chunkSeqs(), [0, 1, 2, 2, 2, 2])
  assert.deepEqual(cluster.proposals.at(-1), { type: 'restoreAbort', Session: 's' })
  assert.deepEqual(cluster.fsm.stateStore.restoreStagingStatus(), { session: null, chunks: 0, bytes: 0 })
  assert.deepEqual(readerView(cluster.fsm.reader), { ...before, appliedIndex: cluster.index })
})

test('an upload displaced by another one fails with ERR_CONFLICT and leaves the other upload staged', async () => {
  const data = sourceSnapshot(64)
  const cluster = new FakeCluster()
  const propose = cluster.propose
  let proposals = 0
  const displacing = async (bytes: Uint8Array): Promise<unknown> => {
    proposals += 1
    if (proposals === 3) cluster.applyForeign({ type: 'restoreChunk', Session: 'other', Seq: 0, Data: new Uint8Array([7]) })
    return await propose(bytes)
  }
  await assert.rejects(restoreSnapshotThroughLog(data, { ...fast, session: 'mine', propose: displacing, chunkBytes: 500 }), (err: ControlPlaneError) => {
    assert.equal(err.code, 'ERR_CONFLICT')
    assert.match(err.message, /^snapshot restore failed at chunk 3 of \d+: .*another snapshot restore started.*; the state is unchanged/)
    return true
  })
  assert.deepEqual(cluster.fsm.stateStore.restoreStagingStatus(), { session: 'other', chunks: 1, bytes: 1 }, 'the abort of "mine" left "other" alone')
})

test('a finish with an unknown outcome is not repeated, and the error says the outcome is unknown', async () => {
  const data = sourceSnapshot(65)
  const cluster = new FakeCluster((_, command) => command.type === 'restoreFinish' ? 'timeout-after-apply' : null)
  await assert.rejects(restoreSnapshotThroughLog(data, { ...fast, session: 's', propose: cluster.propose, chunkBytes: 2_000 }), (err: ControlPlaneError) => {
    assert.equal(err.code, 'ERR_TIMEOUT')
    assert.match(err.message, /failed at the finish: .*the outcome is unknown/)
    return true
  })
  assert.equal(cluster.proposals.filter(command => command.type === 'restoreFinish').length, 1)
  assert.deepEqual(cluster.proposals.at(-1), { type: 'restoreAbort', Session: 's' })
  // It did apply here: the late abort found nothing to drop and the restored state stands.
  assert.deepEqual(readerView(cluster.fsm.reader), { ...(expectedView(data, cluster.index - 1) as object), appliedIndex: cluster.index })
})

test('a body that is not a snapshot is rejected with ERR_INVALID_INPUT and changes nothing', async () => {
  const cluster = new FakeCluster()
  await assert.rejects(restoreSnapshotThroughLog(new TextEncoder().encode('not a snapshot at all'), { ...fast, session: 's', propose: cluster.propose }), (err: ControlPlaneError) => {
    assert.equal(err.code, 'ERR_INVALID_INPUT')
    assert.match(err.message, /^snapshot rejected: invalid snapshot: /)
    return true
  })
  await assert.rejects(restoreSnapshotThroughLog(new Uint8Array(0), { ...fast, session: 's', propose: cluster.propose }), /the snapshot is empty/)
  assert.deepEqual(cluster.fsm.stateStore.restoreStagingStatus(), { session: null, chunks: 0, bytes: 0 })
  assert.equal(cluster.fsm.reader.kvList('').length, 0)
})
