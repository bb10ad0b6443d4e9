/**
 * Plain data exchanged between the pure SWIM core (swim.ts) and whoever drives it: the network
 * shell (src/gossip/node.ts) or the in-memory simulator (test/sim/gossip-cluster.ts). Nothing here
 * does I/O.
 *
 * Members are identified by name; an address is the member's advertised gossip address
 * `host:port` (one UDP socket and one TCP listener share it). Incarnations are u32 counters that
 * only the member itself raises; a higher incarnation always wins, and at equal incarnation
 * suspect beats alive and dead/left beats suspect (SWIM §4.2, memberlist's ordering).
 */

export type MemberStatus = 'alive' | 'suspect' | 'dead' | 'left'

/** String map carried by every alive message; bounded by SwimConfig.metaBytesMax when encoded. */
export type MemberMeta = Readonly<Record<string, string>>

/** A snapshot of what this member believes about one member (itself included). */
export interface Member {
  readonly name: string
  readonly address: string
  readonly meta: MemberMeta
  readonly incarnation: number
  readonly status: MemberStatus
  /** Core time (ms) of the last status change, in the driver's clock. */
  readonly statusChangedMs: number
}

/**
 * Membership events, emitted once per transition as this member sees it:
 * - `join`: a member became alive for the first time, or again after being dead/left (also
 *   emitted for this member itself when the core is created);
 * - `update`: an alive member's meta or address changed (a new incarnation);
 * - `alive`: a suspect member refuted the suspicion (suspect -> alive);
 * - `suspect`: alive -> suspect;
 * - `failed`: suspect/alive -> dead (declared dead here or told so by another member);
 * - `leave`: the member left gracefully (also for this member itself on leave());
 * - `reap`: a dead or left member was forgotten after the reap time.
 */
export type MemberEventType = 'join' | 'update' | 'alive' | 'suspect' | 'failed' | 'leave' | 'reap'

export interface MemberEvent {
  readonly type: MemberEventType
  readonly member: Member
  readonly atMs: number
}

/** Why an outbound packet exists: for statistics, tests and fault injection in the shell. */
export type PacketPurpose =
  | 'probe' | 'ack' | 'pingReq' | 'relayPing' | 'nack' | 'verify' | 'gossip' | 'fallbackPing' | 'pushPull' | 'join' | 'reconnect'

/**
 * A packet the shell must send. `reliable: false` goes out as one UDP datagram. `reliable: true`
 * is a request over a fresh TCP stream: the shell writes it as one frame, reads at most one reply
 * frame and hands that to `receiveStream(to, reply)`. A lost or failed reliable request needs no
 * report to the core, except that the shell's join() reports per-address failures to its caller.
 */
export interface OutboundPacket {
  readonly to: string
  readonly bytes: Uint8Array
  readonly reliable: boolean
  readonly purpose: PacketPurpose
}

/** A user broadcast delivered to this member (exactly once per origin/epoch/sequence). */
export interface Delivery {
  readonly origin: string
  readonly payload: Uint8Array
}

/** Everything the core produced since the last takeReady(); the shell sends, emits, delivers. */
export interface GossipReady {
  readonly packets: readonly OutboundPacket[]
  readonly events: readonly MemberEvent[]
  readonly deliveries: readonly Delivery[]
}

/** Why an inbound packet or stream frame was dropped without effect. */
export type DropReason = 'truncated' | 'malformed' | 'oversized' | 'unknownVersion' | 'wrongChannel'

export type StreamResult =
  | { readonly ok: true, readonly reply: Uint8Array | null }
  | { readonly ok: false, readonly reason: DropReason }

/** Counters; monotonically increasing, read by tests, the benchmark and (later) metrics. */
export interface GossipStats {
  packetsReceived: number
  packetBytesReceived: number
  packetsSent: number
  packetBytesSent: number
  streamsReceived: number
  streamsSent: number
  /** Inbound packets/frames dropped at decode, by reason. */
  readonly dropped: Record<DropReason, number>
  /** Pings addressed to another member name (stale address reuse). */
  misdirectedPings: number
  /** Membership messages ignored because they carry an older incarnation than known. */
  staleMessages: number
  /** Suspect/dead messages about members this member does not know. */
  unknownSubjects: number
  /** Alive messages claiming a live member's name from a different address. */
  addressConflicts: number
  duplicateBroadcasts: number
  broadcastsDelivered: number
  probesStarted: number
  probesDirectFailed: number
  probesFailed: number
  pingReqsRelayed: number
  /** Ping-reqs refused because too many relays were already pending. */
  relaysRefused: number
  nacksSent: number
  nacksReceived: number
  suspicionsStarted: number
  /** Suspicions restarted because a suspect message carried a higher incarnation. */
  suspicionsRestarted: number
  /** Pings sent to a suspect shortly before its suspicion expires (see SwimCore.maybeVerifySuspects). */
  verificationPings: number
  suspicionConfirmations: number
  refutations: number
  /** Members this member itself declared dead when a suspicion timed out. */
  membersDeclaredDead: number
  /** Broadcasts dropped from the dissemination queue because it was full. */
  queueDropped: number
  /** Refutations impossible because the incarnation reached the u32 maximum. */
  incarnationExhausted: number
  /** Push/pull states not sent because they would exceed SwimConfig.streamBytesMax. */
  pushPullTooLarge: number
}

export function emptyStats (): GossipStats {
  return {
    packetsReceived: 0,
    packetBytesReceived: 0,
    packetsSent: 0,
    packetBytesSent: 0,
    streamsReceived: 0,
    streamsSent: 0,
    dropped: { truncated: 0, malformed: 0, oversized: 0, unknownVersion: 0, wrongChannel: 0 },
    misdirectedPings: 0,
    staleMessages: 0,
    unknownSubjects: 0,
    addressConflicts: 0,
    duplicateBroadcasts: 0,
    broadcastsDelivered: 0,
    probesStarted: 0,
    probesDirectFailed: 0,
    probesFailed: 0,
    pingReqsRelayed: 0,
    relaysRefused: 0,
    nacksSent: 0,
    nacksReceived: 0,
    suspicionsStarted: 0,
    suspicionsRestarted: 0,
    verificationPings: 0,
    suspicionConfirmations: 0,
    refutations: 0,
    membersDeclaredDead: 0,
    queueDropped: 0,
    incarnationExhausted: 0,
    pushPullTooLarge: 0
  }
}

/** The core's logging needs; pino loggers satisfy it. */
export interface CoreLogger {
  debug (fields: Record<string, unknown>, message: string): void
  info (fields: Record<string, unknown>, message: string): void
  warn (fields: Record<string, unknown>, message: string): void
}

export const silentLogger: CoreLogger = {
  debug () {},
  info () {},
  warn () {}
}
