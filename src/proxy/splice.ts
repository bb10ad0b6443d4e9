/**
 * Joins a local (plain TCP) socket and a mesh (TLS) socket: each direction is a pipe, so a
 * slow reader pauses the other side (backpressure); an end in one direction is passed on as an
 * end (half-close), and the other direction keeps flowing until it ends too. An error on
 * either side, or one side closing before both directions finished, destroys both. `onClose`
 * runs once, after both sockets have closed, with the byte counts of the local side.
 *
 * Both sockets must be created with `allowHalfOpen: true`, or an end would close them early.
 *
 * Callers: listener.ts, upstream.ts.
 */
import type { Socket } from 'node:net'

export interface SpliceResult {
  /** Bytes read from the local socket (sent into the mesh). */
  readonly localBytesRead: number
  /** Bytes written to the local socket (arrived from the mesh). */
  readonly localBytesWritten: number
  /** The first error on either side, if any. */
  readonly error: Error | null
}

export function splice (local: Socket, mesh: Socket, onClose: (result: SpliceResult) => void): void {
  let firstError: Error | null = null
  let closedCount = 0
  const sockets = [local, mesh] as const
  for (const [self, other] of [[local, mesh], [mesh, local]] as const) {
    self.on('error', (err: Error) => {
      firstError ??= err
      other.destroy()
    })
    self.once('close', () => {
      // A graceful close of one side leaves the other finishing on its own; anything else ends both.
      if (!(other.readableEnded && other.writableEnded)) other.destroy()
      closedCount += 1
      if (closedCount === sockets.length) {
        onClose({ localBytesRead: local.bytesRead, localBytesWritten: local.bytesWritten, error: firstError })
      }
    })
  }
  local.pipe(mesh)
  mesh.pipe(local)
  local.resume()
  mesh.resume()
}
