/**
 * `npm run bench:gossip`: SWIM membership (src/gossip) on real UDP/TCP sockets on loopback, N
 * GossipNodes in this process on 127.0.91.1..N (kernel-picked ports), encrypted with the AES-GCM
 * keyring. For N = 50, 100, 200:
 *
 *  1. join: with LAN defaults (probe 1 s, gossip 200 ms x 3, retransmit mult 4, suspicion mult 4,
 *     max mult 6), N - 1 members form a cluster; then, per trial, a new member joins through a
 *     random member, and we time until every other member has emitted `join` for it;
 *  2. detect: per trial, a random member is stopped (sockets closed, no leave), and we time until
 *     every other member has emitted `failed` for it;
 *  3. false positives: a fresh cluster with every protocol timer divided by a fast-forward factor
 *     F, 10 % of outbound UDP dropped in the shell's send path, and no TCP fallback probe (on
 *     loopback TCP never loses, which would hide UDP loss entirely), runs for a fixed wall time;
 *     every `failed` event is false (nobody stops). One wall second is F protocol seconds: the
 *     protocol runs F times as many probe rounds, each with the same per-packet loss, so the rate
 *     per hour-equivalent is failures / (wall hours x F). This is conservative: delivery and
 *     event-loop delays do not shrink with F, so timing margins are F times tighter. F is chosen
 *     per N so that one process keeps up (measured: ~14 %, 23 %, 34 % of a core at 50/4x,
 *     100/2x, 200/1x); BENCH_FF overrides it.
 *
 * memberlist's expected figures, from its LAN defaults (same parameters as ours):
 *  - join: the joiner's push/pull informs one member; then push gossip with fan-out f = 3 every
 *    200 ms, each member sending an update L = 4 * ceil(log10(n + 1)) times (so for
 *    ceil(L / 3) rounds). The mean-field recurrence
 *      I(r+1) = I(r) + (n - I(r)) * (1 - (1 - f / (n - 1)) ^ A(r)),
 *    with A(r) the members informed in the last ceil(L / 3) rounds and I(0) = 2 (joiner and
 *    contact), runs until fewer than 0.5 members are uninformed; time = rounds x 200 ms + 100 ms
 *    (the first gossip tick is half an interval away on average). Piggybacking on probes is
 *    ignored (it adds about 2 sends per member per second against 15 by gossip).
 *  - detect: the victim is first probed after about one probe interval (each of n - 1 members
 *    reaches it at a uniformly random point of its round of n - 1 intervals), that probe fails at
 *    the end of its interval (another interval), the suspicion lasts the Lifeguard minimum
 *    4 * log10(n) * 1 s (the k = 2 confirmations arrive within it, as others probe the victim
 *    about once a second), and the last members hear of it within one dissemination time:
 *      expected = 2 * probe interval + 4 * max(1, log10(n)) * probe interval + join time above.
 *    Without confirmations the suspicion would last 6x longer (the max column). The simpler
 *    "probe interval + minimum suspicion" (first declaration anywhere) is printed too.
 *
 * Environment: BENCH_SIZES ("50,100,200"), BENCH_TRIALS (3), BENCH_FP_SECONDS (wall seconds of
 * the loss phase per size, 180), BENCH_FF (fast-forward factor for every size), BENCH_LOSS (0.1).
 * Prints one JSON line per size, then a table with ratios (ours / memberlist, lower is better).
 */
import { execFileSync } from 'node:child_process'
import { cpus } from 'node:os'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { pino } from 'pino'
import { lanSwimConfig, scaleSwimConfig, type SwimConfig } from '../src/gossip/core/config.js'
import { retransmitLimit } from '../src/gossip/core/swim.js'
import { suspicionMinTimeoutMs } from '../src/gossip/core/suspicion.js'
import type { MemberEvent } from '../src/gossip/core/types.js'
import { Keyring, generateGossipKey } from '../src/gossip/keyring.js'
import { GossipNode } from '../src/gossip/node.js'
import { SeededPrng } from '../src/util/prng.js'
import { waitFor } from '../src/util/wait-for.js'

const sizes = (process.env.BENCH_SIZES ?? '50,100,200').split(',').map(Number)
const trials = Number(process.env.BENCH_TRIALS ?? 3)
const fpSeconds = Number(process.env.BENCH_FP_SECONDS ?? 180)
const lossRate = Number(process.env.BENCH_LOSS ?? 0.1)
const defaultFastForward: Record<number, number> = { 50: 4, 100: 2, 200: 1 }
const HOST_PREFIX = '127.0.91.'
const logger = pino({ level: process.env.BENCH_LOG_LEVEL ?? 'silent' })
const key = Keyring.parseKey(generateGossipKey())
const prng = new SeededPrng(Number(process.env.BENCH_SEED ?? 5))

for (const size of sizes) {
  if (!(Number.isInteger(size) && size >= 4 && size + trials <= 250)) throw new Error(`BENCH_SIZES entries must be integers in 4..${250 - trials}, got ${size}`)
}

function commit (): string {
  try { return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim() } catch { return 'unknown' }
}

function median (values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)] ?? NaN
}

// ---------------------------------------------------------------------------------------------
// memberlist's expected figures

export function memberlistJoinMs (n: number, config: SwimConfig = lanSwimConfig): number {
  const fanout = config.gossipNodes
  const activeRounds = Math.ceil(retransmitLimit(config.retransmitMult, n) / fanout)
  const newly: number[] = [2]
  let informed = 2
  for (let round = 1; round < 1000; round += 1) {
    let active = 0
    for (let back = 1; back <= activeRounds && round - back >= 0; back += 1) active += newly[round - back]!
    const gained = (n - informed) * (1 - (1 - fanout / (n - 1)) ** active)
    informed += gained
    newly.push(gained)
    if (n - informed < 0.5) return round * config.gossipIntervalMs + config.gossipIntervalMs / 2
  }
  return Infinity
}

export function memberlistDetectMs (n: number, config: SwimConfig = lanSwimConfig): { expected: number, max: number, firstDeclaration: number } {
  const minMs = suspicionMinTimeoutMs(config.suspicionMult, n, config.probeIntervalMs)
  const probeMs = config.probeIntervalMs
  return {
    expected: 2 * probeMs + minMs + memberlistJoinMs(n, config),
    max: 2 * probeMs + config.suspicionMaxTimeoutMult * minMs + memberlistJoinMs(n, config),
    firstDeclaration: probeMs + minMs
  }
}

// ---------------------------------------------------------------------------------------------
// Clusters

interface Cluster {
  readonly nodes: GossipNode[]
  /** Per subject, per event type: observer -> first wall time (performance.now()). */
  readonly seen: Map<string, Map<string, number>>
  nextIndex: number
}

function recordEvents (cluster: Cluster, node: GossipNode): void {
  node.on('event', (event: MemberEvent) => {
    const key = `${event.type}:${event.member.name}`
    let observers = cluster.seen.get(key)
    if (observers === undefined) cluster.seen.set(key, observers = new Map())
    if (!observers.has(node.name)) observers.set(node.name, performance.now())
  })
}

async function startMember (cluster: Cluster, config: Partial<SwimConfig>, faults: { udpSendLossRate: number } | undefined): Promise<GossipNode> {
  cluster.nextIndex += 1
  const index = cluster.nextIndex
  const node = await GossipNode.start({
    name: `b${String(index).padStart(3, '0')}`,
    bindHost: `${HOST_PREFIX}${index}`,
    port: 0,
    meta: { role: 'client', dc: 'dc1', rpc: `${HOST_PREFIX}${index}:8300`, version: '0.1.0' },
    keyring: new Keyring([], key),
    logger,
    config,
    seed: prng.nextInt(2 ** 31),
    ...(faults === undefined ? {} : { faults: { ...faults, random: () => prng.nextFloat() } })
  })
  recordEvents(cluster, node)
  cluster.nodes.push(node)
  return node
}

async function formCluster (size: number, config: Partial<SwimConfig>, faults?: { udpSendLossRate: number }): Promise<Cluster> {
  const cluster: Cluster = { nodes: [], seen: new Map(), nextIndex: 0 }
  for (let i = 0; i < size; i += 1) await startMember(cluster, config, faults)
  const first = cluster.nodes[0]!
  for (const node of cluster.nodes.slice(1)) await node.join([first.address])
  await waitFor(() => cluster.nodes.every(node => node.members().filter(member => member.status === 'alive').length === size), {
    timeoutMs: 120_000, intervalMs: 100, what: `${size} members converged`
  })
  return cluster
}

async function stopAll (cluster: Cluster): Promise<void> {
  for (const node of cluster.nodes) await node.stop()
}

/** Wall ms from `startedAt` until every observer in `observers` emitted `type` about `subject`. */
async function timeUntilAll (cluster: Cluster, type: string, subject: string, observers: readonly GossipNode[], startedAt: number, timeoutMs: number): Promise<number> {
  const key = `${type}:${subject}`
  await waitFor(() => {
    const seen = cluster.seen.get(key)
    return seen !== undefined && observers.every(node => seen.has(node.name))
  }, { timeoutMs, intervalMs: 20, what: `every member's ${type} event about ${subject}` })
  const seen = cluster.seen.get(key)!
  return Math.max(...observers.map(node => seen.get(node.name)!)) - startedAt
}

async function joinAndDetect (size: number): Promise<{ joinMs: number[], detectMs: number[] }> {
  const cluster = await formCluster(size - 1, lanSwimConfig)
  const joinMs: number[] = []
  const detectMs: number[] = []
  try {
    for (let trial = 0; trial < trials; trial += 1) {
      const running = cluster.nodes.filter(node => node.member(node.name)?.status === 'alive' && !stopped.has(node))
      const contact = running[prng.nextInt(running.length)]!
      const joiner = await startMember(cluster, lanSwimConfig, undefined)
      const joinStarted = performance.now()
      await joiner.join([contact.address])
      joinMs.push(await timeUntilAll(cluster, 'join', joiner.name, running, joinStarted, 60_000))
      // Let the join settle before the next measurement.
      await waitFor(() => running.every(node => node.member(joiner.name)?.status === 'alive'), { timeoutMs: 30_000, what: 'the joiner alive everywhere' })
      const candidates = [...running, joiner].filter(node => node !== cluster.nodes[0])
      const victim = candidates[prng.nextInt(candidates.length)]!
      const observers = [...running, joiner].filter(node => node !== victim)
      const killStarted = performance.now()
      await victim.stop()
      stopped.add(victim)
      detectMs.push(await timeUntilAll(cluster, 'failed', victim.name, observers, killStarted, 120_000))
      process.stderr.write(`bench:gossip: N=${size} trial ${trial + 1}: join ${Math.round(joinMs.at(-1)!)} ms, detect ${Math.round(detectMs.at(-1)!)} ms\n`)
    }
  } finally {
    await stopAll(cluster)
  }
  return { joinMs, detectMs }
}

const stopped = new Set<GossipNode>()

async function falsePositives (size: number): Promise<Record<string, number>> {
  const factor = Number(process.env.BENCH_FF ?? defaultFastForward[size] ?? 1)
  const config: SwimConfig = { ...scaleSwimConfig(lanSwimConfig, factor), tcpFallbackProbe: false }
  const cluster = await formCluster(size, config, { udpSendLossRate: lossRate })
  const lag = monitorEventLoopDelay({ resolution: 5 })
  try {
    const before = countEvents(cluster)
    const cpuBefore = process.cpuUsage()
    const wallStarted = performance.now()
    lag.enable()
    await new Promise(resolve => setTimeout(resolve, fpSeconds * 1000))
    lag.disable()
    const wallMs = performance.now() - wallStarted
    const cpu = process.cpuUsage(cpuBefore)
    const after = countEvents(cluster)
    const hourEquivalents = (wallMs / 3600_000) * factor
    let refutations = 0
    let probes = 0
    let udpDropped = 0
    for (const node of cluster.nodes) {
      refutations += node.stats.core.refutations
      probes += node.stats.core.probesStarted
      udpDropped += node.stats.shell.udpDroppedByFault
    }
    return {
      fastForward: factor,
      hourEquivalents: Number(hourEquivalents.toFixed(3)),
      falsePositives: after.failed - before.failed,
      falsePositivesPerHour: Number(((after.failed - before.failed) / hourEquivalents).toFixed(3)),
      suspectEventsPerHour: Math.round((after.suspect - before.suspect) / hourEquivalents),
      refutations,
      probes,
      udpDropped,
      cpuPercent: Math.round(((cpu.user + cpu.system) / 1000 / wallMs) * 100),
      eventLoopLagP99Ms: Number((lag.percentile(99) / 1e6).toFixed(1)),
      eventLoopLagMaxMs: Number((lag.max / 1e6).toFixed(1))
    }
  } finally {
    await stopAll(cluster)
  }
}

function countEvents (cluster: Cluster): { failed: number, suspect: number } {
  let failed = 0
  let suspect = 0
  for (const [key, observers] of cluster.seen) {
    if (key.startsWith('failed:')) failed += observers.size
    if (key.startsWith('suspect:')) suspect += observers.size
  }
  return { failed, suspect }
}

// ---------------------------------------------------------------------------------------------

const rows: Array<Record<string, unknown>> = []
for (const size of sizes) {
  process.stderr.write(`bench:gossip: N=${size}: join and detection (${trials} trials, LAN defaults)...\n`)
  const { joinMs, detectMs } = await joinAndDetect(size)
  process.stderr.write(`bench:gossip: N=${size}: false positives under ${lossRate * 100} % loss for ${fpSeconds} s...\n`)
  const fp = await falsePositives(size)
  const memberlistJoin = memberlistJoinMs(size)
  const memberlistDetect = memberlistDetectMs(size)
  const row = {
    bench: 'gossip',
    members: size,
    trials,
    joinAllMsMedian: Math.round(median(joinMs)),
    joinAllMsMax: Math.round(Math.max(...joinMs)),
    detectAllMsMedian: Math.round(median(detectMs)),
    detectAllMsMax: Math.round(Math.max(...detectMs)),
    memberlistJoinMs: Math.round(memberlistJoin),
    memberlistDetectMs: Math.round(memberlistDetect.expected),
    memberlistDetectMaxMs: Math.round(memberlistDetect.max),
    memberlistFirstDeclarationMs: Math.round(memberlistDetect.firstDeclaration),
    joinRatio: Number((median(joinMs) / memberlistJoin).toFixed(2)),
    detectRatio: Number((median(detectMs) / memberlistDetect.expected).toFixed(2)),
    lossRate,
    ...fp,
    encrypted: true,
    commit: commit(),
    cpus: cpus().length,
    node: process.version
  }
  rows.push(row)
  console.log(JSON.stringify(row))
}

console.log('')
console.log('N     join all (med/max) ms   memberlist   ratio   detect all (med/max) ms   memberlist (max)   ratio   FP/hour-eq (hours, FF)   suspect events/h (all observers)')
for (const row of rows) {
  const cells = [
    String(row.members).padEnd(5),
    `${String(row.joinAllMsMedian)}/${String(row.joinAllMsMax)}`.padStart(22),
    String(row.memberlistJoinMs).padStart(12),
    String(row.joinRatio).padStart(7),
    `${String(row.detectAllMsMedian)}/${String(row.detectAllMsMax)}`.padStart(25),
    `${String(row.memberlistDetectMs)} (${String(row.memberlistDetectMaxMs)})`.padStart(18),
    String(row.detectRatio).padStart(7),
    `${String(row.falsePositivesPerHour)} (${String(row.hourEquivalents)}, ${String(row.fastForward)}x)`.padStart(24),
    String(row.suspectEventsPerHour).padStart(14)
  ]
  console.log(cells.join(' '))
}
