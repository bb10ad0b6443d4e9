/**
 * The KV table (Consul's `kvs`): rows by key plus a sorted key set for prefix reads.
 *
 * Invariants: `rows` and `keys` hold exactly the same keys; a row's CreateIndex is the index of
 * the write that created the key and survives updates, as do LockIndex and Session (a plain set
 * does not release a lock); every change bumps the `kvs` table index, deletes included.
 *
 * Transactions: between `beginJournal()` and `endJournal()` every change records the row it
 * replaced, so `rollbackJournal()` can restore the table exactly (the table index is rolled
 * back by the caller through TableIndexes.mark()).
 *
 * Callers: state-store.ts (writes, in the FSM's apply), kv-txn.ts, snapshot.ts, readers.
 */
import { assert } from '../../util/assert.js'
import type { KvEntry } from '../types.js'
import { SortedKeys } from './sorted-keys.js'
import type { TableIndexes } from './table-indexes.js'

export interface KvWrite {
  readonly Key: string
  readonly Value: Uint8Array
  readonly Flags: number
}

interface JournalRecord {
  readonly key: string
  readonly previous: KvEntry | undefined
}

export class KvTable {
  private readonly rows = new Map<string, KvEntry>()
  private readonly keys = new SortedKeys()
  private journal: JournalRecord[] | null = null

  constructor (private readonly indexes: TableIndexes) {}

  get size (): number {
    return this.rows.size
  }

  get (key: string): KvEntry | undefined {
    return this.rows.get(key)
  }

  /** Every entry whose key starts with `prefix` ('' = all), sorted by key. */
  list (prefix: string): KvEntry[] {
    return this.keys.withPrefix(prefix).map(key => this.mustGet(key))
  }

  /**
   * Keys starting with `prefix`, sorted. With a non-empty `separator`, a key that contains the
   * separator after the prefix is cut just after its first occurrence there, and each such
   * "folder" is reported once (`a/x/1`, `a/x/2`, `a/y` under `a/` with `/` give `a/x/`, `a/y`).
   */
  listKeys (prefix: string, separator: string): string[] {
    const result: string[] = []
    let position = this.keys.lowerBound(prefix)
    for (let key = this.keys.at(position); key !== undefined && key.startsWith(prefix); key = this.keys.at(position)) {
      const cut = separator === '' ? -1 : key.indexOf(separator, prefix.length)
      if (cut === -1) {
        result.push(key)
        position = this.keys.next(position)
      } else {
        const folder = key.slice(0, cut + separator.length)
        result.push(folder)
        position = this.keys.afterPrefix(folder)
      }
    }
    return result
  }

  /** Every entry in key order (snapshots). */
  * inOrder (): Generator<KvEntry> {
    for (const key of this.keys.all()) yield this.mustGet(key)
  }

  /** Unconditional set; returns the stored row. */
  set (index: number, write: KvWrite): KvEntry {
    const existing = this.rows.get(write.Key)
    const row = buildRow(index, write, existing)
    this.put(index, row)
    return row
  }

  /**
   * Check-and-set: `cas` 0 writes only if the key is absent; otherwise only if the key's
   * ModifyIndex equals `cas`. Returns the stored row, or null (and changes nothing) on mismatch.
   */
  setCas (index: number, write: KvWrite, cas: number): KvEntry | null {
    const existing = this.rows.get(write.Key)
    if (!casMatches(existing, cas)) return null
    return this.set(index, write)
  }

  /** Deletes one key; returns whether it existed. A missing key changes nothing. */
  delete (index: number, key: string): boolean {
    if (!this.rows.has(key)) return false
    this.remove(index, key)
    return true
  }

  /**
   * Deletes `key` if its ModifyIndex equals `cas`. As in Consul, a missing key counts as
   * success (true) and a mismatch as failure (false).
   */
  deleteCas (index: number, key: string, cas: number): boolean {
    const existing = this.rows.get(key)
    if (existing === undefined) return true
    if (existing.ModifyIndex !== cas) return false
    this.remove(index, key)
    return true
  }

  /** Deletes every key starting with `prefix` ('' = all); returns how many went. */
  deleteTree (index: number, prefix: string): number {
    const doomed = this.keys.withPrefix(prefix)
    for (const key of doomed) this.remove(index, key)
    return doomed.length
  }

  beginJournal (): void {
    assert(this.journal === null, 'kv journal already open')
    this.journal = []
  }

  endJournal (): void {
    assert(this.journal !== null, 'kv journal not open')
    this.journal = null
  }

  /** Undoes every change since beginJournal(), newest first, and closes the journal. */
  rollbackJournal (): void {
    const journal = this.journal
    assert(journal !== null, 'kv journal not open')
    this.journal = null
    for (let position = journal.length - 1; position >= 0; position -= 1) {
      const record = journal[position] as JournalRecord
      this.restoreRow(record.key, record.previous)
    }
  }

  /** Adds a row while loading a snapshot; returns a problem instead of loading a repeated key. */
  load (row: KvEntry): string | undefined {
    if (this.rows.has(row.Key)) return `kv key ${JSON.stringify(row.Key)} appears twice`
    this.restoreRow(row.Key, row)
    return undefined
  }

  private put (index: number, row: KvEntry): void {
    this.journal?.push({ key: row.Key, previous: this.rows.get(row.Key) })
    this.restoreRow(row.Key, row)
    this.indexes.bump('kvs', index)
  }

  private remove (index: number, key: string): void {
    this.journal?.push({ key, previous: this.rows.get(key) })
    this.restoreRow(key, undefined)
    this.indexes.bump('kvs', index)
  }

  /** Makes `key` hold `row` (or nothing), keeping rows and keys in step. */
  private restoreRow (key: string, row: KvEntry | undefined): void {
    const existed = this.rows.has(key)
    if (row === undefined) {
      this.rows.delete(key)
      if (existed) this.keys.delete(key)
    } else {
      this.rows.set(key, row)
      // Updating an existing key leaves the sorted set alone (no binary search on the hot path).
      if (!existed) this.keys.insert(key)
    }
    assert(this.rows.size === this.keys.size, `kv rows (${this.rows.size}) and sorted keys (${this.keys.size}) disagree`)
  }

  private mustGet (key: string): KvEntry {
    const row = this.rows.get(key)
    assert(row !== undefined, `kv sorted key ${JSON.stringify(key)} has no row`)
    return row
  }
}

export function casMatches (existing: KvEntry | undefined, cas: number): boolean {
  return existing === undefined ? cas === 0 : existing.ModifyIndex === cas
}

function buildRow (index: number, write: KvWrite, existing: KvEntry | undefined): KvEntry {
  const base = {
    Key: write.Key,
    Value: write.Value,
    Flags: write.Flags,
    CreateIndex: existing?.CreateIndex ?? index,
    ModifyIndex: index,
    LockIndex: existing?.LockIndex ?? 0
  }
  const session = existing?.Session
  return Object.freeze(session === undefined ? base : { ...base, Session: session })
}
