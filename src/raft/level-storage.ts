/**
 * RaftStorage on LevelDB (the `level` package, backed by classic-level). The shell (node.ts)
 * opens one per data directory, calls `load` once at startup, then `save` for every Ready and
 * `compact` after the FSM snapshots.
 *
 * Layout. Keys are binary and sort in log order:
 *   [0x01]                  hard state        framed msgpack [term, votedFor, commit]
 *   [0x02]                  snapshot meta     framed msgpack [index, term, voters, learners, addresses, dataBytes, dataCrc]
 *   [0x03]                  snapshot data     raw bytes, checked against dataBytes and dataCrc in the meta
 *   [0x10, u64 BE index]    log entry         framed msgpack [index, term, typeCode, data]
 * A framed record is [CRC-32C of the body, u32 BE][body], so any flipped bit in a value is caught
 * before it is decoded. An entry's body repeats its index, which catches a value under the wrong key.
 *
 * Invariants:
 * - Stored entries are exactly snapshotIndex+1 .. lastIndex. `bounds` mirrors that in memory so a
 *   write knows what to delete without scanning; it changes only after a batch is durable.
 * - Every write is one `batch(..., { sync: true })`, so it is atomic and on disk when it resolves.
 * - Operations run one at a time in call order (an internal queue), so bookkeeping never races.
 * - After a failed write the on-disk state is unknown, so every later operation rejects.
 */
import { Level } from 'level'
import { Packr } from 'msgpackr'
import type { Configuration, Entry, EntryType, HardState, Snapshot, SnapshotMeta } from './core/types.js'
import { emptyHardState, type PersistedState, type RaftStorage, type SaveBatch } from './storage.js'
import { boundsAfterCompact, boundsAfterSave, copyBytes, copySnapshot, type StoredBounds } from './memory-storage.js'
import { assert } from '../util/assert.js'
import { crc32c } from '../util/crc32.js'
import { ControlPlaneError } from '../util/errors.js'

/** The subset of a pino logger this module uses: fields first, then a fixed message. */
export interface StorageLogger {
  info (fields: Record<string, unknown>, message: string): void
  warn (fields: Record<string, unknown>, message: string): void
}

export interface LevelStorageOptions {
  /** Directory of the LevelDB database, created if missing. Holds one node's Raft state only. */
  readonly path: string
  readonly logger: StorageLogger
}

// ---------------------------------------------------------------------------------------------
// Keys. Exported for tests and offline tools that inspect or damage a database on purpose.

const hardStatePrefix = 0x01
const snapshotMetaPrefix = 0x02
const snapshotDataPrefix = 0x03
const entryPrefix = 0x10
const entryKeyBytes = 9
const twoToThe32 = 2 ** 32

export const levelStorageKeys = Object.freeze({
  hardState: (): Uint8Array => Uint8Array.of(hardStatePrefix),
  snapshotMeta: (): Uint8Array => Uint8Array.of(snapshotMetaPrefix),
  snapshotData: (): Uint8Array => Uint8Array.of(snapshotDataPrefix),
  entry: (index: number): Uint8Array => entryKey(index)
})

function entryKey (index: number): Uint8Array {
  assert(Number.isSafeInteger(index) && index >= 0, `entry key index must be a non-negative safe integer, got ${index}`)
  const key = new Uint8Array(entryKeyBytes)
  const view = new DataView(key.buffer)
  key[0] = entryPrefix
  // Big-endian so that byte order is numeric order; split in two because indexes exceed 32 bits.
  view.setUint32(1, Math.floor(index / twoToThe32))
  view.setUint32(5, index % twoToThe32)
  return key
}

/** The index in an entry key, or null when the key is not a well-formed entry key. */
function entryIndexOfKey (key: Uint8Array): number | null {
  if (key.length !== entryKeyBytes || key[0] !== entryPrefix) return null
  const view = new DataView(key.buffer, key.byteOffset, key.byteLength)
  const index = view.getUint32(1) * twoToThe32 + view.getUint32(5)
  return Number.isSafeInteger(index) ? index : null
}

/** Bounds for iterating every entry key from `fromIndex` on. */
function entryRange (fromIndex: number): { gte: Uint8Array, lt: Uint8Array } {
  return { gte: entryKey(fromIndex), lt: Uint8Array.of(entryPrefix + 1) }
}

// ---------------------------------------------------------------------------------------------
// Records: [crc32c(body) u32 BE][body]. Decoders never throw: they return why a record is bad.

const checksumBytes = 4

// Explicit options rather than msgpackr's defaults, which have changed between versions: plain
// maps and arrays only, and 64-bit integers (indexes above 2^32) decoded as numbers.
const packr = new Packr({ useRecords: false, mapsAsObjects: true, int64AsType: 'number', moreTypes: false, structuredClone: false })

type CorruptionReason = 'checksum mismatch' | 'undecodable' | 'malformed' | 'wrong key' | 'missing'

type Decoded<T> = { readonly ok: true, readonly value: T } | { readonly ok: false, readonly reason: CorruptionReason }

function frameRecord (body: Uint8Array): Uint8Array {
  const value = new Uint8Array(checksumBytes + body.length)
  new DataView(value.buffer).setUint32(0, crc32c(body))
  value.set(body, checksumBytes)
  return value
}

function unframeRecord (value: Uint8Array): Decoded<unknown> {
  if (value.length < checksumBytes) return { ok: false, reason: 'malformed' }
  const body = value.subarray(checksumBytes)
  const stored = new DataView(value.buffer, value.byteOffset, value.byteLength).getUint32(0)
  if (stored !== crc32c(body)) return { ok: false, reason: 'checksum mismatch' }
  try {
    return { ok: true, value: packr.unpack(body) }
  } catch {
    // The checksum matched, so the bytes are what was written: a format this code cannot read.
    return { ok: false, reason: 'undecodable' }
  }
}

const entryTypeCodes: Readonly<Record<EntryType, number>> = Object.freeze({ command: 1, noop: 2, config: 3 })
const entryTypesByCode: ReadonlyMap<number, EntryType> = new Map(
  Object.entries(entryTypeCodes).map(([type, code]) => [code, type as EntryType]))

function encodeEntry (entry: Entry): Uint8Array {
  return frameRecord(packr.pack([entry.index, entry.term, entryTypeCodes[entry.type], entry.data]))
}

function decodeEntry (keyIndex: number, value: Uint8Array): Decoded<Entry> {
  const record = unframeRecord(value)
  if (!record.ok) return record
  const fields = record.value
  if (!Array.isArray(fields) || fields.length !== 4) return { ok: false, reason: 'malformed' }
  const [index, term, typeCode, data] = fields as unknown[]
  const type = typeof typeCode === 'number' ? entryTypesByCode.get(typeCode) : undefined
  if (!isIndex(index) || !isIndex(term) || type === undefined || !(data instanceof Uint8Array)) return { ok: false, reason: 'malformed' }
  if (index !== keyIndex) return { ok: false, reason: 'wrong key' }
  return { ok: true, value: { index, term, type, data: copyBytes(data) } }
}

function encodeHardState (hardState: HardState): Uint8Array {
  return frameRecord(packr.pack([hardState.term, hardState.votedFor, hardState.commit]))
}

function decodeHardState (value: Uint8Array): Decoded<HardState> {
  const record = unframeRecord(value)
  if (!record.ok) return record
  const fields = record.value
  if (!Array.isArray(fields) || fields.length !== 3) return { ok: false, reason: 'malformed' }
  const [term, votedFor, commit] = fields as unknown[]
  if (!isIndex(term) || !isIndex(commit) || !(votedFor === null || typeof votedFor === 'string')) return { ok: false, reason: 'malformed' }
  return { ok: true, value: { term, votedFor, commit } }
}

interface StoredSnapshotMeta {
  readonly meta: SnapshotMeta
  readonly dataBytes: number
  readonly dataCrc: number
}

function encodeSnapshotMeta (snapshot: Snapshot): Uint8Array {
  const { index, term, configuration } = snapshot.meta
  const fields = [index, term, configuration.voters, configuration.learners, configuration.addresses, snapshot.data.length, crc32c(snapshot.data)]
  return frameRecord(packr.pack(fields))
}

function decodeSnapshotMeta (value: Uint8Array): Decoded<StoredSnapshotMeta> {
  const record = unframeRecord(value)
  if (!record.ok) return record
  const fields = record.value
  if (!Array.isArray(fields) || fields.length !== 7) return { ok: false, reason: 'malformed' }
  const [index, term, voters, learners, addresses, dataBytes, dataCrc] = fields as unknown[]
  const configuration = configurationOf(voters, learners, addresses)
  if (!isIndex(index) || !isIndex(term) || !isIndex(dataBytes) || !isIndex(dataCrc) || configuration === null) {
    return { ok: false, reason: 'malformed' }
  }
  return { ok: true, value: { meta: { index, term, configuration }, dataBytes, dataCrc } }
}

function configurationOf (voters: unknown, learners: unknown, addresses: unknown): Configuration | null {
  if (!isStringArray(voters) || !isStringArray(learners)) return null
  if (typeof addresses !== 'object' || addresses === null || Array.isArray(addresses)) return null
  const entries = Object.entries(addresses)
  if (!entries.every(([, address]) => typeof address === 'string')) return null
  return { voters, learners, addresses: Object.fromEntries(entries) as Record<string, string> }
}

function isIndex (value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0
}

function isStringArray (value: unknown): value is string[] {
  return Array.isArray(value) && value.every(item => typeof item === 'string')
}

// ---------------------------------------------------------------------------------------------
// Errors for damage this node cannot repair by itself.

const corruptionPhrases: Readonly<Record<CorruptionReason, string>> = Object.freeze({
  'checksum mismatch': 'fails its checksum',
  undecodable: 'cannot be decoded',
  malformed: 'has an invalid layout',
  'wrong key': 'is stored under the wrong key',
  missing: 'is missing'
})

const corruptionAdvice = 'the node stops rather than serve wrong data. Restore this server from a snapshot or remove its ' +
  'data directory and re-join it to the cluster'

function corruptEntryError (options: { path: string, index: number, reason: CorruptionReason, commit: number }): ControlPlaneError {
  const { path, index, reason, commit } = options
  const message = `log entry ${index} in ${path} ${corruptionPhrases[reason]} and is at or below the commit index ${commit}; ${corruptionAdvice}`
  return new ControlPlaneError('ERR_CORRUPT_STORAGE', message, { details: { path, index, reason, commit } })
}

function corruptRecordError (options: { path: string, record: 'hard state' | 'snapshot', reason: CorruptionReason }): ControlPlaneError {
  const { path, record, reason } = options
  const message = `the ${record} record in ${path} ${corruptionPhrases[reason]}; ${corruptionAdvice}`
  return new ControlPlaneError('ERR_CORRUPT_STORAGE', message, { details: { path, record, reason } })
}

// ---------------------------------------------------------------------------------------------

type Database = Level<Uint8Array, Uint8Array>
type BatchOperation = { type: 'put', key: Uint8Array, value: Uint8Array } | { type: 'del', key: Uint8Array }

interface EntryFault {
  readonly index: number
  readonly reason: CorruptionReason
}

interface EntryScan {
  /** The good, contiguous prefix of the log. */
  readonly entries: Entry[]
  /** The first bad or missing index, if any. */
  readonly fault: EntryFault | null
  /** Every stored key from the fault on, to delete when the fault is above the commit index. */
  readonly tailKeys: Uint8Array[]
}

export class LevelStorage implements RaftStorage {
  private readonly db: Database
  private readonly path: string
  private readonly logger: StorageLogger
  private bounds: StoredBounds
  private queue: Promise<unknown> = Promise.resolve()
  private isClosed = false
  private writeFailure: unknown = null

  private constructor (db: Database, options: LevelStorageOptions, bounds: StoredBounds) {
    this.db = db
    this.path = options.path
    this.logger = options.logger
    this.bounds = bounds
  }

  /**
   * Opens (creating if missing) the database at `options.path`. Reads only the small records and
   * the last entry key; `load` verifies everything. Rejects if another process holds the database,
   * and with ERR_CORRUPT_STORAGE if the hard state or snapshot meta record is damaged.
   */
  static async open (options: LevelStorageOptions): Promise<LevelStorage> {
    assert(options.path.length > 0, 'LevelStorage path must not be empty')
    const db: Database = new Level<Uint8Array, Uint8Array>(options.path, { keyEncoding: 'view', valueEncoding: 'view' })
    await db.open({ createIfMissing: true, errorIfExists: false })
    let bounds: StoredBounds
    try {
      bounds = await readBounds(db, options.path)
    } catch (err) {
      await db.close()
      throw err
    }
    options.logger.info({ path: options.path, ...bounds.hardState, snapshotIndex: bounds.snapshotIndex, lastIndex: bounds.lastIndex },
      'raft storage opened')
    return new LevelStorage(db, options, bounds)
  }

  /**
   * Reads and verifies everything. A bad or missing entry above the commit index is dropped
   * with every entry after it (synced) and a warning; one at or below it rejects with
   * ERR_CORRUPT_STORAGE, as does a bad hard state or snapshot record.
   */
  async load (): Promise<PersistedState> {
    return await this.enqueue(async () => await this.loadNow())
  }

  async save (batch: SaveBatch): Promise<void> {
    await this.enqueue(async () => {
      const after = boundsAfterSave(this.bounds, batch)
      const operations = deleteOperations(this.bounds, after)
      if (batch.snapshot !== null) operations.push(...snapshotOperations(batch.snapshot))
      for (const entry of batch.entries) operations.push({ type: 'put', key: entryKey(entry.index), value: encodeEntry(entry) })
      if (batch.hardState !== null) operations.push({ type: 'put', key: levelStorageKeys.hardState(), value: encodeHardState(batch.hardState) })
      await this.write(operations, after)
    })
  }

  async compact (snapshot: Snapshot): Promise<void> {
    await this.enqueue(async () => {
      const after = boundsAfterCompact(this.bounds, snapshot)
      const operations = deleteOperations(this.bounds, after)
      operations.push(...snapshotOperations(snapshot))
      if (after.hardState !== this.bounds.hardState) operations.push({ type: 'put', key: levelStorageKeys.hardState(), value: encodeHardState(after.hardState) })
      await this.write(operations, after)
    })
  }

  /** Waits for queued operations, then closes the database. Calling it again does nothing. */
  async close (): Promise<void> {
    if (this.isClosed) return
    this.isClosed = true
    await this.queue
    await this.db.close()
  }

  private async enqueue<T> (operation: () => Promise<T>): Promise<T> {
    assert(!this.isClosed, `LevelStorage at ${this.path} is closed`)
    const result = this.queue.then(async () => {
      if (this.writeFailure !== null) {
        throw new Error(`raft storage at ${this.path} is unusable after a failed write; restart the node`, { cause: this.writeFailure })
      }
      return await operation()
    })
    // A rejected operation reports to its own caller and must not stall the ones queued after it.
    this.queue = result.catch(() => undefined)
    return await result
  }

  private async write (operations: BatchOperation[], after: StoredBounds): Promise<void> {
    try {
      await this.db.batch(operations, { sync: true })
    } catch (err) {
      this.writeFailure = err
      throw err
    }
    this.bounds = after
  }

  private async loadNow (): Promise<PersistedState> {
    const hardState = await readHardState(this.db, this.path)
    const snapshot = await readSnapshot(this.db, this.path)
    const snapshotIndex = snapshot?.meta.index ?? 0
    const scan = await scanEntries(this.db, snapshotIndex + 1)
    const lastIndex = snapshotIndex + scan.entries.length
    // Entries missing at the end count as a fault too: if they were committed, they are lost.
    const fault = scan.fault ?? (lastIndex < hardState.commit ? { index: lastIndex + 1, reason: 'missing' as const } : null)
    if (fault !== null) await this.maybeTruncateTail(fault, scan.tailKeys, hardState.commit)
    this.bounds = { hardState, snapshotIndex, lastIndex }
    assert(hardState.commit <= lastIndex, `commit index ${hardState.commit} is beyond the last log index ${lastIndex} after load`)
    return { hardState, snapshot, entries: scan.entries }
  }

  /**
   * An uncommitted tail may be torn or damaged; nothing depends on it (the leader resends it), so
   * it is dropped. A committed entry cannot be recovered here, so the node refuses to start.
   */
  private async maybeTruncateTail (fault: EntryFault, tailKeys: Uint8Array[], commit: number): Promise<void> {
    if (fault.index <= commit) throw corruptEntryError({ path: this.path, index: fault.index, reason: fault.reason, commit })
    if (tailKeys.length > 0) {
      const operations: BatchOperation[] = tailKeys.map(key => ({ type: 'del', key }))
      await this.write(operations, this.bounds)
    }
    this.logger.warn({ index: fault.index, reason: fault.reason, commit, droppedCount: tailKeys.length, path: this.path },
      'truncated corrupt log tail')
  }
}

/**
 * Deletes for every stored entry outside the range the write leaves behind. Before the write the
 * store holds (before.snapshotIndex, before.lastIndex]; afterwards it holds
 * (after.snapshotIndex, after.lastIndex], and any entry in that range is either kept or rewritten
 * by the same batch. So the deletes are the old range minus the new one: at most two runs.
 */
function deleteOperations (before: StoredBounds, after: StoredBounds): BatchOperation[] {
  const operations: BatchOperation[] = []
  const lowEnd = Math.min(before.lastIndex, after.snapshotIndex)
  for (let index = before.snapshotIndex + 1; index <= lowEnd; index += 1) operations.push({ type: 'del', key: entryKey(index) })
  const highStart = Math.max(before.snapshotIndex + 1, after.lastIndex + 1)
  for (let index = highStart; index <= before.lastIndex; index += 1) operations.push({ type: 'del', key: entryKey(index) })
  assert(operations.length <= before.lastIndex - before.snapshotIndex, 'deletes exceed the stored entries')
  return operations
}

function snapshotOperations (snapshot: Snapshot): BatchOperation[] {
  return [
    { type: 'put', key: levelStorageKeys.snapshotMeta(), value: encodeSnapshotMeta(snapshot) },
    { type: 'put', key: levelStorageKeys.snapshotData(), value: snapshot.data }
  ]
}

async function readBounds (db: Database, path: string): Promise<StoredBounds> {
  const hardState = await readHardState(db, path)
  const stored = await readSnapshotMeta(db, path)
  const snapshotIndex = stored?.meta.index ?? 0
  // The last well-formed entry key. Malformed keys are skipped here; load() deals with them.
  let lastKeyIndex = 0
  for await (const key of db.keys({ ...entryRange(0), reverse: true })) {
    const index = entryIndexOfKey(key)
    if (index !== null) {
      lastKeyIndex = index
      break
    }
  }
  return { hardState, snapshotIndex, lastIndex: Math.max(snapshotIndex, lastKeyIndex) }
}

async function readHardState (db: Database, path: string): Promise<HardState> {
  const value = await db.get(levelStorageKeys.hardState()) as Uint8Array | undefined
  if (value === undefined) return emptyHardState
  const decoded = decodeHardState(value)
  if (!decoded.ok) throw corruptRecordError({ path, record: 'hard state', reason: decoded.reason })
  return decoded.value
}

async function readSnapshotMeta (db: Database, path: string): Promise<StoredSnapshotMeta | null> {
  const value = await db.get(levelStorageKeys.snapshotMeta()) as Uint8Array | undefined
  if (value === undefined) return null
  const decoded = decodeSnapshotMeta(value)
  if (!decoded.ok) throw corruptRecordError({ path, record: 'snapshot', reason: decoded.reason })
  return decoded.value
}

async function readSnapshot (db: Database, path: string): Promise<Snapshot | null> {
  const stored = await readSnapshotMeta(db, path)
  if (stored === null) return null
  const data = await db.get(levelStorageKeys.snapshotData()) as Uint8Array | undefined
  if (data === undefined) throw corruptRecordError({ path, record: 'snapshot', reason: 'missing' })
  if (data.length !== stored.dataBytes || crc32c(data) !== stored.dataCrc) {
    throw corruptRecordError({ path, record: 'snapshot', reason: 'checksum mismatch' })
  }
  return copySnapshot({ meta: stored.meta, data })
}

/** Reads entries from `fromIndex` in order, stopping at the first bad or missing one. */
async function scanEntries (db: Database, fromIndex: number): Promise<EntryScan> {
  const entries: Entry[] = []
  const tailKeys: Uint8Array[] = []
  let fault: EntryFault | null = null
  for await (const [key, value] of db.iterator(entryRange(fromIndex))) {
    if (fault === null) fault = checkEntry(fromIndex + entries.length, key, value, entries)
    if (fault !== null) tailKeys.push(copyBytes(key))
  }
  return { entries, fault, tailKeys }
}

/** Appends the entry stored under `key` to `entries` if it is the expected one; else the fault. */
function checkEntry (expectedIndex: number, key: Uint8Array, value: Uint8Array, entries: Entry[]): EntryFault | null {
  const keyIndex = entryIndexOfKey(key)
  // Keys arrive in ascending order from expectedIndex, so any other index means a gap.
  if (keyIndex !== expectedIndex) return { index: expectedIndex, reason: keyIndex === null ? 'malformed' : 'missing' }
  const decoded = decodeEntry(keyIndex, value)
  if (!decoded.ok) return { index: expectedIndex, reason: decoded.reason }
  entries.push(decoded.value)
  return null
}
