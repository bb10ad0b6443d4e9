/**
 * Long seeded runs of the SWIM core over the simulated network (gossip-cluster.ts), shared by the
 * command line (gossip-cli.ts) and the simulation test (gossip-swarm.sim.test.ts).
 *
 * One run, in phases, each with a budget of simulated time:
 *  1. boot `members` members, all joining through the first; they must converge;
 *  2. run `minutes` of simulated time under UDP loss, pausing a random member for 2 s every
 *     `pauseEveryMs` (SIGSTOP-like); no live member may be declared failed by anyone;
 *  3. stop one member; every other must see it dead within the detection budget;
 *  4. one member leaves; every other must see it left;
 *  5. one broadcast; every running member must deliver it exactly once.
 * Swarm mode (`swarmOptions(seed)`) draws the size, loss, delays and fallback setting from the
 * seed, as the VOPR's swarm testing does. A failure carries the seed and the trace tail.
 */
import { lanSwimConfig, type SwimConfig } from '../../src/gossip/core/config.js'
import { suspicionMinTimeoutMs } from '../../src/gossip/core/suspicion.js'
import { SeededPrng } from '../../src/util/prng.js'
import { GossipSim, bootCluster } from './gossip-cluster.js'

export interface GossipRunOptions {
  readonly seed: number
  readonly members: number
  readonly lossRate: number
  readonly minutes: number
  readonly tcpFallbackProbe: boolean
  readonly delayMsMax: number
  readonly pauseEveryMs: number
  readonly config?: SwimConfig
}

export interface GossipRunResult {
  readonly options: GossipRunOptions
  readonly ok: boolean
  readonly error: Error | null
  readonly convergeMs: number | null
  readonly detectMs: number | null
  readonly leaveMs: number | null
  readonly broadcastMs: number | null
  readonly falsePositives: number
  readonly suspicions: number
  readonly refutations: number
  readonly pauses: number
  readonly packets: number
  readonly steps: number
  readonly simulatedMs: number
  readonly traceDigest: string
  readonly traceTail: readonly string[]
}

/** Options drawn from a seed: 20..120 members, loss 0..15 %, delays up to 40 ms, fallback on or off. */
export function swarmOptions (seed: number, minutes = 10): GossipRunOptions {
  const prng = new SeededPrng(seed ^ 0x9e3779b9)
  return {
    seed,
    members: 20 + prng.nextInt(101),
    lossRate: [0, 0.01, 0.05, 0.1, 0.15][prng.nextInt(5)]!,
    minutes,
    tcpFallbackProbe: prng.nextInt(2) === 0,
    delayMsMax: [2, 10, 40][prng.nextInt(3)]!,
    pauseEveryMs: [60_000, 180_000][prng.nextInt(2)]!
  }
}

/** An upper bound for "every member sees a stopped member dead": see the header of the bench. */
export function detectionBudgetMs (config: SwimConfig, members: number): number {
  return 3 * config.probeIntervalMs + suspicionMinTimeoutMs(config.suspicionMult, members, config.probeIntervalMs) * config.suspicionMaxTimeoutMult
}

export function runGossip (options: GossipRunOptions): GossipRunResult {
  const config = { ...(options.config ?? lanSwimConfig), tcpFallbackProbe: options.tcpFallbackProbe }
  const sim = new GossipSim({ seed: options.seed, config, lossRate: options.lossRate, delayMsMax: options.delayMsMax, traceLinesMax: 400 })
  const chaos = new SeededPrng(options.seed ^ 0x5bd1e995)
  const measured = { convergeMs: null as number | null, detectMs: null as number | null, leaveMs: null as number | null, broadcastMs: null as number | null, pauses: 0 }
  let error: Error | null = null
  try {
    bootCluster(sim, options.members)
    measured.convergeMs = sim.runUntil(() => sim.converged(), { timeoutMs: 300_000, checkEveryMs: 100 })
    if (measured.convergeMs === null) throw new Error(`phase 1: ${options.members} members did not converge within 300 s`)
    measured.pauses = runSteady(sim, chaos, options)
    if (sim.falsePositives.length > 0) throw new Error(`phase 2: ${sim.falsePositives.length} false failures, first ${JSON.stringify(sim.falsePositives[0])}`)
    if (sim.runUntil(() => sim.converged(), { timeoutMs: 300_000, checkEveryMs: 100 }) === null) throw new Error('phase 2: the cluster did not reconverge after the steady phase')
    const victim = sim.members[1 + chaos.nextInt(options.members - 1)]!.name
    sim.stop(victim)
    measured.detectMs = sim.runUntil(() => sim.allSee(victim, ['dead']), { timeoutMs: detectionBudgetMs(config, options.members), checkEveryMs: 100 })
    if (measured.detectMs === null) throw new Error(`phase 3: ${victim} was not seen dead by all within ${detectionBudgetMs(config, options.members)} ms`)
    const leaver = sim.runningMembers().filter(member => member.name !== sim.members[0]!.name)[0]!.name
    sim.leave(leaver)
    measured.leaveMs = sim.runUntil(() => sim.allSee(leaver, ['left']), { timeoutMs: 120_000, checkEveryMs: 100 })
    if (measured.leaveMs === null) throw new Error(`phase 4: ${leaver}'s leave did not reach every member within 120 s`)
    measured.broadcastMs = runBroadcast(sim)
    if (sim.falsePositives.length > 0) throw new Error(`${sim.falsePositives.length} false failures, first ${JSON.stringify(sim.falsePositives[0])}`)
  } catch (err) {
    error = err as Error
  }
  let suspicions = 0
  let refutations = 0
  for (const member of sim.members) {
    suspicions += member.core.stats.suspicionsStarted
    refutations += member.core.stats.refutations
  }
  return {
    options, ok: error === null, error, ...measured, falsePositives: sim.falsePositives.length, suspicions, refutations,
    packets: sim.packetsSent, steps: sim.steps, simulatedMs: sim.nowMs, traceDigest: sim.traceDigest(), traceTail: sim.traceTail(300)
  }
}

/** Phase 2: loss for the whole phase, and a 2 s pause of a random member every pauseEveryMs. */
function runSteady (sim: GossipSim, chaos: SeededPrng, options: GossipRunOptions): number {
  const endMs = sim.nowMs + options.minutes * 60_000
  let pauses = 0
  while (sim.nowMs < endMs) {
    sim.runUntilTime(Math.min(endMs, sim.nowMs + options.pauseEveryMs))
    if (sim.nowMs >= endMs) break
    const running = sim.runningMembers()
    sim.pause(running[chaos.nextInt(running.length)]!.name, 2000)
    pauses += 1
  }
  // Let the last pause end and its refutation spread before the next phase.
  sim.runFor(30_000)
  return pauses
}

function runBroadcast (sim: GossipSim): number {
  const origin = sim.runningMembers()[0]!
  const payload = new TextEncoder().encode(`hello from ${origin.name} at ${sim.nowMs}`)
  const before = new Map(sim.members.map(member => [member.name, member.deliveries.length]))
  sim.broadcast(origin.name, payload)
  const delivered = sim.runUntil(() => sim.runningMembers().every(member => member.deliveries.length > before.get(member.name)!), { timeoutMs: 120_000, checkEveryMs: 50 })
  if (delivered === null) throw new Error('phase 5: the broadcast did not reach every member within 120 s')
  sim.runFor(30_000)
  for (const member of sim.runningMembers()) {
    const count = member.deliveries.length - before.get(member.name)!
    if (count !== 1) throw new Error(`phase 5: ${member.name} delivered the broadcast ${count} times`)
  }
  return delivered
}

export function formatRun (result: GossipRunResult): string {
  const { options } = result
  const head = `seed ${options.seed}: ${options.members} members, loss ${options.lossRate}, ${options.minutes} min, fallback ${options.tcpFallbackProbe ? 'on' : 'off'}, delay <= ${options.delayMsMax} ms`
  const figures = `converge ${result.convergeMs} ms, detect ${result.detectMs} ms, leave ${result.leaveMs} ms, broadcast ${result.broadcastMs} ms; ` +
    `${result.falsePositives} false failures, ${result.suspicions} suspicion events, ${result.refutations} refutations, ${result.pauses} pauses; ` +
    `${result.packets} packets, ${result.steps} steps, trace ${result.traceDigest.slice(0, 16)}`
  return `${head}\n  ${result.ok ? 'ok' : `FAILED: ${result.error?.message ?? ''}`}: ${figures}`
}

export function replayCommand (options: GossipRunOptions): string {
  return `node dist/test/sim/gossip-cli.js --seed ${options.seed} --members ${options.members} --loss ${options.lossRate} --minutes ${options.minutes}` +
    ` --delay-max ${options.delayMsMax} --pause-every ${options.pauseEveryMs / 1000}${options.tcpFallbackProbe ? '' : ' --no-fallback'}`
}
