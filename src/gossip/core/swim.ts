/**
 * SWIM membership as a pure, synchronous state machine (Das, Gupta & Motivala, "SWIM: Scalable
 * Weakly-consistent Infection-style Process Group Membership Protocol", with the Lifeguard
 * extensions of Dadgar et al. and memberlist's push/pull), driven by the network shell
 * (src/gossip/node.ts) or the simulator (test/sim/gossip-cluster.ts).
 *
 * Inputs: tick(nowMs), receivePacket(from, bytes, nowMs), receiveStream(from, bytes, nowMs),
 * join(addresses), leave(), updateMeta(meta), broadcast(payload). Outputs accumulate until
 * takeReady(): packets to send, member events, delivered user broadcasts. Time arrives with each
 * input and never goes backwards; randomness comes from the injected Prng. The core never does
 * I/O, never reads a clock and never awaits, so one seed and one input sequence always give the
 * same outputs. The driver calls tick() no later than nextDeadlineMs().
 *
 * Protocol, per member:
 * - every probe interval (stretched by local health, awareness.ts) it pings the next member of
 *   a shuffled round-robin list; with no ack within the probe timeout it asks `indirectChecks`
 *   other members to ping the target (ping-req, answered by ack or, on timeout, nack) and pings
 *   it over TCP too; with no ack by the end of the interval it suspects the target;
 * - a suspicion expires into `dead` after a timeout that shrinks with independent confirmations
 *   (suspicion.ts); the suspect refutes by raising its incarnation and gossiping alive;
 * - updates ride in a bounded queue (broadcast-queue.ts) piggybacked on every UDP packet and on
 *   gossip rounds to `gossipNodes` random members, each sent at most
 *   retransmitMult * ceil(log10(n + 1)) times;
 * - push/pull exchanges full state over TCP with a random live member (periodically and on join)
 *   and with a random dead one (so partitions heal);
 * - leave() gossips "dead, from itself" at a new incarnation; dead and left members are reaped.
 *
 * Beyond memberlist (each found by a failing seed of the simulator's swarm, test/sim/gossip-cli.ts):
 * a suspicion at a higher incarnation than the one held restarts the timer rather than confirming
 * an already refuted one; before a suspicion expires this member sends the suspect three
 * verification pings (and probes unconfirmed suspects out of turn), each led by the buddy
 * suspicion; a member that hears a stale accusation re-queues its alive as the freshest item so
 * it rides on the ack. Together they stop a member that missed one refutation (a ~0.1 % event per
 * member per refutation with these defaults) from declaring a live member dead. None of them
 * delays the detection of a member that is really gone.
 *
 * Replay safety: a message never lowers a known incarnation, an alive message needs a strictly
 * higher incarnation to revive a dead or left member, this member's own incarnation only rises,
 * acks only match pending sequence numbers, and user broadcasts are deduplicated
 * (broadcast-dedupe.ts). Limit: once a member is reaped, a replay older than the reap time can
 * re-add it until probing fails it again.
 */
import { assert } from '../../util/assert.js'
import { ControlPlaneError } from '../../util/errors.js'
import type { Prng } from '../../util/prng.js'
import { Awareness } from './awareness.js'
import { BroadcastDedupe } from './broadcast-dedupe.js'
import { BroadcastQueue } from './broadcast-queue.js'
import {
  COMPOUND_HEADER_BYTES, COMPOUND_PART_OVERHEAD_BYTES, COMPOUND_PARTS_MAX, DecodeError, NAME_BYTES_MAX, PACKET_HEADER_BYTES,
  decodePacket, encodeMessage, encodeMeta, encodePacket, isValidAddress,
  type AliveMessage, type DeadMessage, type DecodeLimits, type Message, type PingMessage, type PingReqMessage,
  type PushPullMessage, type SuspectMessage, type UserMessage
} from './codec.js'
import { validateSwimConfig, type SwimConfig } from './config.js'
import { Suspicion, suspicionConfirmationsWanted, suspicionMinTimeoutMs } from './suspicion.js'
import {
  emptyStats, silentLogger,
  type CoreLogger, type Delivery, type DropReason, type GossipReady, type GossipStats, type Member, type MemberEvent,
  type MemberEventType, type MemberMeta, type MemberStatus, type OutboundPacket, type PacketPurpose, type StreamResult
} from './types.js'

const U32_MAX = 0xffffffff
const PUSH_PULL_SCALE_THRESHOLD = 32
const REAP_CHECK_INTERVAL_MS = 1000
const VERIFICATIONS_PER_SUSPICION = 3
const utf8 = new TextEncoder()

export interface SwimCoreOptions {
  /** Unique member name, 1..128 bytes of UTF-8. */
  readonly name: string
  /** Advertised gossip address `host:port` (UDP and TCP). */
  readonly address: string
  readonly meta: MemberMeta
  readonly config: SwimConfig
  readonly prng: Prng
  readonly nowMs: number
  readonly logger?: CoreLogger
  /** Broadcast epoch; drawn from the prng when absent. */
  readonly epoch?: number
}

interface MemberRecord {
  readonly name: string
  address: string
  meta: MemberMeta
  incarnation: number
  status: MemberStatus
  statusChangedMs: number
  suspicion: Suspicion | null
}

interface ProbeState {
  readonly target: string
  readonly seq: number
  stage: 'direct' | 'indirect'
  readonly directDeadlineMs: number
  windowEndMs: number
  expectedNacks: number
  nacks: number
}

/** A ping-req this member is relaying: its own ping's seq maps back to the requester's. */
interface Relay {
  readonly requesterAddress: string
  readonly requesterSeq: number
  readonly wantNack: boolean
  readonly deadlineMs: number
}

function isLive (status: MemberStatus): boolean {
  return status === 'alive' || status === 'suspect'
}

function sameMeta (a: MemberMeta, b: MemberMeta): boolean {
  const aKeys = Object.keys(a)
  if (aKeys.length !== Object.keys(b).length) return false
  for (const key of aKeys) if (a[key] !== b[key]) return false
  return true
}

/** memberlist's push/pull scaling: the interval grows with log2(n) above 32 members. */
export function pushPullIntervalScaledMs (intervalMs: number, liveMembers: number): number {
  if (liveMembers <= PUSH_PULL_SCALE_THRESHOLD) return intervalMs
  const multiplier = Math.ceil(Math.log2(liveMembers) - Math.log2(PUSH_PULL_SCALE_THRESHOLD)) + 1
  return intervalMs * multiplier
}

export function retransmitLimit (retransmitMult: number, liveMembers: number): number {
  return retransmitMult * Math.ceil(Math.log10(liveMembers + 1))
}

export class SwimCore {
  readonly name: string
  readonly address: string
  readonly config: SwimConfig
  readonly stats: GossipStats = emptyStats()
  private readonly prng: Prng
  private readonly logger: CoreLogger
  private readonly limits: { packet: DecodeLimits, stream: DecodeLimits }
  private nowMs: number
  private readonly self: MemberRecord
  private readonly membersByName = new Map<string, MemberRecord>()
  private readonly suspects = new Set<MemberRecord>()
  private liveCount = 0
  private goneCount = 0
  private probeOrder: string[] = []
  private readonly inProbeOrder = new Set<string>()
  private probeIndex = 0
  private probe: ProbeState | null = null
  private nextProbeMs: number
  private nextGossipMs: number
  private nextPushPullMs: number
  private nextReconnectMs: number
  private nextReapMs: number
  private readonly relays = new Map<number, Relay>()
  private seq = 0
  private readonly awareness: Awareness
  private readonly queue: BroadcastQueue
  private readonly dedupe: BroadcastDedupe
  private readonly recentBroadcasts: UserMessage[] = []
  private readonly epoch: number
  private broadcastSeq = 0
  private leaving = false
  private packets: OutboundPacket[] = []
  private events: MemberEvent[] = []
  private deliveries: Delivery[] = []

  constructor (options: SwimCoreOptions) {
    this.config = validateSwimConfig(options.config)
    const nameBytes = utf8.encode(options.name).length
    if (nameBytes === 0 || nameBytes > NAME_BYTES_MAX) {
      throw new ControlPlaneError('ERR_INVALID_INPUT', `gossip member name must be 1..${NAME_BYTES_MAX} bytes, got ${JSON.stringify(options.name)}`)
    }
    if (!isValidAddress(options.address)) {
      throw new ControlPlaneError('ERR_INVALID_INPUT', `gossip advertise address must be host:port, got ${JSON.stringify(options.address)}`)
    }
    assert(Number.isFinite(options.nowMs), `nowMs must be finite, got ${options.nowMs}`)
    this.name = options.name
    this.address = options.address
    this.prng = options.prng
    this.logger = options.logger ?? silentLogger
    this.nowMs = options.nowMs
    const config = this.config
    const base = { metaBytesMax: config.metaBytesMax, userPayloadBytesMax: config.userPayloadBytesMax, membersMax: config.membersMax }
    this.limits = { packet: { ...base, bytesMax: config.packetBytesMax }, stream: { ...base, bytesMax: config.streamBytesMax } }
    this.awareness = new Awareness(config.awarenessMaxMultiplier)
    this.queue = new BroadcastQueue(config.broadcastQueueMax)
    this.dedupe = new BroadcastDedupe(Math.max(64, config.membersMax))
    this.epoch = options.epoch ?? Math.floor(this.prng.nextFloat() * 4294967296)
    const meta = this.checkedMeta(options.meta)
    this.self = { name: this.name, address: this.address, meta, incarnation: 0, status: 'alive', statusChangedMs: this.nowMs, suspicion: null }
    this.membersByName.set(this.name, this.self)
    this.liveCount = 1
    // Stagger the periodic work so members started together do not act in lockstep.
    this.nextProbeMs = this.nowMs + this.stagger(config.probeIntervalMs)
    this.nextGossipMs = this.nowMs + this.stagger(config.gossipIntervalMs)
    this.nextPushPullMs = this.nowMs + config.pushPullIntervalMs + this.stagger(config.pushPullIntervalMs)
    this.nextReconnectMs = this.nowMs + config.reconnectIntervalMs + this.stagger(config.reconnectIntervalMs)
    this.nextReapMs = this.nowMs + this.reapCheckIntervalMs()
    this.emitEvent('join', this.self)
    this.enqueueSelfAlive()
  }

  // -------------------------------------------------------------------------------------------
  // Read side

  get incarnation (): number {
    return this.self.incarnation
  }

  /** Lifeguard's local health score, 0 (healthy) .. awarenessMaxMultiplier - 1. */
  get healthScore (): number {
    return this.awareness.healthScore
  }

  /** Members alive or suspect, this member included while it has not left. */
  get liveMemberCount (): number {
    return this.liveCount
  }

  get isLeaving (): boolean {
    return this.leaving
  }

  get broadcastQueueLength (): number {
    return this.queue.size
  }

  member (name: string): Member | undefined {
    const record = this.membersByName.get(name)
    return record === undefined ? undefined : snapshot(record)
  }

  /** Every known member (this one included), sorted by name. */
  members (): Member[] {
    return [...this.membersByName.values()].map(snapshot).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
  }

  /**
   * True once this member's leave message has been sent its full retransmit count, or when no
   * live member is left to tell. The shell waits for this (with a deadline) before stopping.
   */
  isLeaveDisseminated (): boolean {
    assert(this.leaving, 'isLeaveDisseminated() before leave()')
    return !this.queue.has(memberKey(this.name)) || this.liveCount === 0
  }

  /** The latest time by which tick() must be called; Infinity when nothing is scheduled. */
  nextDeadlineMs (): number {
    let deadline = Infinity
    if (this.probe !== null) {
      deadline = this.probe.stage === 'direct' ? this.probe.directDeadlineMs : this.probe.windowEndMs
    } else if (!this.leaving) {
      deadline = this.nextProbeMs
    }
    const firstRelay = this.relays.values().next()
    if (firstRelay.done !== true) deadline = Math.min(deadline, firstRelay.value.deadlineMs)
    for (const record of this.suspects) {
      deadline = Math.min(deadline, this.nextVerificationMs(record.suspicion!), this.expiryMs(record.suspicion!))
    }
    if (this.queue.size > 0) deadline = Math.min(deadline, this.nextGossipMs)
    if (!this.leaving && this.config.pushPullIntervalMs > 0) deadline = Math.min(deadline, this.nextPushPullMs)
    if (!this.leaving && this.config.reconnectIntervalMs > 0 && this.goneCount > 0) deadline = Math.min(deadline, this.nextReconnectMs)
    if (this.goneCount > 0) deadline = Math.min(deadline, this.nextReapMs)
    return deadline
  }

  hasReady (): boolean {
    return this.packets.length > 0 || this.events.length > 0 || this.deliveries.length > 0
  }

  /** Hands over (and forgets) everything produced since the last call. */
  takeReady (): GossipReady {
    const ready: GossipReady = { packets: this.packets, events: this.events, deliveries: this.deliveries }
    this.packets = []
    this.events = []
    this.deliveries = []
    return ready
  }

  // -------------------------------------------------------------------------------------------
  // Inputs

  /** Runs every timer due at nowMs: probe stages, suspicions, gossip, push/pull, reaping. */
  tick (nowMs: number): void {
    this.advanceClock(nowMs)
    this.expireRelays()
    this.advanceProbe()
    this.maybeStartProbe()
    this.maybeVerifySuspects()
    this.expireSuspicions()
    this.maybeGossip()
    this.maybePushPull()
    this.maybeReconnect()
    this.maybeReap()
  }

  /** One UDP datagram (decrypted). Malformed input is counted in stats.dropped, never thrown. */
  receivePacket (from: string, bytes: Uint8Array, nowMs: number): void {
    this.advanceClock(nowMs)
    this.stats.packetsReceived += 1
    this.stats.packetBytesReceived += bytes.length
    const decoded = this.decode(bytes, this.limits.packet, from)
    if (!decoded.ok) return
    for (const message of decoded.messages) {
      if (message.kind === 'pushPull') {
        this.stats.dropped.wrongChannel += 1
        continue
      }
      this.handleMessage(message)
    }
  }

  /**
   * One TCP frame (decrypted): a request from another member, or the reply to a reliable packet
   * this member sent. Returns the reply frame to write back on the same stream, if any.
   */
  receiveStream (from: string, bytes: Uint8Array, nowMs: number): StreamResult {
    this.advanceClock(nowMs)
    this.stats.streamsReceived += 1
    const decoded = this.decode(bytes, this.limits.stream, from)
    if (!decoded.ok) return decoded
    const message = decoded.messages[0]!
    if (decoded.messages.length !== 1) return this.dropStream('wrongChannel')
    switch (message.kind) {
      case 'ping':
        if (message.target !== this.name) {
          this.stats.misdirectedPings += 1
          return { ok: true, reply: null }
        }
        return { ok: true, reply: encodePacket([encodeMessage({ kind: 'ack', seq: message.seq }, this.config.metaBytesMax)]) }
      case 'ack':
        this.handleAck(message.seq)
        return { ok: true, reply: null }
      case 'pushPull':
        return this.handlePushPullStream(message)
      default:
        return this.dropStream('wrongChannel')
    }
  }

  /**
   * Starts joining through the given addresses: a push/pull (join) request to each, as reliable
   * packets with purpose 'join'. The shell reports per-address outcomes to its caller.
   */
  join (addresses: readonly string[], nowMs: number): void {
    this.advanceClock(nowMs)
    this.assertNotLeaving('join')
    for (const address of addresses) {
      if (!isValidAddress(address)) throw new ControlPlaneError('ERR_INVALID_INPUT', `join address must be host:port, got ${JSON.stringify(address)}`)
    }
    const bytes = this.encodePushPull({ join: true, reply: false })
    if (bytes === null) throw new ControlPlaneError('ERR_TOO_LARGE', `this member's state exceeds gossip.streamBytesMax (${this.config.streamBytesMax} bytes)`)
    for (const address of addresses) {
      if (address === this.address) continue
      this.emitReliable(address, bytes, 'join')
    }
  }

  /** Gossips that this member leaves (at a new incarnation) and stops probing; idempotent. */
  leave (nowMs: number): void {
    this.advanceClock(nowMs)
    if (this.leaving) return
    this.leaving = true
    this.probe = null
    if (this.self.incarnation < U32_MAX) this.self.incarnation += 1
    this.setStatus(this.self, 'left')
    const message: DeadMessage = { kind: 'dead', incarnation: this.self.incarnation, name: this.name, from: this.name }
    this.queue.enqueue(memberKey(this.name), encodeMessage(message, this.config.metaBytesMax))
    this.emitEvent('leave', this.self)
    this.logger.info({ incarnation: this.self.incarnation }, 'leaving the gossip pool')
  }

  /** Replaces this member's meta and announces it with a new incarnation. */
  updateMeta (meta: MemberMeta, nowMs: number): void {
    this.advanceClock(nowMs)
    this.assertNotLeaving('updateMeta')
    const checked = this.checkedMeta(meta)
    if (this.self.incarnation >= U32_MAX) throw new ControlPlaneError('ERR_REJECTED', 'gossip incarnation exhausted; restart the agent to update its meta')
    this.self.meta = checked
    this.self.incarnation += 1
    this.enqueueSelfAlive()
    this.emitEvent('update', this.self)
  }

  /** Sends a user broadcast to every member (and delivers it here too), at most once each. */
  broadcast (payload: Uint8Array, nowMs: number): void {
    this.advanceClock(nowMs)
    this.assertNotLeaving('broadcast')
    if (payload.length > this.config.userPayloadBytesMax) {
      throw new ControlPlaneError('ERR_TOO_LARGE', `gossip broadcast payload is ${payload.length} bytes, more than ${this.config.userPayloadBytesMax}`)
    }
    assert(this.broadcastSeq < U32_MAX, 'broadcast sequence exhausted')
    this.broadcastSeq += 1
    const message: UserMessage = { kind: 'user', origin: this.name, epoch: this.epoch, seq: this.broadcastSeq, payload: payload.slice() }
    this.handleUser(message)
  }

  // -------------------------------------------------------------------------------------------
  // Decoding and dispatch

  private decode (bytes: Uint8Array, limits: DecodeLimits, from: string): { ok: true, messages: Message[] } | { ok: false, reason: DropReason } {
    try {
      return { ok: true, messages: decodePacket(bytes, limits) }
    } catch (err) {
      if (!(err instanceof DecodeError)) throw err
      this.stats.dropped[err.reason] += 1
      this.logger.debug({ from, reason: err.reason, err: err.message }, 'dropped an undecodable gossip message')
      return { ok: false, reason: err.reason }
    }
  }

  private dropStream (reason: DropReason): StreamResult {
    this.stats.dropped[reason] += 1
    return { ok: false, reason }
  }

  private handleMessage (message: Exclude<Message, PushPullMessage>): void {
    switch (message.kind) {
      case 'ping': return this.handlePing(message)
      case 'pingReq': return this.handlePingReq(message)
      case 'ack': return this.handleAck(message.seq)
      case 'nack': return this.handleNack(message.seq)
      case 'alive': return this.handleAlive(message)
      case 'suspect': return this.handleSuspect(message)
      case 'dead': return this.handleDead(message)
      case 'user': return this.handleUser(message)
    }
  }

  // -------------------------------------------------------------------------------------------
  // Probing (SWIM §3.1, Lifeguard §IV-A)

  private maybeStartProbe (): void {
    if (this.probe !== null || this.leaving || this.nowMs < this.nextProbeMs) return
    const intervalMs = this.awareness.scaleMs(this.config.probeIntervalMs)
    this.nextProbeMs = this.nowMs + intervalMs
    const target = this.overdueSuspect() ?? this.nextProbeTarget()
    if (target === null) return
    const seq = this.nextSeq()
    const parts: Uint8Array[] = []
    // Lifeguard's buddy system: tell a suspect directly, so it can refute at once. The suspicion
    // goes first so the refutation is queued before the ack and rides back on it.
    if (target.status === 'suspect') parts.push(this.encode({ kind: 'suspect', incarnation: target.incarnation, name: target.name, from: this.name }))
    parts.push(this.encode({ kind: 'ping', seq, target: target.name, sourceName: this.name, sourceAddress: this.address }))
    this.sendPacket(target.address, parts, 'probe')
    this.probe = {
      target: target.name,
      seq,
      stage: 'direct',
      directDeadlineMs: this.nowMs + this.awareness.scaleMs(this.config.probeTimeoutMs),
      windowEndMs: this.nowMs + intervalMs,
      expectedNacks: 0,
      nacks: 0
    }
    this.stats.probesStarted += 1
  }

  private advanceProbe (): void {
    const probe = this.probe
    if (probe === null) return
    const target = this.membersByName.get(probe.target)
    if (target === undefined || !isLive(target.status)) {
      this.probe = null
      return
    }
    if (probe.stage === 'direct') {
      if (this.nowMs >= probe.directDeadlineMs) this.startIndirectProbe(probe, target)
      return
    }
    if (this.nowMs >= probe.windowEndMs) this.failProbe(probe, target)
  }

  private startIndirectProbe (probe: ProbeState, target: MemberRecord): void {
    this.stats.probesDirectFailed += 1
    probe.stage = 'indirect'
    // A late tick (the process was paused) still leaves the relays a full timeout to answer.
    probe.windowEndMs = Math.max(probe.windowEndMs, this.nowMs + this.awareness.scaleMs(this.config.probeTimeoutMs))
    const relays = this.randomMembers(this.config.indirectChecks, record => record.status === 'alive' && record !== this.self && record !== target)
    for (const relay of relays) {
      const request: PingReqMessage = {
        kind: 'pingReq', seq: probe.seq, target: target.name, targetAddress: target.address, wantNack: true, sourceName: this.name, sourceAddress: this.address
      }
      this.sendPacket(relay.address, [this.encode(request)], 'pingReq')
    }
    probe.expectedNacks = relays.length
    if (this.config.tcpFallbackProbe) {
      const ping: PingMessage = { kind: 'ping', seq: probe.seq, target: target.name, sourceName: this.name, sourceAddress: this.address }
      this.emitReliable(target.address, encodePacket([this.encode(ping)]), 'fallbackPing')
    }
  }

  private failProbe (probe: ProbeState, target: MemberRecord): void {
    this.probe = null
    this.stats.probesFailed += 1
    // Lifeguard: relays that could not even send a nack point at this member's own network.
    const missedNacks = probe.expectedNacks > 0 ? Math.max(0, probe.expectedNacks - probe.nacks) : 1
    this.awareness.applyDelta(missedNacks)
    this.logger.debug({ target: target.name, missedNacks }, 'probe failed; suspecting the target')
    this.handleSuspect({ kind: 'suspect', incarnation: target.incarnation, name: target.name, from: this.name })
  }

  private handleAck (seq: number): void {
    if (this.probe !== null && this.probe.seq === seq) {
      this.probe = null
      this.awareness.applyDelta(-1)
      return
    }
    const relay = this.relays.get(seq)
    if (relay === undefined) return
    this.relays.delete(seq)
    this.sendPacket(relay.requesterAddress, [this.encode({ kind: 'ack', seq: relay.requesterSeq })], 'ack')
  }

  private handleNack (seq: number): void {
    if (this.probe === null || this.probe.seq !== seq) return
    this.probe.nacks += 1
    this.stats.nacksReceived += 1
  }

  private handlePing (message: PingMessage): void {
    if (message.target !== this.name) {
      this.stats.misdirectedPings += 1
      return
    }
    this.sendPacket(message.sourceAddress, [this.encode({ kind: 'ack', seq: message.seq })], 'ack')
  }

  private handlePingReq (message: PingReqMessage): void {
    if (message.target === this.name) {
      this.sendPacket(message.sourceAddress, [this.encode({ kind: 'ack', seq: message.seq })], 'ack')
      return
    }
    if (this.relays.size >= this.config.relaysPendingMax) {
      this.stats.relaysRefused += 1
      return
    }
    const seq = this.nextSeq()
    this.relays.set(seq, { requesterAddress: message.sourceAddress, requesterSeq: message.seq, wantNack: message.wantNack, deadlineMs: this.nowMs + this.config.probeTimeoutMs })
    this.sendPacket(message.targetAddress, [this.encode({ kind: 'ping', seq, target: message.target, sourceName: this.name, sourceAddress: this.address })], 'relayPing')
    this.stats.pingReqsRelayed += 1
  }

  /** Relays are kept in insertion order, which is deadline order (the clock never goes back). */
  private expireRelays (): void {
    for (const [seq, relay] of this.relays) {
      if (relay.deadlineMs > this.nowMs) return
      this.relays.delete(seq)
      if (!relay.wantNack) continue
      this.sendPacket(relay.requesterAddress, [this.encode({ kind: 'nack', seq: relay.requesterSeq })], 'nack')
      this.stats.nacksSent += 1
    }
  }

  /**
   * A suspect whose suspicion here outlives the minimum timeout (it lacks confirmations) is probed
   * out of turn every other probe round, buddy suspicion first, instead of waiting for its place
   * in the round (not in memberlist). Either this member missed the refutation, and the suspect
   * re-sends its alive on the ack, or the suspect is gone and the timeout runs out as before.
   */
  private overdueSuspect (): MemberRecord | null {
    const repeatMs = 2 * this.config.probeIntervalMs
    for (const record of this.suspects) {
      const suspicion = record.suspicion!
      // Only suspicions short of confirmations: a confirmed one ends at the minimum anyway.
      if (this.nowMs < suspicion.minDeadlineMs || suspicion.deadlineMs <= suspicion.minDeadlineMs) continue
      if (suspicion.lastDirectProbeMs !== null && this.nowMs - suspicion.lastDirectProbeMs < repeatMs) continue
      suspicion.lastDirectProbeMs = this.nowMs
      return record
    }
    return null
  }

  /**
   * Verification pings (not in memberlist): at 3, 2 and 1 probe timeouts (not stretched by local
   * health) before a suspicion expires, this member pings the suspect directly with the buddy
   * suspicion first. A live suspect answers a stale accusation by re-queueing its alive as the
   * freshest item, so it rides on the ack and clears the suspicion here. This covers a member
   * that missed the refutation of a whole-cluster suspicion (a paused member: confirmations flood
   * in, the timeout drops to its minimum, and nothing else would make it ask). A dead suspect
   * stays silent and the deadline passes as before, so detection is not delayed. Three attempts,
   * because under heavy loss one ping or its ack is lost too often.
   */
  private maybeVerifySuspects (): void {
    for (const record of this.suspects) {
      const suspicion = record.suspicion!
      if (this.nowMs < this.nextVerificationMs(suspicion)) continue
      suspicion.verificationsSent += 1
      suspicion.lastVerificationMs = this.nowMs
      const parts = [
        this.encode({ kind: 'suspect', incarnation: record.incarnation, name: record.name, from: this.name }),
        this.encode({ kind: 'ping', seq: this.nextSeq(), target: record.name, sourceName: this.name, sourceAddress: this.address })
      ]
      this.sendPacket(record.address, parts, 'verify')
      this.stats.verificationPings += 1
    }
  }

  /**
   * When a suspicion may expire: at its deadline, but never before all verification pings went
   * out and the last had half a probe timeout to be answered. Normally they are long done by the
   * deadline; a late confirmation can pull the deadline into the past, and then this holds the
   * expiry back by at most two probe timeouts.
   */
  private expiryMs (suspicion: Suspicion): number {
    if (suspicion.verificationsSent < VERIFICATIONS_PER_SUSPICION) return Infinity
    return Math.max(suspicion.deadlineMs, suspicion.lastVerificationMs! + this.config.probeTimeoutMs / 2)
  }

  private nextVerificationMs (suspicion: Suspicion): number {
    const timeoutMs = this.config.probeTimeoutMs
    if (suspicion.verificationsSent >= VERIFICATIONS_PER_SUSPICION) return Infinity
    const dueMs = suspicion.deadlineMs - (VERIFICATIONS_PER_SUSPICION - suspicion.verificationsSent) * timeoutMs
    // Confirmations can pull the deadline in; keep the attempts half a timeout apart regardless.
    return suspicion.lastVerificationMs === null ? dueMs : Math.max(dueMs, suspicion.lastVerificationMs + timeoutMs / 2)
  }

  private nextProbeTarget (): MemberRecord | null {
    for (let attempt = 0; attempt <= this.probeOrder.length + 1; attempt += 1) {
      if (this.probeIndex >= this.probeOrder.length) {
        this.rebuildProbeOrder()
        if (this.probeOrder.length === 0) return null
      }
      const name = this.probeOrder[this.probeIndex]!
      this.probeIndex += 1
      const record = this.membersByName.get(name)
      if (record !== undefined && record !== this.self && isLive(record.status)) return record
    }
    return null
  }

  private rebuildProbeOrder (): void {
    this.probeOrder = []
    this.inProbeOrder.clear()
    for (const record of this.membersByName.values()) {
      if (record === this.self || !isLive(record.status)) continue
      this.probeOrder.push(record.name)
      this.inProbeOrder.add(record.name)
    }
    this.shuffle(this.probeOrder)
    this.probeIndex = 0
  }

  /** New members go to a random place in the round, so a burst of joins is not probed last. */
  private addToProbeOrder (name: string): void {
    if (this.inProbeOrder.has(name)) return
    this.inProbeOrder.add(name)
    this.probeOrder.push(name)
    const last = this.probeOrder.length - 1
    const swap = this.prng.nextInt(this.probeOrder.length)
    this.probeOrder[last] = this.probeOrder[swap]!
    this.probeOrder[swap] = name
  }

  // -------------------------------------------------------------------------------------------
  // Membership state (SWIM §4.2 suspicion, incarnation ordering)

  private handleAlive (message: AliveMessage): void {
    if (message.name === this.name) return this.handleAliveAboutSelf(message)
    const record = this.membersByName.get(message.name)
    if (record === undefined) return this.addMember(message)
    if (record.address !== message.address && isLive(record.status)) {
      this.stats.addressConflicts += 1
      this.logger.debug({ member: message.name, known: record.address, claimed: message.address }, 'ignored an alive message claiming a live member from another address')
      return
    }
    if (message.incarnation <= record.incarnation) {
      this.stats.staleMessages += 1
      return
    }
    const previous = record.status
    const changed = record.address !== message.address || !sameMeta(record.meta, message.meta)
    record.incarnation = message.incarnation
    record.address = message.address
    record.meta = message.meta
    if (previous !== 'alive') {
      this.clearSuspicion(record)
      this.setStatus(record, 'alive')
      this.addToProbeOrder(record.name)
    }
    if (previous === 'dead' || previous === 'left') this.emitEvent('join', record)
    else if (previous === 'suspect') this.emitEvent('alive', record)
    if (changed && previous !== 'dead' && previous !== 'left') this.emitEvent('update', record)
    this.queue.enqueue(memberKey(record.name), this.encode(message))
  }

  private addMember (message: AliveMessage): void {
    if (this.membersByName.size >= this.config.membersMax) {
      this.logger.warn({ member: message.name, membersMax: this.config.membersMax }, 'ignored a new member: gossip.membersMax reached')
      return
    }
    const record: MemberRecord = {
      name: message.name, address: message.address, meta: message.meta, incarnation: message.incarnation, status: 'alive', statusChangedMs: this.nowMs, suspicion: null
    }
    this.membersByName.set(record.name, record)
    this.liveCount += 1
    this.addToProbeOrder(record.name)
    this.emitEvent('join', record)
    this.queue.enqueue(memberKey(record.name), this.encode(message))
  }

  private handleAliveAboutSelf (message: AliveMessage): void {
    if (this.leaving) return
    if (message.incarnation < this.self.incarnation) {
      this.stats.staleMessages += 1
      return
    }
    const sameAsMine = message.incarnation === this.self.incarnation && message.address === this.address && sameMeta(message.meta, this.self.meta)
    if (sameAsMine) return
    // Someone holds a newer or different record of this member (a previous life, or a clash).
    this.refute(message.incarnation, { penalize: false })
  }

  private handleSuspect (message: SuspectMessage): void {
    if (message.name === this.name) return this.handleAccusation(message.incarnation)
    const record = this.membersByName.get(message.name)
    if (record === undefined) {
      this.stats.unknownSubjects += 1
      return
    }
    if (message.incarnation < record.incarnation) {
      this.stats.staleMessages += 1
      return
    }
    if (record.status === 'suspect' && message.incarnation === record.incarnation) {
      if (record.suspicion!.confirm(message.from)) {
        this.stats.suspicionConfirmations += 1
        this.queue.enqueue(memberKey(record.name), this.encode(message))
      }
      return
    }
    if (record.status !== 'alive' && record.status !== 'suspect') return
    // A suspicion at a higher incarnation is a new accusation: the suspect refuted the one this
    // member holds (the refutation was missed here), so confirmations of the old one do not count.
    record.incarnation = message.incarnation
    if (record.status === 'alive') this.setStatus(record, 'suspect')
    else this.stats.suspicionsRestarted += 1
    this.startSuspicion(record, message)
  }

  private startSuspicion (record: MemberRecord, message: SuspectMessage): void {
    const config = this.config
    const minMs = suspicionMinTimeoutMs(config.suspicionMult, this.liveCount, config.probeIntervalMs)
    const wanted = suspicionConfirmationsWanted(config.suspicionMult, this.liveCount)
    record.suspicion = new Suspicion(this.nowMs, message.from, wanted, minMs, config.suspicionMaxTimeoutMult * minMs)
    if (!this.suspects.has(record)) {
      this.suspects.add(record)
      this.stats.suspicionsStarted += 1
      this.emitEvent('suspect', record)
    }
    this.queue.enqueue(memberKey(record.name), this.encode(message))
  }

  private handleDead (message: DeadMessage): void {
    if (message.name === this.name) return this.handleAccusation(message.incarnation)
    const record = this.membersByName.get(message.name)
    if (record === undefined) {
      this.stats.unknownSubjects += 1
      return
    }
    if (message.incarnation < record.incarnation) {
      this.stats.staleMessages += 1
      return
    }
    const isLeave = message.from === message.name
    if (record.status === 'left') return
    if (record.status === 'dead' && !isLeave) return
    record.incarnation = message.incarnation
    this.clearSuspicion(record)
    this.setStatus(record, isLeave ? 'left' : 'dead')
    this.emitEvent(isLeave ? 'leave' : 'failed', record)
    this.queue.enqueue(memberKey(record.name), this.encode(message))
  }

  /** A suspect or dead message about this member: refute unless leaving or stale. */
  private handleAccusation (incarnation: number): void {
    if (this.leaving) return
    if (incarnation < this.self.incarnation) {
      this.stats.staleMessages += 1
      // The accuser missed an earlier refutation: queue the current alive again, as the freshest
      // item, so it rides on the very next packet (the ack, when the accusation came with a ping).
      this.enqueueSelfAlive()
      return
    }
    this.refute(incarnation, { penalize: true })
  }

  private refute (accusedIncarnation: number, options: { penalize: boolean }): void {
    const incarnation = Math.max(this.self.incarnation, accusedIncarnation) + 1
    if (incarnation > U32_MAX) {
      this.stats.incarnationExhausted += 1
      return
    }
    this.self.incarnation = incarnation
    this.enqueueSelfAlive()
    this.stats.refutations += 1
    if (options.penalize) this.awareness.applyDelta(1)
    this.logger.debug({ incarnation }, 'refuting a suspicion about this member')
  }

  private expireSuspicions (): void {
    for (const record of this.suspects) {
      if (this.expiryMs(record.suspicion!) > this.nowMs) continue
      this.stats.membersDeclaredDead += 1
      this.logger.debug({ member: record.name, confirmations: record.suspicion!.confirmationCount }, 'suspicion timed out; declaring the member dead')
      this.handleDead({ kind: 'dead', incarnation: record.incarnation, name: record.name, from: this.name })
    }
  }

  private clearSuspicion (record: MemberRecord): void {
    record.suspicion = null
    this.suspects.delete(record)
  }

  private setStatus (record: MemberRecord, status: MemberStatus): void {
    if (isLive(record.status)) this.liveCount -= 1
    else this.goneCount -= record === this.self ? 0 : 1
    record.status = status
    record.statusChangedMs = this.nowMs
    if (isLive(status)) this.liveCount += 1
    else this.goneCount += record === this.self ? 0 : 1
    assert(this.liveCount >= 0 && this.goneCount >= 0, `member counts went negative (${this.liveCount} live, ${this.goneCount} gone)`)
  }

  private maybeReap (): void {
    if (this.nowMs < this.nextReapMs) return
    this.nextReapMs = this.nowMs + this.reapCheckIntervalMs()
    if (this.goneCount === 0) return
    for (const record of this.membersByName.values()) {
      if (record === this.self || isLive(record.status)) continue
      const afterMs = record.status === 'dead' ? this.config.reapFailedAfterMs : this.config.reapLeftAfterMs
      if (this.nowMs - record.statusChangedMs < afterMs) continue
      this.membersByName.delete(record.name)
      this.goneCount -= 1
      this.emitEvent('reap', record)
    }
  }

  private reapCheckIntervalMs (): number {
    return Math.min(REAP_CHECK_INTERVAL_MS, this.config.reapFailedAfterMs, this.config.reapLeftAfterMs)
  }

  // -------------------------------------------------------------------------------------------
  // User broadcasts

  private handleUser (message: UserMessage): void {
    if (!this.dedupe.markSeen(message.origin, message.epoch, message.seq)) {
      this.stats.duplicateBroadcasts += 1
      return
    }
    this.deliveries.push({ origin: message.origin, payload: message.payload })
    this.stats.broadcastsDelivered += 1
    this.queue.enqueue(`u:${message.origin}:${message.epoch}:${message.seq}`, this.encode(message))
    if (this.config.recentBroadcastsMax === 0) return
    this.recentBroadcasts.push(message)
    if (this.recentBroadcasts.length > this.config.recentBroadcastsMax) this.recentBroadcasts.shift()
  }

  // -------------------------------------------------------------------------------------------
  // Dissemination (SWIM §4.1) and push/pull

  private maybeGossip (): void {
    if (this.nowMs < this.nextGossipMs) return
    const intervalMs = this.config.gossipIntervalMs
    this.nextGossipMs += intervalMs * Math.ceil((this.nowMs - this.nextGossipMs + 1) / intervalMs)
    if (this.queue.size === 0) return
    const targets = this.randomMembers(this.config.gossipNodes, record => this.isGossipTarget(record))
    for (const target of targets) {
      const parts = this.queue.take(this.config.packetBytesMax - PACKET_HEADER_BYTES - COMPOUND_HEADER_BYTES, COMPOUND_PART_OVERHEAD_BYTES, COMPOUND_PARTS_MAX, this.retransmitLimit())
      if (parts.length === 0) return
      this.emitPacket(target.address, encodePacket(parts), 'gossip')
    }
  }

  private isGossipTarget (record: MemberRecord): boolean {
    if (record === this.self) return false
    if (isLive(record.status)) return true
    return record.status === 'dead' && this.nowMs - record.statusChangedMs < this.config.gossipToTheDeadMs
  }

  private maybePushPull (): void {
    if (this.config.pushPullIntervalMs === 0 || this.nowMs < this.nextPushPullMs) return
    this.nextPushPullMs = this.nowMs + pushPullIntervalScaledMs(this.config.pushPullIntervalMs, this.liveCount)
    if (this.leaving) return
    const [peer] = this.randomMembers(1, record => record !== this.self && record.status === 'alive')
    if (peer === undefined) return
    const bytes = this.encodePushPull({ join: false, reply: false })
    if (bytes !== null) this.emitReliable(peer.address, bytes, 'pushPull')
  }

  private maybeReconnect (): void {
    if (this.config.reconnectIntervalMs === 0 || this.nowMs < this.nextReconnectMs) return
    this.nextReconnectMs = this.nowMs + this.config.reconnectIntervalMs
    if (this.leaving || this.goneCount === 0) return
    const [peer] = this.randomMembers(1, record => record.status === 'dead')
    if (peer === undefined) return
    const bytes = this.encodePushPull({ join: false, reply: false })
    if (bytes !== null) this.emitReliable(peer.address, bytes, 'reconnect')
  }

  private handlePushPullStream (message: PushPullMessage): StreamResult {
    if (message.reply) {
      this.mergeState(message)
      return { ok: true, reply: null }
    }
    // Reply with the state as it was before merging, so the requester hears nothing of its own.
    const reply = this.encodePushPull({ join: message.join, reply: true })
    this.mergeState(message)
    return { ok: true, reply }
  }

  /**
   * memberlist's merge: alive as alive; suspect and dead as suspect (a member that another
   * believes dead is only suspected here, and gets to refute); left as left.
   */
  private mergeState (message: PushPullMessage): void {
    for (const remote of message.members) {
      const local = this.membersByName.get(remote.name)
      if (local !== undefined && local !== this.self && local.status === remote.status && local.incarnation >= remote.incarnation) continue
      switch (remote.status) {
        case 'alive':
          this.handleAlive({ kind: 'alive', incarnation: remote.incarnation, name: remote.name, address: remote.address, meta: remote.meta })
          break
        case 'suspect':
        case 'dead':
          this.handleSuspect({ kind: 'suspect', incarnation: remote.incarnation, name: remote.name, from: message.sender })
          break
        case 'left':
          this.handleDead({ kind: 'dead', incarnation: remote.incarnation, name: remote.name, from: remote.name })
          break
      }
    }
    for (const broadcast of message.broadcasts) this.handleUser(broadcast)
    for (const id of message.seen) this.dedupe.markSeen(id.origin, id.epoch, id.seq)
  }

  /**
   * Full state for a push/pull. A join request and a non-join exchange carry the recent user
   * broadcasts; the reply to a join carries only their ids, so a new member does not deliver
   * broadcasts from before it joined. Null (and counted) when it would exceed streamBytesMax.
   */
  private encodePushPull (options: { join: boolean, reply: boolean }): Uint8Array | null {
    const members = [...this.membersByName.values()].map(record => ({
      name: record.name, address: record.address, incarnation: record.incarnation, status: record.status, meta: record.meta
    }))
    const joinReply = options.join && options.reply
    const message: PushPullMessage = {
      kind: 'pushPull',
      join: options.join,
      reply: options.reply,
      sender: this.name,
      members,
      broadcasts: joinReply ? [] : this.recentBroadcasts,
      seen: joinReply ? this.recentBroadcasts.map(({ origin, epoch, seq }) => ({ origin, epoch, seq })) : []
    }
    const bytes = encodePacket([encodeMessage(message, this.config.metaBytesMax)])
    if (bytes.length > this.config.streamBytesMax) {
      this.stats.pushPullTooLarge += 1
      this.logger.warn({ bytes: bytes.length, streamBytesMax: this.config.streamBytesMax }, 'push/pull state too large to send')
      return null
    }
    return bytes
  }

  private retransmitLimit (): number {
    return retransmitLimit(this.config.retransmitMult, this.liveCount)
  }

  private enqueueSelfAlive (): void {
    const message: AliveMessage = { kind: 'alive', incarnation: this.self.incarnation, name: this.name, address: this.address, meta: this.self.meta }
    this.queue.enqueue(memberKey(this.name), this.encode(message))
  }

  // -------------------------------------------------------------------------------------------
  // Output helpers

  /** A UDP packet: the given messages first, then as many queued broadcasts as fit. */
  private sendPacket (to: string, primary: Uint8Array[], purpose: PacketPurpose): void {
    let used = PACKET_HEADER_BYTES + COMPOUND_HEADER_BYTES
    for (const part of primary) used += part.length + COMPOUND_PART_OVERHEAD_BYTES
    const extra = this.queue.take(this.config.packetBytesMax - used, COMPOUND_PART_OVERHEAD_BYTES, COMPOUND_PARTS_MAX - primary.length, this.retransmitLimit())
    this.emitPacket(to, encodePacket(extra.length === 0 ? primary : [...primary, ...extra]), purpose)
  }

  private emitPacket (to: string, bytes: Uint8Array, purpose: PacketPurpose): void {
    assert(bytes.length <= this.config.packetBytesMax, `a ${purpose} packet of ${bytes.length} bytes exceeds packetBytesMax`)
    this.packets.push({ to, bytes, reliable: false, purpose })
    this.stats.packetsSent += 1
    this.stats.packetBytesSent += bytes.length
  }

  private emitReliable (to: string, bytes: Uint8Array, purpose: PacketPurpose): void {
    this.packets.push({ to, bytes, reliable: true, purpose })
    this.stats.streamsSent += 1
  }

  private emitEvent (type: MemberEventType, record: MemberRecord): void {
    this.events.push({ type, member: snapshot(record), atMs: this.nowMs })
  }

  private encode (message: Message): Uint8Array {
    return encodeMessage(message, this.config.metaBytesMax)
  }

  // -------------------------------------------------------------------------------------------
  // Small helpers

  private advanceClock (nowMs: number): void {
    assert(Number.isFinite(nowMs), `nowMs must be finite, got ${nowMs}`)
    assert(nowMs >= this.nowMs, `time went backwards: ${nowMs} < ${this.nowMs}`)
    this.nowMs = nowMs
  }

  private assertNotLeaving (operation: string): void {
    if (this.leaving) throw new ControlPlaneError('ERR_STOPPED', `gossip ${operation} after leave: this member has left the pool`)
  }

  private checkedMeta (meta: MemberMeta): MemberMeta {
    try {
      encodeMeta(meta, this.config.metaBytesMax)
    } catch (err) {
      const message = (err as Error).message
      const code = message.includes('bytes encoded') ? 'ERR_TOO_LARGE' : 'ERR_INVALID_INPUT'
      throw new ControlPlaneError(code, `gossip meta rejected: ${message}`, { cause: err })
    }
    return Object.freeze({ ...meta })
  }

  private nextSeq (): number {
    this.seq = this.seq >= U32_MAX ? 1 : this.seq + 1
    return this.seq
  }

  private stagger (intervalMs: number): number {
    return intervalMs > 0 ? this.prng.nextInt(intervalMs) : 0
  }

  private shuffle<T> (items: T[]): void {
    for (let i = items.length - 1; i > 0; i -= 1) {
      const j = this.prng.nextInt(i + 1)
      const swap = items[i]!
      items[i] = items[j]!
      items[j] = swap
    }
  }

  /** Up to k distinct random members passing the filter (a partial Fisher-Yates shuffle). */
  private randomMembers (k: number, filter: (record: MemberRecord) => boolean): MemberRecord[] {
    const candidates: MemberRecord[] = []
    for (const record of this.membersByName.values()) if (filter(record)) candidates.push(record)
    const count = Math.min(k, candidates.length)
    for (let i = 0; i < count; i += 1) {
      const j = i + this.prng.nextInt(candidates.length - i)
      const swap = candidates[i]!
      candidates[i] = candidates[j]!
      candidates[j] = swap
    }
    candidates.length = count
    return candidates
  }
}

function memberKey (name: string): string {
  return `m:${name}`
}

function snapshot (record: MemberRecord): Member {
  return Object.freeze({
    name: record.name, address: record.address, meta: record.meta, incarnation: record.incarnation, status: record.status, statusChangedMs: record.statusChangedMs
  })
}
