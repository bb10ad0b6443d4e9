/**
 * The gossip shell (src/gossip/node.ts) on real UDP and TCP sockets: GossipNodes on 127.0.90.x
 * (ports picked by the kernel) with the fast profile, encrypted with src/gossip/keyring.ts. A
 * cluster forms, a killed member is seen failed, a leaving one is seen left, broadcasts arrive;
 * a member with another key or no key is refused with an error that says why, and the cluster
 * logs a rate-limited warning naming the sender. Waits poll with deadlines (waitFor), never sleep.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { createSocket } from 'node:dgram'
import { pino, type Logger } from 'pino'
import { fastSwimConfig } from '../../../src/gossip/core/config.js'
import { Keyring, generateGossipKey } from '../../../src/gossip/keyring.js'
import { GossipNode, type GossipKeyring } from '../../../src/gossip/node.js'
import type { MemberEvent } from '../../../src/gossip/core/types.js'
import { waitFor } from '../../../src/util/wait-for.js'

const HOST_PREFIX = '127.0.90.'

interface LogLine { level: number, msg: string, from?: string, member?: string, suppressed?: number, reason?: string }

function capturingLogger (): { logger: Logger, lines: LogLine[] } {
  const lines: LogLine[] = []
  const logger = pino({ level: 'warn' }, { write (line: string) { lines.push(JSON.parse(line) as LogLine) } })
  return { logger, lines }
}

async function startNode (index: number, options: { keyring?: GossipKeyring | null, logger?: Logger, meta?: Record<string, string> } = {}): Promise<GossipNode> {
  return await GossipNode.start({
    name: `g${index}`,
    bindHost: `${HOST_PREFIX}${index}`,
    port: 0,
    meta: options.meta ?? { role: index <= 3 ? 'server' : 'client', dc: 'dc1' },
    keyring: options.keyring ?? null,
    logger: options.logger ?? pino({ level: 'silent' }),
    config: fastSwimConfig,
    streamTimeoutMs: 2000,
    seed: index
  })
}

function aliveCount (node: GossipNode): number {
  return node.members().filter(member => member.status === 'alive').length
}

describe('an encrypted cluster of five GossipNodes', () => {
  const key = Keyring.parseKey(generateGossipKey())
  const { logger, lines } = capturingLogger()
  const nodes: GossipNode[] = []
  const events = new Map<string, MemberEvent[]>()

  before(async () => {
    for (let index = 1; index <= 5; index += 1) {
      const node = await startNode(index, { keyring: new Keyring([], key), logger })
      events.set(node.name, [])
      node.on('event', event => events.get(node.name)!.push(event))
      nodes.push(node)
    }
    for (const node of nodes.slice(1)) assert.equal(await node.join([nodes[0]!.address]), 1)
  })

  after(async () => {
    for (const node of nodes) await node.stop()
  })

  test('every member sees all five alive, with their meta', async () => {
    await waitFor(() => nodes.every(node => aliveCount(node) === 5), { timeoutMs: 10_000, what: 'five alive members everywhere' })
    assert.deepEqual(nodes[4]!.member('g1')?.meta, { role: 'server', dc: 'dc1' })
    assert.equal(nodes[0]!.member('g5')?.address, nodes[4]!.address)
  })

  test('a broadcast reaches every member once', async () => {
    const received = new Map<string, number>()
    for (const node of nodes) node.on('broadcast', delivery => received.set(node.name, (received.get(node.name) ?? 0) + (delivery.origin === 'g2' ? 1 : 0)))
    nodes[1]!.broadcast(new TextEncoder().encode('rotate'))
    await waitFor(() => nodes.every(node => received.get(node.name) === 1), { timeoutMs: 10_000, what: 'the broadcast on every member' })
  })

  test('a member with another key is refused with a clear error, and the cluster warns naming it', async () => {
    const stranger = await startNode(9, { keyring: new Keyring([], Keyring.parseKey(generateGossipKey())) })
    try {
      await assert.rejects(stranger.join([nodes[0]!.address]), (err: Error & { code?: string }) => {
        assert.equal(err.code, 'ERR_TRANSPORT')
        assert.equal(err.message, `join ${nodes[0]!.address} failed: no reply could be decrypted — is the gossip key (-encrypt) the same on every agent?`)
        return true
      })
      await waitFor(() => lines.some(line => line.member === 'g1' && line.from?.startsWith(`${HOST_PREFIX}9:`) === true && /no installed key decrypts/.test(line.msg)), { timeoutMs: 5000, what: 'the decrypt warning naming 127.0.90.9' })
      // A second attempt within 10 s is counted, not logged again.
      await assert.rejects(stranger.join([nodes[0]!.address]))
      const warnings = lines.filter(line => line.member === 'g1' && line.from?.startsWith(`${HOST_PREFIX}9:`) === true)
      assert.equal(warnings.length, 1)
      assert.ok(nodes.every(node => node.member('g9') === undefined))
    } finally {
      await stranger.stop()
    }
  })

  test('an unencrypted member is refused with the same clear error', async () => {
    const plain = await startNode(10)
    try {
      await assert.rejects(plain.join([nodes[0]!.address]), /no reply could be decrypted — is the gossip key \(-encrypt\) the same on every agent\?/)
    } finally {
      await plain.stop()
    }
  })

  test('a member with the same key among others joins', async () => {
    const other = Keyring.parseKey(generateGossipKey())
    const joiner = await startNode(11, { keyring: new Keyring([other], key) })
    try {
      assert.equal(await joiner.join([nodes[2]!.address]), 1)
      await waitFor(() => nodes.every(node => node.member('g11')?.status === 'alive'), { timeoutMs: 10_000, what: 'g11 alive everywhere' })
      assert.equal(await joiner.leave(5000), true)
    } finally {
      await joiner.stop()
    }
    await waitFor(() => nodes.every(node => node.member('g11')?.status === 'left'), { timeoutMs: 10_000, what: 'g11 left everywhere' })
  })

  test('a killed member is seen failed by the others', async () => {
    const started = performance.now()
    await nodes[4]!.stop()
    await waitFor(() => nodes.slice(0, 4).every(node => node.member('g5')?.status === 'dead'), { timeoutMs: 15_000, what: 'g5 dead everywhere' })
    const tookMs = performance.now() - started
    assert.ok(events.get('g1')!.some(event => event.type === 'failed' && event.member.name === 'g5'), `failed event after ${Math.round(tookMs)} ms`)
  })

  test('a member that leaves gracefully is seen left, not failed', async () => {
    assert.equal(await nodes[3]!.leave(5000), true)
    await nodes[3]!.stop()
    await waitFor(() => nodes.slice(0, 3).every(node => node.member('g4')?.status === 'left'), { timeoutMs: 10_000, what: 'g4 left everywhere' })
    for (const node of nodes.slice(0, 3)) {
      const aboutG4 = events.get(node.name)!.filter(event => event.member.name === 'g4').map(event => event.type)
      assert.ok(aboutG4.includes('leave') && !aboutG4.includes('failed'), `${node.name}: ${aboutG4.join(',')}`)
    }
  })
})

describe('an unencrypted GossipNode', () => {
  test('joins an unencrypted peer, drops garbage datagrams without harm, and refuses an encrypted joiner', async () => {
    const { logger, lines } = capturingLogger()
    const first = await startNode(20, { logger })
    const second = await startNode(21)
    const encrypted = await startNode(22, { keyring: new Keyring([], Keyring.parseKey(generateGossipKey())) })
    const raw = createSocket('udp4')
    try {
      assert.equal(await second.join([first.address]), 1)
      await waitFor(() => aliveCount(first) === 2 && aliveCount(second) === 2, { timeoutMs: 10_000, what: 'two alive members' })
      const [host, port] = [first.address.split(':')[0]!, Number(first.address.split(':')[1])]
      await new Promise<void>(resolve => raw.bind({ address: `${HOST_PREFIX}23`, port: 0 }, resolve))
      const garbage = [Buffer.from([0x57, 0x01, 0x05, 0x00]), Buffer.from([0x57, 0x09, 0x01]), Buffer.alloc(3000, 0x57), Buffer.from('hello')]
      for (const datagram of garbage) await new Promise<void>((resolve, reject) => raw.send(datagram, port, host, err => (err != null ? reject(err) : resolve())))
      await waitFor(() => {
        const { core, shell } = first.stats
        return core.dropped.truncated + core.dropped.unknownVersion + core.dropped.malformed + shell.udpOversized >= 4
      }, { timeoutMs: 5000, what: 'four dropped datagrams counted' })
      assert.ok(lines.some(line => line.from?.startsWith(`${HOST_PREFIX}23:`) === true && line.reason === 'undecodable'), 'a warning names the sender')
      await assert.rejects(encrypted.join([first.address]), /no reply could be decrypted/)
      await assert.rejects(encrypted.join([`${HOST_PREFIX}99:1`]), /join 127\.0\.90\.99:1 failed: connection refused/)
      assert.equal(aliveCount(first), 2)
    } finally {
      raw.close()
      for (const node of [first, second, encrypted]) await node.stop()
    }
  })

  test('start rejects a wildcard bind without an advertise address, and bad join addresses', async () => {
    await assert.rejects(GossipNode.start({ name: 'x', bindHost: '0.0.0.0', port: 0, meta: {}, logger: pino({ level: 'silent' }) }), /needs an advertise address/)
    const node = await startNode(24)
    try {
      await assert.rejects(node.join(['not an address']), (err: Error & { code?: string }) => err.code === 'ERR_INVALID_INPUT')
      assert.equal(await node.join([node.address]), 0, 'joining itself contacts nobody')
    } finally {
      await node.stop()
    }
  })
})
