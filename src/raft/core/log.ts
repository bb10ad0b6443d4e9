/**
 * The in-memory Raft log of one node: the latest snapshot plus every entry after it.
 *
 * Invariants (asserted):
 * - entries are contiguous: entries[i].index === snapshotIndex + 1 + i;
 * - snapshotIndex <= applied <= committed <= lastIndex();
 * - stableIndex <= lastIndex(): entries up to stableIndex are known to be on disk as they are in
 *   memory; entries after it are waiting for the shell to persist them;
 * - an entry at or below committed is never replaced (the core crashes rather than diverge).
 *
 * Only the core calls this; it never does I/O.
 */
import { assert, assertSafeIndex } from '../../util/assert.js'
import type { Entry, Snapshot } from './types.js'

export class RaftLog {
  private entries: Entry[]
  private snapshotValue: Snapshot | null
  private snapshotIndexValue: number
  private snapshotTermValue: number
  committed: number
  /** Highest index handed to the shell to apply (through a Ready). */
  applied: number
  /** Highest index known to be durable with the content it has in memory. */
  stableIndex: number
  /** A snapshot received from the leader that the shell still has to persist and restore. */
  unstableSnapshot: Snapshot | null = null
  /** Indexes of the 'config' entries in the log, ascending (the latest one is in force). */
  readonly configIndexes: number[] = []

  constructor (options: { snapshot: Snapshot | null, entries: readonly Entry[], committed: number }) {
    this.snapshotValue = options.snapshot
    this.snapshotIndexValue = options.snapshot?.meta.index ?? 0
    this.snapshotTermValue = options.snapshot?.meta.term ?? 0
    this.entries = [...options.entries]
    for (let i = 0; i < this.entries.length; i += 1) {
      const entry = this.entries[i]!
      assert(entry.index === this.snapshotIndexValue + 1 + i, `restored log is not contiguous at position ${i}`)
      if (entry.type === 'config') this.configIndexes.push(entry.index)
    }
    assert(options.committed <= this.lastIndex(), `restored commit ${options.committed} is beyond the last index ${this.lastIndex()}`)
    this.committed = Math.max(options.committed, this.snapshotIndexValue)
    this.applied = this.snapshotIndexValue
    this.stableIndex = this.lastIndex()
  }

  snapshot (): Snapshot | null { return this.snapshotValue }
  snapshotIndex (): number { return this.snapshotIndexValue }
  snapshotTerm (): number { return this.snapshotTermValue }
  firstIndex (): number { return this.snapshotIndexValue + 1 }
  lastIndex (): number { return this.snapshotIndexValue + this.entries.length }
  lastTerm (): number { return this.term(this.lastIndex()) ?? 0 }

  /** The term of the entry at index, or undefined when it is compacted away or beyond the end. */
  term (index: number): number | undefined {
    if (index === this.snapshotIndexValue) return this.snapshotTermValue
    if (index < this.snapshotIndexValue || index > this.lastIndex()) return undefined
    return this.entries[index - this.snapshotIndexValue - 1]!.term
  }

  entry (index: number): Entry | undefined {
    if (index <= this.snapshotIndexValue || index > this.lastIndex()) return undefined
    return this.entries[index - this.snapshotIndexValue - 1]
  }

  matchTerm (index: number, term: number): boolean {
    return this.term(index) === term
  }

  /** §5.4.1: a candidate's log is at least as up to date as ours. */
  isUpToDate (lastIndex: number, lastTerm: number): boolean {
    const ourLastTerm = this.lastTerm()
    return lastTerm > ourLastTerm || (lastTerm === ourLastTerm && lastIndex >= this.lastIndex())
  }

  /** Entries in [low, high), at most bytesMax bytes of data but always at least one entry. */
  slice (low: number, high: number, options: { bytesMax: number, countMax: number }): Entry[] {
    assert(low >= this.firstIndex(), `slice from ${low} reaches into the compacted prefix (first index ${this.firstIndex()})`)
    const end = Math.min(high, this.lastIndex() + 1, low + options.countMax)
    const result: Entry[] = []
    let bytes = 0
    for (let index = low; index < end; index += 1) {
      const entry = this.entries[index - this.snapshotIndexValue - 1]!
      bytes += entry.data.byteLength
      if (result.length > 0 && bytes > options.bytesMax) break
      result.push(entry)
    }
    return result
  }

  /** Leader-side append of new entries at the end of the log. */
  append (entry: Entry): void {
    assert(entry.index === this.lastIndex() + 1, `append at ${entry.index} but the last index is ${this.lastIndex()}`)
    this.pushEntry(entry)
  }

  /**
   * Follower-side append (§5.3): when the entry at prevIndex has prevTerm, drop any conflicting
   * suffix and append what is new. Returns the index of the last entry the leader sent, or null
   * when the consistency check fails.
   */
  maybeAppend (prevIndex: number, prevTerm: number, entries: readonly Entry[]): number | null {
    if (!this.matchTerm(prevIndex, prevTerm)) return null
    const lastNewIndex = prevIndex + entries.length
    for (const entry of entries) {
      if (entry.index <= this.snapshotIndexValue) continue
      const existingTerm = this.term(entry.index)
      if (existingTerm === entry.term) continue
      if (existingTerm !== undefined) this.truncateFrom(entry.index)
      const offset = entry.index - prevIndex - 1
      for (let i = offset; i < entries.length; i += 1) this.pushEntry(entries[i]!)
      break
    }
    return lastNewIndex
  }

  private pushEntry (entry: Entry): void {
    this.entries.push(entry)
    if (entry.type === 'config') this.configIndexes.push(entry.index)
  }

  private truncateFrom (index: number): void {
    assert(index > this.committed, `conflicting entry at ${index} but entries up to ${this.committed} are committed`)
    this.entries.length = index - this.snapshotIndexValue - 1
    while (this.configIndexes.length > 0 && this.configIndexes[this.configIndexes.length - 1]! >= index) this.configIndexes.pop()
    this.stableIndex = Math.min(this.stableIndex, index - 1)
  }

  /**
   * Fast back-off (§5.3, "optimization"): the largest index <= index whose term is <= term, or
   * the snapshot index when the answer lies in the compacted prefix.
   */
  findConflictByTerm (index: number, term: number): number {
    let candidate = Math.min(index, this.lastIndex())
    while (candidate > this.snapshotIndexValue) {
      const candidateTerm = this.term(candidate)!
      if (candidateTerm <= term) return candidate
      candidate -= 1
    }
    return this.snapshotIndexValue
  }

  commitTo (index: number): boolean {
    if (index <= this.committed) return false
    assert(index <= this.lastIndex(), `commit ${index} is beyond the last index ${this.lastIndex()}`)
    this.committed = index
    return true
  }

  /** Entries not yet handed to the shell for persistence. */
  unstableEntries (): Entry[] {
    if (this.stableIndex >= this.lastIndex()) return []
    // After a snapshot restore or compaction the stable index may lie below the snapshot.
    return this.entries.slice(Math.max(0, this.stableIndex - this.snapshotIndexValue))
  }

  /**
   * The shell persisted these entries. The log may have changed since they were handed out (a
   * conflicting suffix replaced): only the part that still matches becomes stable.
   */
  stableTo (persisted: readonly Entry[]): void {
    for (let i = persisted.length - 1; i >= 0; i -= 1) {
      const entry = persisted[i]!
      if (entry.index <= this.stableIndex) return
      if (this.term(entry.index) === entry.term) {
        this.stableIndex = entry.index
        return
      }
    }
  }

  /** Committed entries not yet handed to the shell, at most countMax of them. */
  nextCommitted (countMax: number): Entry[] {
    const low = Math.max(this.applied + 1, this.firstIndex())
    const high = Math.min(this.committed, low + countMax - 1)
    if (high < low) return []
    return this.entries.slice(low - this.snapshotIndexValue - 1, high - this.snapshotIndexValue)
  }

  appliedTo (index: number): void {
    assert(index <= this.committed, `applied ${index} beyond commit ${this.committed}`)
    if (index > this.applied) this.applied = index
  }

  /**
   * Replaces the whole log with a snapshot received from the leader. The caller has checked
   * that the snapshot is ahead of our commit index.
   */
  restore (snapshot: Snapshot): void {
    assert(snapshot.meta.index > this.committed, `restoring snapshot ${snapshot.meta.index} at or below commit ${this.committed}`)
    this.entries = []
    this.configIndexes.length = 0
    this.snapshotValue = snapshot
    this.snapshotIndexValue = snapshot.meta.index
    this.snapshotTermValue = snapshot.meta.term
    this.committed = snapshot.meta.index
    this.unstableSnapshot = snapshot
    this.stableIndex = Math.min(this.stableIndex, snapshot.meta.index - 1)
  }

  /** The shell persisted the received snapshot. */
  snapshotPersisted (snapshot: Snapshot): void {
    if (this.unstableSnapshot === snapshot) this.unstableSnapshot = null
    if (this.snapshotIndexValue === snapshot.meta.index && this.stableIndex < snapshot.meta.index) {
      this.stableIndex = snapshot.meta.index
    }
    if (this.applied < snapshot.meta.index) this.applied = snapshot.meta.index
  }

  /** Local compaction: a snapshot the shell took of its state machine at an applied index. */
  compact (snapshot: Snapshot): void {
    const index = snapshot.meta.index
    assertSafeIndex(index, 'snapshot index')
    assert(index <= this.applied, `compacting to ${index} beyond applied ${this.applied}`)
    if (index <= this.snapshotIndexValue) return
    assert(this.term(index) === snapshot.meta.term, `snapshot term ${snapshot.meta.term} does not match the log at ${index}`)
    this.entries = this.entries.slice(index - this.snapshotIndexValue)
    while (this.configIndexes.length > 0 && this.configIndexes[0]! <= index) this.configIndexes.shift()
    this.snapshotValue = snapshot
    this.snapshotIndexValue = index
    this.snapshotTermValue = snapshot.meta.term
  }
}
