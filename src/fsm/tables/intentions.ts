/**
 * Service intentions (Consul's `connect-intentions`): rows by ID, with a unique index on the
 * (source, destination) pair and indexes by destination and by source name for match queries.
 *
 * Invariants: at most one intention per pair; Precedence is computed here from the names, so
 * it can never disagree with them; CreatedAt and CreateIndex survive updates.
 *
 * Callers: state-store.ts, snapshot.ts.
 */
import { assert, assertNever } from '../../util/assert.js'
import type { IntentionInput, IntentionPair, IntentionRow, IntentionTarget, IntentionUpsertMode, WriteOutcome, WriteRejected } from '../types.js'
import { compareKeys } from './sorted-keys.js'
import type { TableIndexes } from './table-indexes.js'

export const intentionWildcard = '*'

/** §8.3: exact namespace and name count 2, a wildcard name 1, a wildcard namespace 0. */
export function intentionPrecedence (pair: IntentionPair): number {
  const exactness = (namespace: string, name: string): number => {
    if (namespace === intentionWildcard) return 0
    return name === intentionWildcard ? 1 : 2
  }
  const destinationBase = [3, 6, 9][exactness(pair.DestinationNS, pair.DestinationName)] as number
  return destinationBase - (2 - exactness(pair.SourceNS, pair.SourceName))
}

/** Evaluation order: precedence descending, then the names ascending (byte order). */
export function compareIntentions (a: IntentionRow, b: IntentionRow): number {
  return b.Precedence - a.Precedence ||
    compareKeys(a.SourceNS, b.SourceNS) ||
    compareKeys(a.SourceName, b.SourceName) ||
    compareKeys(a.DestinationNS, b.DestinationNS) ||
    compareKeys(a.DestinationName, b.DestinationName)
}

export interface IntentionMatchQuery {
  readonly by: 'source' | 'destination'
  readonly namespace: string
  readonly name: string
}

export class IntentionTable {
  private readonly rows = new Map<string, IntentionRow>()
  private readonly idByPair = new Map<string, string>()
  private readonly byDestination = new Map<string, Set<string>>()
  private readonly bySource = new Map<string, Set<string>>()

  constructor (private readonly indexes: TableIndexes) {}

  get (id: string): IntentionRow | undefined {
    return this.rows.get(id)
  }

  getExact (pair: IntentionPair): IntentionRow | undefined {
    const id = this.idByPair.get(pairKey(pair))
    return id === undefined ? undefined : this.rows.get(id)
  }

  /** Every intention in evaluation order. */
  list (): IntentionRow[] {
    return [...this.rows.values()].sort(compareIntentions)
  }

  /** The intentions that apply to `name` (exact or wildcard) on the given side, in evaluation order. */
  match (query: IntentionMatchQuery): IntentionRow[] {
    const index = query.by === 'destination' ? this.byDestination : this.bySource
    const ids = new Set([...(index.get(query.name) ?? []), ...(index.get(intentionWildcard) ?? [])])
    const matches = [...ids].map(id => this.mustGet(id)).filter(row => {
      const namespace = query.by === 'destination' ? row.DestinationNS : row.SourceNS
      return namespace === query.namespace || namespace === intentionWildcard
    })
    return matches.sort(compareIntentions)
  }

  upsert (index: number, mode: IntentionUpsertMode, input: IntentionInput): WriteOutcome<{ ID: string }> {
    const owner = this.idByPair.get(pairKey(input))
    switch (mode) {
      case 'create':
        if (this.rows.has(input.ID)) return reject('ERR_CONFLICT', `an intention with ID ${JSON.stringify(input.ID)} already exists`)
        if (owner !== undefined) return this.duplicate(owner)
        return this.put(index, input, undefined)
      case 'update': {
        const existing = this.rows.get(input.ID)
        if (existing === undefined) return reject('ERR_NOT_FOUND', `Cannot modify non-existent intention: '${input.ID}'`)
        if (owner !== undefined && owner !== input.ID) return this.duplicate(owner)
        return this.put(index, input, existing)
      }
      case 'upsert': {
        if (owner !== undefined) return this.put(index, { ...input, ID: owner }, this.mustGet(owner))
        if (this.rows.has(input.ID)) return reject('ERR_CONFLICT', `an intention with ID ${JSON.stringify(input.ID)} already exists for another pair`)
        return this.put(index, input, undefined)
      }
      default:
        return assertNever(mode, 'intention upsert mode')
    }
  }

  /** Deletes by ID or by pair; returns whether an intention was there. */
  delete (index: number, target: IntentionTarget): boolean {
    const id = target.By === 'id' ? target.ID : this.idByPair.get(pairKey(target))
    const row = id === undefined ? undefined : this.rows.get(id)
    if (row === undefined) return false
    this.unindex(row)
    this.rows.delete(row.ID)
    this.indexes.bump('connect-intentions', index)
    return true
  }

  /** Every intention sorted by ID (snapshots). */
  inOrder (): IntentionRow[] {
    return [...this.rows.keys()].sort(compareKeys).map(id => this.mustGet(id))
  }

  load (row: IntentionRow): string | undefined {
    if (this.rows.has(row.ID)) return `intention ${JSON.stringify(row.ID)} appears twice`
    if (this.idByPair.has(pairKey(row))) return `intention ${JSON.stringify(row.ID)} repeats the pair of another intention`
    if (row.Precedence !== intentionPrecedence(row)) return `intention ${JSON.stringify(row.ID)} has precedence ${row.Precedence}, expected ${intentionPrecedence(row)}`
    this.rows.set(row.ID, row)
    this.index(row)
    return undefined
  }

  private put (index: number, input: IntentionInput, existing: IntentionRow | undefined): WriteOutcome<{ ID: string }> {
    const row = buildIntention(index, input, existing)
    if (existing !== undefined) this.unindex(existing)
    this.rows.set(row.ID, row)
    this.index(row)
    this.indexes.bump('connect-intentions', index)
    return { ok: true, ID: row.ID }
  }

  private duplicate (ownerId: string): WriteRejected {
    const owner = this.mustGet(ownerId)
    return reject('ERR_CONFLICT', `duplicate intention found: ${describeIntention(owner)} (ID: ${owner.ID}, Precedence: ${owner.Precedence})`)
  }

  private index (row: IntentionRow): void {
    this.idByPair.set(pairKey(row), row.ID)
    setOf(this.byDestination, row.DestinationName).add(row.ID)
    setOf(this.bySource, row.SourceName).add(row.ID)
  }

  private unindex (row: IntentionRow): void {
    this.idByPair.delete(pairKey(row))
    removeFromSet(this.byDestination, row.DestinationName, row.ID)
    removeFromSet(this.bySource, row.SourceName, row.ID)
  }

  private mustGet (id: string): IntentionRow {
    const row = this.rows.get(id)
    assert(row !== undefined, `intention ${id} must exist`)
    return row
  }
}

function buildIntention (index: number, input: IntentionInput, existing: IntentionRow | undefined): IntentionRow {
  return Object.freeze({
    ID: input.ID,
    Description: input.Description,
    SourceNS: input.SourceNS,
    SourceName: input.SourceName,
    DestinationNS: input.DestinationNS,
    DestinationName: input.DestinationName,
    SourceType: input.SourceType,
    Action: input.Action,
    Permissions: input.Permissions,
    Meta: input.Meta,
    Precedence: intentionPrecedence(input),
    CreatedAt: existing?.CreatedAt ?? input.CreatedAt,
    UpdatedAt: input.UpdatedAt,
    CreateIndex: existing?.CreateIndex ?? index,
    ModifyIndex: index
  })
}

/** Consul's duplicate-error wording: `ALLOW default/web => default/db`. */
function describeIntention (row: IntentionRow): string {
  const action = row.Action === '' ? `${row.Permissions.length} permissions` : row.Action.toUpperCase()
  return `${action} ${row.SourceNS}/${row.SourceName} => ${row.DestinationNS}/${row.DestinationName}`
}

function pairKey (pair: IntentionPair): string {
  return JSON.stringify([pair.SourceNS, pair.SourceName, pair.DestinationNS, pair.DestinationName])
}

function reject (code: WriteRejected['code'], message: string): WriteRejected {
  return { ok: false, code, message }
}

function setOf (map: Map<string, Set<string>>, key: string): Set<string> {
  let set = map.get(key)
  if (set === undefined) {
    set = new Set()
    map.set(key, set)
  }
  return set
}

function removeFromSet (map: Map<string, Set<string>>, key: string, value: string): void {
  const set = map.get(key)
  if (set === undefined) return
  set.delete(value)
  if (set.size === 0) map.delete(key)
}
