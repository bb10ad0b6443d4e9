/**
 * Consul's KV transaction verbs (`PUT /v1/txn` with `{"KV": ...}` ops), run in order against
 * the KV table. Each op sees the effects of the ops before it. Every failing op is reported
 * (Consul keeps going to collect all errors); the caller rolls the whole transaction back when
 * any op failed, so the outcome is all or nothing.
 *
 * Results follow Consul: `get`, `get-or-empty` and `get-tree` return entries with their
 * values; `set`, `cas` and `check-index` return the entry with a null Value; deletes and
 * `check-not-exists` return nothing. Error texts are Consul's.
 *
 * Callers: state-store.ts (inside a KV journal).
 */
import { assertNever } from '../../util/assert.js'
import type { KvEntry, KvTxnError, KvTxnOp, KvTxnResultEntry } from '../types.js'
import type { KvTable } from './kv.js'

/** The most ops one transaction may carry (Consul's limit). */
export const kvTxnOpsMax = 128

export interface KvTxnRun {
  readonly results: KvTxnResultEntry[]
  readonly errors: KvTxnError[]
}

export function runKvTxn (kv: KvTable, index: number, ops: readonly KvTxnOp[]): KvTxnRun {
  const results: KvTxnResultEntry[] = []
  const errors: KvTxnError[] = []
  ops.forEach((op, opIndex) => {
    const outcome = runOp(kv, index, op)
    if (typeof outcome === 'string') errors.push({ OpIndex: opIndex, What: outcome })
    else results.push(...outcome)
  })
  return { results, errors }
}

/** Returns the op's result entries, or the error text. */
function runOp (kv: KvTable, index: number, op: KvTxnOp): readonly KvTxnResultEntry[] | string {
  const quoted = JSON.stringify(op.Key)
  switch (op.Verb) {
    case 'set':
      return [withoutValue(kv.set(index, op))]
    case 'cas': {
      const row = kv.setCas(index, op, op.Index)
      return row === null ? `failed to set key ${quoted}, index is stale` : [withoutValue(row)]
    }
    case 'get': {
      const row = kv.get(op.Key)
      return row === undefined ? `key ${quoted} doesn't exist` : [row]
    }
    case 'get-or-empty':
      return [kv.get(op.Key) ?? emptyEntry(op.Key)]
    case 'get-tree':
      return kv.list(op.Key)
    case 'check-index':
      return checkIndex(kv.get(op.Key), op.Index, quoted)
    case 'check-not-exists':
      return kv.get(op.Key) === undefined ? [] : `key ${quoted} exists`
    case 'delete':
      kv.delete(index, op.Key)
      return []
    case 'delete-tree':
      kv.deleteTree(index, op.Key)
      return []
    case 'delete-cas':
      return kv.deleteCas(index, op.Key, op.Index) ? [] : `failed to delete key ${quoted}, index is stale`
    default:
      return assertNever(op, 'KV txn verb')
  }
}

function checkIndex (row: KvEntry | undefined, expected: number, quoted: string): readonly KvTxnResultEntry[] | string {
  if (row === undefined) return `failed to check index of key ${quoted}, key does not exist`
  if (row.ModifyIndex !== expected) return `failed to check index of key ${quoted}, index is stale`
  return [withoutValue(row)]
}

function withoutValue (row: KvEntry): KvTxnResultEntry {
  return { ...row, Value: null }
}

function emptyEntry (key: string): KvTxnResultEntry {
  return { Key: key, Value: null, Flags: 0, CreateIndex: 0, ModifyIndex: 0, LockIndex: 0 }
}
