/**
 * Snapshots of the whole state store: a stream of length-prefixed MessagePack records, written
 * in a fixed order so that the same state always gives the same bytes.
 *
 * Format (version 1). Each record is a 4-byte big-endian length followed by that many bytes of
 * MessagePack. In order:
 *   1. `{ kind: 'header', format: 'weft-fsm-snapshot', version: 1, appliedIndex }`
 *   2. `{ kind: 'tableIndex', table, index }` for every table, in `tableNames` order
 *   3. `{ kind: 'row', section, row }` for every row, sections in `snapshotSections` order and
 *      rows sorted within each section (by key, name or ID; never by Map insertion order,
 *      which differs between a replica that replayed the log and one that restored)
 *   4. `{ kind: 'end', records, checksum }`: how many records came before it and the CRC-32C
 *      of all their bytes, length prefixes included.
 * Map keys inside rows are written sorted, so field assignment order never leaks into bytes.
 *
 * The last section, `restore-staging`, holds the chunks of a PUT /v1/snapshot upload in progress
 * (tables/restore-staging.ts), so a replica that restarts from, or is sent, a Raft snapshot
 * taken mid-upload still finishes it like the others. It is not user data: a user's snapshot
 * (GET /v1/snapshot) leaves it out, and restoring one (`stampIndex`) skips it, so a restore
 * never brings back an upload that was under way in the cluster the snapshot came from.
 *
 * Memory: `snapshotRecords` captures row references (rows are immutable), then encodes chunks
 * of whole records (about `chunkBytesTarget` each) as they are read, so a streaming writer
 * (GET /v1/snapshot) holds one chunk at a time and may await between chunks. `SnapshotRestorer` consumes chunks with arbitrary boundaries, keeps at most one partial
 * record, and decodes record by record into a fresh set of tables: restoring needs the snapshot
 * bytes plus the state being built, never another copy of either.
 *
 * Every record is validated (a snapshot can come from a user through PUT /v1/snapshot); a bad
 * one throws an ERR_INVALID_INPUT ControlPlaneError naming the problem. The FSM turns a failed
 * restore into an AssertionError.
 *
 * Callers: fsm.ts (snapshot/restore for Raft), the snapshot HTTP endpoints (streaming).
 */
import { Packr } from 'msgpackr'
import { assert, assertNever } from '../util/assert.js'
import { crc32c } from '../util/crc32.js'
import { ControlPlaneError } from '../util/errors.js'
import { canonical, describe, expectIndex, expectNonEmptyString, expectRecord, expectString, type Raw } from './shape.js'
import {
  validateAclPolicyRow, validateAclTokenRow, validateCaConfigRow, validateCaProviderStateRow, validateCaRootRow,
  validateCheckRow, validateClusterMetaRow, validateIntentionRow, validateKvRow, validateNodeRow, validateRestoreStagingRow,
  validateServiceRow
} from './snapshot-rows.js'
import type { StateStore } from './state-store.js'
import { Tables } from './tables/tables.js'
import { tableNames, type RowIndexes, type TableName } from './types.js'

export const snapshotFormat = 'weft-fsm-snapshot'
export const snapshotFormatVersion = 1
/** Largest single record accepted; a KV value is at most 512 KiB, so anything near this is corrupt. */
export const snapshotRecordBytesMax = 64 * 1024 * 1024
const chunkBytesTarget = 64 * 1024
const lengthPrefixBytes = 4

/** Row sections in the order snapshots write them. */
export const snapshotSections = [
  'cluster-meta', 'nodes', 'services', 'checks', 'service-indexes', 'kvs', 'connect-intentions', 'connect-ca-config',
  'connect-ca-roots', 'connect-ca-builtin', 'connect-ca-builtin-serial', 'acl-policies', 'acl-tokens', 'restore-staging'
] as const

export type SnapshotSection = typeof snapshotSections[number]

const packr = new Packr({ useRecords: false, mapsAsObjects: true, moreTypes: false, int64AsType: 'number' })

// ---------------------------------------------------------------------------------------------
// Writing

export interface SnapshotOptions {
  /**
   * Whether to write the staged chunks of a restore upload in progress (default true). Raft's
   * snapshots need them; a user's snapshot (GET /v1/snapshot) leaves them out.
   */
  readonly restoreStaging?: boolean
}

/** The whole snapshot as one byte array (what Raft's StateMachine.snapshot() returns). */
export function snapshotBytes (store: StateStore, options: SnapshotOptions = {}): Uint8Array {
  const chunks = [...snapshotRecords(store, options)]
  const total = chunks.reduce((sum, chunk) => sum + chunk.length, 0)
  const bytes = new Uint8Array(total)
  let offset = 0
  for (const chunk of chunks) {
    bytes.set(chunk, offset)
    offset += chunk.length
  }
  return bytes
}

/**
 * The snapshot as chunks of whole records. The state is captured when this is called: row
 * references (rows are immutable) are collected synchronously, so the returned iterator may be
 * drained across awaits while the FSM keeps applying, and still describes one applied index.
 * The capture costs one reference per row; the encoding happens chunk by chunk as it is read.
 */
export function snapshotRecords (store: StateStore, options: SnapshotOptions = {}): Generator<Uint8Array> {
  return encodeCapture(captureState(store, options))
}

interface CapturedState {
  readonly appliedIndex: number
  readonly tableIndexes: ReadonlyArray<[TableName, number]>
  readonly sections: ReadonlyArray<[SnapshotSection, readonly object[]]>
}

function captureState (store: StateStore, options: SnapshotOptions): CapturedState {
  const tables = store.tablesForSnapshot()
  const sections = options.restoreStaging === false ? snapshotSections.filter(section => section !== 'restore-staging') : snapshotSections
  return {
    appliedIndex: store.appliedIndex(),
    tableIndexes: tables.indexes.entries(),
    sections: sections.map(section => [section, sectionRows(tables, section)])
  }
}

function * encodeCapture (state: CapturedState): Generator<Uint8Array> {
  const writer = new RecordWriter()
  writer.add({ kind: 'header', format: snapshotFormat, version: snapshotFormatVersion, appliedIndex: state.appliedIndex })
  for (const [table, index] of state.tableIndexes) writer.add({ kind: 'tableIndex', table, index })
  for (const [section, rows] of state.sections) {
    for (const row of rows) {
      writer.add({ kind: 'row', section, row: canonical(row) })
      if (writer.bufferedBytes >= chunkBytesTarget) yield * writer.drain()
    }
  }
  writer.add({ kind: 'end', records: writer.records, checksum: writer.checksum })
  yield * writer.drain()
}

/** The rows of one section in snapshot order (sorted; never Map insertion order). */
function sectionRows (tables: Tables, section: SnapshotSection): readonly object[] {
  switch (section) {
    case 'cluster-meta': return tables.meta.list()
    case 'nodes': return [...tables.catalog.nodeRows()]
    case 'services': return [...tables.catalog.serviceRows()]
    case 'checks': return [...tables.catalog.checkRows()]
    case 'service-indexes': return [...tables.catalog.serviceNameIndexes()].map(([Name, Index]) => ({ Name, Index }))
    case 'kvs': return [...tables.kv.inOrder()]
    case 'connect-intentions': return tables.intentions.inOrder()
    case 'connect-ca-config': {
      const config = tables.ca.getConfig()
      return config === undefined ? [] : [config]
    }
    case 'connect-ca-roots': return tables.ca.rootRows()
    case 'connect-ca-builtin': return tables.ca.providerStateRows()
    case 'connect-ca-builtin-serial': return [{ Value: tables.ca.lastSerial() }]
    case 'acl-policies': return tables.acl.listPolicies()
    case 'acl-tokens': return tables.acl.tokenRows()
    case 'restore-staging': return tables.restoreStaging.rows()
    default: return assertNever(section, 'snapshot section')
  }
}

/** Frames records and collects them into chunks, keeping the running count and checksum. */
class RecordWriter {
  records = 0
  checksum = 0
  bufferedBytes = 0
  private buffered: Uint8Array[] = []

  add (record: object): void {
    const body = packr.pack(record)
    assert(body.length <= snapshotRecordBytesMax, `snapshot record of ${body.length} bytes exceeds ${snapshotRecordBytesMax}`)
    const frame = new Uint8Array(lengthPrefixBytes + body.length)
    new DataView(frame.buffer).setUint32(0, body.length)
    frame.set(body, lengthPrefixBytes)
    this.checksum = crc32c(frame, this.checksum)
    this.records += 1
    this.buffered.push(frame)
    this.bufferedBytes += frame.length
  }

  * drain (): Generator<Uint8Array> {
    if (this.buffered.length === 0) return
    const chunk = new Uint8Array(this.bufferedBytes)
    let offset = 0
    for (const frame of this.buffered) {
      chunk.set(frame, offset)
      offset += frame.length
    }
    this.buffered = []
    this.bufferedBytes = 0
    yield chunk
  }
}

// ---------------------------------------------------------------------------------------------
// Reading

export interface RestoredState {
  readonly tables: Tables
  readonly appliedIndex: number
}

export interface RestoreOptions {
  /**
   * Restore as if every row had been written at this index: CreateIndex, ModifyIndex, the
   * tables' and service names' indexes (those not 0) and the applied index all become it. For a
   * user's snapshot (PUT /v1/snapshot) applied as the log entry at this index: the snapshot's
   * own indexes come from another point in time (or another cluster) and may lie ahead of this
   * cluster's log, which would break the rule that applied indexes only grow, or behind it,
   * which would send X-Consul-Index backwards. Without it (Raft's own snapshots) indexes are kept.
   * With it, `restore-staging` rows are checked and dropped: an upload under way in the source
   * cluster is not this cluster's.
   */
  readonly stampIndex?: number
}

/** Restores a snapshot given as chunks (one whole buffer is fine) into a fresh set of tables. */
export function restoreFromRecords (chunks: Iterable<Uint8Array>, options: RestoreOptions = {}): RestoredState {
  const restorer = new SnapshotRestorer(options)
  for (const chunk of chunks) restorer.push(chunk)
  return restorer.finish()
}

/** Restores `chunks` and swaps the result into `store` (listeners hear that every table changed). */
export function restoreStore (store: StateStore, chunks: Iterable<Uint8Array>, options: RestoreOptions = {}): void {
  const restored = restoreFromRecords(chunks, options)
  store.replaceTables(restored.tables, restored.appliedIndex)
}

/**
 * Incremental restore: push() chunks as they arrive (any boundaries), then finish(). Throws
 * ERR_INVALID_INPUT on the first malformed record; the instance is then unusable.
 */
export class SnapshotRestorer {
  private pending: Uint8Array = new Uint8Array(0)
  private readonly loader: SnapshotLoader

  constructor (options: RestoreOptions = {}) {
    if (options.stampIndex !== undefined) assert(Number.isSafeInteger(options.stampIndex) && options.stampIndex > 0, `stampIndex must be a positive integer, got ${options.stampIndex}`)
    this.loader = new SnapshotLoader(options.stampIndex)
  }

  push (chunk: Uint8Array): void {
    let data = chunk
    if (this.pending.length > 0) {
      // Only a partial record is ever kept, so this copy is bounded by one record.
      data = new Uint8Array(this.pending.length + chunk.length)
      data.set(this.pending)
      data.set(chunk, this.pending.length)
    }
    let offset = 0
    for (let length = frameLength(data, offset); length !== undefined && offset + lengthPrefixBytes + length <= data.length; length = frameLength(data, offset)) {
      this.loader.accept(data.subarray(offset, offset + lengthPrefixBytes + length))
      offset += lengthPrefixBytes + length
    }
    this.pending = data.slice(offset)
  }

  finish (): RestoredState {
    if (this.pending.length > 0) throw snapshotError(`snapshot ends inside a record (${this.pending.length} bytes left over)`)
    return this.loader.finish()
  }
}

/** The length of the record starting at `offset`, or undefined if its prefix is incomplete. */
function frameLength (data: Uint8Array, offset: number): number | undefined {
  if (data.length - offset < lengthPrefixBytes) return undefined
  const length = new DataView(data.buffer, data.byteOffset + offset, lengthPrefixBytes).getUint32(0)
  if (length > snapshotRecordBytesMax) throw snapshotError(`snapshot record of ${length} bytes exceeds the ${snapshotRecordBytesMax}-byte limit`)
  return length
}

type Stage = 'header' | 'tableIndexes' | 'rows' | 'done'

/** Checks record order and content and loads rows into fresh tables. */
class SnapshotLoader {
  private readonly tables = new Tables()
  private stage: Stage = 'header'
  private appliedIndex = 0
  private tableIndexCount = 0
  private sectionPosition = 0
  private records = 0
  private checksum = 0

  /** The tables' indexes as the snapshot records them, which rows are checked against. */
  private readonly snapshotIndexes = new Map<TableName, number>()

  constructor (private readonly stampIndex: number | undefined) {}

  /** An index as loaded: the snapshot's own, or the stamp (0, "never written", stays 0). */
  private stamped (index: number): number {
    return this.stampIndex === undefined || index === 0 ? index : this.stampIndex
  }

  accept (frame: Uint8Array): void {
    if (this.stage === 'done') throw snapshotError('snapshot has data after its end record')
    const record = expectRecord(decodeRecord(frame.subarray(lengthPrefixBytes)), `snapshot record ${this.records}`)
    if (record.kind === 'end') {
      this.acceptEnd(record)
      return
    }
    this.records += 1
    this.checksum = crc32c(frame, this.checksum)
    if (this.stage === 'header') this.acceptHeader(record)
    else if (this.stage === 'tableIndexes') this.acceptTableIndex(record)
    else this.acceptRow(record)
  }

  finish (): RestoredState {
    if (this.stage !== 'done') throw snapshotError('snapshot ends before its end record')
    return { tables: this.tables, appliedIndex: this.stampIndex ?? this.appliedIndex }
  }

  private acceptHeader (record: Raw): void {
    if (record.kind !== 'header' || record.format !== snapshotFormat) throw snapshotError(`snapshot must start with a ${snapshotFormat} header`)
    if (record.version !== snapshotFormatVersion) throw snapshotError(`snapshot format version must be ${snapshotFormatVersion}, got ${describe(record.version)}`)
    this.appliedIndex = expectIndex(record.appliedIndex, 'snapshot header appliedIndex')
    this.stage = 'tableIndexes'
  }

  private acceptTableIndex (record: Raw): void {
    const expected = tableNames[this.tableIndexCount] as TableName
    if (record.kind !== 'tableIndex' || record.table !== expected) throw snapshotError(`snapshot record ${this.records - 1} must be the index of table ${expected}`)
    const index = expectIndex(record.index, `snapshot index of table ${expected}`)
    if (index > this.appliedIndex) throw snapshotError(`table ${expected} has index ${index}, above the applied index ${this.appliedIndex}`)
    this.snapshotIndexes.set(expected, index)
    this.tables.indexes.load(expected, this.stamped(index))
    this.tableIndexCount += 1
    if (this.tableIndexCount === tableNames.length) this.stage = 'rows'
  }

  private acceptRow (record: Raw): void {
    if (record.kind !== 'row') throw snapshotError(`snapshot record ${this.records - 1} must be a row, got kind ${describe(record.kind)}`)
    const section = expectString(record.section, `snapshot record ${this.records - 1} section`)
    const position = snapshotSections.indexOf(section as SnapshotSection)
    if (position < this.sectionPosition) throw snapshotError(`snapshot section ${describe(section)} is unknown or out of order`)
    this.sectionPosition = position
    const problem = loadRow(this.tables, section as SnapshotSection, record.row, {
      stampIndex: this.stampIndex,
      snapshotIndex: table => this.snapshotIndexes.get(table) ?? 0
    })
    if (problem !== undefined) throw snapshotError(problem)
  }

  private acceptEnd (record: Raw): void {
    if (this.stage !== 'rows') throw snapshotError('snapshot end record comes before the table indexes')
    if (record.records !== this.records) throw snapshotError(`snapshot end record counts ${describe(record.records)} records, found ${this.records}`)
    if (record.checksum !== this.checksum) throw snapshotError(`snapshot checksum mismatch: recorded ${describe(record.checksum)}, computed ${this.checksum}`)
    const problem = this.tables.ca.finishLoad()
    if (problem !== undefined) throw snapshotError(problem)
    this.stage = 'done'
  }
}

function decodeRecord (body: Uint8Array): unknown {
  try {
    return packr.unpack(body)
  } catch (err) {
    throw snapshotError(`snapshot record is not MessagePack: ${(err as Error).message}`, err)
  }
}

/** Validates one row and loads it; returns a problem description instead of loading a bad row. */
interface LoadContext {
  readonly stampIndex: number | undefined
  readonly snapshotIndex: (table: TableName) => number
}

function loadRow (tables: Tables, section: SnapshotSection, value: unknown, context: LoadContext): string | undefined {
  const path = `snapshot ${section} row`
  switch (section) {
    case 'cluster-meta': return loadIndexed('cluster-meta', validateClusterMetaRow(value, path), row => tables.meta.load(row), context)
    case 'nodes': return loadIndexed('nodes', validateNodeRow(value, path), row => tables.catalog.loadNode(row), context)
    case 'services': return loadIndexed('services', validateServiceRow(value, path), row => tables.catalog.loadService(row), context)
    case 'checks': return loadIndexed('checks', validateCheckRow(value, path), row => tables.catalog.loadCheck(row), context)
    case 'service-indexes': return loadServiceIndex(tables, expectRecord(value, path), path, context)
    case 'kvs': return loadIndexed('kvs', validateKvRow(value, path), row => tables.kv.load(row), context)
    case 'connect-intentions': return loadIndexed('connect-intentions', validateIntentionRow(value, path), row => tables.intentions.load(row), context)
    case 'connect-ca-config': return loadIndexed('connect-ca-config', validateCaConfigRow(value, path), row => tables.ca.loadConfig(row), context)
    case 'connect-ca-roots': return loadIndexed('connect-ca-roots', validateCaRootRow(value, path), row => tables.ca.loadRoot(row), context)
    case 'connect-ca-builtin': return loadIndexed('connect-ca-builtin', validateCaProviderStateRow(value, path), row => tables.ca.loadProviderState(row), context)
    case 'connect-ca-builtin-serial':
      tables.ca.loadSerial(expectIndex(expectRecord(value, path).Value, `${path}.Value`))
      return undefined
    case 'acl-policies': return loadIndexed('acl-policies', validateAclPolicyRow(value, path), row => tables.acl.loadPolicy(row), context)
    case 'acl-tokens': return loadIndexed('acl-tokens', validateAclTokenRow(value, path), row => tables.acl.loadToken(row), context)
    case 'restore-staging': {
      const row = validateRestoreStagingRow(value, path)
      return context.stampIndex === undefined ? tables.restoreStaging.load(row) : undefined
    }
    default: return assertNever(section, 'snapshot section')
  }
}

function loadIndexed<R extends RowIndexes> (table: TableName, row: R, load: (row: R) => string | undefined, context: LoadContext): string | undefined {
  const tableIndex = context.snapshotIndex(table)
  if (row.ModifyIndex > tableIndex) return `a ${table} row has ModifyIndex ${row.ModifyIndex}, above the table index ${tableIndex}`
  const stamp = context.stampIndex
  return load(stamp === undefined ? row : Object.freeze({ ...row, CreateIndex: stamp, ModifyIndex: stamp }))
}

function loadServiceIndex (tables: Tables, raw: Raw, path: string, context: LoadContext): string | undefined {
  const name = expectNonEmptyString(raw.Name, `${path}.Name`)
  const index = expectIndex(raw.Index, `${path}.Index`)
  const catalogIndex = Math.max(context.snapshotIndex('nodes'), context.snapshotIndex('services'), context.snapshotIndex('checks'))
  if (index > catalogIndex) return `service index ${JSON.stringify(name)} is ${index}, above the catalog's highest index ${catalogIndex}`
  return tables.catalog.loadServiceNameIndex(name, context.stampIndex === undefined || index === 0 ? index : context.stampIndex)
}

function snapshotError (message: string, cause?: unknown): ControlPlaneError {
  return new ControlPlaneError('ERR_INVALID_INPUT', `invalid snapshot: ${message}`, cause === undefined ? {} : { cause })
}
