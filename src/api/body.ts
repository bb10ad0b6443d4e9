/**
 * Reading request bodies, into one bounded buffer or (snapshots) as a bounded stream, whatever
 * the Content-Type (Consul ignores it; node-consul sends KV values as text/plain). Each route's
 * BodyKind picks the limit and the Consul text of the 413:
 *   kv        kvMaxValueSize  "Request body(<n> bytes) too large, max size: <max> bytes. See ...kv_max_value_size."
 *   txn       bodyBytesMax    "Request body too large, max size: <max> bytes"
 *   snapshot  snapshotBytesMax
 *   json      bodyBytesMax
 *
 * With a Content-Length the buffer is allocated once at the announced size; chunked bodies are
 * collected until they pass the limit, then joined.
 *
 * Snapshot bodies (the one streamed BodyKind) are not buffered: `StreamedBody` hands them on as
 * an async iterable of the pieces Node reads off the socket. Node reads the socket only while
 * the consumer takes pieces (backpressure), so the agent holds what the consumer holds (the
 * snapshot restore: about one log chunk, src/rpc/snapshot-restore.ts) plus the stream's small
 * buffer, with or without a Content-Length. The limit is checked up front from the
 * Content-Length and again as pieces arrive, with the same 413 text.
 *
 * On overflow the rest of the body is read and dropped (up to overflowDrainBytesMax) before the
 * 413 is sent: fastify closes the connection after a parser error, and closing a socket with
 * unread data makes the kernel send a reset, which often reaches the client before the 413 does
 * (the client then sees EPIPE/ECONNRESET instead of the message; Go lingers for the same
 * reason). Bodies larger than that are refused at once.
 *
 * Callers: server.ts (the catch-all content-type parser, and StreamedBody.discardRest after a
 * failed streamed request); handlers/operator.ts (nonEmptyBody).
 */
import type { Readable } from 'node:stream'
import { invalidInput, tooLarge } from './errors.js'
import type { BodyKind, HttpLimits } from './types.js'
import type { ControlPlaneError } from '../util/errors.js'
import { assert } from '../util/assert.js'

export const kvMaxValueSizeDocs = 'https://www.consul.io/docs/agent/config/config-files#kv_max_value_size'

/** An oversized body up to this size is drained before its 413 (see the header); larger ones are not. */
export const overflowDrainBytesMax = 16 * 1024 * 1024

export function bodyBytesMaxFor (kind: BodyKind, limits: HttpLimits): number {
  switch (kind) {
    case 'kv': return limits.kvMaxValueSize
    case 'snapshot': return limits.snapshotBytesMax
    case 'txn': case 'json': return limits.bodyBytesMax
    // Routes without a body still get the general limit: a stray body is read and ignored.
    case 'none': return limits.bodyBytesMax
  }
}

/** `receivedBytes` is the Content-Length, or what had arrived when a chunked body overflowed. */
export function tooLargeError (kind: BodyKind, receivedBytes: number, bytesMax: number): ControlPlaneError {
  if (kind === 'kv') {
    return tooLarge(`Request body(${receivedBytes} bytes) too large, max size: ${bytesMax} bytes. See ${kvMaxValueSizeDocs}.`)
  }
  if (kind === 'txn') return tooLarge(`Request body too large, max size: ${bytesMax} bytes`)
  return tooLarge(`Request body(${receivedBytes} bytes) too large, max size: ${bytesMax} bytes.`)
}

export interface ReadBodyOptions {
  readonly kind: BodyKind
  readonly bytesMax: number
  /** The parsed Content-Length header, or null for chunked bodies. */
  readonly contentLength: number | null
}

/** Bodies of this kind are handed on as StreamedBody, never read into one buffer. */
export function isStreamedBodyKind (kind: BodyKind): boolean {
  return kind === 'snapshot'
}

export async function readBody (stream: Readable, options: ReadBodyOptions): Promise<Uint8Array> {
  await refuseAnnouncedOverflow(stream, options)
  const { contentLength, bytesMax } = options
  return await new Promise<Uint8Array>((resolve, reject) => {
    const sink = contentLength === null ? new ChunkSink() : new FixedSink(contentLength)
    const cleanup = (): void => {
      stream.removeListener('data', onData)
      stream.removeListener('end', onEnd)
      stream.removeListener('error', onError)
    }
    const onData = (chunk: Buffer): void => {
      if (sink.receivedBytes + chunk.length > bytesMax) {
        cleanup()
        const error = tooLargeError(options.kind, sink.receivedBytes + chunk.length, bytesMax)
        void drain(stream, overflowDrainBytesMax - sink.receivedBytes - chunk.length).then(() => reject(error))
        return
      }
      if (!sink.push(chunk)) {
        cleanup()
        reject(invalidInput(`Request body is longer than its Content-Length of ${contentLength ?? 0} bytes`))
      }
    }
    const onEnd = (): void => {
      cleanup()
      resolve(sink.result())
    }
    const onError = (err: Error): void => {
      cleanup()
      reject(invalidInput(`Request body could not be read: ${err.message}`))
    }
    stream.on('data', onData)
    stream.on('end', onEnd)
    stream.on('error', onError)
  })
}

/** A Content-Length over the limit is refused before a byte is read (after draining a small body). */
async function refuseAnnouncedOverflow (stream: Readable, options: ReadBodyOptions): Promise<void> {
  const { contentLength, bytesMax } = options
  if (contentLength === null || contentLength <= bytesMax) return
  if (contentLength <= overflowDrainBytesMax) await drain(stream, overflowDrainBytesMax)
  throw tooLargeError(options.kind, contentLength, bytesMax)
}

/** A streamed body after the up-front Content-Length check (which throws the 413 at once). */
export async function streamBody (stream: Readable, options: ReadBodyOptions): Promise<StreamedBody> {
  await refuseAnnouncedOverflow(stream, options)
  return new StreamedBody(stream, options)
}

/**
 * A request body handed on as it arrives: iterate it once; each piece is a Buffer Node read off
 * the socket (tens of KiB). Pulling is what reads the socket, so an idle consumer stalls the
 * upload instead of growing a buffer. Past the limit the iteration throws the 413 (after
 * draining up to overflowDrainBytesMax, as readBody does); a broken or aborted upload throws
 * ERR_INVALID_INPUT. The consumer may stop early; the server then calls discardRest.
 */
export class StreamedBody implements AsyncIterable<Uint8Array> {
  #receivedBytes = 0
  #hasEnded = false
  #failure: Error | null = null
  #wake: (() => void) | null = null
  #isIterated = false
  #isDetached = false
  readonly #onReadable = (): void => { this.#wakeUp() }
  readonly #onEnd = (): void => { this.#hasEnded = true; this.#wakeUp() }
  readonly #onError = (err: Error): void => { this.#failure ??= err; this.#wakeUp() }
  readonly #onClose = (): void => {
    if (!this.#hasEnded) this.#failure ??= new Error('the connection closed before the body ended')
    this.#wakeUp()
  }

  constructor (private readonly stream: Readable, private readonly options: ReadBodyOptions) {
    stream.on('readable', this.#onReadable)
    stream.on('end', this.#onEnd)
    stream.on('error', this.#onError)
    stream.on('close', this.#onClose)
  }

  /** Bytes handed on so far. */
  get receivedBytes (): number { return this.#receivedBytes }

  [Symbol.asyncIterator] (): AsyncIterator<Uint8Array> {
    assert(!this.#isIterated, 'a streamed request body can be iterated only once')
    this.#isIterated = true
    return this.#pieces()
  }

  /**
   * Reads and drops what the consumer left, up to overflowDrainBytesMax in all, so that an
   * error reply reaches the client (see the header). Resolves true if the body was read to its
   * end; false if it was cut short or was too long to drain (the caller then closes the
   * connection).
   */
  async discardRest (): Promise<boolean> {
    if (this.#hasEnded) return true
    if (this.#failure !== null) return false
    this.#detach()
    await drain(this.stream, overflowDrainBytesMax - this.#receivedBytes)
    return this.stream.readableEnded
  }

  async * #pieces (): AsyncGenerator<Uint8Array, void, undefined> {
    for (let piece = await this.#nextPiece(); piece !== null; piece = await this.#nextPiece()) {
      this.#receivedBytes += piece.byteLength
      if (this.#receivedBytes > this.options.bytesMax) {
        this.#detach()
        await drain(this.stream, overflowDrainBytesMax - this.#receivedBytes)
        throw tooLargeError(this.options.kind, this.#receivedBytes, this.options.bytesMax)
      }
      const contentLength = this.options.contentLength
      if (contentLength !== null && this.#receivedBytes > contentLength) {
        throw invalidInput(`Request body is longer than its Content-Length of ${contentLength} bytes`)
      }
      yield piece
    }
  }

  /** The next piece Node has read, waiting for one if need be; null at the end of the body. */
  async #nextPiece (): Promise<Uint8Array | null> {
    for (;;) {
      const piece = this.stream.read() as Buffer | null
      if (piece !== null) return piece
      if (this.#failure !== null) {
        this.#detach()
        throw invalidInput(`Request body could not be read: ${this.#failure.message}`)
      }
      if (this.#hasEnded) {
        this.#detach()
        return null
      }
      await new Promise<void>(resolve => { this.#wake = resolve })
    }
  }

  #wakeUp (): void {
    const wake = this.#wake
    this.#wake = null
    wake?.()
  }

  #detach (): void {
    if (this.#isDetached) return
    this.#isDetached = true
    this.stream.removeListener('readable', this.#onReadable)
    this.stream.removeListener('end', this.#onEnd)
    this.stream.removeListener('error', this.#onError)
    this.stream.removeListener('close', this.#onClose)
  }
}

/**
 * The body with its first non-empty piece already read, or null when it has none (a chunked
 * upload of zero bytes), so a handler can answer "empty" before it starts any work.
 */
export async function nonEmptyBody (body: AsyncIterable<Uint8Array>): Promise<AsyncIterable<Uint8Array> | null> {
  const iterator = body[Symbol.asyncIterator]()
  for (;;) {
    const step = await iterator.next()
    if (step.done === true) return null
    if (step.value.byteLength > 0) return prepended(step.value, iterator)
  }
}

async function * prepended (first: Uint8Array, rest: AsyncIterator<Uint8Array>): AsyncGenerator<Uint8Array, void, undefined> {
  let isDone = false
  try {
    yield first
    for (let step = await rest.next(); step.done !== true; step = await rest.next()) yield step.value
    isDone = true
  } finally {
    if (!isDone) await rest.return?.()
  }
}

/** Reads and drops the rest of a body; resolves at its end, on an error or close, or past `bytesMax` more bytes. */
async function drain (stream: Readable, bytesMax: number): Promise<void> {
  await new Promise<void>(resolve => {
    let dropped = 0
    const done = (): void => {
      stream.removeListener('data', onData)
      stream.removeListener('end', done)
      stream.removeListener('error', done)
      stream.removeListener('close', done)
      resolve()
    }
    const onData = (chunk: Buffer): void => {
      dropped += chunk.length
      if (dropped > bytesMax) done()
    }
    if (stream.readableEnded || stream.destroyed) { resolve(); return }
    stream.on('data', onData)
    stream.once('end', done)
    stream.once('error', done)
    stream.once('close', done)
  })
}

interface Sink {
  readonly receivedBytes: number
  push (chunk: Uint8Array): boolean
  result (): Uint8Array
}

/** A buffer allocated once at the Content-Length. */
class FixedSink implements Sink {
  readonly #buffer: Uint8Array
  #offset = 0

  constructor (length: number) {
    this.#buffer = new Uint8Array(length)
  }

  get receivedBytes (): number { return this.#offset }

  push (chunk: Uint8Array): boolean {
    if (this.#offset + chunk.length > this.#buffer.length) return false
    this.#buffer.set(chunk, this.#offset)
    this.#offset += chunk.length
    return true
  }

  result (): Uint8Array {
    // Node ends the stream early only on abort (which errors instead), so this is the whole body.
    return this.#offset === this.#buffer.length ? this.#buffer : this.#buffer.subarray(0, this.#offset)
  }
}

class ChunkSink implements Sink {
  readonly #chunks: Uint8Array[] = []
  #total = 0

  get receivedBytes (): number { return this.#total }

  push (chunk: Uint8Array): boolean {
    this.#chunks.push(chunk)
    this.#total += chunk.length
    return true
  }

  result (): Uint8Array {
    if (this.#chunks.length === 1) return this.#chunks[0] ?? new Uint8Array(0)
    const buffer = new Uint8Array(this.#total)
    let offset = 0
    for (const chunk of this.#chunks) {
      buffer.set(chunk, offset)
      offset += chunk.length
    }
    return buffer
  }
}
