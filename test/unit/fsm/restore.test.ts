/**
 * A user's snapshot restored through the log (restoreChunk / restoreFinish / restoreAbort, see
 * src/fsm/tables/restore-staging.ts): a chunked restore ends byte-identical to a whole-buffer
 * restore at the same index; chunks out of order, from a replaced upload or differing from a
 * staged copy are refused as results without changing anything, an identical repeat counts as
 * applied; a finish that does not match, or whose bytes are not a snapshot, leaves the state as
 * it was; staging survives a Raft snapshot and restore (and is left out of, and dropped from,
 * user snapshots); and replicas fed the same mix of restore and ordinary commands agree.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { Fsm } from '../../../src/fsm/fsm.js'
import { decodeCommand, encodeCommand, type Command, type CommandResult } from '../../../src/fsm/commands.js'
import { restoreStore } from '../../../src/fsm/snapshot.js'
import { tableNames } from '../../../src/fsm/types.js'
import { crc32c } from '../../../src/util/crc32.js'
import { SeededPrng } from '../../../src/util/prng.js'
import { applyRandomCommands, bytes, commandEntry, FsmHarness, randomCommand, readerView } from './helpers.js'

/** A user snapshot of a store with a few thousand random writes. */
function sourceSnapshot (seed: number): Uint8Array {
  const source = new FsmHarness()
  applyRandomCommands(source, { seed, count: 2000 })
  return source.fsm.snapshot({ restoreStaging: false })
}

function chunksOf (data: Uint8Array, size: number): Uint8Array[] {
  const chunks: Uint8Array[] = []
  for (let offset = 0; offset < data.length; offset += size) chunks.push(data.subarray(offset, offset + size))
  return chunks
}

/** Uploads `data` into `harness` in chunks of `size` bytes and finishes it; returns the finish result. */
function upload (harness: FsmHarness, data: Uint8Array, options: { session: string, size: number }): CommandResult<'restoreFinish'> {
  const chunks = chunksOf(data, options.size)
  for (const [seq, chunk] of chunks.entries()) {
    assert.deepEqual(harness.apply({ type: 'restoreChunk', Session: options.session, Seq: seq, Data: chunk }), { ok: true, Duplicate: false })
  }
  return harness.apply({ type: 'restoreFinish', Session: options.session, Chunks: chunks.length, Bytes: data.length, Crc32c: crc32c(data) })
}

/** A target store with state of its own, so a restore visibly replaces it. */
function targetHarness (): FsmHarness {
  const target = new FsmHarness()
  applyRandomCommands(target, { seed: 901, count: 300 })
  return target
}

test('a chunked restore ends identical to a whole-buffer restore at the same index, for any chunk size', () => {
  const data = sourceSnapshot(31)
  for (const size of [1, 7, 4096, Math.ceil(data.length / 3), data.length]) {
    if (size === 1 && data.length > 200_000) continue
    const chunked = targetHarness()
    assert.deepEqual(upload(chunked, data, { session: `s-${size}`, size }), { ok: true })
    const whole = targetHarness()
    whole.skip(chunked.index - whole.index - 1)
    whole.index += 1
    restoreStore(whole.fsm.stateStore, [data], { stampIndex: whole.index })
    assert.equal(chunked.reader.appliedIndex(), chunked.index, 'the applied index is the finish entry')
    assert.deepEqual(readerView(chunked.reader), readerView(whole.reader), `chunk size ${size}`)
    assert.deepEqual(chunked.fsm.snapshot(), whole.fsm.snapshot(), `chunk size ${size}: same bytes`)
    assert.deepEqual(chunked.fsm.stateStore.restoreStagingStatus(), { session: null, chunks: 0, bytes: 0 }, 'staging cleared')
    for (const table of tableNames) {
      const index = chunked.reader.tableIndex(table)
      assert.ok(index === 0 || index === chunked.index, `${table} index ${index} is 0 or the finish index`)
    }
  }
})

test('a restore of the same snapshot into the source cluster gives back its contents', () => {
  const source = new FsmHarness()
  applyRandomCommands(source, { seed: 32, count: 1500 })
  const before = source.reader.kvList('')
  const data = source.fsm.snapshot({ restoreStaging: false })
  source.apply({ type: 'kvDelete', Key: '', Recurse: true })
  assert.deepEqual(source.reader.kvList(''), [])
  assert.deepEqual(upload(source, data, { session: 'again', size: 999 }), { ok: true })
  const stamp = source.index
  assert.deepEqual(source.reader.kvList(''), before.map(row => ({ ...row, CreateIndex: stamp, ModifyIndex: stamp })))
})

test('chunks out of order, from another session or differing from a staged copy are refused and change nothing', () => {
  const harness = targetHarness()
  const data = sourceSnapshot(33)
  const [c0, c1, c2] = chunksOf(data, 1000) as [Uint8Array, Uint8Array, Uint8Array]
  const staged = (): unknown => harness.fsm.stateStore.restoreStagingStatus()

  const gap = harness.apply({ type: 'restoreChunk', Session: 'a', Seq: 1, Data: c1 })
  assert.equal(gap.ok, false)
  assert.ok(!gap.ok && gap.code === 'ERR_CONFLICT' && /chunk 1 of session a has no upload to join/.test(gap.message), JSON.stringify(gap))
  assert.deepEqual(staged(), { session: null, chunks: 0, bytes: 0 })

  assert.deepEqual(harness.apply({ type: 'restoreChunk', Session: 'a', Seq: 0, Data: c0 }), { ok: true, Duplicate: false })
  const skip = harness.apply({ type: 'restoreChunk', Session: 'a', Seq: 2, Data: c2 })
  assert.ok(!skip.ok && /out of order: expected chunk 1/.test(skip.message), JSON.stringify(skip))
  assert.deepEqual(harness.apply({ type: 'restoreChunk', Session: 'a', Seq: 1, Data: c1 }), { ok: true, Duplicate: false })
  // The same chunk again (a proposal repeated after an unknown outcome) is already applied.
  assert.deepEqual(harness.apply({ type: 'restoreChunk', Session: 'a', Seq: 0, Data: c0.slice() }), { ok: true, Duplicate: true })
  assert.deepEqual(harness.apply({ type: 'restoreChunk', Session: 'a', Seq: 1, Data: c1 }), { ok: true, Duplicate: true })
  const differs = harness.apply({ type: 'restoreChunk', Session: 'a', Seq: 1, Data: c2 })
  assert.ok(!differs.ok && /differs from the chunk 1 already staged/.test(differs.message), JSON.stringify(differs))
  assert.deepEqual(staged(), { session: 'a', chunks: 2, bytes: 2000 })

  // Another session's non-first chunk cannot displace the upload; its first chunk replaces it.
  const foreign = harness.apply({ type: 'restoreChunk', Session: 'b', Seq: 3, Data: c0 })
  assert.ok(!foreign.ok && /session a is staged with 2 chunks/.test(foreign.message), JSON.stringify(foreign))
  assert.deepEqual(staged(), { session: 'a', chunks: 2, bytes: 2000 })
  assert.deepEqual(harness.apply({ type: 'restoreChunk', Session: 'b', Seq: 0, Data: c0 }), { ok: true, Duplicate: false })
  assert.deepEqual(staged(), { session: 'b', chunks: 1, bytes: 1000 })
  const replaced = harness.apply({ type: 'restoreChunk', Session: 'a', Seq: 2, Data: c2 })
  assert.ok(!replaced.ok && /another snapshot restore started/.test(replaced.message), JSON.stringify(replaced))
  const lateFinish = harness.apply({ type: 'restoreFinish', Session: 'a', Chunks: 3, Bytes: 3000, Crc32c: 0 })
  assert.ok(!lateFinish.ok && lateFinish.code === 'ERR_CONFLICT' && /another snapshot restore started/.test(lateFinish.message), JSON.stringify(lateFinish))
  assert.deepEqual(staged(), { session: 'b', chunks: 1, bytes: 1000 }, 'a stale finish leaves the other upload alone')

  // Abort drops only its own session.
  assert.equal(harness.apply({ type: 'restoreAbort', Session: 'a' }), false)
  assert.equal(harness.apply({ type: 'restoreAbort', Session: 'b' }), true)
  assert.deepEqual(staged(), { session: null, chunks: 0, bytes: 0 })
})

test('a finish that does not match its upload, or whose bytes are no snapshot, leaves the state untouched', () => {
  const data = sourceSnapshot(34)
  const truncated = data.subarray(0, data.length - 5)
  const flipped = data.slice()
  const middle = Math.floor(data.length / 2)
  flipped[middle] = (flipped[middle] as number) ^ 0x55
  const cases: Array<{ what: string, bytes: Uint8Array, claim: (chunks: number) => { Chunks: number, Bytes: number, Crc32c: number }, message: RegExp }> = [
    { what: 'wrong chunk count', bytes: data, claim: chunks => ({ Chunks: chunks + 1, Bytes: data.length, Crc32c: crc32c(data) }), message: /staged \d+ chunks .* claims/ },
    { what: 'wrong byte count', bytes: data, claim: chunks => ({ Chunks: chunks, Bytes: data.length - 1, Crc32c: crc32c(data) }), message: /claims \d+ chunks \(\d+ bytes\)/ },
    { what: 'wrong checksum', bytes: data, claim: chunks => ({ Chunks: chunks, Bytes: data.length, Crc32c: (crc32c(data) + 1) >>> 0 }), message: /CRC-32C/ },
    { what: 'truncated snapshot', bytes: truncated, claim: chunks => ({ Chunks: chunks, Bytes: truncated.length, Crc32c: crc32c(truncated) }), message: /invalid snapshot/ },
    { what: 'corrupt snapshot', bytes: flipped, claim: chunks => ({ Chunks: chunks, Bytes: flipped.length, Crc32c: crc32c(flipped) }), message: /invalid snapshot/ }
  ]
  for (const { what, bytes: uploaded, claim, message } of cases) {
    const harness = targetHarness()
    const chunks = chunksOf(uploaded, 5000)
    chunks.forEach((chunk, seq) => harness.apply({ type: 'restoreChunk', Session: 's', Seq: seq, Data: chunk }))
    const before = readerView(harness.reader) as { appliedIndex: number }
    const changes: unknown[] = []
    harness.reader.onChange(change => changes.push(change))
    const outcome = harness.apply({ type: 'restoreFinish', Session: 's', ...claim(chunks.length) })
    assert.ok(!outcome.ok && outcome.code === 'ERR_INVALID_INPUT' && message.test(outcome.message), `${what}: ${JSON.stringify(outcome)}`)
    assert.deepEqual(readerView(harness.reader), { ...before, appliedIndex: harness.index }, `${what}: only the applied index moved`)
    assert.deepEqual(changes, [], `${what}: no listener heard of a change`)
    assert.deepEqual(harness.fsm.stateStore.restoreStagingStatus(), { session: null, chunks: 0, bytes: 0 }, `${what}: staging cleared`)
  }
})

test('staging survives a Raft snapshot: a replica restored mid-upload finishes identically', () => {
  const data = sourceSnapshot(35)
  const chunks = chunksOf(data, 3000)
  const half = Math.floor(chunks.length / 2)
  const leader = targetHarness()
  chunks.slice(0, half).forEach((chunk, seq) => leader.apply({ type: 'restoreChunk', Session: 'mid', Seq: seq, Data: chunk }))
  const raftSnapshot = leader.fsm.snapshot()
  const replica = new Fsm()
  replica.restore(raftSnapshot)
  assert.deepEqual(replica.snapshot(), raftSnapshot)
  assert.deepEqual(replica.stateStore.restoreStagingStatus(), { session: 'mid', chunks: half, bytes: half * 3000 })

  let index = leader.index
  const both = (command: Command): void => {
    index += 1
    leader.index = index
    const entry = commandEntry(index, command)
    assert.deepEqual(replica.apply(entry), leader.fsm.apply(entry))
  }
  chunks.slice(half).forEach((chunk, position) => both({ type: 'restoreChunk', Session: 'mid', Seq: half + position, Data: chunk }))
  both({ type: 'restoreFinish', Session: 'mid', Chunks: chunks.length, Bytes: data.length, Crc32c: crc32c(data) })
  assert.deepEqual(replica.snapshot(), leader.fsm.snapshot())
  assert.deepEqual(readerView(replica.reader), readerView(leader.reader))
  assert.ok(leader.reader.kvList('').length > 0, 'the restore brought rows')
})

test('a user snapshot leaves staging out, and restoring one drops any staging it carries', () => {
  const data = sourceSnapshot(36)
  const harness = targetHarness()
  harness.apply({ type: 'restoreChunk', Session: 'other', Seq: 0, Data: data.subarray(0, 100) })
  const raftSnapshot = harness.fsm.snapshot()
  const userSnapshot = harness.fsm.snapshot({ restoreStaging: false })
  assert.ok(raftSnapshot.length > userSnapshot.length)
  const plain = new Fsm()
  plain.restore(userSnapshot)
  assert.deepEqual(plain.stateStore.restoreStagingStatus(), { session: null, chunks: 0, bytes: 0 })

  // A snapshot that does carry staging (a Raft snapshot handed in as a user's) restores without it.
  const target = new FsmHarness()
  target.skip(50)
  assert.deepEqual(upload(target, raftSnapshot, { session: 'mine', size: 2048 }), { ok: true })
  assert.deepEqual(target.fsm.stateStore.restoreStagingStatus(), { session: null, chunks: 0, bytes: 0 })
  assert.deepEqual(target.reader.kvList('').map(row => row.Key), harness.reader.kvList('').map(row => row.Key))
})

test('restoreChunk data stays a view into the entry (no second copy per server), other byte fields are copied', () => {
  const entry = commandEntry(1, { type: 'restoreChunk', Session: 's', Seq: 0, Data: new Uint8Array(4096).fill(9) })
  const decoded = decodeCommand(entry.data)
  assert.ok(decoded.type === 'restoreChunk')
  assert.equal(decoded.Data.buffer, entry.data.buffer, 'a view into the entry buffer')
  assert.equal(decoded.Data.constructor, Uint8Array)
  assert.throws(() => encodeCommand({ type: 'restoreChunk', Session: 's', Seq: 0, Data: new Uint8Array(0) }), /restoreChunk.Data must be 1\.\.\d+ bytes/)
  assert.throws(() => encodeCommand({ type: 'restoreChunk', Session: 'x'.repeat(129), Seq: 0, Data: bytes('a') }), /restoreChunk.Session must be at most 128 characters/)
  assert.throws(() => encodeCommand({ type: 'restoreFinish', Session: 's', Chunks: 1, Bytes: 1, Crc32c: 2 ** 32 }), /restoreFinish.Crc32c must be an integer in 0..4294967295/)
})

interface Upload { session: string, data: Uint8Array, chunks: Uint8Array[], next: number }

const seeds = process.env.FSM_SEED !== undefined ? [Number(process.env.FSM_SEED)] : [1, 2, 3]

for (const seed of seeds) {
  test(`replicas fed the same mix of restore and ordinary commands agree byte for byte (seed ${seed})`, () => {
    const prng = new SeededPrng(seed)
    const snapshots = [sourceSnapshot(40 + seed), new Fsm().snapshot()]
    const left = new Fsm()
    const right = new Fsm()
    let late: Fsm | undefined
    let index = 0
    let upload: Upload | null = null
    let restored = 0
    for (let step = 1; step <= 1500; step += 1) {
      index += 1
      let command: Command
      const roll = prng.nextInt(10)
      if (upload === null && roll === 0) {
        const data = snapshots[prng.nextInt(snapshots.length)] as Uint8Array
        upload = { session: `s${step}`, data, chunks: chunksOf(data, 1 + prng.nextInt(20_000)), next: 0 }
      }
      if (upload !== null && roll < 5) {
        const u: Upload = upload
        const twist = prng.nextInt(20)
        if (u.next === u.chunks.length || twist === 0) {
          // Finish (sometimes early, with a wrong count), or abort.
          command = twist === 1
            ? { type: 'restoreAbort', Session: u.session }
            : { type: 'restoreFinish', Session: u.session, Chunks: u.chunks.length, Bytes: u.data.length, Crc32c: crc32c(u.data) }
          upload = null
        } else {
          // Mostly the next chunk; sometimes a repeat or a skip ahead.
          const seq = twist === 2 ? Math.max(0, u.next - 1) : twist === 3 ? u.next + 1 : u.next
          command = { type: 'restoreChunk', Session: u.session, Seq: seq, Data: u.chunks[Math.min(seq, u.chunks.length - 1)] as Uint8Array }
          if (seq === u.next) u.next += 1
        }
      } else {
        command = randomCommand(prng, index)
      }
      const entry = commandEntry(index, command)
      const result = left.apply(entry)
      if (command.type === 'restoreFinish' && (result as { ok: boolean }).ok) restored += 1
      assert.deepEqual(right.apply(entry), result, `seed ${seed}, step ${step}: results differ; replay with FSM_SEED=${seed}`)
      late?.apply(entry)
      if (step === 700) {
        late = new Fsm()
        late.restore(left.snapshot())
      }
      if (step % 100 === 0) assert.deepEqual(left.snapshot(), right.snapshot(), `seed ${seed}, step ${step}: snapshots differ`)
    }
    assert.ok(late !== undefined)
    assert.ok(restored > 0, `seed ${seed}: no upload finished, so the test proved little`)
    assert.deepEqual(late.snapshot(), left.snapshot(), `seed ${seed}: the replica restored at step 700 diverged`)
    assert.deepEqual(readerView(late.reader), readerView(left.reader))
  })
}
