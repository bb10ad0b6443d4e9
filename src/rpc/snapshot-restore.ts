/**
 * PUT /v1/snapshot on a server: the user's snapshot goes through the Raft log as a sequence of
 * `restoreChunk` entries, then one `restoreFinish`, so every server restores the same bytes at
 * the same index while no log entry, append, LevelDB record or transport frame holds more than
 * one chunk. The FSM side (staging, checks, the restore itself) is src/fsm/tables/restore-staging.ts
 * and StateStore.restoreFinish.
 *
 * Memory: chunks are `subarray` views of the request body, so the body is never copied whole;
 * each proposal encodes one chunk (transient copies of about one chunk).
 *
 * Order: chunks are proposed one at a time, each awaited before the next. Sequential is the
 * simplest way to keep Seq order across leader changes and forwarding; a window would have to
 * re-send everything behind a refused chunk.
 *
 * Unknown outcomes: a chunk whose proposal timed out, was dropped by a leader change or lost in
 * forwarding is proposed again (up to chunkAttemptsMax times). This is safe by construction of
 * the FSM rules: if the first copy was applied, the repeat is an identical duplicate Seq and is
 * reported as already applied without changing anything; if it was not, the repeat is the
 * next chunk. A first copy that is applied late (a delayed forward) is likewise a duplicate or,
 * after the upload ended, a refused chunk of a finished session (Seq 0 excepted, which would
 * stage one stray chunk until the next restore replaces it). The finish is never repeated: it is
 * not idempotent (a second finish finds nothing staged), so its unknown outcome is reported.
 *
 * On any failure a best-effort `restoreAbort` drops what was staged and the caller gets a
 * ControlPlaneError saying whether the state is unchanged or the outcome is unknown.
 *
 * Not covered: on a client agent the body still reaches a server as one RPC frame
 * (rpc-client.ts), so a restore through a client is bounded by the transport's messageBytesMax
 * (64 MiB). TODO(weft): drive the chunking from the client agent with a chunk RPC.
 *
 * Callers: LocalServerApi.snapshotRestore (server-api.ts); tests with a fake proposer.
 */
import { crc32c } from '../util/crc32.js'
import { ControlPlaneError, isControlPlaneError, type ErrorCode } from '../util/errors.js'
import { defaultCoreLimits } from '../raft/core/raft.js'
import { encodeCommand, restoreChunkBytesMax, type Command, type CommandResult } from '../fsm/index.js'
import { assert } from '../util/assert.js'

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

export interface SnapshotRestoreOptions {
  /** A fresh upload ID (decided by the caller: the FSM only records it). */
  readonly session: string
  /**
   * Proposes one encoded command and resolves with the FSM's result once applied (the caller
   * wraps RaftNode.propose in its leader hold). Rejects with ControlPlaneErrors like propose.
   */
  readonly propose: (bytes: Uint8Array, options: { timeoutMs: number }) => Promise<unknown>
  readonly chunkTimeoutMs: number
  /** Waited between attempts of a chunk whose outcome was unknown (times the attempt number). */
  readonly retryBackoffMs?: number
  readonly chunkBytes?: number
}

/** The finish applies the whole snapshot on the leader before it answers: allow 1 s per 8 MiB on top of a minute. */
export function restoreFinishTimeoutMs (snapshotBytes: number): number {
  return 60_000 + Math.ceil(snapshotBytes / (8 * 1024 * 1024)) * 1_000
}

export async function restoreSnapshotThroughLog (data: Uint8Array, options: SnapshotRestoreOptions): Promise<void> {
  if (data.byteLength === 0) throw new ControlPlaneError('ERR_INVALID_INPUT', 'the snapshot is empty')
  const chunkBytes = options.chunkBytes ?? restoreChunkBytes
  assert(Number.isSafeInteger(chunkBytes) && chunkBytes > 0 && chunkBytes <= restoreChunkBytesMax, `chunkBytes must be in 1..${restoreChunkBytesMax}, got ${chunkBytes}`)
  const chunkCount = Math.ceil(data.byteLength / chunkBytes)
  let crc = 0
  for (let seq = 0; seq < chunkCount; seq += 1) {
    const chunk = data.subarray(seq * chunkBytes, Math.min(data.byteLength, (seq + 1) * chunkBytes))
    crc = crc32c(chunk, crc)
    const where = `chunk ${seq + 1} of ${chunkCount}`
    let outcome: CommandResult<'restoreChunk'>
    try {
      outcome = await proposeChunk({ type: 'restoreChunk', Session: options.session, Seq: seq, Data: chunk }, options)
    } catch (err) {
      throw await abortAfter(err, { where, stateUnchanged: true }, options)
    }
    if (!outcome.ok) throw await abortAfter(new ControlPlaneError(outcome.code, outcome.message), { where, stateUnchanged: true }, options)
  }
  const finish: Command = { type: 'restoreFinish', Session: options.session, Chunks: chunkCount, Bytes: data.byteLength, Crc32c: crc }
  let outcome: CommandResult<'restoreFinish'>
  try {
    outcome = await options.propose(encodeCommand(finish), { timeoutMs: restoreFinishTimeoutMs(data.byteLength) }) as CommandResult<'restoreFinish'>
  } catch (err) {
    throw await abortAfter(err, { where: 'the finish', stateUnchanged: isSurelyNotApplied(err) }, options)
  }
  if (!outcome.ok) throw new ControlPlaneError(outcome.code, `snapshot rejected: ${outcome.message}`)
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

/** Errors that prove a proposal was not applied (anything else may have been). */
function isSurelyNotApplied (err: unknown): boolean {
  if (!isControlPlaneError(err)) return false
  const codes: readonly ErrorCode[] = ['ERR_NO_LEADER', 'ERR_NOT_LEADER', 'ERR_PROPOSAL_DROPPED', 'ERR_OVERLOADED', 'ERR_INVALID_INPUT']
  if (codes.includes(err.code)) return true
  const details = (err as ControlPlaneError).details ?? {}
  return details.notDelivered === true || details.notProcessed === true
}

async function proposeChunk (command: Command & { type: 'restoreChunk' }, options: SnapshotRestoreOptions): Promise<CommandResult<'restoreChunk'>> {
  const bytes = encodeCommand(command)
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await options.propose(bytes, { timeoutMs: options.chunkTimeoutMs }) as CommandResult<'restoreChunk'>
    } catch (err) {
      // Safe to repeat whatever happened to the first copy (see the header).
      if (attempt >= restoreChunkAttemptsMax || !isWorthRepeating(err)) throw err
      await new Promise(resolve => setTimeout(resolve, (options.retryBackoffMs ?? 100) * attempt))
    }
  }
}

/**
 * Proposes a best-effort abort of the upload and returns the error to throw. The abort only
 * drops chunks of this session, so it is harmless even if the finish did apply.
 */
async function abortAfter (err: unknown, context: { where: string, stateUnchanged: boolean }, options: SnapshotRestoreOptions): Promise<unknown> {
  let abortProblem: string | null = null
  try {
    await options.propose(encodeCommand({ type: 'restoreAbort', Session: options.session }), { timeoutMs: options.chunkTimeoutMs })
  } catch (abortErr) {
    abortProblem = (abortErr as Error).message
  }
  if (!isControlPlaneError(err)) return err // a bug, not an operating condition: keep it as it is
  const outcome = context.stateUnchanged ? 'the state is unchanged' : 'the outcome is unknown: check whether the data was restored'
  const cleanup = abortProblem === null
    ? 'the staged upload was dropped'
    : `dropping the staged upload also failed (${abortProblem}); the next restore replaces it`
  return new ControlPlaneError(err.code, `snapshot restore failed at ${context.where}: ${err.message}; ${outcome}; ${cleanup}`, {
    cause: err,
    details: { ...(err as ControlPlaneError).details, session: options.session }
  })
}
