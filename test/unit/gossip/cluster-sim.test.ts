/**
 * Whole clusters of SWIM cores over the deterministic simulated network (test/sim/gossip-cluster.ts):
 * joining and converging at 50 and 200 members, detecting a stopped member within a bound,
 * staying free of false failures under 10 % loss for a simulated hour, refuting after a 2 s pause,
 * healing partitions, rejoining after a restart, leaving, broadcasting exactly once, and shrugging
 * off replayed, malformed, truncated and oversized packets. No wall clock: every test is a seed.
 *
 * Bounds, with memberlist's LAN defaults (probe 1 s, suspicion mult 4, max mult 6):
 * - detection: first probe of the victim within ~1 probe interval, its failed window 1 interval,
 *   then the minimum suspicion timeout 4 * log10(n) s once 2 confirmations arrived, plus
 *   dissemination; the tests allow 2 intervals + the minimum + 3 s.
 */
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { encodeMessage, encodePacket } from '../../../src/gossip/core/codec.js'
import { lanSwimConfig } from '../../../src/gossip/core/config.js'
import { suspicionMinTimeoutMs } from '../../../src/gossip/core/suspicion.js'
import type { OutboundPacket } from '../../../src/gossip/core/types.js'
import { GossipSim, bootCluster } from '../../sim/gossip-cluster.js'

function detectionBoundMs (members: number): number {
  return 2 * lanSwimConfig.probeIntervalMs + suspicionMinTimeoutMs(lanSwimConfig.suspicionMult, members, lanSwimConfig.probeIntervalMs) + 3000
}

function withTrace<T> (sim: GossipSim, run: () => T): T {
  try {
    return run()
  } catch (err) {
    throw new Error(`${(err as Error).message}\nseed ${sim.seed}\n${sim.describe().split('\n').slice(0, 12).join('\n')}\n--- trace tail ---\n${sim.traceTail(60).join('\n')}`, { cause: err })
  }
}

function converge (sim: GossipSim, timeoutMs: number): number {
  const tookMs = sim.runUntil(() => sim.converged(), { timeoutMs, checkEveryMs: 100 })
  assert.ok(tookMs !== null, `did not converge within ${timeoutMs} ms of simulated time`)
  return tookMs
}

describe('joining and converging', () => {
  for (const members of [50, 200]) {
    test(`${members} members joining through one seed converge within ${members === 50 ? 10 : 20} simulated seconds`, () => {
      const sim = new GossipSim({ seed: members })
      withTrace(sim, () => {
        bootCluster(sim, members)
        converge(sim, members === 50 ? 10_000 : 20_000)
        assert.equal(sim.falsePositives.length, 0)
        // Everyone also knows everyone's meta.
        const last = sim.members.at(-1)!
        assert.deepEqual(sim.members[0]!.core.member(last.name)?.meta, { role: 'client', dc: 'dc1' })
      })
    })
  }

  test('members joining one after another through different seeds converge', () => {
    const sim = new GossipSim({ seed: 11, lossRate: 0.02 })
    withTrace(sim, () => {
      const first = sim.addMember()
      for (let i = 1; i < 60; i += 1) {
        const member = sim.addMember()
        const seeds = sim.members.slice(0, i)
        sim.join(member.name, [seeds[(i * 7) % seeds.length]!.name, first.name])
        sim.runFor(200)
      }
      converge(sim, 120_000)
    })
  })
})

describe('failure detection', () => {
  for (const [members, seed] of [[50, 1], [50, 2], [200, 3]] as const) {
    test(`a stopped member is seen dead by all ${members - 1} others within 2 probe intervals + the minimum suspicion + 3 s (seed ${seed})`, () => {
      const sim = new GossipSim({ seed })
      withTrace(sim, () => {
        bootCluster(sim, members)
        converge(sim, 30_000)
        sim.runFor(5000)
        const victim = sim.members[7]!.name
        sim.stop(victim)
        const boundMs = detectionBoundMs(members)
        const tookMs = sim.runUntil(() => sim.allSee(victim, ['dead']), { timeoutMs: boundMs, checkEveryMs: 50 })
        assert.ok(tookMs !== null, `not seen dead by all within ${boundMs} ms`)
        assert.equal(sim.falsePositives.length, 0)
      })
    })
  }

  test('under 10 % packet loss, no live member of 50 is declared dead in a simulated hour', () => {
    const sim = new GossipSim({ seed: 7, lossRate: 0.1 })
    withTrace(sim, () => {
      bootCluster(sim, 50)
      converge(sim, 120_000)
      sim.runFor(3600_000)
      assert.deepEqual(sim.falsePositives, [])
      let suspicions = 0
      for (const member of sim.members) suspicions += member.core.stats.suspicionsStarted
      assert.ok(suspicions > 0, 'the loss did cause suspicions, which were all refuted')
      assert.ok(sim.packetsLost > 0.09 * sim.packetsSent)
      converge(sim, 1000)
    })
  })

  test('under 10 % loss without the TCP fallback probe, 50 members still have no false failures for 20 minutes', () => {
    const sim = new GossipSim({ seed: 3, lossRate: 0.1, config: { ...lanSwimConfig, tcpFallbackProbe: false } })
    withTrace(sim, () => {
      bootCluster(sim, 50)
      converge(sim, 120_000)
      sim.runFor(1200_000)
      assert.deepEqual(sim.falsePositives, [])
    })
  })

  for (const lossRate of [0, 0.1]) {
    test(`a member paused for 2 s refutes and is not declared dead (loss ${lossRate})`, () => {
      const sim = new GossipSim({ seed: 21, lossRate })
      withTrace(sim, () => {
        bootCluster(sim, 50)
        converge(sim, 120_000)
        let pausedSuspected = 0
        for (let round = 0; round < 5; round += 1) {
          const victim = sim.members[10 + round]!
          sim.pause(victim.name, 2000)
          sim.runFor(2000)
          pausedSuspected += sim.members.filter(member => member.core.member(victim.name)?.status === 'suspect').length
          sim.runFor(20_000)
          assert.ok(sim.allSee(victim.name, ['alive']), `${victim.name} is alive everywhere 20 s after resuming`)
        }
        assert.ok(pausedSuspected > 0, 'pauses did cause suspicion')
        assert.deepEqual(sim.falsePositives, [])
      })
    })
  }

  test('a member paused for 60 s is declared dead, then refutes and is alive again everywhere', () => {
    const sim = new GossipSim({ seed: 5 })
    withTrace(sim, () => {
      bootCluster(sim, 30)
      converge(sim, 30_000)
      const victim = sim.members[4]!
      sim.pause(victim.name, 60_000)
      sim.runFor(60_000)
      assert.ok(sim.allSee(victim.name, ['dead']))
      sim.falsePositives.length = 0
      converge(sim, 90_000)
      assert.ok(victim.core.incarnation > 0)
    })
  })
})

describe('partitions, restarts and leaving', () => {
  test('a 30/20 partition fails each side for the other; after healing everyone is alive again', () => {
    const sim = new GossipSim({ seed: 8 })
    withTrace(sim, () => {
      const members = bootCluster(sim, 50)
      converge(sim, 30_000)
      const left = members.slice(0, 30).map(member => member.name)
      const right = members.slice(30).map(member => member.name)
      sim.partition([left, right])
      sim.runFor(90_000)
      assert.ok(sim.allSee(right[0]!, ['dead']) === false, 'the right side still sees itself')
      assert.equal(sim.statusSeenBy(left[0]!, right[0]!), 'dead')
      assert.equal(sim.statusSeenBy(right[0]!, left[0]!), 'dead')
      sim.heal()
      sim.falsePositives.length = 0
      converge(sim, 180_000)
    })
  })

  test('a restarted member (incarnation 0 again) rejoins above its old incarnation', () => {
    const sim = new GossipSim({ seed: 9 })
    withTrace(sim, () => {
      const members = bootCluster(sim, 20)
      converge(sim, 30_000)
      const victim = members[5]!.name
      sim.pause(victim, 2000)
      sim.runFor(30_000)
      sim.stop(victim)
      sim.runUntil(() => sim.allSee(victim, ['dead']), { timeoutMs: 60_000 })
      const deadIncarnation = sim.member(members[0]!.name).core.member(victim)!.incarnation
      sim.restart(victim, [members[0]!.name])
      converge(sim, 30_000)
      assert.ok(sim.member(members[0]!.name).core.member(victim)!.incarnation > deadIncarnation)
    })
  })

  test('a member that leaves is seen as left by all, and failed by none', () => {
    const sim = new GossipSim({ seed: 10, lossRate: 0.05 })
    withTrace(sim, () => {
      const members = bootCluster(sim, 50)
      converge(sim, 60_000)
      const failedAboutLeaver: string[] = []
      const leaver = members[3]!.name
      sim.leave(leaver)
      const tookMs = sim.runUntil(() => sim.allSee(leaver, ['left']), { timeoutMs: 10_000 })
      assert.ok(tookMs !== null)
      assert.equal(sim.member(leaver).state, 'stopped', 'the leaver departed once its leave was disseminated')
      sim.runFor(60_000)
      for (const member of sim.runningMembers()) {
        if (member.core.member(leaver)?.status !== 'left') failedAboutLeaver.push(member.name)
      }
      assert.deepEqual(failedAboutLeaver, [])
    })
  })
})

describe('user broadcasts and metadata', () => {
  test('a broadcast is delivered exactly once to each of 50 members under 10 % loss', () => {
    const sim = new GossipSim({ seed: 12, lossRate: 0.1, duplicateRate: 0.05 })
    withTrace(sim, () => {
      bootCluster(sim, 50)
      converge(sim, 120_000)
      for (let i = 0; i < 5; i += 1) sim.broadcast(sim.members[i]!.name, new Uint8Array([i]))
      const tookMs = sim.runUntil(() => sim.members.every(member => member.deliveries.length === 5), { timeoutMs: 300_000 })
      assert.ok(tookMs !== null, `not every member got 5 broadcasts: ${sim.members.map(member => member.deliveries.length).join(',')}`)
      sim.runFor(120_000)
      for (const member of sim.members) {
        assert.deepEqual(member.deliveries.map(delivery => delivery.payload[0]).sort(), [0, 1, 2, 3, 4], member.name)
      }
    })
  })

  test('a meta update reaches every member', () => {
    const sim = new GossipSim({ seed: 13 })
    withTrace(sim, () => {
      bootCluster(sim, 50)
      converge(sim, 30_000)
      sim.updateMeta('m0002', { role: 'server', dc: 'dc1', rpc: '10.0.0.2:8300' })
      const tookMs = sim.runUntil(() => sim.runningMembers().every(member => member.core.member('m0002')?.meta.role === 'server'), { timeoutMs: 10_000 })
      assert.ok(tookMs !== null)
    })
  })
})

describe('hostile input in a running cluster', () => {
  test('replayed old packets do not resurrect a dead member; garbage, truncated and oversized packets are counted and dropped', () => {
    const captured: Array<{ from: string, packet: OutboundPacket }> = []
    const sim = new GossipSim({ seed: 14, tap: (from, packet) => { if (from === 'm0009' && captured.length < 400) captured.push({ from, packet }) } })
    withTrace(sim, () => {
      bootCluster(sim, 20)
      converge(sim, 30_000)
      sim.runFor(20_000)
      assert.ok(captured.length > 20, `captured ${captured.length} packets`)
      sim.stop('m0009')
      sim.runUntil(() => sim.allSee('m0009', ['dead']), { timeoutMs: 60_000 })
      const target = sim.member('m0001')
      const droppedBefore = { ...target.core.stats.dropped }
      for (const { packet } of captured) {
        if (packet.reliable) target.core.receiveStream('10.0.0.9:50000', packet.bytes, sim.nowMs)
        else sim.injectPacket('m0001', sim.member('m0009').address, packet.bytes)
        const bytes = packet.bytes
        sim.injectPacket('m0001', '10.6.6.6:1', bytes.subarray(0, Math.max(0, bytes.length - 3)))
        const flipped = Uint8Array.from(bytes)
        flipped[1] = 9
        sim.injectPacket('m0001', '10.6.6.6:1', flipped)
      }
      sim.injectPacket('m0001', '10.6.6.6:1', new Uint8Array(5000).fill(0x57))
      sim.injectPacket('m0001', '10.6.6.6:1', encodePacket([encodeMessage({ kind: 'alive', incarnation: 0, name: 'm0009', address: sim.member('m0009').address, meta: {} }, 512)]))
      assert.equal(target.core.member('m0009')?.status, 'dead', 'replays did not resurrect it')
      const dropped = target.core.stats.dropped
      assert.ok(dropped.truncated + dropped.malformed > droppedBefore.truncated + droppedBefore.malformed)
      assert.equal(dropped.unknownVersion - droppedBefore.unknownVersion, captured.length)
      assert.equal(dropped.oversized - droppedBefore.oversized, 1)
      sim.runFor(60_000)
      assert.ok(sim.allSee('m0009', ['dead']))
      assert.deepEqual(sim.falsePositives, [])
      converge(sim, 1000)
    })
  })
})

describe('determinism', () => {
  test('one seed, one trace: two runs give the same digest', () => {
    const run = (): string => {
      const sim = new GossipSim({ seed: 99, lossRate: 0.1, duplicateRate: 0.02 })
      bootCluster(sim, 30)
      sim.runFor(60_000)
      sim.stop('m0003')
      sim.pause('m0004', 2000)
      sim.runFor(60_000)
      return sim.traceDigest()
    }
    assert.equal(run(), run())
  })
})
