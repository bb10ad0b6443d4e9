/**
 * RaftStorage held in memory, for unit tests and the simulator. Every `save` is atomic and
 * "durable" for as long as the backing state object lives: `reopen()` hands out a new handle on
 * the same state, which is what a restart looks like to the node.
 *
 * Invariants: stored entries are exactly the indexes snapshotIndex+1 .. lastIndex, in order; no
 * stored byte array is shared with a caller (copies go in and come out), so a caller that reuses
 * its buffers cannot change what was persisted.
 *
 * This module is pure: no node:* imports, no packages, no clocks. It also exports the contract's
 * bookkeeping (`boundsAfterSave`, `boundsAfterCompact`), which LevelStorage shares so both
 * implementations reject the same programmer errors.
 */
import type { Configuration, Entry, HardState, Snapshot, SnapshotMeta } from './core/types.js'
import { emptyHardState, type PersistedState, type RaftStorage, type SaveBatch } from './storage.js'
import { assert, assertSafeIndex } from '../util/assert.js'

/** What an implementation must know about its stored state to check a write without reading. */
export interface StoredBounds {
  readonly hardState: HardState
  /** 0 when there is no snapshot. */
  readonly snapshotIndex: number
  /** Index of the last stored entry, or snapshotIndex when no entry is stored. */
  readonly lastIndex: number
}

/**
 * The bounds after `batch` is applied to a store with bounds `before`. Throws an AssertionError,
 * before anything is written, when the batch breaks the storage contract or a Raft invariant:
 * such a batch is a bug in the caller, and persisting it would make the damage durable.
 */
export function boundsAfterSave (before: StoredBounds, batch: SaveBatch): StoredBounds {
  let snapshotIndex = before.snapshotIndex
  let lastIndex = before.lastIndex
  if (batch.snapshot !== null) {
    assertSnapshotMeta(batch.snapshot.meta)
    // An older snapshot would move the log backwards past entries this node already holds.
    assert(batch.snapshot.meta.index >= before.snapshotIndex,
      `snapshot index ${batch.snapshot.meta.index} is older than the stored snapshot at ${before.snapshotIndex}`)
    snapshotIndex = batch.snapshot.meta.index
    lastIndex = snapshotIndex
  }
  if (batch.entries.length > 0) {
    assertContiguousEntries(batch.entries)
    const firstIndex = batch.entries[0]!.index
    assert(firstIndex > snapshotIndex, `entries must start after the snapshot at ${snapshotIndex}, got first index ${firstIndex}`)
    assert(firstIndex <= lastIndex + 1, `entries must not leave a gap: last stored index is ${lastIndex}, got first index ${firstIndex}`)
    lastIndex = batch.entries[batch.entries.length - 1]!.index
  }
  const hardState = batch.hardState ?? before.hardState
  if (batch.hardState !== null) assertHardStateTransition(before.hardState, batch.hardState)
  // §5.3: a node only commits entries it holds.
  assert(hardState.commit <= lastIndex, `commit index ${hardState.commit} is beyond the last log index ${lastIndex}`)
  assertTermsWithin(batch, hardState.term)
  return { hardState, snapshotIndex, lastIndex }
}

/** The bounds after compacting to `snapshot`; throws an AssertionError when it is not allowed. */
export function boundsAfterCompact (before: StoredBounds, snapshot: Snapshot): StoredBounds {
  const meta = snapshot.meta
  assertSnapshotMeta(meta)
  assert(meta.index >= before.snapshotIndex, `compaction index ${meta.index} is older than the stored snapshot at ${before.snapshotIndex}`)
  assert(meta.index <= before.lastIndex, `compaction index ${meta.index} is beyond the last log index ${before.lastIndex}`)
  assert(meta.term <= before.hardState.term, `snapshot term ${meta.term} is beyond the current term ${before.hardState.term}`)
  // A node snapshots only what it has applied, so only committed entries. The stored commit
  // index may lag (the shell writes it only alongside entries or votes), so compaction raises it.
  const hardState = meta.index > before.hardState.commit ? { ...before.hardState, commit: meta.index } : before.hardState
  return { hardState, snapshotIndex: meta.index, lastIndex: before.lastIndex }
}

function assertContiguousEntries (entries: readonly Entry[]): void {
  let previous: Entry | null = null
  for (const entry of entries) {
    assertSafeIndex(entry.index, 'entry index')
    assertSafeIndex(entry.term, 'entry term')
    assert(entry.index >= 1, `entry index must be at least 1, got ${entry.index}`)
    assert(entry.data instanceof Uint8Array, `entry ${entry.index} data must be a Uint8Array`)
    if (previous !== null) {
      assert(entry.index === previous.index + 1, `entries must ascend by 1: ${entry.index} follows ${previous.index}`)
      // Log terms never decrease along the log (§5.3, Log Matching).
      assert(entry.term >= previous.term, `entry ${entry.index} has term ${entry.term}, below term ${previous.term} of the entry before it`)
    }
    previous = entry
  }
}

function assertHardStateTransition (before: HardState, after: HardState): void {
  assertSafeIndex(after.term, 'hard state term')
  assertSafeIndex(after.commit, 'hard state commit')
  assert(after.term >= before.term, `term must not decrease: stored ${before.term}, got ${after.term}`)
  // §5.2: at most one vote per term. Persisting a second one would let this node elect two leaders.
  if (after.term === before.term && before.votedFor !== null) {
    assert(after.votedFor === before.votedFor,
      `vote in term ${after.term} must not change: stored ${before.votedFor}, got ${String(after.votedFor)}`)
  }
  // The commit index is monotonic (§5.3); a decrease would un-commit entries.
  assert(after.commit >= before.commit, `commit index must not decrease: stored ${before.commit}, got ${after.commit}`)
}

function assertTermsWithin (batch: SaveBatch, currentTerm: number): void {
  // A node adopts any newer term it sees before storing what carried it, so nothing stored can be
  // newer than its current term.
  const lastEntry = batch.entries[batch.entries.length - 1]
  if (lastEntry !== undefined) {
    assert(lastEntry.term <= currentTerm, `entry ${lastEntry.index} has term ${lastEntry.term}, beyond the current term ${currentTerm}`)
  }
  if (batch.snapshot !== null) {
    assert(batch.snapshot.meta.term <= currentTerm, `snapshot term ${batch.snapshot.meta.term} is beyond the current term ${currentTerm}`)
  }
}

function assertSnapshotMeta (meta: SnapshotMeta): void {
  assertSafeIndex(meta.index, 'snapshot index')
  assertSafeIndex(meta.term, 'snapshot term')
  assert(meta.index >= 1, `snapshot index must be at least 1, got ${meta.index}`)
}

// ---------------------------------------------------------------------------------------------
// Defensive copies. `new Uint8Array(source)` always copies, and yields a plain Uint8Array even
// from a Node Buffer (whose `slice` would share memory).

export function copyBytes (bytes: Uint8Array): Uint8Array {
  return new Uint8Array(bytes)
}

export function copyEntry (entry: Entry): Entry {
  return { term: entry.term, index: entry.index, type: entry.type, data: copyBytes(entry.data) }
}

export function copyConfiguration (configuration: Configuration): Configuration {
  return {
    voters: [...configuration.voters],
    learners: [...configuration.learners],
    addresses: { ...configuration.addresses }
  }
}

export function copySnapshot (snapshot: Snapshot): Snapshot {
  const meta = snapshot.meta
  return {
    meta: { index: meta.index, term: meta.term, configuration: copyConfiguration(meta.configuration) },
    data: copyBytes(snapshot.data)
  }
}

function copyHardState (hardState: HardState): HardState {
  return { term: hardState.term, votedFor: hardState.votedFor, commit: hardState.commit }
}

// ---------------------------------------------------------------------------------------------

/** The durable part, shared by every handle that `reopen` returns. */
interface MemoryState {
  hardState: HardState
  snapshot: Snapshot | null
  /** Entries snapshotIndex+1 .. lastIndex; entries[i] has index snapshotIndex + 1 + i. */
  entries: Entry[]
}

export class MemoryStorage implements RaftStorage {
  // Not readonly only so that reopen() can point a new handle at this one's state.
  private state: MemoryState
  private isClosed = false

  constructor () {
    this.state = { hardState: emptyHardState, snapshot: null, entries: [] }
  }

  /**
   * A new handle on the same stored state, as after a restart. The old handle need not be closed
   * first, so a test can model a crash by abandoning it.
   */
  reopen (): MemoryStorage {
    const handle = new MemoryStorage()
    handle.state = this.state
    return handle
  }

  async load (): Promise<PersistedState> {
    this.assertOpen()
    return {
      hardState: copyHardState(this.state.hardState),
      snapshot: this.state.snapshot === null ? null : copySnapshot(this.state.snapshot),
      entries: this.state.entries.map(copyEntry)
    }
  }

  async save (batch: SaveBatch): Promise<void> {
    this.assertOpen()
    // Check everything before changing anything, so a rejected batch leaves no trace.
    const after = boundsAfterSave(this.bounds(), batch)
    if (batch.snapshot !== null) {
      this.state.snapshot = copySnapshot(batch.snapshot)
      this.state.entries = []
    }
    const firstIndex = batch.entries[0]?.index
    if (firstIndex !== undefined) {
      // Keep the entries before the first new one; the new ones replace everything after.
      this.state.entries.length = firstIndex - after.snapshotIndex - 1
      for (const entry of batch.entries) this.state.entries.push(copyEntry(entry))
    }
    if (batch.hardState !== null) this.state.hardState = copyHardState(batch.hardState)
    this.assertBounds(after)
  }

  async compact (snapshot: Snapshot): Promise<void> {
    this.assertOpen()
    const before = this.bounds()
    const after = boundsAfterCompact(before, snapshot)
    this.state.entries.splice(0, after.snapshotIndex - before.snapshotIndex)
    this.state.snapshot = copySnapshot(snapshot)
    this.state.hardState = after.hardState
    this.assertBounds(after)
  }

  async close (): Promise<void> {
    this.isClosed = true
  }

  private bounds (): StoredBounds {
    const snapshotIndex = this.state.snapshot?.meta.index ?? 0
    return { hardState: this.state.hardState, snapshotIndex, lastIndex: snapshotIndex + this.state.entries.length }
  }

  /** Pairs the bookkeeping computed before the write with the state after it. */
  private assertBounds (expected: StoredBounds): void {
    const actual = this.bounds()
    assert(actual.snapshotIndex === expected.snapshotIndex, `snapshot index ${actual.snapshotIndex} after write, expected ${expected.snapshotIndex}`)
    assert(actual.lastIndex === expected.lastIndex, `last index ${actual.lastIndex} after write, expected ${expected.lastIndex}`)
    const first = this.state.entries[0]
    assert(first === undefined || first.index === actual.snapshotIndex + 1, `first stored entry ${first?.index} does not follow the snapshot at ${actual.snapshotIndex}`)
  }

  private assertOpen (): void {
    assert(!this.isClosed, 'MemoryStorage is closed; call reopen() for a new handle')
  }
}
