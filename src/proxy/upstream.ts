/**
 * Upstream listeners (spec §7.4 "Outbound"): a plain TCP listener on the local bind address
 * (127.0.0.1 by default) for one destination service. Each accepted connection is sent to a
 * healthy mesh-capable endpoint of the destination, over TLS 1.3 presenting this proxy's leaf;
 * the server must chain to the trust bundle and present exactly the destination's SPIFFE ID.
 *
 * Endpoints come from a watched `/v1/health/connect/<name>?passing` (UpstreamResolver). Endpoints
 * are tried round robin, at most `attemptsMax` per connection, each bounded by the upstream's
 * connect timeout (TCP connect plus handshake); a failed dial moves on to the next endpoint.
 *
 * TLS sessions are resumed per endpoint (SessionCache), which spares both sides the signatures
 * of a full handshake. Sessions are kept only for a connection whose server identity was
 * verified, and dropped whenever the leaf or the trust bundle changes, so a resumed connection
 * never carries an old identity past a rotation.
 *
 * Callers: proxy.ts.
 */
import { connect as tlsConnect, type ConnectionOptions, type PeerCertificate, type TLSSocket } from 'node:tls'
import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net'
import type { X509Certificate } from 'node:crypto'
import type { Logger } from 'pino'
import type { AgentPort } from './agent-client.js'
import { blockingQuery, type TlsSnapshot } from './certificates.js'
import { checkServerService } from './identity.js'
import type { ProxyCounters } from './metrics.js'
import { endpointsFromHealth, RoundRobin, type UpstreamEndpoint } from './selection.js'
import { splice } from './splice.js'
import type { UpstreamConfig } from './types.js'
import { Watch } from './watch.js'

export interface OutboundConnection {
  readonly local: Socket
  readonly mesh: TLSSocket
  readonly endpoint: UpstreamEndpoint
  readonly peerCertificate: X509Certificate | undefined
  closing: boolean
}

/** The healthy mesh endpoints of one destination, kept fresh by a blocking query. */
export class UpstreamResolver {
  private readonly watch: Watch<UpstreamEndpoint[]>

  constructor (o: { agent: AgentPort, destination: string, datacenter: string, logger: Logger, waitMs?: number }) {
    const waitMs = o.waitMs ?? 60_000
    const path = `/v1/health/connect/${encodeURIComponent(o.destination)}`
    this.watch = new Watch<UpstreamEndpoint[]>({
      what: `upstream ${o.destination}`,
      logger: o.logger,
      fetch: async (version, signal) => {
        const query = { passing: '1', ...(o.datacenter !== '' ? { dc: o.datacenter } : {}), ...blockingQuery(version, waitMs) }
        const answer = await o.agent.request<unknown>({ method: 'GET', path, query, timeoutMs: waitMs + 15_000, signal })
        return { value: endpointsFromHealth(answer.value, o.destination), version: String(answer.index) }
      },
      onValue: endpoints => o.logger.info({ destination: o.destination, endpoints: endpoints.map(e => `${e.address}:${e.port}`) }, 'upstream endpoints changed')
    })
  }

  start (): void { this.watch.start() }
  stop (): void { this.watch.stop() }

  /** The current endpoints, waiting up to `timeoutMs` for the first answer. */
  async endpoints (timeoutMs: number): Promise<readonly UpstreamEndpoint[]> {
    return this.watch.value ?? await this.watch.ready(timeoutMs)
  }
}

/** Resumable TLS sessions per endpoint, valid for one snapshot generation. */
export class SessionCache {
  private readonly sessions = new Map<string, Buffer>()
  private generation = 0

  constructor (private readonly entriesMax = 1_024) {}

  get (key: string, generation: number): Buffer | undefined {
    if (generation !== this.generation) return undefined
    return this.sessions.get(key)
  }

  set (key: string, generation: number, session: Buffer): void {
    if (generation !== this.generation) {
      this.sessions.clear()
      this.generation = generation
    }
    if (!this.sessions.has(key) && this.sessions.size >= this.entriesMax) this.sessions.clear()
    this.sessions.set(key, session)
  }

  clear (): void {
    this.sessions.clear()
  }
}

export interface UpstreamListenerOptions {
  readonly config: UpstreamConfig
  /** The source service (this proxy's), for logs. */
  readonly service: string
  readonly snapshot: () => TlsSnapshot
  readonly resolver: UpstreamResolver
  readonly sessions: SessionCache
  readonly counters: ProxyCounters
  readonly logger: Logger
  readonly attemptsMax?: number
  readonly connectionsMax?: number
}

const attemptsMaxDefault = 3
const connectionsMaxDefault = 10_000

export class UpstreamListener {
  readonly connections = new Set<OutboundConnection>()
  private readonly server: NetServer
  private readonly order = new RoundRobin()

  constructor (private readonly options: UpstreamListenerOptions) {
    this.server = createNetServer({ allowHalfOpen: true, pauseOnConnect: true, noDelay: true }, local => { void this.onConnection(local) })
    this.server.maxConnections = options.connectionsMax ?? connectionsMaxDefault
  }

  async listen (): Promise<{ address: string, port: number }> {
    const { localBindAddress, localBindPort } = this.options.config
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject)
      this.server.listen(localBindPort, localBindAddress, () => {
        this.server.off('error', reject)
        resolve()
      })
    })
    const address = this.server.address()
    if (address === null || typeof address === 'string') throw new Error('upstream listener has no TCP address')
    return { address: address.address, port: address.port }
  }

  closeWhere (shouldClose: (connection: OutboundConnection) => boolean, reason: string): number {
    let count = 0
    for (const connection of this.connections) {
      if (connection.closing || !shouldClose(connection)) continue
      connection.closing = true
      count += 1
      this.options.logger.info({ source: this.options.service, destination: this.options.config.destinationName, endpoint: connection.endpoint.id, reason }, 'open connection closed')
      connection.mesh.destroy()
      connection.local.destroy()
    }
    return count
  }

  async close (): Promise<void> {
    const closed = new Promise<void>(resolve => this.server.close(() => resolve()))
    this.closeWhere(() => true, 'proxy stopping')
    this.options.resolver.stop()
    await closed
  }

  private async onConnection (local: Socket): Promise<void> {
    const { counters, logger, config } = this.options
    counters.outboundAccepted += 1
    local.on('error', err => logger.debug({ destination: config.destinationName, err: err.message }, 'local upstream connection error'))
    let endpoints: readonly UpstreamEndpoint[]
    try {
      endpoints = await this.options.resolver.endpoints(config.connectTimeoutMs)
    } catch (err) {
      this.fail(local, `could not resolve ${config.destinationName}: ${(err as Error).message}`)
      return
    }
    for (const endpoint of this.order.next(endpoints, this.options.attemptsMax ?? attemptsMaxDefault)) {
      if (local.destroyed) return
      try {
        const mesh = await this.dial(endpoint)
        if (local.destroyed) {
          mesh.destroy()
          return
        }
        this.established(local, mesh, endpoint)
        return
      } catch (err) {
        counters.outboundDialFailed += 1
        logger.warn({ source: this.options.service, destination: config.destinationName, endpoint: endpoint.id, address: `${endpoint.address}:${endpoint.port}`, err: (err as Error).message }, 'upstream dial failed')
      }
    }
    this.fail(local, endpoints.length === 0 ? `no healthy endpoint for ${config.destinationName}` : `every endpoint tried for ${config.destinationName} failed`)
  }

  private fail (local: Socket, reason: string): void {
    this.options.counters.outboundFailed += 1
    this.options.logger.warn({ source: this.options.service, destination: this.options.config.destinationName, reason }, 'upstream connection failed')
    local.destroy()
  }

  /** TCP connect + TLS handshake + identity check, bounded by the connect timeout. */
  private async dial (endpoint: UpstreamEndpoint): Promise<TLSSocket> {
    const snapshot = this.options.snapshot()
    const sessionKey = `${endpoint.service}|${endpoint.address}:${endpoint.port}`
    const expected = { trustDomain: snapshot.bundle.trustDomain, datacenter: endpoint.datacenter !== '' ? endpoint.datacenter : snapshot.datacenter, service: endpoint.service }
    const timeoutMs = this.options.config.connectTimeoutMs
    return await new Promise<TLSSocket>((resolve, reject) => {
      const session = this.options.sessions.get(sessionKey, snapshot.generation)
      // allowHalfOpen is honoured by tls.connect (it builds the TLSSocket with it) but missing from its types.
      const mesh = tlsConnect({
        host: endpoint.address,
        port: endpoint.port,
        secureContext: snapshot.clientContext,
        minVersion: 'TLSv1.3',
        allowHalfOpen: true,
        noDelay: true,
        ...(session !== undefined ? { session } : {}),
        checkServerIdentity: (_host: string, certificate: PeerCertificate) => {
          const refusal = checkServerService(certificate.subjectaltname, expected)
          return refusal === null ? undefined : new Error(refusal)
        }
      } as ConnectionOptions)
      // tls.connect ignores noDelay (it is a net.Socket constructor option): without this, Nagle holds the
      // client's first data behind its Finished message for a delayed ACK (~40 ms) on resumed sessions.
      mesh.setNoDelay(true)
      let verified = false
      let pendingSession: Buffer | null = null
      mesh.on('session', (ticket: Buffer) => {
        if (verified) this.options.sessions.set(sessionKey, snapshot.generation, ticket)
        else pendingSession = ticket
      })
      const timer = setTimeout(() => mesh.destroy(new Error(`no TLS connection to ${endpoint.address}:${endpoint.port} within ${timeoutMs} ms`)), timeoutMs)
      const onError = (err: Error): void => {
        clearTimeout(timer)
        mesh.destroy()
        reject(err)
      }
      mesh.once('error', onError)
      mesh.once('secureConnect', () => {
        clearTimeout(timer)
        mesh.off('error', onError)
        verified = true
        if (pendingSession !== null) this.options.sessions.set(sessionKey, snapshot.generation, pendingSession)
        if (mesh.isSessionReused()) this.options.counters.outboundResumed += 1
        resolve(mesh)
      })
    })
  }

  private established (local: Socket, mesh: TLSSocket, endpoint: UpstreamEndpoint): void {
    const { counters, logger, config } = this.options
    counters.outboundEstablished += 1
    counters.activeOutbound += 1
    const connection: OutboundConnection = { local, mesh, endpoint, peerCertificate: mesh.getPeerX509Certificate(), closing: false }
    this.connections.add(connection)
    mesh.on('error', err => logger.debug({ destination: config.destinationName, endpoint: endpoint.id, err: err.message }, 'upstream mesh connection error'))
    logger.info({ source: this.options.service, destination: config.destinationName, endpoint: endpoint.id, resumed: mesh.isSessionReused() }, 'upstream connection established')
    splice(local, mesh, result => {
      this.connections.delete(connection)
      counters.activeOutbound -= 1
      counters.bytesOut += result.localBytesRead
      counters.bytesIn += result.localBytesWritten
      logger.debug({ destination: config.destinationName, endpoint: endpoint.id, bytesIn: result.localBytesWritten, bytesOut: result.localBytesRead, err: result.error?.message }, 'upstream connection closed')
    })
  }
}
