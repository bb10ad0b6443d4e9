/**
 * ZmqTransport over real sockets on 127.0.0.1 (port 0), several transports in one process.
 * Covers ordering, request/response with typed errors and timeouts, repeatable requests
 * abandoned when the connection drops, reconnection after a peer restarts on the same endpoint,
 * bounded per-peer queues, and that unauthorized, plain-text and spoofing senders never reach
 * the message handler. Also the CURVE key file helpers.
 *
 * Waits poll with deadlines (waitFor); "never arrived" is shown by waiting for a legitimate
 * message sent after the rogue one on the same path, plus the drop counter that proves the
 * rogue one was seen and refused.
 */
import { test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { chmod, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as zmq from 'zeromq'
import { encodeFrame } from '../../../src/raft/codec.js'
import type { Message, NodeId } from '../../../src/raft/core/types.js'
import {
  curvePublicKeyOf,
  generateCurveKeyPair,
  loadOrCreateCurveKeyPair,
  z85Decode,
  z85Encode,
  type CurveKeyPair
} from '../../../src/raft/curve-keys.js'
import type { RequestHandler } from '../../../src/raft/transport.js'
import { senderRoutingId, ZmqTransport, type TransportLogger, type ZmqTransportOptions } from '../../../src/raft/zmq-transport.js'
import { ControlPlaneError, isControlPlaneError } from '../../../src/util/errors.js'
import { waitFor } from '../../../src/util/wait-for.js'

interface LogRecord { readonly level: string, readonly fields: Record<string, unknown>, readonly message: string }

function recordingLogger (): TransportLogger & { records: LogRecord[] } {
  const records: LogRecord[] = []
  const record = (level: string) => (fields: Record<string, unknown>, message: string): void => {
    if (records.length < 10_000) records.push({ level, fields, message })
  }
  return { records, debug: record('debug'), info: record('info'), warn: record('warn'), error: record('error') }
}

interface TestNode {
  readonly id: NodeId
  readonly keyPair: CurveKeyPair
  readonly transport: ZmqTransport
  readonly received: Message[]
  readonly logger: ReturnType<typeof recordingLogger>
}

interface NodeOptions {
  readonly keyPair?: CurveKeyPair
  readonly bindEndpoint?: string
  readonly onRequest?: RequestHandler
  readonly transport?: Partial<ZmqTransportOptions>
}

async function startNode (t: TestContext, id: NodeId, options: NodeOptions = {}): Promise<TestNode> {
  const keyPair = options.keyPair ?? generateCurveKeyPair()
  const logger = recordingLogger()
  const received: Message[] = []
  const transport = new ZmqTransport({
    localId: id,
    bindEndpoint: options.bindEndpoint ?? 'tcp://127.0.0.1:0',
    keyPair,
    logger,
    reconnectIntervalMs: 50,
    reconnectIntervalMaxMs: 200,
    ...options.transport
  })
  t.after(async () => { await transport.close() })
  await transport.start(message => { received.push(message) }, options.onRequest ?? (async () => null))
  return { id, keyPair, transport, received, logger }
}

function connect (from: TestNode, to: TestNode): void {
  from.transport.setPeer(to.id, { endpoint: to.transport.endpoint(), publicKey: to.keyPair.publicKey })
}

function connectAll (nodes: readonly TestNode[]): void {
  for (const from of nodes) {
    for (const to of nodes) {
      if (from !== to) connect(from, to)
    }
  }
}

function heartbeat (from: NodeId, to: NodeId, commit: number): Message {
  return { type: 'heartbeat', from, to, term: 1, commit, readContext: 0 }
}

function commitsFrom (node: TestNode, from: NodeId): number[] {
  return node.received.filter(message => message.from === from && message.type === 'heartbeat').map(message => (message as { commit: number }).commit)
}

/** A raw socket playing a misbehaving client; closed when the test ends. */
function rawDealer (t: TestContext, options: ConstructorParameters<typeof zmq.Dealer>[0]): zmq.Dealer {
  const socket = new zmq.Dealer({ linger: 0, sendTimeout: 0, reconnectInterval: 50, ...options })
  t.after(() => { socket.close() })
  return socket
}

async function expectError (promise: Promise<unknown>, code: string, pattern?: RegExp): Promise<ControlPlaneError> {
  try {
    await promise
  } catch (err) {
    assert.ok(isControlPlaneError(err), `expected a ControlPlaneError, got ${String(err)}`)
    assert.equal(err.code, code, err.message)
    if (pattern !== undefined) assert.match(err.message, pattern)
    return err
  }
  assert.fail(`expected rejection with ${code}`)
}

const waitOptions = { timeoutMs: 10_000, intervalMs: 10 }

test('three transports exchange messages in order', async (t) => {
  const nodes = [await startNode(t, 'a'), await startNode(t, 'b'), await startNode(t, 'c')]
  connectAll(nodes)
  const count = 300
  for (let commit = 0; commit < count; commit += 1) {
    for (const from of nodes) {
      for (const to of nodes) {
        if (from !== to) from.transport.send(heartbeat(from.id, to.id, commit))
      }
    }
  }
  const append: Message = {
    type: 'append',
    from: 'a',
    to: 'b',
    term: 1,
    prevLogIndex: 0,
    prevLogTerm: 0,
    leaderCommit: 0,
    entries: [{ term: 1, index: 1, type: 'command', data: Uint8Array.from([1, 2, 3, 255]) }]
  }
  nodes[0]?.transport.send(append)
  await waitFor(() => nodes.every(node => node.received.length >= 2 * count + (node.id === 'b' ? 1 : 0)), { ...waitOptions, what: 'all messages delivered' })
  const expected = Array.from({ length: count }, (_, commit) => commit)
  for (const to of nodes) {
    for (const from of nodes) {
      if (from !== to) assert.deepStrictEqual(commitsFrom(to, from.id), expected, `${from.id} -> ${to.id} out of order or incomplete`)
    }
    assert.ok(to.received.every(message => message.to === to.id))
    for (const peer of Object.values(to.transport.stats().peers)) assert.equal(peer.droppedMessages, 0)
  }
  assert.deepStrictEqual(nodes[1]?.received.find(message => message.type === 'append'), append)
})

test('request and response, with typed errors, timeouts and unknown peers', async (t) => {
  const requestsSeen: Array<{ from: NodeId, payload: unknown }> = []
  const server = await startNode(t, 'server', {
    onRequest: async (from, payload) => {
      requestsSeen.push({ from, payload })
      const op = (payload as { op?: unknown }).op
      if (op === 'echo') return (payload as { value: unknown }).value
      if (op === 'notLeader') throw new ControlPlaneError('ERR_NOT_LEADER', 'not the leader', { details: { leaderHint: 'c' } })
      if (op === 'crash') throw new Error('secret internal detail')
      if (op === 'hang') return await new Promise(() => {})
      return null
    }
  })
  const client = await startNode(t, 'client')
  connect(client, server)
  connect(server, client) // the server verifies the client's routing id against its key

  const bytes = Uint8Array.from([0, 1, 2])
  assert.deepStrictEqual(await client.transport.request('server', { op: 'echo', value: { n: 1, s: 'x' } }, { timeoutMs: 5000 }), { n: 1, s: 'x' })
  const echoedBytes = await client.transport.request('server', { op: 'echo', value: bytes }, { timeoutMs: 5000 })
  assert.ok(echoedBytes instanceof Uint8Array)
  assert.deepStrictEqual([...echoedBytes], [0, 1, 2])
  assert.equal(requestsSeen[0]?.from, 'client')

  const results = await Promise.all(Array.from({ length: 50 }, async (_, value) => await client.transport.request('server', { op: 'echo', value }, { timeoutMs: 5000 })))
  assert.deepStrictEqual(results, Array.from({ length: 50 }, (_, value) => value))

  const notLeader = await expectError(client.transport.request('server', { op: 'notLeader' }, { timeoutMs: 5000 }), 'ERR_NOT_LEADER', /not the leader/)
  assert.deepStrictEqual(notLeader.details, { leaderHint: 'c' })
  const crash = await expectError(client.transport.request('server', { op: 'crash' }, { timeoutMs: 5000 }), 'ERR_TRANSPORT', /internal error on server/)
  assert.doesNotMatch(crash.message, /secret/)
  assert.ok(server.logger.records.some(record => record.level === 'error' && record.message === 'request handler failed'))

  await expectError(client.transport.request('server', { op: 'hang' }, { timeoutMs: 200 }), 'ERR_TIMEOUT', /^no answer from server within 200 ms; the outcome is unknown$/)
  await expectError(client.transport.request('nobody', { op: 'echo' }, { timeoutMs: 200 }), 'ERR_TRANSPORT', /no known peer "nobody"/)
  assert.equal(client.transport.stats().requestsPending, 0)

  // close() rejects what is still pending with ERR_STOPPED.
  const pending = client.transport.request('server', { op: 'hang' }, { timeoutMs: 30_000 })
  await waitFor(() => server.transport.stats().inboundRequests === 2, { ...waitOptions, what: 'second hanging request to arrive' })
  await client.transport.close()
  await expectError(pending, 'ERR_STOPPED', /outcome is unknown/)
  await expectError(client.transport.request('server', { op: 'echo' }, { timeoutMs: 200 }), 'ERR_STOPPED')
})

test('a repeatable request fails as soon as the connection to its peer drops; others wait for their deadline', async (t) => {
  let release = (): void => {}
  const released = new Promise<void>(resolve => { release = resolve })
  const server = await startNode(t, 'server', {
    onRequest: async (_from, payload) => {
      if ((payload as { op?: unknown }).op !== 'ping') await released
      return null
    }
  })
  const client = await startNode(t, 'client')
  connect(client, server)
  connect(server, client)
  assert.equal(await client.transport.request('server', { op: 'ping' }, { timeoutMs: 5000 }), null) // connected
  const repeatable = client.transport.request('server', { op: 'blocking read' }, { timeoutMs: 60_000, abandonOnDisconnect: true })
  const write = client.transport.request('server', { op: 'write' }, { timeoutMs: 1_500 })
  await waitFor(() => server.transport.stats().inboundRequests === 2, { ...waitOptions, what: 'both requests to arrive' })
  // The server goes away (as a killed process does): its answers will never come.
  const closing = server.transport.close()
  await expectError(repeatable, 'ERR_TRANSPORT', /^connection to server lost before it answered; the outcome is unknown$/)
  await expectError(write, 'ERR_TIMEOUT', /^no answer from server within 1500 ms; the outcome is unknown$/)
  assert.ok(client.logger.records.some(record => record.message === 'connection to peer lost; abandoned its repeatable requests' && record.fields.abandoned === 1))
  release()
  await closing
})

test('a peer restarting on the same endpoint is reached again', async (t) => {
  const a = await startNode(t, 'a')
  const bKeys = generateCurveKeyPair()
  const b = await startNode(t, 'b', { keyPair: bKeys })
  connectAll([a, b])
  a.transport.send(heartbeat('a', 'b', 1))
  await waitFor(() => b.received.length === 1, { ...waitOptions, what: 'first delivery' })

  const endpoint = b.transport.endpoint()
  await b.transport.close()
  // The old listener may take a moment to release the port; retry the bind under a deadline.
  const restarted = await waitFor(async () => {
    try {
      return await startNode(t, 'b', { keyPair: bKeys, bindEndpoint: endpoint })
    } catch (err) {
      if (isControlPlaneError(err, 'ERR_TRANSPORT')) return undefined
      throw err
    }
  }, { ...waitOptions, what: `rebinding ${endpoint}` })
  assert.equal(restarted.transport.endpoint(), endpoint)
  connect(restarted, a)

  let commit = 100
  await waitFor(() => {
    a.transport.send(heartbeat('a', 'b', commit))
    commit += 1
    return restarted.received.length > 0
  }, { ...waitOptions, intervalMs: 25, what: 'delivery after restart' })
  const received = commitsFrom(restarted, 'a')
  assert.ok(received.every((value, position) => position === 0 || value > (received[position - 1] ?? -1)), 'order kept after reconnect')
  assert.equal(await a.transport.request('b', { op: 'ping' }, { timeoutMs: 5000 }), null)
})

test('the per-peer queue is bounded while a peer is down', async (t) => {
  const queueMessagesMax = 16
  const queueBytesMax = 1024 * 1024
  const a = await startNode(t, 'a', { transport: { queueMessagesMax, queueBytesMax, messageBytesMax: 256 * 1024, warnIntervalMs: 60_000 } })
  // Nothing listens on port 1: the connection is refused and retried forever.
  a.transport.setPeer('ghost', { endpoint: 'tcp://127.0.0.1:1', publicKey: generateCurveKeyPair().publicKey })
  const sendCount = 10_000
  for (let commit = 0; commit < sendCount; commit += 1) a.transport.send(heartbeat('a', 'ghost', commit))
  // The send loop has not run yet (no await since the first send), so exactly this many fit.
  let stats = a.transport.stats().peers.ghost
  assert.ok(stats !== undefined)
  assert.equal(stats.queuedMessages, queueMessagesMax)
  assert.equal(stats.droppedMessages, sendCount - queueMessagesMax)
  // Requests fail fast instead of waiting for their deadline when the queue is full.
  await expectError(a.transport.request('ghost', { op: 'x' }, { timeoutMs: 30_000 }), 'ERR_OVERLOADED', /queue to ghost is full/)
  // Then one frame moves into the send that blocks inside ZeroMQ, and nothing else leaves.
  await waitFor(() => a.transport.stats().peers.ghost?.queuedMessages === queueMessagesMax - 1, { ...waitOptions, what: 'one frame in flight' })
  stats = a.transport.stats().peers.ghost
  assert.ok(stats !== undefined)
  assert.equal(stats.sentMessages, 0)
  assert.equal(stats.droppedMessages, sendCount - queueMessagesMax + 1)

  // Large frames hit the byte limit before the message limit.
  a.transport.removePeer('ghost')
  a.transport.setPeer('ghost', { endpoint: 'tcp://127.0.0.1:1', publicKey: generateCurveKeyPair().publicKey })
  const big: Message = { type: 'append', from: 'a', to: 'ghost', term: 1, prevLogIndex: 0, prevLogTerm: 0, leaderCommit: 0, entries: [{ term: 1, index: 1, type: 'command', data: new Uint8Array(200 * 1024) }] }
  for (let round = 0; round < 100; round += 1) a.transport.send(big)
  stats = a.transport.stats().peers.ghost
  assert.ok(stats !== undefined)
  assert.ok(stats.queuedBytes <= queueBytesMax, `queued ${stats.queuedBytes} bytes`)
  assert.ok(stats.queuedMessages < queueMessagesMax)
  assert.ok(stats.droppedMessages > 80)

  // A message over messageBytesMax is refused outright, and the send does not throw.
  a.transport.send({ ...big, entries: [{ term: 1, index: 1, type: 'command', data: new Uint8Array(300 * 1024) }] })
  assert.ok(a.logger.records.some(record => record.message === 'dropping message over messageBytesMax'))

  // Drops are logged once per interval per peer, not once per message.
  const warnings = a.logger.records.filter(record => record.message === 'outbound queue to peer is full; dropping message')
  assert.ok(warnings.length <= 2, `${warnings.length} queue-full warnings`)
})

test('a node refused before the peer authorized it gets through once authorized', async (t) => {
  const a = await startNode(t, 'a')
  const b = await startNode(t, 'b')
  connect(a, b) // b does not know a yet, so its ZAP handler refuses a's key
  a.transport.send(heartbeat('a', 'b', 1))
  await waitFor(() => b.transport.stats().zapDenied > 0, { ...waitOptions, what: 'first refusal' })
  connect(b, a)
  await waitFor(() => b.received.length > 0, { ...waitOptions, what: 'delivery after authorization' })
  assert.deepStrictEqual(commitsFrom(b, 'a'), [1])
  assert.ok(a.logger.records.some(record => record.message === 'handshake with peer failed; dialing again'))
})

test('an unauthorized CURVE key cannot deliver messages', async (t) => {
  const a = await startNode(t, 'a')
  const b = await startNode(t, 'b')
  connectAll([a, b])
  const rogueKeys = generateCurveKeyPair()
  const rogue = rawDealer(t, {
    routingId: senderRoutingId({ senderId: 'a', recipientId: 'b', senderSecretKey: rogueKeys.secretKey, recipientPublicKey: b.keyPair.publicKey }),
    curveServerKey: b.keyPair.publicKey,
    curvePublicKey: rogueKeys.publicKey,
    curveSecretKey: rogueKeys.secretKey
  })
  rogue.connect(b.transport.endpoint())
  void rogue.send(encodeFrame({ kind: 'raft', message: heartbeat('a', 'b', 666) })).catch(() => undefined)
  await waitFor(() => b.transport.stats().zapDenied > 0, { ...waitOptions, what: 'ZAP to refuse the rogue key' })

  a.transport.send(heartbeat('a', 'b', 1))
  await waitFor(() => b.received.length > 0, { ...waitOptions, what: 'legitimate message' })
  assert.deepStrictEqual(commitsFrom(b, 'a'), [1])
  assert.ok(b.logger.records.some(record => record.message === 'refused connection from unauthorized CURVE key' && record.fields.clientKey === rogueKeys.publicKey))

  // Once authorized the same key gets through ZAP, but it still cannot speak for node a.
  // (A refused client is never redialed by libzmq, so the rogue dials again with a new socket.)
  b.transport.authorize(rogueKeys.publicKey)
  const authorizedRogue = rawDealer(t, {
    routingId: senderRoutingId({ senderId: 'a', recipientId: 'b', senderSecretKey: rogueKeys.secretKey, recipientPublicKey: b.keyPair.publicKey }),
    curveServerKey: b.keyPair.publicKey,
    curvePublicKey: rogueKeys.publicKey,
    curveSecretKey: rogueKeys.secretKey
  })
  authorizedRogue.connect(b.transport.endpoint())
  void authorizedRogue.send(encodeFrame({ kind: 'raft', message: heartbeat('a', 'b', 666) })).catch(() => undefined)
  await waitFor(() => (b.transport.stats().inboundDropped.unauthenticated ?? 0) > 0, { ...waitOptions, what: 'forged routing id to be refused' })
  a.transport.send(heartbeat('a', 'b', 2))
  await waitFor(() => b.received.length > 1, { ...waitOptions, what: 'second legitimate message' })
  assert.deepStrictEqual(commitsFrom(b, 'a'), [1, 2])
})

test('a plain-text client or one expecting another server key cannot deliver messages', async (t) => {
  const a = await startNode(t, 'a')
  const b = await startNode(t, 'b')
  connectAll([a, b])
  const plain = rawDealer(t, { routingId: 'a' })
  let protocolErrors = 0
  plain.events.on('handshake:error:protocol', () => { protocolErrors += 1 })
  plain.connect(b.transport.endpoint())
  void plain.send(encodeFrame({ kind: 'raft', message: heartbeat('a', 'b', 666) })).catch(() => undefined)
  await waitFor(() => protocolErrors > 0, { ...waitOptions, what: 'plain handshake to fail' })

  // Knowing a's real key pair but not b's server key: the handshake cannot complete.
  const wrongServer = rawDealer(t, {
    routingId: senderRoutingId({ senderId: 'a', recipientId: 'b', senderSecretKey: a.keyPair.secretKey, recipientPublicKey: b.keyPair.publicKey }),
    curveServerKey: generateCurveKeyPair().publicKey,
    curvePublicKey: a.keyPair.publicKey,
    curveSecretKey: a.keyPair.secretKey
  })
  let handshakeErrors = 0
  for (const type of ['handshake:error:protocol', 'handshake:error:auth', 'handshake:error:other', 'disconnect'] as const) wrongServer.events.on(type, () => { handshakeErrors += 1 })
  wrongServer.connect(b.transport.endpoint())
  void wrongServer.send(encodeFrame({ kind: 'raft', message: heartbeat('a', 'b', 667) })).catch(() => undefined)
  await waitFor(() => handshakeErrors > 0, { ...waitOptions, what: 'handshake with the wrong server key to fail' })

  a.transport.send(heartbeat('a', 'b', 1))
  await waitFor(() => b.received.length > 0, { ...waitOptions, what: 'legitimate message' })
  assert.deepStrictEqual(commitsFrom(b, 'a'), [1])
})

test('an authorized peer cannot spoof another node', async (t) => {
  const nodes = [await startNode(t, 'a'), await startNode(t, 'b'), await startNode(t, 'c')]
  connectAll(nodes)
  const [a, b, c] = nodes as [TestNode, TestNode, TestNode]
  const asA = { curveServerKey: b.keyPair.publicKey, curvePublicKey: a.keyPair.publicKey, curveSecretKey: a.keyPair.secretKey }

  // 1. A valid ticket for a, but the message claims to come from c.
  const honestTicket = rawDealer(t, { ...asA, routingId: senderRoutingId({ senderId: 'a', recipientId: 'b', senderSecretKey: a.keyPair.secretKey, recipientPublicKey: b.keyPair.publicKey }) })
  honestTicket.connect(b.transport.endpoint())
  await honestTicket.send(encodeFrame({ kind: 'raft', message: heartbeat('c', 'b', 666) })).catch(() => undefined)
  await waitFor(() => (b.transport.stats().inboundDropped.spoofed ?? 0) > 0, { ...waitOptions, what: 'spoofed from to be dropped' })

  // 2. A routing id that claims to be c, which a cannot prove.
  const forgedTicket = rawDealer(t, { ...asA, routingId: senderRoutingId({ senderId: 'c', recipientId: 'b', senderSecretKey: a.keyPair.secretKey, recipientPublicKey: b.keyPair.publicKey }) })
  forgedTicket.connect(b.transport.endpoint())
  await forgedTicket.send(encodeFrame({ kind: 'raft', message: heartbeat('c', 'b', 667) })).catch(() => undefined)
  await waitFor(() => (b.transport.stats().inboundDropped.unauthenticated ?? 0) > 0, { ...waitOptions, what: 'forged routing id to be dropped' })

  // 3. A routing id that is simply c's name, as a naive implementation would trust.
  const namedC = rawDealer(t, { ...asA, routingId: 'c' })
  namedC.connect(b.transport.endpoint())
  await namedC.send(encodeFrame({ kind: 'raft', message: heartbeat('c', 'b', 668) })).catch(() => undefined)
  await waitFor(() => (b.transport.stats().inboundDropped.unauthenticated ?? 0) > 1, { ...waitOptions, what: 'plain routing id to be dropped' })

  // 4. A message for someone else.
  await honestTicket.send(encodeFrame({ kind: 'raft', message: heartbeat('a', 'c', 669) })).catch(() => undefined)
  await waitFor(() => (b.transport.stats().inboundDropped.misaddressed ?? 0) > 0, { ...waitOptions, what: 'misaddressed message to be dropped' })

  c.transport.send(heartbeat('c', 'b', 1))
  await waitFor(() => b.received.length > 0, { ...waitOptions, what: 'legitimate message from c' })
  assert.deepStrictEqual(b.received, [heartbeat('c', 'b', 1)])
  assert.equal(b.transport.stats().inboundMessages, 1)
})

test('malformed and oversized frames are dropped and the loop keeps running', async (t) => {
  const a = await startNode(t, 'a')
  const b = await startNode(t, 'b', { transport: { messageBytesMax: 64 * 1024 } })
  connectAll([a, b])
  const asA = rawDealer(t, {
    routingId: senderRoutingId({ senderId: 'a', recipientId: 'b', senderSecretKey: a.keyPair.secretKey, recipientPublicKey: b.keyPair.publicKey }),
    curveServerKey: b.keyPair.publicKey,
    curvePublicKey: a.keyPair.publicKey,
    curveSecretKey: a.keyPair.secretKey,
    sendTimeout: -1
  })
  asA.connect(b.transport.endpoint())
  await asA.send(Uint8Array.from([0xc1, 0xff, 0x00]))
  await asA.send(encodeFrame({ kind: 'raft', message: { ...heartbeat('a', 'b', 1), term: -5 } }))
  await asA.send([Uint8Array.from([1]), Uint8Array.from([2])])
  await waitFor(() => (b.transport.stats().inboundDropped.malformed ?? 0) >= 2 && (b.transport.stats().inboundDropped['malformed-envelope'] ?? 0) >= 1, { ...waitOptions, what: 'malformed frames to be dropped' })
  // Over messageBytesMax: libzmq (ZMQ_MAXMSGSIZE) cuts the connection before JavaScript sees it.
  let disconnects = 0
  asA.events.on('disconnect', () => { disconnects += 1 })
  const oversized: Message = { type: 'append', from: 'a', to: 'b', term: 1, prevLogIndex: 0, prevLogTerm: 0, leaderCommit: 0, entries: [{ term: 1, index: 1, type: 'command', data: new Uint8Array(100 * 1024) }] }
  await asA.send(encodeFrame({ kind: 'raft', message: oversized }))
  await waitFor(() => disconnects > 0, { ...waitOptions, what: 'oversized sender to be disconnected' })
  a.transport.send(heartbeat('a', 'b', 7))
  await waitFor(() => b.received.length > 0, { ...waitOptions, what: 'legitimate message after garbage' })
  assert.deepStrictEqual(commitsFrom(b, 'a'), [7])
})

test('ZmqTransport rejects invalid options and peers with every problem named', async () => {
  const logger = recordingLogger()
  assert.throws(() => new ZmqTransport({ localId: '', bindEndpoint: 'udp://x', keyPair: { publicKey: 'x', secretKey: 'y' }, logger, queueMessagesMax: 0 }), (err: unknown) => {
    assert.ok(isControlPlaneError(err, 'ERR_INVALID_INPUT'))
    assert.match(err.message, /localId/)
    assert.match(err.message, /bindEndpoint/)
    assert.match(err.message, /keyPair/)
    assert.match(err.message, /queueMessagesMax/)
    return true
  })
  const keyPair = generateCurveKeyPair()
  assert.throws(() => new ZmqTransport({ localId: 'a', bindEndpoint: 'tcp://127.0.0.1:0', keyPair: { publicKey: generateCurveKeyPair().publicKey, secretKey: keyPair.secretKey }, logger }), /publicKey does not belong to secretKey/)
  const transport = new ZmqTransport({ localId: 'a', bindEndpoint: 'tcp://127.0.0.1:0', keyPair, logger })
  assert.throws(() => { transport.setPeer('a', { endpoint: 'tcp://127.0.0.1:1', publicKey: keyPair.publicKey }) }, /this node's own id/)
  assert.throws(() => { transport.setPeer('b', { endpoint: 'tcp://127.0.0.1:1', publicKey: 'short' }) }, /publicKey must be a 40-character Z85 CURVE key/)
  assert.throws(() => { transport.authorize('nope') }, (err: unknown) => isControlPlaneError(err, 'ERR_INVALID_INPUT'))
  await transport.close()
})

// ---------------------------------------------------------------------------------------------
// curve-keys.ts

test('z85 matches the RFC 32 test vector and CURVE keys derive their public half', () => {
  const helloWorld = Uint8Array.from([0x86, 0x4f, 0xd2, 0x6f, 0xb5, 0x59, 0xf7, 0x5b])
  assert.equal(z85Encode(helloWorld), 'HelloWorld')
  assert.deepStrictEqual(z85Decode('HelloWorld'), helloWorld)
  assert.equal(z85Decode('Hello'.slice(0, 4)), undefined)
  assert.equal(z85Decode('Hell~'), undefined)
  assert.equal(z85Decode('#####'), undefined, 'over 2^32 - 1')
  const keyPair = generateCurveKeyPair()
  assert.equal(curvePublicKeyOf(keyPair.secretKey), keyPair.publicKey)
  assert.equal(z85Encode(z85Decode(keyPair.publicKey) ?? new Uint8Array(0)), keyPair.publicKey)
})

test('loadOrCreateCurveKeyPair creates a 0600 key file once and then loads it', async (t) => {
  const dataDir = await mkdtemp(join(tmpdir(), 'weft-curve-'))
  t.after(async () => { await rm(dataDir, { recursive: true, force: true }) })
  const created = await loadOrCreateCurveKeyPair(dataDir)
  assert.equal(created.created, true)
  const path = join(dataDir, 'curve.key')
  assert.equal((await stat(path)).mode & 0o777, 0o600)
  const loaded = await loadOrCreateCurveKeyPair(dataDir)
  assert.deepStrictEqual(loaded, { keyPair: created.keyPair, created: false })
  assert.deepStrictEqual(JSON.parse(await readFile(path, 'utf8')), created.keyPair)

  await chmod(path, 0o644)
  await expectError(loadOrCreateCurveKeyPair(dataDir), 'ERR_INVALID_INPUT', /mode 0644, expected 0600/)
  await chmod(path, 0o600)
  await writeFile(path, '{"publicKey": "nope"')
  await expectError(loadOrCreateCurveKeyPair(dataDir), 'ERR_CORRUPT_STORAGE', /not valid JSON/)
  await writeFile(path, JSON.stringify({ publicKey: generateCurveKeyPair().publicKey, secretKey: created.keyPair.secretKey }))
  await expectError(loadOrCreateCurveKeyPair(dataDir), 'ERR_CORRUPT_STORAGE', /publicKey does not belong to secretKey/)
})
