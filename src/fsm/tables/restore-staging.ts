/**
 * The snapshot restore being uploaded through the log (PUT /v1/snapshot): the chunks applied so
 * far for one upload session, kept as a list and never concatenated, until a `restoreFinish`
 * hands them to the snapshot restorer.
 *
 * Rules (every replica applies the same chunks in the same order, so every replica holds the
 * same staging):
 *   - One upload at a time. Chunk 0 of another session replaces whatever is staged; the
 *     replaced upload then fails at its next chunk or at its finish ("another snapshot restore
 *     started"), never silently.
 *   - Chunks arrive in Seq order from 0. A chunk that is neither the next one nor an identical
 *     copy of one already staged is refused as a normal result; the staging is unchanged.
 *   - An identical copy of a staged chunk (a proposal sent again after an unknown outcome) is
 *     accepted as already applied and changes nothing, so re-proposing a chunk is harmless.
 *   - `takeForFinish` and `abort` of the staged session clear it; for another session they
 *     leave it alone.
 *
 * Memory: the staged arrays are the command's byte fields, which are views into the log
 * entries (see validateRestoreChunk in commands.ts), so staging costs no copy while the entries
 * are still in the in-memory Raft log. Rows loaded from a Raft snapshot are copies.
 *
 * The running CRC-32C and byte count are derived from the chunks, so a snapshot only stores
 * the chunks (rows()) and load() rebuilds the rest.
 *
 * Callers: state-store.ts (restore commands), snapshot.ts (rows and load).
 */
import { crc32c } from '../../util/crc32.js'
import type { ErrorCode } from '../../util/errors.js'

/** One staged chunk as a snapshot stores it. */
export interface RestoreStagingRow {
  readonly Session: string
  readonly Seq: number
  readonly Data: Uint8Array
}

export type RestoreChunkOutcome =
  | { readonly ok: true, readonly Duplicate: boolean }
  | { readonly ok: false, readonly code: ErrorCode, readonly message: string }

export type RestoreTakeOutcome =
  | { readonly ok: true, readonly chunks: readonly Uint8Array[] }
  | { readonly ok: false, readonly code: ErrorCode, readonly message: string }

export interface RestoreFinishClaim {
  readonly Session: string
  readonly Chunks: number
  readonly Bytes: number
  readonly Crc32c: number
}

export class RestoreStaging {
  private session: string | null = null
  private chunks: Uint8Array[] = []
  private bytes = 0
  private crc = 0

  /** What is staged, for tests and logs (never the data). */
  status (): { readonly session: string | null, readonly chunks: number, readonly bytes: number } {
    return { session: this.session, chunks: this.chunks.length, bytes: this.bytes }
  }

  accept (session: string, seq: number, data: Uint8Array): RestoreChunkOutcome {
    if (session !== this.session) {
      if (seq !== 0) return refused(`snapshot restore chunk ${seq} of session ${session} has no upload to join (${this.describeStaged()}); another snapshot restore started or this one was aborted`)
      this.clear()
      this.session = session
    }
    if (seq < this.chunks.length) {
      if (sameBytes(this.chunks[seq] as Uint8Array, data)) return { ok: true, Duplicate: true }
      return refused(`snapshot restore chunk ${seq} of session ${session} differs from the chunk ${seq} already staged`)
    }
    if (seq > this.chunks.length) return refused(`snapshot restore chunk ${seq} of session ${session} is out of order: expected chunk ${this.chunks.length}`)
    this.push(data)
    return { ok: true, Duplicate: false }
  }

  /**
   * Checks `claim` against the staged upload and, if it is the staged session, clears the
   * staging and hands back its chunks (ok: false when they do not match the claim). Another
   * session's staging is left alone.
   */
  takeForFinish (claim: RestoreFinishClaim): RestoreTakeOutcome {
    if (claim.Session !== this.session) {
      return refused(`snapshot restore session ${claim.Session} cannot finish: ${this.describeStaged()}; another snapshot restore started or this one was aborted`)
    }
    const staged = { chunks: this.chunks, bytes: this.bytes, crc: this.crc }
    this.clear()
    if (staged.chunks.length !== claim.Chunks || staged.bytes !== claim.Bytes) {
      return { ok: false, code: 'ERR_INVALID_INPUT', message: `snapshot restore session ${claim.Session} staged ${staged.chunks.length} chunks (${staged.bytes} bytes) but its finish claims ${claim.Chunks} chunks (${claim.Bytes} bytes)` }
    }
    if (staged.crc !== claim.Crc32c) {
      return { ok: false, code: 'ERR_INVALID_INPUT', message: `snapshot restore session ${claim.Session}: the staged bytes have CRC-32C ${staged.crc}, the finish claims ${claim.Crc32c}` }
    }
    return { ok: true, chunks: staged.chunks }
  }

  /** Drops the staged upload if it is `session`'s; returns whether it did. */
  abort (session: string): boolean {
    if (session !== this.session) return false
    this.clear()
    return true
  }

  /** The staged chunks in Seq order, as a snapshot writes them (a fresh array: later chunks do not leak in). */
  rows (): RestoreStagingRow[] {
    const session = this.session
    if (session === null) return []
    return this.chunks.map((Data, Seq) => Object.freeze({ Session: session, Seq, Data }))
  }

  /** Loads one snapshot row; returns a problem description instead of loading a bad one. */
  load (row: RestoreStagingRow): string | undefined {
    if (this.session !== null && row.Session !== this.session) {
      return `snapshot restore staging holds sessions ${JSON.stringify(this.session)} and ${JSON.stringify(row.Session)}; only one upload can be staged`
    }
    if (row.Seq !== this.chunks.length) return `snapshot restore staging chunk ${row.Seq} is out of order: expected chunk ${this.chunks.length}`
    this.session = row.Session
    this.push(row.Data)
    return undefined
  }

  private push (data: Uint8Array): void {
    this.chunks.push(data)
    this.bytes += data.byteLength
    this.crc = crc32c(data, this.crc)
  }

  private clear (): void {
    this.session = null
    this.chunks = []
    this.bytes = 0
    this.crc = 0
  }

  private describeStaged (): string {
    return this.session === null ? 'no upload is staged' : `session ${this.session} is staged with ${this.chunks.length} chunks`
  }
}

function refused (message: string): { readonly ok: false, readonly code: ErrorCode, readonly message: string } {
  return { ok: false, code: 'ERR_CONFLICT', message }
}

function sameBytes (a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false
  for (let offset = 0; offset < a.byteLength; offset += 1) if (a[offset] !== b[offset]) return false
  return true
}
