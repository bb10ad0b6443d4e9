/**
 * Wire frames of the Raft transport, encoded with msgpackr (plain MessagePack maps, no record
 * extension, so any MessagePack decoder can read them).
 *
 * A frame is one of:
 * - `raft`: a Raft Message for the core;
 * - `request`: a request/response call (proposal or read forwarding), correlated by `id`;
 * - `response`: the answer to a request: `ok` with a result, or an error `{ code, message,
 *   details }` that the caller rebuilds into a ControlPlaneError.
 *
 * Decoding is the validation boundary for network input: `decodeFrame` never throws, checks
 * every field of every Message variant (terms and indexes are non-negative safe integers,
 * append entries are contiguous after prevLogIndex, byte fields are Uint8Arrays), and returns
 * freshly built objects holding only the known fields. Byte fields are copied out of the
 * receive buffer, so a retained log entry does not pin a whole (up to messageBytesMax) frame.
 * Request payloads and response results stay `unknown`: the RPC layer validates them.
 *
 * Called by zmq-transport.ts; tests use validateMessage directly.
 */
import { Packr } from 'msgpackr'
import type { Configuration, Entry, EntryType, Message, MessageType, SnapshotMeta } from './core/types.js'
import { assert, assertNever } from '../util/assert.js'
import type { ErrorCode } from '../util/errors.js'

export const frameVersion = 1
/** Longest node id accepted, in UTF-8 bytes (ids travel in routing ids, capped at 255 bytes). */
export const nodeIdBytesMax = 128

export interface RemoteError {
  readonly code: string
  readonly message: string
  readonly details: Record<string, unknown>
}

export type Frame =
  | { readonly kind: 'raft', readonly message: Message }
  | { readonly kind: 'request', readonly id: number, readonly payload: unknown }
  | { readonly kind: 'response', readonly id: number, readonly ok: true, readonly result: unknown }
  | { readonly kind: 'response', readonly id: number, readonly ok: false, readonly error: RemoteError }

export type DecodeResult =
  | { readonly ok: true, readonly frame: Frame }
  | { readonly ok: false, readonly reason: string }

// One instance for both directions. With useRecords false msgpackr keeps no state between
// calls, and `pack` returns a buffer the caller may keep.
const packr = new Packr({ useRecords: false, mapsAsObjects: true, moreTypes: false })

/** Every ErrorCode, checked complete by the compiler, to tell known remote codes from others. */
const errorCodes: Readonly<Record<ErrorCode, true>> = {
  ERR_INVALID_INPUT: true,
  ERR_NOT_FOUND: true,
  ERR_CAS_MISMATCH: true,
  ERR_NOT_LEADER: true,
  ERR_NO_LEADER: true,
  ERR_LEADERSHIP_LOST: true,
  ERR_PROPOSAL_DROPPED: true,
  ERR_TIMEOUT: true,
  ERR_OVERLOADED: true,
  ERR_STOPPED: true,
  ERR_CORRUPT_STORAGE: true,
  ERR_CONFIG_CHANGE_IN_PROGRESS: true,
  ERR_TRANSPORT: true,
  ERR_PERMISSION_DENIED: true,
  ERR_TOO_LARGE: true,
  ERR_CONFLICT: true,
  ERR_REJECTED: true
}

export function isKnownErrorCode (code: string): code is ErrorCode {
  return Object.hasOwn(errorCodes, code)
}

export function encodeFrame (frame: Frame): Uint8Array {
  switch (frame.kind) {
    case 'raft':
      return packr.pack({ version: frameVersion, kind: 'raft', message: frame.message })
    case 'request':
      assertCorrelationId(frame.id)
      return packr.pack({ version: frameVersion, kind: 'request', id: frame.id, payload: frame.payload })
    case 'response':
      assertCorrelationId(frame.id)
      return frame.ok
        ? packr.pack({ version: frameVersion, kind: 'response', id: frame.id, ok: true, result: frame.result })
        : packr.pack({ version: frameVersion, kind: 'response', id: frame.id, ok: false, error: frame.error })
    default:
      return assertNever(frame, 'frame kind')
  }
}

function assertCorrelationId (id: number): void {
  assert(Number.isSafeInteger(id) && id > 0, `frame id must be a positive safe integer, got ${id}`)
}

/** Decodes and validates one frame. Never throws: malformed input yields `{ ok: false }`. */
export function decodeFrame (bytes: Uint8Array): DecodeResult {
  let raw: unknown
  try {
    raw = packr.unpack(bytes)
  } catch (err) {
    return { ok: false, reason: `not MessagePack: ${String((err as Error | undefined)?.message ?? err)}` }
  }
  try {
    const frame = validateFrame(raw)
    return typeof frame === 'string' ? { ok: false, reason: frame } : { ok: true, frame }
  } catch (err) {
    // Validation only reads plain data, but a hostile getter-free object graph can still be
    // deep enough to overflow the stack; treat that like any other malformed frame.
    return { ok: false, reason: `invalid frame: ${String((err as Error | undefined)?.message ?? err)}` }
  }
}

function validateFrame (raw: unknown): Frame | string {
  if (!isRecord(raw)) return 'frame must be a map'
  if (raw.version !== frameVersion) return `frame.version must be ${frameVersion}, got ${describe(raw.version)}`
  switch (raw.kind) {
    case 'raft': {
      const message = validateMessage(raw.message)
      return typeof message === 'string' ? `frame.message: ${message}` : { kind: 'raft', message }
    }
    case 'request':
      if (!isCorrelationId(raw.id)) return `frame.id must be a positive safe integer, got ${describe(raw.id)}`
      return { kind: 'request', id: raw.id, payload: raw.payload }
    case 'response':
      return validateResponse(raw)
    default:
      return `frame.kind must be raft, request or response, got ${describe(raw.kind)}`
  }
}

function validateResponse (raw: Record<string, unknown>): Frame | string {
  if (!isCorrelationId(raw.id)) return `frame.id must be a positive safe integer, got ${describe(raw.id)}`
  if (raw.ok === true) return { kind: 'response', id: raw.id, ok: true, result: raw.result }
  if (raw.ok !== false) return `frame.ok must be a boolean, got ${describe(raw.ok)}`
  const error = raw.error
  if (!isRecord(error)) return 'frame.error must be a map'
  if (typeof error.code !== 'string' || !error.code.startsWith('ERR_')) return `frame.error.code must be a string starting with ERR_, got ${describe(error.code)}`
  if (typeof error.message !== 'string') return `frame.error.message must be a string, got ${describe(error.message)}`
  const details = error.details === undefined ? {} : error.details
  if (!isRecord(details)) return 'frame.error.details must be a map'
  return { kind: 'response', id: raw.id, ok: false, error: { code: error.code, message: error.message, details: { ...details } } }
}

// ---------------------------------------------------------------------------------------------
// Raft messages.

const messageTypes: Readonly<Record<MessageType, true>> = {
  preVote: true,
  preVoteResponse: true,
  vote: true,
  voteResponse: true,
  append: true,
  appendResponse: true,
  heartbeat: true,
  heartbeatResponse: true,
  snapshot: true,
  snapshotResponse: true,
  timeoutNow: true
}

const entryTypes: Readonly<Record<EntryType, true>> = { command: true, noop: true, config: true }

/**
 * Checks that `value` is a well-formed Message and returns a fresh copy holding only its known
 * fields, or a description of the first problem found. Never throws for plain data.
 */
export function validateMessage (value: unknown): Message | string {
  if (!isRecord(value)) return 'message must be a map'
  const type = value.type
  if (typeof type !== 'string' || !Object.hasOwn(messageTypes, type)) return `message.type must be a known message type, got ${describe(type)}`
  const problem = firstProblem([
    checkNodeId(value.from, 'message.from'),
    checkNodeId(value.to, 'message.to'),
    checkIndex(value.term, 'message.term')
  ])
  if (problem !== undefined) return problem
  const base = { from: value.from as string, to: value.to as string, term: value.term as number }
  return validateMessageBody(type as MessageType, value, base)
}

interface Base { from: string, to: string, term: number }

function validateMessageBody (type: MessageType, value: Record<string, unknown>, base: Base): Message | string {
  switch (type) {
    case 'preVote':
    case 'vote':
      return validateVoteRequest(type, value, base)
    case 'preVoteResponse':
    case 'voteResponse': {
      const problem = checkBoolean(value.granted, 'message.granted')
      return problem ?? { ...base, type, granted: value.granted as boolean }
    }
    case 'append':
      return validateAppend(value, base)
    case 'appendResponse':
      return validateAppendResponse(value, base)
    case 'heartbeat': {
      const problem = firstProblem([checkIndex(value.commit, 'message.commit'), checkIndex(value.readContext, 'message.readContext')])
      return problem ?? { ...base, type, commit: value.commit as number, readContext: value.readContext as number }
    }
    case 'heartbeatResponse': {
      const problem = checkIndex(value.readContext, 'message.readContext')
      return problem ?? { ...base, type, readContext: value.readContext as number }
    }
    case 'snapshot':
      return validateSnapshotRequest(value, base)
    case 'snapshotResponse': {
      const problem = firstProblem([
        checkIndex(value.snapshotIndex, 'message.snapshotIndex'),
        checkIndex(value.nextOffset, 'message.nextOffset'),
        checkBoolean(value.success, 'message.success')
      ])
      return problem ?? { ...base, type, snapshotIndex: value.snapshotIndex as number, nextOffset: value.nextOffset as number, success: value.success as boolean }
    }
    case 'timeoutNow':
      return { ...base, type }
    default:
      return assertNever(type, 'message type')
  }
}

function validateVoteRequest (type: 'preVote' | 'vote', value: Record<string, unknown>, base: Base): Message | string {
  const problem = firstProblem([
    checkIndex(value.lastLogIndex, 'message.lastLogIndex'),
    checkIndex(value.lastLogTerm, 'message.lastLogTerm'),
    type === 'vote' ? checkBoolean(value.leadershipTransfer, 'message.leadershipTransfer') : undefined
  ])
  if (problem !== undefined) return problem
  const lastLogIndex = value.lastLogIndex as number
  const lastLogTerm = value.lastLogTerm as number
  if (type === 'preVote') return { ...base, type, lastLogIndex, lastLogTerm }
  return { ...base, type, lastLogIndex, lastLogTerm, leadershipTransfer: value.leadershipTransfer as boolean }
}

function validateAppend (value: Record<string, unknown>, base: Base): Message | string {
  const problem = firstProblem([
    checkIndex(value.prevLogIndex, 'message.prevLogIndex'),
    checkIndex(value.prevLogTerm, 'message.prevLogTerm'),
    checkIndex(value.leaderCommit, 'message.leaderCommit')
  ])
  if (problem !== undefined) return problem
  const prevLogIndex = value.prevLogIndex as number
  const prevLogTerm = value.prevLogTerm as number
  const entries = validateEntries(value.entries, { prevLogIndex, prevLogTerm, term: base.term })
  if (typeof entries === 'string') return entries
  return { ...base, type: 'append', prevLogIndex, prevLogTerm, entries, leaderCommit: value.leaderCommit as number }
}

/**
 * Entries a leader can send: contiguous right after prevLogIndex, with terms that never
 * decrease, never precede prevLogTerm and never exceed the leader's term (§5.3 log matching).
 * The core may assert these, so they are enforced here rather than crash a replica.
 */
function validateEntries (value: unknown, context: { prevLogIndex: number, prevLogTerm: number, term: number }): Entry[] | string {
  if (!Array.isArray(value)) return 'message.entries must be an array'
  const entries: Entry[] = []
  let previousTerm = context.prevLogTerm
  for (let position = 0; position < value.length; position += 1) {
    const entry = validateEntry(value[position], `message.entries[${position}]`)
    if (typeof entry === 'string') return entry
    const expectedIndex = context.prevLogIndex + position + 1
    if (entry.index !== expectedIndex) return `message.entries[${position}].index must be ${expectedIndex}, got ${entry.index}`
    if (entry.term < previousTerm) return `message.entries[${position}].term ${entry.term} is lower than the term before it, ${previousTerm}`
    if (entry.term > context.term) return `message.entries[${position}].term ${entry.term} exceeds message.term ${context.term}`
    previousTerm = entry.term
    entries.push(entry)
  }
  return entries
}

function validateEntry (value: unknown, what: string): Entry | string {
  if (!isRecord(value)) return `${what} must be a map`
  const problem = firstProblem([
    checkIndex(value.term, `${what}.term`),
    checkIndex(value.index, `${what}.index`),
    typeof value.type === 'string' && Object.hasOwn(entryTypes, value.type) ? undefined : `${what}.type must be command, noop or config, got ${describe(value.type)}`,
    checkBytes(value.data, `${what}.data`)
  ])
  if (problem !== undefined) return problem
  if (value.index === 0) return `${what}.index must be at least 1`
  return { term: value.term as number, index: value.index as number, type: value.type as EntryType, data: copyBytes(value.data as Uint8Array) }
}

function validateAppendResponse (value: Record<string, unknown>, base: Base): Message | string {
  const problem = firstProblem([
    checkBoolean(value.success, 'message.success'),
    checkIndex(value.matchIndex, 'message.matchIndex'),
    checkIndex(value.rejectHintIndex, 'message.rejectHintIndex'),
    checkIndex(value.rejectHintTerm, 'message.rejectHintTerm')
  ])
  if (problem !== undefined) return problem
  return {
    ...base,
    type: 'appendResponse',
    success: value.success as boolean,
    matchIndex: value.matchIndex as number,
    rejectHintIndex: value.rejectHintIndex as number,
    rejectHintTerm: value.rejectHintTerm as number
  }
}

function validateSnapshotRequest (value: Record<string, unknown>, base: Base): Message | string {
  const problem = firstProblem([
    checkIndex(value.offset, 'message.offset'),
    checkIndex(value.totalBytes, 'message.totalBytes'),
    checkBytes(value.chunk, 'message.chunk'),
    checkBoolean(value.done, 'message.done')
  ])
  if (problem !== undefined) return problem
  const meta = validateSnapshotMeta(value.meta)
  if (typeof meta === 'string') return meta
  const offset = value.offset as number
  const chunk = value.chunk as Uint8Array
  const totalBytes = value.totalBytes as number
  if (offset + chunk.length > totalBytes) return `message.offset ${offset} plus chunk length ${chunk.length} exceeds message.totalBytes ${totalBytes}`
  if (value.done === true && offset + chunk.length !== totalBytes) return `message.done is set but offset ${offset} plus chunk length ${chunk.length} is not message.totalBytes ${totalBytes}`
  return { ...base, type: 'snapshot', meta, offset, chunk: copyBytes(chunk), totalBytes, done: value.done as boolean }
}

function validateSnapshotMeta (value: unknown): SnapshotMeta | string {
  if (!isRecord(value)) return 'message.meta must be a map'
  const problem = firstProblem([checkIndex(value.index, 'message.meta.index'), checkIndex(value.term, 'message.meta.term')])
  if (problem !== undefined) return problem
  const configuration = validateConfiguration(value.configuration, 'message.meta.configuration')
  if (typeof configuration === 'string') return configuration
  return { index: value.index as number, term: value.term as number, configuration }
}

export function validateConfiguration (value: unknown, what: string): Configuration | string {
  if (!isRecord(value)) return `${what} must be a map`
  const voters = validateNodeIdList(value.voters, `${what}.voters`)
  if (typeof voters === 'string') return voters
  const learners = validateNodeIdList(value.learners, `${what}.learners`)
  if (typeof learners === 'string') return learners
  const overlap = learners.find(id => voters.includes(id))
  if (overlap !== undefined) return `${what}: ${JSON.stringify(overlap)} is both a voter and a learner`
  if (!isRecord(value.addresses)) return `${what}.addresses must be a map`
  const addresses: Record<string, string> = Object.create(null) as Record<string, string>
  for (const [id, address] of Object.entries(value.addresses)) {
    const idProblem = checkNodeId(id, `${what}.addresses key`)
    if (idProblem !== undefined) return idProblem
    if (typeof address !== 'string') return `${what}.addresses[${JSON.stringify(id)}] must be a string, got ${describe(address)}`
    addresses[id] = address
  }
  const missing = [...voters, ...learners].find(id => !Object.hasOwn(addresses, id))
  if (missing !== undefined) return `${what}.addresses has no entry for member ${JSON.stringify(missing)}`
  return { voters, learners, addresses: { ...addresses } }
}

function validateNodeIdList (value: unknown, what: string): string[] | string {
  if (!Array.isArray(value)) return `${what} must be an array`
  const ids: string[] = []
  for (let position = 0; position < value.length; position += 1) {
    const id: unknown = value[position]
    const problem = checkNodeId(id, `${what}[${position}]`)
    if (problem !== undefined) return problem
    if (ids.includes(id as string)) return `${what} lists ${JSON.stringify(id)} twice`
    ids.push(id as string)
  }
  return ids
}

// ---------------------------------------------------------------------------------------------
// Leaf checks: each returns a description of the problem, or undefined.

function checkIndex (value: unknown, what: string): string | undefined {
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return undefined
  return `${what} must be a non-negative safe integer, got ${describe(value)}`
}

function checkBoolean (value: unknown, what: string): string | undefined {
  return typeof value === 'boolean' ? undefined : `${what} must be a boolean, got ${describe(value)}`
}

function checkBytes (value: unknown, what: string): string | undefined {
  return value instanceof Uint8Array ? undefined : `${what} must be binary data, got ${describe(value)}`
}

export function checkNodeId (value: unknown, what: string): string | undefined {
  if (typeof value !== 'string' || value.length === 0) return `${what} must be a non-empty string, got ${describe(value)}`
  if (Buffer.byteLength(value, 'utf8') > nodeIdBytesMax) return `${what} must be at most ${nodeIdBytesMax} bytes, got ${Buffer.byteLength(value, 'utf8')}`
  return undefined
}

function firstProblem (problems: ReadonlyArray<string | undefined>): string | undefined {
  return problems.find(problem => problem !== undefined)
}

function isCorrelationId (value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value > 0
}

function isRecord (value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value) || value instanceof Uint8Array) return false
  const prototype: unknown = Object.getPrototypeOf(value)
  return prototype === Object.prototype || prototype === null
}

/** A plain Uint8Array that owns its bytes (not a Buffer view into the receive buffer). */
function copyBytes (bytes: Uint8Array): Uint8Array {
  const copy = new Uint8Array(bytes.length)
  copy.set(bytes)
  return copy
}

/** A short, safe rendering of a received value for error messages. */
function describe (value: unknown): string {
  if (value === undefined) return 'undefined'
  if (value instanceof Uint8Array) return `${value.length} bytes of binary data`
  if (typeof value === 'bigint') return `${value}n`
  if (typeof value === 'number' || typeof value === 'boolean' || value === null) return String(value)
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}...` : value)
  if (Array.isArray(value)) return `an array of ${value.length}`
  return typeof value === 'object' ? 'a map' : typeof value
}
