/**
 * Test helpers for the pure Raft core, in the shape of etcd-io/raft's paper tests: build a core in
 * a known state, step messages into it, then look at what its Ready batches (and urgent messages)
 * asked the shell to do and at its role.
 *
 * - newCore(): one core restored from a chosen log and hard state (the log always starts with the
 *   bootstrap config entry at index 1, term 1), with the restore Ready already drained.
 * - drain(): the shell's loop (ready, persist, send, apply, advance) until the core is quiet,
 *   collecting everything it produced.
 * - makeLeader(): drives an isolated core through an election by answering its (pre-)votes.
 * - Network: several cores with a FIFO in-memory network, link cuts and a drop filter; it checks
 *   election safety (one leader per term) and state machine safety (same entry at each applied
 *   index) on every round. Everything is deterministic: nodes are visited in id order.
 *
 * Nothing here reaches into the core's private state; tests use its public API and status().
 */
import assert from 'node:assert/strict'
import { SeededPrng } from '../../../../src/util/prng.js'
import { RaftCore, bootstrapState, defaultCoreLimits, type RaftCoreOptions } from '../../../../src/raft/core/raft.js'
import { encodeConfiguration } from '../../../../src/raft/core/configuration.js'
import { silentLogger } from '../../../../src/raft/core/types.js'
import type {
  AppendRequest, Configuration, Entry, HardState, Message, MessageType, NodeId, ReadFailure, ReadState, Ready, Snapshot, SoftState
} from '../../../../src/raft/core/types.js'

export const ELECTION_TICKS = 10
export const HEARTBEAT_TICKS = 1

export type Tunables = Partial<Omit<RaftCoreOptions, 'id' | 'prng' | 'logger' | 'restored'>>

export function nodeIds (count: number): NodeId[] {
  return Array.from({ length: count }, (_, i) => `n${i + 1}`)
}

export function configurationOf (voters: readonly NodeId[], learners: readonly NodeId[] = []): Configuration {
  const addresses: Record<NodeId, string> = {}
  for (const id of [...voters, ...learners]) addresses[id] = `addr-${id}`
  return { voters: [...voters], learners: [...learners], addresses }
}

const encoder = new TextEncoder()
const decoder = new TextDecoder()

export function bytes (text: string): Uint8Array { return encoder.encode(text) }
export function text (data: Uint8Array): string { return decoder.decode(data) }

export function configEntry (configuration: Configuration, index = 1, term = 1): Entry {
  return { index, term, type: 'config', data: encodeConfiguration(configuration) }
}

export function commandEntry (index: number, term: number, data: string = `cmd-${index}`): Entry {
  return { index, term, type: 'command', data: bytes(data) }
}

/**
 * A log whose entry i + 1 has term terms[i]: index 1 is the bootstrap config entry (term 1), the
 * rest are commands. This is how the paper's figures draw logs (a list of terms).
 */
export function logFromTerms (configuration: Configuration, terms: readonly number[]): Entry[] {
  assert.ok(terms.length >= 1 && terms[0] === 1, 'index 1 is the bootstrap config entry of term 1')
  return terms.map((term, i) => i === 0 ? configEntry(configuration) : commandEntry(i + 1, term))
}

export interface CoreSetup {
  readonly id?: NodeId
  readonly voters?: readonly NodeId[]
  readonly learners?: readonly NodeId[]
  /** Terms of the log entries (see logFromTerms); default [1]. */
  readonly terms?: readonly number[]
  readonly term?: number
  readonly votedFor?: NodeId | null
  readonly commit?: number
  readonly seed?: number
  readonly tunables?: Tunables
  /** Restore from exactly this state instead of building one from the fields above. */
  readonly restored?: RaftCoreOptions['restored']
  /** Leave the restore Ready (committed entries to re-apply) undrained. */
  readonly keepRestoreReady?: boolean
}

export function coreOptions (id: NodeId, restored: RaftCoreOptions['restored'], seed: number, tunables: Tunables = {}): RaftCoreOptions {
  return {
    id,
    electionTicks: ELECTION_TICKS,
    heartbeatTicks: HEARTBEAT_TICKS,
    prng: new SeededPrng(seed),
    logger: silentLogger,
    ...defaultCoreLimits,
    ...tunables,
    restored
  }
}

export function newCore (setup: CoreSetup = {}): RaftCore {
  const id = setup.id ?? 'n1'
  const configuration = configurationOf(setup.voters ?? nodeIds(3), setup.learners ?? [])
  let restored = setup.restored
  if (restored === undefined) {
    const terms = setup.terms ?? [1]
    const entries = logFromTerms(configuration, terms)
    const lastTerm = terms[terms.length - 1]!
    restored = {
      hardState: { term: setup.term ?? lastTerm, votedFor: setup.votedFor ?? null, commit: setup.commit ?? 1 },
      snapshot: null,
      entries
    }
  }
  const core = new RaftCore(coreOptions(id, restored, setup.seed ?? 1, setup.tunables))
  if (setup.keepRestoreReady !== true) drain(core)
  return core
}

/** What the core asked the shell to persist: enough to restart it. */
export class Disk {
  hardState: HardState = { term: 0, votedFor: null, commit: 0 }
  snapshot: Snapshot | null = null
  entries: Entry[] = []

  static fromBootstrap (configuration: Configuration): Disk {
    const disk = new Disk()
    const boot = bootstrapState(configuration)
    disk.hardState = boot.hardState
    disk.entries = boot.entries
    return disk
  }

  save (ready: Ready): void {
    if (ready.snapshot !== null) {
      this.snapshot = ready.snapshot
      this.entries = []
    }
    const first = ready.entries[0]
    if (first !== undefined) {
      const base = this.snapshot?.meta.index ?? 0
      const keep = first.index - base - 1
      assert.ok(keep <= this.entries.length, `disk write leaves a gap: have ${base + this.entries.length}, writing from ${first.index}`)
      this.entries.length = Math.max(0, keep)
      this.entries.push(...ready.entries)
    }
    if (ready.hardState !== null) this.hardState = ready.hardState
  }

  compact (snapshot: Snapshot): void {
    const base = this.snapshot?.meta.index ?? 0
    this.entries = this.entries.slice(snapshot.meta.index - base)
    this.snapshot = snapshot
  }

  restored (): RaftCoreOptions['restored'] {
    return { hardState: this.hardState, snapshot: this.snapshot, entries: [...this.entries] }
  }
}

export interface Drained {
  /** Every message, in the order the shell would send them. */
  readonly messages: Message[]
  readonly urgent: Message[]
  readonly afterPersist: Message[]
  readonly entries: Entry[]
  readonly committed: Entry[]
  readonly hardStates: HardState[]
  readonly softStates: SoftState[]
  readonly snapshots: Snapshot[]
  readonly readStates: ReadState[]
  readonly readFailures: ReadFailure[]
  readies: number
}

function emptyDrained (): Drained {
  return { messages: [], urgent: [], afterPersist: [], entries: [], committed: [], hardStates: [], softStates: [], snapshots: [], readStates: [], readFailures: [], readies: 0 }
}

/** Runs the shell's loop until the core has nothing more to do. */
export function drain (core: RaftCore, disk?: Disk): Drained {
  const out = emptyDrained()
  for (let round = 0; core.hasReady(); round += 1) {
    assert.ok(round < 100, 'core did not quiesce within 100 Ready rounds')
    const ready = core.ready()
    collect(out, ready)
    disk?.save(ready)
    core.advance(ready)
  }
  return out
}

function collect (out: Drained, ready: Ready): void {
  out.readies += 1
  out.messages.push(...ready.messagesBeforePersist, ...ready.messages)
  out.urgent.push(...ready.messagesBeforePersist)
  out.afterPersist.push(...ready.messages)
  out.entries.push(...ready.entries)
  out.committed.push(...ready.committedEntries)
  if (ready.hardState !== null) out.hardStates.push(ready.hardState)
  if (ready.softState !== null) out.softStates.push(ready.softState)
  if (ready.snapshot !== null) out.snapshots.push(ready.snapshot)
  out.readStates.push(...ready.readStates)
  out.readFailures.push(...ready.readFailures)
}

/** One ready()/advance() round, returned for inspection. */
export function readyOnce (core: RaftCore): Ready {
  assert.ok(core.hasReady(), 'expected the core to have a Ready')
  const ready = core.ready()
  core.advance(ready)
  return ready
}

export type MessageOf<T extends MessageType> = Extract<Message, { type: T }>

export function ofType<T extends MessageType> (messages: readonly Message[], type: T, to?: NodeId): Array<MessageOf<T>> {
  return messages.filter((m): m is MessageOf<T> => m.type === type && (to === undefined || m.to === to))
}

export function only<T> (items: readonly T[], what: string): T {
  assert.equal(items.length, 1, `expected exactly one ${what}, got ${items.length}: ${JSON.stringify(items)}`)
  return items[0]!
}

/** Ticks until predicate holds; returns how many ticks it took. */
export function tickUntil (core: RaftCore, predicate: () => boolean, ticksMax: number): number {
  for (let ticks = 1; ticks <= ticksMax; ticks += 1) {
    core.tick()
    if (predicate()) return ticks
  }
  assert.fail(`condition not reached within ${ticksMax} ticks (role ${core.role}, term ${core.currentTerm})`)
}

export function tickTimes (core: RaftCore, ticks: number): void {
  for (let i = 0; i < ticks; i += 1) core.tick()
}

/**
 * Elects an isolated core by answering its (pre-)vote requests from the other voters, with no
 * network. Returns what it produced from the moment it became leader (its first appends).
 */
export function makeLeader (core: RaftCore): Drained {
  const voters = core.currentConfiguration.voters.filter(id => id !== core.id)
  tickUntil(core, () => core.role !== 'follower', 2 * ELECTION_TICKS)
  if (core.role === 'preCandidate') {
    drain(core)
    const term = core.currentTerm + 1
    for (const from of voters) {
      if (core.role !== 'preCandidate') break
      core.step({ type: 'preVoteResponse', from, to: core.id, term, granted: true })
    }
  }
  if (core.role === 'candidate') {
    drain(core) // persist the new term and the self-vote: the vote requests leave only now
    for (const from of voters) {
      if (core.role !== 'candidate') break
      core.step({ type: 'voteResponse', from, to: core.id, term: core.currentTerm, granted: true })
    }
  }
  assert.equal(core.role, 'leader')
  return drain(core)
}

/** The follower's answer to an append it accepted in full (what a healthy follower would send). */
export function acceptAppend (append: AppendRequest): Message {
  return {
    type: 'appendResponse',
    from: append.to,
    to: append.from,
    term: append.term,
    success: true,
    matchIndex: append.prevLogIndex + append.entries.length,
    rejectHintIndex: 0,
    rejectHintTerm: 0
  }
}

/** Steps a successful answer to every append in messages (optionally only those to some peers). */
export function acceptAppends (leader: RaftCore, messages: readonly Message[], from?: readonly NodeId[]): void {
  for (const append of ofType(messages, 'append')) {
    if (from !== undefined && !from.includes(append.to)) continue
    leader.step(acceptAppend(append))
  }
}

/** An elected leader whose noop is committed on a quorum (all peers acked). */
export function makeCommittedLeader (setup: CoreSetup = {}): RaftCore {
  const core = newCore(setup)
  const elected = makeLeader(core)
  acceptAppends(core, elected.messages)
  drain(core)
  assert.equal(core.commitIndex, core.lastIndex, 'noop committed')
  return core
}

export function heartbeat (from: NodeId, to: NodeId, term: number, commit = 0, readContext = 0): Message {
  return { type: 'heartbeat', from, to, term, commit, readContext }
}

export function append (fields: { from: NodeId, to: NodeId, term: number, prevLogIndex: number, prevLogTerm: number, entries?: readonly Entry[], leaderCommit?: number }): AppendRequest {
  return {
    type: 'append',
    from: fields.from,
    to: fields.to,
    term: fields.term,
    prevLogIndex: fields.prevLogIndex,
    prevLogTerm: fields.prevLogTerm,
    entries: fields.entries ?? [],
    leaderCommit: fields.leaderCommit ?? 0
  }
}

export function voteRequest (fields: { from: NodeId, to: NodeId, term: number, lastLogIndex: number, lastLogTerm: number, leadershipTransfer?: boolean }): Message {
  return { type: 'vote', leadershipTransfer: false, ...fields }
}

/** The terms of a core's log from index 1 to its last index (undefined where compacted). */
export function logTerms (core: RaftCore): Array<number | undefined> {
  const terms: Array<number | undefined> = []
  for (let index = 1; index <= core.lastIndex; index += 1) terms.push(core.termAt(index))
  return terms
}

// ---------------------------------------------------------------------------------------------
// A small deterministic network of cores.

export interface NetworkOptions {
  readonly voters: readonly NodeId[]
  readonly learners?: readonly NodeId[]
  readonly tunables?: Tunables
  readonly seed?: number
}

export class Network {
  readonly cores = new Map<NodeId, RaftCore>()
  readonly disks = new Map<NodeId, Disk>()
  /** Entries each node's state machine applied, in order. */
  readonly applied = new Map<NodeId, Entry[]>()
  readonly readStates = new Map<NodeId, ReadState[]>()
  readonly readFailures = new Map<NodeId, ReadFailure[]>()
  readonly snapshotsInstalled = new Map<NodeId, Snapshot[]>()
  /** Every message handed to a live link, in delivery order. */
  readonly delivered: Message[] = []
  /** Return true to drop a message in flight. */
  drop: ((message: Message) => boolean) | null = null
  private readonly tunables: Tunables
  private readonly seed: number
  private queue: Message[] = []
  private readonly cut = new Set<string>()
  private readonly leaderOfTerm = new Map<number, NodeId>()
  private readonly entryAtAppliedIndex = new Map<number, Entry>()

  constructor (options: NetworkOptions) {
    this.tunables = options.tunables ?? {}
    this.seed = options.seed ?? 1
    const configuration = configurationOf(options.voters, options.learners ?? [])
    for (const id of [...options.voters, ...(options.learners ?? [])]) {
      this.addNode(id, Disk.fromBootstrap(configuration))
    }
  }

  /** Starts (or restarts) a node from what its disk holds. */
  addNode (id: NodeId, disk: Disk, tunables: Tunables = {}): RaftCore {
    const index = [...this.cores.keys(), id].sort().indexOf(id)
    const core = new RaftCore(coreOptions(id, disk.restored(), this.seed * 1000 + index + 1, { ...this.tunables, ...tunables }))
    this.cores.set(id, core)
    this.disks.set(id, disk)
    this.applied.set(id, this.applied.get(id) ?? [])
    this.readStates.set(id, this.readStates.get(id) ?? [])
    this.readFailures.set(id, this.readFailures.get(id) ?? [])
    this.snapshotsInstalled.set(id, this.snapshotsInstalled.get(id) ?? [])
    return core
  }

  /** A crash loses nothing that was persisted (we always finish a Ready) and everything else. */
  restart (id: NodeId): RaftCore {
    const disk = this.disks.get(id)
    assert.ok(disk !== undefined, `no node ${id}`)
    this.applied.set(id, [])
    return this.addNode(id, disk)
  }

  core (id: NodeId): RaftCore {
    const core = this.cores.get(id)
    assert.ok(core !== undefined, `no node ${id}`)
    return core
  }

  ids (): NodeId[] { return [...this.cores.keys()].sort() }

  /** Terms that had a leader so far, with who led them. */
  leaderHistory (): ReadonlyMap<number, NodeId> { return this.leaderOfTerm }

  leaders (): NodeId[] { return this.ids().filter(id => this.core(id).role === 'leader') }

  cutLink (a: NodeId, b: NodeId): void {
    this.cut.add(`${a}>${b}`)
    this.cut.add(`${b}>${a}`)
  }

  isolate (id: NodeId): void {
    for (const other of this.ids()) if (other !== id) this.cutLink(id, other)
  }

  /** Lets id talk to these peers again (both directions). */
  connect (id: NodeId, peers: readonly NodeId[]): void {
    for (const peer of peers) {
      this.cut.delete(`${id}>${peer}`)
      this.cut.delete(`${peer}>${id}`)
    }
  }

  heal (): void {
    this.cut.clear()
    this.drop = null
  }

  /** Processes Readies and delivers messages until nothing moves. */
  stabilize (roundsMax = 2000): void {
    for (let round = 0; round < roundsMax; round += 1) {
      let moved = false
      for (const id of this.ids()) moved = this.processReady(id) || moved
      const inFlight = this.queue
      this.queue = []
      for (const message of inFlight) {
        moved = true
        this.deliver(message)
      }
      this.checkSafety()
      if (!moved) return
    }
    assert.fail(`network did not stabilize within ${roundsMax} rounds`)
  }

  /** Ticks every node (or the given ones) once per round, stabilizing after each. */
  tick (rounds = 1, ids: readonly NodeId[] = this.ids()): void {
    for (let round = 0; round < rounds; round += 1) {
      for (const id of ids) this.core(id).tick()
      this.stabilize()
    }
  }

  /** Ticks one node until it campaigns, then lets the election play out. */
  campaign (id: NodeId): void {
    const core = this.core(id)
    tickUntil(core, () => core.role !== 'follower', 2 * ELECTION_TICKS + 1)
    this.stabilize()
  }

  elect (id: NodeId): RaftCore {
    this.campaign(id)
    const core = this.core(id)
    assert.equal(core.role, 'leader', `${id} should have won the election`)
    return core
  }

  propose (id: NodeId, data: string): number {
    const result = this.core(id).propose(bytes(data))
    assert.ok(result.ok, `proposal on ${id} failed: ${JSON.stringify(result)}`)
    this.stabilize()
    return result.index
  }

  appliedCommands (id: NodeId): string[] {
    return (this.applied.get(id) ?? []).filter(e => e.type === 'command').map(e => text(e.data))
  }

  private processReady (id: NodeId): boolean {
    const core = this.core(id)
    if (!core.hasReady()) return false
    const ready = core.ready()
    this.queue.push(...ready.messagesBeforePersist)
    this.disks.get(id)!.save(ready)
    this.queue.push(...ready.messages)
    if (ready.snapshot !== null) this.snapshotsInstalled.get(id)!.push(ready.snapshot)
    for (const entry of ready.committedEntries) this.recordApplied(id, entry)
    this.readStates.get(id)!.push(...ready.readStates)
    this.readFailures.get(id)!.push(...ready.readFailures)
    core.advance(ready)
    return true
  }

  private recordApplied (id: NodeId, entry: Entry): void {
    const seen = this.entryAtAppliedIndex.get(entry.index)
    if (seen === undefined) this.entryAtAppliedIndex.set(entry.index, entry)
    else {
      assert.equal(entry.term, seen.term, `state machine safety: ${id} applied term ${entry.term} at ${entry.index}, another node term ${seen.term}`)
      assert.deepEqual(entry.data, seen.data, `state machine safety: ${id} applied different data at ${entry.index}`)
    }
    this.applied.get(id)!.push(entry)
  }

  private deliver (message: Message): void {
    if (this.cut.has(`${message.from}>${message.to}`)) return
    if (this.drop !== null && this.drop(message)) return
    const target = this.cores.get(message.to)
    if (target === undefined) return
    this.delivered.push(message)
    target.step(message)
  }

  private checkSafety (): void {
    for (const id of this.ids()) {
      const core = this.core(id)
      if (core.role !== 'leader') continue
      const previous = this.leaderOfTerm.get(core.currentTerm)
      assert.ok(previous === undefined || previous === id, `election safety: ${previous} and ${id} both led term ${core.currentTerm}`)
      this.leaderOfTerm.set(core.currentTerm, id)
    }
  }
}

/** Classic Raft without the thesis extensions, for the paper's §5 rules in isolation. */
export const PLAIN: Tunables = Object.freeze({ preVote: false, checkQuorum: false })
