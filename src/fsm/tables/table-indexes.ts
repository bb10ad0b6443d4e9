/**
 * The highest Raft index that changed each table (Consul's "index" table), which is what
 * blocking queries compare `?index=` against and what `X-Consul-Index` reports.
 *
 * Invariants: a table's index only moves forward; a delete moves it too (the tombstone rule:
 * a watcher of a missing key must see the delete); a write that changes nothing leaves it. The
 * set of tables touched since the last `takeTouched()` tells change listeners what moved.
 *
 * Callers: the tables in this folder (bump), state-store.ts (takeTouched, journal), snapshot.ts.
 */
import { assert, assertSafeIndex } from '../../util/assert.js'
import { tableNames, type TableName } from '../types.js'

export interface TableIndexesMark {
  readonly indexes: ReadonlyMap<TableName, number>
  readonly touched: ReadonlySet<TableName>
}

export class TableIndexes {
  private readonly indexes = new Map<TableName, number>(tableNames.map(name => [name, 0]))
  private touched = new Set<TableName>()

  get (table: TableName): number {
    const index = this.indexes.get(table)
    assert(index !== undefined, `unknown table ${table}`)
    return index
  }

  /** Records that `table` changed at Raft index `index`. */
  bump (table: TableName, index: number): void {
    assertSafeIndex(index, 'table index')
    const current = this.get(table)
    assert(index >= current, `table ${table} index would move back from ${current} to ${index}`)
    this.indexes.set(table, index)
    this.touched.add(table)
  }

  /** Returns the tables changed since the previous call and forgets them. */
  takeTouched (): ReadonlySet<TableName> {
    const touched = this.touched
    this.touched = new Set()
    return touched
  }

  /** A copy of the current state, for rolling back a failed transaction. */
  mark (): TableIndexesMark {
    return { indexes: new Map(this.indexes), touched: new Set(this.touched) }
  }

  rollbackTo (mark: TableIndexesMark): void {
    for (const [table, index] of mark.indexes) this.indexes.set(table, index)
    this.touched = new Set(mark.touched)
  }

  /** Sets an index while loading a snapshot (no ordering check: the store is being rebuilt). */
  load (table: TableName, index: number): void {
    assertSafeIndex(index, `snapshot index of table ${table}`)
    assert(this.indexes.has(table), `unknown table ${table}`)
    this.indexes.set(table, index)
  }

  entries (): Array<[TableName, number]> {
    return tableNames.map(name => [name, this.get(name)])
  }
}
