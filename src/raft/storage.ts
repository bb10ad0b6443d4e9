/**
 * The durable home of one Raft node's state: hard state (term, vote, commit), the latest
 * snapshot, and the log entries after it.
 *
 * Contract (every implementation runs test/unit/raft/storage-conformance.ts):
 * - `save` is one atomic, durable write: once its promise resolves the batch survives a crash
 *   (kill -9, power loss) and a crash before that leaves either all of it or none of it.
 * - Within `save`, when `snapshot` is set the stored log is replaced by it: the old snapshot and
 *   every stored entry are removed. Then `entries` (contiguous, ascending) replace every stored
 *   entry at index >= entries[0].index. Then `hardState`, when set, replaces the stored one.
 * - `compact` records a snapshot the node took itself and deletes the entries it covers
 *   (index <= snapshot.meta.index); entries after it stay.
 * - `load` returns exactly what was saved. Each entry is stored with a checksum: an entry that
 *   fails it above the stored commit index (a torn or corrupt tail) is dropped along with all
 *   later entries, with a warning through the logger; a bad entry at or below the commit index
 *   rejects with a ControlPlaneError code ERR_CORRUPT_STORAGE, because serving on would risk
 *   wrong data.
 */
import type { Entry, HardState, Snapshot } from './core/types.js'

export interface PersistedState {
  readonly hardState: HardState
  readonly snapshot: Snapshot | null
  /** Contiguous entries after the snapshot (or from index 1 when there is none). */
  readonly entries: readonly Entry[]
}

export interface SaveBatch {
  readonly hardState: HardState | null
  readonly entries: readonly Entry[]
  readonly snapshot: Snapshot | null
}

export interface RaftStorage {
  load (): Promise<PersistedState>
  save (batch: SaveBatch): Promise<void>
  compact (snapshot: Snapshot): Promise<void>
  close (): Promise<void>
}

export const emptyHardState: HardState = Object.freeze({ term: 0, votedFor: null, commit: 0 })
