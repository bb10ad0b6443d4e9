/**
 * Length-prefixed frames on a TCP socket for the gossip shell (node.ts): `length u32 (big-endian)
 * | bytes`. A gossip stream carries one request frame and at most one reply frame, then closes.
 *
 * readFrame bounds both size and time: a frame longer than `bytesMax` or a peer slower than the
 * deadline ends the read with a typed error, and the caller destroys the socket. It resolves null
 * when the peer closes the stream before sending any byte of a frame (a refusal: memberlist and
 * weft both close without a word when they cannot decrypt a request).
 */
import type { Socket } from 'node:net'
import { ControlPlaneError } from '../util/errors.js'

export const FRAME_HEADER_BYTES = 4

export function encodeFrame (bytes: Uint8Array): Buffer {
  const frame = Buffer.allocUnsafe(FRAME_HEADER_BYTES + bytes.length)
  frame.writeUInt32BE(bytes.length, 0)
  frame.set(bytes, FRAME_HEADER_BYTES)
  return frame
}

export interface ReadFrameOptions {
  readonly bytesMax: number
  readonly deadlineMs: number
  /** For error messages: who is on the other end. */
  readonly peer: string
}

/** Reads exactly one frame; see the header for null and errors. Leaves the socket paused. */
export async function readFrame (socket: Socket, options: ReadFrameOptions): Promise<Uint8Array | null> {
  return await new Promise<Uint8Array | null>((resolve, reject) => {
    const chunks: Buffer[] = []
    let received = 0
    let expected = -1
    const timer = setTimeout(() => {
      finish(new ControlPlaneError('ERR_TIMEOUT', `no complete gossip frame from ${options.peer} within ${options.deadlineMs} ms`, { details: { peer: options.peer, receivedBytes: received } }))
    }, options.deadlineMs)
    const finish = (outcome: Uint8Array | null | Error): void => {
      clearTimeout(timer)
      socket.off('data', onData)
      socket.off('end', onEnd)
      socket.off('close', onEnd)
      socket.off('error', onError)
      socket.pause()
      if (outcome instanceof Error) reject(outcome)
      else resolve(outcome)
    }
    const onData = (chunk: Buffer): void => {
      chunks.push(chunk)
      received += chunk.length
      if (expected < 0 && received >= FRAME_HEADER_BYTES) {
        expected = Buffer.concat(chunks).readUInt32BE(0)
        if (expected > options.bytesMax) {
          finish(new ControlPlaneError('ERR_TOO_LARGE', `gossip frame from ${options.peer} announces ${expected} bytes, more than ${options.bytesMax}`, { details: { peer: options.peer, bytes: expected } }))
          return
        }
      }
      if (expected >= 0 && received >= FRAME_HEADER_BYTES + expected) {
        const all = Buffer.concat(chunks)
        finish(new Uint8Array(all.subarray(FRAME_HEADER_BYTES, FRAME_HEADER_BYTES + expected)))
      }
    }
    const onEnd = (): void => {
      if (received === 0) finish(null)
      else finish(new ControlPlaneError('ERR_TRANSPORT', `gossip stream from ${options.peer} closed mid-frame after ${received} bytes`, { details: { peer: options.peer } }))
    }
    const onError = (err: Error): void => {
      finish(new ControlPlaneError('ERR_TRANSPORT', `gossip stream with ${options.peer} failed: ${err.message}`, { cause: err, details: { peer: options.peer } }))
    }
    socket.on('data', onData)
    socket.on('end', onEnd)
    socket.on('close', onEnd)
    socket.on('error', onError)
    socket.resume()
  })
}
