/**
 * The public listener (spec §7.4 "Inbound"): a TLS 1.3 server that presents the service's
 * leaf, requires a client certificate chaining to the trust bundle, takes the source service
 * from the certificate's single SPIFFE URI, asks the Authorizer, and then either splices the
 * connection to the local application (dialled with `localConnectTimeoutMs`) or closes it
 * without sending anything.
 *
 * Every open connection is tracked with its source and peer certificate, so the proxy can close
 * those an intention change now denies, or whose issuing root left the bundle (`closeWhere`).
 * Certificates are swapped with setSecureContext: only new handshakes see the new context.
 *
 * Limits: `connectionsMax` open connections (further ones are refused by the kernel backlog /
 * server.maxConnections), handshake timeout `handshakeTimeoutMs`.
 *
 * Callers: proxy.ts.
 */
import type { X509Certificate } from 'node:crypto'
import { connect as netConnect, type Socket } from 'node:net'
import { createServer as createTlsServer, type Server as TlsServer, type TLSSocket } from 'node:tls'
import type { Logger } from 'pino'
import type { Authorizer } from './authorize.js'
import type { TlsSnapshot } from './certificates.js'
import { peerService } from './identity.js'
import type { ProxyCounters } from './metrics.js'
import { splice } from './splice.js'
import type { PublicListenerConfig } from './types.js'

export interface InboundConnection {
  readonly socket: TLSSocket
  local: Socket | null
  readonly remote: string
  readonly sourceUri: string
  readonly source: string
  /** Colon-hex, as authorize takes it. */
  readonly serial: string
  readonly peerCertificate: X509Certificate
  /** Set once the connection is being closed by the proxy, so it is reported once. */
  closing: boolean
}

export interface PublicListenerOptions {
  readonly config: PublicListenerConfig
  /** The service this proxy represents (for logs; authorize's Target is the Authorizer's). */
  readonly service: string
  readonly snapshot: TlsSnapshot
  readonly authorizer: Authorizer
  readonly counters: ProxyCounters
  readonly logger: Logger
  readonly connectionsMax?: number
}

const connectionsMaxDefault = 10_000

export class PublicListener {
  readonly connections = new Set<InboundConnection>()
  private readonly server: TlsServer
  private config: PublicListenerConfig

  constructor (private readonly options: PublicListenerOptions) {
    this.config = options.config
    this.server = createTlsServer({
      ...options.snapshot.serverOptions,
      requestCert: true,
      rejectUnauthorized: true,
      handshakeTimeout: options.config.handshakeTimeoutMs,
      allowHalfOpen: true,
      noDelay: true
    })
    this.server.maxConnections = options.connectionsMax ?? connectionsMaxDefault
    this.server.on('secureConnection', socket => { void this.onSecureConnection(socket) })
    this.server.on('tlsClientError', (err, socket) => {
      options.counters.inboundHandshakeFailed += 1
      options.logger.warn({ remote: remoteOf(socket), destination: options.service, err: err.message }, 'inbound TLS handshake failed')
    })
  }

  async listen (): Promise<{ address: string, port: number }> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject)
      this.server.listen(this.config.bindPort, this.config.bindAddress, () => {
        this.server.off('error', reject)
        resolve()
      })
    })
    const address = this.server.address()
    if (address === null || typeof address === 'string') throw new Error('public listener has no TCP address')
    return { address: address.address, port: address.port }
  }

  /** New handshakes use `snapshot`; open connections keep theirs. */
  useSnapshot (snapshot: TlsSnapshot): void {
    this.server.setSecureContext(snapshot.serverOptions)
  }

  /** Where new connections go (sidecar registration changed its local service address). */
  setLocalService (config: PublicListenerConfig): void {
    this.config = config
  }

  /** Closes every open connection that `shouldClose` picks; returns how many. */
  closeWhere (shouldClose: (connection: InboundConnection) => boolean, reason: string): number {
    let count = 0
    for (const connection of this.connections) {
      if (connection.closing || !shouldClose(connection)) continue
      connection.closing = true
      count += 1
      this.options.logger.info({ source: connection.source, destination: this.options.service, remote: connection.remote, reason }, 'open connection closed')
      connection.socket.destroy()
      connection.local?.destroy()
    }
    return count
  }

  async close (): Promise<void> {
    const closed = new Promise<void>(resolve => this.server.close(() => resolve()))
    this.closeWhere(() => true, 'proxy stopping')
    await closed
  }

  private async onSecureConnection (socket: TLSSocket): Promise<void> {
    const { counters, logger, service } = this.options
    counters.inboundAccepted += 1
    const remote = remoteOf(socket)
    socket.on('error', err => logger.debug({ remote, err: err.message }, 'inbound connection error'))
    const certificate = socket.getPeerX509Certificate()
    const peer = peerService(certificate?.subjectAltName)
    if (certificate === undefined || !peer.ok) {
      counters.inboundRefused += 1
      logger.warn({ remote, destination: service, reason: peer.ok ? 'no client certificate' : peer.reason }, 'connection refused: unusable client identity')
      socket.destroy()
      return
    }
    const connection: InboundConnection = {
      socket, local: null, remote, sourceUri: peer.uri, source: peer.service, serial: colonSerial(certificate.serialNumber), peerCertificate: certificate, closing: false
    }
    this.track(connection)
    let decision
    try {
      decision = await this.options.authorizer.decide(peer.uri, connection.serial)
    } catch (err) {
      counters.inboundRefused += 1
      logger.error({ remote, source: peer.service, destination: service, err: (err as Error).message }, 'connection refused: authorize failed')
      socket.destroy()
      return
    }
    if (socket.destroyed || connection.closing) return
    if (!decision.authorized) {
      counters.inboundDenied += 1
      logger.info({ remote, source: peer.service, destination: service, reason: decision.reason }, 'connection denied')
      connection.closing = true
      socket.destroy()
      return
    }
    this.connectLocal(connection, decision.reason)
  }

  private track (connection: InboundConnection): void {
    const { counters } = this.options
    this.connections.add(connection)
    counters.activeInbound += 1
    connection.socket.once('close', () => {
      this.connections.delete(connection)
      counters.activeInbound -= 1
    })
  }

  private connectLocal (connection: InboundConnection, reason: string): void {
    const { counters, logger, service } = this.options
    const { localServiceAddress: host, localServicePort: port, localConnectTimeoutMs } = this.config
    const local = netConnect({ host, port, allowHalfOpen: true, noDelay: true })
    connection.local = local
    const timer = setTimeout(() => local.destroy(new Error(`connect to ${host}:${port} timed out after ${localConnectTimeoutMs} ms`)), localConnectTimeoutMs)
    const onDialError = (err: Error): void => {
      clearTimeout(timer)
      counters.inboundLocalDialFailed += 1
      logger.error({ source: connection.source, destination: service, local: `${host}:${port}`, err: err.message }, 'connection dropped: local application unreachable')
      connection.socket.destroy()
    }
    local.once('error', onDialError)
    local.once('connect', () => {
      clearTimeout(timer)
      local.off('error', onDialError)
      if (connection.socket.destroyed) {
        local.destroy()
        return
      }
      logger.info({ remote: connection.remote, source: connection.source, serial: connection.serial, destination: service, reason }, 'connection accepted')
      splice(local, connection.socket, result => {
        counters.bytesIn += result.localBytesWritten
        counters.bytesOut += result.localBytesRead
        logger.debug({ remote: connection.remote, source: connection.source, bytesIn: result.localBytesWritten, bytesOut: result.localBytesRead, err: result.error?.message }, 'connection closed')
      })
    })
  }
}

function remoteOf (socket: { remoteAddress?: string | undefined, remotePort?: number | undefined }): string {
  return `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? 0}`
}

/** X509Certificate.serialNumber is uppercase hex; Consul shows serials as colon-separated lowercase hex. */
export function colonSerial (hex: string): string {
  const even = hex.length % 2 === 1 ? `0${hex}` : hex
  return even.toLowerCase().match(/../g)?.join(':') ?? ''
}
