/**
 * A deterministic in-memory network for SWIM cores (src/gossip/core/swim.ts): no wall clock, no
 * sockets. One seed drives one PRNG; every member's core gets its own fork, and delays, losses and
 * duplicates come from the network's fork, so a seed replays exactly (traceDigest proves it).
 * Used by the gossip unit tests (test/unit/gossip/*.test.ts) and the long-run CLI
 * (test/sim/gossip-cli.ts).
 *
 * Time is in milliseconds. Each step() runs one event from a priority queue ordered by
 * (time, sequence): a member's wake-up at its core's nextDeadlineMs(), a UDP delivery, a stream
 * request or reply, or a paused member resuming. UDP packets are lost at `lossRate` and delayed
 * uniformly in [delayMsMin, delayMsMax]. Streams (TCP) are never lost, but loss delays them as it
 * delays real TCP: each lost SYN costs a retransmission timeout starting at 1 s, each lost data
 * segment one starting at 200 ms (Linux's initial and minimum RTO), doubling on repeats. A reply
 * that arrives after `streamTimeoutMs` (the shell's stream deadline) is dropped.
 *
 * Faults: stop (a crash: the member vanishes), pause (SIGSTOP-like: packets queue up to a bound,
 * timers do not run, everything is processed on resume), partitions (no packet crosses groups).
 */
import { createHash, type Hash } from 'node:crypto'
import { SeededPrng, type Prng } from '../../src/util/prng.js'
import { SwimCore } from '../../src/gossip/core/swim.js'
import { lanSwimConfig, type SwimConfig } from '../../src/gossip/core/config.js'
import type { Delivery, MemberEvent, MemberMeta, MemberStatus, OutboundPacket } from '../../src/gossip/core/types.js'

export interface GossipSimOptions {
  readonly seed: number
  readonly config?: SwimConfig
  /** Probability that a UDP packet is lost. */
  readonly lossRate?: number
  /** Probability that a delivered UDP packet arrives twice. */
  readonly duplicateRate?: number
  readonly delayMsMin?: number
  readonly delayMsMax?: number
  readonly streamTimeoutMs?: number
  /** Packets a paused member's socket buffers before dropping more. */
  readonly pausedInboxMax?: number
  /** Trace lines kept for failure reports. */
  readonly traceLinesMax?: number
  /** Called for every member event (for checkers); runs after the trace records it. */
  readonly onEvent?: (observer: string, event: MemberEvent) => void
  /** Sees every packet a member emits, before loss (tests capture packets to replay them). */
  readonly tap?: (from: string, packet: OutboundPacket) => void
}

export type SimMemberState = 'running' | 'paused' | 'stopped'

export interface SimMember {
  readonly name: string
  readonly address: string
  core: SwimCore
  state: SimMemberState
  /** Set when leave() was called; the member stops once the leave is disseminated. */
  leftAtMs: number | null
  wakeAtMs: number
  readonly inbox: Array<() => void>
  readonly deliveries: Delivery[]
}

type SimEvent =
  | { readonly kind: 'wake', readonly address: string }
  | { readonly kind: 'packet', readonly to: string, readonly from: string, readonly bytes: Uint8Array }
  | { readonly kind: 'stream', readonly to: string, readonly from: string, readonly bytes: Uint8Array, readonly sentMs: number }
  | { readonly kind: 'streamReply', readonly to: string, readonly from: string, readonly bytes: Uint8Array, readonly sentMs: number }
  | { readonly kind: 'resume', readonly address: string }

interface Scheduled {
  readonly atMs: number
  readonly seq: number
  readonly event: SimEvent
}

/** A binary min-heap on (atMs, seq). */
class EventHeap {
  private readonly items: Scheduled[] = []

  get size (): number {
    return this.items.length
  }

  peek (): Scheduled | undefined {
    return this.items[0]
  }

  push (item: Scheduled): void {
    const items = this.items
    items.push(item)
    let index = items.length - 1
    while (index > 0) {
      const parent = (index - 1) >> 1
      if (!before(items[index]!, items[parent]!)) break
      ;[items[index], items[parent]] = [items[parent]!, items[index]!]
      index = parent
    }
  }

  pop (): Scheduled | undefined {
    const items = this.items
    const top = items[0]
    const last = items.pop()
    if (top === undefined || last === undefined || items.length === 0) return top
    items[0] = last
    let index = 0
    for (;;) {
      const left = index * 2 + 1
      const right = left + 1
      let smallest = index
      if (left < items.length && before(items[left]!, items[smallest]!)) smallest = left
      if (right < items.length && before(items[right]!, items[smallest]!)) smallest = right
      if (smallest === index) return top
      ;[items[index], items[smallest]] = [items[smallest]!, items[index]!]
      index = smallest
    }
  }
}

function before (a: Scheduled, b: Scheduled): boolean {
  return a.atMs < b.atMs || (a.atMs === b.atMs && a.seq < b.seq)
}

export interface FalsePositive {
  readonly atMs: number
  readonly observer: string
  readonly subject: string
  readonly subjectState: SimMemberState
}

export class GossipSim {
  readonly seed: number
  readonly config: SwimConfig
  nowMs = 0
  steps = 0
  packetsSent = 0
  packetsLost = 0
  lossRate: number
  private readonly prng: Prng
  private readonly networkPrng: Prng
  private readonly heap = new EventHeap()
  private seq = 0
  private readonly byAddress = new Map<string, SimMember>()
  private readonly byName = new Map<string, SimMember>()
  private partitionOf: Map<string, number> | null = null
  private readonly options: GossipSimOptions
  private readonly traceLines: string[] = []
  private readonly traceHash: Hash = createHash('sha256')
  /** `failed` events about members that were still running or paused at the time. */
  readonly falsePositives: FalsePositive[] = []

  constructor (options: GossipSimOptions) {
    this.options = options
    this.seed = options.seed
    this.config = options.config ?? lanSwimConfig
    this.lossRate = options.lossRate ?? 0
    this.prng = new SeededPrng(options.seed)
    this.networkPrng = this.prng.fork()
  }

  // -------------------------------------------------------------------------------------------
  // Membership of the simulation

  /** Adds a running member (not yet joined to anyone). Names are m0001, m0002, ... by default. */
  addMember (options: { name?: string, meta?: MemberMeta } = {}): SimMember {
    const index = this.byName.size + 1
    const name = options.name ?? `m${String(index).padStart(4, '0')}`
    const address = `10.${(index >> 16) & 255}.${(index >> 8) & 255}.${index & 255}:8301`
    const member: SimMember = {
      name, address, core: this.newCore(name, address, options.meta ?? { role: 'client', dc: 'dc1' }), state: 'running', leftAtMs: null, wakeAtMs: Infinity, inbox: [], deliveries: []
    }
    this.byAddress.set(address, member)
    this.byName.set(name, member)
    this.afterInput(member)
    return member
  }

  private newCore (name: string, address: string, meta: MemberMeta): SwimCore {
    return new SwimCore({ name, address, meta, config: this.config, prng: this.prng.fork(), nowMs: this.nowMs })
  }

  member (name: string): SimMember {
    const member = this.byName.get(name)
    if (member === undefined) throw new Error(`no simulated member named ${name}`)
    return member
  }

  get members (): SimMember[] {
    return [...this.byName.values()]
  }

  /** Members that are running (not stopped, not paused, not departed after leave). */
  runningMembers (): SimMember[] {
    return this.members.filter(member => member.state === 'running')
  }

  join (name: string, seeds: readonly string[]): void {
    const member = this.member(name)
    member.core.join(seeds.map(seed => this.member(seed).address), this.nowMs)
    this.afterInput(member)
  }

  /** Crash: the member stops answering at once and forever (until restart). */
  stop (name: string): void {
    const member = this.member(name)
    member.state = 'stopped'
    member.inbox.length = 0
    this.record(`${this.nowMs} ${name} STOPPED`)
  }

  /** A fresh process under the same name and address (incarnation 0), joining through seeds. */
  restart (name: string, seeds: readonly string[]): void {
    const member = this.member(name)
    if (member.state !== 'stopped') throw new Error(`restart ${name}: it is ${member.state}`)
    member.core = this.newCore(name, member.address, member.core.member(name)?.meta ?? {})
    member.state = 'running'
    member.leftAtMs = null
    member.wakeAtMs = Infinity
    this.record(`${this.nowMs} ${name} RESTARTED`)
    this.join(name, seeds)
  }

  /** SIGSTOP for durationMs: inbound packets queue (bounded), no timers run; then SIGCONT. */
  pause (name: string, durationMs: number): void {
    const member = this.member(name)
    if (member.state !== 'running') throw new Error(`pause ${name}: it is ${member.state}`)
    member.state = 'paused'
    this.record(`${this.nowMs} ${name} PAUSED ${durationMs}ms`)
    this.schedule(this.nowMs + durationMs, { kind: 'resume', address: member.address })
  }

  leave (name: string): void {
    const member = this.member(name)
    member.core.leave(this.nowMs)
    member.leftAtMs = this.nowMs
    this.afterInput(member)
  }

  broadcast (name: string, payload: Uint8Array): void {
    const member = this.member(name)
    member.core.broadcast(payload, this.nowMs)
    this.afterInput(member)
  }

  updateMeta (name: string, meta: MemberMeta): void {
    const member = this.member(name)
    member.core.updateMeta(meta, this.nowMs)
    this.afterInput(member)
  }

  /** Splits the network: packets only flow within a group. Members in no group form one more. */
  partition (groups: ReadonlyArray<readonly string[]>): void {
    this.partitionOf = new Map()
    groups.forEach((group, index) => { for (const name of group) this.partitionOf!.set(this.member(name).address, index + 1) })
    this.record(`${this.nowMs} PARTITION ${groups.map(group => group.length).join('/')}`)
  }

  heal (): void {
    this.partitionOf = null
    this.record(`${this.nowMs} HEAL`)
  }

  /** Injects raw bytes into a member's UDP input as if sent from `from` (tests of bad input). */
  injectPacket (to: string, from: string, bytes: Uint8Array): void {
    const member = this.member(to)
    member.core.receivePacket(from, bytes, this.nowMs)
    this.afterInput(member)
  }

  // -------------------------------------------------------------------------------------------
  // Running

  /** Runs one event; false when nothing is scheduled. */
  step (): boolean {
    const next = this.heap.pop()
    if (next === undefined) return false
    if (next.atMs < this.nowMs) throw new Error(`simulation time went backwards: ${next.atMs} < ${this.nowMs}`)
    this.nowMs = next.atMs
    this.steps += 1
    this.dispatch(next.event)
    return true
  }

  /** Runs every event up to and including `untilMs`, then sets the clock to it. */
  runUntilTime (untilMs: number): void {
    for (;;) {
      const next = this.heap.peek()
      if (next === undefined || next.atMs > untilMs) break
      this.step()
    }
    this.nowMs = Math.max(this.nowMs, untilMs)
  }

  runFor (durationMs: number): void {
    this.runUntilTime(this.nowMs + durationMs)
  }

  /**
   * Runs until `done()` holds, checking every `checkEveryMs` of simulated time; returns the
   * simulated time it took, or null if `timeoutMs` passed first.
   */
  runUntil (done: () => boolean, options: { timeoutMs: number, checkEveryMs?: number }): number | null {
    const startMs = this.nowMs
    const everyMs = options.checkEveryMs ?? 50
    for (;;) {
      if (done()) return this.nowMs - startMs
      if (this.nowMs - startMs >= options.timeoutMs) return null
      this.runFor(everyMs)
    }
  }

  // -------------------------------------------------------------------------------------------
  // Views for checks

  /** What `observer` believes about `subject`'s status (undefined when unknown). */
  statusSeenBy (observer: string, subject: string): MemberStatus | undefined {
    return this.member(observer).core.member(subject)?.status
  }

  /** Every running member sees every running member (itself included) as alive. */
  converged (): boolean {
    const running = this.runningMembers()
    for (const observer of running) {
      if (observer.core.liveMemberCount < running.length) return false
      for (const subject of running) {
        if (observer.core.member(subject.name)?.status !== 'alive') return false
      }
    }
    return true
  }

  /** Every running member other than `subject` sees it with one of `statuses` (or not at all, if allowed). */
  allSee (subject: string, statuses: readonly MemberStatus[], options: { unknownCounts?: boolean } = {}): boolean {
    for (const observer of this.runningMembers()) {
      if (observer.name === subject) continue
      const status = observer.core.member(subject)?.status
      if (status === undefined ? options.unknownCounts !== true : !statuses.includes(status)) return false
    }
    return true
  }

  traceDigest (): string {
    return this.traceHash.copy().digest('hex')
  }

  traceTail (lines = 200): string[] {
    return this.traceLines.slice(-lines)
  }

  describe (): string {
    const lines = [`seed ${this.seed}, t=${this.nowMs} ms, ${this.steps} steps, ${this.packetsSent} packets (${this.packetsLost} lost)`]
    for (const member of this.members) {
      const core = member.core
      const counts = { alive: 0, suspect: 0, dead: 0, left: 0 }
      for (const seen of core.members()) counts[seen.status] += 1
      lines.push(`${member.name} ${member.state} inc=${core.incarnation} health=${core.healthScore} sees ${JSON.stringify(counts)} queue=${core.broadcastQueueLength}`)
    }
    return lines.join('\n')
  }

  // -------------------------------------------------------------------------------------------
  // Internals

  private schedule (atMs: number, event: SimEvent): void {
    this.seq += 1
    this.heap.push({ atMs, seq: this.seq, event })
  }

  private dispatch (event: SimEvent): void {
    switch (event.kind) {
      case 'wake': return this.onWake(event.address)
      case 'packet': return this.onInbound(event.to, member => member.core.receivePacket(event.from, event.bytes, this.nowMs))
      case 'stream': return this.onStream(event)
      case 'streamReply': return this.onStreamReply(event)
      case 'resume': return this.onResume(event.address)
    }
  }

  private onWake (address: string): void {
    const member = this.byAddress.get(address)!
    if (member.state !== 'running' || member.wakeAtMs !== this.nowMs) return
    member.wakeAtMs = Infinity
    member.core.tick(this.nowMs)
    const deadline = member.core.nextDeadlineMs()
    if (deadline <= this.nowMs) throw new Error(`${member.name}: after tick(${this.nowMs}) the next deadline is ${deadline}, not in the future`)
    this.afterInput(member)
  }

  /** Runs `deliver` on a running member now, queues it on a paused one, drops it for a stopped one. */
  private onInbound (address: string, deliver: (member: SimMember) => void): void {
    const member = this.byAddress.get(address)
    if (member === undefined || member.state === 'stopped') return
    if (member.state === 'paused') {
      if (member.inbox.length < (this.options.pausedInboxMax ?? 1024)) member.inbox.push(() => deliver(member))
      return
    }
    deliver(member)
    this.afterInput(member)
  }

  private onStream (event: Extract<SimEvent, { kind: 'stream' }>): void {
    this.onInbound(event.to, member => {
      const result = member.core.receiveStream(event.from, event.bytes, this.nowMs)
      if (!result.ok || result.reply === null) return
      this.schedule(this.nowMs + this.delayMs() + this.retransmitDelayMs(200), { kind: 'streamReply', to: event.from, from: event.to, bytes: result.reply, sentMs: event.sentMs })
    })
  }

  private onStreamReply (event: Extract<SimEvent, { kind: 'streamReply' }>): void {
    if (this.nowMs - event.sentMs > (this.options.streamTimeoutMs ?? 10_000)) return
    this.onInbound(event.to, member => { member.core.receiveStream(event.from, event.bytes, this.nowMs) })
  }

  private onResume (address: string): void {
    const member = this.byAddress.get(address)!
    if (member.state !== 'paused') return
    member.state = 'running'
    this.record(`${this.nowMs} ${member.name} RESUMED with ${member.inbox.length} queued`)
    // The kernel hands over what queued up; then the overdue timers fire.
    for (const deliver of member.inbox.splice(0)) deliver()
    member.core.tick(this.nowMs)
    member.wakeAtMs = Infinity
    this.afterInput(member)
  }

  /** Routes a member's outputs and (re)schedules its wake-up at its core's next deadline. */
  private afterInput (member: SimMember): void {
    const ready = member.core.takeReady()
    for (const packet of ready.packets) this.route(member, packet)
    for (const event of ready.events) this.onMemberEvent(member, event)
    for (const delivery of ready.deliveries) {
      member.deliveries.push(delivery)
      this.record(`${this.nowMs} ${member.name} deliver ${delivery.origin} ${delivery.payload.length}B`)
    }
    if (member.leftAtMs !== null && member.state === 'running' && member.core.isLeaveDisseminated()) {
      member.state = 'stopped'
      this.record(`${this.nowMs} ${member.name} DEPARTED`)
      return
    }
    const deadline = Math.max(member.core.nextDeadlineMs(), this.nowMs)
    if (deadline < member.wakeAtMs && Number.isFinite(deadline)) {
      member.wakeAtMs = deadline
      this.schedule(deadline, { kind: 'wake', address: member.address })
    }
  }

  private route (from: SimMember, packet: OutboundPacket): void {
    this.options.tap?.(from.name, packet)
    if (this.partitionOf !== null && (this.partitionOf.get(from.address) ?? 0) !== (this.partitionOf.get(packet.to) ?? 0)) return
    if (packet.reliable) {
      const delayMs = this.delayMs() + this.retransmitDelayMs(1000) + this.retransmitDelayMs(200)
      this.schedule(this.nowMs + delayMs, { kind: 'stream', to: packet.to, from: from.address, bytes: packet.bytes, sentMs: this.nowMs })
      return
    }
    this.packetsSent += 1
    if (this.lossRate > 0 && this.networkPrng.nextFloat() < this.lossRate) {
      this.packetsLost += 1
      return
    }
    this.schedule(this.nowMs + this.delayMs(), { kind: 'packet', to: packet.to, from: from.address, bytes: packet.bytes })
    const duplicateRate = this.options.duplicateRate ?? 0
    if (duplicateRate > 0 && this.networkPrng.nextFloat() < duplicateRate) {
      this.schedule(this.nowMs + this.delayMs(), { kind: 'packet', to: packet.to, from: from.address, bytes: packet.bytes })
    }
  }

  /** TCP's cost of loss for one segment: a doubling retransmission timeout per loss (at most 6). */
  private retransmitDelayMs (initialMs: number): number {
    let delayMs = 0
    for (let attempt = 0; attempt < 6 && this.lossRate > 0 && this.networkPrng.nextFloat() < this.lossRate; attempt += 1) {
      delayMs += initialMs * 2 ** attempt
    }
    return delayMs
  }

  private delayMs (): number {
    const min = this.options.delayMsMin ?? 1
    const max = this.options.delayMsMax ?? 5
    return min + this.networkPrng.nextInt(max - min + 1)
  }

  private onMemberEvent (observer: SimMember, event: MemberEvent): void {
    const subject = event.member.name
    this.record(`${this.nowMs} ${observer.name} ${event.type} ${subject} inc=${event.member.incarnation}`)
    if (event.type === 'failed') {
      const actual = this.byName.get(subject)
      if (actual !== undefined && actual.state !== 'stopped') {
        this.falsePositives.push({ atMs: this.nowMs, observer: observer.name, subject, subjectState: actual.state })
      }
    }
    this.options.onEvent?.(observer.name, event)
  }

  private record (line: string): void {
    this.traceHash.update(line)
    this.traceHash.update('\n')
    this.traceLines.push(line)
    const max = this.options.traceLinesMax ?? 2000
    if (this.traceLines.length > max * 2) this.traceLines.splice(0, this.traceLines.length - max)
  }
}

/** Adds `count` members and has each join through the first one, `staggerMs` apart. */
export function bootCluster (sim: GossipSim, count: number, options: { staggerMs?: number } = {}): SimMember[] {
  const members: SimMember[] = []
  for (let i = 0; i < count; i += 1) {
    const member = sim.addMember()
    members.push(member)
    if (i > 0) sim.join(member.name, [members[0]!.name])
    if (options.staggerMs !== undefined && options.staggerMs > 0) sim.runFor(options.staggerMs)
  }
  return members
}
