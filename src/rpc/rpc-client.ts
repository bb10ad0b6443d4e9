/**
 * ServerApi on a client agent: every call goes to a server over the ZeroMQ CURVE transport as
 * `{ kind: 'rpc', method, args }` and runs there (LocalServerApi.handle). Servers come from the
 * agent's member list; a call picks one at random. A read that fails because the server is
 * unreachable, or whose connection to it drops while it waits (a blocking query to a server
 * that was killed), is retried once on another server; a write is not (its outcome is unknown).
 *
 * The exception is snapshotRestore, whose body is a stream: it runs the restore driver here
 * (snapshot-restore.ts) and sends the snapshot to a server chunk by chunk with the chunk-level
 * methods, each chunk awaited before the next is read, so a restore of any size costs this
 * agent about one chunk and no frame carries more than one.
 */
import { ControlPlaneError, isControlPlaneError } from '../util/errors.js'
import type { NodeId } from '../raft/core/types.js'
import type { RaftTransport } from '../raft/transport.js'
import { restoreChunkBytesMax, restoreSessionLengthMax } from '../fsm/commands.js'
import { isSafeToRetry, type RpcRequest } from './server-api.js'
import { restoreChunkAttemptsMax, restoreFinishTimeoutMs, restoreSnapshotStream, type RestoreTarget } from './snapshot-restore.js'
import { serverApiMethods, type ServerApi, type SnapshotRestoreBegun, type SnapshotRestoreClaim, type WriteOptions } from './types.js'

export interface RpcClientOptions {
  readonly transport: RaftTransport
  readonly servers: () => readonly NodeId[]
  readonly logger: { warn (fields: Record<string, unknown>, message: string): void }
  readonly timeoutSlackMs?: number
}

const readMethods = new Set<keyof ServerApi>([
  'kvGet', 'kvKeys', 'catalogServices', 'catalogService', 'catalogNodes', 'catalogNode', 'healthService',
  'statusLeader', 'statusPeers', 'raftConfiguration', 'snapshotSave',
  // Connect CA (#4): a repeated CSR only yields a second certificate, so signing counts as a read.
  'caRoots', 'caConfiguration', 'caSign',
  // Intentions (#4)
  'intentionList', 'intentionGet', 'intentionGetExact', 'intentionMatch', 'intentionCheck',
  // Connect proxy (#6)
  'catalogConnect', 'healthConnect'
])

// The class implements ServerApi by forwarding each method; the methods are generated below.
export interface RpcClient extends ServerApi {}
export class RpcClient {
  /** The server that answered last: tried first, so a client sticks to a healthy server. */
  private preferred: NodeId | null = null
  constructor (private readonly options: RpcClientOptions) {}

  async call (method: keyof ServerApi, args: readonly unknown[], options: CallOptions = {}): Promise<unknown> {
    return (await this.callAndTell(method, args, options)).result
  }

  /** Like call, and tells which server answered. */
  async callAndTell (method: keyof ServerApi, args: readonly unknown[], options: CallOptions = {}): Promise<{ readonly result: unknown, readonly server: NodeId }> {
    const servers = [...this.options.servers()]
    if (servers.length === 0) throw new ControlPlaneError('ERR_NO_LEADER', 'No known Consul servers')
    const isRepeatable = options.isRepeatable ?? readMethods.has(method)
    const timeoutMs = options.timeoutMs ?? queryWaitMs(args) + (this.options.timeoutSlackMs ?? 20_000)
    let lastError: unknown
    // Each server at most once; a write moves on only when the failure proves it was not
    // delivered or not processed there, so it is never applied twice.
    const order = shuffle(servers, options.server ?? this.preferred)
    for (const server of order) {
      const request: RpcRequest = { kind: 'rpc', method, args }
      try {
        const result = await this.options.transport.request(server, request, { timeoutMs, abandonOnDisconnect: isRepeatable })
        this.preferred = server
        return { result, server }
      } catch (err) {
        lastError = err
        const retry = isSafeToRetry(err) || (isRepeatable && (isControlPlaneError(err, 'ERR_TRANSPORT') || isControlPlaneError(err, 'ERR_TIMEOUT') || isControlPlaneError(err, 'ERR_STOPPED')))
        if (!retry) throw err
        if (this.preferred === server) this.preferred = null
        this.options.logger.warn({ server, method, err: (err as Error).message }, 'RPC to server failed; trying another')
      }
    }
    throw lastError
  }

  /**
   * A restore streamed from this agent to a server (see the header). Begin asks a server for
   * the session and chunk size; every later call goes to the server that answered last.
   */
  async snapshotRestore (data: AsyncIterable<Uint8Array>, write: WriteOptions): Promise<void> {
    const begun = await this.callAndTell('snapshotRestoreBegin', [write], { isRepeatable: true })
    const target = new RpcRestoreTarget(this, { begun: checkBegun(begun.result, begun.server), server: begun.server, write })
    await restoreSnapshotStream(data, target)
  }
}

export interface CallOptions {
  /** Safe to send again after an unknown outcome (default: the method is a read). */
  readonly isRepeatable?: boolean
  /** The transport deadline (default: a blocking query's wait plus timeoutSlackMs). */
  readonly timeoutMs?: number
  /** Tried first (default: the server that answered last). */
  readonly server?: NodeId
}

/**
 * Deadline of one chunk RPC: the server may propose the chunk restoreChunkAttemptsMax times,
 * each within its write timeout (10 s) after waiting out a leader election (7 s). A chunk RPC
 * that times out is sent again, which is harmless (snapshot-restore.ts).
 */
const restoreChunkRpcTimeoutMs = restoreChunkAttemptsMax * 17_000 + 20_000

/** The driver's target on a client agent: each step is one RPC, kept to one server while it answers. */
class RpcRestoreTarget implements RestoreTarget {
  readonly session: string
  readonly chunkBytes: number
  #server: NodeId

  constructor (private readonly client: RpcClient, private readonly upload: { begun: SnapshotRestoreBegun, server: NodeId, write: WriteOptions }) {
    this.session = upload.begun.Session
    this.chunkBytes = upload.begun.ChunkBytes
    this.#server = upload.server
  }

  async chunk (seq: number, data: Uint8Array): Promise<void> {
    await this.#call('snapshotRestoreChunk', [this.session, seq, data, this.upload.write], { isRepeatable: true, timeoutMs: restoreChunkRpcTimeoutMs })
  }

  async finish (claim: SnapshotRestoreClaim): Promise<void> {
    // Not repeatable: moves to another server only if this one provably did not take it.
    await this.#call('snapshotRestoreFinish', [this.session, claim, this.upload.write], { isRepeatable: false, timeoutMs: restoreFinishTimeoutMs(claim.Bytes) + 20_000 })
  }

  async abort (): Promise<void> {
    await this.#call('snapshotRestoreAbort', [this.session, this.upload.write], { isRepeatable: true, timeoutMs: 30_000 })
  }

  async #call (method: keyof ServerApi, args: readonly unknown[], options: { isRepeatable: boolean, timeoutMs: number }): Promise<void> {
    const answered = await this.client.callAndTell(method, args, { ...options, server: this.#server })
    this.#server = answered.server
  }
}

/** A server's answer to snapshotRestoreBegin, checked before anything is sent with it. */
function checkBegun (value: unknown, server: NodeId): SnapshotRestoreBegun {
  const begun = (typeof value === 'object' && value !== null ? value : {}) as Partial<Record<keyof SnapshotRestoreBegun, unknown>>
  const { Session: session, ChunkBytes: chunkBytes } = begun
  const isSessionValid = typeof session === 'string' && session.length > 0 && session.length <= restoreSessionLengthMax
  const isChunkBytesValid = typeof chunkBytes === 'number' && Number.isSafeInteger(chunkBytes) && chunkBytes > 0 && chunkBytes <= restoreChunkBytesMax
  if (!isSessionValid || !isChunkBytesValid) {
    throw new ControlPlaneError('ERR_TRANSPORT', `server ${server} answered snapshotRestoreBegin with ${JSON.stringify({ Session: session, ChunkBytes: chunkBytes })}: expected a session of 1..${restoreSessionLengthMax} characters and ChunkBytes in 1..${restoreChunkBytesMax}`)
  }
  return { Session: session, ChunkBytes: chunkBytes }
}

const methods = serverApiMethods
for (const method of methods) {
  // Methods the class implements itself (snapshotRestore) are not forwarded as they are.
  if (Object.prototype.hasOwnProperty.call(RpcClient.prototype, method)) continue
  Object.defineProperty(RpcClient.prototype, method, {
    value: async function (this: RpcClient, ...args: unknown[]) { return await this.call(method, args) },
    writable: false
  })
}

function shuffle (servers: readonly NodeId[], preferred: NodeId | null): NodeId[] {
  const rest = servers.filter(id => id !== preferred)
  for (let i = rest.length - 1; i > 0; i -= 1) {
    const j = Math.floor(Math.random() * (i + 1))
    const swap = rest[i]!
    rest[i] = rest[j]!
    rest[j] = swap
  }
  return preferred !== null && servers.includes(preferred) ? [preferred, ...rest] : rest
}

/**
 * A blocking query's wait, so the transport deadline outlasts it. A read without ?index does not
 * block, whatever its maxQueryTimeMs (the default wait, 5 min): it gets the slack alone.
 */
function queryWaitMs (args: readonly unknown[]): number {
  for (const arg of args) {
    const query = arg as { maxQueryTimeMs?: unknown, minQueryIndex?: unknown } | null
    const wait = query?.maxQueryTimeMs
    if (typeof wait !== 'number') continue
    return typeof query?.minQueryIndex === 'number' && query.minQueryIndex > 0 ? wait : 0
  }
  return 0
}
