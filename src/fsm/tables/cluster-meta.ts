/**
 * Cluster-wide metadata as string key/value pairs (Consul's `system-metadata`): the cluster ID
 * (key `cluster-id`, which names the CA trust domain) and whatever later features need.
 *
 * Invariant: a set with `ifAbsent` changes nothing unless every key is absent, so a leader can
 * pick a cluster ID and a racing leader cannot replace it.
 *
 * Callers: state-store.ts, snapshot.ts.
 */
import type { ClusterMetaEntry, ClusterMetaRow } from '../types.js'
import { compareKeys } from './sorted-keys.js'
import type { TableIndexes } from './table-indexes.js'

export class ClusterMetaTable {
  private readonly rows = new Map<string, ClusterMetaRow>()

  constructor (private readonly indexes: TableIndexes) {}

  get (key: string): ClusterMetaRow | undefined {
    return this.rows.get(key)
  }

  /** Every entry sorted by key. */
  list (): ClusterMetaRow[] {
    return [...this.rows.keys()].sort(compareKeys).map(key => this.rows.get(key) as ClusterMetaRow)
  }

  /** Stores every entry; with `ifAbsent`, nothing unless no key exists yet. Returns whether it stored. */
  set (index: number, entries: readonly ClusterMetaEntry[], options: { ifAbsent: boolean }): boolean {
    if (options.ifAbsent && entries.some(entry => this.rows.has(entry.Key))) return false
    for (const entry of entries) {
      const existing = this.rows.get(entry.Key)
      this.rows.set(entry.Key, Object.freeze({ Key: entry.Key, Value: entry.Value, CreateIndex: existing?.CreateIndex ?? index, ModifyIndex: index }))
    }
    if (entries.length > 0) this.indexes.bump('cluster-meta', index)
    return true
  }

  load (row: ClusterMetaRow): string | undefined {
    if (this.rows.has(row.Key)) return `cluster metadata key ${JSON.stringify(row.Key)} appears twice`
    this.rows.set(row.Key, row)
    return undefined
  }
}
