/**
 * Two proxies in-process against a fake agent (src/proxy/proxy.ts with an AgentPort double),
 * real TLS between them and a local echo server behind the destination:
 * - an intention change that denies the source closes the open connection (issue #6 point 3),
 *   allowing again lets new connections through;
 * - a root rotation keeps connections (the old root stays in the bundle, leaves are swapped for
 *   new connections only); pruning the old root closes the connections whose certificates it
 *   issued (whichever side notices first), while new connections with the new leaves work.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createServer, connect as netConnect, type Server, type Socket } from 'node:net'
import { pino } from 'pino'
import { crossSign } from '../../../src/ca/index.js'
import type { AgentAnswer, AgentPort, AgentRequest } from '../../../src/proxy/agent-client.js'
import { Proxy } from '../../../src/proxy/proxy.js'
import { waitFor } from '../../../src/util/wait-for.js'
import { makeTestCa, type TestCa, type TestLeaf } from './test-ca.js'

const clusterId = '11111111-2222-3333-4444-555555555555'

/** The agent endpoints a proxy uses, with blocking queries on per-topic indexes. */
class FakeAgent {
  roots: Array<{ ID: string, RootCert: string, IntermediateCerts: string[] | null, Active: boolean }> = []
  readonly leaves = new Map<string, TestLeaf>()
  denied = new Set<string>()
  healthEntries: unknown[] = []
  private readonly indexes = new Map<string, number>()
  private readonly waiters = new Set<{ topic: string, wake: () => void }>()
  authorizeCalls = 0

  bump (topic: string): void {
    this.indexes.set(topic, this.index(topic) + 1)
    for (const waiter of [...this.waiters]) if (waiter.topic === topic) waiter.wake()
  }

  index (topic: string): number { return this.indexes.get(topic) ?? 1 }

  port (): AgentPort {
    return { request: async <T>(request: AgentRequest) => await this.answer(request) as AgentAnswer<T>, close: () => {} }
  }

  private async blocking (topic: string, request: AgentRequest): Promise<number> {
    const wanted = Number(request.query?.index ?? 0)
    if (wanted > 0 && wanted >= this.index(topic)) {
      await new Promise<void>(resolve => {
        const waiter = { topic, wake: () => { clearTimeout(timer); this.waiters.delete(waiter); request.signal?.removeEventListener('abort', waiter.wake); resolve() } }
        const timer = setTimeout(waiter.wake, 2_000)
        request.signal?.addEventListener('abort', waiter.wake)
        this.waiters.add(waiter)
      })
    }
    if (request.signal?.aborted === true) throw new Error('aborted')
    return this.index(topic)
  }

  private async answer (request: AgentRequest): Promise<AgentAnswer<unknown>> {
    const reply = (value: unknown, index = 1): AgentAnswer<unknown> => ({ status: 200, value, index, contentHash: '' })
    const leafPrefix = '/v1/agent/connect/ca/leaf/'
    if (request.path.startsWith(leafPrefix)) {
      const service = request.path.slice(leafPrefix.length)
      const index = await this.blocking(`leaf ${service}`, request)
      const leaf = this.leaves.get(service)
      if (leaf === undefined) throw new Error(`no leaf for ${service}`)
      return reply({ SerialNumber: leaf.serialHex, CertPEM: leaf.certPem, PrivateKeyPEM: leaf.keyPem, Service: service, ServiceURI: leaf.uri, ValidAfter: '', ValidBefore: '', ModifyIndex: index }, index)
    }
    if (request.path === '/v1/agent/connect/ca/roots') {
      const index = await this.blocking('roots', request)
      return reply({ ActiveRootID: this.roots.find(r => r.Active)?.ID ?? '', TrustDomain: `${clusterId}.consul`, Roots: this.roots }, index)
    }
    if (request.path === '/v1/agent/connect/authorize') {
      this.authorizeCalls += 1
      const uri = String((request.body as { ClientCertURI: string }).ClientCertURI)
      const source = uri.slice(uri.lastIndexOf('/') + 1)
      const authorized = !this.denied.has(source)
      return reply({ Authorized: authorized, Reason: authorized ? 'test allows' : `test denies ${source}` })
    }
    if (request.path === '/v1/connect/intentions/match') return reply({}, await this.blocking('intentions', request))
    if (request.path.startsWith('/v1/health/connect/')) return reply(this.healthEntries, await this.blocking('health', request))
    throw new Error(`fake agent: unexpected ${request.method} ${request.path}`)
  }
}

function issueBoth (agent: FakeAgent, ca: TestCa): void {
  for (const service of ['web', 'db']) {
    agent.leaves.set(service, ca.issue({ service }))
    agent.bump(`leaf ${service}`)
  }
}

async function listen (server: Server): Promise<number> {
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  return typeof address === 'object' && address !== null ? address.port : 0
}

class Line {
  private data = ''
  closed = false
  constructor (readonly socket: Socket) {
    socket.setEncoding('utf8')
    socket.on('data', (chunk: string) => { this.data += chunk })
    socket.on('error', () => {})
    socket.on('close', () => { this.closed = true })
  }

  static async open (port: number): Promise<Line> {
    const socket = netConnect({ host: '127.0.0.1', port })
    await new Promise<void>((resolve, reject) => { socket.once('connect', resolve); socket.once('error', reject) })
    return new Line(socket)
  }

  async echo (text: string): Promise<boolean> {
    const start = this.data.length
    this.socket.write(`${text}\n`)
    const result = await waitFor(() => this.data.slice(start).includes(`${text}\n`) ? 'echoed' : this.closed ? 'closed' : undefined, { timeoutMs: 5_000, what: `echo of ${text}` })
    return result === 'echoed'
  }
}

test('open connections close when an intention denies their source, and when their issuing root leaves the bundle', { timeout: 60_000 }, async (t) => {
  const logger = pino({ level: 'silent' })
  const agent = new FakeAgent()
  const oldCa = makeTestCa({ clusterId })
  agent.roots = [{ ID: 'old', RootCert: oldCa.rootPem, IntermediateCerts: null, Active: true }]
  issueBoth(agent, oldCa)
  const echo = createServer(socket => { socket.on('error', () => {}); socket.pipe(socket) })
  const echoPort = await listen(echo)
  t.after(() => echo.close())

  const db = new Proxy({
    agent: agent.port(), logger, recheckDelaysMs: [100],
    config: { service: 'db', upstreams: [], publicListener: { bindAddress: '127.0.0.1', bindPort: 0, localServiceAddress: '127.0.0.1', localServicePort: echoPort, localConnectTimeoutMs: 1_000, handshakeTimeoutMs: 10_000 } }
  })
  const dbAddresses = await db.start()
  t.after(async () => await db.stop())
  agent.healthEntries = [{ Node: { Node: 'n1', Address: '127.0.0.1', Datacenter: 'dc1' }, Service: { Kind: 'connect-proxy', ID: 'db-proxy', Service: 'db-proxy', Port: dbAddresses.publicListener?.port, Proxy: { DestinationServiceName: 'db' } } }]
  agent.bump('health')
  const web = new Proxy({
    agent: agent.port(), logger,
    config: { service: 'web', publicListener: null, upstreams: [{ destinationName: 'db', datacenter: '', localBindAddress: '127.0.0.1', localBindPort: 0, connectTimeoutMs: 2_000 }] }
  })
  const upstreamPort = (await web.start()).upstreams[0]?.port ?? 0
  t.after(async () => await web.stop())

  // Intentions: deny closes the open connection; allow again lets new ones through.
  const first = await Line.open(upstreamPort)
  assert.equal(await first.echo('one'), true)
  agent.denied.add('web')
  agent.bump('intentions')
  await waitFor(() => first.closed, { timeoutMs: 1_000, what: 'the open connection to close after the deny' })
  assert.equal(db.counters.inboundClosedByIntention, 1)
  assert.equal(await (await Line.open(upstreamPort)).echo('denied'), false, 'a new connection is refused')
  agent.denied.delete('web')
  agent.bump('intentions')
  const survivor = await waitFor(async () => { const line = await Line.open(upstreamPort); return await line.echo('allowed') ? line : undefined }, { timeoutMs: 5_000, what: 'a connection after the allow' })

  // Rotation: the new root with a cross-signed certificate joins; new leaves; nothing is closed.
  const newCa = makeTestCa({ clusterId })
  const cross = crossSign({ certPem: newCa.rootPem, signerKeyPem: oldCa.keyPem, signerCertPem: oldCa.rootPem, serial: 99_002, now: new Date() })
  agent.roots = [{ ID: 'old', RootCert: oldCa.rootPem, IntermediateCerts: null, Active: false }, { ID: 'new', RootCert: newCa.rootPem, IntermediateCerts: [cross], Active: true }]
  agent.bump('roots')
  issueBoth(agent, newCa)
  const fresh = await waitFor(async () => {
    const line = await Line.open(upstreamPort)
    return await line.echo('fresh') ? line : undefined
  }, { timeoutMs: 5_000, what: 'a connection with the new leaves' })
  assert.equal(await survivor.echo('still here'), true, 'rotation keeps the open connection')
  assert.equal(db.counters.closedByRootRemoval + web.counters.closedByRootRemoval, 0)

  // Pruning the old root: the connection made with old-CA leaves closes, the new one stays.
  agent.roots = [{ ID: 'new', RootCert: newCa.rootPem, IntermediateCerts: [cross], Active: true }]
  agent.bump('roots')
  await waitFor(() => survivor.closed, { timeoutMs: 2_000, what: 'the old-root connection to close' })
  // Both sides check their peers; whichever notices first closes it (the other then sees it end).
  assert.ok(db.counters.closedByRootRemoval + web.counters.closedByRootRemoval >= 1, 'closed because its certificates came from the pruned root')
  assert.equal(await fresh.echo('fresh again'), true, 'connections with new-root leaves stay open')
  assert.ok(agent.authorizeCalls >= 3)
})
