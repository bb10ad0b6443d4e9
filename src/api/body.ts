/**
 * Reading request bodies into one bounded buffer, whatever the Content-Type (Consul ignores it;
 * node-consul sends KV values as text/plain). Each route's BodyKind picks the limit and the
 * Consul text of the 413:
 *   kv        kvMaxValueSize  "Request body(<n> bytes) too large, max size: <max> bytes. See ...kv_max_value_size."
 *   txn       bodyBytesMax    "Request body too large, max size: <max> bytes"
 *   snapshot  snapshotBytesMax
 *   json      bodyBytesMax
 *
 * With a Content-Length the buffer is allocated once at the announced size (a 1 GiB snapshot
 * costs 1 GiB, not 2); chunked bodies are collected until they pass the limit, then joined, so
 * a chunked snapshot upload briefly costs twice its size (`weft snapshot restore` sends a
 * Content-Length for that reason; a client that streams without one pays it). The buffer is
 * handed on as is: the snapshot restore cuts it into log chunks with subarray
 * (src/rpc/snapshot-restore.ts).
 *
 * On overflow the rest of the body is read and dropped (up to overflowDrainBytesMax) before the
 * 413 is sent: fastify closes the connection after a parser error, and closing a socket with
 * unread data makes the kernel send a reset, which often reaches the client before the 413 does
 * (the client then sees EPIPE/ECONNRESET instead of the message; Go lingers for the same
 * reason). Bodies larger than that are refused at once.
 *
 * Callers: server.ts (the catch-all content-type parser).
 */
import type { Readable } from 'node:stream'
import { invalidInput, tooLarge } from './errors.js'
import type { BodyKind, HttpLimits } from './types.js'
import type { ControlPlaneError } from '../util/errors.js'

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

export async function readBody (stream: Readable, options: ReadBodyOptions): Promise<Uint8Array> {
  const { contentLength, bytesMax } = options
  if (contentLength !== null && contentLength > bytesMax) {
    if (contentLength <= overflowDrainBytesMax) await drain(stream, overflowDrainBytesMax)
    throw tooLargeError(options.kind, contentLength, bytesMax)
  }
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
