/**
 * A deterministic simulation of a Raft cluster: real RaftCores, a test state machine, a lossy
 * network and disks that lose unsynced writes on a crash. One seed drives one PRNG; every event
 * comes from it, so a seed replays exactly (the trace hash proves it). No wall clock, no I/O.
 *
 * Time is counted in units; a Raft tick is TICK_UNITS units. Each step() runs one event from a
 * priority queue ordered by (time, sequence): a node's tick, a message delivery, a disk write
 * completing, or a chaos event (crash, restart, partition, proposal, membership change, ...).
 */
import { createHash } from 'node:crypto'
import { SeededPrng, type Prng } from '../../src/util/prng.js'
import { RaftCore, bootstrapState, defaultCoreLimits } from '../../src/raft/core/raft.js'
import { decodeConfiguration } from '../../src/raft/core/configuration.js'
import type { Configuration, Entry, HardState, Message, NodeId, Ready, Snapshot } from '../../src/raft/core/types.js'
import { History } from './checkers.js'

export const TICK_UNITS = 10
const ELECTION_TICKS = 10
const HEARTBEAT_TICKS = 2
const COMPACT_EVERY_ENTRIES = 40

export interface Faults {
  readonly dropRate: number
  readonly duplicateRate: number
  readonly delayUnitsMax: number
  readonly longDelayRate: number
  readonly diskDelayUnitsMax: number
  readonly crashRate: number
  readonly partitionRate: number
  readonly proposeRate: number
  readonly membershipRate: number
  readonly transferRate: number
  readonly preVote: boolean
  readonly checkQuorum: boolean
}

/** Fault rates drawn from the seed, as the VOPR's swarm testing does. */
export function faultsFromSeed (prng: Prng): Faults {
  return {
    dropRate: [0, 0.01, 0.05, 0.15][prng.nextInt(4)]!,
    duplicateRate: [0, 0.02, 0.1][prng.nextInt(3)]!,
    delayUnitsMax: [2, 10, 30][prng.nextInt(3)]!,
    longDelayRate: [0, 0.01, 0.05][prng.nextInt(3)]!,
    diskDelayUnitsMax: [1, 5, 40, 120][prng.nextInt(4)]!,
    crashRate: [0, 0.02, 0.06, 0.2][prng.nextInt(4)]!,
    partitionRate: [0, 0.02, 0.06][prng.nextInt(3)]!,
    proposeRate: [0.3, 0.6, 0.9][prng.nextInt(3)]!,
    membershipRate: [0, 0.01, 0.03][prng.nextInt(3)]!,
    transferRate: [0, 0.01, 0.03][prng.nextInt(3)]!,
    preVote: prng.nextInt(4) !== 0,
    checkQuorum: prng.nextInt(4) !== 0
  }
}

/** A durable disk: what survives a crash. Writes land only when their event completes. */
class SimDisk {
  hardState: HardState = { term: 0, votedFor: null, commit: 0 }
  snapshot: Snapshot | null = null
  entries: Entry[] = []

  save (ready: Pick<Ready, 'hardState' | 'entries' | 'snapshot'>): void {
    // As the real shell does (node.ts mustPersist): a commit-only change is not written alone.
    const hard = ready.hardState
    const commitOnly = ready.entries.length === 0 && ready.snapshot === null && hard !== null &&
      hard.term === this.hardState.term && hard.votedFor === this.hardState.votedFor
    if (commitOnly) return
    if (ready.snapshot !== null) {
      this.snapshot = ready.snapshot
      this.entries = []
    }
    const first = ready.entries[0]
    if (first !== undefined) {
      const base = this.snapshot?.meta.index ?? 0
      const keep = first.index - base - 1
      if (keep < this.entries.length) this.entries.length = Math.max(0, keep)
      if (this.entries.length !== keep) throw new Error(`disk write leaves a gap: have ${base + this.entries.length}, writing from ${first.index}`)
      this.entries.push(...ready.entries)
    }
    if (ready.hardState !== null) this.hardState = ready.hardState
  }

  compact (snapshot: Snapshot): void {
    const base = this.snapshot?.meta.index ?? 0
    this.entries = this.entries.slice(snapshot.meta.index - base)
    this.snapshot = snapshot
    if (this.hardState.commit < snapshot.meta.index) this.hardState = { ...this.hardState, commit: snapshot.meta.index }
  }
}

/** The test state machine: a hash chain over applied commands, and the commands themselves. */
class TestStateMachine {
  appliedIndex = 0
  hash = 'genesis'
  count = 0

  apply (entry: Entry): void {
    if (entry.type === 'command') {
      this.hash = createHash('sha256').update(this.hash).update(String(entry.index)).update(entry.data).digest('hex').slice(0, 16)
      this.count += 1
    }
    this.appliedIndex = entry.index
  }

  serialize (): Uint8Array {
    return new TextEncoder().encode(JSON.stringify({ appliedIndex: this.appliedIndex, hash: this.hash, count: this.count }))
  }

  restore (data: Uint8Array): void {
    const parsed = JSON.parse(new TextDecoder().decode(data)) as { appliedIndex: number, hash: string, count: number }
    this.appliedIndex = parsed.appliedIndex
    this.hash = parsed.hash
    this.count = parsed.count
  }
}

export class SimNode {
  core: RaftCore | null = null
  readonly disk = new SimDisk()
  machine = new TestStateMachine()
  inflight: Ready | null = null
  /** Proposals this node accepted as leader: index -> (term, value). */
  pending = new Map<number, { term: number, value: string }>()
  readonly prng: Prng

  constructor (readonly id: NodeId, prng: Prng) {
    this.prng = prng
  }

  get up (): boolean { return this.core !== null }
}

type SimEvent =
  | { kind: 'tick', node: NodeId, epoch: number }
  | { kind: 'deliver', message: Message }
  | { kind: 'diskDone', node: NodeId, epoch: number }
  | { kind: 'chaos' }

interface Scheduled { time: number, seq: number, event: SimEvent }

export interface SimOptions {
  readonly seed: number
  readonly nodeCount: 3 | 5
  readonly traceLinesMax?: number
}

export class SimCluster {
  readonly seed: number
  readonly prng: Prng
  readonly faults: Faults
  readonly nodes = new Map<NodeId, SimNode>()
  readonly history = new History()
  time = 0
  steps = 0
  private seq = 0
  private queue: Scheduled[] = []
  private epochs = new Map<NodeId, number>()
  /** Pairs (a>b) that cannot talk. Asymmetric: a key "x>y" blocks only x to y. */
  private blocked = new Set<string>()
  private healed = false
  private proposalCounter = 0
  private spareCounter = 0
  readonly trace: string[] = []
  private traceHash = createHash('sha256')
  private readonly traceLinesMax: number
  acknowledged = 0

  constructor (options: SimOptions) {
    this.seed = options.seed
    this.prng = new SeededPrng(options.seed)
    this.faults = faultsFromSeed(this.prng.fork())
    this.traceLinesMax = options.traceLinesMax ?? 400
    const ids = Array.from({ length: options.nodeCount }, (_, i) => `n${i + 1}`)
    const configuration: Configuration = { voters: ids, learners: [], addresses: Object.fromEntries(ids.map(id => [id, `sim://${id}`])) }
    const boot = bootstrapState(configuration)
    this.record(`seed ${options.seed} nodes ${options.nodeCount} faults ${JSON.stringify(this.faults)}`)
    for (const id of ids) {
      const node = new SimNode(id, this.prng.fork())
      node.disk.save({ hardState: boot.hardState, entries: boot.entries, snapshot: null })
      this.nodes.set(id, node)
      this.start(node)
    }
    this.schedule(1, { kind: 'chaos' })
  }

  // ---- scheduling ------------------------------------------------------------------------------

  private schedule (delay: number, event: SimEvent): void {
    const item = { time: this.time + delay, seq: this.seq++, event }
    // Binary insertion keeps the queue ordered by (time, seq).
    let low = 0
    let high = this.queue.length
    while (low < high) {
      const mid = (low + high) >>> 1
      const other = this.queue[mid]!
      if (other.time < item.time || (other.time === item.time && other.seq < item.seq)) low = mid + 1
      else high = mid
    }
    this.queue.splice(low, 0, item)
  }

  record (line: string): void {
    const text = `${this.steps} t=${this.time} ${line}`
    this.traceHash.update(text).update('\n')
    this.trace.push(text)
    if (this.trace.length > this.traceLinesMax) this.trace.shift()
  }

  traceDigest (): string {
    return this.traceHash.copy().digest('hex')
  }

  // ---- node lifecycle --------------------------------------------------------------------------

  private start (node: SimNode): void {
    const epoch = (this.epochs.get(node.id) ?? 0) + 1
    this.epochs.set(node.id, epoch)
    node.machine = new TestStateMachine()
    if (node.disk.snapshot !== null) node.machine.restore(node.disk.snapshot.data)
    node.pending.clear()
    node.inflight = null
    node.core = new RaftCore({
      id: node.id,
      electionTicks: ELECTION_TICKS,
      heartbeatTicks: HEARTBEAT_TICKS,
      prng: node.prng.fork(),
      logger: { debug () {}, info () {}, warn () {} },
      ...defaultCoreLimits,
      appendEntriesMax: 8,
      inflightMessagesMax: 4,
      snapshotChunkBytes: 64,
      proposalsPendingMax: 256,
      preVote: this.faults.preVote,
      checkQuorum: this.faults.checkQuorum,
      restored: { hardState: node.disk.hardState, snapshot: node.disk.snapshot, entries: [...node.disk.entries] }
    })
    this.record(`start ${node.id} epoch ${epoch} term ${node.disk.hardState.term} commit ${node.disk.hardState.commit}`)
    this.schedule(1 + node.prng.nextInt(TICK_UNITS), { kind: 'tick', node: node.id, epoch })
  }

  private crash (node: SimNode): void {
    this.record(`crash ${node.id}${node.inflight !== null ? ' (losing an unsynced write)' : ''}`)
    node.core = null
    node.inflight = null
    node.pending.clear()
    this.epochs.set(node.id, (this.epochs.get(node.id) ?? 0) + 1)
  }

  // ---- the shell, simulated --------------------------------------------------------------------

  /** Called after every input to a node: sends urgent messages and starts the next disk write. */
  private pump (node: SimNode): void {
    const core = node.core
    if (core === null) return
    for (const message of core.takeUrgentMessages()) this.transmit(message)
    if (node.inflight !== null || !core.hasReady()) return
    const ready = core.ready()
    node.inflight = ready
    for (const message of ready.messagesBeforePersist) this.transmit(message)
    if (ready.softState !== null) {
      this.record(`${node.id} ${ready.softState.role} term ${ready.softState.term} leader ${ready.softState.leaderId ?? '-'}`)
      if (ready.softState.role === 'leader') this.history.recordLeader(ready.softState.term, node.id, core)
    }
    const needsDisk = ready.hardState !== null || ready.entries.length > 0 || ready.snapshot !== null
    const delay = needsDisk ? 1 + node.prng.nextInt(this.healed ? 3 : this.faults.diskDelayUnitsMax) : 0
    this.schedule(delay, { kind: 'diskDone', node: node.id, epoch: this.epochs.get(node.id)! })
  }

  private diskDone (node: SimNode): void {
    const core = node.core!
    const ready = node.inflight!
    node.inflight = null
    node.disk.save(ready)
    for (const entry of ready.entries) this.history.recordEntry(node.id, entry)
    for (const message of ready.messages) this.transmit(message)
    if (ready.snapshot !== null) {
      node.machine.restore(ready.snapshot.data)
      this.history.recordSnapshotRestore(node.id, ready.snapshot.meta.index, node.machine.hash)
      this.record(`${node.id} restored snapshot ${ready.snapshot.meta.index}`)
    }
    for (const entry of ready.committedEntries) this.applyEntry(node, entry)
    core.advance(ready)
    this.maybeCompact(node)
  }

  private applyEntry (node: SimNode, entry: Entry): void {
    if (entry.index <= node.machine.appliedIndex) return
    if (entry.index !== node.machine.appliedIndex + 1) throw new Error(`${node.id} applies ${entry.index} after ${node.machine.appliedIndex}: gap`)
    node.machine.apply(entry)
    this.history.recordApplied(node.id, entry, node.machine.hash)
    if (entry.type === 'config') {
      const configuration = decodeConfiguration(entry.data)
      this.history.recordCommittedConfiguration(entry.index, [...configuration.voters, ...configuration.learners])
    }
    const pending = node.pending.get(entry.index)
    if (pending === undefined) return
    node.pending.delete(entry.index)
    if (pending.term === entry.term) {
      this.history.recordAcknowledged(entry.index, pending.value)
      this.acknowledged += 1
    }
  }

  private maybeCompact (node: SimNode): void {
    const core = node.core!
    const snapshotIndex = core.latestSnapshot()?.meta.index ?? 0
    if (node.machine.appliedIndex - snapshotIndex < COMPACT_EVERY_ENTRIES) return
    const snapshot = core.compact(node.machine.appliedIndex, node.machine.serialize())
    node.disk.compact(snapshot)
    this.record(`${node.id} compacted to ${snapshot.meta.index}`)
  }

  private transmit (message: Message): void {
    const target = this.nodes.get(message.to)
    if (target === undefined) return
    if (this.blocked.has(`${message.from}>${message.to}`)) return
    if (!this.healed && this.prng.nextFloat() < this.faults.dropRate) return
    const copies = !this.healed && this.prng.nextFloat() < this.faults.duplicateRate ? 2 : 1
    for (let i = 0; i < copies; i += 1) {
      let delay = 1 + this.prng.nextInt(this.healed ? 3 : this.faults.delayUnitsMax)
      if (!this.healed && this.prng.nextFloat() < this.faults.longDelayRate) delay += this.prng.nextInt(20 * TICK_UNITS)
      this.schedule(delay, { kind: 'deliver', message })
    }
  }

  // ---- events ----------------------------------------------------------------------------------

  step (): boolean {
    const next = this.queue.shift()
    if (next === undefined) return false
    this.time = next.time
    this.steps += 1
    const event = next.event
    switch (event.kind) {
      case 'tick': {
        const node = this.nodes.get(event.node)!
        if (!node.up || this.epochs.get(node.id) !== event.epoch) break
        node.core!.tick()
        this.pump(node)
        this.schedule(TICK_UNITS, event)
        break
      }
      case 'deliver': {
        const node = this.nodes.get(event.message.to)
        if (node === undefined || !node.up) break
        if (this.blocked.has(`${event.message.from}>${event.message.to}`)) break
        node.core!.step(event.message)
        this.pump(node)
        break
      }
      case 'diskDone': {
        const node = this.nodes.get(event.node)!
        if (!node.up || this.epochs.get(node.id) !== event.epoch || node.inflight === null) break
        this.diskDone(node)
        this.pump(node)
        break
      }
      case 'chaos':
        this.chaos()
        this.schedule(1 + this.prng.nextInt(TICK_UNITS), event)
        break
    }
    this.history.check(this)
    if (this.healed && this.steps % 50 === 0) this.restartMembers()
    return true
  }

  private chaos (): void {
    if (this.healed) return // the liveness phase makes its own single proposal
    const roll = this.prng.nextFloat()
    const f = this.faults
    if (roll < f.proposeRate) {
      this.propose()
      return
    }
    const r = this.prng.nextFloat()
    if (r < f.crashRate) this.crashOrRestart()
    else if (r < f.crashRate + f.partitionRate) this.partitionOrHeal()
    else if (r < f.crashRate + f.partitionRate + f.membershipRate) this.changeMembership()
    else if (r < f.crashRate + f.partitionRate + f.membershipRate + f.transferRate) this.transfer()
  }

  leaderNode (): SimNode | undefined {
    let best: SimNode | undefined
    for (const node of this.nodes.values()) {
      if (node.core?.role === 'leader' && (best === undefined || node.core.currentTerm > best.core!.currentTerm)) best = node
    }
    return best
  }

  propose (): boolean {
    const leader = this.leaderNode()
    if (leader === undefined) return false
    const value = `p${++this.proposalCounter}`
    const result = leader.core!.propose(new TextEncoder().encode(value))
    if (!result.ok) return false
    leader.pending.set(result.index, { term: result.term, value })
    this.record(`propose ${value} on ${leader.id} -> ${result.index}@${result.term}`)
    this.pump(leader)
    return true
  }

  private crashOrRestart (): void {
    const down = [...this.nodes.values()].filter(n => !n.up && !this.history.isRemoved(n.id))
    const up = [...this.nodes.values()].filter(n => n.up)
    if (down.length > 0 && (this.prng.nextFloat() < 0.6 || up.length <= 1)) {
      this.start(down[this.prng.nextInt(down.length)]!)
      return
    }
    // Crash at most a minority of the committed voters at once, so the cluster can recover.
    const victim = up[this.prng.nextInt(up.length)]
    const members = this.history.committedVoters() ?? [...this.nodes.keys()]
    const membersDown = members.filter(id => this.nodes.get(id)?.up !== true).length
    if (victim !== undefined && members.includes(victim.id) && membersDown + 1 > Math.floor((members.length - 1) / 2)) return
    if (victim !== undefined) this.crash(victim)
  }

  private partitionOrHeal (): void {
    if (this.blocked.size > 0 && this.prng.nextFloat() < 0.5) {
      this.blocked.clear()
      this.record('network healed')
      return
    }
    const ids = [...this.nodes.keys()]
    const isolated = ids[this.prng.nextInt(ids.length)]!
    const symmetric = this.prng.nextFloat() < 0.6
    for (const other of ids) {
      if (other === isolated) continue
      this.blocked.add(`${isolated}>${other}`)
      if (symmetric) this.blocked.add(`${other}>${isolated}`)
    }
    this.record(`partition ${isolated} ${symmetric ? 'symmetric' : 'outbound only'}`)
  }

  private changeMembership (): void {
    const leader = this.leaderNode()
    if (leader === undefined) return
    const config = leader.core!.currentConfiguration
    const choice = this.prng.nextInt(3)
    if (choice === 0 && config.learners.length === 0 && this.nodes.size < 9) {
      const id = `s${++this.spareCounter}`
      const result = leader.core!.proposeConfChange({ type: 'addLearner', nodeId: id, address: `sim://${id}` })
      if (result.ok) {
        const node = new SimNode(id, this.prng.fork())
        this.nodes.set(id, node)
        this.start(node)
        this.record(`add learner ${id} at ${result.index}`)
      }
    } else if (choice === 1 && config.learners.length > 0) {
      const id = config.learners[0]!
      const match = leader.core!.status().progress.get(id)?.match ?? 0
      if (match < leader.core!.commitIndex) return // promote only a caught-up learner
      const result = leader.core!.proposeConfChange({ type: 'promote', nodeId: id })
      if (result.ok) this.record(`promote ${id} at ${result.index}`)
    } else if (choice === 2 && config.voters.length > 3) {
      const id = config.voters[this.prng.nextInt(config.voters.length)]!
      const result = leader.core!.proposeConfChange({ type: 'remove', nodeId: id })
      if (result.ok) this.record(`remove ${id} at ${result.index}`)
    }
    this.pump(leader)
  }

  private transfer (): void {
    const leader = this.leaderNode()
    if (leader === undefined) return
    const voters = leader.core!.currentConfiguration.voters.filter(id => id !== leader.id)
    if (voters.length === 0) return
    const target = voters[this.prng.nextInt(voters.length)]!
    const result = leader.core!.transferLeadership(target)
    this.record(`transfer ${leader.id} -> ${target}: ${result.ok ? 'started' : result.reason}`)
    this.pump(leader)
  }

  // ---- liveness --------------------------------------------------------------------------------

  /** No new faults from here on: every member up, the network whole and fast. */
  heal (): void {
    this.healed = true
    this.blocked.clear()
    this.restartMembers()
    this.record('healed: no more faults')
  }

  /** Brings back every node the committed configuration still counts as a member. */
  private restartMembers (): void {
    for (const node of this.nodes.values()) {
      if (!node.up && !this.history.isRemoved(node.id)) this.start(node)
    }
  }

  /** Every member has applied everything committed, including one fresh proposal. */
  converged (): boolean {
    const leader = this.leaderNode()
    if (leader === undefined) return false
    const config = leader.core!.currentConfiguration
    const commit = leader.core!.commitIndex
    if (leader.core!.termAt(commit) !== leader.core!.currentTerm) return false
    for (const id of [...config.voters, ...config.learners]) {
      const node = this.nodes.get(id)
      if (node === undefined || !node.up || node.machine.appliedIndex < commit) return false
    }
    return leader.machine.appliedIndex >= commit
  }

  runUntil (predicate: () => boolean, options: { stepsMax: number }): boolean {
    for (let i = 0; i < options.stepsMax; i += 1) {
      if (predicate()) return true
      if (!this.step()) return false
    }
    return predicate()
  }

  /** One line per node: what a liveness failure needs to be understood. */
  describe (): string {
    const lines: string[] = []
    for (const node of this.nodes.values()) {
      if (node.core === null) {
        lines.push(`${node.id}: down`)
        continue
      }
      const s = node.core.status()
      const progress = [...s.progress].map(([id, p]) => `${id}:${p.state}/m${p.match}/n${p.next}${p.recentActive ? '' : '/inactive'}`).join(' ')
      lines.push(`${node.id}: ${s.role} term ${s.term} leader ${s.leaderId ?? '-'} commit ${s.commitIndex} applied ${node.machine.appliedIndex} last ${s.lastIndex} stable ${s.stableIndex} snap ${s.snapshotIndex} voters [${s.configuration.voters.join(',')}] learners [${s.configuration.learners.join(',')}] inflightDisk ${node.inflight !== null} ${progress}`)
    }
    return lines.join('\n')
  }

  liveNodes (): SimNode[] {
    return [...this.nodes.values()].filter(n => n.up)
  }
}
