/**
 * The SWIM core (src/gossip/core/swim.ts) one member at a time, in the shape of etcd's paper
 * tests: build a core in a known state, feed it packets and ticks, check what it sends and which
 * events it emits. Section numbers cite the SWIM paper (Das et al. 2002) and Lifeguard (Dadgar
 * et al. 2018).
 */
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { decodePacket, encodeMessage, encodePacket, type Message } from '../../../src/gossip/core/codec.js'
import { lanSwimConfig, type SwimConfig } from '../../../src/gossip/core/config.js'
import { SwimCore } from '../../../src/gossip/core/swim.js'
import type { GossipReady, MemberEvent, MemberMeta, OutboundPacket } from '../../../src/gossip/core/types.js'
import { SeededPrng } from '../../../src/util/prng.js'

const streamLimits = { bytesMax: 1 << 22, metaBytesMax: 512, userPayloadBytesMax: 1024, membersMax: 10_000 }
const SELF = 'n1'
const SELF_ADDRESS = '10.0.0.1:8301'

function newCore (options: { config?: Partial<SwimConfig>, seed?: number, meta?: MemberMeta } = {}): SwimCore {
  return new SwimCore({
    name: SELF, address: SELF_ADDRESS, meta: options.meta ?? { role: 'client' }, config: { ...lanSwimConfig, ...options.config }, prng: new SeededPrng(options.seed ?? 1), nowMs: 0
  })
}

function packet (...messages: Message[]): Uint8Array {
  return encodePacket(messages.map(message => encodeMessage(message, 512)))
}

function addressOf (name: string): string {
  return `10.0.0.${name.slice(1)}:8301`
}

function alive (name: string, incarnation = 0, meta: MemberMeta = {}): Message {
  return { kind: 'alive', incarnation, name, address: addressOf(name), meta }
}

/** Everything the core sent, decoded, plus its events. */
function drain (core: SwimCore): { sent: Array<{ to: string, reliable: boolean, purpose: string, messages: Message[] }>, events: MemberEvent[], ready: GossipReady } {
  const ready = core.takeReady()
  const sent = ready.packets.map((out: OutboundPacket) => ({ to: out.to, reliable: out.reliable, purpose: out.purpose, messages: decodePacket(out.bytes, streamLimits) }))
  return { sent, events: [...ready.events], ready }
}

function messagesOf (sent: ReturnType<typeof drain>['sent'], kind: Message['kind']): Message[] {
  return sent.flatMap(out => out.messages.filter(message => message.kind === kind))
}

/** A core that knows n2..n{count} as alive, with its outputs drained. */
function coreWithMembers (count: number, options: Parameters<typeof newCore>[0] = {}): SwimCore {
  const core = newCore(options)
  for (let i = 2; i <= count; i += 1) core.receivePacket(addressOf(`n${i}`), packet(alive(`n${i}`)), 0)
  drain(core)
  return core
}

/** Ticks until the core starts a probe; returns the ping it sent. */
function nextProbe (core: SwimCore, fromMs: number): { ping: Extract<Message, { kind: 'ping' }>, atMs: number, to: string } {
  for (let nowMs = fromMs; nowMs < fromMs + 10_000; nowMs += 10) {
    core.tick(nowMs)
    const { sent } = drain(core)
    const probe = sent.find(out => out.purpose === 'probe')
    if (probe !== undefined) {
      const ping = probe.messages.find(message => message.kind === 'ping')
      assert.ok(ping?.kind === 'ping')
      return { ping, atMs: nowMs, to: probe.to }
    }
  }
  throw new Error('no probe within 10 s')
}

describe('§3.1 failure detection: probes', () => {
  test('a ping for this member is answered with an ack to its source; a misdirected one is counted and ignored', () => {
    const core = newCore()
    core.receivePacket('10.0.0.2:8301', packet({ kind: 'ping', seq: 42, target: SELF, sourceName: 'n2', sourceAddress: '10.0.0.2:8301' }), 5)
    const { sent } = drain(core)
    assert.equal(sent.length, 1)
    assert.equal(sent[0]!.to, '10.0.0.2:8301')
    assert.deepEqual(sent[0]!.messages[0], { kind: 'ack', seq: 42 })
    core.receivePacket('10.0.0.2:8301', packet({ kind: 'ping', seq: 43, target: 'someone-else', sourceName: 'n2', sourceAddress: '10.0.0.2:8301' }), 6)
    assert.equal(drain(core).sent.length, 0)
    assert.equal(core.stats.misdirectedPings, 1)
  })

  test('an acked probe leaves the target alive and raises no suspicion', () => {
    const core = coreWithMembers(5)
    const { ping, atMs } = nextProbe(core, 0)
    core.receivePacket(addressOf(ping.target), packet({ kind: 'ack', seq: ping.seq }), atMs + 3)
    core.tick(atMs + 2000)
    assert.equal(core.member(ping.target)?.status, 'alive')
    assert.equal(core.stats.probesDirectFailed, 0)
  })

  test('probes go round-robin: every member is probed once before any twice', () => {
    const core = coreWithMembers(8)
    const seen: string[] = []
    let nowMs = 0
    for (let round = 0; round < 7; round += 1) {
      const { ping, atMs } = nextProbe(core, nowMs)
      core.receivePacket(addressOf(ping.target), packet({ kind: 'ack', seq: ping.seq }), atMs + 1)
      seen.push(ping.target)
      nowMs = atMs + 10
    }
    assert.deepEqual([...seen].sort(), ['n2', 'n3', 'n4', 'n5', 'n6', 'n7', 'n8'])
  })

  test('no direct ack within the probe timeout: ping-req to k members and a TCP ping; an indirect ack clears it', () => {
    const core = coreWithMembers(6)
    const { ping, atMs } = nextProbe(core, 0)
    core.tick(atMs + lanSwimConfig.probeTimeoutMs)
    const { sent } = drain(core)
    const requests = sent.filter(out => out.purpose === 'pingReq')
    assert.equal(requests.length, 3, 'indirectChecks = 3')
    assert.ok(requests.every(out => out.to !== addressOf(ping.target)), 'relays exclude the target')
    const request = requests[0]!.messages[0]!
    assert.ok(request.kind === 'pingReq' && request.target === ping.target && request.seq === ping.seq && request.wantNack)
    const fallback = sent.find(out => out.purpose === 'fallbackPing')
    assert.ok(fallback?.reliable === true && fallback.to === addressOf(ping.target))
    core.receivePacket(requests[0]!.to, packet({ kind: 'ack', seq: ping.seq }), atMs + 600)
    core.tick(atMs + 5000)
    assert.equal(core.member(ping.target)?.status, 'alive')
    assert.equal(core.stats.probesFailed, 0)
  })

  test('no ack by the end of the interval: the target is suspected, then declared dead at the timeout (§4.2)', () => {
    const core = coreWithMembers(3)
    const { ping, atMs } = nextProbe(core, 0)
    core.tick(atMs + 500)
    core.tick(atMs + 1000)
    const { events, sent } = drain(core)
    assert.deepEqual(events.map(event => [event.type, event.member.name]), [['suspect', ping.target]])
    assert.ok(messagesOf(sent, 'suspect').length === 0 || messagesOf(sent, 'suspect').every(message => message.kind === 'suspect' && message.from === SELF))
    // 3 members: k = 0 confirmations wanted, so the minimum timeout (4 * 1 * 1 s) applies at once.
    let deadAtMs = 0
    for (let nowMs = atMs + 1010; deadAtMs === 0 && nowMs < atMs + 10_000; nowMs += 10) {
      core.tick(nowMs)
      if (core.member(ping.target)?.status === 'dead') deadAtMs = nowMs
    }
    assert.equal(deadAtMs, atMs + 1000 + 4000)
    assert.deepEqual(drain(core).events.filter(event => event.member.name === ping.target).map(event => event.type), ['failed'])
    assert.equal(core.stats.membersDeclaredDead, 1)
  })

  test('Lifeguard: a failed probe whose relays sent no nack raises local health, stretching the next interval', () => {
    const core = coreWithMembers(6)
    const { atMs } = nextProbe(core, 0)
    core.tick(atMs + 500)
    drain(core)
    core.tick(atMs + 1000)
    assert.equal(core.healthScore, 3, 'three expected nacks missing')
    // The window's end starts the next probe in the same tick; its interval is stretched x4.
    const next = drain(core).sent.find(out => out.purpose === 'probe')?.messages.find(message => message.kind === 'ping')
    assert.ok(next?.kind === 'ping')
    core.receivePacket(addressOf(next.target), packet({ kind: 'ack', seq: next.seq }), atMs + 1001)
    assert.equal(core.healthScore, 2, 'a successful probe lowers it by one')
    assert.equal(core.nextDeadlineMs(), atMs + 1000 + 4 * lanSwimConfig.probeIntervalMs, 'interval x (score + 1), score 3 at the probe start')
  })
})

describe('§3.2 ping-req relays', () => {
  test('a relay pings the target with its own seq and forwards the ack with the requester seq', () => {
    const core = newCore()
    core.receivePacket('10.0.0.2:8301', packet({ kind: 'pingReq', seq: 77, target: 'n3', targetAddress: '10.0.0.3:8301', wantNack: true, sourceName: 'n2', sourceAddress: '10.0.0.2:8301' }), 10)
    const [relayPing] = drain(core).sent
    assert.ok(relayPing !== undefined && relayPing.to === '10.0.0.3:8301' && relayPing.purpose === 'relayPing')
    const ping = relayPing.messages[0]!
    assert.ok(ping.kind === 'ping' && ping.target === 'n3' && ping.sourceAddress === SELF_ADDRESS)
    core.receivePacket('10.0.0.3:8301', packet({ kind: 'ack', seq: ping.seq }), 20)
    const [forwarded] = drain(core).sent
    assert.ok(forwarded !== undefined && forwarded.to === '10.0.0.2:8301')
    assert.deepEqual(forwarded.messages[0], { kind: 'ack', seq: 77 })
  })

  test('no ack from the target within the probe timeout: a nack to the requester', () => {
    const core = newCore()
    core.receivePacket('10.0.0.2:8301', packet({ kind: 'pingReq', seq: 78, target: 'n3', targetAddress: '10.0.0.3:8301', wantNack: true, sourceName: 'n2', sourceAddress: '10.0.0.2:8301' }), 10)
    drain(core)
    core.tick(10 + lanSwimConfig.probeTimeoutMs)
    const { sent } = drain(core)
    assert.deepEqual(messagesOf(sent, 'nack'), [{ kind: 'nack', seq: 78 }])
  })

  test('relays are bounded: beyond relaysPendingMax ping-reqs are refused and counted', () => {
    const core = newCore({ config: { relaysPendingMax: 2 } })
    for (let seq = 1; seq <= 3; seq += 1) {
      core.receivePacket('10.0.0.2:8301', packet({ kind: 'pingReq', seq, target: 'n3', targetAddress: '10.0.0.3:8301', wantNack: false, sourceName: 'n2', sourceAddress: '10.0.0.2:8301' }), 1)
    }
    assert.equal(drain(core).sent.length, 2)
    assert.equal(core.stats.relaysRefused, 1)
  })
})

describe('§4.2 suspicion and incarnations', () => {
  test('a member that hears it is suspected refutes with a higher incarnation, and its health worsens', () => {
    const core = coreWithMembers(3)
    core.receivePacket(addressOf('n2'), packet({ kind: 'suspect', incarnation: 0, name: SELF, from: 'n2' }), 10)
    assert.equal(core.incarnation, 1)
    assert.equal(core.healthScore, 1)
    core.receivePacket(addressOf('n2'), packet({ kind: 'dead', incarnation: 5, name: SELF, from: 'n2' }), 20)
    assert.equal(core.incarnation, 6, 'refutes above the accusation')
    core.receivePacket(addressOf('n2'), packet({ kind: 'ping', seq: 1, target: SELF, sourceName: 'n2', sourceAddress: addressOf('n2') }), 30)
    const aliveAboutSelf = messagesOf(drain(core).sent, 'alive').filter(message => message.kind === 'alive' && message.name === SELF)
    assert.deepEqual(aliveAboutSelf.map(message => message.kind === 'alive' && message.incarnation), [6], 'the refutation rides on the ack')
    assert.equal(core.member(SELF)?.status, 'alive')
  })

  test('confirmations from distinct members shorten the suspicion timeout (Lifeguard §IV-B)', () => {
    const core = coreWithMembers(50)
    core.receivePacket(addressOf('n2'), packet({ kind: 'suspect', incarnation: 0, name: 'n9', from: 'n2' }), 1000)
    const unconfirmed = core.nextDeadlineMs()
    core.receivePacket(addressOf('n3'), packet({ kind: 'suspect', incarnation: 0, name: 'n9', from: 'n3' }), 1001)
    core.receivePacket(addressOf('n4'), packet({ kind: 'suspect', incarnation: 0, name: 'n9', from: 'n4' }), 1002)
    assert.equal(core.stats.suspicionConfirmations, 2)
    assert.equal(core.nextDeadlineMs() <= 1000 + 6795, true, `the deadline fell from ${unconfirmed} to the minimum`)
    drain(core)
    // At 3, 2 and 1 probe timeouts before the deadline, n9 gets a verification ping, buddy suspicion first.
    const deadlineMs = 1000 + 6795
    const verifications: string[] = []
    for (let nowMs = 1010; nowMs < deadlineMs; nowMs += 10) {
      core.tick(nowMs)
      for (const out of drain(core).sent.filter(sent => sent.purpose === 'verify')) {
        assert.equal(out.to, addressOf('n9'))
        assert.deepEqual(out.messages.slice(0, 2).map(message => message.kind), ['suspect', 'ping'])
        verifications.push(String(deadlineMs - nowMs))
      }
    }
    assert.deepEqual(verifications, ['1495', '995', '495'])
    assert.equal(core.member('n9')?.status, 'suspect')
    core.tick(deadlineMs)
    assert.equal(core.member('n9')?.status, 'dead', 'no answer: declared dead at the minimum, not later')
    assert.equal(core.stats.verificationPings, 3)
  })

  test('a verification ping whose ack carries the refutation keeps the suspect alive', () => {
    const core = coreWithMembers(50)
    core.receivePacket(addressOf('n2'), packet({ kind: 'suspect', incarnation: 0, name: 'n9', from: 'n2' }), 1000)
    core.receivePacket(addressOf('n3'), packet({ kind: 'suspect', incarnation: 0, name: 'n9', from: 'n3' }), 1001)
    core.receivePacket(addressOf('n4'), packet({ kind: 'suspect', incarnation: 0, name: 'n9', from: 'n4' }), 1002)
    drain(core)
    core.tick(1000 + 6795 - 1500)
    const ping = drain(core).sent.find(out => out.purpose === 'verify')?.messages.find(message => message.kind === 'ping')
    assert.ok(ping?.kind === 'ping')
    core.receivePacket(addressOf('n9'), packet({ kind: 'ack', seq: ping.seq }, alive('n9', 1)), 1000 + 6795 - 1490)
    core.tick(1000 + 20_000)
    assert.equal(core.member('n9')?.status, 'alive')
    assert.deepEqual(drain(core).events.map(event => event.type), ['alive'])
  })

  test('the accused side: a stale accusation with a ping puts the current alive on the ack', () => {
    const core = coreWithMembers(3)
    core.receivePacket(addressOf('n2'), packet({ kind: 'suspect', incarnation: 0, name: SELF, from: 'n2' }), 10)
    for (let nowMs = 20; nowMs < 5000; nowMs += 100) { core.tick(nowMs); drain(core) }
    core.receivePacket(addressOf('n3'), packet({ kind: 'suspect', incarnation: 0, name: SELF, from: 'n3' }, { kind: 'ping', seq: 5, target: SELF, sourceName: 'n3', sourceAddress: addressOf('n3') }), 5000)
    const [ack] = drain(core).sent
    assert.deepEqual(ack?.messages.slice(0, 2), [{ kind: 'ack', seq: 5 }, { kind: 'alive', incarnation: 1, name: SELF, address: SELF_ADDRESS, meta: { role: 'client' } }])
  })

  test('a suspicion at a higher incarnation restarts the timer instead of confirming the old one', () => {
    const core = coreWithMembers(50)
    core.receivePacket(addressOf('n2'), packet({ kind: 'suspect', incarnation: 0, name: 'n9', from: 'n2' }), 0)
    core.receivePacket(addressOf('n3'), packet({ kind: 'suspect', incarnation: 1, name: 'n9', from: 'n3' }), 30_000)
    core.receivePacket(addressOf('n4'), packet({ kind: 'suspect', incarnation: 1, name: 'n9', from: 'n4' }), 30_001)
    core.tick(30_000 + 6795 - 1)
    assert.equal(core.member('n9')?.status, 'suspect', 'one confirmation of the new suspicion is not enough for the minimum')
    assert.equal(core.stats.suspicionsRestarted, 1)
  })

  test('replays cannot resurrect a dead member or roll back an incarnation', () => {
    const core = coreWithMembers(4)
    const replayedAlive = packet(alive('n2', 3, { v: 'old' }))
    core.receivePacket(addressOf('n2'), replayedAlive, 1)
    core.receivePacket(addressOf('n3'), packet({ kind: 'dead', incarnation: 3, name: 'n2', from: 'n3' }), 2)
    assert.equal(core.member('n2')?.status, 'dead')
    drain(core)
    core.receivePacket(addressOf('n2'), replayedAlive, 3)
    core.receivePacket(addressOf('n3'), packet({ kind: 'suspect', incarnation: 2, name: 'n2', from: 'n3' }), 4)
    assert.equal(core.member('n2')?.status, 'dead')
    assert.equal(core.member('n2')?.incarnation, 3)
    assert.deepEqual(drain(core).events, [])
    core.receivePacket(addressOf('n2'), packet(alive('n2', 4, { v: 'new' })), 5)
    assert.equal(core.member('n2')?.status, 'alive', 'a fresh incarnation is a rejoin')
    assert.deepEqual(drain(core).events.map(event => event.type), ['join'])
    // Replayed accusations about this member at older incarnations are stale, not refuted again.
    core.receivePacket(addressOf('n2'), packet({ kind: 'suspect', incarnation: 0, name: SELF, from: 'n2' }), 6)
    const incarnation = core.incarnation
    core.receivePacket(addressOf('n2'), packet({ kind: 'suspect', incarnation: 0, name: SELF, from: 'n2' }), 7)
    assert.equal(core.incarnation, incarnation)
    assert.ok(core.stats.staleMessages >= 3)
  })

  test('an alive message from another address for a live member is a conflict, not an update', () => {
    const core = coreWithMembers(3)
    core.receivePacket('10.9.9.9:8301', packet({ kind: 'alive', incarnation: 9, name: 'n2', address: '10.9.9.9:8301', meta: {} }), 1)
    assert.equal(core.member('n2')?.address, addressOf('n2'))
    assert.equal(core.stats.addressConflicts, 1)
  })

  test('meta changes arrive as update events; this member announces its own with a new incarnation', () => {
    const core = coreWithMembers(3)
    core.receivePacket(addressOf('n2'), packet(alive('n2', 1, { role: 'server' })), 1)
    assert.deepEqual(drain(core).events.map(event => [event.type, event.member.meta]), [['update', { role: 'server' }]])
    core.updateMeta({ role: 'client', dc: 'dc2' }, 2)
    assert.equal(core.incarnation, 1)
    const { events } = drain(core)
    assert.deepEqual(events.map(event => [event.type, event.member.name]), [['update', SELF]])
    assert.throws(() => core.updateMeta({ big: 'x'.repeat(600) }, 3), (err: Error & { code?: string }) => err.code === 'ERR_TOO_LARGE')
    assert.throws(() => core.updateMeta({ 'bad key': 'v' }, 3), (err: Error & { code?: string }) => err.code === 'ERR_INVALID_INPUT')
  })
})

describe('leave and reaping', () => {
  test('leave gossips "dead from itself" at a new incarnation; receivers record left, not failed', () => {
    const leaver = coreWithMembers(3)
    leaver.leave(100)
    assert.deepEqual(drain(leaver).events.map(event => [event.type, event.member.name]), [['leave', SELF]])
    assert.equal(leaver.isLeaveDisseminated(), false)
    const packets: OutboundPacket[] = []
    for (let nowMs = 200; nowMs < 5000 && !leaver.isLeaveDisseminated(); nowMs += 200) {
      leaver.tick(nowMs)
      packets.push(...leaver.takeReady().packets)
    }
    assert.ok(leaver.isLeaveDisseminated())
    assert.equal(packets.filter(out => out.purpose === 'probe').length, 0, 'a leaving member stops probing')
    const leaveMessage = packets.flatMap(out => decodePacket(out.bytes, streamLimits)).find(message => message.kind === 'dead')
    assert.deepEqual(leaveMessage, { kind: 'dead', incarnation: 1, name: SELF, from: SELF })
    const observer = new SwimCore({ name: 'n2', address: addressOf('n2'), meta: {}, config: lanSwimConfig, prng: new SeededPrng(2), nowMs: 0 })
    observer.receivePacket(SELF_ADDRESS, packet(alive(SELF, 0)), 1)
    observer.receivePacket(SELF_ADDRESS, packet(leaveMessage!), 2)
    assert.equal(observer.member(SELF)?.status, 'left')
    assert.deepEqual(observer.takeReady().events.map(event => event.type), ['join', 'join', 'leave'])
  })

  test('dead and left members are reaped after their configured times', () => {
    const core = coreWithMembers(4, { config: { reapFailedAfterMs: 10_000, reapLeftAfterMs: 5_000 } })
    core.receivePacket(addressOf('n2'), packet({ kind: 'dead', incarnation: 0, name: 'n2', from: 'n3' }), 1000)
    core.receivePacket(addressOf('n3'), packet({ kind: 'dead', incarnation: 1, name: 'n3', from: 'n3' }), 1000)
    drain(core)
    core.tick(7000)
    assert.deepEqual(drain(core).events.map(event => [event.type, event.member.name]), [['reap', 'n3']])
    core.tick(12_000)
    assert.deepEqual(drain(core).events.map(event => [event.type, event.member.name]), [['reap', 'n2']])
    assert.deepEqual(core.members().map(member => member.name), [SELF, 'n4'])
  })
})

describe('push/pull and user broadcasts', () => {
  test('a push/pull request is answered with full state and merged; dead remote states become suspicions', () => {
    const core = coreWithMembers(3)
    const request: Message = {
      kind: 'pushPull', join: false, reply: false, sender: 'n5', broadcasts: [], seen: [],
      members: [
        { name: 'n5', address: addressOf('n5'), incarnation: 0, status: 'alive', meta: {} },
        { name: 'n2', address: addressOf('n2'), incarnation: 0, status: 'dead', meta: {} }
      ]
    }
    const result = core.receiveStream('10.0.0.5:40000', packet(request), 1)
    assert.ok(result.ok && result.reply !== null)
    const [reply] = decodePacket(result.reply, streamLimits)
    assert.ok(reply?.kind === 'pushPull' && reply.reply)
    assert.deepEqual(reply.members.map(member => member.name).sort(), [SELF, 'n2', 'n3'])
    assert.equal(core.member('n5')?.status, 'alive')
    assert.equal(core.member('n2')?.status, 'suspect')
  })

  test('streams refuse compounds and UDP refuses push/pull (wrongChannel)', () => {
    const core = newCore()
    const result = core.receiveStream('x:1', packet({ kind: 'ack', seq: 1 }, { kind: 'ack', seq: 2 }), 1)
    assert.deepEqual(result, { ok: false, reason: 'wrongChannel' })
    core.receivePacket('x:1', packet({ kind: 'pushPull', join: false, reply: false, sender: 'n2', members: [], broadcasts: [], seen: [] }), 2)
    assert.equal(core.stats.dropped.wrongChannel, 2)
  })

  test('a broadcast is delivered locally and once per receiver, however often it arrives', () => {
    const core = coreWithMembers(3)
    core.broadcast(new Uint8Array([1, 2]), 1)
    assert.deepEqual(core.takeReady().deliveries.map(delivery => [delivery.origin, [...delivery.payload]]), [[SELF, [1, 2]]])
    const message: Message = { kind: 'user', origin: 'n2', epoch: 5, seq: 1, payload: new Uint8Array([7]) }
    for (let i = 0; i < 3; i += 1) core.receivePacket(addressOf('n2'), packet(message), 2 + i)
    assert.equal(core.takeReady().deliveries.length, 1)
    assert.equal(core.stats.duplicateBroadcasts, 2)
    assert.throws(() => core.broadcast(new Uint8Array(2000), 10), (err: Error & { code?: string }) => err.code === 'ERR_TOO_LARGE')
  })

  test('a join reply carries the ids of recent broadcasts, not their payloads', () => {
    const core = coreWithMembers(2)
    core.broadcast(new Uint8Array([1]), 1)
    core.takeReady()
    const join: Message = { kind: 'pushPull', join: true, reply: false, sender: 'n7', members: [{ name: 'n7', address: addressOf('n7'), incarnation: 0, status: 'alive', meta: {} }], broadcasts: [], seen: [] }
    const result = core.receiveStream('x:1', packet(join), 2)
    assert.ok(result.ok && result.reply !== null)
    const [reply] = decodePacket(result.reply, streamLimits)
    assert.ok(reply?.kind === 'pushPull')
    assert.deepEqual(reply.broadcasts, [])
    assert.equal(reply.seen.length, 1)
  })
})

describe('robustness', () => {
  test('garbage never throws out of receivePacket or receiveStream; every drop is counted', () => {
    const core = coreWithMembers(3)
    const prng = new SeededPrng(99)
    let dropped = 0
    for (let i = 0; i < 2000; i += 1) {
      const bytes = new Uint8Array(prng.nextInt(64)).map(() => prng.nextInt(256))
      if (i % 2 === 0) bytes[0] = 0x57
      if (i % 4 === 0) bytes[1] = 1
      core.receivePacket('10.6.6.6:1', bytes, i)
      const result = core.receiveStream('10.6.6.6:2', bytes, i)
      if (!result.ok) dropped += 1
    }
    const counted = Object.values(core.stats.dropped).reduce((sum, count) => sum + count, 0)
    assert.ok(counted >= dropped && dropped > 1900, `dropped ${dropped}, counted ${counted}`)
    assert.ok(core.stats.dropped.unknownVersion > 0 && core.stats.dropped.truncated > 0 && core.stats.dropped.malformed > 0)
    assert.ok(core.stats.dropped.oversized === 0)
    core.receivePacket('10.6.6.6:1', new Uint8Array(1401).fill(0x57), 3000)
    assert.equal(core.stats.dropped.oversized, 1)
    assert.equal(core.member('n2')?.status, 'alive')
  })

  test('the same seed and inputs give byte-identical outputs', () => {
    const run = (): string[] => {
      const core = coreWithMembers(10, { seed: 7 })
      const out: string[] = []
      for (let nowMs = 0; nowMs < 20_000; nowMs += 100) {
        core.tick(nowMs)
        for (const sent of core.takeReady().packets) out.push(`${nowMs} ${sent.to} ${Buffer.from(sent.bytes).toString('hex')}`)
      }
      return out
    }
    assert.deepEqual(run(), run())
  })

  test('time may not go backwards', () => {
    const core = newCore()
    core.tick(100)
    assert.throws(() => core.tick(99), /time went backwards/)
  })
})
