/**
 * The restore of PUT /v1/snapshot (src/rpc/snapshot-restore.ts) against a real FSM behind a
 * fake proposer that can fail the way RaftNode.propose does.
 *
 * On a server: the body, arriving as pieces of any size, goes out as in-order chunks of exactly
 * the chunk size (each entry fits one append) and a finish, and the source is pulled only as
 * chunks apply (never more than one chunk ahead); a chunk whose outcome was unknown is proposed
 * again and its duplicate is harmless whether or not the first copy was applied; a chunk that
 * keeps failing, or is refused because another upload displaced this one, fails the restore
 * with the state unchanged and the staging dropped; a finish with an unknown outcome is not
 * repeated and says so; a body that is no snapshot is rejected; a failing source (an HTTP body
 * over its limit) aborts the staged upload and its error reaches the caller unchanged; the
 * chunk RPCs check their arguments before anything is proposed.
 *
 * On a client agent (RpcClient.snapshotRestore over a fake transport to three "servers" that
 * share the fake cluster's log): the chunk RPCs restore exactly, stay on one server, carry one
 * chunk per frame; a server that answers a chunk too late is left for another, which sends the
 * chunk again harmlessly; a finish with an unknown outcome is not repeated.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { Fsm } from '../../../src/fsm/fsm.js'
import { decodeCommand, encodeCommand, type Command } from '../../../src/fsm/commands.js'
import { defaultCoreLimits } from '../../../src/raft/core/raft.js'
import type { NodeId } from '../../../src/raft/core/types.js'
import type { RaftTransport } from '../../../src/raft/transport.js'
import { RpcClient } from '../../../src/rpc/rpc-client.js'
import { LocalServerApi, type RpcRequest } from '../../../src/rpc/server-api.js'
import {
  checkRestoreClaim, proposeRestoreAbort, proposeRestoreChunk, proposeRestoreFinish, restoreChunkBytes, restoreSnapshotThroughLog,
  type LogRestoreOptions
} from '../../../src/rpc/snapshot-restore.js'
import { ControlPlaneError, isControlPlaneError } from '../../../src/util/errors.js'
import { SeededPrng } from '../../../src/util/prng.js'
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

  stagedBytes (): number {
    return this.fsm.stateStore.restoreStagingStatus().bytes
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

/**
 * `data` as a stream of pieces of seeded random sizes in 1..pieceBytesMax (an HTTP body arrives
 * in socket-sized pieces). `onPull` runs before each piece is handed over, with the bytes
 * handed over so far.
 */
async function * piecesOf (data: Uint8Array, options: { seed?: number, pieceBytesMax?: number, onPull?: (pulledBytes: number) => void } = {}): AsyncGenerator<Uint8Array> {
  const prng = new SeededPrng(options.seed ?? 1)
  const pieceBytesMax = options.pieceBytesMax ?? 700
  for (let offset = 0; offset < data.length;) {
    options.onPull?.(offset)
    const size = 1 + prng.nextInt(pieceBytesMax)
    yield data.slice(offset, offset + size)
    offset += size
  }
}

/** A source that yields `data` and then fails the way an HTTP body over its limit does. */
async function * failingAfter (data: Uint8Array, error: Error): AsyncGenerator<Uint8Array> {
  yield * piecesOf(data)
  throw error
}

const fast = { chunkTimeoutMs: 1_000, retryBackoffMs: 0 }

test('a restoreChunk entry of restoreChunkBytes fits one append (appendBytesMax)', () => {
  const entry = encodeCommand({ type: 'restoreChunk', Session: randomUUID(), Seq: Number.MAX_SAFE_INTEGER, Data: new Uint8Array(restoreChunkBytes) })
  assert.ok(entry.byteLength <= defaultCoreLimits.appendBytesMax, `${entry.byteLength} > ${defaultCoreLimits.appendBytesMax}`)
  assert.ok(restoreChunkBytes >= 1024 * 1024 - 1024)
})

test('pieces of any size go out as in-order chunks of the chunk size and a finish, and restore exactly', async () => {
  const data = sourceSnapshot(61)
  for (const pieceBytesMax of [1, 333, 1_000, 5_000]) {
    const cluster = new FakeCluster()
    await restoreSnapshotThroughLog(piecesOf(data, { pieceBytesMax }), { ...fast, session: 's', propose: cluster.propose, chunkBytes: 1_000 })
    const chunkCount = Math.ceil(data.length / 1_000)
    assert.deepEqual(cluster.chunkSeqs(), Array.from({ length: chunkCount }, (_, seq) => seq), `pieces up to ${pieceBytesMax} bytes`)
    const sizes = cluster.proposals.flatMap(command => command.type === 'restoreChunk' ? [command.Data.byteLength] : [])
    assert.ok(sizes.slice(0, -1).every(size => size === 1_000), 'every chunk but the last is full')
    assert.equal(cluster.proposals.at(-1)?.type, 'restoreFinish')
    assert.deepEqual(readerView(cluster.fsm.reader), expectedView(data, cluster.index))
  }
})

test('the source is pulled only as chunks apply: never more than one chunk ahead', async () => {
  const data = sourceSnapshot(66)
  const cluster = new FakeCluster()
  const aheadBytes: number[] = []
  const onPull = (pulledBytes: number): void => { aheadBytes.push(pulledBytes - cluster.stagedBytes()) }
  await restoreSnapshotThroughLog(piecesOf(data, { pieceBytesMax: 300, onPull }), { ...fast, session: 's', propose: cluster.propose, chunkBytes: 1_000 })
  assert.ok(aheadBytes.length > 10)
  assert.ok(aheadBytes.every(ahead => ahead >= 0 && ahead < 1_000), `bytes pulled but not yet staged at each pull: max ${Math.max(...aheadBytes)}`)
})

test('a chunk with an unknown outcome is proposed again, harmlessly whether or not it was applied', async () => {
  const data = sourceSnapshot(62)
  for (const fault of ['timeout-after-apply', 'timeout-before-apply', 'dropped'] as const) {
    const cluster = new FakeCluster((proposal, command) => command.type === 'restoreChunk' && (proposal === 3 || proposal === 7) ? fault : null)
    await restoreSnapshotThroughLog(piecesOf(data), { ...fast, session: 's', propose: cluster.propose, chunkBytes: 500 })
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
  await assert.rejects(restoreSnapshotThroughLog(piecesOf(data), { ...fast, session: 's', propose: cluster.propose, chunkBytes: 500 }), (err: ControlPlaneError) => {
    assert.equal(err.code, 'ERR_TIMEOUT')
    assert.equal(err.message, 'snapshot restore failed at chunk 3 (bytes 1000 to 1499): no answer in time; the outcome is unknown; the state is unchanged; the staged upload was dropped')
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
  await assert.rejects(restoreSnapshotThroughLog(piecesOf(data), { ...fast, session: 'mine', propose: displacing, chunkBytes: 500 }), (err: ControlPlaneError) => {
    assert.equal(err.code, 'ERR_CONFLICT')
    assert.match(err.message, /^snapshot restore failed at chunk 3 \(bytes 1000 to 1499\): .*another snapshot restore started.*; the state is unchanged/)
    return true
  })
  assert.deepEqual(cluster.fsm.stateStore.restoreStagingStatus(), { session: 'other', chunks: 1, bytes: 1 }, 'the abort of "mine" left "other" alone')
})

test('a finish with an unknown outcome is not repeated, and the error says the outcome is unknown', async () => {
  const data = sourceSnapshot(65)
  const cluster = new FakeCluster((_, command) => command.type === 'restoreFinish' ? 'timeout-after-apply' : null)
  await assert.rejects(restoreSnapshotThroughLog(piecesOf(data), { ...fast, session: 's', propose: cluster.propose, chunkBytes: 2_000 }), (err: ControlPlaneError) => {
    assert.equal(err.code, 'ERR_TIMEOUT')
    assert.match(err.message, /failed at the finish: .*the outcome is unknown/)
    return true
  })
  assert.equal(cluster.proposals.filter(command => command.type === 'restoreFinish').length, 1)
  assert.deepEqual(cluster.proposals.at(-1), { type: 'restoreAbort', Session: 's' })
  // It did apply here: the late abort found nothing to drop and the restored state stands.
  assert.deepEqual(readerView(cluster.fsm.reader), { ...(expectedView(data, cluster.index - 1) as object), appliedIndex: cluster.index })
})

test('a body that is not a snapshot, or an empty one, is rejected with ERR_INVALID_INPUT and changes nothing', async () => {
  const cluster = new FakeCluster()
  await assert.rejects(restoreSnapshotThroughLog(piecesOf(new TextEncoder().encode('not a snapshot at all')), { ...fast, session: 's', propose: cluster.propose }), (err: ControlPlaneError) => {
    assert.equal(err.code, 'ERR_INVALID_INPUT')
    assert.match(err.message, /^snapshot rejected: invalid snapshot: /)
    return true
  })
  const proposalsBefore = cluster.proposals.length
  await assert.rejects(restoreSnapshotThroughLog(piecesOf(new Uint8Array(0)), { ...fast, session: 's', propose: cluster.propose }), /the snapshot is empty/)
  assert.equal(cluster.proposals.length, proposalsBefore, 'an empty body proposes nothing')
  assert.deepEqual(cluster.fsm.stateStore.restoreStagingStatus(), { session: null, chunks: 0, bytes: 0 })
  assert.equal(cluster.fsm.reader.kvList('').length, 0)
})

test('a source that fails mid-upload aborts the staged chunks and its error reaches the caller unchanged', async () => {
  const data = sourceSnapshot(67)
  const tooLarge = new ControlPlaneError('ERR_TOO_LARGE', 'Request body(5001 bytes) too large, max size: 5000 bytes.')
  const cluster = new FakeCluster()
  await assert.rejects(restoreSnapshotThroughLog(failingAfter(data.subarray(0, 5_000), tooLarge), { ...fast, session: 's', propose: cluster.propose, chunkBytes: 1_000 }), (err: ControlPlaneError) => {
    assert.equal(err.code, 'ERR_TOO_LARGE')
    assert.equal(err.message, tooLarge.message)
    assert.equal(err.details.stagedUploadDropped, true)
    return true
  })
  assert.deepEqual(cluster.chunkSeqs(), [0, 1, 2, 3, 4])
  assert.deepEqual(cluster.proposals.at(-1), { type: 'restoreAbort', Session: 's' })
  assert.deepEqual(cluster.fsm.stateStore.restoreStagingStatus(), { session: null, chunks: 0, bytes: 0 })

  // Failing before a whole chunk arrived: nothing was staged, nothing is proposed.
  const untouched = new FakeCluster()
  await assert.rejects(restoreSnapshotThroughLog(failingAfter(data.subarray(0, 500), tooLarge), { ...fast, session: 's', propose: untouched.propose, chunkBytes: 1_000 }), (err: Error) => err === tooLarge)
  assert.equal(untouched.proposals.length, 0)
})

test('a finish claim from an RPC is checked before it is proposed', () => {
  assert.deepEqual(checkRestoreClaim({ Chunks: 2, Bytes: 10, Crc32c: 0, Extra: 1 }), { Chunks: 2, Bytes: 10, Crc32c: 0 })
  assert.throws(() => checkRestoreClaim(null), /^ControlPlaneError: snapshot restore claim must be a map of Chunks, Bytes and Crc32c, got null$/)
  assert.throws(() => checkRestoreClaim({ Chunks: 0, Bytes: 10, Crc32c: 0 }), /claim\.Chunks must be an integer in 1\.\.\d+, got 0/)
  assert.throws(() => checkRestoreClaim({ Chunks: 1, Bytes: 10, Crc32c: 2 ** 32 }), /claim\.Crc32c must be an integer in 0\.\.4294967295, got 4294967296/)
})

test('the chunk RPCs of a server check their arguments before anything is proposed', async () => {
  const api = new LocalServerApi({} as never) // no Raft node: a proposal would throw a TypeError
  const write = { token: null }
  const rejects = async (call: Promise<unknown>, message: string): Promise<void> => {
    await assert.rejects(call, (err: unknown) => isControlPlaneError(err, 'ERR_INVALID_INPUT') && (err as Error).message === message, message)
  }
  await rejects(api.snapshotRestoreChunk('s', -1, new Uint8Array(1), write), 'restoreChunk.Seq must be a non-negative safe integer, got -1')
  await rejects(api.snapshotRestoreChunk('s', 0, 'text' as never, write), 'restoreChunk.Data must be 1..4194304 bytes of binary data, got "text"')
  await rejects(api.snapshotRestoreChunk('', 0, new Uint8Array(1), write), 'restoreChunk.Session must be a non-empty string, got ""')
  await rejects(api.snapshotRestoreFinish('s', { Chunks: 1, Bytes: -5, Crc32c: 0 }, write), 'snapshot restore claim.Bytes must be an integer in 1..9007199254740991, got -5')
  const begun = await api.snapshotRestoreBegin(write)
  assert.equal(begun.ChunkBytes, restoreChunkBytes)
  assert.match(begun.Session, /^[0-9a-f-]{36}$/)
})

// ---------------------------------------------------------------------------------------------
// Through a client agent.

interface SentRequest { readonly server: NodeId, readonly method: string, readonly seq: number | null, readonly dataBytes: number }

/**
 * A transport to servers s1..s3 that run the chunk RPCs as LocalServerApi does, all proposing
 * into one fake cluster (the replicated log). `fault` may make a server answer too late (the
 * call ran; the client sees ERR_TIMEOUT) or not at all (not delivered).
 */
class FakeServers {
  readonly sent: SentRequest[] = []
  readonly servers = ['s1', 's2', 's3'] as NodeId[]
  readonly log: LogRestoreOptions

  constructor (readonly cluster: FakeCluster, private readonly fault: (sent: SentRequest) => 'late' | null = () => null) {
    this.log = { ...fast, propose: cluster.propose }
  }

  readonly transport = {
    request: async (to: NodeId, payload: unknown): Promise<unknown> => {
      const { method, args } = payload as RpcRequest
      const data = args[2]
      const sent = { server: to, method, seq: method === 'snapshotRestoreChunk' ? args[1] as number : null, dataBytes: data instanceof Uint8Array ? data.byteLength : 0 }
      this.sent.push(sent)
      const result = await this.run(method, args)
      if (this.fault(sent) === 'late') throw new ControlPlaneError('ERR_TIMEOUT', `no answer from ${to} within 1000 ms; the outcome is unknown`)
      return result
    }
  } as unknown as RaftTransport

  private async run (method: string, args: readonly unknown[]): Promise<unknown> {
    switch (method) {
      case 'snapshotRestoreBegin': return { Session: 'client-upload', ChunkBytes: 1_000 }
      case 'snapshotRestoreChunk': return await proposeRestoreChunk(args[0] as string, args[1] as number, args[2] as Uint8Array, this.log)
      case 'snapshotRestoreFinish': return await proposeRestoreFinish(args[0] as string, checkRestoreClaim(args[1]), this.log)
      case 'snapshotRestoreAbort': return await proposeRestoreAbort(args[0] as string, this.log)
      default: throw new ControlPlaneError('ERR_INVALID_INPUT', `unexpected RPC ${method}`)
    }
  }

  client (): RpcClient {
    return new RpcClient({ transport: this.transport, servers: () => this.servers, logger: { warn: () => {} } })
  }

  methodsSent (): string[] {
    return this.sent.map(sent => sent.method)
  }
}

test('a client agent restores through the chunk RPCs: exact, one server, one chunk per frame', async () => {
  const data = sourceSnapshot(68)
  const servers = new FakeServers(new FakeCluster())
  await servers.client().snapshotRestore(piecesOf(data, { pieceBytesMax: 2_500 }), { token: null })
  const chunkCount = Math.ceil(data.length / 1_000)
  assert.deepEqual(servers.methodsSent(), ['snapshotRestoreBegin', ...Array<string>(chunkCount).fill('snapshotRestoreChunk'), 'snapshotRestoreFinish'])
  assert.equal(new Set(servers.sent.map(sent => sent.server)).size, 1, 'every call of the upload went to one server')
  assert.ok(servers.sent.every(sent => sent.dataBytes <= 1_000), 'no frame carries more than one chunk')
  assert.deepEqual(readerView(servers.cluster.fsm.reader), expectedView(data, servers.cluster.index))
})

test('a client agent sends a chunk whose server answered too late to another server, harmlessly', async () => {
  const data = sourceSnapshot(69)
  let lateServer: NodeId | null = null
  const servers = new FakeServers(new FakeCluster(), sent => {
    if (sent.method !== 'snapshotRestoreChunk' || sent.seq !== 3 || lateServer !== null) return null
    lateServer = sent.server
    return 'late'
  })
  await servers.client().snapshotRestore(piecesOf(data), { token: null })
  const chunkThree = servers.sent.filter(sent => sent.seq === 3)
  assert.equal(chunkThree.length, 2, 'chunk 3 was sent twice')
  assert.notEqual(chunkThree[1]?.server, lateServer, 'the second time to another server')
  const after = servers.sent.slice(servers.sent.indexOf(chunkThree[1]!))
  assert.ok(after.every(sent => sent.server === chunkThree[1]?.server), 'the rest of the upload stayed on the new server')
  assert.deepEqual(readerView(servers.cluster.fsm.reader), expectedView(data, servers.cluster.index))
})

test('a client agent does not repeat a finish with an unknown outcome, and aborts', async () => {
  const data = sourceSnapshot(70)
  const servers = new FakeServers(new FakeCluster(), sent => sent.method === 'snapshotRestoreFinish' ? 'late' : null)
  await assert.rejects(servers.client().snapshotRestore(piecesOf(data), { token: null }), (err: ControlPlaneError) => {
    assert.equal(err.code, 'ERR_TIMEOUT')
    assert.match(err.message, /^snapshot restore failed at the finish: no answer from s\d .*; the outcome is unknown: check whether the data was restored; the staged upload was dropped$/)
    return true
  })
  assert.deepEqual(servers.methodsSent().slice(-2), ['snapshotRestoreFinish', 'snapshotRestoreAbort'])
  assert.equal(servers.methodsSent().filter(method => method === 'snapshotRestoreFinish').length, 1)
})

test('a client agent reports a snapshot the servers reject as it is, without an abort', async () => {
  const servers = new FakeServers(new FakeCluster())
  await assert.rejects(servers.client().snapshotRestore(piecesOf(new TextEncoder().encode('not a snapshot at all')), { token: null }), (err: ControlPlaneError) => {
    assert.equal(err.code, 'ERR_INVALID_INPUT')
    assert.match(err.message, /^snapshot rejected: invalid snapshot: /)
    return true
  })
  assert.equal(servers.methodsSent().at(-1), 'snapshotRestoreFinish')
})
