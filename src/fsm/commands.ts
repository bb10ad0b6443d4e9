/**
 * The commands the Raft log carries to the FSM: a discriminated union keyed by `type`, encoded
 * as one format byte followed by a MessagePack map.
 *
 * Every value that is not a pure function of the state (times, IDs, keys, certificates, the
 * intention's ID, a token's CreateTime) is decided by the leader's RPC layer and carried here;
 * the FSM only records it.
 *
 * Validation runs on both sides. `encodeCommand` validates before anything is proposed and
 * throws an ERR_INVALID_INPUT ControlPlaneError, so a malformed command never reaches the log
 * (where it would stop every replica). `decodeCommand` validates again and throws the same kind
 * of error on garbage; the FSM turns that into an AssertionError because a committed entry
 * that cannot be applied means this replica cannot follow the log. Both return fresh, frozen
 * objects holding only the known fields, with plain-data maps in sorted key order, so the same
 * command always encodes to the same bytes.
 *
 * Callers: RPC endpoints (encodeCommand, then propose), fsm.ts (decodeCommand), tests.
 */
import { Packr } from 'msgpackr'
import { assertNever } from '../util/assert.js'
import { ControlPlaneError } from '../util/errors.js'
import {
  validateAclPolicy, validateAclToken, validateCaConfig, validateCaProviderState, validateCaRootSet,
  validateIntention, validateMetaEntry, validatePair, validateRegistration
} from './inputs.js'
import {
  describe, expectArray, expectBoolean, expectBytes, expectIndex, expectInteger, expectNonEmptyString, expectOneOf, expectRecord,
  expectString, invalid, optional, type Raw
} from './shape.js'
import { kvTxnOpsMax } from './tables/kv-txn.js'
import type { RestoreChunkOutcome } from './tables/restore-staging.js'
import type {
  AclPolicyInput, AclTokenInput, CaConfigInput, CaProviderStateInput, CaRootInput, CatalogDeregistration,
  CatalogRegistration, ClusterMetaEntry, IntentionInput, IntentionTarget, IntentionUpsertMode, KvTxnOp, KvTxnOutcome,
  KvTxnVerb, WriteOutcome
} from './types.js'

export { kvTxnOpsMax } from './tables/kv-txn.js'

/** Largest restoreChunk.Data; the server sends less (see snapshotRestore in src/rpc/server-api.ts). */
export const restoreChunkBytesMax = 4 * 1024 * 1024
/** Longest restore session ID (the server uses a UUID). */
export const restoreSessionLengthMax = 128

/** First byte of every encoded command; bump it when the encoding changes incompatibly. */
export const commandFormatVersion = 1

export type Command =
  /** Changes nothing; a write barrier (its apply proves everything before it was applied). */
  | { readonly type: 'noop' }
  /** PUT /v1/kv/<key>; with Cas, only if the key's ModifyIndex equals it (0: only if absent). */
  | { readonly type: 'kvSet', readonly Key: string, readonly Value: Uint8Array, readonly Flags: number, readonly Cas?: number }
  /** DELETE /v1/kv/<key>[?recurse][?cas]; Recurse and Cas are exclusive. */
  | { readonly type: 'kvDelete', readonly Key: string, readonly Recurse: boolean, readonly Cas?: number }
  /** PUT /v1/txn with KV ops: all or nothing. */
  | { readonly type: 'kvTxn', readonly Ops: readonly KvTxnOp[] }
  | { readonly type: 'catalogRegister', readonly Registration: CatalogRegistration }
  | { readonly type: 'catalogDeregister', readonly Deregistration: CatalogDeregistration }
  | { readonly type: 'intentionUpsert', readonly Mode: IntentionUpsertMode, readonly Intention: IntentionInput }
  | { readonly type: 'intentionDelete', readonly Target: IntentionTarget }
  /** With Cas, only if the stored config's ModifyIndex equals it (0: only if none). */
  | { readonly type: 'caSetConfig', readonly Config: CaConfigInput, readonly Cas?: number }
  /** Replaces the root set (and the config, in a rotation); with Cas, only if the roots table index equals it. */
  | { readonly type: 'caSetRoots', readonly Roots: readonly CaRootInput[], readonly Cas?: number, readonly Config?: CaConfigInput }
  | { readonly type: 'caSetProviderState', readonly State: CaProviderStateInput }
  | { readonly type: 'caDeleteProviderState', readonly ID: string }
  /**
   * Allocates the next certificate serial, or a block of Count serials (the leader hands leaf
   * serials out of a block so that signing needs no log write per certificate); the result is
   * the last serial allocated.
   */
  | { readonly type: 'caIncrementSerial', readonly Count?: number }
  | { readonly type: 'aclTokenSet', readonly Token: AclTokenInput }
  | { readonly type: 'aclTokenDelete', readonly AccessorID: string }
  | { readonly type: 'aclPolicySet', readonly Policy: AclPolicyInput }
  | { readonly type: 'aclPolicyDelete', readonly ID: string }
  /** With IfAbsent, stores nothing unless every key is new (the result says whether it stored). */
  | { readonly type: 'setClusterMeta', readonly Entries: readonly ClusterMetaEntry[], readonly IfAbsent: boolean }
  /**
   * PUT /v1/snapshot travels as chunks, then a finish (src/fsm/tables/restore-staging.ts has the
   * rules). Chunks only stage bytes; restoreFinish replaces the whole state, every row taking the
   * finish entry's index; restoreAbort drops the staged chunks of its session.
   */
  | { readonly type: 'restoreChunk', readonly Session: string, readonly Seq: number, readonly Data: Uint8Array }
  | { readonly type: 'restoreFinish', readonly Session: string, readonly Chunks: number, readonly Bytes: number, readonly Crc32c: number }
  | { readonly type: 'restoreAbort', readonly Session: string }

export type CommandType = Command['type']
export type CommandOf<T extends CommandType> = Extract<Command, { readonly type: T }>

/** What the FSM returns for each command type (the `result` a proposal settles with). */
export interface CommandResults {
  noop: null
  /** false: CAS mismatch, nothing changed. */
  kvSet: boolean
  /** false: CAS mismatch, nothing changed. */
  kvDelete: boolean
  kvTxn: KvTxnOutcome
  catalogRegister: WriteOutcome
  catalogDeregister: WriteOutcome
  intentionUpsert: WriteOutcome<{ ID: string }>
  /** Whether an intention was deleted. */
  intentionDelete: boolean
  caSetConfig: boolean
  caSetRoots: boolean
  caSetProviderState: null
  caDeleteProviderState: boolean
  /** The last serial allocated (the block is result - Count + 1 .. result). */
  caIncrementSerial: number
  aclTokenSet: WriteOutcome
  aclTokenDelete: boolean
  aclPolicySet: WriteOutcome
  aclPolicyDelete: boolean
  setClusterMeta: boolean
  /** ok: false (ERR_CONFLICT) when the chunk is out of order or its upload was replaced; nothing changed. */
  restoreChunk: RestoreChunkOutcome
  /** ok: false when the upload does not match the claim or is not a valid snapshot; the state is unchanged. */
  restoreFinish: WriteOutcome
  /** Whether staged chunks were dropped. */
  restoreAbort: boolean
}

export type CommandResult<T extends CommandType> = CommandResults[T]

/** The largest serial block one command may allocate. */
export const caSerialBlockMax = 1 << 20

// useRecords false keeps the encoding plain MessagePack with no state between calls;
// int64AsType 'number' decodes 64-bit integers as numbers (validation then rejects unsafe ones).
const packr = new Packr({ useRecords: false, mapsAsObjects: true, moreTypes: false, int64AsType: 'number' })

/** Validates `command` and encodes it. Throws ERR_INVALID_INPUT if it is malformed. */
export function encodeCommand (command: Command): Uint8Array {
  const valid = validateCommand(command)
  const body = packr.pack(valid)
  const bytes = new Uint8Array(body.length + 1)
  bytes[0] = commandFormatVersion
  bytes.set(body, 1)
  return bytes
}

/** Decodes and validates one command. Throws ERR_INVALID_INPUT on anything malformed. */
export function decodeCommand (bytes: Uint8Array): Command {
  if (bytes.length < 2) throw new ControlPlaneError('ERR_INVALID_INPUT', `command must be at least 2 bytes, got ${bytes.length}`)
  if (bytes[0] !== commandFormatVersion) {
    throw new ControlPlaneError('ERR_INVALID_INPUT', `command format version must be ${commandFormatVersion}, got ${bytes[0]}`)
  }
  let raw: unknown
  try {
    raw = packr.unpack(bytes.subarray(1))
  } catch (err) {
    throw new ControlPlaneError('ERR_INVALID_INPUT', `command is not MessagePack: ${(err as Error).message}`, { cause: err })
  }
  return validateCommand(raw)
}

/** Checks a command of unknown provenance and returns a fresh, canonical, frozen copy. */
export function validateCommand (value: unknown): Command {
  const raw = expectRecord(value, 'command')
  const type = raw.type
  if (typeof type !== 'string' || !Object.hasOwn(validators, type)) {
    throw invalid('command.type', 'a known command type', type)
  }
  try {
    return validators[type as CommandType](raw)
  } catch (err) {
    // Deeply nested hostile input can overflow the stack; report it like any other garbage.
    if (err instanceof RangeError) throw new ControlPlaneError('ERR_INVALID_INPUT', `invalid ${type} command: ${err.message}`, { cause: err })
    throw err
  }
}

type Validators = { readonly [T in CommandType]: (raw: Raw) => CommandOf<T> }

const validators: Validators = {
  noop: () => Object.freeze({ type: 'noop' }),
  kvSet: raw => withCas({
    type: 'kvSet',
    Key: expectNonEmptyString(raw.Key, 'kvSet.Key'),
    Value: expectBytes(raw.Value, 'kvSet.Value'),
    Flags: expectIndex(raw.Flags, 'kvSet.Flags')
  }, raw.Cas, 'kvSet.Cas'),
  kvDelete: validateKvDelete,
  kvTxn: raw => Object.freeze({ type: 'kvTxn', Ops: expectArray(raw.Ops, 'kvTxn.Ops', validateKvTxnOp, kvTxnOpsMax) }),
  catalogRegister: raw => Object.freeze({ type: 'catalogRegister', Registration: validateRegistration(raw.Registration, 'catalogRegister.Registration') }),
  catalogDeregister: raw => Object.freeze({ type: 'catalogDeregister', Deregistration: validateDeregistration(raw.Deregistration, 'catalogDeregister.Deregistration') }),
  intentionUpsert: raw => Object.freeze({
    type: 'intentionUpsert',
    Mode: expectOneOf(raw.Mode, 'intentionUpsert.Mode', ['create', 'update', 'upsert'] as const),
    Intention: validateIntention(raw.Intention, 'intentionUpsert.Intention')
  }),
  intentionDelete: raw => Object.freeze({ type: 'intentionDelete', Target: validateIntentionTarget(raw.Target, 'intentionDelete.Target') }),
  caSetConfig: raw => withCas({ type: 'caSetConfig', Config: validateCaConfig(raw.Config, 'caSetConfig.Config') }, raw.Cas, 'caSetConfig.Cas'),
  caSetRoots: validateCaSetRoots,
  caSetProviderState: raw => Object.freeze({ type: 'caSetProviderState', State: validateCaProviderState(raw.State, 'caSetProviderState.State') }),
  caDeleteProviderState: raw => Object.freeze({ type: 'caDeleteProviderState', ID: expectNonEmptyString(raw.ID, 'caDeleteProviderState.ID') }),
  caIncrementSerial: raw => {
    const count = optional(raw.Count, 'caIncrementSerial.Count', (value, path) => expectInteger(value, path, { min: 1, max: caSerialBlockMax }))
    return Object.freeze(count === undefined ? { type: 'caIncrementSerial' } : { type: 'caIncrementSerial', Count: count })
  },
  aclTokenSet: raw => Object.freeze({ type: 'aclTokenSet', Token: validateAclToken(raw.Token, 'aclTokenSet.Token') }),
  aclTokenDelete: raw => Object.freeze({ type: 'aclTokenDelete', AccessorID: expectNonEmptyString(raw.AccessorID, 'aclTokenDelete.AccessorID') }),
  aclPolicySet: raw => Object.freeze({ type: 'aclPolicySet', Policy: validateAclPolicy(raw.Policy, 'aclPolicySet.Policy') }),
  aclPolicyDelete: raw => Object.freeze({ type: 'aclPolicyDelete', ID: expectNonEmptyString(raw.ID, 'aclPolicyDelete.ID') }),
  setClusterMeta: validateSetClusterMeta,
  restoreChunk: validateRestoreChunk,
  restoreFinish: raw => Object.freeze({
    type: 'restoreFinish',
    Session: validateRestoreSession(raw.Session, 'restoreFinish.Session'),
    Chunks: expectIndex(raw.Chunks, 'restoreFinish.Chunks'),
    Bytes: expectIndex(raw.Bytes, 'restoreFinish.Bytes'),
    Crc32c: expectInteger(raw.Crc32c, 'restoreFinish.Crc32c', { min: 0, max: 0xffff_ffff })
  }),
  restoreAbort: raw => Object.freeze({ type: 'restoreAbort', Session: validateRestoreSession(raw.Session, 'restoreAbort.Session') })
}

/** Adds `Cas` only when present, so an unconditional command has no Cas key at all. */
function withCas<T extends object> (command: T, cas: unknown, path: string): T & { readonly Cas?: number } {
  const checked = optional(cas, path, expectIndex)
  return Object.freeze(checked === undefined ? command : { ...command, Cas: checked })
}

function validateKvDelete (raw: Raw): CommandOf<'kvDelete'> {
  const recurse = expectBoolean(raw.Recurse, 'kvDelete.Recurse')
  // A recursive delete may name the empty prefix (everything); a single delete needs a key.
  const key = recurse ? expectString(raw.Key, 'kvDelete.Key') : expectNonEmptyString(raw.Key, 'kvDelete.Key')
  const command = withCas({ type: 'kvDelete' as const, Key: key, Recurse: recurse }, raw.Cas, 'kvDelete.Cas')
  if (recurse && command.Cas !== undefined) throw invalid('kvDelete.Cas', 'absent when Recurse is set', command.Cas)
  return command
}

const kvTxnVerbs: readonly KvTxnVerb[] = [
  'set', 'cas', 'get', 'get-or-empty', 'get-tree', 'check-index', 'check-not-exists', 'delete', 'delete-tree', 'delete-cas'
]

function validateKvTxnOp (value: unknown, path: string): KvTxnOp {
  const raw = expectRecord(value, path)
  const verb = expectOneOf(raw.Verb, `${path}.Verb`, kvTxnVerbs)
  const treeVerb = verb === 'get-tree' || verb === 'delete-tree'
  const key = treeVerb ? expectString(raw.Key, `${path}.Key`) : expectNonEmptyString(raw.Key, `${path}.Key`)
  switch (verb) {
    case 'set':
      return Object.freeze({ Verb: verb, Key: key, Value: expectBytes(raw.Value, `${path}.Value`), Flags: expectIndex(raw.Flags, `${path}.Flags`) })
    case 'cas':
      return Object.freeze({
        Verb: verb,
        Key: key,
        Value: expectBytes(raw.Value, `${path}.Value`),
        Flags: expectIndex(raw.Flags, `${path}.Flags`),
        Index: expectIndex(raw.Index, `${path}.Index`)
      })
    case 'check-index':
    case 'delete-cas':
      return Object.freeze({ Verb: verb, Key: key, Index: expectIndex(raw.Index, `${path}.Index`) })
    default:
      return Object.freeze({ Verb: verb, Key: key })
  }
}

function validateDeregistration (value: unknown, path: string): CatalogDeregistration {
  const raw = expectRecord(value, path)
  const node = expectNonEmptyString(raw.Node, `${path}.Node`)
  const target = expectOneOf(raw.Target, `${path}.Target`, ['node', 'service', 'check'] as const)
  switch (target) {
    case 'node':
      return Object.freeze({ Node: node, Target: target })
    case 'service':
      return Object.freeze({ Node: node, Target: target, ServiceID: expectNonEmptyString(raw.ServiceID, `${path}.ServiceID`) })
    case 'check':
      return Object.freeze({ Node: node, Target: target, CheckID: expectNonEmptyString(raw.CheckID, `${path}.CheckID`) })
    default:
      return assertNever(target, 'deregistration target')
  }
}

function validateIntentionTarget (value: unknown, path: string): IntentionTarget {
  const raw = expectRecord(value, path)
  const by = expectOneOf(raw.By, `${path}.By`, ['id', 'pair'] as const)
  if (by === 'id') return Object.freeze({ By: by, ID: expectNonEmptyString(raw.ID, `${path}.ID`) })
  return Object.freeze({ By: by, ...validatePair(raw, path) })
}

function validateCaSetRoots (raw: Raw): CommandOf<'caSetRoots'> {
  const command = withCas({ type: 'caSetRoots' as const, Roots: validateCaRootSet(raw.Roots, 'caSetRoots.Roots') }, raw.Cas, 'caSetRoots.Cas')
  const config = optional(raw.Config, 'caSetRoots.Config', validateCaConfig)
  return Object.freeze(config === undefined ? command : { ...command, Config: config })
}

function validateSetClusterMeta (raw: Raw): CommandOf<'setClusterMeta'> {
  const entries = expectArray(raw.Entries, 'setClusterMeta.Entries', validateMetaEntry)
  const keys = new Set(entries.map(entry => entry.Key))
  if (keys.size !== entries.length) throw invalid('setClusterMeta.Entries', 'entries with distinct keys', raw.Entries)
  return Object.freeze({ type: 'setClusterMeta', Entries: entries, IfAbsent: expectBoolean(raw.IfAbsent, 'setClusterMeta.IfAbsent') })
}

function validateRestoreSession (value: unknown, path: string): string {
  const session = expectNonEmptyString(value, path)
  if (session.length > restoreSessionLengthMax) throw invalid(path, `at most ${restoreSessionLengthMax} characters`, session)
  return session
}

/**
 * Unlike every other byte field, Data is NOT copied: it stays a view into the decoded entry, so
 * a staged chunk shares memory with the log entry that carried it instead of doubling it (a
 * 1 GiB restore would otherwise hold 2 GiB per server until the log is compacted). Entries are
 * never mutated once appended; a caller of applyCommand must likewise not reuse the array.
 */
function validateRestoreChunk (raw: Raw): CommandOf<'restoreChunk'> {
  const data = raw.Data
  if (!(data instanceof Uint8Array) || data.byteLength === 0 || data.byteLength > restoreChunkBytesMax) {
    throw invalid('restoreChunk.Data', `1..${restoreChunkBytesMax} bytes of binary data`, data)
  }
  return Object.freeze({
    type: 'restoreChunk',
    Session: validateRestoreSession(raw.Session, 'restoreChunk.Session'),
    Seq: expectIndex(raw.Seq, 'restoreChunk.Seq'),
    // A plain Uint8Array over the same memory (msgpackr may hand back a Buffer).
    Data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
  })
}

/** A short description of a command for logs (never the values: they may be secrets). */
export function describeCommand (command: Command): string {
  return `${command.type}${'Key' in command ? ` ${describe(command.Key)}` : ''}`
}
