/**
 * RaftNode: the I/O shell around the pure RaftCore. It is the only Raft code that awaits.
 *
 * One drain loop, per Ready: send the messages that depend on nothing unpersisted, persist hard
 * state + entries (+ a received snapshot) in one synced storage write, send the rest, restore /
 * apply to the state machine, settle the proposals and reads waiting on those indexes, advance.
 *
 * Inputs (ticks from a timer, messages from the transport, proposals) go into the synchronous
 * core at once, even while a write is in flight. Messages that need no durability (heartbeats
 * and their answers, a leader's appends) are sent immediately, so a slow fsync never starves
 * heartbeats; everything that arrived during the write lands in the next Ready, so one fsync
 * covers all of it (group commit).
 *
 * Who calls it: the agent (src/agent) owns one per server; tests and the benchmark build them
 * directly with a LevelStorage and a ZmqTransport.
 */
import { assert } from '../util/assert.js'
import { ControlPlaneError, isControlPlaneError } from '../util/errors.js'
import { SeededPrng } from '../util/prng.js'
import { RaftCore, bootstrapState, defaultCoreLimits, type CoreStatus } from './core/raft.js'
import type { ConfChange, Configuration, CoreLogger, Entry, HardState, Message, NodeId, Ready, Snapshot } from './core/types.js'
import type { RaftStorage } from './storage.js'
import type { PeerInfo, RaftTransport } from './transport.js'

/** The replicated state machine. apply is synchronous and deterministic. */
export interface StateMachine {
  apply (entry: Entry): unknown
  snapshot (): Uint8Array
  restore (data: Uint8Array): void
}

export interface NodeLogger extends CoreLogger {
  error (fields: Record<string, unknown>, message: string): void
  fatal?: (fields: Record<string, unknown>, message: string) => void
}

export interface RaftNodeOptions {
  readonly id: NodeId
  readonly storage: RaftStorage
  readonly transport: RaftTransport
  readonly stateMachine: StateMachine
  readonly logger: NodeLogger
  /** The address other members use for this node: `${transport endpoint} ${CURVE public key}`. */
  readonly address: string
  /** Founding voters when the storage is empty; omit to join an existing cluster as a learner. */
  readonly bootstrap?: Configuration
  /** Members to trust and reach before the log says who they are (a joining node's seed list). */
  readonly knownPeers?: Readonly<Record<NodeId, string>>
  readonly tickMs?: number
  readonly electionTicks?: number
  readonly heartbeatTicks?: number
  readonly snapshotEveryEntries?: number
  readonly proposalTimeoutMs?: number
  readonly forwardTimeoutMs?: number
  readonly seed?: number
  readonly limits?: Partial<typeof defaultCoreLimits>
  /** Called after each committed entry is applied (blocking queries hook in here). */
  readonly onApplied?: (entry: Entry, result: unknown) => void
  /** Serves transport requests of kind 'rpc' (the server RPC endpoints, src/rpc). */
  readonly rpcHandler?: (from: NodeId, payload: unknown) => Promise<unknown>
  /** Called once the node has stopped itself after a storage failure or broken invariant. */
  readonly onFatal?: (err: Error) => void
}

export interface ProposeOutcome {
  readonly index: number
  readonly term: number
  readonly result: unknown
}

interface PendingProposal {
  readonly term: number
  readonly resolve: (outcome: ProposeOutcome) => void
  readonly reject: (err: Error) => void
  readonly timer: NodeJS.Timeout
}

interface PendingRead {
  readonly resolve: (index: number) => void
  readonly reject: (err: Error) => void
  readonly timer: NodeJS.Timeout
}

type ForwardRequest =
  | { readonly kind: 'propose', readonly data: Uint8Array }
  | { readonly kind: 'readIndex' }
  | { readonly kind: 'confChange', readonly change: ConfChange }

/** `tcp://host:port PUBLICKEY [node-name]` as stored in the configuration. */
export function formatPeerAddress (info: PeerInfo, name?: string): string {
  return name === undefined ? `${info.endpoint} ${info.publicKey}` : `${info.endpoint} ${info.publicKey} ${name}`
}

export function parsePeerAddress (address: string): PeerInfo & { readonly name?: string } {
  const [endpoint, publicKey, name] = address.split(' ')
  assert(endpoint !== undefined && publicKey !== undefined && publicKey.length === 40, `malformed peer address ${JSON.stringify(address)}`)
  return name === undefined ? { endpoint, publicKey } : { endpoint, publicKey, name }
}

export class RaftNode {
  readonly id: NodeId
  private readonly options: RaftNodeOptions
  private readonly logger: NodeLogger
  private core!: RaftCore // set by start()
  private tickTimer: NodeJS.Timeout | null = null
  private draining = false
  private listening = false
  private lastLeaderContact = 0
  private savedHardState: HardState = { term: 0, votedFor: null, commit: 0 }
  private stopped = false
  private appliedIndex = 0
  private readonly proposals = new Map<number, PendingProposal>()
  private readonly reads = new Map<number, PendingRead>()
  /** Reads confirmed by the leader, waiting for the local state machine to catch up. */
  private readonly readsAwaitingApply: Array<{ index: number, resolve: () => void }> = []
  private readSequence = 0
  private knownPeerIds = new Set<NodeId>()
  private lastConfiguration: Configuration | null = null
  private leaderWaiters: Array<() => void> = []
  private fatalError: Error | null = null
  private readonly tickMs: number

  constructor (options: RaftNodeOptions) {
    this.id = options.id
    this.options = options
    this.logger = options.logger
    this.tickMs = options.tickMs ?? 50
  }

  /**
   * Binds the transport and returns the endpoint peers reach this node at. Messages that arrive
   * before start() are dropped (Raft retransmits). Separate from start() so that a founding set
   * of nodes can learn each other's real ports before bootstrapping.
   */
  async listen (): Promise<string> {
    if (!this.listening) {
      await this.options.transport.start(message => this.onMessage(message), async (from, payload) => await this.onRequest(from, payload))
      this.listening = true
    }
    return this.options.transport.endpoint()
  }

  /**
   * Loads durable state (bootstrapping `bootstrap` when the storage is empty), restores the state
   * machine and starts ticking.
   */
  async start (options: { bootstrap?: Configuration } = {}): Promise<void> {
    await this.listen()
    let persisted = await this.options.storage.load()
    const isEmpty = persisted.snapshot === null && persisted.entries.length === 0 && persisted.hardState.term === 0
    const bootstrap = options.bootstrap ?? this.options.bootstrap
    if (isEmpty && bootstrap !== undefined) {
      const boot = bootstrapState(bootstrap)
      await this.options.storage.save({ hardState: boot.hardState, entries: boot.entries, snapshot: null })
      persisted = await this.options.storage.load()
      this.logger.info({ voters: bootstrap.voters }, 'bootstrapped a new cluster')
    }
    this.savedHardState = persisted.hardState
    if (persisted.snapshot !== null) {
      this.options.stateMachine.restore(persisted.snapshot.data)
      this.appliedIndex = persisted.snapshot.meta.index
    }
    this.core = new RaftCore({
      id: this.id,
      electionTicks: this.options.electionTicks ?? 20,
      heartbeatTicks: this.options.heartbeatTicks ?? 2,
      prng: new SeededPrng(this.options.seed ?? hashSeed(this.id)),
      logger: this.logger,
      ...defaultCoreLimits,
      ...this.options.limits,
      restored: persisted
    })
    for (const [id, address] of Object.entries(this.options.knownPeers ?? {})) this.connectPeer(id, address)
    this.syncPeers()
    this.tickTimer = setInterval(() => this.onTick(), this.tickMs)
    this.logger.info({ term: this.core.currentTerm, commit: this.core.commitIndex, lastIndex: this.core.lastIndex, snapshotIndex: this.appliedIndex }, 'raft node started')
    this.kick()
  }

  // -------------------------------------------------------------------------------------------
  // Public API.

  status (): CoreStatus { return this.core.status() }
  get started (): boolean { return this.core !== undefined }
  /** Milliseconds since this node last heard from a leader (0 on the leader, Infinity if never). */
  lastContactMs (): number {
    if (this.core === undefined) return Infinity
    if (this.core.role === 'leader') return 0
    return this.lastLeaderContact === 0 ? Infinity : Date.now() - this.lastLeaderContact
  }
  get applied (): number { return this.appliedIndex }
  get isLeader (): boolean { return this.core !== undefined && this.core.role === 'leader' }
  get leaderId (): NodeId | null { return this.core === undefined ? null : this.core.leader }

  /**
   * Replicates a command and resolves with the state machine's result once it is applied here.
   * On a follower the command is forwarded to the leader. Rejects with ERR_NO_LEADER at once when
   * no leader is known, ERR_PROPOSAL_DROPPED when another entry took its index, ERR_TIMEOUT
   * (outcome unknown) at the deadline.
   */
  async propose (data: Uint8Array, options: { timeoutMs?: number } = {}): Promise<ProposeOutcome> {
    this.assertRunning()
    const timeoutMs = options.timeoutMs ?? this.options.proposalTimeoutMs ?? 10_000
    const result = this.core.propose(data)
    if (result.ok) return await this.awaitApplied(result.index, result.term, timeoutMs)
    if (result.reason === 'overloaded') throw new ControlPlaneError('ERR_OVERLOADED', 'too many proposals are waiting to commit; retry with back-off')
    if (result.reason === 'transferring') throw new ControlPlaneError('ERR_NOT_LEADER', 'leadership is being transferred; retry shortly')
    const outcome = await this.forward({ kind: 'propose', data }, result.leaderHint, timeoutMs)
    return outcome as ProposeOutcome
  }

  /**
   * A linearizable read barrier (ReadIndex): resolves once this node's state machine reflects
   * every write committed before the call. Forwarded to the leader from a follower.
   */
  async readBarrier (options: { timeoutMs?: number } = {}): Promise<void> {
    this.assertRunning()
    const timeoutMs = options.timeoutMs ?? this.options.proposalTimeoutMs ?? 10_000
    let index: number
    if (this.core.role === 'leader') {
      index = await this.leaderReadIndex(timeoutMs)
    } else {
      index = await this.forward({ kind: 'readIndex' }, this.core.leader, timeoutMs) as number
    }
    await this.waitApplied(index, timeoutMs)
  }

  async proposeConfChange (change: ConfChange, options: { timeoutMs?: number } = {}): Promise<ProposeOutcome> {
    this.assertRunning()
    const timeoutMs = options.timeoutMs ?? this.options.proposalTimeoutMs ?? 10_000
    const result = this.core.proposeConfChange(change)
    if (result.ok) {
      this.kick()
      return await this.awaitApplied(result.index, result.term, timeoutMs)
    }
    if (result.reason === 'notLeader') return await this.forward({ kind: 'confChange', change }, result.leaderHint, timeoutMs) as ProposeOutcome
    throw new ControlPlaneError(result.reason === 'changeInProgress' ? 'ERR_CONFIG_CHANGE_IN_PROGRESS' : 'ERR_INVALID_INPUT', result.detail)
  }

  /** Hands leadership to target (or the most up-to-date voter) and waits until it leads. */
  async transferLeadership (target: NodeId | null, options: { timeoutMs?: number } = {}): Promise<NodeId> {
    this.assertRunning()
    const timeoutMs = options.timeoutMs ?? 5_000
    const chosen = target ?? this.bestTransferTarget()
    if (chosen === null) throw new ControlPlaneError('ERR_INVALID_INPUT', 'there is no other voter to transfer leadership to')
    const result = this.core.transferLeadership(chosen)
    if (!result.ok) throw new ControlPlaneError(result.reason === 'notLeader' ? 'ERR_NOT_LEADER' : 'ERR_INVALID_INPUT', result.detail)
    this.kick()
    await this.waitUntil(() => this.core.leader !== null && this.core.leader !== this.id, timeoutMs, `leadership transfer to ${chosen}`)
    return this.core.leader!
  }

  /** Resolves when some node (possibly this one) is known as leader. */
  async waitForLeader (timeoutMs: number): Promise<NodeId> {
    await this.waitUntil(() => this.core.leader !== null, timeoutMs, 'a leader')
    return this.core.leader!
  }

  /** Stops the node; when it leads and `transfer` is set, hands leadership over first. */
  async stop (options: { transfer?: boolean } = {}): Promise<void> {
    if (this.stopped) return
    if (this.core === undefined) {
      this.stopped = true
      await this.options.transport.close()
      await this.options.storage.close()
      return
    }
    if (options.transfer === true && this.core.role === 'leader' && this.core.currentConfiguration.voters.length > 1) {
      try {
        const leader = await this.transferLeadership(null, { timeoutMs: 3_000 })
        this.logger.info({ leader }, 'handed leadership over before stopping')
      } catch (err) {
        this.logger.warn({ err }, 'leadership transfer before stopping failed; stopping anyway')
      }
    }
    if (options.transfer === true && this.proposals.size > 0) {
      // Entries this node appended as leader commit under the new leader: let their callers
      // hear the outcome instead of an unknown one.
      await this.waitUntil(() => this.proposals.size === 0, 5_000, 'pending proposals to settle').catch(() => {
        this.logger.warn({ pending: this.proposals.size }, 'stopping with proposals still pending; their outcome is unknown')
      })
    }
    this.stopped = true
    if (this.tickTimer !== null) clearInterval(this.tickTimer)
    const stoppedError = new ControlPlaneError('ERR_STOPPED', 'the raft node stopped; the outcome of this request is unknown')
    for (const pending of this.proposals.values()) { clearTimeout(pending.timer); pending.reject(stoppedError) }
    for (const pending of this.reads.values()) { clearTimeout(pending.timer); pending.reject(stoppedError) }
    this.proposals.clear()
    this.reads.clear()
    await this.waitUntil(() => !this.draining, 10_000, 'the drain loop to finish').catch(() => {})
    await this.options.transport.close()
    await this.options.storage.close()
  }

  // -------------------------------------------------------------------------------------------
  // Inputs.

  private onTick (): void {
    if (this.stopped || this.core === undefined) return
    this.core.tick()
    this.sendUrgent()
    this.kick()
  }

  private onMessage (message: Message): void {
    if (this.stopped || this.core === undefined) return
    if (message.type === 'append' || message.type === 'heartbeat' || message.type === 'snapshot') this.lastLeaderContact = Date.now()
    this.core.step(message)
    this.sendUrgent()
    this.kick()
  }

  private async onRequest (from: NodeId, payload: unknown): Promise<unknown> {
    const request = payload as ForwardRequest | { kind: 'rpc' }
    if (request.kind === 'rpc') {
      if (this.options.rpcHandler === undefined) throw new ControlPlaneError('ERR_INVALID_INPUT', `${this.id} serves no RPC`)
      return await this.options.rpcHandler(from, payload)
    }
    if (this.core === undefined || this.core.role !== 'leader') {
      throw new ControlPlaneError('ERR_NOT_LEADER', `${this.id} is not the leader`, { details: { leaderHint: this.core.leader } })
    }
    switch (request.kind) {
      case 'propose': return await this.propose(toUint8Array(request.data))
      case 'readIndex': return await this.leaderReadIndex(this.options.forwardTimeoutMs ?? 10_000)
      case 'confChange': return await this.proposeConfChange(request.change)
      default: throw new ControlPlaneError('ERR_INVALID_INPUT', `unknown request from ${from}`)
    }
  }

  // -------------------------------------------------------------------------------------------
  // The drain loop.

  private kick (): void {
    if (this.draining || this.stopped) return
    this.drain().catch(err => this.die(err as Error))
  }

  private async drain (): Promise<void> {
    this.draining = true
    try {
      while (!this.stopped && this.core.hasReady()) {
        const ready = this.core.ready()
        this.sendAll(ready.messagesBeforePersist)
        if (this.mustPersist(ready)) {
          // A vote or entry must be durable before any message that relies on it leaves.
          await this.options.storage.save({ hardState: ready.hardState, entries: ready.entries, snapshot: ready.snapshot })
          if (ready.hardState !== null) this.savedHardState = ready.hardState
        }
        if (this.stopped) return
        this.sendAll(ready.messages)
        this.applyReady(ready)
        this.core.advance(ready)
        this.sendUrgent()
        await this.maybeSnapshot()
      }
    } finally {
      this.draining = false
    }
  }

  /**
   * The commit index is volatile state (Figure 2): a Ready that only moves it needs no fsync of
   * its own; it is written with the next entries, vote or term. This saves one fsync per commit
   * round on every node.
   */
  private mustPersist (ready: Ready): boolean {
    if (ready.entries.length > 0 || ready.snapshot !== null) return true
    const hard = ready.hardState
    if (hard === null) return false
    return hard.term !== this.savedHardState.term || hard.votedFor !== this.savedHardState.votedFor
  }

  private applyReady (ready: Ready): void {
    if (ready.softState !== null) this.onSoftState(ready.softState.role, ready.softState.leaderId, ready.softState.term)
    if (ready.snapshot !== null) this.restoreSnapshot(ready.snapshot)
    for (const entry of ready.committedEntries) this.applyEntry(entry)
    for (const state of ready.readStates) this.settleRead(state.requestId, state.index, null)
    for (const failure of ready.readFailures) {
      this.settleRead(failure.requestId, 0, new ControlPlaneError('ERR_LEADERSHIP_LOST', 'leadership was lost before the read was confirmed; retry'))
    }
    this.releaseReadsAwaitingApply()
    this.syncPeers()
  }

  private applyEntry (entry: Entry): void {
    if (entry.index <= this.appliedIndex) return
    assert(entry.index === this.appliedIndex + 1, `applying ${entry.index} after ${this.appliedIndex}`)
    const result = entry.type === 'command' ? this.options.stateMachine.apply(entry) : undefined
    this.appliedIndex = entry.index
    this.options.onApplied?.(entry, result)
    const pending = this.proposals.get(entry.index)
    if (pending === undefined) return
    this.proposals.delete(entry.index)
    clearTimeout(pending.timer)
    if (pending.term === entry.term) {
      pending.resolve({ index: entry.index, term: entry.term, result })
    } else {
      pending.reject(new ControlPlaneError('ERR_PROPOSAL_DROPPED',
        `leadership changed and entry ${entry.index} was taken by term ${entry.term}; the command was not applied, retry it`))
    }
  }

  private restoreSnapshot (snapshot: Snapshot): void {
    this.options.stateMachine.restore(snapshot.data)
    this.appliedIndex = snapshot.meta.index
    this.logger.info({ index: snapshot.meta.index, bytes: snapshot.data.byteLength }, 'restored state machine from snapshot')
    // Proposals at or below the snapshot were decided elsewhere; their outcome is unknown here.
    for (const [index, pending] of this.proposals) {
      if (index > snapshot.meta.index) continue
      this.proposals.delete(index)
      clearTimeout(pending.timer)
      pending.reject(new ControlPlaneError('ERR_TIMEOUT', `entry ${index} was settled by a snapshot from the leader; the outcome is unknown`))
    }
  }

  private async maybeSnapshot (): Promise<void> {
    const every = this.options.snapshotEveryEntries ?? 10_000
    const snapshotIndex = this.core.latestSnapshot()?.meta.index ?? 0
    if (this.appliedIndex - snapshotIndex < every) return
    const snapshot = this.core.compact(this.appliedIndex, this.options.stateMachine.snapshot())
    await this.options.storage.compact(snapshot)
    this.logger.info({ index: snapshot.meta.index, bytes: snapshot.data.byteLength }, 'compacted the log')
  }

  private onSoftState (role: string, leaderId: NodeId | null, term: number): void {
    this.logger.info({ role, leaderId, term }, 'raft state changed')
    if (leaderId !== null) {
      const waiters = this.leaderWaiters
      this.leaderWaiters = []
      for (const wake of waiters) wake()
    }
  }

  // -------------------------------------------------------------------------------------------
  // Proposals and reads.

  private async awaitApplied (index: number, term: number, timeoutMs: number): Promise<ProposeOutcome> {
    this.kick()
    return await new Promise<ProposeOutcome>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.proposals.delete(index)
        reject(new ControlPlaneError('ERR_TIMEOUT', `entry ${index} was not applied within ${timeoutMs} ms; the outcome is unknown`))
      }, timeoutMs)
      this.proposals.set(index, { term, resolve, reject, timer })
    })
  }

  private async leaderReadIndex (timeoutMs: number): Promise<number> {
    const requestId = ++this.readSequence
    const result = this.core.readIndex(requestId)
    if (!result.ok) throw new ControlPlaneError('ERR_NOT_LEADER', `${this.id} is not the leader`, { details: { leaderHint: result.leaderHint } })
    this.sendUrgent()
    this.kick()
    return await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.reads.delete(requestId)
        reject(new ControlPlaneError('ERR_TIMEOUT', `leadership was not confirmed within ${timeoutMs} ms`))
      }, timeoutMs)
      this.reads.set(requestId, { resolve, reject, timer })
    })
  }

  private settleRead (requestId: number, index: number, error: Error | null): void {
    const pending = this.reads.get(requestId)
    if (pending === undefined) return
    this.reads.delete(requestId)
    clearTimeout(pending.timer)
    if (error !== null) pending.reject(error)
    else pending.resolve(index)
  }

  private async waitApplied (index: number, timeoutMs: number): Promise<void> {
    if (this.appliedIndex >= index) return
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new ControlPlaneError('ERR_TIMEOUT', `index ${index} was not applied here within ${timeoutMs} ms`)), timeoutMs)
      this.readsAwaitingApply.push({ index, resolve: () => { clearTimeout(timer); resolve() } })
    })
  }

  private releaseReadsAwaitingApply (): void {
    for (let i = this.readsAwaitingApply.length - 1; i >= 0; i -= 1) {
      const waiter = this.readsAwaitingApply[i]!
      if (waiter.index <= this.appliedIndex) {
        this.readsAwaitingApply.splice(i, 1)
        waiter.resolve()
      }
    }
  }

  private async forward (request: ForwardRequest, leaderHint: NodeId | null, timeoutMs: number): Promise<unknown> {
    const leader = leaderHint ?? this.core.leader
    if (leader === null || leader === this.id) {
      throw new ControlPlaneError('ERR_NO_LEADER', 'No cluster leader: no leader is known right now; retry shortly')
    }
    try {
      return await this.options.transport.request(leader, request, { timeoutMs })
    } catch (err) {
      if (isControlPlaneError(err)) throw err
      throw new ControlPlaneError('ERR_TRANSPORT', `forwarding to the leader ${leader} failed`, { cause: err })
    }
  }

  private bestTransferTarget (): NodeId | null {
    let best: NodeId | null = null
    let bestMatch = -1
    for (const [id, progress] of this.core.status().progress) {
      if (!this.core.currentConfiguration.voters.includes(id)) continue
      if (progress.match > bestMatch) { best = id; bestMatch = progress.match }
    }
    return best
  }

  // -------------------------------------------------------------------------------------------
  // Peers and messages out.

  private sendUrgent (): void {
    this.sendAll(this.core.takeUrgentMessages())
  }

  private sendAll (messages: readonly Message[]): void {
    for (const message of messages) this.options.transport.send(message)
  }

  /** Keeps the transport's peer set equal to the members in the latest configuration. */
  private syncPeers (): void {
    const configuration = this.core.currentConfiguration
    if (configuration === this.lastConfiguration) return
    this.lastConfiguration = configuration
    const members = new Set([...configuration.voters, ...configuration.learners])
    for (const id of members) {
      const address = configuration.addresses[id]
      if (id !== this.id && address !== undefined) this.connectPeer(id, address)
    }
    for (const id of this.knownPeerIds) {
      if (!members.has(id) && this.options.knownPeers?.[id] === undefined) {
        this.options.transport.removePeer(id)
        this.knownPeerIds.delete(id)
      }
    }
  }

  private connectPeer (id: NodeId, address: string): void {
    if (id === this.id) return
    this.options.transport.setPeer(id, parsePeerAddress(address))
    this.knownPeerIds.add(id)
  }

  private async waitUntil (condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
    const deadline = Date.now() + timeoutMs
    while (!condition()) {
      if (Date.now() > deadline) throw new ControlPlaneError('ERR_TIMEOUT', `timed out after ${timeoutMs} ms waiting for ${what}`)
      await new Promise<void>(resolve => {
        const timer = setTimeout(resolve, this.tickMs)
        this.leaderWaiters.push(() => { clearTimeout(timer); resolve() })
      })
    }
  }

  private assertRunning (): void {
    if (this.fatalError !== null) throw new ControlPlaneError('ERR_STOPPED', 'the raft node stopped after a fatal error', { cause: this.fatalError })
    if (this.stopped) throw new ControlPlaneError('ERR_STOPPED', 'the raft node is stopped', { details: { notProcessed: true } })
    // Before start() (a server still waiting to bootstrap or join) no leader is known here yet.
    if (this.core === undefined) throw new ControlPlaneError('ERR_NO_LEADER', 'No cluster leader: this server has not started Raft yet', { details: { notProcessed: true } })
  }

  /** A failed write or a broken invariant: stop serving rather than risk diverging. */
  private die (err: Error): void {
    this.fatalError = err
    const log = this.logger.fatal ?? this.logger.error
    log.call(this.logger, { err }, 'raft node failed; stopping')
    this.stop().catch(() => {})
    this.options.onFatal?.(err)
  }
}

function hashSeed (text: string): number {
  let hash = 2166136261
  for (let i = 0; i < text.length; i += 1) hash = Math.imul(hash ^ text.charCodeAt(i), 16777619) >>> 0
  return hash
}

function toUint8Array (value: unknown): Uint8Array {
  if (value instanceof Uint8Array) return value
  throw new ControlPlaneError('ERR_INVALID_INPUT', 'forwarded proposal data is not bytes')
}
