/**
 * ServerApi on a client agent: every call goes to a server over the ZeroMQ CURVE transport as
 * `{ kind: 'rpc', method, args }` and runs there (LocalServerApi.handle). Servers come from the
 * agent's member list; a call picks one at random. A read that fails because the server is
 * unreachable is retried once on another server; a write is not (its outcome is unknown).
 */
import { ControlPlaneError, isControlPlaneError } from '../util/errors.js'
import type { NodeId } from '../raft/core/types.js'
import type { RaftTransport } from '../raft/transport.js'
import { isSafeToRetry, type RpcRequest } from './server-api.js'
import { serverApiMethods, type ServerApi } from './types.js'

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

  async call (method: keyof ServerApi, args: readonly unknown[]): Promise<unknown> {
    const servers = [...this.options.servers()]
    if (servers.length === 0) throw new ControlPlaneError('ERR_NO_LEADER', 'No known Consul servers')
    const isRead = readMethods.has(method)
    const waitMs = queryWaitMs(args)
    let lastError: unknown
    // Each server at most once; a write moves on only when the failure proves it was not
    // delivered or not processed there, so it is never applied twice.
    const order = shuffle(servers, this.preferred)
    for (const server of order) {
      const request: RpcRequest = { kind: 'rpc', method, args }
      try {
        const result = await this.options.transport.request(server, request, { timeoutMs: waitMs + (this.options.timeoutSlackMs ?? 20_000) })
        this.preferred = server
        return result
      } catch (err) {
        lastError = err
        const retry = isSafeToRetry(err) || (isRead && (isControlPlaneError(err, 'ERR_TRANSPORT') || isControlPlaneError(err, 'ERR_TIMEOUT') || isControlPlaneError(err, 'ERR_STOPPED')))
        if (!retry) throw err
        if (this.preferred === server) this.preferred = null
        this.options.logger.warn({ server, method, err: (err as Error).message }, 'RPC to server failed; trying another')
      }
    }
    throw lastError
  }
}

const methods = serverApiMethods
for (const method of methods) {
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
