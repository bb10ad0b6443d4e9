/**
 * The gossip network shell: one UDP socket and one TCP listener on the same port (Consul's serf
 * LAN port is 8301) around the pure SWIM core (core/swim.ts). The agent creates one GossipNode
 * per process with GossipNode.start(); tests and the benchmark run many in one process.
 *
 * What the shell does, and the core never does:
 * - reads the clock (performance.now(), monotonic) and runs one timer at the core's
 *   nextDeadlineMs(), calling tick();
 * - sends each outbound packet: UDP datagrams as they are; reliable packets over a fresh TCP
 *   connection as one length-prefixed frame (stream-frame.ts), then reads at most one reply frame
 *   and hands it to the core. Inbound TCP connections carry one request frame; the core's reply
 *   goes back on the same connection;
 * - seals every datagram and frame with the optional keyring (src/gossip/keyring.ts: AES-GCM, 29
 *   bytes of overhead) and opens every inbound one. What fails to open is dropped with a warning
 *   naming the sender, at most one line per sender host per 10 s (with a count of the rest);
 * - reports join outcomes per address: a join to a cluster with another key, or from an
 *   unencrypted member to an encrypted cluster (or the reverse), fails with an error that says so.
 *
 * Limits: datagrams at most packetBytesMax + keyring overhead; frames at most streamBytesMax +
 * overhead; every stream has a deadline (streamTimeoutMs); at most streamsInboundMax inbound and
 * streamsOutboundMax outbound streams at once (more are refused or dropped and counted). IPv4
 * only (one 'udp4' socket).
 *
 * Ordering: outputs are flushed after every input, in the order the core produced them; member
 * events and broadcasts are emitted synchronously from the flush, and a listener that calls back
 * into the node (broadcast, updateMeta) is flushed by the same loop.
 */
import { createSocket, type RemoteInfo, type Socket as UdpSocket } from 'node:dgram'
import { EventEmitter } from 'node:events'
import { createConnection, createServer, type Server, type Socket } from 'node:net'
import { randomInt } from 'node:crypto'
import type { Logger } from 'pino'
import { ControlPlaneError, isControlPlaneError } from '../util/errors.js'
import { SeededPrng } from '../util/prng.js'
import { lanSwimConfig, validateSwimConfig, type SwimConfig } from './core/config.js'
import { isValidAddress } from './core/codec.js'
import { SwimCore } from './core/swim.js'
import type { Delivery, GossipStats, Member, MemberEvent, MemberMeta, OutboundPacket } from './core/types.js'
import { encodeFrame, readFrame } from './stream-frame.js'

/**
 * What the shell needs from a keyring (src/gossip/keyring.ts's Keyring satisfies it). `decrypt`
 * throws when no installed key opens the message.
 */
export interface GossipKeyring {
  encrypt (plaintext: Uint8Array): Uint8Array
  decrypt (sealed: Uint8Array): Uint8Array
}

/** Bytes a keyring may add to a message (the real one adds 29); bounds inbound sizes. */
const KEYRING_OVERHEAD_BYTES_MAX = 64
const DECRYPT_WARNING_INTERVAL_MS = 10_000
const DECRYPT_WARNING_SENDERS_MAX = 1024
export const DEFAULT_GOSSIP_PORT = 8301

export interface GossipNodeOptions {
  /** Unique member name (the agent's node name). */
  readonly name: string
  /** Interface to bind, e.g. 127.0.0.11 or 0.0.0.0. */
  readonly bindHost: string
  /** UDP and TCP port; 0 picks a free one (tests). */
  readonly port: number
  /** `host:port` other members use; default bindHost:port (required when binding 0.0.0.0). */
  readonly advertise?: string
  readonly meta: MemberMeta
  /** Null or absent: gossip in plaintext. */
  readonly keyring?: GossipKeyring | null
  readonly logger: Logger
  /** Overrides of the LAN defaults (core/config.ts). */
  readonly config?: Partial<SwimConfig>
  /** Deadline of one TCP exchange (connect, request, reply). Default 10 s. */
  readonly streamTimeoutMs?: number
  readonly streamsInboundMax?: number
  readonly streamsOutboundMax?: number
  /** Seed of the core's PRNG; random when absent. */
  readonly seed?: number
  /**
   * Test and benchmark hook: drop outbound UDP datagrams with this probability, drawn from
   * `random` (default Math.random). Never set in production.
   */
  readonly faults?: { readonly udpSendLossRate: number, readonly random?: () => number }
}

/** Shell counters, next to the core's (`stats.core`). */
export interface GossipShellStats {
  udpSendErrors: number
  udpDroppedByFault: number
  udpOversized: number
  decryptFailures: number
  streamsAccepted: number
  streamsRefused: number
  streamErrors: number
  outboundStreamsDropped: number
}

export interface GossipNodeEvents {
  event: [MemberEvent]
  broadcast: [Delivery]
}

type JoinOutcome = { ok: true } | { ok: false, reason: JoinFailure, message: string }
type JoinFailure = 'keyMismatch' | 'unreachable' | 'timeout' | 'protocol'

export class GossipNode extends EventEmitter<GossipNodeEvents> {
  readonly name: string
  /** The advertised `host:port`. */
  readonly address: string
  /** The bound port (useful with port 0). */
  readonly port: number
  private readonly core: SwimCore
  private readonly udp: UdpSocket
  private readonly tcp: Server
  private readonly keyring: GossipKeyring | null
  private readonly log: Logger
  private readonly streamTimeoutMs: number
  private readonly streamsInboundMax: number
  private readonly streamsOutboundMax: number
  private readonly faults: GossipNodeOptions['faults']
  /** Source address of outbound streams, so receivers see (and log) the gossip host. */
  private readonly localAddress: string | undefined
  private readonly openSockets = new Set<Socket>()
  private outboundStreams = 0
  private timer: NodeJS.Timeout | null = null
  private timerAtMs = Infinity
  private flushing = false
  private stopped = false
  private readonly joinOutcomes = new Map<string, Promise<JoinOutcome>>()
  private readonly leaveWaiters = new Set<() => void>()
  private readonly decryptWarnings = new Map<string, { lastMs: number, suppressed: number }>()
  readonly shellStats: GossipShellStats = {
    udpSendErrors: 0, udpDroppedByFault: 0, udpOversized: 0, decryptFailures: 0, streamsAccepted: 0, streamsRefused: 0, streamErrors: 0, outboundStreamsDropped: 0
  }

  private constructor (init: {
    options: GossipNodeOptions, config: SwimConfig, udp: UdpSocket, tcp: Server, port: number, address: string
  }) {
    super()
    const { options } = init
    this.name = options.name
    this.address = init.address
    this.port = init.port
    this.udp = init.udp
    this.tcp = init.tcp
    this.keyring = options.keyring ?? null
    this.log = options.logger.child({ component: 'gossip', member: options.name })
    this.streamTimeoutMs = options.streamTimeoutMs ?? 10_000
    this.streamsInboundMax = options.streamsInboundMax ?? 128
    this.streamsOutboundMax = options.streamsOutboundMax ?? 64
    this.faults = options.faults
    this.localAddress = options.bindHost === '0.0.0.0' ? undefined : options.bindHost
    this.core = new SwimCore({
      name: options.name,
      address: init.address,
      meta: options.meta,
      config: init.config,
      prng: new SeededPrng(options.seed ?? randomInt(2 ** 32 - 1)),
      nowMs: now(),
      logger: this.log
    })
  }

  /** Binds UDP and TCP on bindHost:port and starts the protocol (not yet joined to anyone). */
  static async start (options: GossipNodeOptions): Promise<GossipNode> {
    const config = validateSwimConfig({ ...lanSwimConfig, ...options.config })
    if (options.advertise === undefined && (options.bindHost === '0.0.0.0' || options.bindHost === '::')) {
      throw new ControlPlaneError('ERR_INVALID_INPUT', `gossip bind address ${options.bindHost} needs an advertise address (host:port) other members can reach`)
    }
    const { udp, tcp, port } = await bindBoth(options.bindHost, options.port)
    const address = options.advertise ?? `${options.bindHost}:${port}`
    let node: GossipNode
    try {
      if (!isValidAddress(address)) throw new ControlPlaneError('ERR_INVALID_INPUT', `gossip advertise address must be host:port, got ${JSON.stringify(address)}`)
      node = new GossipNode({ options, config, udp, tcp, port, address })
    } catch (err) {
      udp.close()
      tcp.close()
      throw err
    }
    node.listen()
    node.log.info({ address, port, encrypted: node.keyring !== null }, 'gossip started')
    node.flush()
    return node
  }

  // -------------------------------------------------------------------------------------------
  // Public API

  get stats (): { readonly core: Readonly<GossipStats>, readonly shell: Readonly<GossipShellStats> } {
    return { core: this.core.stats, shell: this.shellStats }
  }

  get incarnation (): number {
    return this.core.incarnation
  }

  get healthScore (): number {
    return this.core.healthScore
  }

  /** Every known member, this one included, sorted by name. */
  members (): Member[] {
    return this.core.members()
  }

  member (name: string): Member | undefined {
    return this.core.member(name)
  }

  /**
   * Joins the cluster through the given addresses (`host:port`, or `host` for port 8301) with a
   * full state exchange each. Resolves with the number contacted; rejects (ERR_TRANSPORT, with
   * `details.failures`) when none answered, saying why for each: unreachable, timed out, or a
   * reply no key could decrypt (the gossip keys differ, or only one side encrypts).
   */
  async join (addresses: readonly string[]): Promise<number> {
    this.assertRunning('join')
    if (addresses.length === 0) throw new ControlPlaneError('ERR_INVALID_INPUT', 'join needs at least one address')
    const targets = [...new Set(addresses.map(normalizeJoinAddress))].filter(address => address !== this.address)
    if (targets.length === 0) return 0
    this.core.join(targets, now())
    this.flush()
    const outcomes = await Promise.all(targets.map(async target => {
      const outcome = this.joinOutcomes.get(target)
      this.joinOutcomes.delete(target)
      return { target, outcome: outcome === undefined ? joinFailure('protocol', 'the join request was not sent (stream limit reached)') : await outcome }
    }))
    const contacted = outcomes.filter(({ outcome }) => outcome.ok).length
    const failures = outcomes.flatMap(({ target, outcome }) => outcome.ok ? [] : [{ address: target, reason: outcome.reason, message: `join ${target} failed: ${outcome.message}` }])
    for (const failure of failures) this.log.warn({ address: failure.address, reason: failure.reason }, 'gossip join attempt failed')
    if (contacted > 0) {
      this.log.info({ contacted, attempted: targets.length }, 'joined the gossip pool')
      return contacted
    }
    const message = failures.length === 1 ? failures[0]!.message : `join failed for every address: ${failures.map(failure => failure.message).join('; ')}`
    throw new ControlPlaneError('ERR_TRANSPORT', message, { details: { failures } })
  }

  /**
   * Leaves gracefully: gossips the departure and waits until it has been sent its full
   * retransmit count or `timeoutMs` passed. Resolves true when disseminated. Call stop() after.
   */
  async leave (timeoutMs: number): Promise<boolean> {
    this.assertRunning('leave')
    this.core.leave(now())
    this.flush()
    if (this.core.isLeaveDisseminated()) return true
    return await new Promise<boolean>(resolve => {
      const done = (disseminated: boolean): void => {
        clearTimeout(deadline)
        this.leaveWaiters.delete(onFlush)
        resolve(disseminated)
      }
      const onFlush = (): void => { if (this.core.isLeaveDisseminated()) done(true) }
      const deadline = setTimeout(() => done(false), timeoutMs)
      this.leaveWaiters.add(onFlush)
    })
  }

  /** Replaces this member's meta and gossips it (a new incarnation). */
  updateMeta (meta: MemberMeta): void {
    this.assertRunning('updateMeta')
    this.core.updateMeta(meta, now())
    this.flush()
  }

  /** Broadcasts a user payload (at most userPayloadBytesMax) to every member, this one included. */
  broadcast (payload: Uint8Array): void {
    this.assertRunning('broadcast')
    this.core.broadcast(payload, now())
    this.flush()
  }

  /** Closes the sockets at once, without leaving: to the others this member has failed. */
  async stop (): Promise<void> {
    if (this.stopped) return
    this.stopped = true
    if (this.timer !== null) clearTimeout(this.timer)
    this.timer = null
    for (const waiter of this.leaveWaiters) waiter()
    for (const socket of this.openSockets) socket.destroy()
    this.openSockets.clear()
    await Promise.all([
      new Promise<void>(resolve => this.udp.close(() => resolve())),
      new Promise<void>(resolve => this.tcp.close(() => resolve()))
    ])
    this.log.info({}, 'gossip stopped')
  }

  // -------------------------------------------------------------------------------------------
  // Driving the core

  private flush (): void {
    if (this.flushing || this.stopped) return
    this.flushing = true
    try {
      while (this.core.hasReady()) {
        const ready = this.core.takeReady()
        for (const packet of ready.packets) this.send(packet)
        for (const event of ready.events) {
          logMemberEvent(this.log, event)
          this.emitSafely('event', () => this.emit('event', event))
        }
        for (const delivery of ready.deliveries) this.emitSafely('broadcast', () => this.emit('broadcast', delivery))
      }
    } finally {
      this.flushing = false
    }
    for (const waiter of this.leaveWaiters) waiter()
    this.schedule()
  }

  private emitSafely (listener: keyof GossipNodeEvents, emit: () => void): void {
    try {
      emit()
    } catch (err) {
      this.log.error({ err, listener }, 'a gossip event listener threw')
    }
  }

  private schedule (): void {
    if (this.stopped) return
    const deadlineMs = this.core.nextDeadlineMs()
    if (this.timer !== null && deadlineMs >= this.timerAtMs) return
    if (this.timer !== null) clearTimeout(this.timer)
    // A ceiling keeps the node ticking even if a deadline was missed (a paused process).
    const delayMs = Math.max(0, Math.min(1000, Math.ceil(deadlineMs - now())))
    this.timerAtMs = now() + delayMs
    this.timer = setTimeout(() => {
      this.timer = null
      this.timerAtMs = Infinity
      if (this.stopped) return
      this.core.tick(now())
      this.flush()
    }, delayMs)
  }

  private send (packet: OutboundPacket): void {
    if (packet.reliable) {
      const outcome = this.exchange(packet)
      if (packet.purpose === 'join') this.joinOutcomes.set(packet.to, outcome)
      return
    }
    this.sendDatagram(packet)
  }

  private sendDatagram (packet: OutboundPacket): void {
    if (this.faults !== undefined && (this.faults.random ?? Math.random)() < this.faults.udpSendLossRate) {
      this.shellStats.udpDroppedByFault += 1
      return
    }
    const { host, port } = splitHostPort(packet.to)
    const bytes = this.seal(packet.bytes)
    this.udp.send(bytes, port, host, err => {
      if (err === null || err === undefined) return
      this.shellStats.udpSendErrors += 1
      this.log.debug({ err, to: packet.to, purpose: packet.purpose }, 'gossip datagram send failed')
    })
  }

  // -------------------------------------------------------------------------------------------
  // Inbound

  private listen (): void {
    this.udp.on('message', (message: Buffer, remote: RemoteInfo) => this.onDatagram(message, `${remote.address}:${remote.port}`))
    this.udp.on('error', err => this.log.error({ err }, 'gossip UDP socket error'))
    this.tcp.on('connection', socket => { void this.onStream(socket) })
    this.tcp.on('error', err => this.log.error({ err }, 'gossip TCP listener error'))
  }

  private onDatagram (message: Buffer, from: string): void {
    if (this.stopped) return
    if (message.length > this.core.config.packetBytesMax + KEYRING_OVERHEAD_BYTES_MAX) {
      this.shellStats.udpOversized += 1
      return
    }
    const plaintext = this.open(new Uint8Array(message.buffer, message.byteOffset, message.length), from)
    if (plaintext === null) return
    const droppedBefore = droppedCount(this.core.stats)
    this.core.receivePacket(from, plaintext, now())
    if (this.keyring === null && droppedCount(this.core.stats) > droppedBefore) this.warnUndecodable(from)
    this.flush()
  }

  /** One inbound stream: one request frame, at most one reply frame, then close. */
  private async onStream (socket: Socket): Promise<void> {
    const peer = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? 0}`
    if (this.stopped || this.openSockets.size >= this.streamsInboundMax) {
      this.shellStats.streamsRefused += 1
      socket.destroy()
      return
    }
    this.shellStats.streamsAccepted += 1
    this.openSockets.add(socket)
    // Errors outside readFrame (a reset while the reply is written) must not go unhandled.
    socket.on('error', err => this.log.debug({ err, peer }, 'inbound gossip stream error'))
    socket.setNoDelay(true)
    try {
      const frame = await readFrame(socket, { bytesMax: this.frameBytesMax(), deadlineMs: this.streamTimeoutMs, peer })
      if (frame === null || this.stopped) return
      const plaintext = this.open(frame, peer)
      if (plaintext === null) return
      const result = this.core.receiveStream(peer, plaintext, now())
      if (!result.ok && this.keyring === null) this.warnUndecodable(peer)
      if (result.ok && result.reply !== null) socket.end(encodeFrame(this.seal(result.reply)))
      this.flush()
    } catch (err) {
      this.shellStats.streamErrors += 1
      this.log.debug({ err, peer }, 'inbound gossip stream failed')
    } finally {
      this.openSockets.delete(socket)
      if (!socket.writableEnded) socket.destroy()
    }
  }

  /** One outbound exchange: connect, write the request, read the reply if any. */
  private async exchange (packet: OutboundPacket): Promise<JoinOutcome> {
    if (this.outboundStreams >= this.streamsOutboundMax) {
      this.shellStats.outboundStreamsDropped += 1
      return joinFailure('protocol', `too many gossip streams in flight (${this.streamsOutboundMax})`)
    }
    this.outboundStreams += 1
    const deadline = Date.now() + this.streamTimeoutMs
    let socket: Socket | null = null
    try {
      socket = await connect(packet.to, this.streamTimeoutMs, this.localAddress)
      this.openSockets.add(socket)
      socket.write(encodeFrame(this.seal(packet.bytes)))
      const reply = await readFrame(socket, { bytesMax: this.frameBytesMax(), deadlineMs: Math.max(1, deadline - Date.now()), peer: packet.to })
      if (this.stopped) return joinFailure('protocol', 'gossip stopped')
      if (reply === null) return joinFailure('keyMismatch', keyMismatchMessage)
      const plaintext = this.open(reply, packet.to)
      if (plaintext === null) return joinFailure('keyMismatch', keyMismatchMessage)
      const result = this.core.receiveStream(packet.to, plaintext, now())
      this.flush()
      return result.ok ? { ok: true } : joinFailure('protocol', `the reply could not be decoded (${result.reason}); is the agent there a compatible weft?`)
    } catch (err) {
      this.shellStats.streamErrors += 1
      this.log.debug({ err, to: packet.to, purpose: packet.purpose }, 'outbound gossip stream failed')
      return classifyStreamError(err, this.streamTimeoutMs)
    } finally {
      this.outboundStreams -= 1
      if (socket !== null) {
        this.openSockets.delete(socket)
        socket.destroy()
      }
    }
  }

  // -------------------------------------------------------------------------------------------
  // Encryption

  private seal (plaintext: Uint8Array): Uint8Array {
    return this.keyring === null ? plaintext : this.keyring.encrypt(plaintext)
  }

  /** The plaintext, or null (counted, warned) when the keyring cannot open it. */
  private open (sealed: Uint8Array, from: string): Uint8Array | null {
    if (this.keyring === null) return sealed
    try {
      return this.keyring.decrypt(sealed)
    } catch (err) {
      this.shellStats.decryptFailures += 1
      const reason = isControlPlaneError(err) ? String(err.details.reason ?? err.code) : 'error'
      this.warnRateLimited(from, { reason }, 'dropped gossip that no installed key decrypts; is the gossip key (-encrypt) the same on every agent?')
      return null
    }
  }

  private warnUndecodable (from: string): void {
    this.warnRateLimited(from, { reason: 'undecodable' }, 'dropped gossip this agent cannot decode; the sender may be encrypting gossip while this agent is not')
  }

  /** At most one warning per sender host per 10 s; the next one says how many were suppressed. */
  private warnRateLimited (from: string, fields: Record<string, unknown>, message: string): void {
    const host = from.slice(0, Math.max(0, from.lastIndexOf(':'))) || from
    const nowMs = now()
    const entry = this.decryptWarnings.get(host)
    if (entry !== undefined && nowMs - entry.lastMs < DECRYPT_WARNING_INTERVAL_MS) {
      entry.suppressed += 1
      return
    }
    if (entry === undefined && this.decryptWarnings.size >= DECRYPT_WARNING_SENDERS_MAX) {
      const oldest = this.decryptWarnings.keys().next().value
      if (oldest !== undefined) this.decryptWarnings.delete(oldest)
    }
    this.decryptWarnings.delete(host)
    this.decryptWarnings.set(host, { lastMs: nowMs, suppressed: 0 })
    this.log.warn({ ...fields, from, suppressed: entry?.suppressed ?? 0 }, message)
  }

  private frameBytesMax (): number {
    return this.core.config.streamBytesMax + KEYRING_OVERHEAD_BYTES_MAX
  }

  private assertRunning (operation: string): void {
    if (this.stopped) throw new ControlPlaneError('ERR_STOPPED', `gossip ${operation} after stop()`)
  }
}

const keyMismatchMessage = 'no reply could be decrypted — is the gossip key (-encrypt) the same on every agent?'

function joinFailure (reason: JoinFailure, message: string): JoinOutcome {
  return { ok: false, reason, message }
}

function classifyStreamError (err: unknown, timeoutMs: number): JoinOutcome {
  const code = (err as { code?: unknown })?.code
  if (code === 'ERR_TIMEOUT') return joinFailure('timeout', `no reply within ${timeoutMs} ms`)
  if (code === 'ECONNREFUSED') return joinFailure('unreachable', 'connection refused (is a weft agent listening there?)')
  if (code === 'ERR_TRANSPORT') {
    const cause = (err as { cause?: { code?: unknown } }).cause?.code
    if (cause === 'ECONNRESET' || cause === 'EPIPE') return joinFailure('keyMismatch', keyMismatchMessage)
  }
  if (code === 'ECONNRESET' || code === 'EPIPE') return joinFailure('keyMismatch', keyMismatchMessage)
  return joinFailure('unreachable', (err as Error)?.message ?? String(err))
}

async function connect (address: string, timeoutMs: number, localAddress: string | undefined): Promise<Socket> {
  const { host, port } = splitHostPort(address)
  return await new Promise<Socket>((resolve, reject) => {
    const socket = createConnection(localAddress === undefined ? { host, port } : { host, port, localAddress })
    // A permanent handler: errors between connect and read, or while writing, must not go
    // unhandled. Each phase reports its own failure through its own listener.
    socket.on('error', () => {})
    socket.setNoDelay(true)
    const timer = setTimeout(() => {
      socket.destroy()
      reject(new ControlPlaneError('ERR_TIMEOUT', `gossip connect to ${address} timed out after ${timeoutMs} ms`))
    }, timeoutMs)
    socket.once('connect', () => {
      clearTimeout(timer)
      socket.off('error', onError)
      resolve(socket)
    })
    const onError = (err: Error): void => {
      clearTimeout(timer)
      socket.destroy()
      reject(err)
    }
    socket.once('error', onError)
  })
}

/** Binds UDP and TCP on one port; with port 0, TCP picks it and UDP follows (retrying a clash). */
async function bindBoth (host: string, port: number): Promise<{ udp: UdpSocket, tcp: Server, port: number }> {
  for (let attempt = 0; attempt < 8; attempt += 1) {
    const tcp = createServer({ pauseOnConnect: true })
    await listenTcp(tcp, host, port)
    const boundPort = (tcp.address() as { port: number }).port
    const udp = createSocket({ type: 'udp4' })
    try {
      await bindUdp(udp, host, boundPort)
      return { udp, tcp, port: boundPort }
    } catch (err) {
      udp.close()
      await new Promise<void>(resolve => tcp.close(() => resolve()))
      if (port !== 0 || (err as { code?: unknown }).code !== 'EADDRINUSE') {
        throw new ControlPlaneError('ERR_TRANSPORT', `gossip cannot bind UDP ${host}:${boundPort}: ${(err as Error).message}`, { cause: err })
      }
    }
  }
  throw new ControlPlaneError('ERR_TRANSPORT', `gossip found no port free for both UDP and TCP on ${host}`)
}

async function listenTcp (server: Server, host: string, port: number): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', err => reject(new ControlPlaneError('ERR_TRANSPORT', `gossip cannot bind TCP ${host}:${port}: ${err.message}`, { cause: err })))
    server.listen({ host, port, exclusive: true }, () => resolve())
  })
}

async function bindUdp (socket: UdpSocket, host: string, port: number): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject)
    socket.bind({ address: host, port, exclusive: true }, () => {
      socket.off('error', reject)
      resolve()
    })
  })
}

function splitHostPort (address: string): { host: string, port: number } {
  const colon = address.lastIndexOf(':')
  return { host: address.slice(0, colon).replace(/^\[|\]$/g, ''), port: Number(address.slice(colon + 1)) }
}

function normalizeJoinAddress (address: string): string {
  const trimmed = address.trim()
  const withPort = /:\d+$/.test(trimmed) ? trimmed : `${trimmed}:${DEFAULT_GOSSIP_PORT}`
  if (!isValidAddress(withPort)) throw new ControlPlaneError('ERR_INVALID_INPUT', `join address must be host or host:port, got ${JSON.stringify(address)}`)
  return withPort
}

function droppedCount (stats: GossipStats): number {
  const dropped = stats.dropped
  return dropped.truncated + dropped.malformed + dropped.oversized + dropped.unknownVersion + dropped.wrongChannel
}

function logMemberEvent (log: Logger, event: MemberEvent): void {
  const fields = { event: event.type, name: event.member.name, address: event.member.address, incarnation: event.member.incarnation }
  if (event.type === 'join' || event.type === 'failed' || event.type === 'leave' || event.type === 'reap') log.info(fields, 'gossip member event')
  else log.debug(fields, 'gossip member event')
}

function now (): number {
  return performance.now()
}

