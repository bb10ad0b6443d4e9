/**
 * The RaftStorage compliance suite (see the contract in src/raft/storage.ts). Every
 * implementation runs it from its own test file:
 *
 *   runStorageConformance('MemoryStorage', async () => ({ open, reopen, cleanup }))
 *
 * Each test gets a fresh harness. "Restart" below means: close the handle, then `reopen()` over the
 * same durable state; everything a test saved must load identically before and after it.
 */
import { test, describe, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import type { Configuration, Entry, EntryType, HardState, Snapshot } from '../../../src/raft/core/types.js'
import { emptyHardState, type PersistedState, type RaftStorage, type SaveBatch } from '../../../src/raft/storage.js'

export interface StorageHarness {
  /** The first handle, over empty storage. */
  open (): Promise<RaftStorage>
  /** A new handle over the same durable state; the previous handle has been closed. */
  reopen (): Promise<RaftStorage>
  /** Frees what the harness made (temporary directories). Runs once after each test. */
  cleanup (): Promise<void>
}

export type CreateStorageHarness = () => Promise<StorageHarness>

// ---------------------------------------------------------------------------------------------
// Fixtures. Entry bytes depend on index and term, so a misplaced or stale entry never compares
// equal to the one expected.

export function entryData (options: { index: number, term: number, bytes: number }): Uint8Array {
  const data = new Uint8Array(options.bytes)
  for (let offset = 0; offset < data.length; offset += 1) {
    data[offset] = (options.index * 31 + options.term * 7 + offset) & 0xff
  }
  return data
}

export function makeEntry (index: number, term: number, type: EntryType = 'command', bytes = 24): Entry {
  return { index, term, type, data: type === 'noop' ? new Uint8Array(0) : entryData({ index, term, bytes }) }
}

/** Entries firstIndex..lastIndex (inclusive), all in `term`. */
export function makeEntries (options: { firstIndex: number, lastIndex: number, term: number, bytes?: number }): Entry[] {
  const entries: Entry[] = []
  for (let index = options.firstIndex; index <= options.lastIndex; index += 1) {
    entries.push(makeEntry(index, options.term, 'command', options.bytes ?? 24))
  }
  return entries
}

export function makeHardState (term: number, commit: number, votedFor: string | null = null): HardState {
  return { term, votedFor, commit }
}

const threeNodes: Configuration = {
  voters: ['n1', 'n2', 'n3'],
  learners: ['n4'],
  addresses: { n1: 'tcp://127.0.0.1:8301', n2: 'tcp://127.0.0.1:8302', n3: 'tcp://127.0.0.1:8303', n4: 'tcp://127.0.0.1:8304' }
}

export function makeSnapshot (index: number, term: number, bytes = 64): Snapshot {
  return { meta: { index, term, configuration: threeNodes }, data: entryData({ index, term: term + 1000, bytes }) }
}

function batchOf (parts: Partial<SaveBatch>): SaveBatch {
  return { hardState: parts.hardState ?? null, entries: parts.entries ?? [], snapshot: parts.snapshot ?? null }
}

// ---------------------------------------------------------------------------------------------

/** One test's storage: the current handle, restarts, and cleanup registered on the test. */
class Session {
  private constructor (private readonly harness: StorageHarness, public storage: RaftStorage) {}

  static async start (t: TestContext, createHarness: CreateStorageHarness): Promise<Session> {
    const harness = await createHarness()
    const session = new Session(harness, await harness.open())
    t.after(async () => {
      await session.storage.close()
      await harness.cleanup()
    })
    return session
  }

  async save (parts: Partial<SaveBatch>): Promise<void> {
    await this.storage.save(batchOf(parts))
  }

  async restart (): Promise<void> {
    await this.storage.close()
    this.storage = await this.harness.reopen()
  }

  /** The state must load as expected from this handle, and again after a restart. */
  async assertLoads (expected: PersistedState): Promise<void> {
    assert.deepStrictEqual(await this.storage.load(), expected, 'load before restart')
    await this.restart()
    assert.deepStrictEqual(await this.storage.load(), expected, 'load after restart')
  }
}

function isAssertionError (err: unknown): boolean {
  return err instanceof Error && err.name === 'AssertionError'
}

export function runStorageConformance (name: string, createHarness: CreateStorageHarness): void {
  describe(`${name} conforms to RaftStorage`, () => {
    defineRoundTripTests(createHarness)
    defineReplacementTests(createHarness)
    defineSnapshotTests(createHarness)
    defineBytesTests(createHarness)
    defineContractViolationTests(createHarness)
  })
}

function defineRoundTripTests (createHarness: CreateStorageHarness): void {
  test('empty storage loads the empty hard state, no snapshot and no entries', async (t) => {
    const session = await Session.start(t, createHarness)
    await session.assertLoads({ hardState: emptyHardState, snapshot: null, entries: [] })
  })

  test('hard state and entries round-trip', async (t) => {
    const session = await Session.start(t, createHarness)
    const entries = makeEntries({ firstIndex: 1, lastIndex: 5, term: 2 })
    await session.save({ hardState: makeHardState(2, 3, 'n2'), entries })
    await session.assertLoads({ hardState: makeHardState(2, 3, 'n2'), snapshot: null, entries })
  })

  test('batches append, and a batch without hard state or entries leaves that part alone', async (t) => {
    const session = await Session.start(t, createHarness)
    const first = makeEntries({ firstIndex: 1, lastIndex: 3, term: 1 })
    const second = makeEntries({ firstIndex: 4, lastIndex: 6, term: 2 })
    await session.save({ hardState: makeHardState(1, 0, 'n1'), entries: first })
    await session.save({ hardState: makeHardState(2, 2, null) })
    await session.save({ entries: second.slice(0, 1) })
    await session.save({ entries: second.slice(1) })
    await session.assertLoads({ hardState: makeHardState(2, 2, null), snapshot: null, entries: [...first, ...second] })
  })

  test('every entry type round-trips', async (t) => {
    const session = await Session.start(t, createHarness)
    const entries = [makeEntry(1, 1, 'noop'), makeEntry(2, 1, 'config', 40), makeEntry(3, 1, 'command', 8)]
    await session.save({ hardState: makeHardState(1, 1), entries })
    await session.assertLoads({ hardState: makeHardState(1, 1), snapshot: null, entries })
  })

  test('an empty batch is allowed and changes nothing', async (t) => {
    const session = await Session.start(t, createHarness)
    const entries = makeEntries({ firstIndex: 1, lastIndex: 2, term: 1 })
    await session.save({ hardState: makeHardState(1, 1), entries })
    await session.save({})
    await session.assertLoads({ hardState: makeHardState(1, 1), snapshot: null, entries })
  })

  test('operations issued without awaiting apply in call order', async (t) => {
    const session = await Session.start(t, createHarness)
    const entries = makeEntries({ firstIndex: 1, lastIndex: 8, term: 1 })
    await Promise.all([
      session.save({ hardState: makeHardState(1, 0), entries: entries.slice(0, 5) }),
      session.save({ hardState: makeHardState(1, 6), entries: entries.slice(5) }),
      session.storage.compact(makeSnapshot(4, 1))
    ])
    await session.assertLoads({ hardState: makeHardState(1, 6), snapshot: makeSnapshot(4, 1), entries: entries.slice(4) })
  })
}

function defineReplacementTests (createHarness: CreateStorageHarness): void {
  test('a shorter suffix replaces every entry from its first index on', async (t) => {
    const session = await Session.start(t, createHarness)
    const old = makeEntries({ firstIndex: 1, lastIndex: 10, term: 1 })
    await session.save({ hardState: makeHardState(1, 4), entries: old })
    const replacement = makeEntries({ firstIndex: 6, lastIndex: 7, term: 2 })
    await session.save({ hardState: makeHardState(2, 4), entries: replacement })
    await session.assertLoads({ hardState: makeHardState(2, 4), snapshot: null, entries: [...old.slice(0, 5), ...replacement] })
  })

  test('a longer suffix replaces the overlap and extends the log', async (t) => {
    const session = await Session.start(t, createHarness)
    const old = makeEntries({ firstIndex: 1, lastIndex: 5, term: 1 })
    await session.save({ hardState: makeHardState(1, 2), entries: old })
    const replacement = makeEntries({ firstIndex: 4, lastIndex: 9, term: 3 })
    await session.save({ hardState: makeHardState(3, 2), entries: replacement })
    await session.assertLoads({ hardState: makeHardState(3, 2), snapshot: null, entries: [...old.slice(0, 3), ...replacement] })
  })

  test('a suffix from index 1 replaces the whole log, and the next restart still sees only it', async (t) => {
    const session = await Session.start(t, createHarness)
    await session.save({ hardState: makeHardState(1, 0), entries: makeEntries({ firstIndex: 1, lastIndex: 6, term: 1 }) })
    await session.restart()
    const replacement = makeEntries({ firstIndex: 1, lastIndex: 2, term: 2 })
    await session.save({ hardState: makeHardState(2, 0), entries: replacement })
    await session.assertLoads({ hardState: makeHardState(2, 0), snapshot: null, entries: replacement })
  })
}

function defineSnapshotTests (createHarness: CreateStorageHarness): void {
  test('a snapshot in save replaces the old snapshot and every stored entry, then the batch entries follow it', async (t) => {
    const session = await Session.start(t, createHarness)
    await session.save({ hardState: makeHardState(1, 4), entries: makeEntries({ firstIndex: 1, lastIndex: 10, term: 1 }) })
    await session.storage.compact(makeSnapshot(3, 1))
    const entries = makeEntries({ firstIndex: 21, lastIndex: 22, term: 3 })
    await session.save({ hardState: makeHardState(3, 20), snapshot: makeSnapshot(20, 3, 300), entries })
    await session.assertLoads({ hardState: makeHardState(3, 20), snapshot: makeSnapshot(20, 3, 300), entries })
  })

  test('a snapshot inside the stored log still removes the entries after it', async (t) => {
    const session = await Session.start(t, createHarness)
    await session.save({ hardState: makeHardState(1, 2), entries: makeEntries({ firstIndex: 1, lastIndex: 10, term: 1 }) })
    await session.save({ hardState: makeHardState(2, 8), snapshot: makeSnapshot(8, 1) })
    await session.assertLoads({ hardState: makeHardState(2, 8), snapshot: makeSnapshot(8, 1), entries: [] })
    const next = makeEntries({ firstIndex: 9, lastIndex: 9, term: 2 })
    await session.save({ entries: next })
    await session.assertLoads({ hardState: makeHardState(2, 8), snapshot: makeSnapshot(8, 1), entries: next })
  })

  test('compact records the snapshot and keeps the entries after it', async (t) => {
    const session = await Session.start(t, createHarness)
    const entries = makeEntries({ firstIndex: 1, lastIndex: 10, term: 1 })
    await session.save({ hardState: makeHardState(1, 8), entries })
    await session.storage.compact(makeSnapshot(6, 1))
    await session.assertLoads({ hardState: makeHardState(1, 8), snapshot: makeSnapshot(6, 1), entries: entries.slice(6) })
    const eleven = makeEntries({ firstIndex: 11, lastIndex: 11, term: 1 })
    await session.save({ hardState: makeHardState(1, 11), entries: eleven })
    await session.storage.compact(makeSnapshot(8, 1, 500))
    await session.assertLoads({ hardState: makeHardState(1, 11), snapshot: makeSnapshot(8, 1, 500), entries: [...entries.slice(8), ...eleven] })
    await session.storage.compact(makeSnapshot(11, 1))
    await session.assertLoads({ hardState: makeHardState(1, 11), snapshot: makeSnapshot(11, 1), entries: [] })
  })

  test('snapshot metadata and configuration round-trip', async (t) => {
    const session = await Session.start(t, createHarness)
    const configuration: Configuration = { voters: ['a'], learners: [], addresses: { a: 'tcp://10.0.0.1:8300' } }
    const snapshot: Snapshot = { meta: { index: 7, term: 2, configuration }, data: new Uint8Array([9, 8, 7]) }
    await session.save({ hardState: makeHardState(2, 7, 'a'), snapshot })
    await session.assertLoads({ hardState: makeHardState(2, 7, 'a'), snapshot, entries: [] })
  })

  test('indexes beyond 2^32 keep their order', async (t) => {
    const session = await Session.start(t, createHarness)
    const base = 2 ** 32 - 2
    const entries = makeEntries({ firstIndex: base + 1, lastIndex: base + 6, term: 4 })
    await session.save({ hardState: makeHardState(4, base + 3), snapshot: makeSnapshot(base, 4), entries })
    await session.assertLoads({ hardState: makeHardState(4, base + 3), snapshot: makeSnapshot(base, 4), entries })
  })
}

function defineBytesTests (createHarness: CreateStorageHarness): void {
  test('entry and snapshot bytes round-trip exactly, including views into larger buffers', async (t) => {
    const session = await Session.start(t, createHarness)
    const everyByte = Uint8Array.from({ length: 256 }, (_, value) => value)
    const backing = Uint8Array.from({ length: 100 }, (_, offset) => 255 - offset)
    const view = backing.subarray(10, 20) // must store 10 bytes, not the whole backing buffer
    const entries: Entry[] = [
      { index: 1, term: 1, type: 'command', data: everyByte },
      { index: 2, term: 1, type: 'command', data: new Uint8Array(0) },
      { index: 3, term: 1, type: 'command', data: view }
    ]
    const snapshotView = backing.subarray(50, 53)
    await session.save({ hardState: makeHardState(1, 0), entries })
    const expectedEntries = entries.map(entry => ({ ...entry, data: new Uint8Array(entry.data) }))
    await session.assertLoads({ hardState: makeHardState(1, 0), snapshot: null, entries: expectedEntries })
    const snapshot: Snapshot = { meta: { index: 3, term: 1, configuration: threeNodes }, data: snapshotView }
    await session.save({ hardState: makeHardState(1, 3), snapshot })
    await session.assertLoads({ hardState: makeHardState(1, 3), snapshot: { ...snapshot, data: new Uint8Array([205, 204, 203]) }, entries: [] })
  })

  test('stored bytes are independent of the caller\'s buffers', async (t) => {
    const session = await Session.start(t, createHarness)
    const data = new Uint8Array([1, 2, 3, 4])
    await session.save({ hardState: makeHardState(1, 0), entries: [{ index: 1, term: 1, type: 'command', data }] })
    data.fill(0) // the caller reuses its buffer after save resolves
    const first = await session.storage.load()
    assert.deepStrictEqual(first.entries[0]?.data, new Uint8Array([1, 2, 3, 4]))
    first.entries[0]?.data.fill(7) // the caller scribbles on what load returned
    const second = await session.storage.load()
    assert.deepStrictEqual(second.entries[0]?.data, new Uint8Array([1, 2, 3, 4]))
  })

  test('big entries, big batches and big snapshots round-trip', async (t) => {
    const session = await Session.start(t, createHarness)
    const big = makeEntry(1, 1, 'command', 4 * 1024 * 1024)
    const many = makeEntries({ firstIndex: 2, lastIndex: 2001, term: 1, bytes: 1024 })
    await session.save({ hardState: makeHardState(1, 1), entries: [big, ...many] })
    await session.assertLoads({ hardState: makeHardState(1, 1), snapshot: null, entries: [big, ...many] })
    const snapshot = makeSnapshot(1500, 1, 8 * 1024 * 1024)
    await session.save({ hardState: makeHardState(1, 1500) })
    await session.storage.compact(snapshot)
    await session.assertLoads({ hardState: makeHardState(1, 1500), snapshot, entries: many.slice(1499) })
  })
}

function defineContractViolationTests (createHarness: CreateStorageHarness): void {
  test('compaction beyond the stored commit index raises it (the shell writes commit lazily)', async (t) => {
    const session = await Session.start(t, createHarness)
    const entries = makeEntries({ firstIndex: 1, lastIndex: 5, term: 2 })
    await session.save({ hardState: makeHardState(2, 3, 'n1'), entries })
    const snapshot = makeSnapshot(4, 2)
    await session.storage.compact(snapshot)
    await session.restart()
    await session.assertLoads({ hardState: makeHardState(2, 4, 'n1'), snapshot, entries: entries.slice(4) })
  })

  test('writes that break the contract reject and change nothing', async (t) => {
    const session = await Session.start(t, createHarness)
    const entries = makeEntries({ firstIndex: 1, lastIndex: 5, term: 2 })
    await session.save({ hardState: makeHardState(2, 3, 'n1'), entries })
    const violations: ReadonlyArray<readonly [string, () => Promise<void>]> = [
      ['a gap after the last entry', async () => await session.save({ entries: [makeEntry(7, 2)] })],
      ['entries not ascending by 1', async () => await session.save({ entries: [makeEntry(6, 2), makeEntry(8, 2)] })],
      ['terms decreasing along the batch', async () => await session.save({ entries: [makeEntry(6, 2), makeEntry(7, 1)] })],
      ['an entry newer than the current term', async () => await session.save({ entries: [makeEntry(6, 3)] })],
      ['the term going backwards', async () => await session.save({ hardState: makeHardState(1, 3) })],
      ['a second vote in the same term', async () => await session.save({ hardState: makeHardState(2, 3, 'n2') })],
      ['the commit index going backwards', async () => await session.save({ hardState: makeHardState(2, 2, 'n1') })],
      ['a commit index beyond the log', async () => await session.save({ hardState: makeHardState(2, 6, 'n1') })],
      ['an entry at index 0', async () => await session.save({ entries: [makeEntry(0, 2)] })],
      ['compaction beyond the log', async () => await session.storage.compact(makeSnapshot(9, 2))]
    ]
    for (const [what, write] of violations) {
      await assert.rejects(write, isAssertionError, what)
    }
    await session.storage.compact(makeSnapshot(2, 2))
    const afterCompaction: Array<readonly [string, () => Promise<void>]> = [
      ['entries at or below the snapshot', async () => await session.save({ entries: [makeEntry(2, 2)] })],
      ['an older snapshot in save', async () => await session.save({ snapshot: makeSnapshot(1, 1) })],
      ['an older compaction', async () => await session.storage.compact(makeSnapshot(1, 1))]
    ]
    for (const [what, write] of afterCompaction) {
      await assert.rejects(write, isAssertionError, what)
    }
    await session.assertLoads({ hardState: makeHardState(2, 3, 'n1'), snapshot: makeSnapshot(2, 2), entries: entries.slice(2) })
  })

  test('a vote may be cast when the term rises, and only once in it', async (t) => {
    const session = await Session.start(t, createHarness)
    await session.save({ hardState: makeHardState(1, 0, null) })
    await session.save({ hardState: makeHardState(1, 0, 'n3') })
    await session.save({ hardState: makeHardState(2, 0, null) })
    await session.save({ hardState: makeHardState(2, 0, 'n1') })
    await session.save({ hardState: makeHardState(2, 0, 'n1') })
    await assert.rejects(session.save({ hardState: makeHardState(2, 0, null) }), isAssertionError)
    await session.assertLoads({ hardState: makeHardState(2, 0, 'n1'), snapshot: null, entries: [] })
  })
}
