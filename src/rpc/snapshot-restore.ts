/**
 * PUT /v1/snapshot: the user's snapshot goes through the Raft log as a sequence of
 * `restoreChunk` entries, then one `restoreFinish`, so every server restores the same bytes at
 * the same index while no log entry, append, LevelDB record or transport frame holds more than
 * one chunk. The FSM side (staging, checks, the restore itself) is src/fsm/tables/restore-staging.ts
 * and StateStore.restoreFinish.
 *
 * Two layers:
 *   - The driver (`restoreSnapshotStream`) runs where the body arrives. It pulls the snapshot
 *     from an async iterable of pieces of any size, re-cuts them into chunks of the target's
 *     chunkBytes, keeps the running byte count and CRC-32C, sends each chunk and waits for it
 *     to apply before pulling more, then sends the finish. On a server the target proposes
 *     through the local Raft node (`logRestoreTarget`, LocalServerApi.snapshotRestore); on a
 *     client agent it calls the chunk RPCs on a server (RpcClient.snapshotRestore).
 *   - The log steps (`proposeRestoreChunk`, `proposeRestoreFinish`, `proposeRestoreAbort`)
 *     propose one command each on a server. The log target and the chunk RPCs
 *     (LocalServerApi.snapshotRestoreChunk/Finish/Abort) both use them.
 *
 * Memory: the driver holds one chunk being filled plus the piece it is cutting; the source is
 * pulled only when a chunk is needed, so an HTTP body or a file stream sees backpressure and is
 * never held whole. Each proposal encodes one chunk (transient copies of about one chunk).
 *
 * Order: chunks are sent one at a time, each awaited (applied on the leader) before the next is
 * cut. Sequential is the simplest way to keep Seq order across leader changes, forwarding and
 * (on a client agent) a change of server; a window would have to re-send everything behind a
 * refused chunk.
 *
 * Unknown outcomes: a chunk whose proposal timed out, was dropped by a leader change or lost in
 * forwarding is proposed again (up to restoreChunkAttemptsMax times; a client agent may also
 * send the chunk RPC again, to another server). This is safe by construction of the FSM rules:
 * if the first copy was applied, the repeat is an identical duplicate Seq and is reported as
 * already applied without changing anything; if it was not, the repeat is the next chunk. A
 * first copy that is applied late (a delayed forward) is likewise a duplicate or, after the
 * upload ended, a refused chunk of a finished session (Seq 0 excepted, which would stage one
 * stray chunk until the next restore replaces it). The finish is never repeated: it is not
 * idempotent (a second finish finds nothing staged), so its unknown outcome is reported.
 *
 * Failures: a failed chunk or finish triggers a best-effort `restoreAbort` that drops what was
 * staged, and the caller gets a ControlPlaneError saying whether the state is unchanged or the
 * outcome is unknown. A failure of the source (a body over its limit, a broken connection) also
 * aborts, and the source's error is passed on with its code and message as they were (the HTTP
 * layer's 413 text must reach the client unchanged). A command the FSM applied and refused
 * (a chunk of a displaced upload, a finish whose bytes are not a snapshot) rejects with
 * `details.restoreRefused`; a refused finish already cleared the staging and is reported as
 * "snapshot rejected: ..." without an abort.
 *
 * Callers: LocalServerApi (server-api.ts), RpcClient (rpc-client.ts); tests with a fake proposer.
 */
import { crc32c } from '../util/crc32.js'
import { ControlPlaneError, isControlPlaneError, type ErrorCode } from '../util/errors.js'
import { defaultCoreLimits } from '../raft/core/raft.js'
import { encodeCommand, restoreChunkBytesMax, type CommandResult } from '../fsm/index.js'
import { invalid, isRecord } from '../fsm/shape.js'
import { assert } from '../util/assert.js'
import type { SnapshotRestoreClaim } from './types.js'

/**
 * Snapshot bytes per restoreChunk entry: 1 MiB less 1 KiB. The leader packs entries into one
 * append up to appendBytesMax (1 MiB of entry data, src/raft/core/raft.ts). A chunk plus its
 * encoding (about 90 bytes: format byte, field names, a 36-character session, Seq, the bin
 * header) stays under that with room to spare, so a chunk never relies on the "at least one
 * entry per append" exception and small writes can share its append. It is well under the FSM's
 * restoreChunkBytesMax (4 MiB), the transport's messageBytesMax (64 MiB) and the per-follower
 * inflightBytesMax (16 MiB, i.e. up to 16 chunk appends in flight to each follower).
 */
export const restoreChunkBytes = defaultCoreLimits.appendBytesMax - 1024

/** How often one chunk is proposed when the outcome stays unknown. */
export const restoreChunkAttemptsMax = 4

/** The finish applies the whole snapshot on the leader before it answers: allow 1 s per 8 MiB on top of a minute. */
export function restoreFinishTimeoutMs (snapshotBytes: number): number {
  return 60_000 + Math.ceil(snapshotBytes / (8 * 1024 * 1024)) * 1_000
}

// ---------------------------------------------------------------------------------------------
// The driver.

/**
 * Where the driver sends one upload. Each call resolves once its command was applied (on the
 * leader) or rejects with a ControlPlaneError; `details.restoreRefused` marks a command the FSM
 * applied and refused. The driver calls chunk with Seq 0, 1, 2, ... one at a time, then finish
 * once; abort may follow any failure and must be harmless to repeat.
 */
export interface RestoreTarget {
  readonly session: string
  /** Snapshot bytes per chunk (the last chunk may be shorter); 1..restoreChunkBytesMax. */
  readonly chunkBytes: number
  chunk (seq: number, data: Uint8Array): Promise<void>
  finish (claim: SnapshotRestoreClaim): Promise<void>
  abort (): Promise<void>
}

/**
 * Restores the snapshot that `source` yields (pieces of any size, in order) through `target`.
 * Resolves once the finish applied; rejects as described in the header. An empty source is
 * ERR_INVALID_INPUT and sends nothing.
 */
export async function restoreSnapshotStream (source: AsyncIterable<Uint8Array>, target: RestoreTarget): Promise<void> {
  const chunkBytes = target.chunkBytes
  assert(Number.isSafeInteger(chunkBytes) && chunkBytes > 0 && chunkBytes <= restoreChunkBytesMax, `chunkBytes must be in 1..${restoreChunkBytesMax}, got ${chunkBytes}`)
  const chunks = new Rechunker(source, chunkBytes)
  let sent: SnapshotRestoreClaim = { Chunks: 0, Bytes: 0, Crc32c: 0 }
  try {
    for (;;) {
      const chunk = await nextChunk(chunks, sent, target)
      if (chunk === null) break
      const where = `chunk ${sent.Chunks + 1} (bytes ${sent.Bytes} to ${sent.Bytes + chunk.byteLength - 1})`
      try {
        await target.chunk(sent.Chunks, chunk)
      } catch (err) {
        throw await abortAfter(err, { where, stateUnchanged: true }, target)
      }
      sent = { Chunks: sent.Chunks + 1, Bytes: sent.Bytes + chunk.byteLength, Crc32c: crc32c(chunk, sent.Crc32c) }
    }
  } finally {
    await chunks.close()
  }
  if (sent.Chunks === 0) throw new ControlPlaneError('ERR_INVALID_INPUT', 'the snapshot is empty')
  try {
    await target.finish(sent)
  } catch (err) {
    // A refused finish was applied: the FSM cleared the staging and left the state as it was.
    if (isRestoreRefusal(err)) throw err
    throw await abortAfter(err, { where: 'the finish', stateUnchanged: isSurelyNotApplied(err) }, target)
  }
}

/** The next chunk, or null at the end; a failing source aborts what was staged and passes its error on. */
async function nextChunk (chunks: Rechunker, sent: SnapshotRestoreClaim, target: RestoreTarget): Promise<Uint8Array | null> {
  try {
    return await chunks.next()
  } catch (err) {
    if (sent.Chunks === 0) throw err
    const abortProblem = await tryAbort(target)
    if (!isControlPlaneError(err)) throw err // a bug, not an operating condition: keep it as it is
    // The message stays the source's own (e.g. the HTTP 413 text); the cleanup goes into details.
    throw new ControlPlaneError(err.code, err.message, {
      cause: err,
      details: { ...err.details, session: target.session, stagedUploadDropped: abortProblem === null, ...(abortProblem === null ? {} : { abortProblem }) }
    })
  }
}

/**
 * Cuts a stream of pieces of any size into chunks of `chunkBytes` (the last one shorter). A
 * chunk lying whole inside a piece is a view of it; a chunk spanning pieces is copied into a
 * fresh buffer (never reused: the caller may keep what it was given).
 */
class Rechunker {
  readonly #iterator: AsyncIterator<Uint8Array>
  #rest: Uint8Array = new Uint8Array(0)
  #filling: Uint8Array | null = null
  #filled = 0
  #isDone = false

  constructor (source: AsyncIterable<Uint8Array>, private readonly chunkBytes: number) {
    this.#iterator = source[Symbol.asyncIterator]()
  }

  async next (): Promise<Uint8Array | null> {
    for (;;) {
      if (this.#rest.byteLength === 0) {
        if (this.#isDone) return null
        const step = await this.#iterator.next()
        if (step.done === true) {
          this.#isDone = true
          return this.#takeFilling()
        }
        assert(step.value instanceof Uint8Array, `a snapshot source must yield Uint8Array pieces, got ${typeof step.value}`)
        this.#rest = step.value
        continue
      }
      if (this.#filling === null && this.#rest.byteLength >= this.chunkBytes) {
        const chunk = this.#rest.subarray(0, this.chunkBytes)
        this.#rest = this.#rest.subarray(this.chunkBytes)
        return chunk
      }
      this.#filling ??= new Uint8Array(this.chunkBytes)
      const taken = Math.min(this.chunkBytes - this.#filled, this.#rest.byteLength)
      this.#filling.set(this.#rest.subarray(0, taken), this.#filled)
      this.#filled += taken
      this.#rest = this.#rest.subarray(taken)
      if (this.#filled === this.chunkBytes) return this.#takeFilling()
    }
  }

  /** Lets the source release its resources if the driver stopped before its end. */
  async close (): Promise<void> {
    if (this.#isDone) return
    this.#isDone = true
    await this.#iterator.return?.()
  }

  #takeFilling (): Uint8Array | null {
    const filling = this.#filling
    const filled = this.#filled
    this.#filling = null
    this.#filled = 0
    if (filling === null || filled === 0) return null
    return filled === filling.byteLength ? filling : filling.subarray(0, filled)
  }
}

/** Errors that prove a command was not applied (anything else may have been). */
function isSurelyNotApplied (err: unknown): boolean {
  if (!isControlPlaneError(err)) return false
  const codes: readonly ErrorCode[] = ['ERR_NO_LEADER', 'ERR_NOT_LEADER', 'ERR_PROPOSAL_DROPPED', 'ERR_OVERLOADED', 'ERR_INVALID_INPUT']
  if (codes.includes(err.code)) return true
  const details = (err as ControlPlaneError).details ?? {}
  return details.notDelivered === true || details.notProcessed === true
}

/** Did the FSM apply this command and refuse it (so it changed nothing)? */
export function isRestoreRefusal (err: unknown): boolean {
  return isControlPlaneError(err) && (err as ControlPlaneError).details?.restoreRefused === true
}

/** Best-effort abort; the problem as text, or null when the staged upload was dropped. */
async function tryAbort (target: RestoreTarget): Promise<string | null> {
  try {
    await target.abort()
    return null
  } catch (abortErr) {
    return (abortErr as Error).message
  }
}

/**
 * Aborts the upload (best effort) and returns the error to throw. The abort only drops chunks
 * of this session, so it is harmless even if the finish did apply.
 */
async function abortAfter (err: unknown, context: { where: string, stateUnchanged: boolean }, target: RestoreTarget): Promise<unknown> {
  const abortProblem = await tryAbort(target)
  if (!isControlPlaneError(err)) return err // a bug, not an operating condition: keep it as it is
  const outcome = context.stateUnchanged ? 'the state is unchanged' : 'the outcome is unknown: check whether the data was restored'
  const cleanup = abortProblem === null
    ? 'the staged upload was dropped'
    : `dropping the staged upload also failed (${abortProblem}); the next restore replaces it`
  return new ControlPlaneError(err.code, `snapshot restore failed at ${context.where}: ${err.message}; ${outcome}; ${cleanup}`, {
    cause: err,
    details: { ...(err as ControlPlaneError).details, session: target.session }
  })
}

// ---------------------------------------------------------------------------------------------
// The log steps (on a server).

export interface LogRestoreOptions {
  /**
   * Proposes one encoded command and resolves with the FSM's result once applied (the caller
   * wraps RaftNode.propose in its leader hold). Rejects with ControlPlaneErrors like propose.
   */
  readonly propose: (bytes: Uint8Array, options: { timeoutMs: number }) => Promise<unknown>
  readonly chunkTimeoutMs: number
  /** Waited between attempts of a chunk whose outcome was unknown (times the attempt number). */
  readonly retryBackoffMs?: number
}

/** Stages chunk `seq` of `session`; proposed again while its outcome is unknown (see the header). */
export async function proposeRestoreChunk (session: string, seq: number, data: Uint8Array, options: LogRestoreOptions): Promise<void> {
  const bytes = encodeCommand({ type: 'restoreChunk', Session: session, Seq: seq, Data: data })
  let outcome: CommandResult<'restoreChunk'>
  for (let attempt = 1; ; attempt += 1) {
    try {
      outcome = await options.propose(bytes, { timeoutMs: options.chunkTimeoutMs }) as CommandResult<'restoreChunk'>
      break
    } catch (err) {
      // Safe to repeat whatever happened to the first copy (see the header).
      if (attempt >= restoreChunkAttemptsMax || !isWorthRepeating(err)) throw err
      await new Promise(resolve => setTimeout(resolve, (options.retryBackoffMs ?? 100) * attempt))
    }
  }
  if (!outcome.ok) throw refusal(outcome.code, outcome.message)
}

/** Restores the staged chunks of `session` if they match `claim`. Proposed once: never repeat it. */
export async function proposeRestoreFinish (session: string, claim: SnapshotRestoreClaim, options: LogRestoreOptions): Promise<void> {
  const command = { type: 'restoreFinish', Session: session, Chunks: claim.Chunks, Bytes: claim.Bytes, Crc32c: claim.Crc32c } as const
  const outcome = await options.propose(encodeCommand(command), { timeoutMs: restoreFinishTimeoutMs(claim.Bytes) }) as CommandResult<'restoreFinish'>
  if (!outcome.ok) throw refusal(outcome.code, `snapshot rejected: ${outcome.message}`)
}

/** Drops the staged chunks of `session` (nothing if another upload replaced them). Harmless to repeat. */
export async function proposeRestoreAbort (session: string, options: LogRestoreOptions): Promise<void> {
  await options.propose(encodeCommand({ type: 'restoreAbort', Session: session }), { timeoutMs: options.chunkTimeoutMs })
}

/** A finish claim that arrived over RPC, checked before it is proposed. */
export function checkRestoreClaim (value: unknown): SnapshotRestoreClaim {
  if (!isRecord(value)) throw invalid('snapshot restore claim', 'a map of Chunks, Bytes and Crc32c', value)
  const ranges = { Chunks: [1, Number.MAX_SAFE_INTEGER], Bytes: [1, Number.MAX_SAFE_INTEGER], Crc32c: [0, 0xffff_ffff] } as const
  for (const [name, [min, max]] of Object.entries(ranges)) {
    const field = value[name]
    if (typeof field !== 'number' || !Number.isSafeInteger(field) || field < min || field > max) {
      throw invalid(`snapshot restore claim.${name}`, `an integer in ${min}..${max}`, field)
    }
  }
  return { Chunks: value.Chunks as number, Bytes: value.Bytes as number, Crc32c: value.Crc32c as number }
}

export interface SnapshotRestoreOptions extends LogRestoreOptions {
  /** A fresh upload ID (decided by the caller: the FSM only records it). */
  readonly session: string
  readonly chunkBytes?: number
}

/** The driver's target on a server: each step proposed through the local Raft node. */
export function logRestoreTarget (options: SnapshotRestoreOptions): RestoreTarget {
  return {
    session: options.session,
    chunkBytes: options.chunkBytes ?? restoreChunkBytes,
    chunk: async (seq, data) => { await proposeRestoreChunk(options.session, seq, data, options) },
    finish: async claim => { await proposeRestoreFinish(options.session, claim, options) },
    abort: async () => { await proposeRestoreAbort(options.session, options) }
  }
}

/** A whole restore on a server: the driver with the log target. */
export async function restoreSnapshotThroughLog (source: AsyncIterable<Uint8Array>, options: SnapshotRestoreOptions): Promise<void> {
  await restoreSnapshotStream(source, logRestoreTarget(options))
}

/**
 * Errors after which proposing the same chunk again is worth it: the outcome is unknown
 * (timeout, lost forward), or the proposal surely was not applied but may be next time (another
 * leader's entry took its index, too many proposals pending). Proposals that never left (no
 * leader) were already retried by the caller's hold.
 */
function isWorthRepeating (err: unknown): boolean {
  const codes: readonly ErrorCode[] = ['ERR_TIMEOUT', 'ERR_TRANSPORT', 'ERR_PROPOSAL_DROPPED', 'ERR_OVERLOADED']
  return codes.some(code => isControlPlaneError(err, code))
}

function refusal (code: ErrorCode, message: string): ControlPlaneError {
  return new ControlPlaneError(code, message, { details: { restoreRefused: true } })
}
