/**
 * The Raft consensus algorithm as a pure, synchronous state machine (Ongaro & Ousterhout, "In
 * Search of an Understandable Consensus Algorithm", and Ongaro's thesis for pre-vote,
 * check-quorum, leadership transfer, ReadIndex and single-server membership changes).
 *
 * Inputs: tick(), step(message), propose(), proposeConfChange(), readIndex(),
 * transferLeadership(), compact(). Outputs accumulate and leave as one Ready (see types.ts for
 * the shell's duties). Time is counted in ticks; randomness comes from the injected Prng. The
 * core never does I/O, never reads a clock and never awaits, so the same inputs always give the
 * same outputs; the simulator (test/sim) relies on that.
 *
 * Persistence and messages: a message that relies on state not yet durable (a vote, a new term,
 * an acknowledgement of entries) waits for the Ready that persists that state. Everything else
 * (heartbeats and their answers, a leader's appends, §10.2.1 of the thesis) may leave at once
 * through takeUrgentMessages(), so a slow disk never delays heartbeats.
 */
import { assert, assertNever, assertSafeIndex } from '../../util/assert.js'
import type { Prng } from '../../util/prng.js'
import {
  applyConfChange, decodeConfiguration, emptyConfiguration, encodeConfiguration, isMember, quorumMatchIndex, quorumSize
} from './configuration.js'
import { RaftLog } from './log.js'
import { Progress } from './progress.js'
import type {
  AppendRequest, AppendResponse, ConfChange, ConfChangeResult, Configuration, CoreLogger, Entry, HardState,
  HeartbeatRequest, HeartbeatResponse, Message, NodeId, PreVoteRequest, ProposeResult, ReadFailure, ReadState,
  Ready, Role, Snapshot, SnapshotRequest, SnapshotResponse, SoftState, TransferResult, VoteRequest
} from './types.js'

export interface RaftCoreOptions {
  readonly id: NodeId
  /** Followers wait between electionTicks and 2 * electionTicks without a leader before campaigning. */
  readonly electionTicks: number
  readonly heartbeatTicks: number
  readonly prng: Prng
  readonly logger: CoreLogger
  readonly preVote: boolean
  readonly checkQuorum: boolean
  /** Appends in flight to one follower in the replicate state. */
  readonly inflightMessagesMax: number
  /** Bytes of entry data in flight to one follower. */
  readonly inflightBytesMax: number
  readonly appendEntriesMax: number
  readonly appendBytesMax: number
  /** Entries appended but not yet committed; proposals beyond this fail with 'overloaded'. */
  readonly proposalsPendingMax: number
  readonly snapshotChunkBytes: number
  /** Committed entries handed to the shell in one Ready. */
  readonly applyEntriesMax: number
  readonly restored: {
    readonly hardState: HardState
    readonly snapshot: Snapshot | null
    readonly entries: readonly Entry[]
  }
}

export const defaultCoreLimits = Object.freeze({
  preVote: true,
  checkQuorum: true,
  inflightMessagesMax: 64,
  inflightBytesMax: 16 * 1024 * 1024,
  appendEntriesMax: 512,
  appendBytesMax: 1024 * 1024,
  proposalsPendingMax: 8192,
  snapshotChunkBytes: 1024 * 1024,
  applyEntriesMax: 1024
})

/** The initial persisted state of a node that founds a cluster with the given voters. */
export function bootstrapState (configuration: Configuration): { hardState: HardState, entries: Entry[] } {
  assert(configuration.voters.length > 0, 'a cluster needs at least one voter to bootstrap')
  const entry: Entry = { term: 1, index: 1, type: 'config', data: encodeConfiguration(configuration) }
  return { hardState: { term: 1, votedFor: null, commit: 1 }, entries: [entry] }
}

interface PendingRead {
  readonly requestId: number
  readonly context: number
  readonly index: number
  readonly acks: Set<NodeId>
}

interface IncomingSnapshot {
  readonly meta: SnapshotRequest['meta']
  readonly totalBytes: number
  readonly chunks: Uint8Array[]
  received: number
}

export interface CoreStatus {
  readonly id: NodeId
  readonly role: Role
  readonly term: number
  readonly leaderId: NodeId | null
  readonly commitIndex: number
  readonly appliedIndex: number
  readonly lastIndex: number
  readonly stableIndex: number
  readonly snapshotIndex: number
  readonly configuration: Configuration
  readonly leadTransferee: NodeId | null
  readonly progress: ReadonlyMap<NodeId, { readonly match: number, readonly next: number, readonly state: string, readonly recentActive: boolean }>
}

export class RaftCore {
  readonly id: NodeId
  private readonly options: RaftCoreOptions
  private readonly log: RaftLog
  private readonly logger: CoreLogger
  private readonly prng: Prng

  private term: number
  private votedFor: NodeId | null
  private roleValue: Role = 'follower'
  private leaderId: NodeId | null = null
  private votes = new Map<NodeId, boolean>()
  private electionElapsed = 0
  private heartbeatElapsed = 0
  private randomizedElectionTicks = 0

  private configuration: Configuration = emptyConfiguration
  /** Index of the entry that set the current configuration (0: bootstrap or snapshot). */
  private configurationIndex = -1
  private configurationTerm = -1
  /** A leader may not start a membership change until the previous one (and its noop) commits. */
  private pendingConfigIndex = 0
  private readonly progress = new Map<NodeId, Progress>()
  private leadTransferee: NodeId | null = null
  private transferElapsed = 0

  private readContext = 0
  private pendingReads: PendingRead[] = []
  private readsAwaitingCommit: number[] = []
  private readStates: ReadState[] = []
  private readFailures: ReadFailure[] = []
  private incomingSnapshot: IncomingSnapshot | null = null

  private urgentMessages: Message[] = []
  private deferredMessages: Message[] = []
  private broadcastPending = false
  private commitBroadcastPending = false

  private persistedTerm: number
  private persistedVote: NodeId | null
  private persistedCommit: number
  private lastSoftState: SoftState
  private readyInFlight: Ready | null = null

  constructor (options: RaftCoreOptions) {
    assert(options.electionTicks > options.heartbeatTicks, `electionTicks (${options.electionTicks}) must exceed heartbeatTicks (${options.heartbeatTicks})`)
    assert(options.heartbeatTicks >= 1, 'heartbeatTicks must be at least 1')
    assert(options.inflightMessagesMax >= 1 && options.appendEntriesMax >= 1, 'append limits must be at least 1')
    this.id = options.id
    this.options = options
    this.logger = options.logger
    this.prng = options.prng
    const { hardState, snapshot, entries } = options.restored
    assertSafeIndex(hardState.term, 'restored term')
    this.log = new RaftLog({ snapshot, entries, committed: hardState.commit })
    this.term = hardState.term
    this.votedFor = hardState.votedFor
    this.persistedTerm = hardState.term
    this.persistedVote = hardState.votedFor
    this.persistedCommit = this.log.committed
    this.recomputeConfiguration()
    this.resetRandomizedElectionTimeout()
    this.lastSoftState = this.softState()
  }

  // -------------------------------------------------------------------------------------------
  // Read-only views.

  get role (): Role { return this.roleValue }
  get currentTerm (): number { return this.term }
  get leader (): NodeId | null { return this.leaderId }
  get commitIndex (): number { return this.log.committed }
  get lastIndex (): number { return this.log.lastIndex() }
  get currentConfiguration (): Configuration { return this.configuration }
  get vote (): NodeId | null { return this.votedFor }

  entryAt (index: number): Entry | undefined { return this.log.entry(index) }
  termAt (index: number): number | undefined { return this.log.term(index) }
  latestSnapshot (): Snapshot | null { return this.log.snapshot() }

  status (): CoreStatus {
    const progress = new Map<NodeId, { match: number, next: number, state: string, recentActive: boolean }>()
    for (const [id, pr] of this.progress) progress.set(id, { match: pr.match, next: pr.next, state: pr.state, recentActive: pr.recentActive })
    return {
      id: this.id,
      role: this.roleValue,
      term: this.term,
      leaderId: this.leaderId,
      commitIndex: this.log.committed,
      appliedIndex: this.log.applied,
      lastIndex: this.log.lastIndex(),
      stableIndex: this.log.stableIndex,
      snapshotIndex: this.log.snapshotIndex(),
      configuration: this.configuration,
      leadTransferee: this.leadTransferee,
      progress
    }
  }

  private isPromotable (): boolean {
    return this.configuration.voters.includes(this.id)
  }

  private softState (): SoftState {
    return { role: this.roleValue, leaderId: this.leaderId, term: this.term }
  }

  // -------------------------------------------------------------------------------------------
  // Time.

  tick (): void {
    if (this.roleValue === 'leader') this.tickLeader()
    else this.tickElection()
  }

  private tickElection (): void {
    this.electionElapsed += 1
    if (this.electionElapsed >= this.randomizedElectionTicks && this.isPromotable()) {
      this.electionElapsed = 0
      this.startElection({ preVote: this.options.preVote, transfer: false })
    }
  }

  private tickLeader (): void {
    this.heartbeatElapsed += 1
    this.electionElapsed += 1
    if (this.leadTransferee !== null) {
      this.transferElapsed += 1
      if (this.transferElapsed >= this.options.electionTicks) {
        this.logger.info({ term: this.term, target: this.leadTransferee }, 'leadership transfer timed out')
        this.leadTransferee = null
      }
    }
    if (this.electionElapsed >= this.options.electionTicks) {
      this.electionElapsed = 0
      if (this.options.checkQuorum && !this.quorumRecentlyActive()) {
        this.logger.info({ term: this.term }, 'stepping down: no quorum heard from within an election timeout')
        this.becomeFollower(this.term, null)
        return
      }
    }
    if (this.heartbeatElapsed >= this.options.heartbeatTicks) {
      this.heartbeatElapsed = 0
      this.broadcastHeartbeat(0)
    }
  }

  /** §6.2 of the thesis (check-quorum): counts voters heard from since the last check, then resets. */
  private quorumRecentlyActive (): boolean {
    let active = 0
    for (const id of this.configuration.voters) {
      if (id === this.id || this.progress.get(id)?.recentActive === true) active += 1
    }
    for (const pr of this.progress.values()) pr.recentActive = false
    return active >= quorumSize(this.configuration.voters.length)
  }

  private resetRandomizedElectionTimeout (): void {
    this.randomizedElectionTicks = this.options.electionTicks + this.prng.nextInt(this.options.electionTicks)
  }

  // -------------------------------------------------------------------------------------------
  // Role transitions.

  private reset (term: number): void {
    if (term !== this.term) {
      assert(term > this.term, `term may only grow: ${this.term} -> ${term}`)
      this.term = term
      this.votedFor = null
    }
    this.leaderId = null
    this.electionElapsed = 0
    this.heartbeatElapsed = 0
    this.resetRandomizedElectionTimeout()
    this.votes.clear()
    this.leadTransferee = null
    this.broadcastPending = false
    this.commitBroadcastPending = false
    this.failPendingReads('leadershipLost')
    this.progress.clear()
  }

  private becomeFollower (term: number, leaderId: NodeId | null): void {
    const wasLeader = this.roleValue === 'leader'
    this.reset(term)
    this.roleValue = 'follower'
    this.leaderId = leaderId
    if (wasLeader) this.logger.info({ term }, 'leader stepped down')
  }

  private becomePreCandidate (): void {
    assert(this.roleValue !== 'leader', 'a leader cannot become a pre-candidate')
    // Pre-vote (thesis §9.6) changes neither the term nor the vote.
    this.votes.clear()
    this.leaderId = null
    this.roleValue = 'preCandidate'
  }

  private becomeCandidate (): void {
    assert(this.roleValue !== 'leader', 'a leader cannot become a candidate')
    this.reset(this.term + 1)
    this.votedFor = this.id
    this.roleValue = 'candidate'
  }

  private becomeLeader (): void {
    assert(this.roleValue === 'candidate', `only a candidate may become leader, not a ${this.roleValue}`)
    this.reset(this.term)
    this.roleValue = 'leader'
    this.leaderId = this.id
    for (const id of this.members()) {
      if (id !== this.id) this.progress.set(id, new Progress(this.log.lastIndex() + 1, this.options.inflightMessagesMax, this.options.inflightBytesMax))
    }
    // §5.4.2 and §8: a leader commits entries from earlier terms only by committing one of its
    // own; the no-op also lets ReadIndex learn the commit index. No membership change may start
    // before it commits (thesis §4.1, the single-server change bug fix).
    this.appendEntry('noop', new Uint8Array(0))
    this.pendingConfigIndex = this.log.lastIndex()
    this.logger.info({ term: this.term, lastIndex: this.log.lastIndex() }, 'became leader')
    this.broadcastPending = true
  }

  private members (): NodeId[] {
    return [...this.configuration.voters, ...this.configuration.learners]
  }

  private startElection (options: { preVote: boolean, transfer: boolean }): void {
    if (options.preVote) {
      this.becomePreCandidate()
      this.requestVotes('preVote', this.term + 1, false)
    } else {
      this.becomeCandidate()
      this.requestVotes('vote', this.term, options.transfer)
    }
  }

  private requestVotes (type: 'preVote' | 'vote', term: number, transfer: boolean): void {
    this.votes.set(this.id, true)
    if (this.countVotes() === 'won') {
      this.onElectionWon(type)
      return
    }
    for (const id of this.configuration.voters) {
      if (id === this.id) continue
      const base = { from: this.id, to: id, term, lastLogIndex: this.log.lastIndex(), lastLogTerm: this.log.lastTerm() }
      this.send(type === 'preVote' ? { type: 'preVote', ...base } : { type: 'vote', ...base, leadershipTransfer: transfer })
    }
  }

  private onElectionWon (type: 'preVote' | 'vote'): void {
    if (type === 'preVote') this.startElection({ preVote: false, transfer: false })
    else this.becomeLeader()
  }

  private countVotes (): 'won' | 'lost' | 'pending' {
    let granted = 0
    let rejected = 0
    for (const id of this.configuration.voters) {
      const vote = this.votes.get(id)
      if (vote === true) granted += 1
      else if (vote === false) rejected += 1
    }
    const quorum = quorumSize(this.configuration.voters.length)
    if (granted >= quorum) return 'won'
    if (rejected > this.configuration.voters.length - quorum) return 'lost'
    return 'pending'
  }

  // -------------------------------------------------------------------------------------------
  // Messages in.

  step (message: Message): void {
    if (message.to !== this.id) return
    if (message.term > this.term) {
      if (!this.acceptHigherTerm(message)) return
    } else if (message.term < this.term) {
      this.answerStaleMessage(message)
      return
    }
    switch (message.type) {
      case 'preVote': this.handlePreVote(message); return
      case 'vote': this.handleVote(message); return
      case 'preVoteResponse':
      case 'voteResponse': this.handleVoteResponse(message.type === 'preVoteResponse' ? 'preVote' : 'vote', message.from, message.granted); return
      case 'append': this.handleAppend(message); return
      case 'heartbeat': this.handleHeartbeat(message); return
      case 'snapshot': this.handleSnapshot(message); return
      case 'timeoutNow': this.handleTimeoutNow(message.from); return
      case 'appendResponse': this.handleAppendResponse(message); return
      case 'heartbeatResponse': this.handleHeartbeatResponse(message); return
      case 'snapshotResponse': this.handleSnapshotResponse(message); return
      default: assertNever(message, 'message type')
    }
  }

  /** §5.1: a higher term makes us a follower, except for the pre-vote and lease cases. */
  private acceptHigherTerm (message: Message): boolean {
    if (message.type === 'preVote' || message.type === 'vote') {
      const force = message.type === 'vote' && message.leadershipTransfer
      // Leader stickiness (thesis §4.2.3): while we hear from a leader, ignore candidates that
      // would depose it; they are likely partitioned or removed servers.
      const inLease = this.options.checkQuorum && this.leaderId !== null && this.electionElapsed < this.options.electionTicks
      if (inLease && !force) {
        this.logger.debug({ from: message.from, term: message.term }, 'ignoring vote request within leader lease')
        return false
      }
      if (message.type === 'preVote') return true // a pre-vote does not move our term
    }
    if (message.type === 'preVoteResponse' && message.granted) return true // granted at our future term
    const leader = message.type === 'append' || message.type === 'heartbeat' || message.type === 'snapshot' ? message.from : null
    this.logger.debug({ from: message.from, term: message.term, ourTerm: this.term }, 'higher term seen')
    this.becomeFollower(message.term, leader)
    return true
  }

  private answerStaleMessage (message: Message): void {
    if (message.type === 'append' || message.type === 'heartbeat') {
      // A deposed leader learns of the newer term from this answer; with check-quorum we may not
      // otherwise raise its term, since we ignore its vote requests while in a lease.
      this.send({ type: 'appendResponse', from: this.id, to: message.from, term: this.term, success: false, matchIndex: 0, rejectHintIndex: 0, rejectHintTerm: 0 })
    } else if (message.type === 'preVote') {
      this.send({ type: 'preVoteResponse', from: this.id, to: message.from, term: this.term, granted: false })
    }
  }

  private handlePreVote (message: PreVoteRequest): void {
    const granted = message.term > this.term && this.log.isUpToDate(message.lastLogIndex, message.lastLogTerm)
    this.send({ type: 'preVoteResponse', from: this.id, to: message.from, term: granted ? message.term : this.term, granted })
  }

  /** §5.2, §5.4.1: one vote per term, only for a candidate whose log is at least as up to date. */
  private handleVote (message: VoteRequest): void {
    const canVote = this.votedFor === message.from || (this.votedFor === null && this.leaderId === null)
    const granted = canVote && this.log.isUpToDate(message.lastLogIndex, message.lastLogTerm)
    if (granted) {
      this.votedFor = message.from
      this.electionElapsed = 0
    }
    this.send({ type: 'voteResponse', from: this.id, to: message.from, term: this.term, granted })
  }

  private handleVoteResponse (type: 'preVote' | 'vote', from: NodeId, granted: boolean): void {
    const expectedRole: Role = type === 'preVote' ? 'preCandidate' : 'candidate'
    if (this.roleValue !== expectedRole) return
    this.votes.set(from, granted)
    const outcome = this.countVotes()
    if (outcome === 'won') this.onElectionWon(type)
    else if (outcome === 'lost') this.becomeFollower(this.term, null)
  }

  /** A message from the leader of our term: candidates give up, followers reset their timer. */
  private acknowledgeLeader (leaderId: NodeId): void {
    if (this.roleValue !== 'follower') this.becomeFollower(this.term, leaderId)
    assert(this.roleValue === 'follower', 'two leaders in one term')
    this.leaderId = leaderId
    this.electionElapsed = 0
  }

  /** §5.3: the consistency check, conflict removal and commit update. */
  private handleAppend (message: AppendRequest): void {
    if (this.roleValue === 'leader') {
      assert(false, `leader ${this.id} got an append from ${message.from} in its own term ${this.term}`)
    }
    this.acknowledgeLeader(message.from)
    const reply = (fields: Pick<AppendResponse, 'success' | 'matchIndex' | 'rejectHintIndex' | 'rejectHintTerm'>): void => {
      this.send({ type: 'appendResponse', from: this.id, to: message.from, term: this.term, ...fields })
    }
    if (message.prevLogIndex < this.log.committed) {
      // Everything up to our commit index already matches the leader.
      reply({ success: true, matchIndex: this.log.committed, rejectHintIndex: 0, rejectHintTerm: 0 })
      return
    }
    for (let i = 0; i < message.entries.length; i += 1) {
      assert(message.entries[i]!.index === message.prevLogIndex + 1 + i, 'append entries are not contiguous')
    }
    const lastNewIndex = this.log.maybeAppend(message.prevLogIndex, message.prevLogTerm, message.entries)
    if (lastNewIndex === null) {
      const hintIndex = this.log.findConflictByTerm(Math.min(message.prevLogIndex, this.log.lastIndex()), message.prevLogTerm)
      reply({ success: false, matchIndex: message.prevLogIndex, rejectHintIndex: hintIndex, rejectHintTerm: this.log.term(hintIndex) ?? 0 })
      return
    }
    this.recomputeConfiguration()
    this.log.commitTo(Math.min(message.leaderCommit, lastNewIndex))
    reply({ success: true, matchIndex: lastNewIndex, rejectHintIndex: 0, rejectHintTerm: 0 })
  }

  private handleHeartbeat (message: HeartbeatRequest): void {
    this.acknowledgeLeader(message.from)
    if (message.commit <= this.log.lastIndex()) this.log.commitTo(message.commit)
    this.send({ type: 'heartbeatResponse', from: this.id, to: message.from, term: this.term, readContext: message.readContext })
  }

  private handleSnapshot (message: SnapshotRequest): void {
    this.acknowledgeLeader(message.from)
    const reply = (nextOffset: number, success: boolean): void => {
      this.send({ type: 'snapshotResponse', from: this.id, to: message.from, term: this.term, snapshotIndex: message.meta.index, nextOffset, success })
    }
    if (message.meta.index <= this.log.committed) {
      this.incomingSnapshot = null
      reply(message.totalBytes, true)
      return
    }
    if (message.offset === 0) {
      this.incomingSnapshot = { meta: message.meta, totalBytes: message.totalBytes, chunks: [], received: 0 }
    }
    const incoming = this.incomingSnapshot
    if (incoming === null || incoming.meta.index !== message.meta.index || incoming.meta.term !== message.meta.term || incoming.received !== message.offset) {
      reply(incoming !== null && incoming.meta.index === message.meta.index ? incoming.received : 0, false)
      return
    }
    incoming.chunks.push(message.chunk)
    incoming.received += message.chunk.byteLength
    if (!message.done) {
      reply(incoming.received, false)
      return
    }
    this.incomingSnapshot = null
    if (incoming.received !== incoming.totalBytes) {
      reply(0, false)
      return
    }
    this.installSnapshot({ meta: incoming.meta, data: concatenate(incoming.chunks, incoming.totalBytes) })
    reply(incoming.totalBytes, true)
  }

  private installSnapshot (snapshot: Snapshot): void {
    const { index, term } = snapshot.meta
    if (this.log.matchTerm(index, term)) {
      // We already hold the entry the snapshot ends at: keep our log, just learn the commit.
      this.log.commitTo(index)
      return
    }
    this.logger.info({ index, term }, 'installing snapshot from leader')
    this.log.restore(snapshot)
    this.recomputeConfiguration()
  }

  private handleTimeoutNow (from: NodeId): void {
    if (!this.isPromotable()) return
    this.logger.info({ term: this.term, from }, 'campaigning at once: leadership transfer')
    this.startElection({ preVote: false, transfer: true })
  }

  private handleAppendResponse (message: AppendResponse): void {
    if (this.roleValue !== 'leader') return
    const pr = this.progress.get(message.from)
    if (pr === undefined) return
    pr.recentActive = true
    if (!message.success) {
      this.handleAppendRejection(message, pr)
      return
    }
    const updated = pr.maybeUpdate(message.matchIndex)
    if (updated) {
      pr.becomeReplicateIfProbing()
      if (!this.maybeCommit()) this.sendAppend(message.from, { sendIfEmpty: false })
      if (message.from === this.leadTransferee && pr.match === this.log.lastIndex()) this.sendTimeoutNow(message.from)
    } else {
      pr.probeSent = false
      this.sendAppend(message.from, { sendIfEmpty: false })
    }
  }

  /** Fast back-off: jump to where the follower's hint says our logs may match. */
  private handleAppendRejection (message: AppendResponse, pr: Progress): void {
    const rejected = message.matchIndex // on rejection: the prevLogIndex that failed the check
    if (pr.state === 'snapshot') return
    if (rejected <= pr.match) return // stale: we already know a later match
    if (pr.state === 'probe' && rejected !== pr.next - 1) return // stale: not our current probe
    const probeIndex = this.log.findConflictByTerm(message.rejectHintIndex, message.rejectHintTerm)
    pr.becomeProbe(Math.max(pr.match + 1, Math.min(rejected, probeIndex + 1)))
    this.sendAppend(message.from, { sendIfEmpty: true })
  }

  private handleHeartbeatResponse (message: HeartbeatResponse): void {
    if (this.roleValue !== 'leader') return
    const pr = this.progress.get(message.from)
    if (pr === undefined) return
    pr.recentActive = true
    pr.probeSent = false
    pr.freeOneInflightIfFull()
    // An empty append at next - 1 makes a follower whose last append was lost reject, which
    // moves it to probe and resends; without it a quiet leader would never notice the gap.
    if (pr.state === 'snapshot') this.sendSnapshotChunk(message.from, pr)
    else if (pr.match < this.log.lastIndex()) this.sendAppend(message.from, { sendIfEmpty: true })
    if (message.readContext > 0) this.acknowledgeRead(message.from, message.readContext)
  }

  private handleSnapshotResponse (message: SnapshotResponse): void {
    if (this.roleValue !== 'leader') return
    const pr = this.progress.get(message.from)
    if (pr === undefined) return
    pr.recentActive = true
    if (pr.state !== 'snapshot' || pr.snapshotIndex !== message.snapshotIndex) return
    if (message.success) {
      pr.maybeUpdate(message.snapshotIndex)
      pr.becomeProbe(pr.match + 1)
      this.sendAppend(message.from, { sendIfEmpty: true })
      return
    }
    pr.snapshotOffset = message.nextOffset
    this.sendSnapshotChunk(message.from, pr)
  }

  // -------------------------------------------------------------------------------------------
  // Leader: replication.

  private appendEntry (type: Entry['type'], data: Uint8Array): Entry {
    const entry: Entry = { term: this.term, index: this.log.lastIndex() + 1, type, data }
    this.log.append(entry)
    if (type === 'config') this.recomputeConfiguration()
    return entry
  }

  /** Sends what the follower lacks, as far as flow control allows. */
  private sendAppend (to: NodeId, options: { sendIfEmpty: boolean }): void {
    const pr = this.progress.get(to)
    if (pr === undefined) return
    if (pr.state === 'snapshot') return
    let sendIfEmpty = options.sendIfEmpty
    while (pr.canSend()) {
      const prevLogIndex = pr.next - 1
      const prevLogTerm = this.log.term(prevLogIndex)
      if (prevLogTerm === undefined || pr.next < this.log.firstIndex()) {
        this.startSnapshot(to, pr)
        return
      }
      const entries = pr.next <= this.log.lastIndex()
        ? this.log.slice(pr.next, this.log.lastIndex() + 1, { bytesMax: this.options.appendBytesMax, countMax: this.options.appendEntriesMax })
        : []
      if (entries.length === 0 && !sendIfEmpty) return
      this.send({ type: 'append', from: this.id, to, term: this.term, prevLogIndex, prevLogTerm, entries, leaderCommit: this.log.committed })
      pr.sentAppend(entries)
      sendIfEmpty = false
      if (pr.state === 'probe' || entries.length === 0) return
    }
  }

  private startSnapshot (to: NodeId, pr: Progress): void {
    const snapshot = this.log.snapshot()
    assert(snapshot !== null, `follower ${to} needs entries before ${this.log.firstIndex()} but there is no snapshot`)
    this.logger.info({ to, snapshotIndex: snapshot.meta.index, bytes: snapshot.data.byteLength }, 'sending snapshot to follower')
    pr.becomeSnapshot(snapshot.meta.index)
    this.sendSnapshotChunk(to, pr)
  }

  private sendSnapshotChunk (to: NodeId, pr: Progress): void {
    const snapshot = this.log.snapshot()
    assert(snapshot !== null, 'snapshot state without a snapshot')
    if (snapshot.meta.index !== pr.snapshotIndex) {
      pr.becomeSnapshot(snapshot.meta.index) // compacted again meanwhile: start over with the newer one
    }
    const total = snapshot.data.byteLength
    const offset = Math.min(pr.snapshotOffset, total)
    const end = Math.min(total, offset + this.options.snapshotChunkBytes)
    this.send({
      type: 'snapshot',
      from: this.id,
      to,
      term: this.term,
      meta: snapshot.meta,
      offset,
      chunk: snapshot.data.subarray(offset, end),
      totalBytes: total,
      done: end === total
    })
  }

  private broadcastHeartbeat (readContext: number): void {
    for (const [id, pr] of this.progress) {
      const commit = Math.min(pr.match, this.log.committed)
      this.send({ type: 'heartbeat', from: this.id, to: id, term: this.term, commit, readContext })
    }
  }

  private sendTimeoutNow (to: NodeId): void {
    this.logger.info({ term: this.term, to }, 'transferring leadership')
    this.send({ type: 'timeoutNow', from: this.id, to, term: this.term })
  }

  /** §5.3, §5.4.2: commit the highest index a quorum holds, if it is from our own term. */
  private maybeCommit (): boolean {
    const index = quorumMatchIndex(this.configuration.voters, id => id === this.id ? this.log.stableIndex : (this.progress.get(id)?.match ?? 0))
    if (index <= this.log.committed || this.log.term(index) !== this.term) return false
    const firstCommitInTerm = this.log.term(this.log.committed) !== this.term
    this.log.commitTo(index)
    this.commitBroadcastPending = true
    if (firstCommitInTerm) this.releaseReadsAwaitingCommit()
    this.maybeStepDownAfterRemoval()
    return true
  }

  /** Thesis §4.2.2: a leader removed from the configuration steps down once that is committed. */
  private maybeStepDownAfterRemoval (): void {
    if (this.roleValue !== 'leader' || this.isPromotable()) return
    if (this.log.committed < this.configurationIndex) return
    this.logger.info({ term: this.term }, 'stepping down: removed from the configuration')
    this.becomeFollower(this.term, null)
  }

  // -------------------------------------------------------------------------------------------
  // Client-facing operations.

  propose (data: Uint8Array): ProposeResult {
    if (this.roleValue !== 'leader') return { ok: false, reason: 'notLeader', leaderHint: this.leaderId }
    if (this.leadTransferee !== null) return { ok: false, reason: 'transferring' }
    if (this.log.lastIndex() - this.log.committed >= this.options.proposalsPendingMax) return { ok: false, reason: 'overloaded' }
    const entry = this.appendEntry('command', data)
    this.broadcastPending = true
    return { ok: true, index: entry.index, term: entry.term }
  }

  proposeConfChange (change: ConfChange): ConfChangeResult {
    if (this.roleValue !== 'leader') return { ok: false, reason: 'notLeader', leaderHint: this.leaderId }
    if (this.pendingConfigIndex > this.log.committed) {
      return { ok: false, reason: 'changeInProgress', detail: `a membership change at index ${this.pendingConfigIndex} is not committed yet` }
    }
    const next = applyConfChange(this.configuration, change)
    if (typeof next === 'string') return { ok: false, reason: 'invalid', detail: next }
    const entry = this.appendEntry('config', encodeConfiguration(next))
    this.pendingConfigIndex = entry.index
    this.broadcastPending = true
    this.logger.info({ change, index: entry.index }, 'proposed membership change')
    return { ok: true, index: entry.index, term: entry.term }
  }

  /**
   * ReadIndex (thesis §6.4): record the commit index, confirm we are still leader with a
   * heartbeat round, then report it in Ready.readStates; the shell serves the read once it has
   * applied that far. Answers on this node only; a follower's shell forwards to the leader.
   */
  readIndex (requestId: number): { ok: true } | { ok: false, reason: 'notLeader', leaderHint: NodeId | null } {
    if (this.roleValue !== 'leader') return { ok: false, reason: 'notLeader', leaderHint: this.leaderId }
    if (this.log.term(this.log.committed) !== this.term) {
      this.readsAwaitingCommit.push(requestId) // the commit index is not known until our no-op commits
      return { ok: true }
    }
    this.startRead(requestId)
    return { ok: true }
  }

  private startRead (requestId: number): void {
    if (this.configuration.voters.length === 1 && this.isPromotable()) {
      this.readStates.push({ requestId, index: this.log.committed })
      return
    }
    this.readContext += 1
    this.pendingReads.push({ requestId, context: this.readContext, index: this.log.committed, acks: new Set([this.id]) })
    this.broadcastHeartbeat(this.readContext)
  }

  private releaseReadsAwaitingCommit (): void {
    const waiting = this.readsAwaitingCommit
    this.readsAwaitingCommit = []
    for (const requestId of waiting) this.startRead(requestId)
  }

  /** A heartbeat answer for context c confirms every read registered at or before c. */
  private acknowledgeRead (from: NodeId, context: number): void {
    if (!this.configuration.voters.includes(from)) return
    for (const read of this.pendingReads) {
      if (read.context > context) break
      read.acks.add(from)
    }
    const quorum = quorumSize(this.configuration.voters.length)
    while (this.pendingReads.length > 0) {
      const read = this.pendingReads[0]!
      let confirmed = 0
      for (const id of read.acks) if (this.configuration.voters.includes(id)) confirmed += 1
      if (confirmed < quorum) break
      this.pendingReads.shift()
      this.readStates.push({ requestId: read.requestId, index: read.index })
    }
  }

  private failPendingReads (reason: ReadFailure['reason']): void {
    for (const read of this.pendingReads) this.readFailures.push({ requestId: read.requestId, reason, leaderHint: null })
    for (const requestId of this.readsAwaitingCommit) this.readFailures.push({ requestId, reason, leaderHint: null })
    this.pendingReads = []
    this.readsAwaitingCommit = []
  }

  /** Thesis §3.10: bring the target up to date, then tell it to campaign at once. */
  transferLeadership (target: NodeId): TransferResult {
    if (this.roleValue !== 'leader') return { ok: false, reason: 'notLeader', detail: `this node is a ${this.roleValue}` }
    if (target === this.id) return { ok: false, reason: 'isSelf', detail: 'this node is already the leader' }
    if (!isMember(this.configuration, target)) return { ok: false, reason: 'unknownTarget', detail: `${target} is not a member` }
    if (!this.configuration.voters.includes(target)) return { ok: false, reason: 'notVoter', detail: `${target} is not a voter` }
    this.leadTransferee = target
    this.transferElapsed = 0
    const pr = this.progress.get(target)!
    if (pr.match === this.log.lastIndex()) this.sendTimeoutNow(target)
    else this.sendAppend(target, { sendIfEmpty: false })
    return { ok: true }
  }

  /**
   * The shell took a snapshot of its state machine at an applied index: record it (with the
   * configuration in force at that index) and drop the log it covers. Returns the snapshot for
   * the shell to persist (RaftStorage.compact).
   */
  compact (index: number, data: Uint8Array): Snapshot {
    assert(index <= this.log.applied, `cannot snapshot at ${index}: only ${this.log.applied} is applied`)
    assert(index > this.log.snapshotIndex(), `cannot snapshot at ${index}: the log is already compacted to ${this.log.snapshotIndex()}`)
    const term = this.log.term(index)
    assert(term !== undefined, `cannot snapshot at ${index}: the entry is not in the log`)
    const snapshot: Snapshot = { meta: { index, term, configuration: this.configurationAt(index) }, data }
    this.log.compact(snapshot)
    return snapshot
  }

  private configurationAt (index: number): Configuration {
    for (let i = this.log.configIndexes.length - 1; i >= 0; i -= 1) {
      const configIndex = this.log.configIndexes[i]!
      if (configIndex <= index) return decodeConfiguration(this.log.entry(configIndex)!.data)
    }
    return this.log.snapshot()?.meta.configuration ?? emptyConfiguration
  }

  // -------------------------------------------------------------------------------------------
  // Configuration.

  /** Thesis §4.1: a server uses the latest configuration in its log, committed or not. */
  private recomputeConfiguration (): void {
    const latest = this.log.configIndexes[this.log.configIndexes.length - 1]
    const configurationIndex = latest ?? this.log.snapshotIndex()
    const configurationTerm = this.log.term(configurationIndex) ?? 0
    if (configurationIndex === this.configurationIndex && configurationTerm === this.configurationTerm) return
    this.configuration = latest !== undefined
      ? decodeConfiguration(this.log.entry(latest)!.data)
      : this.log.snapshot()?.meta.configuration ?? emptyConfiguration
    this.configurationTerm = configurationTerm
    this.configurationIndex = configurationIndex
    if (this.roleValue === 'leader') this.syncProgressWithConfiguration()
  }

  private syncProgressWithConfiguration (): void {
    for (const id of this.members()) {
      if (id !== this.id && !this.progress.has(id)) {
        this.progress.set(id, new Progress(this.log.lastIndex() + 1, this.options.inflightMessagesMax, this.options.inflightBytesMax))
      }
    }
    for (const id of [...this.progress.keys()]) {
      if (!isMember(this.configuration, id)) this.progress.delete(id)
    }
    if (this.leadTransferee !== null && !this.configuration.voters.includes(this.leadTransferee)) this.leadTransferee = null
  }

  // -------------------------------------------------------------------------------------------
  // Output.

  private send (message: Message): void {
    if (this.dependsOnUnpersistedState(message)) this.deferredMessages.push(message)
    else this.urgentMessages.push(message)
  }

  private dependsOnUnpersistedState (message: Message): boolean {
    switch (message.type) {
      case 'preVote':
      case 'preVoteResponse':
        return false // a pre-vote changes no durable state
      case 'vote':
        return message.term !== this.persistedTerm || this.persistedVote !== this.id
      case 'voteResponse':
        return message.term !== this.persistedTerm || (message.granted && this.persistedVote !== message.to)
      case 'appendResponse':
        return message.term > this.persistedTerm || (message.success && (message.matchIndex > this.log.stableIndex || this.log.unstableSnapshot !== null))
      case 'snapshotResponse':
        return message.term > this.persistedTerm || (message.success && this.log.unstableSnapshot !== null)
      case 'append':
      case 'heartbeat':
      case 'heartbeatResponse':
      case 'snapshot':
      case 'timeoutNow':
        return message.term > this.persistedTerm
      default:
        return assertNever(message, 'message type')
    }
  }

  /** Messages that may be sent now, even while a Ready is being persisted. */
  takeUrgentMessages (): Message[] {
    this.flushBroadcasts()
    const messages = this.urgentMessages
    this.urgentMessages = []
    return messages
  }

  private flushBroadcasts (): void {
    if (this.roleValue !== 'leader') return
    if (!this.broadcastPending && !this.commitBroadcastPending) return
    const commitChanged = this.commitBroadcastPending
    this.broadcastPending = false
    this.commitBroadcastPending = false
    for (const id of this.progress.keys()) this.sendAppend(id, { sendIfEmpty: commitChanged })
  }

  private hardState (): HardState {
    return { term: this.term, votedFor: this.votedFor, commit: this.log.committed }
  }

  hasReady (): boolean {
    assert(this.readyInFlight === null, 'hasReady() while a Ready is in flight: call advance() first')
    if (this.roleValue === 'leader' && (this.broadcastPending || this.commitBroadcastPending)) return true
    const soft = this.softState()
    return this.urgentMessages.length > 0 ||
      this.deferredMessages.length > 0 ||
      soft.role !== this.lastSoftState.role || soft.leaderId !== this.lastSoftState.leaderId || soft.term !== this.lastSoftState.term ||
      this.term !== this.persistedTerm || this.votedFor !== this.persistedVote || this.log.committed !== this.persistedCommit ||
      this.log.unstableSnapshot !== null ||
      this.log.stableIndex < this.log.lastIndex() ||
      this.log.committed > this.log.applied ||
      this.readStates.length > 0 || this.readFailures.length > 0
  }

  /** Collects everything the shell must do now. Call advance(ready) when it is done. */
  ready (): Ready {
    assert(this.readyInFlight === null, 'ready() called twice without advance()')
    this.flushBroadcasts()
    const soft = this.softState()
    const softChanged = soft.role !== this.lastSoftState.role || soft.leaderId !== this.lastSoftState.leaderId || soft.term !== this.lastSoftState.term
    const hard = this.hardState()
    const hardChanged = hard.term !== this.persistedTerm || hard.votedFor !== this.persistedVote || hard.commit !== this.persistedCommit
    const snapshot = this.log.unstableSnapshot
    const ready: Ready = {
      softState: softChanged ? soft : null,
      hardState: hardChanged ? hard : null,
      snapshot,
      entries: this.log.unstableEntries(),
      messagesBeforePersist: this.urgentMessages,
      messages: this.deferredMessages,
      committedEntries: this.log.nextCommitted(this.options.applyEntriesMax),
      readStates: this.readStates,
      readFailures: this.readFailures
    }
    this.urgentMessages = []
    this.deferredMessages = []
    this.readStates = []
    this.readFailures = []
    if (softChanged) this.lastSoftState = soft
    this.readyInFlight = ready
    return ready
  }

  /** The shell has done everything the Ready asked for. */
  advance (ready: Ready): void {
    assert(this.readyInFlight === ready, 'advance() with a Ready that is not the one in flight')
    this.readyInFlight = null
    if (ready.hardState !== null) {
      this.persistedTerm = ready.hardState.term
      this.persistedVote = ready.hardState.votedFor
      this.persistedCommit = ready.hardState.commit
    }
    if (ready.snapshot !== null) this.log.snapshotPersisted(ready.snapshot)
    const lastEntry = ready.entries[ready.entries.length - 1]
    if (lastEntry !== undefined) this.log.stableTo(ready.entries)
    const lastApplied = ready.committedEntries[ready.committedEntries.length - 1]
    if (lastApplied !== undefined) this.log.appliedTo(lastApplied.index)
    if (this.roleValue === 'leader' && lastEntry !== undefined) this.maybeCommit()
  }
}

function concatenate (chunks: readonly Uint8Array[], totalBytes: number): Uint8Array {
  const result = new Uint8Array(totalBytes)
  let offset = 0
  for (const chunk of chunks) {
    result.set(chunk, offset)
    offset += chunk.byteLength
  }
  return result
}

export { Progress }
