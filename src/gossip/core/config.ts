/**
 * SWIM core configuration: memberlist-LAN-like defaults (`lanSwimConfig`), a fast profile for
 * tests on real sockets (`fastSwimConfig`), and `validateSwimConfig`, which reports every problem
 * at once and returns a frozen copy. The core (swim.ts) takes a validated config; the shell
 * (node.ts) validates whatever its caller passes.
 *
 * All times are milliseconds of the driver's clock. The probe interval and probe timeout are
 * stretched by the local health multiplier (Lifeguard's LHA-Probe); suspicion timeouts follow
 * Lifeguard's LHA-Suspicion formula (see suspicion.ts); the push/pull interval grows with
 * log2(n) above 32 members as memberlist's does.
 */
import { ControlPlaneError } from '../../util/errors.js'

export interface SwimConfig {
  /** Time between the starts of two probes, before the health multiplier. */
  readonly probeIntervalMs: number
  /** Wait for a direct ack before asking others to probe indirectly, before the health multiplier. */
  readonly probeTimeoutMs: number
  /** Members asked to probe a target indirectly (ping-req) when its direct probe fails. */
  readonly indirectChecks: number
  /** Also ping the target over TCP when its direct UDP probe fails (memberlist's fallback). */
  readonly tcpFallbackProbe: boolean
  /** Minimum suspicion timeout = suspicionMult * max(1, log10(n)) * probeIntervalMs. */
  readonly suspicionMult: number
  /** Maximum suspicion timeout = suspicionMaxTimeoutMult * minimum. */
  readonly suspicionMaxTimeoutMult: number
  readonly gossipIntervalMs: number
  /** Random members each gossip round sends queued broadcasts to. */
  readonly gossipNodes: number
  /** Dead members keep receiving gossip for this long, so a wrongly failed member can refute. */
  readonly gossipToTheDeadMs: number
  /** An update is sent at most retransmitMult * ceil(log10(n + 1)) times. */
  readonly retransmitMult: number
  /** Full state exchange with one random live member; 0 disables. */
  readonly pushPullIntervalMs: number
  /** Push/pull with one random dead member so partitions heal; 0 disables. */
  readonly reconnectIntervalMs: number
  /** Upper bound of the local health multiplier (Lifeguard's awareness); 1 disables it. */
  readonly awarenessMaxMultiplier: number
  /** Dead members are forgotten after this long (Consul's reconnect_timeout). */
  readonly reapFailedAfterMs: number
  /** Members that left are forgotten after this long (serf's tombstone timeout). */
  readonly reapLeftAfterMs: number
  /** Largest UDP payload this member sends or accepts, before encryption. */
  readonly packetBytesMax: number
  /** Largest stream frame (push/pull state) this member sends or accepts, before encryption. */
  readonly streamBytesMax: number
  /** Largest encoded member meta map. */
  readonly metaBytesMax: number
  /** Largest user broadcast payload. */
  readonly userPayloadBytesMax: number
  /** Dissemination queue length; beyond it the most retransmitted items are dropped. */
  readonly broadcastQueueMax: number
  /** Recent user broadcasts kept and included in push/pull so a member that missed one gets it. */
  readonly recentBroadcastsMax: number
  /** Ping-reqs this member relays at once; more are refused. */
  readonly relaysPendingMax: number
  /** Members this member tracks; alive messages about more new members are ignored. */
  readonly membersMax: number
}

export const lanSwimConfig: SwimConfig = Object.freeze({
  probeIntervalMs: 1000,
  probeTimeoutMs: 500,
  indirectChecks: 3,
  tcpFallbackProbe: true,
  suspicionMult: 4,
  suspicionMaxTimeoutMult: 6,
  gossipIntervalMs: 200,
  gossipNodes: 3,
  gossipToTheDeadMs: 30_000,
  retransmitMult: 4,
  pushPullIntervalMs: 30_000,
  reconnectIntervalMs: 30_000,
  awarenessMaxMultiplier: 8,
  reapFailedAfterMs: 72 * 3600_000,
  reapLeftAfterMs: 24 * 3600_000,
  packetBytesMax: 1400,
  streamBytesMax: 8 * 1024 * 1024,
  metaBytesMax: 512,
  userPayloadBytesMax: 1024,
  broadcastQueueMax: 4096,
  recentBroadcastsMax: 32,
  relaysPendingMax: 256,
  membersMax: 10_000
})

/**
 * A profile five times faster than LAN for tests on real sockets: detection and convergence in
 * about a fifth of the time. Loopback round trips are far below the 100 ms probe timeout.
 */
export const fastSwimConfig: SwimConfig = Object.freeze({
  ...lanSwimConfig,
  probeIntervalMs: 200,
  probeTimeoutMs: 100,
  gossipIntervalMs: 40,
  gossipToTheDeadMs: 6_000,
  pushPullIntervalMs: 6_000,
  reconnectIntervalMs: 6_000,
  reapFailedAfterMs: 60_000,
  reapLeftAfterMs: 60_000
})

/** Scales every protocol timer of a config by 1/factor (the benchmark's fast-forward). */
export function scaleSwimConfig (config: SwimConfig, factor: number): SwimConfig {
  const scale = (ms: number): number => Math.max(1, Math.round(ms / factor))
  return {
    ...config,
    probeIntervalMs: scale(config.probeIntervalMs),
    probeTimeoutMs: scale(config.probeTimeoutMs),
    gossipIntervalMs: scale(config.gossipIntervalMs),
    gossipToTheDeadMs: scale(config.gossipToTheDeadMs),
    pushPullIntervalMs: config.pushPullIntervalMs === 0 ? 0 : scale(config.pushPullIntervalMs),
    reconnectIntervalMs: config.reconnectIntervalMs === 0 ? 0 : scale(config.reconnectIntervalMs),
    reapFailedAfterMs: scale(config.reapFailedAfterMs),
    reapLeftAfterMs: scale(config.reapLeftAfterMs)
  }
}

const integerFields: ReadonlyArray<readonly [keyof SwimConfig, number, number]> = [
  ['probeIntervalMs', 1, 3600_000],
  ['probeTimeoutMs', 1, 3600_000],
  ['indirectChecks', 0, 16],
  ['suspicionMult', 1, 100],
  ['suspicionMaxTimeoutMult', 1, 100],
  ['gossipIntervalMs', 1, 3600_000],
  ['gossipNodes', 1, 64],
  ['gossipToTheDeadMs', 0, 365 * 86400_000],
  ['retransmitMult', 1, 100],
  ['pushPullIntervalMs', 0, 365 * 86400_000],
  ['reconnectIntervalMs', 0, 365 * 86400_000],
  ['awarenessMaxMultiplier', 1, 64],
  ['reapFailedAfterMs', 1, 10 * 365 * 86400_000],
  ['reapLeftAfterMs', 1, 10 * 365 * 86400_000],
  ['packetBytesMax', 1024, 65_000],
  ['streamBytesMax', 65_536, 256 * 1024 * 1024],
  ['metaBytesMax', 64, 8192],
  ['userPayloadBytesMax', 1, 4096],
  ['broadcastQueueMax', 16, 1_000_000],
  ['recentBroadcastsMax', 0, 1024],
  ['relaysPendingMax', 1, 100_000],
  ['membersMax', 2, 1_000_000]
]

/** Validates a whole config, reporting every problem in one ERR_INVALID_INPUT; returns it frozen. */
export function validateSwimConfig (config: SwimConfig): SwimConfig {
  const problems: string[] = []
  for (const [field, min, max] of integerFields) {
    const value = config[field]
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
      problems.push(`gossip.${field} must be an integer in ${min}..${max}, got ${JSON.stringify(value)}`)
    }
  }
  if (typeof config.tcpFallbackProbe !== 'boolean') {
    problems.push(`gossip.tcpFallbackProbe must be a boolean, got ${JSON.stringify(config.tcpFallbackProbe)}`)
  }
  if (problems.length === 0) {
    if (config.probeTimeoutMs >= config.probeIntervalMs) {
      problems.push(`gossip.probeTimeoutMs (${config.probeTimeoutMs}) must be less than gossip.probeIntervalMs (${config.probeIntervalMs}), leaving time for indirect probes`)
    }
    if (config.userPayloadBytesMax + 200 > config.packetBytesMax) {
      problems.push(`gossip.userPayloadBytesMax (${config.userPayloadBytesMax}) must leave 200 bytes of gossip.packetBytesMax (${config.packetBytesMax}) for headers`)
    }
    if (config.metaBytesMax + 400 > config.packetBytesMax) {
      problems.push(`gossip.metaBytesMax (${config.metaBytesMax}) must leave 400 bytes of gossip.packetBytesMax (${config.packetBytesMax}) for an alive message's other fields`)
    }
  }
  if (problems.length > 0) {
    throw new ControlPlaneError('ERR_INVALID_INPUT', `invalid gossip configuration: ${problems.join('; ')}`, { details: { problems } })
  }
  return Object.freeze({ ...config })
}
