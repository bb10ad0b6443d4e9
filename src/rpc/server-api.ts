/**
 * ServerApi on a server: the RPC endpoints. Validate, forward when this node cannot answer,
 * decide, propose, await apply, return (STYLE §2 "RPC and HTTP").
 *
 * Reads: `stale` answers from local state; `consistent` first runs a ReadIndex barrier (which
 * confirms leadership with a quorum and waits for the local apply), then answers locally; the
 * default mode is answered by the leader, so a follower forwards the whole call there. Blocking
 * queries wait on the state store's change listener until an index of the tables they read
 * passes `minQueryIndex`, or the wait ends.
 *
 * Writes are encoded FSM commands proposed through the Raft node, which forwards them to the
 * leader itself. A write that the store refused (WriteOutcome ok: false) becomes a typed error.
 *
 * Called by: the HTTP API on servers (directly) and by client agents (through the transport,
 * `{ kind: 'rpc', method, args }`, see rpc-client.ts).
 */
import { randomUUID } from 'node:crypto'
import { ControlPlaneError, isControlPlaneError } from '../util/errors.js'
import { encodeCommand, type Command, type CommandResult, type CommandType, type StateReader, type TableName } from '../fsm/index.js'
import type { RaftNode } from '../raft/node.js'
import type { RaftTransport } from '../raft/transport.js'
import { parsePeerAddress } from '../raft/node.js'
import {
  checkRestoreClaim, proposeRestoreAbort, proposeRestoreChunk, proposeRestoreFinish, restoreChunkBytes, restoreSnapshotThroughLog,
  type LogRestoreOptions
} from './snapshot-restore.js'
import { IntentionEndpoints } from './intention-endpoints.js' // Intentions (#4)
import type { IntentionDefault, IntentionMatchBy, IntentionReply, IntentionRequest, IntentionSelector } from './intentions.js' // Intentions (#4)
import { nodeJson, nodeServiceJson, serviceHealthJson, serviceNodeJson, toFsmDeregistration, toFsmRegistration } from './catalog-shapes.js'
import type {
  CaConfigReply, CaConfigUpdate, CaRootsReply, CatalogDeregistration, CatalogRegistration, DirEntry, IssuedCertReply, KvDeleteOptions, KvPutOptions, QueryMeta, QueryOptions, QueryResult,
  RaftConfigurationReply, ServerApi, SnapshotRestoreBegun, SnapshotRestoreClaim, TxnKvOp, TxnResult, WriteOptions
} from './types.js'
import { isServerApiMethod, rpcLocalOnlyMethods } from './types.js'

export interface RpcRequest {
  readonly kind: 'rpc'
  readonly method: keyof ServerApi
  readonly args: readonly unknown[]
}

export interface LocalServerApiOptions {
  readonly raft: RaftNode
  readonly reader: StateReader
  readonly transport: RaftTransport
  /** Takes a snapshot of the FSM with the index it covers. */
  readonly snapshot: () => { index: number, data: Uint8Array }
  readonly forwardSlackMs?: number
  /** How long a request waits for a usable leader before failing (Consul's rpc_hold_timeout, 7 s). */
  readonly holdTimeoutMs?: number
  readonly writeTimeoutMs?: number
  /** The agent's datacenter, for registrations that name none. */
  readonly datacenter?: string
  /** The Connect CA (#4, connect-ca.ts); null on servers built without one (tests), which then refuse CA calls. */
  readonly connectCa?: ConnectCaService | null
  /** Intentions (#4): what /check answers when no intention matches; default ACLs disabled (allow). */
  readonly intentionDefault?: IntentionDefault
}

/** What LocalServerApi needs of the Connect CA (implemented by ConnectCa in connect-ca.ts). */
export interface ConnectCaService {
  /** Throws ERR_REJECTED "Connect must be enabled ..." when this server has Connect disabled. */
  requireEnabled (): void
  rootsReply (): CaRootsReply
  configReply (): CaConfigReply
  /** Leader only. */
  setConfig (update: CaConfigUpdate): Promise<void>
  /** Leader only. */
  sign (csrPem: string, service: string): Promise<IssuedCertReply>
}

export const connectDisabledMessage = 'Connect must be enabled in order to use this endpoint'

/**
 * Errors that prove a write was not appended anywhere, so it may be tried again: no leader was
 * known, the node asked was not (or no longer) the leader, the request never left this node, or
 * the node asked was shutting down and did not look at it.
 */
export function isSafeToRetry (err: unknown): boolean {
  if (!isControlPlaneError(err)) return false
  if (err.code === 'ERR_NO_LEADER' || err.code === 'ERR_NOT_LEADER') return true
  const details = (err as { details?: Record<string, unknown> }).details ?? {}
  return details.notDelivered === true || details.notProcessed === true
}

/** A read changes nothing: besides isSafeToRetry, a forward that timed out or was lost may be sent again. */
function isSafeToRetryRead (err: unknown): boolean {
  return isSafeToRetry(err) || isControlPlaneError(err, 'ERR_TIMEOUT') || isControlPlaneError(err, 'ERR_TRANSPORT')
}

export class LocalServerApi implements ServerApi {
  /** Set while the server shuts down: new RPCs are refused unprocessed, so callers go elsewhere. */
  private leaving = false
  private inFlight = 0
  /** Wakes each blocking query still waiting (drain ends them). */
  private readonly blockingWaiters = new Set<() => void>()

  constructor (private readonly options: LocalServerApiOptions) {}

  /** Refuses new RPCs from now on and resolves once the ones running have finished (bounded). */
  async drain (timeoutMs: number): Promise<void> {
    this.leaving = true
    // Blocking queries answer now with what they have, rather than hold the shutdown for their wait.
    for (const wake of [...this.blockingWaiters]) wake()
    const deadline = Date.now() + timeoutMs
    while (this.inFlight > 0 && Date.now() < deadline) await new Promise(resolve => setTimeout(resolve, 20))
  }

  /**
   * Like Consul's rpc_hold_timeout: while there is no usable leader (an election or a leadership
   * transfer is under way), retry for a while instead of failing at once. Only errors that prove
   * nothing was appended are retried, so a write is never applied twice.
   */
  private async hold<T> (attempt: (deadline: number) => Promise<T>, canRetry: (err: unknown) => boolean = isSafeToRetry): Promise<T> {
    const deadline = Date.now() + (this.options.holdTimeoutMs ?? 7_000)
    for (let delayMs = 25; ; delayMs = Math.min(delayMs * 2, 250)) {
      try {
        return await attempt(deadline)
      } catch (err) {
        if (!canRetry(err) || Date.now() + delayMs > deadline) throw err
        await new Promise(resolve => setTimeout(resolve, delayMs))
      }
    }
  }

  // -------------------------------------------------------------------------------------------
  // Dispatch of forwarded calls.

  /** Runs a call that arrived over the transport from a client agent or a follower. */
  async handle (request: RpcRequest): Promise<unknown> {
    if (this.leaving) throw new ControlPlaneError('ERR_STOPPED', 'this server is shutting down; the request was not processed', { details: { notProcessed: true } })
    this.inFlight += 1
    try {
      return await this.dispatch(request)
    } finally {
      this.inFlight -= 1
    }
  }

  private async dispatch (request: RpcRequest): Promise<unknown> {
    // Only the ServerApi surface: `hold`, `read` and other helpers are methods too, but not RPCs.
    const method = isServerApiMethod(request.method) ? this[request.method] as unknown : undefined
    if (typeof method !== 'function') {
      throw new ControlPlaneError('ERR_INVALID_INPUT', `unknown RPC method ${String(request.method)}`)
    }
    if (rpcLocalOnlyMethods.has(request.method)) {
      throw new ControlPlaneError('ERR_INVALID_INPUT', `RPC method ${request.method} is local only: its arguments cannot cross one RPC frame`)
    }
    return await (method as (...args: unknown[]) => Promise<unknown>).apply(this, [...request.args])
  }

  /**
   * `deadline` (epoch ms), when given, cuts the answer's timeout short. `isRead`: the call may be
   * sent again, so it fails as soon as the connection to the leader drops (a killed leader would
   * otherwise hold a forwarded blocking query for its whole wait).
   */
  private async forwardToLeader<T> (method: keyof ServerApi, args: readonly unknown[], waitMs: number, deadline?: number, isRead = false): Promise<T> {
    const leader = this.options.raft.leaderId
    if (leader === null) throw new ControlPlaneError('ERR_NO_LEADER', 'No cluster leader')
    const request: RpcRequest = { kind: 'rpc', method, args }
    let timeoutMs = waitMs + (this.options.forwardSlackMs ?? 5_000)
    if (deadline !== undefined) timeoutMs = Math.max(1, Math.min(timeoutMs, deadline - Date.now()))
    return await this.options.transport.request(leader, request, { timeoutMs, abandonOnDisconnect: isRead }) as T
  }

  // -------------------------------------------------------------------------------------------
  // Reads.

  private async read<T> (
    method: keyof ServerApi, args: readonly unknown[], query: QueryOptions, tables: readonly TableName[], run: () => T
  ): Promise<QueryResult<T>> {
    const raft = this.options.raft
    if (query.consistency === 'default' && !raft.isLeader) return await this.forwardRead(method, args, query)
    if (query.consistency === 'consistent') await this.hold(async () => await raft.readBarrier({ timeoutMs: 10_000 }))
    if (query.minQueryIndex > 0) await this.waitForChange(tables, query.minQueryIndex, query.maxQueryTimeMs)
    const value = run()
    return { meta: this.meta(tables, query), value }
  }

  /**
   * A default-mode read on a follower, answered by the leader. Only a blocking query may wait
   * there; a plain read is bounded by the hold, so a leader that stopped answering (paused, cut
   * off, not yet noticed as gone) fails the read with "No cluster leader" after the hold instead
   * of keeping it for the default blocking wait (5 min). Reads change nothing, so a forward that
   * timed out or was lost is retried within the hold (as RpcClient does for reads).
   */
  private async forwardRead<T> (method: keyof ServerApi, args: readonly unknown[], query: QueryOptions): Promise<T> {
    if (query.minQueryIndex > 0) return await this.hold(async () => await this.forwardToLeader(method, args, query.maxQueryTimeMs, undefined, true), isSafeToRetryRead)
    try {
      return await this.hold(async deadline => await this.forwardToLeader(method, args, 0, deadline, true), isSafeToRetryRead)
    } catch (err) {
      if (!isControlPlaneError(err, 'ERR_TIMEOUT') && !isControlPlaneError(err, 'ERR_TRANSPORT')) throw err
      throw new ControlPlaneError('ERR_NO_LEADER', 'No cluster leader', { cause: err })
    }
  }

  private meta (tables: readonly TableName[], query: QueryOptions): QueryMeta {
    const raft = this.options.raft
    const lastContact = raft.lastContactMs()
    return {
      index: Math.max(1, this.options.reader.maxTableIndex(tables)),
      knownLeader: raft.leaderId !== null,
      lastContactMs: Number.isFinite(lastContact) ? lastContact : 0,
      effectiveConsistency: query.consistency === 'default' ? 'leader' : query.consistency
    }
  }

  /** Resolves once one of the tables moves past `index`, or after `waitMs`. */
  private async waitForChange (tables: readonly TableName[], index: number, waitMs: number): Promise<void> {
    const reader = this.options.reader
    if (reader.maxTableIndex(tables) > index) return
    if (this.leaving) return
    const waiters = this.blockingWaiters
    await new Promise<void>(resolve => {
      const timer = setTimeout(done, waitMs)
      const unsubscribe = reader.onChange(change => {
        for (const table of tables) {
          if (change.tables.has(table) && reader.maxTableIndex(tables) > index) { done(); return }
        }
      })
      waiters.add(done)
      function done (): void {
        clearTimeout(timer)
        unsubscribe()
        waiters.delete(done)
        resolve()
      }
    })
  }

  async kvGet (key: string, options: { recurse: boolean }, query: QueryOptions): Promise<QueryResult<readonly DirEntry[]>> {
    return await this.read('kvGet', [key, options, query], query, ['kvs'], () => {
      const reader = this.options.reader
      const rows = options.recurse ? reader.kvList(key) : [reader.kvGet(key)].filter(row => row !== undefined)
      return rows.map(row => ({
        Key: row.Key,
        Value: row.Value.byteLength === 0 ? null : row.Value,
        Flags: row.Flags,
        LockIndex: row.LockIndex,
        CreateIndex: row.CreateIndex,
        ModifyIndex: row.ModifyIndex,
        ...(row.Session !== undefined ? { Session: row.Session } : {})
      }))
    })
  }

  async kvKeys (prefix: string, separator: string | null, query: QueryOptions): Promise<QueryResult<readonly string[]>> {
    return await this.read('kvKeys', [prefix, separator, query], query, ['kvs'], () => this.options.reader.kvKeys(prefix, separator ?? ''))
  }

  async catalogServices (query: QueryOptions): Promise<QueryResult<Readonly<Record<string, readonly string[]>>>> {
    return await this.read('catalogServices', [query], query, ['services'], () => {
      const result: Record<string, readonly string[]> = {}
      for (const summary of this.options.reader.catalogServiceSummaries()) result[summary.Name] = summary.Tags
      return result
    })
  }

  async catalogService (name: string, options: { tags: readonly string[] }, query: QueryOptions): Promise<QueryResult<readonly unknown[]>> {
    return await this.read('catalogService', [name, options, query], query, ['nodes', 'services'], () =>
      this.options.reader.catalogServiceInstances(name).filter(instance => hasTags(instance.service.Tags, options.tags)).map(serviceNodeJson))
  }

  async catalogNodes (query: QueryOptions): Promise<QueryResult<readonly unknown[]>> {
    return await this.read('catalogNodes', [query], query, ['nodes'], () => this.options.reader.catalogNodes().map(nodeJson))
  }

  async catalogNode (name: string, query: QueryOptions): Promise<QueryResult<unknown | null>> {
    return await this.read('catalogNode', [name, query], query, ['nodes', 'services'], () => {
      const reader = this.options.reader
      const node = reader.catalogNode(name)
      if (node === undefined) return null
      const services: Record<string, unknown> = {}
      for (const service of reader.catalogNodeServices(name)) services[service.ID] = nodeServiceJson(service)
      return { Node: nodeJson(node), Services: services }
    })
  }

  async healthService (name: string, options: { passing: boolean, tags: readonly string[] }, query: QueryOptions): Promise<QueryResult<readonly unknown[]>> {
    return await this.read('healthService', [name, options, query], query, ['nodes', 'services', 'checks'], () =>
      this.options.reader.healthService(name, { connect: false }).filter(health => {
        if (!hasTags(health.service.Tags, options.tags)) return false
        return !options.passing || health.checks.every(check => check.Status === 'passing')
      }).map(serviceHealthJson))
  }

  // -------------------------------------------------------------------------------------------
  // Writes.

  private async apply<K extends CommandType> (command: Command & { type: K }): Promise<CommandResult<K>> {
    const bytes = encodeCommand(command)
    const outcome = await this.hold(async () => await this.options.raft.propose(bytes, { timeoutMs: this.options.writeTimeoutMs ?? 10_000 }))
    return outcome.result as CommandResult<K>
  }

  async kvPut (key: string, value: Uint8Array, options: KvPutOptions, _write: WriteOptions): Promise<boolean> {
    return await this.apply({ type: 'kvSet', Key: key, Value: value, Flags: options.flags, ...(options.cas !== null ? { Cas: options.cas } : {}) })
  }

  async kvDelete (key: string, options: KvDeleteOptions, _write: WriteOptions): Promise<boolean> {
    return await this.apply({ type: 'kvDelete', Key: key, Recurse: options.recurse, ...(options.cas !== null ? { Cas: options.cas } : {}) })
  }

  async txn (ops: readonly TxnKvOp[], query: QueryOptions): Promise<TxnResult> {
    for (const [index, op] of ops.entries()) {
      if (op.Verb === 'lock' || op.Verb === 'unlock' || op.Verb === 'check-session') {
        throw new ControlPlaneError('ERR_INVALID_INPUT', `operation ${index}: verb "${op.Verb}" needs sessions, which weft does not support yet`)
      }
    }
    const fsmOps = ops.map(toFsmTxnOp)
    // TODO(weft): serve read-only transactions as reads without a log write (#3); through the
    // log they are linearizable, only slower.
    void query
    const outcome = await this.apply({ type: 'kvTxn', Ops: fsmOps })
    return toTxnResult(outcome, this.options.reader.tableIndex('kvs'))
  }

  async catalogRegister (registration: CatalogRegistration, _write: WriteOptions): Promise<boolean> {
    const outcome = await this.apply({ type: 'catalogRegister', Registration: toFsmRegistration(registration, this.options.datacenter ?? 'dc1') })
    if (!outcome.ok) throw new ControlPlaneError(outcome.code, outcome.message)
    return true
  }

  async catalogDeregister (deregistration: CatalogDeregistration, _write: WriteOptions): Promise<boolean> {
    const outcome = await this.apply({ type: 'catalogDeregister', Deregistration: toFsmDeregistration(deregistration) })
    if (!outcome.ok) throw new ControlPlaneError(outcome.code, outcome.message)
    return true
  }

  // -------------------------------------------------------------------------------------------
  // Status and operator.

  private servers (): RaftConfigurationReply['Servers'] {
    const status = this.options.raft.status()
    const { voters, learners, addresses } = status.configuration
    return [...voters, ...learners].map(id => {
      const peer = parsePeerAddress(addresses[id] ?? '')
      return {
        ID: id,
        Node: peer.name ?? id,
        Address: rpcAddress(peer.endpoint),
        Leader: id === status.leaderId,
        ProtocolVersion: '3',
        Voter: voters.includes(id),
        LastIndex: id === status.id ? status.lastIndex : (status.progress.get(id)?.match ?? 0)
      }
    })
  }

  async statusLeader (): Promise<string> {
    const leader = this.options.raft.leaderId
    if (leader === null || !this.options.raft.started) return ''
    const address = this.options.raft.status().configuration.addresses[leader]
    return address === undefined ? '' : rpcAddress(parsePeerAddress(address).endpoint)
  }

  async statusPeers (): Promise<readonly string[]> {
    if (!this.options.raft.started) return []
    const { voters, addresses } = this.options.raft.status().configuration
    return voters.map(id => rpcAddress(parsePeerAddress(addresses[id] ?? '').endpoint))
  }

  async raftConfiguration (query: QueryOptions): Promise<RaftConfigurationReply> {
    const raft = this.options.raft
    if (query.consistency !== 'stale' && !raft.isLeader) {
      return await this.forwardToLeader('raftConfiguration', [query], 0)
    }
    return { Servers: this.servers(), Index: raft.status().commitIndex }
  }

  async raftRemovePeer (target: { readonly id: string } | { readonly address: string }, _write: WriteOptions): Promise<void> {
    const servers = this.servers()
    const match = 'id' in target ? servers.find(s => s.ID === target.id) : servers.find(s => s.Address === target.address)
    if (match === undefined) {
      const what = 'id' in target ? `id "${target.id}"` : `address "${target.address}"`
      throw new ControlPlaneError('ERR_NOT_FOUND', `${what} was not found in the Raft configuration`)
    }
    await this.hold(async () => await this.options.raft.proposeConfChange({ type: 'remove', nodeId: match.ID }))
  }

  async raftTransferLeader (id: string | null, write: WriteOptions): Promise<void> {
    const raft = this.options.raft
    if (!raft.isLeader) return await this.forwardToLeader('raftTransferLeader', [id, write], 0)
    await raft.transferLeadership(id)
  }

  // -------------------------------------------------------------------------------------------
  // Snapshots.

  async snapshotSave (query: QueryOptions): Promise<{ readonly index: number, readonly data: Uint8Array }> {
    const raft = this.options.raft
    if (query.consistency !== 'stale' && !raft.isLeader) return await this.forwardToLeader('snapshotSave', [query], 0)
    return this.options.snapshot()
  }

  /**
   * Restores a user's snapshot as chunk entries plus a finish entry (snapshot-restore.ts),
   * pulling the body from `data` one chunk at a time: it is never held whole, and no log entry,
   * append or frame holds more than one chunk. The session ID is decided here, before anything
   * is logged. Local only (rpcLocalOnlyMethods): a client agent uses the chunk methods below.
   */
  async snapshotRestore (data: AsyncIterable<Uint8Array>, _write: WriteOptions): Promise<void> {
    await restoreSnapshotThroughLog(data, { session: randomUUID(), ...this.restoreLog() })
  }

  // The chunk-level restore of a client agent (RpcClient.snapshotRestore). Each call proposes at
  // most one command through this server's Raft node (which forwards to the leader) and answers
  // once it applied there, so calls of one upload may come to any server in turn.

  async snapshotRestoreBegin (_write: WriteOptions): Promise<SnapshotRestoreBegun> {
    return { Session: randomUUID(), ChunkBytes: restoreChunkBytes }
  }

  async snapshotRestoreChunk (session: string, seq: number, data: Uint8Array, _write: WriteOptions): Promise<void> {
    // encodeCommand validates session, seq and data (ERR_INVALID_INPUT naming the field).
    await proposeRestoreChunk(session, seq, data, this.restoreLog())
  }

  async snapshotRestoreFinish (session: string, claim: SnapshotRestoreClaim, _write: WriteOptions): Promise<void> {
    await proposeRestoreFinish(session, checkRestoreClaim(claim), this.restoreLog())
  }

  async snapshotRestoreAbort (session: string, _write: WriteOptions): Promise<void> {
    await proposeRestoreAbort(session, this.restoreLog())
  }

  private restoreLog (): LogRestoreOptions {
    return {
      chunkTimeoutMs: this.options.writeTimeoutMs ?? 10_000,
      propose: async (bytes, options) => (await this.hold(async () => await this.options.raft.propose(bytes, options))).result
    }
  }

  // -------------------------------------------------------------------------------------------
  // Connect CA (#4): see connect-ca.ts. Reads follow the consistency modes; configuration
  // changes and signing run on the leader (followers forward).

  private ca (): ConnectCaService {
    const ca = this.options.connectCa ?? null
    if (ca === null) throw new ControlPlaneError('ERR_REJECTED', connectDisabledMessage)
    ca.requireEnabled()
    return ca
  }

  async caRoots (query: QueryOptions): Promise<QueryResult<CaRootsReply>> {
    const ca = this.ca()
    return await this.read('caRoots', [query], query, ['connect-ca-roots'], () => ca.rootsReply())
  }

  async caConfiguration (query: QueryOptions): Promise<QueryResult<CaConfigReply>> {
    const ca = this.ca()
    return await this.read('caConfiguration', [query], query, ['connect-ca-config'], () => ca.configReply())
  }

  async caSetConfiguration (update: CaConfigUpdate, write: WriteOptions): Promise<void> {
    const ca = this.ca()
    if (!this.options.raft.isLeader) return await this.hold(async deadline => await this.forwardToLeader('caSetConfiguration', [update, write], 0, deadline))
    await ca.setConfig(update)
  }

  async caSign (csrPem: string, service: string, write: WriteOptions): Promise<IssuedCertReply> {
    const ca = this.ca()
    if (!this.options.raft.isLeader) return await this.hold(async deadline => await this.forwardToLeader('caSign', [csrPem, service, write], 0, deadline), isSafeToRetryRead)
    return await ca.sign(csrPem, service)
  }

  // -------------------------------------------------------------------------------------------
  // Intentions (#4): RPC entry points; the logic is in intention-endpoints.ts. Writes run on the
  // leader (which picks IDs and timestamps), forwarded there whole from a follower.

  #intentions: IntentionEndpoints | null = null

  private get intentions (): IntentionEndpoints {
    this.#intentions ??= new IntentionEndpoints({
      reader: this.options.reader,
      read: async (method, args, query, run) => await this.read(method, args, query, ['connect-intentions'], run),
      onLeader: async (method, args, run) => await this.hold(async () => {
        if (this.options.raft.isLeader) return await run()
        return await this.forwardToLeader(method, args, this.options.writeTimeoutMs ?? 10_000)
      }),
      apply: async command => await this.apply(command as never) as never,
      defaults: this.options.intentionDefault ?? { aclsEnabled: false, aclDefaultPolicy: 'allow' }
    })
    return this.#intentions
  }

  async intentionList (query: QueryOptions): Promise<QueryResult<readonly IntentionReply[]>> {
    return await this.intentions.list(query)
  }

  async intentionGet (id: string, query: QueryOptions): Promise<QueryResult<IntentionReply | null>> {
    return await this.intentions.get(id, query)
  }

  async intentionGetExact (source: string, destination: string, query: QueryOptions): Promise<QueryResult<IntentionReply | null>> {
    return await this.intentions.getExact(source, destination, query)
  }

  async intentionCreate (intention: IntentionRequest, write: WriteOptions): Promise<{ readonly ID: string }> {
    return await this.intentions.create(intention, write)
  }

  async intentionUpdate (id: string, intention: IntentionRequest, write: WriteOptions): Promise<{ readonly ID: string }> {
    return await this.intentions.update(id, intention, write)
  }

  async intentionUpsertExact (source: string, destination: string, intention: IntentionRequest, write: WriteOptions): Promise<{ readonly ID: string }> {
    return await this.intentions.upsertExact(source, destination, intention, write)
  }

  async intentionDelete (selector: IntentionSelector, write: WriteOptions): Promise<boolean> {
    return await this.intentions.delete(selector, write)
  }

  async intentionMatch (by: IntentionMatchBy, names: readonly string[], query: QueryOptions): Promise<QueryResult<Readonly<Record<string, readonly IntentionReply[]>>>> {
    return await this.intentions.match(by, names, query)
  }

  async intentionCheck (source: string, destination: string, query: QueryOptions): Promise<QueryResult<{ readonly Allowed: boolean }>> {
    return await this.intentions.check(source, destination, query)
  }

  // -------------------------------------------------------------------------------------------
  // Connect proxy (#6): mesh-capable endpoints (proxies for `name` and its native instances),
  // read like their /catalog/service and /health/service counterparts.

  async catalogConnect (name: string, options: { tags: readonly string[] }, query: QueryOptions): Promise<QueryResult<readonly unknown[]>> {
    return await this.read('catalogConnect', [name, options, query], query, ['nodes', 'services'], () =>
      this.options.reader.catalogConnectInstances(name).filter(instance => hasTags(instance.service.Tags, options.tags)).map(serviceNodeJson))
  }

  async healthConnect (name: string, options: { passing: boolean, tags: readonly string[] }, query: QueryOptions): Promise<QueryResult<readonly unknown[]>> {
    return await this.read('healthConnect', [name, options, query], query, ['nodes', 'services', 'checks'], () =>
      this.options.reader.healthService(name, { connect: true }).filter(health => {
        if (!hasTags(health.service.Tags, options.tags)) return false
        return !options.passing || health.checks.every(check => check.Status === 'passing')
      }).map(serviceHealthJson))
  }
}

function hasTags (own: readonly string[], tags: readonly string[]): boolean {
  return tags.every(tag => own.includes(tag))
}

/** `tcp://127.0.0.11:8300` -> `127.0.0.11:8300`, as Consul reports server addresses. */
function rpcAddress (endpoint: string): string {
  return endpoint.replace(/^tcp:\/\//, '')
}

function toFsmTxnOp (op: TxnKvOp): never {
  switch (op.Verb) {
    case 'set': return { Verb: 'set', Key: op.Key, Value: op.Value ?? new Uint8Array(0), Flags: op.Flags } as never
    case 'cas': return { Verb: 'cas', Key: op.Key, Value: op.Value ?? new Uint8Array(0), Flags: op.Flags, Index: op.Index } as never
    case 'check-index':
    case 'delete-cas': return { Verb: op.Verb, Key: op.Key, Index: op.Index } as never
    default: return { Verb: op.Verb, Key: op.Key } as never
  }
}

function toTxnResult (outcome: CommandResult<'kvTxn'>, index: number): TxnResult {
  if (!outcome.ok) return { ok: false, results: [], errors: outcome.Errors, index }
  return {
    ok: true,
    results: outcome.Results.map(row => ({
      KV: {
        Key: row.Key,
        Value: row.Value === null || row.Value.byteLength === 0 ? null : row.Value,
        Flags: row.Flags,
        LockIndex: row.LockIndex,
        CreateIndex: row.CreateIndex,
        ModifyIndex: row.ModifyIndex,
        ...(row.Session !== undefined ? { Session: row.Session } : {})
      }
    })),
    errors: [],
    index
  }
}
